"""The staging area: Parquet files between phases, local or on object storage.

Records never travel through XCom; phases hand each other manifests that point here. The area
is an `ObjectStoragePath` (file://… by default, s3://conn@bucket/prefix by config). It holds the
staged feeds (raw/<feed>/batches/<id>.parquet, each holding the rows of many delivered files, and
raw/<feed>/realtime/events.parquet, the rows made from real-time events) and each run's payloads
(runs/<run>/payloads/<object>.parquet). Which batch holds the current version of a delivered file
is the ledger's to say: a batch is written before the ledger names it, so a batch a crash left
behind, or one whose files were all delivered again, is never read, and is removed later. DuckDB
does the relational work and reads the area directly; it writes to a local scratch file that is
then published into the area atomically.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from airflow.sdk import ObjectStoragePath

from asapp_intercom.domain.config import MigrationConfig
from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.domain.manifests import ObjectManifest
from asapp_intercom.domain.payloads import HashScheme, canonical_json, payload_hash
from asapp_intercom.domain.staged import (
    FILE,
    PARTITION,
    PROBLEM,
    REALTIME_DIR,
    STAGING_ONLY,
    feed_view,
    no_rows,
)
from asapp_intercom.ledger import Ledger

log = logging.getLogger(__name__)

LOCAL_PROTOCOLS = {"file", "local"}
PAYLOAD_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("depends_on", pa.string()),
        ("payload", pa.string()),
        ("hash", pa.string()),
    ]
)
BATCH_ROWS = 2_000


DUCKDB_SHARE = 0.5
"""Of a task's `staging.memory_limit`, what DuckDB may hold before it spills to disk. The rest is the task's
own: the interpreter with Airflow loaded, and the rows in flight between DuckDB and Python (a batch of
joined conversations and their payloads), so that the task as a whole stays within the limit."""
_BYTES = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_BYTES |= {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def duckdb_memory_limit(memory_limit: str) -> str:
    """DuckDB's share of a task's memory limit ("1GB", "512 MiB": the config's form), in bytes."""
    amount, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B)", memory_limit.strip()).groups()
    return f"{int(float(amount) * _BYTES[unit] * DUCKDB_SHARE)}B"


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
_MALLOC_TRIM = getattr(_LIBC, "malloc_trim", None)  # glibc's; other C libraries have none


