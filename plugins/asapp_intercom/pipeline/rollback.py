"""The rollback phase's I/O: reading the ledger and Intercom for a plan, and carrying out its steps.

The plan (domain/rollback.py) is made from the ledger's records and what Intercom shows for them now.
Before it is carried out, it is made again (a person may have changed a record while the plan waited for
approval) and written to the ledger as one entry per record. Each step then takes its entries like the
load takes its records: the entry becomes an intent (pending) before the first request, the request is
idempotent (a delete that finds nothing left has done its job), and the outcome is written together with
the record's removal from the ledger. A try killed anywhere is taken up by the next one: what is pending
is finished without being judged again, nothing is deleted twice and nothing is left behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asapp_intercom.domain.objects import ObjectType, SchemaObject
from asapp_intercom.domain.restore import company_ids_of, restore_company, restore_contact
from asapp_intercom.domain.rollback import (
    FORGOTTEN,
    OUTCOME,
    SETTLED_WHEN_PLANNED,
    Action,
    Count,
    LedgerRecord,
    Read,
    RollbackForm,
    RollbackPlan,
    Seen,
    UndoStep,
    counts_needed,
    plan_rollback,
    reads_needed,
)
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.intercom import IntercomHook, refuses_the_record
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.progress import Progress, Spend, TaskTry

log = logging.getLogger(__name__)


def ledger_records(ledger: Ledger) -> list[LedgerRecord]:
    parents = ledger.attachment_conversations()
    return [
        LedgerRecord.of(
            row._mapping, parents.get(row.source_id) if row.object_type == ObjectType.ATTACHMENT else None
        )
        for row in ledger.iter_records()
    ]


def _read(hook: IntercomHook, read: Read) -> Seen:
    get = {"contact": hook.get_contact, "company": hook.get_company, "conversation": hook.get_conversation}
    try:
        body = get[read.kind](read.intercom_id)
    except ApiError as error:
        if error.status in {404, 410}:  # deleted, or (a contact) merged into another
            return Seen(False)
        raise
    return Seen(True, body.get("updated_at"), body)


def read_intercom(
    hook: IntercomHook, reads: list[Read], counts: list[Count], concurrency: int
) -> tuple[dict[Read, Seen], dict[Count, int]]:
    """What Intercom shows for each record to judge, and the answer to each count (a search)."""
    progress = Progress(log, "read from Intercom", len(reads) + len(counts))

    def read(item: Read) -> Seen:
        seen = _read(hook, item)
        progress.advance()
        return seen

    def count(item: Count) -> int:
        found = hook.count_conversations({"field": item.field, "operator": "=", "value": item.value})
        progress.advance()
        return found

    with ThreadPoolExecutor(concurrency, thread_name_prefix="rollback-read") as pool:
        seen = dict(zip(reads, pool.map(read, reads), strict=True))
        answers = dict(zip(counts, pool.map(count, counts), strict=True))
    progress.finish()
    return seen, answers


def make_plan(
    hook: IntercomHook, ledger: Ledger, form: RollbackForm, requests_per_minute: int, concurrency: int
) -> RollbackPlan:
    records = ledger_records(ledger)
    seen, counts = read_intercom(hook, reads_needed(form, records), counts_needed(form, records), concurrency)
    return plan_rollback(form, records, seen, counts, requests_per_minute)


def store_plan(
    ledger: Ledger, rollback_run_id: str, plan: RollbackPlan, approved: set[tuple[str, str]]
) -> dict:
    """Write the entries of the plan that were approved (an entry this rollback run already has keeps what it
    holds); returns what the plan has that the approved one did not (left for another rollback)."""
    records = {(record.object_type, record.source_id): record for record in ledger_records(ledger)}
    entries, unapproved = [], []
    for undo in plan.undos:
        key = (undo.object_type, undo.source_id)
        if key not in approved:
            unapproved.append(
                {"object": undo.object_type, "source_id": undo.source_id, "action": undo.action}
            )
            continue
        settled = undo.action in SETTLED_WHEN_PLANNED
        entries.append(
            {
                "object_type": undo.object_type,
                "source_id": undo.source_id,
                "step": str(undo.step),
                "action": str(undo.action),
                "state": "done" if settled else "planned",
                "outcome": OUTCOME[undo.action] if settled else None,
                "intercom_id": undo.intercom_id,
                "record": records[key].as_dict(),
                "detail": {"reason": undo.reason, "requests": undo.requests, **undo.detail},
                "done_at": datetime.now(UTC) if settled else None,
            }
        )
    added = ledger.plan_undo(rollback_run_id, entries)
    return {"entries": len(entries), "new": added, "not_approved": unapproved}


@dataclass
class StepManifest:
    step: str
    outcomes: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0


class Undoer:
    """Carries out one step of a rollback run's entries, each an intent in the ledger before any request."""

    def __init__(
        self,
        hook: IntercomHook,
        ledger: Ledger,
        rollback_run_id: str,
        *,
        concurrency: int = 8,
        task: TaskTry | None = None,
    ):
        self.hook, self.ledger, self.run_id = hook, ledger, rollback_run_id
        self.concurrency, self.task = concurrency, task
        self.admin_id = ""
        self.stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")

    def run(self, step: UndoStep) -> StepManifest:
        manifest = StepManifest(str(step))
        entries = self.ledger.undo_entries(self.run_id, step, unfinished=True)
        started, calls, retries = time.monotonic(), self.hook.api.calls, self.hook.api.retries
        spend = Spend(self.ledger, self.run_id, self.task, self.hook.api)
        spend.write()
        progress = Progress(log, f"undo {step}", len(entries))
        archived = self._archived_attribute_names() if step is UndoStep.RESTORE else frozenset()
        if step is UndoStep.UNTAG and entries:  # Intercom wants the admin who takes a tag off
            self.admin_id = str(self.hook.get_me()["id"])

        def undo(entry) -> str:
            outcome = self.undo(entry, archived)
            progress.advance()
            spend.maybe_write()
            return outcome

        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"undo-{step}") as pool:
                for outcome in pool.map(undo, entries):
                    manifest.outcomes[outcome] = manifest.outcomes.get(outcome, 0) + 1
        finally:
            spend.write()
        progress.finish()
        manifest.requests = self.hook.api.calls - calls
        manifest.retries = self.hook.api.retries - retries
        manifest.seconds = round(time.monotonic() - started, 3)
        return manifest

    def _archived_attribute_names(self) -> frozenset[str]:
        return frozenset(
            entry.source_id.split(".", 1)[1]
            for entry in self.ledger.undo_entries(self.run_id, UndoStep.ATTRIBUTES)
            if entry.action == Action.ARCHIVE and entry.source_id.startswith("company.")
        )

    def undo(self, entry, archived: frozenset[str] = frozenset()) -> str:
        action = Action(entry.action)
        self.ledger.begin_undo(self.run_id, entry.object_type, entry.source_id)
        outcome, detail = self._perform(entry, action, archived)
        self.ledger.finish_undo(
            self.run_id,
            entry.object_type,
            entry.source_id,
            outcome,
            {**(entry.detail or {}), **detail},
            forget=action in FORGOTTEN and outcome != "refused",
        )
        return outcome

    def _perform(self, entry, action: Action, archived: frozenset[str]) -> tuple[str, dict]:
        if action in {Action.FORGET, Action.GONE}:
            return OUTCOME[action], {}
        try:
            if action is Action.DELETE:
                return self._delete(entry)
            if action is Action.UNTAG:
                return self._untag(entry)
            if action is Action.RESTORE:
                return self._restore(entry, archived)
            if action is Action.ARCHIVE:
                return self._archive(entry)
        except ApiError as error:
            if not refuses_the_record(error):
                raise
            return "refused", {"refused": f"Intercom answered {error.status} {error.code}: {error.message}"}
        raise ValueError(f"{action} is not carried out by a step")

    def _delete(self, entry) -> tuple[str, dict]:
        delete = {
            ObjectType.CONVERSATION: self.hook.delete_conversation,
            ObjectType.CONTACT: self.hook.delete_contact,
            ObjectType.COMPANY: self.hook.delete_company,
            SchemaObject.TAG: self.hook.delete_tag,
        }[entry.object_type]
        if delete(entry.intercom_id):
            return "deleted", {}
        return "deleted", {"note": "Intercom answered 404: already gone (an earlier try's delete)"}

    def _untag(self, entry) -> tuple[str, dict]:
        for tag_id in entry.detail.get("tag_ids", []):
            self.hook.untag_conversation(entry.intercom_id, tag_id, self.admin_id)
        return "untagged", {}

    def _restore(self, entry, archived: frozenset[str]) -> tuple[str, dict]:
        previous = entry.record["previous_state"] or {}
        if entry.object_type == ObjectType.COMPANY:
            seen = _read(self.hook, Read("company", entry.intercom_id))
            if not seen.exists:
                return "already_gone", {}
            restoration = restore_company(previous, seen.body, archived_attributes=archived)
            if restoration.body:
                self.hook.upsert_company(restoration.body)
            return "restored", {"not_restorable": restoration.not_restorable}
        seen = _read(self.hook, Read("contact", entry.intercom_id))
        if not seen.exists:
            return "already_gone", {}
        current = seen.body
        if (current.get("companies") or {}).get("has_more"):
            current = {**current, "companies": {"data": self.hook.list_contact_companies(entry.intercom_id)}}
        restoration = restore_contact(previous, current)
        if restoration.body:
            self.hook.update_contact(entry.intercom_id, restoration.body)
        for company_id in restoration.detach:
            self.hook.detach_company(entry.intercom_id, company_id)
        missing = []
        for company_id in restoration.attach:
            try:
                self.hook.attach_company(entry.intercom_id, company_id)
            except ApiError as error:
                if error.status != 404:
                    raise
                missing.append(company_id)
        not_restorable = restoration.not_restorable + [
            {
                "field": "companies",
                "now": company_ids_of(current),
                "before": company_id,
                "why": "company gone",
            }
            for company_id in missing
        ]
        return "restored", {"not_restorable": not_restorable}

    def _archive(self, entry) -> tuple[str, dict]:
        model, name = entry.source_id.split(".", 1)
        if model != "conversation":
            found = self.hook.archive_data_attribute(entry.intercom_id)
            return "archived", {} if found else {"note": "Intercom has no such attribute any more"}
        # Intercom cannot unarchive a conversation attribute, and an archived one keeps its name: renamed
        # first, its name is free for a later migration run to create it anew.
        renamed = f"{name}_rolled_back_{self.stamp}"
        if self.hook.rename_conversation_attribute(entry.intercom_id, renamed):
            self.hook.archive_conversation_attribute(entry.intercom_id)
            return "archived", {"renamed": renamed}
        return "archived", {"note": "Intercom has no such attribute any more"}


def entries_as_data(rows: Iterable) -> list[dict]:
    """The rollback run's entries for the report, as plain data."""
    return [
        {
            "object": row.object_type,
            "source_id": row.source_id,
            "intercom_id": row.intercom_id,
            "step": row.step,
            "action": row.action,
            "state": row.state,
            "outcome": row.outcome,
            "detail": row.detail or {},
        }
        for row in rows
    ]
