"""Intercom's side of the domain: the request bodies the migration sends, and how to recognise what
Intercom made of them (a part, a conversation's opening message) when reading it back.

One reading of a stored body serves both the loader, which looks for the part a dead try may
have posted before posting it again, and validation, which compares every part with its payload.
"""

from __future__ import annotations

import html
import re

CONTACT_FIELDS = (
    "id",
    "role",
    "email",
    "external_id",
    "name",
    "phone",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
    "custom_attributes",
    "created_at",
)
COMPANY_FIELDS = (
    "id",
    "company_id",
    "name",
    "website",
    "industry",
    "size",
    "plan",
    "remote_created_at",
    "monthly_spend",
    "custom_attributes",
)
"""What is kept of a record that existed before the migration, to restore it on rollback."""

_EXISTING_ID = re.compile(r"id=(\w+)")


def existing_id(conflict_message: str) -> str | None:
    """The id in Intercom's 409 "A contact matching those details already exists with id=…"."""
    match = _EXISTING_ID.search(conflict_message)
    return match[1] if match else None


def previous_state(record: dict, fields: tuple[str, ...]) -> dict:
    return {key: record.get(key) for key in fields if key in record}


# Bodies --------------------------------------------------------------------------------------
def html_body(text: str) -> str:
    """Intercom renders reply bodies as HTML; ASAPP text is text, so it is escaped, never rendered."""
    return html.escape(text, quote=False).replace("\n", "<br>")


def contact_message(contact_id: str, opener: dict) -> dict:
    """POST /conversations: a conversation the contact opened (its body is plain text, by the spec)."""
    return {
        "from": {"type": "user", "id": contact_id},
        "body": opener["text"],
        "created_at": opener["created_at"],
    }


def admin_message(contact_id: str, opener: dict) -> dict:
    """POST /messages: a conversation an agent or bot opened; the spec wants "in_app" and an integer admin
    id."""
    return {
        "message_type": "in_app",
        "from": {"type": "admin", "id": int(opener["admin_id"])},
        "to": {"type": "user", "id": contact_id},
        "body": html_body(opener["text"]),
        "created_at": opener["created_at"],
        "create_conversation_without_contact_reply": True,
    }


def reply_body(part: dict, contact_id: str) -> dict:
    """POST /conversations/{id}/reply for a message, as the contact or an admin, at its original time."""
    if part["author"] == "contact":
        return {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact_id,
            "body": html_body(part["text"]),
            "created_at": part["created_at"],
        }
    return {
        "message_type": part["message_type"],
        "type": "admin",
        "admin_id": part["admin_id"],
        "body": html_body(part["text"]),
        "created_at": part["created_at"],
        "skip_notifications": True,
    }


def attachment_reply(payload: dict, data_base64: str, contact_id: str | None, default_admin_id: str) -> dict:
    """A reply carrying one re-hosted file, named and typed as ASAPP's upload record states."""
    body = {
        "body": html_body(payload["text"]),
        "created_at": payload["created_at"],
        "attachment_files": [
            {"content_type": payload["content_type"], "data": data_base64, "name": payload["file_name"]}
        ],
    }
    if payload["author"] == "contact" and contact_id:
        return body | {"message_type": "comment", "type": "user", "intercom_user_id": contact_id}
    return body | {
        "message_type": "comment",
        "type": "admin",
        "skip_notifications": True,
        "admin_id": payload.get("admin_id") or default_admin_id,
    }


def state_change(wanted: str, admin_id: str) -> dict:
    """POST /conversations/{id}/parts closing or reopening a conversation."""
    return {"message_type": "close" if wanted == "closed" else "open", "type": "admin", "admin_id": admin_id}


def assignment(admin_id: str, assignee_id: str) -> dict:
    return {"message_type": "assignment", "type": "admin", "admin_id": admin_id, "assignee_id": assignee_id}


# Reading back --------------------------------------------------------------------------------
_LINE_BREAK = re.compile(r"<br\s*/?>", re.I)
_PARAGRAPH_BREAK = re.compile(r"</p>\s*<p[^>]*>", re.I)
_WRAPPING_PARAGRAPH = re.compile(r"^\s*<p[^>]*>(.*)</p>\s*$", re.I | re.S)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


def visible_text(text: str) -> str:
    """Text as a reader sees it: runs of spaces shown as one, none at the ends of lines or of the text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in lines).strip("\n")


def reader_text(body: str | None) -> str:
    """What a reader sees of a body Intercom stores as HTML: paragraphs and <br> as new lines, entities
    decoded."""
    text = _WRAPPING_PARAGRAPH.sub(r"\1", _PARAGRAPH_BREAK.sub("\n", _LINE_BREAK.sub("\n", body or "")))
    return visible_text(html.unescape(text))


def same_text(body: str | None, text: str) -> bool:
    """Whether a stored body shows `text`. The one comparison of the product: the loader uses it to find
    what a dead try posted, validation to compare every part. Bodies sent as plain text (a contact's
    opening message) may also be stored as they came, so that reading counts too."""
    wanted = visible_text(text)
    return reader_text(body) == wanted or visible_text(body or "") == wanted


def same_part(candidate: dict, part: dict) -> bool:
    """Whether a conversation part is what a payload part became: same time, same text."""
    return candidate.get("created_at") == part["created_at"] and same_text(
        candidate.get("body"), part["text"]
    )


def parts_of(conversation: dict) -> list[dict]:
    return (conversation.get("conversation_parts") or {}).get("conversation_parts", [])


def find_part(conversation: dict, part: dict, taken: set[str] = frozenset()) -> dict | None:
    """The part a payload part became, skipping parts already matched to other payload parts
    (two identical messages in one second are two parts)."""
    for candidate in parts_of(conversation):
        if str(candidate.get("id")) not in taken and same_part(candidate, part):
            return candidate
    return None
