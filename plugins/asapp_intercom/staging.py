"""The staging area: Parquet files between phases, local or on object storage.

Records never travel through XCom; phases hand each other manifests that point here. The area
is an `ObjectStoragePath` (file://… by default, s3://conn@bucket/prefix by config). DuckDB does
the relational work (de-duplication, joins) and reads the area directly; it writes to a local
scratch file that is then published into the area atomically.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from airflow.sdk import ObjectStoragePath

from asapp_intercom.feeds import FeedFile

LOCAL_PROTOCOLS = {"file", "local"}


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
