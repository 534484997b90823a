"""Rolling a migration back: what to undo, record by record, in what order, and what to leave alone.

A rollback covers the whole migration, one run of it, or what it first wrote in a time range. It
undoes in reverse dependency order (UNDO_ORDER): the tags it put on conversations it keeps, the
conversations it created (their parts, files and tags go with them), the contacts and companies it
created, then the records that were in Intercom before it (restored to their previous state, company
links included), then the data attributes and tags it created. A record that changed in Intercom after
the migration last wrote it was changed by a person (or a rule): it is a conflict, listed, never
overwritten. No Airflow and no I/O here: the pipeline reads the ledger and Intercom, gives this module
plain data, and carries out the plan it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from asapp_intercom.domain.objects import ObjectType, SchemaObject
from asapp_intercom.domain.restore import restore_company, restore_contact
from asapp_intercom.domain.times import instant

CLOCK_TOLERANCE_SECONDS = 1
"""Intercom stamps `updated_at` in whole seconds: a change within a second of the migration's last write
is taken for that write."""
LISTED = 200


class RollbackScope(StrEnum):
    migration = "migration"
    run = "run"
    time_range = "time_range"


class RollbackFormError(ValueError):
    """A rollback form that does not say what to roll back."""


class RollbackForm(BaseModel):
    """The rollback DAG's trigger form: which records to undo, and whether to only list them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: RollbackScope = Field(
        RollbackScope.migration,
        title="Scope",
        description=(
            "migration: everything the migration wrote; run: what one run of it wrote first; time_range: "
            "what it wrote first between 'since' and 'until'."
        ),
    )
    run_id: str | None = Field(
        None, title="Run id", description="scope run: the migration DAG's run id (its report names it)."
    )
    since: datetime | None = Field(
        None, title="Since", description="scope time_range: from this moment (UTC)."
    )
    until: datetime | None = Field(
        None, title="Until", description="scope time_range: up to (not including) this moment (UTC)."
    )
    dry_run: bool = Field(
        True,
        title="Dry run",
        description=(
            "List what would be deleted, restored or left alone, with the requests and ETA, and change "
            "nothing. Untick to roll back (a person approves the list first)."
        ),
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _utc_unless_stated(cls, value: Any) -> Any:
        return instant(value) if isinstance(value, str | datetime) else value

    @model_validator(mode="after")
    def _says_what(self) -> RollbackForm:
        if self.scope is RollbackScope.run and not self.run_id:
            raise ValueError("scope 'run' needs the run id of the migration run to roll back")
        if self.scope is RollbackScope.time_range and not (
            self.since and self.until and self.since < self.until
        ):
            raise ValueError("scope 'time_range' needs 'since' before 'until'")
        return self

    @classmethod
    def of_params(cls, params: Mapping[str, Any]) -> RollbackForm:
        try:
            return cls.model_validate({name: params[name] for name in cls.model_fields if name in params})
        except ValidationError as error:
            problems = "; ".join(issue["msg"].removeprefix("Value error, ") for issue in error.errors())
            raise RollbackFormError(problems) from None

    def covers(self, record: LedgerRecord) -> bool:
        """Whether the record was first written in the scope (what undoing the scope removes or restores)."""
        if self.scope is RollbackScope.migration:
            return True
        if self.scope is RollbackScope.run:
            return record.first_run_id == self.run_id
        return record.first_written_at is not None and self.since <= record.first_written_at < self.until

    def touched_only(self, record: LedgerRecord) -> bool:
        """Changed in the scope, but first written before it: the state before the scope is not on record."""
        if self.covers(record):
            return False
        if self.scope is RollbackScope.run:
            return record.run_id == self.run_id
        if self.scope is RollbackScope.time_range:
            return record.written_at is not None and self.since <= record.written_at < self.until
        return False

    def describe(self) -> str:
        if self.scope is RollbackScope.run:
            return f"what run {self.run_id} wrote first"
        if self.scope is RollbackScope.time_range:
            return f"what the migration wrote first in [{self.since.isoformat()}, {self.until.isoformat()})"
        return "everything the migration wrote"


@dataclass(frozen=True)
class LedgerRecord:
    """One record of the ledger, as plain data. `parent` is the conversation an attachment was posted to."""

    object_type: str
    source_id: str
    intercom_id: str | None = None
    state: str = "done"
    origin: str | None = None
    run_id: str | None = None
    first_run_id: str | None = None
    first_written_at: datetime | None = None
    written_at: datetime | None = None
    previous_state: dict | None = None
    progress: dict | None = None
    parent: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any], parent: str | None = None) -> LedgerRecord:
        known = {name: values.get(name) for name in cls.__dataclass_fields__ if name != "parent"}
        for name in ("first_written_at", "written_at"):
            known[name] = instant(known[name]) if known[name] is not None else None
        return cls(**known, parent=parent)

    def as_dict(self) -> dict:
        values = asdict(self)
        for name in ("first_written_at", "written_at"):
            values[name] = values[name].isoformat() if values[name] else None
        return values


