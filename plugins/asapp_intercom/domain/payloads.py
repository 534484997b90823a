"""Pure functions from joined ASAPP rows to the payloads the loader sends to Intercom.

Nothing here does I/O, so the rules of the migration (who authors a part, what a conversation
opens with, how a value becomes an Intercom attribute) are tested without Airflow or a network.
Values Intercom would refuse or store wrongly (a malformed email or website, a string attribute
over 255 characters, a value that is not of its attribute's type) are left out of the record and
reported as a `FieldIssue` with what ASAPP had; a record that cannot be expressed in Intercom at
all raises `Unloadable` with the reason, and goes to the quarantine instead of the workspace.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import orjson

from asapp_intercom.domain.feeds import Feed
from asapp_intercom.domain.mapping import FieldMapping, attribute_name
from asapp_intercom.domain.run_form import ThreadMode
from asapp_intercom.domain.times import instant


class Unloadable(ValueError):
    """This record cannot be written to Intercom as it is; the message is the reason."""


@dataclass(frozen=True)
class FieldIssue:
    """A field a record is loaded without: what ASAPP had, and why Intercom cannot take it."""

    field: str
    value: Any
    reason: str


EMAIL_PATTERN = r"[^@\s]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
"""An address Intercom can hold: one @, no space, a domain of dotted labels. The same rule keys contacts in
the transform's SQL (DuckDB's RE2 reads it alike), so an address that is not one never merges customers."""
HOSTNAME_PATTERN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
WEBSITE_PATTERN = rf"https?://{HOSTNAME_PATTERN}(?::\d+)?(?:[/?#][^\s]*)?"
STRING_LIMIT = 255
"""Intercom keeps at most 255 characters in a string attribute."""


def valid_email(value: str | None) -> bool:
    return bool(value) and re.fullmatch(EMAIL_PATTERN, value) is not None


def valid_website(value: str | None) -> bool:
    return bool(value) and re.fullmatch(WEBSITE_PATTERN, value) is not None


class HashScheme(IntEnum):
    """How a payload's content hash is computed. The ledger keeps the hash each record was loaded with and a
    load sends only what changed, so a migration keeps the scheme its ledger began with: another would make
    every loaded record look changed and send it again."""

    STDLIB_JSON = 1
    """The standard library's sorted, ASCII-escaped JSON: ledgers begun before schemes existed hold it."""
    SORTED_ORJSON = 2
    """The payload's canonical_json: the very bytes its payload file stores, encoded once, not twice (the
    standard library's encoder took a sixth of a transform's time)."""


def canonical_json(payload: dict) -> bytes:
    """The payload as stored and hashed: keys sorted, so its hash does not depend on the map's order."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)


def payload_hash(payload: dict, scheme: HashScheme, encoded: bytes | None = None) -> str:
    """The payload's content hash; `encoded`: its canonical_json, when the caller has it already."""
    if scheme is HashScheme.SORTED_ORJSON:
        return hashlib.sha256(encoded if encoded is not None else canonical_json(payload)).hexdigest()
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def epoch(value: Any) -> int | None:
    if value.__class__ is int:  # a message's time, from the transform's query (millions of them)
        return value
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    return int(instant(value).timestamp())


def parse_segments(raw: str | None) -> list[str]:
    """ASAPP writes segments as "[marketing,promotions]" (or without brackets)."""
    if not raw:
        return []
    return [part.strip() for part in raw.strip().strip("[]").split(",") if part.strip()]


INTEGER_RANGE = (-(2**63), 2**63 - 1)
"""What a JSON payload's integer can be here (orjson writes 64-bit integers, no wider)."""
_YES = {"yes", "true", "y", "1"}
_NO = {"no", "false", "n", "0"}


