"""Pure functions from joined ASAPP rows to the payloads the loader sends to Intercom.

Nothing here does I/O, so the rules of the migration (who authors a part, what a conversation
opens with, how a value becomes an Intercom attribute) are tested without Airflow or a network.
A record that cannot be expressed in Intercom raises `Unloadable` with the reason, and goes to
the quarantine instead of the workspace.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.run_form import ThreadMode
from asapp_intercom.domain.times import instant


class Unloadable(ValueError):
    """This record cannot be written to Intercom as it is; the message is the reason."""


def payload_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def epoch(value: Any) -> int | None:
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
            return int(value)
        if data_type == "float":
            return float(value)
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
            return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).date().isoformat()
    except (TypeError, ValueError):
        pass
    raise Unloadable(f"{source}: {str(value)[:60]!r} is not a {data_type}; change the field's type in the map")


def source_value(entry: FieldMapping, row: dict, keyed: dict[str, dict[str, Any]]) -> Any:
    """The value an entry maps, from a row's columns, its raw JSON, or its key/value lists."""
    source = entry.source
    match = re.fullmatch(r"[a-z_]+\.(?P<column>[a-z_]+)\[(?P<key>.+)\]", source)
    if match:
        return keyed.get(match["column"], {}).get(match["key"])
    column = source.split(".", 1)[1]
    if column in row and column != "_raw":
        return row[column]
    raw = row.get("_raw")
    return (json.loads(raw) if isinstance(raw, str) else raw or {}).get(column)


def mapped_attributes(entries: list[FieldMapping], row: dict, keyed: dict[str, dict[str, Any]] | None = None) -> dict:
    """custom_attributes for the non-core entries of the map that target this object."""
    attributes = {}
    for entry in entries:
        if entry.core or not entry.attribute:
            continue
        value = convert(source_value(entry, row, keyed or {}), entry.data_type, entry.source)
        if value is not None:
            attributes[entry.attribute] = value
    return attributes


def _keyed_attributes(row: dict) -> dict[str, Any]:
    items = row.get("attributes")
    if isinstance(items, str):
        items = json.loads(items)
    return {item["name"]: item.get("value") for item in items or [] if isinstance(item, dict) and "name" in item}


# Companies ---------------------------------------------------------------------------------
def company_payload(row: dict, entries: list[FieldMapping]) -> dict:
    company_id = row["company_external_id"]
    website = row.get("website") or (f"https://{row['domain']}" if row.get("domain") else None)
    payload = {
        "company_id": company_id,
        "name": row.get("name") or company_id,
        "website": website,
        "industry": row.get("industry"),
        "size": row.get("size"),
        "plan": row.get("plan"),
        "remote_created_at": epoch(row.get("created_ts")),
        "custom_attributes": mapped_attributes(entries, row, {"attributes": _keyed_attributes(row)}),
    }
    return {key: value for key, value in payload.items() if value not in (None, {})}


# Contacts ----------------------------------------------------------------------------------
def contact_key(customer: dict) -> str:
    """Customers whose emails differ only in case are one person, and one Intercom contact."""
    email = (customer.get("email_address") or "").strip().lower()
    return f"email:{email}" if email else f"customer:{customer['customer_id']}"


def primary_member(members: list[dict]) -> dict:
    """Of customers sharing an email, the earliest seen speaks for the contact (name, company, ids)."""
    return min(members, key=lambda member: (epoch(member.get("first_seen_ts")) or 0, member["customer_id"]))


def contact_payload(members: list[dict], entries: list[FieldMapping]) -> dict:
    """One contact from the customers sharing an email."""
    members = sorted(members, key=lambda member: member["customer_id"])
    primary = primary_member(members)
    email = (primary.get("email_address") or "").strip() or None
    payload = {
        "role": "user",
        "email": email,
        "external_id": primary.get("external_customer_id") or f"asapp-customer-{primary['customer_id']}",
        "name": primary.get("name"),
        "phone": primary.get("phone_number"),
        "signed_up_at": epoch(primary.get("first_seen_ts")),
        "last_seen_at": max((epoch(member.get("last_seen_ts")) or 0 for member in members), default=0) or None,
        "custom_attributes": {
            "asapp_customer_id": ",".join(str(member["customer_id"]) for member in members),
            **mapped_attributes(entries, primary, {"attributes": _keyed_attributes(primary)}),
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


SPEAKER_LABELS = {"customer": "Customer", "bot": "Bot", "rep": "Agent", "rep_note": "Agent note",
                  "rep_whisper": "Agent whisper"}


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
    label = (agent.name if agent and agent.name else f"ASAPP agent {message.get('sender_id')}")
    if sender not in SPEAKER_LABELS:
        label = f"{label}, {sender}"
    return "admin", context.default_admin_id, label


def message_part(message: dict, context: ConversationContext) -> dict:
    kind, admin_id, label = _author(message, context)
    text = message["utterance"]
    part = {
        "key": message["key"],
        "created_at": epoch(message["created_ts"]),
        "author": kind,
        "message_type": "note" if message.get("sender_type") in {"rep_note", "rep_whisper"} else "comment",
        "text": f"[{label}] {text}" if label else text,
    }
    if message.get("sender_type") not in SPEAKER_LABELS and kind == "admin":
        part["message_type"] = "note"
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
    return {"key": f"transcript:{last['key']}", "created_at": epoch(last["created_ts"]), "author": "admin",
            "admin_id": context.default_admin_id, "message_type": "note",
            "text": "ASAPP transcript\n" + "\n".join(lines)}


def conversation_payload(row: dict, context: ConversationContext) -> dict:
    """The conversation's opening message, its parts, attributes, assignee, state and tags."""
    messages = [message for message in row.get("messages") or [] if (message.get("utterance") or "").strip()]
    if not messages:
        raise Unloadable("conversation has no messages in the feeds or the event stream")
    parts = [message_part(message, context) for message in messages]
    visible = [part for part in parts if part["message_type"] == "comment"]
    if not visible:
        raise Unloadable("conversation has only internal notes; Intercom cannot open a conversation with a note")
    opener = visible[0]
    if context.thread_mode is ThreadMode.transcript:
        replies = [transcript_part(messages, context)] if len(messages) > 1 else []
    else:
        replies = [part for part in parts if part is not opener]

    keyed = {
        "param_value": {item["param_key"]: item["param_value"] for item in row.get("params") or []},
        "answer": {item["question"]: item["answer"] for item in row.get("feedback") or []},
        "structured_data_field_value": {item["field_id"]: item["value"] for item in row.get("structured") or []},
    }
    conversation_entries = [entry for entry in context.entries if entry.target_object == "conversation"]
    attributes = {"asapp_issue_id": str(row["issue_id"]), **mapped_attributes(conversation_entries, row, keyed)}
    agent = context.agents.get(str(row.get("last_rep_id")))
    tags = set(parse_segments(row.get("company_segments")))
    for item in row.get("structured") or []:
        tags.update(context.segment_tags_by_field.get(item["field_id"], []))
    return {
        "opener": opener,
        "parts": replies,
        "custom_attributes": attributes,
        "assignee_admin_id": agent.admin_id if agent else None,
        "unmatched_agent": None if agent is None or agent.admin_id else {"rep_id": agent.rep_id, "name": agent.name,
                                                                         "email": agent.email},
        "state": "closed" if row.get("conversation_end_ts") else "open",
        "tags": sorted(tags),
    }


def attachment_payload(row: dict, contact: str | None, context: ConversationContext) -> dict:
    kind, admin_id, label = _author({"sender_type": row.get("sender_type"), "sender_id": row.get("sender_id")},
                                    context)
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