@dataclass(frozen=True)
class Seen:
    """What Intercom holds for a record now: whether it exists, when it last changed, the record itself."""

    exists: bool
    updated_at: int | None = None
    body: dict | None = None


READ_KIND = {
    ObjectType.COMPANY: "company",
    ObjectType.CONTACT: "contact",
    ObjectType.CONVERSATION: "conversation",
    ObjectType.CONVERSATION_TAGS: "conversation",  # judged on the conversation it tags
}


def changed_since(seen: Seen, written_at: datetime | None) -> bool:
    """A later change in Intercom than the migration's last write: someone else's."""
    return (
        seen.updated_at is not None
        and written_at is not None
        and seen.updated_at > written_at.timestamp() + CLOCK_TOLERANCE_SECONDS
    )


class UndoStep(StrEnum):
    UNTAG = "untag"
    CONVERSATIONS = "conversations"
    CONTACTS = "contacts"
    COMPANIES = "companies"
    RESTORE = "restore"
    ATTRIBUTES = "attributes"
    TAGS = "tags"


UNDO_ORDER: tuple[UndoStep, ...] = tuple(UndoStep)
"""Reverse dependency order: what depends on a record is undone before the record."""


class Action(StrEnum):
    DELETE = "delete"
    RESTORE = "restore"
    UNTAG = "untag"
    ARCHIVE = "archive"
    FORGET = "forget"
    """Nothing to send: it goes with its conversation, or it is as it was; the ledger forgets it."""
    GONE = "gone"
    """Intercom no longer has it (someone deleted it): the ledger forgets it."""
    LEAVE = "leave"
    CONFLICT = "conflict"


OUTCOME = {
    Action.DELETE: "deleted",
    Action.RESTORE: "restored",
    Action.UNTAG: "untagged",
    Action.ARCHIVE: "archived",
    Action.FORGET: "forgotten",
    Action.GONE: "already_gone",
    Action.LEAVE: "left_alone",
    Action.CONFLICT: "conflict",
}
"""What an action becomes when it is carried out as planned."""
SETTLED_WHEN_PLANNED = {Action.LEAVE, Action.CONFLICT}
"""Nothing is sent for these: they are done (and listed) once planned, and the ledger keeps the record."""
FORGOTTEN = {Action.DELETE, Action.RESTORE, Action.UNTAG, Action.ARCHIVE, Action.FORGET, Action.GONE}
"""Once carried out, the ledger forgets the record: a later migration run creates (or finds) it anew."""


