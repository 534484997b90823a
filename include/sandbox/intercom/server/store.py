"""Durable state: a snapshot file plus an append-only journal of the records changed since.

Why both: rewriting a large workspace every second would stall the server, while appending only the
records that changed is cheap. A background task appends (and fsyncs) the journal every flush
interval (0.5 s by default), so a crash loses at most the writes of that last interval; a graceful
stop appends the rest and compacts the journal into a fresh snapshot, so it loses nothing. On start
the snapshot is read, the journal replayed (a torn last line from a crash is ignored) and compacted.

Files: FILE (snapshot), FILE.journal, FILE.files/ (attachment bytes, written before the reply).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson

from include.sandbox.intercom.server.workspace import KINDS, Workspace

SNAPSHOT_FORMAT = "intercom-sandbox-state/1"
COMPACT_JOURNAL_BYTES = 64 * 1024 * 1024


class StateFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.files_dir = self.path.with_name(self.path.name + ".files")

    def load(self) -> Workspace:
        """The workspace as last persisted (a fresh one if the file does not exist yet)."""
        records: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
        meta = None
        if self.path.exists():
            snapshot = orjson.loads(self.path.read_bytes())
            if snapshot.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"{self.path} is not an Intercom sandbox state file")
            meta = snapshot["meta"]
            for kind, by_id in snapshot["records"].items():
                records[kind] = by_id
        if self.journal_path.exists():
            for line in self.journal_path.read_bytes().splitlines():
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    break  # the torn tail of a crash: everything before it is intact
                if "meta" in entry:
                    meta = entry["meta"]
                elif entry["record"] is None:
                    records[entry["kind"]].pop(entry["id"], None)
                else:
                    records[entry["kind"]][entry["id"]] = entry["record"]
        return Workspace(records, meta)

    def take_changes(self, workspace: Workspace) -> bytes:
        """Journal lines for everything changed since the last call (serialized now, written later)."""
        lines = []
        for kind, record_id in workspace.dirty:
            record = workspace.records[kind].get(record_id)
            lines.append(orjson.dumps({"kind": kind, "id": record_id, "record": record}))
        workspace.dirty.clear()
        if workspace.meta_dirty:
            lines.append(orjson.dumps({"meta": workspace.meta}))
            workspace.meta_dirty = False
        return b"".join(line + b"\n" for line in lines)

    def append(self, data: bytes) -> None:
        """Append journal lines and make them durable before returning."""
        with self.journal_path.open("ab") as journal:
            journal.write(data)
            journal.flush()
            os.fsync(journal.fileno())

    def journal_is_large(self) -> bool:
        if not self.journal_path.exists():
            return False
        snapshot_size = self.path.stat().st_size if self.path.exists() else 0
        return self.journal_path.stat().st_size > max(COMPACT_JOURNAL_BYTES, 2 * snapshot_size)

    def write_snapshot(self, workspace: Workspace) -> None:
        """Replace the snapshot atomically with the whole workspace, then drop the journal."""
        workspace.dirty.clear()
        workspace.meta_dirty = False
        data = orjson.dumps({"format": SNAPSHOT_FORMAT, "meta": workspace.meta, "records": workspace.records})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)
        self.journal_path.unlink(missing_ok=True)
        _fsync_directory(self.path.parent)

    def save_file(self, file_id: str, data: bytes) -> None:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        target = self.files_dir / file_id
        with target.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())

    def read_file(self, file_id: str) -> bytes | None:
        target = self.files_dir / file_id
        return target.read_bytes() if target.exists() else None

    def clear_files(self) -> None:
        shutil.rmtree(self.files_dir, ignore_errors=True)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
