"""Read every migrated record back from Intercom and compare it with what was sent.

A load that Intercom answered with 200 is not yet a migration: validation fetches each record
the run touched and compares every migrated field, and for conversations every part (time,
author and text, in order). Intercom returns at most the 500 newest parts of a conversation, so
longer threads are checked on those 500 and on the total count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from asapp_intercom.domain.intercom import parts_of, same_part, same_text
from asapp_intercom.domain.manifests import ObjectManifest, ValidationManifest
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.progress import Progress
from asapp_intercom.pipeline.staging import Staging

log = logging.getLogger(__name__)

PART_LIMIT = 500
MAX_LISTED = 200
WINDOW_ROWS = 500
"""Payloads read back at a time (each is checked on the thread pool)."""


def _compare(expected: dict, actual: dict, fields: tuple[str, ...]) -> Iterator[tuple[str, object, object]]:
    for name in fields:
        if name in expected and expected[name] != actual.get(name):
            yield name, expected[name], actual.get(name)
    for name, value in (expected.get("custom_attributes") or {}).items():
        found = (actual.get("custom_attributes") or {}).get(name)
        if found != value and not (
            isinstance(value, float) and isinstance(found, int | float) and abs(found - value) < 1e-9
        ):
            yield f"custom_attributes.{name}", value, found


def check_company(hook: IntercomHook, intercom_id: str, payload: dict) -> list[tuple]:
    actual = hook.get_company(intercom_id)
    if isinstance(actual.get("plan"), dict):  # Intercom answers the plan as {type, id, name}
        actual["plan"] = actual["plan"].get("name")
    return list(
        _compare(
            payload,
            actual,
            ("company_id", "name", "website", "industry", "size", "plan", "remote_created_at"),
        )
    )


def check_contact(hook: IntercomHook, intercom_id: str, payload: dict, company_id: str | None) -> list[tuple]:
    actual = hook.get_contact(intercom_id)
    problems = list(
        _compare(payload, actual, ("role", "external_id", "name", "phone", "signed_up_at", "last_seen_at"))
    )
    if (payload.get("email") or "").lower() != (actual.get("email") or "").lower():
        problems.append(("email", payload.get("email"), actual.get("email")))
    if company_id:
        companies = hook.list_contact_companies(intercom_id)
        if company_id not in {str(company["id"]) for company in companies}:
            problems.append(("companies", company_id, [company["id"] for company in companies]))
    return problems


def _author_matches(part: dict, author: dict, contact_id: str) -> bool:
    if part["author"] == "contact":
        return author.get("type") in {"user", "lead", "contact"} and str(author.get("id")) == contact_id
    return author.get("type") in {"admin", "bot"} and str(author.get("id")) == str(part.get("admin_id"))


def _compare_thread(expected: list[dict], messages: list[dict], contact_id: str) -> list[tuple]:
    """Every expected part once, in order, by its author; a part that shows up twice is named as such.
    Other parts (a teammate's reply written in Intercom since) are not the migration's and are left alone."""
    problems, matched, position = [], set(), 0
    for part in expected:
        index = next(
            (i for i in range(position, len(messages)) if i not in matched and same_part(messages[i], part)),
            None,
        )
        if index is None:
            elsewhere = any(
                i not in matched and same_part(message, part) for i, message in enumerate(messages)
            )
            problems.append(
                (
                    f"part {part['key']}",
                    f"{part['created_at']}: {part['text'][:60]}",
                    "out of order" if elsewhere else "missing",
                )
            )
            continue
        matched.add(index)
        if not _author_matches(part, messages[index].get("author") or {}, contact_id):
            problems.append(
                (
                    f"part {part['key']} author",
                    part.get("admin_id") or "contact",
                    messages[index].get("author"),
                )
            )
        position = index + 1
    for index, message in enumerate(messages):
        if index not in matched and any(same_part(message, part) for part in expected):
            problems.append(
                (f"part {message.get('id')}", "once", f"duplicated part: {(message.get('body') or '')[:60]}")
            )
    return problems


def thread_of(payload: dict, opened_with: str | None) -> tuple[dict, list[dict]]:
    """The message a conversation was opened with, and its other messages in time order.

    A conversation keeps the source it was opened with: a message that comes to light after its
    conversation was migrated (a file ASAPP delivered again, an event late) is posted as a part with
    its own time, even when it is earlier than that source; Intercom orders parts by their time.
    """
    messages = [payload["opener"], *payload["parts"]]
    opener = next((part for part in messages if part["key"] == opened_with), payload["opener"])
    return opener, sorted(
        (part for part in messages if part is not opener), key=lambda part: part["created_at"]
    )


def check_conversation(
    hook: IntercomHook, intercom_id: str, payload: dict, contact_id: str, opened_with: str | None = None
) -> list[tuple]:
    actual = hook.get_conversation(intercom_id)
    problems = []
    opener, expected = thread_of(payload, opened_with)
    source = actual.get("source") or {}
    if actual.get("created_at") != opener["created_at"]:
        problems.append(("created_at", opener["created_at"], actual.get("created_at")))
    if not same_text(source.get("body"), opener["text"]) or not _author_matches(
        opener, source.get("author") or {}, contact_id
    ):
        problems.append(("source", opener["text"][:80], (source.get("body") or "")[:80]))
    parts = parts_of(actual)
    total = (actual.get("conversation_parts") or {}).get("total_count", len(parts))
    # Messages only: attachments are parts of their own (checked on their own), close and assignment too.
    messages = [
        part for part in parts if part.get("part_type") in {"comment", "note"} and not part.get("attachments")
    ]
    if total >= PART_LIMIT and parts:
        if total < len(expected):  # only the newest 500 are returned; the count still covers them all
            problems.append(("conversation_parts.total_count", f">= {len(expected)}", total))
        oldest_returned = min(part["created_at"] for part in parts)
        expected = [part for part in expected if part["created_at"] >= oldest_returned]
    problems += _compare_thread(expected, messages, contact_id)
    if actual.get("state") != payload["state"]:
        problems.append(("state", payload["state"], actual.get("state")))
    if payload["assignee_admin_id"] and str(actual.get("admin_assignee_id")) != str(
        payload["assignee_admin_id"]
    ):
        problems.append(("admin_assignee_id", payload["assignee_admin_id"], actual.get("admin_assignee_id")))
    problems += [item for item in _compare({"custom_attributes": payload["custom_attributes"]}, actual, ())]
    return problems


def check_attachment(hook: IntercomHook, conversation_id: str, payload: dict) -> list[tuple]:
    actual = hook.get_conversation(conversation_id)
    for part in parts_of(actual):
        names = [item.get("name") for item in part.get("attachments") or []]
        if part.get("created_at") == payload["created_at"] and payload["file_name"] in names:
            return []
    return [("attachment", payload["file_name"], "no part with this file at its original time")]


def check_tags(hook: IntercomHook, intercom_id: str, payload: dict) -> list[tuple]:
    actual = hook.get_conversation(intercom_id)
    names = {tag["name"].lower() for tag in (actual.get("tags") or {}).get("tags", [])}
    missing = [name for name in payload["tags"] if name.lower() not in names]
    return [("tags", missing, sorted(names))] if missing else []


UNCHANGED = "unchanged since read back"


def validate(
    hook: IntercomHook,
    ledger: Ledger,
    staging: Staging,
    payloads: ObjectManifest,
    concurrency: int = 8,
    *,
    only_changed_since_read_back: bool = False,
) -> ValidationManifest:
    """Check every record of the run's payload file that the ledger says is in Intercom; with
    `only_changed_since_read_back` (a cutover), skip those an earlier read-back found as they are now."""
    manifest = ValidationManifest(payloads.object_type)
    object_type = payloads.object_type

    def check(row: dict) -> tuple[str, list[tuple]] | str | None:
        record = ledger.record(object_type, row["source_id"])
        if record is None or record.state != "done" or record.payload_hash != row["hash"]:
            return None  # quarantined or not loaded: the reconciliation accounts for it
        if only_changed_since_read_back and record.read_back_hash == row["hash"]:
            return UNCHANGED
        payload = row["payload"]
        try:
            if object_type == ObjectType.COMPANY:
                return row["source_id"], check_company(hook, record.intercom_id, payload)
            if object_type == ObjectType.CONTACT:
                company = ledger.record(ObjectType.COMPANY, row["depends_on"]) if row["depends_on"] else None
                return row["source_id"], check_contact(
                    hook, record.intercom_id, payload, company.intercom_id if company else None
                )
            if object_type == ObjectType.CONVERSATION:
                contact = ledger.record(ObjectType.CONTACT, row["depends_on"])
                return row["source_id"], check_conversation(
                    hook,
                    record.intercom_id,
                    payload,
                    contact.intercom_id,
                    (record.progress or {}).get("opened_with"),
                )
            if object_type == ObjectType.ATTACHMENT:
                conversation = ledger.record(ObjectType.CONVERSATION, row["depends_on"])
                return row["source_id"], check_attachment(hook, conversation.intercom_id, payload)
            if object_type == ObjectType.CONVERSATION_TAGS:
                return row["source_id"], check_tags(hook, record.intercom_id, payload)
        except ApiError as error:
            return row["source_id"], [
                ("read back", "a record", f"{error.status} {error.code}: {error.message}")
            ]
        return None

    read_back: dict[str, str | None] = {}  # what this read-back found: the payload as sent, or not
    progress = Progress(log, f"read back {object_type}", payloads.payloads)
    rows = staging.read_payloads(payloads.path)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="validate") as pool:
        # a window at a time: Executor.map takes its whole input at once, millions of payloads
        while window := list(islice(rows, WINDOW_ROWS)):
            for row, result in zip(window, pool.map(check, window), strict=True):
                progress.advance()
                _tally(manifest, read_back, row, result)
                if len(read_back) >= 500:
                    ledger.mark_read_back(object_type, read_back)
                    read_back = {}
    ledger.mark_read_back(object_type, read_back)
    progress.finish()
    return manifest


def _tally(manifest: ValidationManifest, read_back: dict[str, str | None], row: dict, result) -> None:
    """Count one record's check in the manifest and note what the read-back found."""
    if result is None:
        return
    if result == UNCHANGED:
        manifest.unchanged_since_read_back += 1
        return
    source_id, problems = result
    manifest.checked += 1
    read_back[source_id] = None if problems else row["hash"]
    if not problems:
        manifest.matching += 1
        return
    manifest.mismatched += 1
    if len(manifest.mismatches) < MAX_LISTED:
        manifest.mismatches.append(
            {
                "source_id": source_id,
                "problems": [
                    {"field": name, "expected": str(expected)[:200], "actual": str(actual)[:200]}
                    for name, expected, actual in problems
                ],
            }
        )
