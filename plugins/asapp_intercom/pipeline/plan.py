"""The exact dry-run plan: per object, what a load would create, update or leave alone.

It compares each payload's hash with the ledger, so it is exact for this run's scope, and
counts the requests that costs (Intercom has no bulk write for these objects: one call per
record, per reply, per state change), hence the ETA under the configured rate budget.
"""

from __future__ import annotations

from itertools import islice

from asapp_intercom.domain.batches import Batch, batch_count, batch_key, batch_of
from asapp_intercom.domain.manifests import ObjectManifest, TransformManifest
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.staging import Staging


def _requests(
    object_type: str, row: dict, new: bool, parts_done: set[str] = frozenset(), linked: bool = False
) -> int:
    payload = row["payload"]
    if object_type == ObjectType.COMPANY:
        return 2 if new else 1  # a lookup (was it there before us?) then the upsert
    if object_type == ObjectType.CONTACT:
        return 2 if linked else 1  # create or update, then the link to its company if that is migrated
    if object_type == ObjectType.CONVERSATION:
        steps = 1 + (1 if payload["assignee_admin_id"] else 0) + (1 if payload["state"] == "closed" else 0)
        if new:
            return 1 + len(payload["parts"]) + steps
        return sum(1 for part in payload["parts"] if part["key"] not in parts_done) + steps
    if object_type == ObjectType.CONVERSATION_TAGS:
        return len(payload["tags"])
    return 1


def _count(
    staging: Staging,
    ledger: Ledger,
    object_type: ObjectType,
    manifest: ObjectManifest,
    batch_size: int,
    companies: set[str],
) -> dict:
    """`companies`: the companies this run loads; a contact is linked to one of them or to one loaded before."""
    counts = {"create": 0, "update": 0, "unchanged": 0, "quarantined": manifest.quarantined, "requests": 0}
    held = [0] * batch_count(object_type, manifest.payloads, batch_size)
    rows = staging.read_payloads(manifest.path)
    while batch := list(islice(rows, 500)):
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
            linked = row["depends_on"] in companies or (company is not None and company.state == "done")
            counts["requests"] += _requests(object_type, row, new, done, linked)
    counts["batches"] = [Batch(index, len(held), records).as_dict() for index, records in enumerate(held)]
    return counts


def plan(
    staging: Staging,
    ledger: Ledger,
    transformed: TransformManifest,
    requests_per_minute: int,
    batch_size: int,
) -> dict:
    """Per object: creates, updates, unchanged, quarantined, requests, and the batches its load step
    is split into (domain/batches.py)."""
    company_manifest = transformed.objects.get(ObjectType.COMPANY)
    companies = (
        {row["source_id"] for row in staging.read_payloads(company_manifest.path)}
        if company_manifest
        else set()
    )
    objects = {
        object_type: _count(staging, ledger, ObjectType(object_type), manifest, batch_size, companies)
        for object_type, manifest in transformed.objects.items()
    }
    total = sum(counts["requests"] for counts in objects.values())
    return {
        "objects": objects,
        "requests": total,
        "requests_per_minute": requests_per_minute,
        "eta_minutes": round(total / requests_per_minute, 1),
    }
