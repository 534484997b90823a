"""How a load step is split into batches that workers load side by side, each a mapped task.

A record's batch follows from a key alone (a CRC of it), so the plan, every batch and every retry of
one agree without a list of ids passing through XCom. Records that must not race share a key: a
contact's conversations are keyed by the contact, so two workers never open conversations for the
same person at once. Attachments stay in one batch: that step ends by putting back the state of every
conversation its replies reopened, which only one worker may do.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

from asapp_intercom.domain.objects import ObjectType

ONE_BATCH = frozenset({ObjectType.ATTACHMENT})


@dataclass(frozen=True)
class Batch:
    """One part of a step: the records whose key falls at `index` of `count`."""

    index: int = 0
    count: int = 1
    records: int = 0

    @property
    def label(self) -> str:
        """How the grid, the logs and the demo name the batch."""
        return f"{self.index + 1} of {self.count}"

    def as_dict(self) -> dict:
        return asdict(self) | {"label": self.label}

    @classmethod
    def from_dict(cls, data: dict) -> Batch:
        return cls(data["index"], data["count"], data["records"])

    def holds(self, object_type: ObjectType, row: dict) -> bool:
        return self.count == 1 or batch_of(batch_key(object_type, row), self.count) == self.index


def batch_count(object_type: ObjectType, records: int, batch_size: int) -> int:
    if object_type in ONE_BATCH:
        return 1
    return max(1, -(-records // batch_size))


def batch_key(object_type: ObjectType, row: dict) -> str:
    """What keeps records together: a conversation's contact; any other record itself."""
    if object_type is ObjectType.CONVERSATION and row.get("depends_on"):
        return row["depends_on"]
    return row["source_id"]


def batch_of(key: str, count: int) -> int:
    return zlib.crc32(key.encode()) % count
