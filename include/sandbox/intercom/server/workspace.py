"""The workspace's records in memory: collections of plain dicts, their lookup indexes, and change tracking.

Everything the API changes goes through `put`, `changed` or `remove`, so that the persistence layer
(which records what changed since the last flush) and the search index (which sees changes late, as
Intercom's does) never miss a write.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

KINDS = (
    "admins",
    "contacts",
    "companies",
    "data_attributes",
    "conversation_attributes",
    "tags",
    "segments",
    "conversations",
    "deleted_conversations",
    "pending_messages",
    "ticket_types",
    "tickets",
    "files",
)

# First value of each integer id sequence, so ids look like Intercom's and never collide across kinds.
SEQUENCE_STARTS = {
    "admins": 991267001,
    "conversations": 100,
    "messages": 403918000,
    "parts": 7288800000,
    "tags": 7522000,
    "plans": 250000,
    "data_attributes": 100,
    "conversation_attributes": 1,
    "ticket_types": 1,
    "tickets": 1,
    "ticket_numbers": 1,
    "ticket_states": 1,
    "files": 1,
}

ChangeListener = Callable[[str, str, "dict | None"], None]


def now() -> int:
    return int(time.time())


def fresh_meta() -> dict:
    return {
        "workspace_id": os.urandom(4).hex(),
        "object_id_machine": os.urandom(5).hex(),
        "object_id_counter": int.from_bytes(os.urandom(3), "big"),
        "sequences": {},
        "owner_admin_id": None,
        "app": {"name": "Sandbox Workspace", "region": "US", "timezone": "UTC", "created_at": now()},
    }


class Index:
    """Records of one kind looked up by a derived key (unique or not); kept current on every change."""

    def __init__(self, keys: Callable[[dict], Iterable[Any]]):
        self._keys = keys
        self._ids_by_key: dict[Any, set[str]] = {}
        self._keys_by_id: dict[str, tuple] = {}

    def update(self, record_id: str, record: dict | None) -> None:
        for key in self._keys_by_id.pop(record_id, ()):
            ids = self._ids_by_key.get(key)
            if ids is not None:
                ids.discard(record_id)
                if not ids:
                    del self._ids_by_key[key]
        if record is None:
            return
        keys = tuple(key for key in self._keys(record) if key is not None)
        if keys:
            self._keys_by_id[record_id] = keys
            for key in keys:
                self._ids_by_key.setdefault(key, set()).add(record_id)

    def ids(self, key: Any) -> set[str]:
        return self._ids_by_key.get(key, set())

    def first(self, key: Any) -> str | None:
        ids = self._ids_by_key.get(key)
        return min(ids) if ids else None


def _unique_user_keys(contact: dict) -> Iterable[tuple[str, str]]:
    """Users (archived included) claim their email and external_id; leads, deleted and merged don't."""
    if contact["role"] != "user" or contact.get("deleted_at") or contact.get("merged_into"):
        return ()
    keys = []
    if contact.get("email"):
        keys.append(("email", contact["email"].lower()))
    if contact.get("external_id"):
        keys.append(("external_id", contact["external_id"]))
    return keys


def _live(record: dict) -> bool:
    return not record.get("deleted_at") and not record.get("merged_into")


class Workspace:
    """All records of one Intercom workspace, by kind and id."""

    def __init__(self, records: dict[str, dict[str, dict]] | None = None, meta: dict | None = None):
        self.records: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
        for kind, by_id in (records or {}).items():
            self.records[kind] = dict(by_id)
        self.meta = meta or fresh_meta()
        self.dirty: set[tuple[str, str]] = set()
        self.meta_dirty = meta is None
        self.listeners: list[ChangeListener] = []
        self.indexes: dict[str, dict[str, Index]] = {
            "contacts": {
                "identity": Index(_unique_user_keys),
                "any_email": Index(lambda c: [c["email"].lower()] if c.get("email") and _live(c) else ()),
                "company": Index(lambda c: c.get("company_ids", ()) if _live(c) else ()),
            },
            "companies": {
                "company_id": Index(lambda c: [c["company_id"]])  # deleted ones too: archived later
            },
            "tags": {"name": Index(lambda t: [t["name"].lower()])},
            "data_attributes": {"name": Index(lambda a: [a["name"].lower()])},
            "conversation_attributes": {"name": Index(lambda a: [a["name"].lower()])},
        }
        for kind, indexes in self.indexes.items():
            for record_id, record in self.records[kind].items():
                for index in indexes.values():
                    index.update(record_id, record)

    def __getitem__(self, kind: str) -> dict[str, dict]:
        return self.records[kind]

    def index(self, kind: str, name: str) -> Index:
        return self.indexes[kind][name]

    def put(self, kind: str, record: dict) -> dict:
        self.records[kind][record["id"]] = record
        self.changed(kind, record["id"])
        return record

    def remove(self, kind: str, record_id: str) -> None:
        self.records[kind].pop(record_id, None)
        self.changed(kind, record_id)

    def changed(self, kind: str, record_id: str) -> None:
        """Call after mutating a record in place (or putting/removing it)."""
        record = self.records[kind].get(record_id)
        for index in self.indexes.get(kind, {}).values():
            index.update(record_id, record)
        self.dirty.add((kind, record_id))
        for listener in self.listeners:
            listener(kind, record_id, record)

    def next_id(self, sequence: str) -> str:
        """The next integer-like id of a sequence (admins, conversations, parts, tags, ...)."""
        sequences = self.meta["sequences"]
        value = sequences.get(sequence, SEQUENCE_STARTS[sequence])
        sequences[sequence] = value + 1
        self.meta_dirty = True
        return str(value)

    def object_id(self) -> str:
        """A 24-hex id shaped like Intercom's contact and company ids (time, machine, counter)."""
        self.meta["object_id_counter"] = (self.meta["object_id_counter"] + 1) % 0x1000000
        self.meta_dirty = True
        return f"{now():08x}{self.meta['object_id_machine']}{self.meta['object_id_counter']:06x}"

    def owner_admin(self) -> dict:
        return self.records["admins"][self.meta["owner_admin_id"]]
