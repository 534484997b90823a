"""What each phase hands the next through XCom: counts, checksums and paths, never records.

A manifest is plain data (`as_dict` for XCom, `from_dict` back); a load step starts only when the
manifest of the step before it balances, and the report is built from all of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Self


def _plain(value: Any) -> Any:
    """XCom carries plain JSON: object types (StrEnums) become their names."""
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class Manifest:
    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class FeedManifest(Manifest):
    """What one feed's extraction found and staged."""

    feed: str
    channel: str
    available: bool = True
    """False when the tenant does not have this (optional) feed: `unavailable` says how ASAPP answered."""
    unavailable: str = ""
    files_listed: int = 0
    files_staged: int = 0
    files_unchanged: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    partitions_complete: int = 0
    partitions_waiting: list[str] = field(default_factory=list)
    files_ignored: list[str] = field(default_factory=list)
    """Files in the feed's partitions that are not its data (a .tmp, a .crc): listed, never read."""
    files_broken: list[str] = field(default_factory=list)
    """Files that could not be read to the end (quarantined with the lines read before the break)."""
    checksum: str = ""


@dataclass
class Timeline(Manifest):
    """What the real-time events add to the batches: the gap report."""

    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    conversations_only_in_events: list[str] = field(default_factory=list)
    conversations_extended_by_events: list[str] = field(default_factory=list)
    messages_only_in_events: int = 0
    cursor_expired: dict | None = None


@dataclass
class ObjectManifest(Manifest):
    """One object type's payloads for the run: a Parquet file in the staging area."""

    object_type: str
    path: str
    source_count: int = 0
    payloads: int = 0
    quarantined: int = 0
    fields_left_out: int = 0
    """Fields of this run's payloads Intercom would refuse: left out, and listed in the report."""
    checksum: str = ""


@dataclass
class TransformManifest(Manifest):
    objects: dict[str, ObjectManifest] = field(default_factory=dict)
    unmatched_agents: list[dict] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)
    conversation_lengths: dict[str, int] = field(default_factory=dict)
    """How many of the run's conversations have each number of messages ({"3": 41, …})."""
    delta_mark: dict = field(default_factory=dict)
    """What this run saw (newest staged file, newest event): the mark a complete run moves forward to."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformManifest:
        manifest = super().from_dict(data)
        manifest.objects = {name: ObjectManifest.from_dict(item) for name, item in data["objects"].items()}
        return manifest


@dataclass
class SchemaManifest(Manifest):
    created: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    tag_ids: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadManifest(Manifest):
    """One load step's account: every record in scope is created, updated, unchanged or quarantined."""

    object_type: str
    source_count: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0
    rate_wait_seconds: float = 0.0
    """Time workers spent waiting for Intercom's rate windows, summed over the workers."""
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    checksum: str = ""

    @property
    def balanced(self) -> bool:
        return self.source_count == self.created + self.updated + self.unchanged + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | {"balanced": self.balanced}


CHECKSUM_MODULUS = 2**256


def load_checksum(loaded: list[tuple[str, str]]) -> str:
    """Of the (source id, Intercom id) pairs a load wrote or found: the sum of their SHA-256 values modulo
    2²⁵⁶, so that a step's checksum is the sum of its batches' (step_manifest), however it was split."""
    total = sum(
        int.from_bytes(hashlib.sha256(f"{source}:{target}".encode()).digest()) for source, target in loaded
    )
    return f"{total % CHECKSUM_MODULUS:064x}"


def step_manifest(payloads: ObjectManifest, batches: list[LoadManifest]) -> LoadManifest:
    """A load step's account from its batches' and what the transform quarantined before any was loaded;
    it balances only when every record of the step is in one of the batches' accounts."""
    step = LoadManifest(
        payloads.object_type, source_count=payloads.source_count, quarantined=payloads.quarantined
    )
    total_checksum = 0
    for batch in batches:
        for name in ("created", "updated", "unchanged", "quarantined", "requests", "retries"):
            setattr(step, name, getattr(step, name) + getattr(batch, name))
        step.rate_wait_seconds = round(step.rate_wait_seconds + batch.rate_wait_seconds, 3)
        step.seconds = max(step.seconds, batch.seconds)
        for note, count in batch.notes.items():
            step.notes[note] = step.notes.get(note, 0) + count
        total_checksum += int(batch.checksum or "0", 16)
    step.checksum = f"{total_checksum % CHECKSUM_MODULUS:064x}"
    return step


@dataclass
class ValidationManifest(Manifest):
    object_type: str
    checked: int = 0
    matching: int = 0
    mismatched: int = 0
    unchanged_since_read_back: int = 0
    """not read again: Intercom matched this very payload in an earlier read-back (a cutover's shortcut)"""
    mismatches: list[dict] = field(default_factory=list)
