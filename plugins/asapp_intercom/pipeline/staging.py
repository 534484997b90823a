"""The staging area: Parquet files between phases, local or on object storage.

Records never travel through XCom; phases hand each other manifests that point here. The area
is an `ObjectStoragePath` (file://… by default, s3://conn@bucket/prefix by config). It holds the
staged feeds (raw/<feed>/dt=…/…parquet, one file per delivered file) and each run's payloads
(runs/<run>/payloads/<object>.parquet). DuckDB does the relational work and reads the area
directly; it writes to a local scratch file that is then published into the area atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from airflow.sdk import ObjectStoragePath

from asapp_intercom.domain.feeds import FEEDS, FeedFile
from asapp_intercom.domain.manifests import ObjectManifest
from asapp_intercom.domain.payloads import payload_hash
from asapp_intercom.domain.staged import feed_view, no_rows

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

    def raw_feed(self, feed: str) -> ObjectStoragePath:
        return self.root / "raw" / feed

    def raw_file(self, file: FeedFile) -> ObjectStoragePath:
        return self.raw_feed(file.partition.feed) / file.partition.path / f"{file.name}.parquet"

    def run_dir(self, run_id: str) -> ObjectStoragePath:
        return self.root / "runs" / run_key(run_id)

    def rollback_dir(self, run_id: str) -> ObjectStoragePath:
        """A rollback run's plan and report."""
        return self.root / "rollbacks" / run_key(run_id)

    def payloads_path(self, run_id: str, object_type: str) -> str:
        """Where a run's payloads of one object type are, relative to the root (as manifests say it)."""
        return f"runs/{run_key(run_id)}/payloads/{object_type}.parquet"

    def ref(self, path: ObjectStoragePath) -> str:
        """How DuckDB names a staged path (after `connect()` registered the remote filesystem)."""
        return path.path if self.is_local else f"{self.root.protocol}://{path.path}"

    def exists(self, path: ObjectStoragePath) -> bool:
        return path.exists()

    def has_parquet(self, directory: ObjectStoragePath) -> bool:
        return directory.exists() and any(directory.rglob("*.parquet"))

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        spill = f"{tempfile.gettempdir()}/asapp_intercom_duckdb_{os.getpid()}"  # one per process: no clashes
        connection.execute(f"SET temp_directory = {sql_literal(spill)}")
        connection.execute(f"SET memory_limit = {sql_literal(self.memory_limit)}")  # beyond it, DuckDB spills
        if not self.is_local:
            connection.register_filesystem(self.root.fs)
        return connection

    def create_feed_views(self, connection: duckdb.DuckDBPyConnection) -> None:
        """A `<feed>` view of de-duplicated rows for every feed (an empty one when nothing is staged)."""
        for feed in FEEDS.values():
            directory = self.raw_feed(feed.name)
            if self.has_parquet(directory):
                files = sql_literal(self.ref(directory) + "/**/*.parquet")
                source = f"read_parquet({files}, union_by_name = true)"
            else:
                source = no_rows(feed)
            connection.execute(feed_view(feed, source))

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
                shutil.copyfile(local, partial)
                os.replace(partial, target)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                with local.open("rb") as source, destination.open("wb") as target_file:
                    shutil.copyfileobj(source, target_file, length=8 << 20)

    def write_text(self, destination: ObjectStoragePath, text: str) -> None:
        with self.publish(destination) as local:
            local.write_text(text, encoding="utf-8")

    def payload_writer(self, manifest: ObjectManifest) -> PayloadWriter:
        return PayloadWriter(self, manifest)

    def read_payloads(self, path: str) -> Iterator[dict]:
        """The payload rows of one object (path relative to the root), batch by batch, decoded."""
        with (self.root / path).open("rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS):
                for row in batch.to_pylist():
                    row["payload"] = orjson.loads(row["payload"])
                    yield row


class PayloadWriter:
    """Streams payload rows into one Parquet file of the run, a batch at a time (memory stays flat however
    many records there are), with a checksum of what it holds. The file is published only when complete."""

    def __init__(self, staging: Staging, manifest: ObjectManifest):
        self.staging = staging
        self.manifest = manifest
        self.pending: list[tuple[str, str | None, str, str]] = []
        self.digest = hashlib.sha256()
        self._open = ExitStack()

    def __enter__(self) -> PayloadWriter:
        local = self._open.enter_context(self.staging.publish(self.staging.root / self.manifest.path))
        self._file = self._open.enter_context(pq.ParquetWriter(local, PAYLOAD_SCHEMA, compression="zstd"))
        return self

    def add(self, source_id: str, depends_on: str | None, payload: dict) -> None:
        digest = payload_hash(payload)
        self.pending.append((source_id, depends_on, orjson.dumps(payload).decode(), digest))
        self.digest.update(f"{source_id}:{digest}\n".encode())
        self.manifest.payloads += 1
        if len(self.pending) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            columns = [list(column) for column in zip(*self.pending, strict=True)]
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
