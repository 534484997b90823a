"""The exact dry-run plan: per object, what a load would create, update or leave alone.

It compares each payload's hash with the ledger, so it is exact for this run's scope, and
counts the requests that costs (Intercom has no bulk write for these objects: one call per
record, per reply, per state change), hence the ETA under the configured rate budget.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from asapp_intercom.domain.batches import Batch, batch_count, batch_key, batch_of
from asapp_intercom.domain.manifests import ObjectManifest, TransformManifest
from asapp_intercom.domain.objects import STEPS, ObjectType
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.progress import Progress
from asapp_intercom.pipeline.staging import Staging

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Neighbours:
    """What a record's requests depend on beyond itself: the companies this run loads (a contact is linked
    to one of them, or to one loaded before) and the conversations this run's attachments step posts
    files to (their state is set after the files, by that step)."""

    companies: frozenset[str] = frozenset()
    files_to_come: frozenset[str] = frozenset()


def _requests(object_type: str, row: dict, new: bool, parts_done: set[str], linked: bool, files: bool) -> int:
    payload = row["payload"]
    if object_type == ObjectType.COMPANY:
        return 2 if new else 1  # a lookup (was it there before us?) then the upsert
    if object_type == ObjectType.CONTACT:
        return 2 if linked else 1  # create or update, then the link to its company if that is migrated
    if object_type == ObjectType.CONVERSATION:
        closes = payload["state"] == "closed" and not files
        steps = 1 + (1 if payload["assignee_admin_id"] else 0) + (1 if closes else 0)
        if new:
            return 1 + len(payload["parts"]) + steps
        return sum(1 for part in payload["parts"] if part["key"] not in parts_done) + steps
    if object_type == ObjectType.CONVERSATION_TAGS:
        return len(payload["tags"])
    return 1  # an attachment: one reply carrying the file


def _state_changes_after_files(ledger: Ledger, sent: dict[str, tuple[str, bool]]) -> int:
    """The attachments step's state changes: a conversation that waited for its files is closed after
    them, one already closed is closed again when a contact's file reopened it.
    `sent`: conversation source id → (the state it must have, whether a contact sent one of its files)."""
    conversations = ledger.records_for(ObjectType.CONVERSATION, sorted(sent))
    changes = 0
    for source_id, (wanted, by_contact) in sent.items():
        record = conversations.get(source_id)
        settled = record is not None and (record.progress or {}).get("state") == wanted
        changes += wanted == "closed" and (not settled or by_contact)
    return changes


def _count(
    staging: Staging,
    ledger: Ledger,
    object_type: ObjectType,
    manifest: ObjectManifest,
    batch_size: int,
    neighbours: Neighbours,
) -> dict:
    counts = {"create": 0, "update": 0, "unchanged": 0, "quarantined": manifest.quarantined, "requests": 0}
    held = [0] * batch_count(object_type, manifest.payloads, batch_size)
    files_sent: dict[str, tuple[str, bool]] = {}
    rows = staging.read_payloads(manifest.path)
    progress = Progress(log, f"plan {object_type}", manifest.payloads)  # minutes at 2M conversations
    while batch := list(islice(rows, 500)):
        progress.advance(len(batch))
        known = ledger.records_for(object_type, [row["source_id"] for row in batch])
        loaded_before = (
            ledger.records_for(
                ObjectType.COMPANY, sorted({row["depends_on"] for row in batch if row["depends_on"]})
            )
            if object_type == ObjectType.CONTACT
            else {}
        )
        for row in batch:
            held[batch_of(batch_key(object_type, row), len(held))] += 1
            record = known.get(row["source_id"])
            if record is not None and record.state == "done" and record.payload_hash == row["hash"]:
                counts["unchanged"] += 1
                continue
            new = record is None or record.intercom_id is None
            counts["create" if new else "update"] += 1
            done = (
                set()
                if new or object_type != ObjectType.CONVERSATION
                else {
                    key
                    for key, state in ledger.part_states(row["source_id"]).items()
                    if state.state == "done"
                }
            )
            company = loaded_before.get(row["depends_on"])
            linked = row["depends_on"] in neighbours.companies or (
                company is not None and company.state == "done"
            )
            files = row["source_id"] in neighbours.files_to_come
            counts["requests"] += _requests(object_type, row, new, done, linked, files)
            if object_type == ObjectType.ATTACHMENT:
                _, by_contact = files_sent.get(row["depends_on"], ("", False))
                by_contact = by_contact or row["payload"]["author"] == "contact"
                files_sent[row["depends_on"]] = (row["payload"]["conversation_state"], by_contact)
    counts["requests"] += _state_changes_after_files(ledger, files_sent)
    progress.finish()
    counts["batches"] = [Batch(index, len(held), records).as_dict() for index, records in enumerate(held)]
    return counts


def plan(
    staging: Staging,
    ledger: Ledger,
    transformed: TransformManifest,
    requests_per_minute: int,
    batch_size: int,
    steps: Iterable[str] = STEPS,
) -> dict:
    """Per object: creates, updates, unchanged, quarantined, requests, and the batches its load step
    is split into (domain/batches.py). `steps`: the load steps the run selected."""
    manifests = transformed.objects
    companies, attachments = manifests.get(ObjectType.COMPANY), manifests.get(ObjectType.ATTACHMENT)
    neighbours = Neighbours(
        companies=frozenset(staging.payload_ids(companies.path)) if companies else frozenset(),
        files_to_come=frozenset(staging.payload_ids(attachments.path, "depends_on"))
        if attachments and ObjectType.ATTACHMENT.step in steps
        else frozenset(),
    )
    objects = {
        object_type: _count(staging, ledger, ObjectType(object_type), manifest, batch_size, neighbours)
        for object_type, manifest in manifests.items()
    }
    total = sum(counts["requests"] for counts in objects.values())
    return {
        "objects": objects,
        "requests": total,
        "requests_per_minute": requests_per_minute,
        "eta_minutes": round(total / requests_per_minute, 1),
    }