@dataclass
class Undo:
    """One record's part in the rollback."""

    object_type: str
    source_id: str
    intercom_id: str | None
    action: Action
    step: UndoStep
    reason: str
    requests: int = 0
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {**asdict(self), "action": str(self.action), "step": str(self.step)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Undo:
        return cls(
            **{
                **{name: values[name] for name in cls.__dataclass_fields__ if name in values},
                "action": Action(values["action"]),
                "step": UndoStep(values["step"]),
            }
        )


@dataclass
class RollbackPlan:
    """Every record's part, the reads that judge them and the requests the whole rollback costs."""

    scope: str
    undos: list[Undo] = field(default_factory=list)
    reads: int = 0
    requests_per_minute: int = 10_000

    @property
    def requests(self) -> int:
        return self.reads + sum(undo.requests for undo in self.undos)

    @property
    def eta_minutes(self) -> float:
        return round(self.requests / self.requests_per_minute, 1)

    def counts(self) -> dict[str, dict[str, int]]:
        return count_by((undo.object_type, str(undo.action)) for undo in self.undos)

    def keys(self) -> set[tuple[str, str]]:
        return {(undo.object_type, undo.source_id) for undo in self.undos}

    def as_dict(self) -> dict:
        return {
            "scope": self.scope,
            "reads": self.reads,
            "requests": self.requests,
            "requests_per_minute": self.requests_per_minute,
            "eta_minutes": self.eta_minutes,
            "counts": self.counts(),
            "undos": [undo.as_dict() for undo in self.undos],
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RollbackPlan:
        return cls(
            scope=values["scope"],
            undos=[Undo.from_dict(item) for item in values["undos"]],
            reads=values["reads"],
            requests_per_minute=values["requests_per_minute"],
        )


def count_by(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{object type: {what: how many}} from (object type, what) pairs."""
    counts: dict[str, dict[str, int]] = {}
    for object_type, what in pairs:
        row = counts.setdefault(object_type, {})
        row[what] = row.get(what, 0) + 1
    return counts


@dataclass(frozen=True)
class Read:
    kind: str  # contact | company | conversation
    intercom_id: str


def reads_needed(form: RollbackForm, records: Iterable[LedgerRecord]) -> list[Read]:
    """The records Intercom must show before the rollback can judge them (each read once)."""
    reads = {
        Read(READ_KIND[ObjectType(record.object_type)], record.intercom_id)
        for record in records
        if form.covers(record) and record.object_type in READ_KIND and record.intercom_id
    }
    return sorted(reads, key=lambda read: (read.kind, read.intercom_id))


@dataclass(frozen=True)
class Count:
    """A question for Intercom's search: how many conversations carry this tag, or belong to this contact."""

    field: str  # tag_ids | contact_ids
    value: str


def counts_needed(form: RollbackForm, records: Iterable[LedgerRecord]) -> list[Count]:
    """The tags and contacts the migration created in the scope: a conversation the rollback keeps (anyone's,
    not only the migration's) keeps them too."""
    counts = set()
    for record in records:
        if record.origin != "created" or not record.intercom_id or not form.covers(record):
            continue
        if record.object_type == SchemaObject.TAG:
            counts.add(Count("tag_ids", record.intercom_id))
        elif record.object_type == ObjectType.CONTACT:
            counts.add(Count("contact_ids", record.intercom_id))
    return sorted(counts, key=lambda count: (count.field, count.value))


class _Planner:
    def __init__(
        self,
        form: RollbackForm,
        records: list[LedgerRecord],
        seen: Mapping[Read, Seen],
        counts: Mapping[Count, int],
    ):
        self.form, self.seen, self.counts = form, seen, counts
        self.records = records
        self.by_key = {(record.object_type, record.source_id): record for record in records}
        self.undos: dict[tuple[str, str], Undo] = {}
        self.to_restore: list[LedgerRecord] = []

    def decided(self, object_type: str, source_id: str | None) -> Action | None:
        undo = self.undos.get((object_type, source_id or ""))
        return undo.action if undo else None

    def add(self, record: LedgerRecord, action: Action, step: UndoStep, reason: str, requests=0, **detail):
        self.undos[(record.object_type, record.source_id)] = Undo(
            record.object_type, record.source_id, record.intercom_id, action, step, reason, requests, detail
        )

    def of_type(self, object_type: str) -> list[LedgerRecord]:
        return [
            record
            for record in self.records
            if record.object_type == object_type and self.form.covers(record)
        ]

    def judged(self, record: LedgerRecord, step: UndoStep, written_at: datetime | None = None) -> bool:
        """Unconfirmed writes, records gone from Intercom and records someone changed are settled here."""
        if not record.intercom_id:
            self.add(
                record,
                Action.LEAVE,
                step,
                "the migration never learned what Intercom made of its write (an intent without an Intercom "
                "id): run the migration again to settle it, then roll back",
            )
            return True
        seen = self.seen.get(Read(READ_KIND[ObjectType(record.object_type)], record.intercom_id))
        if seen is None or not seen.exists:
            self.add(record, Action.GONE, step, "no longer in Intercom (deleted by someone else)")
            return True
        written = written_at or record.written_at
        if changed_since(seen, written):
            self.add(
                record,
                Action.CONFLICT,
                step,
                "changed in Intercom after the migration last wrote it: left as it is",
                updated_at=seen.updated_at,
                written_at=written.isoformat(),
            )
            return True
        return False

    def plan(self) -> list[Undo]:
        for record in self.records:
            if self.form.touched_only(record):
                self.add(
                    record,
                    Action.LEAVE,
                    _step_of(record),
                    "changed in this scope but first written before it: its earlier state is not on record "
                    "(roll back the scope that created it)",
                )
        self.conversations()
        self.attachments()
        self.conversation_tags()
        self.contacts()
        self.companies()
        self.existing_contacts()
        self.attributes()
        self.tags()
        return sorted(
            self.undos.values(),
            key=lambda undo: (UNDO_ORDER.index(undo.step), undo.object_type, undo.source_id),
        )

    def conversations(self) -> None:
        for record in self.of_type(ObjectType.CONVERSATION):
            if not self.judged(record, UndoStep.CONVERSATIONS):
                self.add(
                    record,
                    Action.DELETE,
                    UndoStep.CONVERSATIONS,
                    "created by the migration; deleted for good, with its parts, files and tags",
                    1,
                )

    def attachments(self) -> None:
        for record in self.of_type(ObjectType.ATTACHMENT):
            if self.decided(ObjectType.CONVERSATION, record.parent) in {Action.DELETE, Action.GONE}:
                self.add(record, Action.FORGET, UndoStep.CONVERSATIONS, "goes with its conversation")
            else:
                self.add(
                    record,
                    Action.LEAVE,
                    UndoStep.CONVERSATIONS,
                    "a part of a conversation the rollback keeps: Intercom cannot delete a part "
                    "(redact it in Intercom if it must go)",
                )

    def conversation_tags(self) -> None:
        tag_ids = {
            record.source_id: record.intercom_id
            for record in self.records
            if record.object_type == SchemaObject.TAG and record.intercom_id
        }
        for record in self.of_type(ObjectType.CONVERSATION_TAGS):
            conversation = self.decided(ObjectType.CONVERSATION, record.source_id)
            if conversation in {Action.DELETE, Action.GONE}:
                self.add(record, Action.FORGET, UndoStep.CONVERSATIONS, "goes with its conversation")
                continue
            if conversation is Action.CONFLICT:
                self.add(
                    record, Action.CONFLICT, UndoStep.UNTAG, "its conversation changed in Intercom since"
                )
                continue
            parent = self.by_key.get((ObjectType.CONVERSATION, record.source_id))
            if self.judged(record, UndoStep.UNTAG, parent.written_at if parent else None):
                continue
            names = sorted((record.progress or {}).get("applied", []))
            ids = sorted({tag_ids[name.lower()] for name in names if name.lower() in tag_ids})
            self.add(
                record,
                Action.UNTAG,
                UndoStep.UNTAG,
                "tags the migration put on a conversation the rollback keeps",
                len(ids),
                tag_ids=ids,
                unknown=[name for name in names if name.lower() not in tag_ids],
            )

    def _existing(self, record: LedgerRecord, restoration, what: str) -> None:
        if record.previous_state is None:
            self.add(
                record,
                Action.LEAVE,
                UndoStep.RESTORE,
                "was in Intercom before the migration, but its earlier state is not on record",
            )
            return
        if restoration.writes == 0:
            self.add(
                record,
                Action.FORGET,
                UndoStep.RESTORE,
                f"was in Intercom before the migration and is as it was ({what})",
                not_restorable=restoration.not_restorable,
            )
            return
        self.add(
            record,
            Action.RESTORE,
            UndoStep.RESTORE,
            f"was in Intercom before the migration: put back as it was ({what})",
            1 + restoration.writes,  # read again when restored (companies deleted meanwhile detach it)
            not_restorable=restoration.not_restorable,
        )

    def contacts(self) -> None:
        """Created contacts, unless a conversation the rollback keeps is theirs; existing ones are judged
        here and restored once it is known which companies go (existing_contacts)."""
        deleted = [
            self.seen[Read("conversation", undo.intercom_id)].body or {}
            for undo in self.undos.values()
            if undo.object_type == ObjectType.CONVERSATION and undo.action is Action.DELETE
        ]
        leaving: dict[str, int] = {}
        for conversation in deleted:
            for contact in (conversation.get("contacts") or {}).get("contacts") or []:
                leaving[str(contact["id"])] = leaving.get(str(contact["id"]), 0) + 1
        for record in self.of_type(ObjectType.CONTACT):
            step = UndoStep.CONTACTS if record.origin != "existing" else UndoStep.RESTORE
            if self.judged(record, step):
                continue
            if record.origin == "existing":
                self.to_restore.append(record)
                continue
            total = self.counts.get(Count("contact_ids", record.intercom_id), 0)
            kept = total - leaving.get(record.intercom_id, 0)
            if kept > 0:
                self.add(
                    record,
                    Action.LEAVE,
                    step,
                    f"{kept} conversation(s) the rollback keeps in Intercom are theirs",
                )
                continue
            self.add(record, Action.DELETE, step, "created by the migration", 1)

    def companies(self) -> None:
        """Created companies, unless a contact the rollback keeps belongs to them (deleting one detaches its
        contacts); existing ones are restored."""
        leaving: dict[str, int] = {}
        restoring = {record.source_id for record in self.to_restore}
        for record in self.of_type(ObjectType.CONTACT):
            linked = (record.progress or {}).get("company")
            going = (
                self.decided(ObjectType.CONTACT, record.source_id) is Action.DELETE
                or record.source_id in restoring
            )
            if linked and going:
                leaving[linked] = leaving.get(linked, 0) + 1
        archived = self.archived_attribute_names("company")
        for record in self.of_type(ObjectType.COMPANY):
            step = UndoStep.COMPANIES if record.origin != "existing" else UndoStep.RESTORE
            if self.judged(record, step):
                continue
            current = self.seen[Read("company", record.intercom_id)].body or {}
            if record.origin == "existing":
                self._existing(
                    record,
                    restore_company(record.previous_state or {}, current, archived_attributes=archived),
                    "its fields",
                )
                continue
            kept = int(current.get("user_count") or 0) - leaving.get(record.intercom_id, 0)
            if kept > 0:
                self.add(record, Action.LEAVE, step, f"{kept} contact(s) the rollback keeps belong to it")
                continue
            self.add(record, Action.DELETE, step, "created by the migration", 1)

    def existing_contacts(self) -> None:
        gone = frozenset(
            undo.intercom_id
            for undo in self.undos.values()
            if undo.object_type == ObjectType.COMPANY and undo.action is Action.DELETE
        )
        for record in self.to_restore:
            current = self.seen[Read("contact", record.intercom_id)].body or {}
            self._existing(
                record,
                restore_contact(record.previous_state or {}, current, gone_companies=gone),
                "its fields and companies",
            )

    def kept(self, object_type: str) -> list[LedgerRecord]:
        """Records the ledger keeps after this rollback (outside its scope, conflicts, left alone)."""
        return [
            record
            for record in self.records
            if record.object_type == object_type
            and self.decided(record.object_type, record.source_id) in {None, Action.LEAVE, Action.CONFLICT}
        ]

    def archived_attribute_names(self, model: str) -> frozenset[str]:
        """Attributes of the model the rollback will archive (worked out before the attributes' turn)."""
        return frozenset(
            record.source_id.split(".", 1)[1]
            for record in self.of_type(SchemaObject.DATA_ATTRIBUTE)
            if record.origin == "created" and record.source_id.startswith(f"{model}.")
        )

    def attributes(self) -> None:
        for record in self.of_type(SchemaObject.DATA_ATTRIBUTE):
            if record.origin != "created":
                self.add(record, Action.FORGET, UndoStep.ATTRIBUTES, "was in Intercom before the migration")
                continue
            model = record.source_id.split(".", 1)[0]
            holders = len(self.kept(model))
            if holders:
                self.add(
                    record,
                    Action.LEAVE,
                    UndoStep.ATTRIBUTES,
                    f"{holders} {model} record(s) the rollback keeps may hold its values",
                )
                continue
            self.add(
                record,
                Action.ARCHIVE,
                UndoStep.ATTRIBUTES,
                "created by the migration; archived (Intercom does not delete attributes)",
                2 if model == "conversation" else 1,  # a conversation attribute is renamed first: name freed
            )

    def tags(self) -> None:
        carried: dict[str, int] = {}
        ours: dict[str, int] = {}
        for record in self.records:
            if record.object_type != ObjectType.CONVERSATION_TAGS:
                continue
            for name in (record.progress or {}).get("applied", []):
                ours[name.lower()] = ours.get(name.lower(), 0) + 1
                if self.decided(record.object_type, record.source_id) in {
                    None,
                    Action.LEAVE,
                    Action.CONFLICT,
                }:
                    carried[name.lower()] = carried.get(name.lower(), 0) + 1
        for record in self.of_type(SchemaObject.TAG):
            if record.origin != "created":
                self.add(record, Action.FORGET, UndoStep.TAGS, "was in Intercom before the migration")
                continue
            if carried.get(record.source_id):
                self.add(
                    record,
                    Action.LEAVE,
                    UndoStep.TAGS,
                    f"still on {carried[record.source_id]} conversation(s) the rollback keeps",
                )
                continue
            others = self.counts.get(Count("tag_ids", record.intercom_id or ""), 0) - ours.get(
                record.source_id, 0
            )
            if others > 0:
                self.add(
                    record,
                    Action.CONFLICT,
                    UndoStep.TAGS,
                    f"on {others} conversation(s) the migration did not tag: someone uses it",
                )
                continue
            self.add(record, Action.DELETE, UndoStep.TAGS, "created by the migration", 1)


def _step_of(record: LedgerRecord) -> UndoStep:
    return {
        ObjectType.CONVERSATION: UndoStep.CONVERSATIONS,
        ObjectType.ATTACHMENT: UndoStep.CONVERSATIONS,
        ObjectType.CONVERSATION_TAGS: UndoStep.UNTAG,
        ObjectType.CONTACT: UndoStep.CONTACTS if record.origin != "existing" else UndoStep.RESTORE,
        ObjectType.COMPANY: UndoStep.COMPANIES if record.origin != "existing" else UndoStep.RESTORE,
        SchemaObject.DATA_ATTRIBUTE: UndoStep.ATTRIBUTES,
        SchemaObject.TAG: UndoStep.TAGS,
    }.get(record.object_type, UndoStep.TAGS)


def plan_rollback(
    form: RollbackForm,
    records: list[LedgerRecord],
    seen: Mapping[Read, Seen],
    counts: Mapping[Count, int],
    requests_per_minute: int,
) -> RollbackPlan:
    """Every record of the migration's ledger (the scope picks those to undo; the others tell what the
    rollback keeps), what Intercom shows for those it reads (reads_needed), and the answers to the searches
    of counts_needed."""
    undos = _Planner(form, records, seen, counts).plan()
    asks_who = any(undo.action is Action.UNTAG for undo in undos)  # the untag step asks for its admin
    return RollbackPlan(
        scope=form.describe(),
        undos=undos,
        reads=len(seen) + len(counts) + asks_who,
        requests_per_minute=requests_per_minute,
    )


def approval_markdown(plan: RollbackPlan) -> str:
    """What the person approving a rollback reads: per object what happens, the cost, and what is final."""
    lines = [
        f"**Roll back {plan.scope}.** Nothing has been changed yet.",
        "",
        "**A deleted conversation is gone for good**: Intercom keeps no copy and cannot restore it. "
        "A deleted contact can be restored by Intercom's support for 7 days; a deleted company is archived.",
        "",
        *plan_table(plan.counts()),
        "",
        f"{plan.requests} requests, about {plan.eta_minutes} min at {plan.requests_per_minute} requests/min.",
    ]
    listed = [undo for undo in plan.undos if undo.action in {Action.CONFLICT, Action.LEAVE}]
    if listed:
        lines += ["", "Left as they are:", ""]
        lines += [f"- {undo.object_type} `{undo.source_id}`: {undo.reason}" for undo in listed[:50]]
        if len(listed) > 50:
            lines.append(f"- … and {len(listed) - 50} more (plan.json lists them all)")
    return "\n".join(lines)


def plan_table(counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    columns = [str(action) for action in Action]
    lines = ["| object | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for object_type, row in sorted(counts.items()):
        lines.append(f"| {object_type} | " + " | ".join(str(row.get(name, 0)) for name in columns) + " |")
    return lines
