"""What a migration writes to Intercom, in the order it loads: one name per object, everywhere.

Each object type has the name the ledger, manifests and reports use (`contact`) and the name of
its load step that people pick in the run form (`contacts`). Each depends on the ones before it.
"""

from __future__ import annotations

from enum import StrEnum


class ObjectType(StrEnum):
    step: str
    """The load step's name, as the run form and the task ids say it."""

    def __new__(cls, value: str, step: str) -> ObjectType:
        member = str.__new__(cls, value)
        member._value_ = value
        member.step = step
        return member

    COMPANY = "company", "companies"
    CONTACT = "contact", "contacts"
    CONVERSATION = "conversation", "conversations"
    ATTACHMENT = "attachment", "attachments"
    CONVERSATION_TAGS = "conversation_tags", "tags"

    @classmethod
    def of_step(cls, step: str) -> ObjectType:
        for member in cls:
            if member.step == step:
                return member
        raise ValueError(f"{step!r} is not a load step; the steps are {', '.join(STEPS)}")


LOAD_ORDER: tuple[ObjectType, ...] = tuple(ObjectType)
STEPS: tuple[str, ...] = tuple(member.step for member in ObjectType)
"""The load steps in dependency order: companies → contacts → conversations → attachments → tags."""


class SchemaObject(StrEnum):
    """What the schema phase makes before any record, kept in the ledger beside the records, so that a
    rollback archives or deletes exactly what the migration created (and leaves what it found)."""

    DATA_ATTRIBUTE = "data_attribute"
    TAG = "tag"