def release_freed_memory() -> None:
    """Hand the memory a finished step freed back to the system: Arrow's pool and glibc's heap keep it for
    reuse, and the next step (DuckDB, up to its share of the limit) adds to it. At 2M conversations the
    transform held 80 MB freed by its conversations when its attachments' statement began."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def run_key(run_id: str) -> str:
    """A run id as a folder name (run ids hold ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Staging:
    def __init__(self, url: str, conn_id: str | None = None, memory_limit: str = "1GB"):
        self.root = ObjectStoragePath(url, conn_id=conn_id)
        self.is_local = self.root.protocol in LOCAL_PROTOCOLS
        self.memory_limit = memory_limit

    @classmethod
    def of(cls, config: MigrationConfig) -> Staging:
        """The staging area a migration config names."""
        return cls(config.staging_url(), config.staging.conn_id, config.staging.memory_limit)

    def raw_feed(self, feed: str) -> ObjectStoragePath:
        return self.root / "raw" / feed

    def new_batch(self, feed: str) -> str:
        """Where the next batch of a feed's files goes, relative to the root: a name never used before."""
        return f"raw/{feed}/batches/{uuid.uuid4().hex}.parquet"

    def realtime_rows(self, feed: str) -> ObjectStoragePath:
        return self.raw_feed(feed) / REALTIME_DIR / "events.parquet"

    def run_dir(self, run_id: str) -> ObjectStoragePath:
        return self.root / "runs" / run_key(run_id)

    @property
    def inventory_dir(self) -> ObjectStoragePath:
        """The configuration inventory and implementation guide: one per migration, the latest run's."""
        return self.root / "inventory"

    def rollback_dir(self, run_id: str) -> ObjectStoragePath:
        """A rollback run's plan and report."""
        return self.root / "rollbacks" / run_key(run_id)

    def payloads_path(self, run_id: str, object_type: str) -> str:
        """Where a run's payloads of one object type are, relative to the root (as manifests say it)."""
        return f"runs/{run_key(run_id)}/payloads/{object_type}.parquet"

    def ref(self, path: ObjectStoragePath) -> str:
        """How DuckDB names a staged path (after `connect()` registered the remote filesystem)."""
        return path.path if self.is_local else f"{self.root.protocol}://{path.path}"

    def batches(self, feed: str) -> set[str]:
        """The batch files of a feed that exist, relative to the root."""
        directory = self.raw_feed(feed) / "batches"
        if not directory.exists():
            return set()
        return {
            f"raw/{feed}/batches/{path.name}"
            for path in directory.iterdir()
            if path.name.endswith(".parquet")
        }

    def remove_batches(self, feed: str, keep: set[str]) -> int:
        """Remove the feed's batches no staged file lives in any more; returns how many went."""
        gone = self.batches(feed) - keep
        for name in gone:
            (self.root / name).unlink(missing_ok=True)
        return len(gone)

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        # how far a statement is, for the log lines of long ones (progress.Heartbeat); never printed
        connection.execute("SET enable_progress_bar = true")
        connection.execute("SET enable_progress_bar_print = false")
        spill = f"{tempfile.gettempdir()}/asapp_intercom_duckdb_{os.getpid()}"  # one per process: no clashes
        connection.execute(f"SET temp_directory = {sql_literal(spill)}")
        # beyond it, DuckDB spills
        connection.execute(f"SET memory_limit = {sql_literal(duckdb_memory_limit(self.memory_limit))}")
        if not self.is_local:
            connection.register_filesystem(self.root.fs)
        return connection

    def create_feed_views(self, connection: duckdb.DuckDBPyConnection, ledger: Ledger) -> None:
        """For every feed, `batch_<feed>`: the usable rows of the current version of each delivered file
        (the ledger says which batch holds it); `delivered_<feed>`: those and the rows of real-time events,
        every version of each row; and `<feed>`: one row per unique key, the latest version (an empty
        relation when nothing is staged). `delivered_files` lists the Parquet files behind each
        `delivered_<feed>` (feed, path)."""
        delivered_files: list[tuple[str, str]] = []
        for feed in FEEDS.values():
            staged = [row for row in ledger.staged(feed.name) if row.parquet]
            # a batch's Parquet file holds many delivered files: its path is joined once, not once a file
            # (50 µs a join: seconds for a tenant's tens of thousands of files)
            refs = {name: self.ref(self.root / name) for name in {row.parquet for row in staged}}
            current = [(row.partition, row.file_name, refs[row.parquet]) for row in staged]
            batch = no_rows(feed)
            if current:
                table = f"current_{feed.name}"
                partitions, files, paths = (list(column) for column in zip(*current, strict=True))
                connection.register(table, pa.table({"partition": partitions, "file": files, "path": paths}))
                listed = ", ".join(sql_literal(path) for path in sorted(set(paths)))
                # a batch staged by an earlier version may lack some of them: a lambda, not EXCLUDE
                left_out = ", ".join(sql_literal(column) for column in ("filename", *STAGING_ONLY))
                batch = (
                    f"(SELECT COLUMNS(lambda c: c NOT IN ({left_out})) FROM read_parquet([{listed}], "
                    f"union_by_name = true, filename = true) WHERE {PROBLEM} IS NULL AND "
                    f"({PARTITION}, {FILE}, filename) IN (SELECT partition, file, path FROM {table}))"
                )
            connection.execute(f'CREATE OR REPLACE VIEW "batch_{feed.name}" AS SELECT * FROM {batch}')
            delivered_files += [(feed.name, path) for path in sorted(refs.values())]
            events = self.realtime_rows(feed.name)
            delivered = f'SELECT * FROM "batch_{feed.name}"'
            if events.exists():
                delivered += f" UNION ALL BY NAME SELECT * FROM read_parquet({sql_literal(self.ref(events))})"
                delivered_files.append((feed.name, self.ref(events)))
            connection.execute(f'CREATE OR REPLACE VIEW "delivered_{feed.name}" AS {delivered}')
            connection.execute(feed_view(feed, f'"delivered_{feed.name}"'))
        connection.register(
            "delivered_files",
            pa.table(
                {
                    "feed": [feed for feed, _ in delivered_files],
                    "path": [path for _, path in delivered_files],
                },
                schema=pa.schema([("feed", pa.string()), ("path", pa.string())]),
            ),
        )

    @contextmanager
    def publish(self, destination: ObjectStoragePath) -> Iterator[Path]:
        """Yield a local scratch path; once the block succeeds, it becomes `destination` atomically."""
        with tempfile.TemporaryDirectory(prefix="asapp_intercom_") as scratch:
            local = Path(scratch) / destination.name
            yield local
            if self.is_local:
                target = Path(destination.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                # a rename when the scratch is on the staging area's disk: 3.3 GB of batches at 2M
                # conversations are not written twice; else a copy
                shutil.move(local, partial)
                os.replace(partial, target)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                with local.open("rb") as source, destination.open("wb") as target_file:
                    shutil.copyfileobj(source, target_file, length=8 << 20)

    def write_text(self, destination: ObjectStoragePath, text: str) -> None:
        with self.publish(destination) as local:
            local.write_text(text, encoding="utf-8")

    def payload_writer(self, manifest: ObjectManifest, scheme: HashScheme) -> PayloadWriter:
        return PayloadWriter(self, manifest, scheme)

    def payload_ids(self, path: str, column: str = "source_id") -> set[str]:
        """One id column of an object's payload rows (`source_id`, or `depends_on`: the records they need)."""
        with (self.root / path).open("rb") as handle:
            values = pq.read_table(handle, columns=[column]).column(column).to_pylist()
        return {value for value in values if value is not None}

    def read_payloads(self, path: str) -> Iterator[dict]:
        """The payload rows of one object (path relative to the root), a row group at a time (PayloadWriter
        writes BATCH_ROWS to a group), decoded. Not `iter_batches`: its reader held what it had read until
        the file was closed, 1.2 GB for 2M conversations' payloads."""
        with (self.root / path).open("rb") as handle:
            payloads = pq.ParquetFile(handle)
            for index in range(payloads.num_row_groups):
                for row in payloads.read_row_group(index).to_pylist():
                    row["payload"] = orjson.loads(row["payload"])
                    yield row


def _utf8_strings(values: tuple[bytes, ...]) -> pa.StringArray:
    """Arrow strings made of UTF-8 bytes as they are: `pa.array` decodes each value to check it, and a
    payload is kilobytes of orjson's output, UTF-8 by construction."""
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([len(value) for value in values], out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError(
            f"{len(values)} payloads of {offsets[-1]:,} bytes: over the 2 GiB an Arrow batch takes"
        )
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(values))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


class PayloadWriter:
    """Streams payload rows into one Parquet file of the run, a batch at a time (memory stays flat however
    many records there are), with a checksum of what it holds. The file is published only when complete."""

    def __init__(self, staging: Staging, manifest: ObjectManifest, scheme: HashScheme):
        self.staging = staging
        self.manifest = manifest
        self.scheme = scheme
        self.pending: list[tuple[str, str | None, bytes, str]] = []
        self.digest = hashlib.sha256()
        self._open = ExitStack()

    def __enter__(self) -> PayloadWriter:
        local = self._open.enter_context(self.staging.publish(self.staging.root / self.manifest.path))
        self._file = self._open.enter_context(pq.ParquetWriter(local, PAYLOAD_SCHEMA, compression="zstd"))
        return self

    def add(self, source_id: str, depends_on: str | None, payload: dict) -> None:
        encoded = canonical_json(payload)
        digest = payload_hash(payload, self.scheme, encoded)
        self.pending.append((source_id, depends_on, encoded, digest))  # UTF-8: Arrow takes it as it is
        self.digest.update(f"{source_id}:{digest}\n".encode())
        self.manifest.payloads += 1
        if len(self.pending) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            source_ids, depends_on, payloads, hashes = zip(*self.pending, strict=True)
            columns = [pa.array(source_ids, pa.string()), pa.array(depends_on, pa.string())]
            columns += [_utf8_strings(payloads), pa.array(hashes, pa.string())]
            self._file.write_batch(pa.record_batch(columns, schema=PAYLOAD_SCHEMA))
            self.pending = []

    def __exit__(self, *failure) -> None:
        if failure[0] is None:
            self._flush()
            self.manifest.checksum = self.digest.hexdigest()
            log.info(
                "%s: %d in scope, %d payloads, %d quarantined",
                self.manifest.object_type,
                self.manifest.source_count,
                self.manifest.payloads,
                self.manifest.quarantined,
            )
        self._open.__exit__(*failure)