def convert(value: Any, data_type: str, source: str) -> Any:
    """An ASAPP value as an Intercom attribute value of `data_type`; Unloadable when it is not one."""
    if value is None or value == "":
        return None
    try:
        if data_type == "string":
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if data_type == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if not INTEGER_RANGE[0] <= (number := int(value)) <= INTEGER_RANGE[1]:
                raise ValueError
            return number
        if data_type == "float":
            if not math.isfinite(number := float(value)):
                raise ValueError
            return number
        if data_type == "boolean":
            text = str(value).strip().lower()
            if text in _YES:
                return True
            if text in _NO:
                return False
            raise ValueError
        if data_type == "datetime":
            return epoch(value)
        if data_type == "date":
            return (
                (value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
                .date()
                .isoformat()
            )
    except (TypeError, ValueError):
        pass
    raise Unloadable(
        f"{source}: {str(value)[:60]!r} is not a {data_type}; change the field's type in the map"
    )


_KEYED_SOURCE = re.compile(r"[a-z_]+\.(?P<column>[a-z_]+)\[(?P<key>.+)\]")


_TARGETS: dict[int, tuple[list[FieldMapping], list[tuple[str, str, str | None, str, str]]]] = {}


def _targets(entries: list[FieldMapping]) -> list[tuple[str, str, str | None, str, str]]:
    """The custom attributes among `entries` as (name, column, key, data type, source), sources parsed
    once per list of entries: a transform applies one list to millions of rows. Keyed by the list's
    identity, which the cache's own reference keeps from being reused."""
    cached = _TARGETS.get(id(entries))
    if cached is None or cached[0] is not entries:
        targets = []
        for entry in entries:
            name = None if entry.core else attribute_name(entry.target)
            if name is None:
                continue
            match = _KEYED_SOURCE.fullmatch(entry.source)
            column, key = (match["column"], match["key"]) if match else (entry.source.split(".", 1)[1], None)
            targets.append((name, column, key, entry.data_type, entry.source))
        if len(_TARGETS) >= 32:
            _TARGETS.clear()
        cached = _TARGETS[id(entries)] = (entries, targets)
    return cached[1]


def raw_keys(entries: list[FieldMapping], feed: Feed) -> list[str]:
    """The keys of the feed's raw JSON the map's `entries` read: its columns the map names that are not among
    its typed columns. A transform carries only these through its sorts, not the whole raw row (nor the
    columns of the other feeds a conversation is joined from: their values come with their own rows)."""
    return sorted(
        {
            column
            for _, column, _, _, source in _targets(entries)
            if source.startswith(f"{feed.name}.") and column not in feed.typed_columns
        }
    )


def _raw_values(row: dict) -> dict:
    """A row's raw JSON, parsed: the map reads from it the keys that are not among the row's columns."""
    raw = row.get("_raw")
    return (orjson.loads(raw) if isinstance(raw, str | bytes) else raw) or {}


def mapped_attributes(
    entries: list[FieldMapping],
    row: dict,
    keyed: dict[str, dict[str, Any]] | None = None,
    issues: list[FieldIssue] | None = None,
) -> dict:
    """custom_attributes for the non-core entries of the map that target this object: each from the row's
    column, its raw JSON (parsed once, when first needed) or its key/value data (`keyed`: column → key →
    value). A value that is not of its attribute's type, or a string over Intercom's 255 characters, is
    left out and reported in `issues`. Millions of rows pass here, a score of targets each: a string that
    is a string is taken as it is, without a call."""
    attributes = {}
    raw = None
    for name, column, key, data_type, source in _targets(entries):
        if key is not None:
            original = keyed.get(column, {}).get(key) if keyed else None
        elif column in row and column != "_raw":
            original = row[column]
        else:
            if raw is None:
                raw = _raw_values(row)
            original = raw.get(column)
        if original is None or original == "":
            continue
        if data_type == "string" and original.__class__ is str:
            value = original
        else:
            try:
                value = convert(original, data_type, source)
            except Unloadable as error:
                _report(issues, f"custom_attributes.{name}", original, str(error))
                continue
        if isinstance(value, str) and len(value) > STRING_LIMIT:
            _report(
                issues,
                f"custom_attributes.{name}",
                original,
                f"{len(value)} characters; Intercom keeps at most {STRING_LIMIT} in a string attribute",
            )
            continue
        if value is not None:
            attributes[name] = value
    return attributes


def _report(issues: list[FieldIssue] | None, field_name: str, value: Any, reason: str) -> None:
    if issues is not None:
        issues.append(FieldIssue(field_name, value, reason))


def _keyed_attributes(row: dict) -> dict[str, Any]:
    """A customer's or company's metadata attributes (a list of name/value pairs in its raw JSON) by name."""
    items = row["attributes"] if "attributes" in row else _raw_values(row).get("attributes")
    if isinstance(items, str):
        items = orjson.loads(items)
    return {
        item["name"]: item.get("value") for item in items or [] if isinstance(item, dict) and "name" in item
    }


# Companies ---------------------------------------------------------------------------------
def company_payload(row: dict, entries: list[FieldMapping], issues: list[FieldIssue] | None = None) -> dict:
    company_id = row["company_external_id"]
    website = row.get("website")
    if website and not valid_website(website):
        _report(
            issues,
            "website",
            website,
            "not a web address Intercom can link to (https://host/…); "
            "the company's domain is used instead where it has one",
        )
        website = None
    domain = row.get("domain")
    if not website and domain and re.fullmatch(HOSTNAME_PATTERN, domain):
        website = f"https://{domain}"
    payload = {
        "company_id": company_id,
        "name": row.get("name") or company_id,
        "website": website,
        "industry": row.get("industry"),
        "size": row.get("size"),
        "plan": row.get("plan"),
        "remote_created_at": epoch(row.get("created_ts")),
        "custom_attributes": mapped_attributes(entries, row, {"attributes": _keyed_attributes(row)}, issues),
    }
    return {key: value for key, value in payload.items() if value not in (None, {})}


# Contacts ----------------------------------------------------------------------------------
def contact_key(customer: dict) -> str:
    """Customers whose emails differ only in case are one person, and one Intercom contact; a customer
    without a usable email is a contact of their own."""
    email = (customer.get("email_address") or "").strip().lower()
    return f"email:{email}" if valid_email(email) else f"customer:{customer['customer_id']}"


def primary_member(members: list[dict]) -> dict:
    """Of customers sharing an email, the earliest seen speaks for the contact (name, company, ids)."""
    if len(members) == 1:  # most contacts: no time to parse
        return members[0]
    return min(members, key=lambda member: (epoch(member.get("first_seen_ts")) or 0, member["customer_id"]))


def contact_payload(
    members: list[dict],
    entries: list[FieldMapping],
    issues: list[FieldIssue] | None = None,
    external_id_owner: str | None = None,
) -> dict:
    """One contact from the customers sharing an email. `external_id_owner` names the contact that keeps the
    primary customer's external id when another, earlier-seen customer already has it."""
    members = sorted(members, key=lambda member: member["customer_id"])
    primary = primary_member(members)
    email = (primary.get("email_address") or "").strip() or None
    if email and not valid_email(email):
        _report(
            issues, "email", email, "not an email address Intercom accepts; the contact keeps its external id"
        )
        email = None
    external_id = primary.get("external_customer_id")
    if external_id and external_id_owner:
        _report(
            issues,
            "external_id",
            external_id,
            f"also the external id of the earlier-seen {external_id_owner}; "
            "Intercom holds each external id once",
        )
        external_id = None
    payload = {
        "role": "user",
        "email": email,
        "external_id": external_id or f"asapp-customer-{primary['customer_id']}",
        "name": primary.get("name"),
        "phone": primary.get("phone_number"),
        "signed_up_at": epoch(primary.get("first_seen_ts")),
        "last_seen_at": max((epoch(member.get("last_seen_ts")) or 0 for member in members), default=0)
        or None,
        "custom_attributes": {
            "asapp_customer_id": ",".join(str(member["customer_id"]) for member in members),
            **mapped_attributes(entries, primary, {"attributes": _keyed_attributes(primary)}, issues),
        },
    }
    return {key: value for key, value in payload.items() if value is not None}


# Conversations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Agent:
    rep_id: str
    name: str | None
    email: str | None
    admin_id: str | None


@dataclass
class ConversationContext:
    """What a conversation needs besides its own rows: the map, agents, admins, thread mode."""

    entries: list[FieldMapping]
    agents: dict[str, Agent]
    default_admin_id: str
    bot_admin_id: str
    thread_mode: ThreadMode = ThreadMode.parts
    segment_tags_by_field: dict[str, list[str]] = field(default_factory=dict)
    """Structured-data field id → tags of the ASAPP segments that field belongs to."""

    @functools.cached_property
    def conversation_entries(self) -> list[FieldMapping]:
        """The map's entries that target a conversation (the map is set before the first conversation)."""
        return [entry for entry in self.entries if entry.target_object == "conversation"]


SPEAKER_LABELS = {
    "customer": "Customer",
    "bot": "Bot",
    "rep": "Agent",
    "rep_note": "Agent note",
    "rep_whisper": "Agent whisper",
}


def _author(message: dict, context: ConversationContext) -> tuple[str, str | None, str | None]:
    """(author kind "contact"|"admin", admin id, label to prefix when the agent has no admin)."""
    sender = message.get("sender_type")
    if sender == "customer":
        return "contact", None, None
    if sender == "bot":
        return "admin", context.bot_admin_id, None
    agent = context.agents.get(str(message.get("sender_id")))
    if agent and agent.admin_id:
        return "admin", agent.admin_id, None
    label = agent.name if agent and agent.name else f"ASAPP agent {message.get('sender_id')}"
    if sender not in SPEAKER_LABELS:
        label = f"{label}, {sender}"
    return "admin", context.default_admin_id, label


NOTE_SENDERS = {"rep_note", "rep_whisper"}


def _part_author(message: dict, context: ConversationContext) -> tuple[str, str | None, str | None, str]:
    """A sender's _author and the type of their parts: an agent's note or whisper is an internal note, and so
    is what an admin writes as a sender ASAPP does not document (it may not be for the customer's eyes)."""
    kind, admin_id, label = _author(message, context)
    sender = message.get("sender_type")
    note = sender in NOTE_SENDERS or (sender not in SPEAKER_LABELS and kind == "admin")
    return kind, admin_id, label, "note" if note else "comment"


def message_part(
    message: dict, context: ConversationContext, authors: dict[tuple, tuple[str, str | None, str | None, str]]
) -> dict:
    """One message as a part; `authors`: each sender's _part_author, found once per conversation (a
    conversation's dozens of messages have two or three senders)."""
    sender = (message.get("sender_type"), message.get("sender_id"))
    author = authors.get(sender)
    if author is None:
        author = authors[sender] = _part_author(message, context)
    kind, admin_id, label, message_type = author
    text = message["utterance"]
    part = {
        "key": message["key"],
        "created_at": epoch(message["created_ts"]),
        "author": kind,
        "message_type": message_type,
        "text": f"[{label}] {text}" if label else text,
    }
    if admin_id:
        part["admin_id"] = admin_id
    return part


def transcript_part(messages: list[dict], context: ConversationContext) -> dict:
    """thread_mode=transcript: the whole exchange as one internal note at its last message's time."""
    lines = []
    for message in messages:
        speaker = SPEAKER_LABELS.get(message.get("sender_type"), message.get("sender_type") or "?")
        agent = context.agents.get(str(message.get("sender_id")))
        if agent and agent.name and message.get("sender_type") != "customer":
            speaker = f"{speaker} {agent.name}"
        stamp = datetime.fromtimestamp(epoch(message["created_ts"]), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"[{stamp} UTC] {speaker}: {message['utterance']}")
    last = messages[-1]
    return {
        "key": f"transcript:{last['key']}",
        "created_at": epoch(last["created_ts"]),
        "author": "admin",
        "admin_id": context.default_admin_id,
        "message_type": "note",
        "text": "ASAPP transcript\n" + "\n".join(lines),
    }


def agents_without_admin(row: dict, context: ConversationContext) -> list[dict]:
    """The ASAPP agents of a conversation (its assignee, and who wrote in it) that have no Intercom admin:
    its messages carry their names and it stays unassigned, so the report names them."""
    rep_ids = {str(row["last_rep_id"])} if row.get("last_rep_id") else set()
    rep_ids |= {
        str(message.get("sender_id"))
        for message in row.get("messages") or []
        if message.get("sender_type") not in {"customer", "bot"} and message.get("sender_id") is not None
    }
    unmatched = []
    for rep_id in sorted(rep_ids):
        agent = context.agents.get(rep_id)
        if agent is None or not agent.admin_id:
            unmatched.append(
                {
                    "rep_id": rep_id,
                    "name": agent.name if agent else None,
                    "email": agent.email if agent else None,
                }
            )
    return unmatched


def spoken_messages(row: dict) -> list[dict]:
    """The conversation's messages that say something (empty utterances are not migrated)."""
    return [message for message in row.get("messages") or [] if (message.get("utterance") or "").strip()]


def conversation_payload(
    row: dict,
    context: ConversationContext,
    issues: list[FieldIssue] | None = None,
    messages: list[dict] | None = None,
) -> dict:
    """The conversation's opening message, its parts, attributes, assignee, state and tags; `messages`: its
    spoken_messages, when the caller has them already."""
    if messages is None:
        messages = spoken_messages(row)
    if not messages:
        raise Unloadable("conversation has no messages in the feeds or the event stream")
    authors: dict[tuple, tuple[str, str | None, str | None, str]] = {}
    parts = [message_part(message, context, authors) for message in messages]
    visible = [part for part in parts if part["message_type"] == "comment"]
    if not visible:
        raise Unloadable(
            "conversation has only internal notes; Intercom cannot open a conversation with a note"
        )
    opener = visible[0]
    if context.thread_mode is ThreadMode.transcript:
        replies = [transcript_part(messages, context)] if len(messages) > 1 else []
    else:
        replies = [part for part in parts if part is not opener]

    keyed = {
        "param_value": {item["param_key"]: item["param_value"] for item in row.get("params") or []},
        "answer": {item["question"]: item["answer"] for item in row.get("feedback") or []},
        "structured_data_field_value": {
            item["field_id"]: item["value"] for item in row.get("structured") or []
        },
    }
    attributes = {
        "asapp_issue_id": str(row["issue_id"]),
        **mapped_attributes(context.conversation_entries, row, keyed, issues),
    }
    agent = context.agents.get(str(row.get("last_rep_id")))
    tags = set(parse_segments(row.get("company_segments")))
    for item in row.get("structured") or []:
        tags.update(context.segment_tags_by_field.get(item["field_id"], []))
    return {
        "opener": opener,
        "parts": replies,
        "custom_attributes": attributes,
        "assignee_admin_id": agent.admin_id if agent else None,
        "state": "closed" if row.get("conversation_end_ts") else "open",
        "tags": sorted(tags),
    }


def attachment_payload(row: dict, contact: str | None, context: ConversationContext) -> dict:
    kind, admin_id, label = _author(
        {"sender_type": row.get("sender_type"), "sender_id": row.get("sender_id")}, context
    )
    return {
        "contact": contact,
        "text": f"[{label}] {row['file_name']}" if label else row["file_name"],
        "conversation_state": row.get("conversation_state") or "open",
        "created_at": epoch(row["file_upload_ts"]),
        "author": kind,
        **({"admin_id": admin_id} if admin_id else {}),
        "file_name": row["file_name"],
        "content_type": row.get("file_mime_type") or "application/octet-stream",
    }
