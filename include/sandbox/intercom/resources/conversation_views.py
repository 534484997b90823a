"""How a conversation reads back: the full object (parts capped at 500), list items, statistics, authors.

Parts are kept ordered by their `created_at`, then by insertion, so a part imported later with an
earlier original timestamp sits at its place in the thread. GET returns at most the 500 most recent
parts while `total_count` and `statistics.count_conversation_parts` still give the full number.
"""

from __future__ import annotations

import re
from typing import Any

from include.sandbox.intercom.resources import attachments
from include.sandbox.intercom.server.workspace import Workspace

MAX_RETURNED_PARTS = 500
HTML_TAG = re.compile(r"<[^>]+>")


def part_sort_key(part: dict) -> tuple[int, int]:
    return (part["created_at"], int(part["id"]))


def render_author(author: dict) -> dict:
    """Part and source authors: {type, id, name, email}; email only when known (the schema wants an email)."""
    rendered = {"type": author["type"], "id": author["id"], "name": author.get("name")}
    if author.get("email"):
        rendered["email"] = author["email"]
    return rendered


def _text(body: str | None, plaintext: bool) -> str | None:
    if body is None or not plaintext:
        return body
    return HTML_TAG.sub("", body)


def render_part(workspace: Workspace, base_url: str, part: dict, plaintext: bool = False) -> dict:
    rendered: dict[str, Any] = {
        "type": "conversation_part",
        "id": part["id"],
        "part_type": part["part_type"],
        "body": _text(part.get("body"), plaintext),
        "created_at": part["created_at"],
        "updated_at": part["updated_at"],
        "notified_at": part["created_at"],
        "author": render_author(part["author"]),
        "attachments": attachments.render(base_url, workspace["files"], part.get("attachment_ids", [])),
        "external_id": None,
        "redacted": False,
        "app_package_code": "sandbox",
    }
    if part.get("assigned_to"):
        rendered["assigned_to"] = part["assigned_to"]
    if part.get("state"):
        rendered["state"] = part["state"]
    return rendered


def _statistics(conversation: dict) -> dict:
    parts = conversation["parts"]

    def times(part_types: tuple[str, ...], author_type: str | None = None) -> list[int]:
        return [
            part["created_at"]
            for part in parts
            if part["part_type"] in part_types
            and (author_type is None or part["author"]["type"] == author_type)
        ]

    contact_replies = times(("comment",), "user") + times(("comment",), "lead")
    admin_replies = times(("comment", "quick_reply"), "admin")
    closes = times(("close",))
    assignments = times(("assignment",))
    statistics: dict[str, Any] = {
        "type": "conversation_statistics",
        "count_reopens": len(times(("open",))),
        "count_assignments": len(assignments),
        "count_conversation_parts": len(parts),
    }
    for name, values in (
        ("first_contact_reply_at", contact_replies and [min(contact_replies)]),
        ("last_contact_reply_at", contact_replies and [max(contact_replies)]),
        ("first_admin_reply_at", admin_replies and [min(admin_replies)]),
        ("last_admin_reply_at", admin_replies and [max(admin_replies)]),
        ("first_close_at", closes and [min(closes)]),
        ("last_close_at", closes and [max(closes)]),
        ("first_assignment_at", assignments and [min(assignments)]),
        ("last_assignment_at", assignments and [max(assignments)]),
    ):
        if values:
            statistics[name] = values[0]
    last_close = next((part for part in reversed(parts) if part["part_type"] == "close"), None)
    if last_close is not None:
        statistics["last_closed_by_id"] = last_close["author"]["id"]
    return statistics


def _first_contact_reply_at(conversation: dict) -> int | None:
    if conversation["source"]["author"]["type"] in ("user", "lead"):
        return conversation["created_at"]
    replies = [
        part["created_at"] for part in conversation["parts"] if part["author"]["type"] in ("user", "lead")
    ]
    return min(replies) if replies else None


def render_list_item(
    workspace: Workspace, base_url: str, conversation: dict, plaintext: bool = False
) -> dict:
    """The conversation without its parts (list and search items carry none)."""
    source = conversation["source"]
    contacts = [
        workspace["contacts"].get(contact_id, {"id": contact_id})
        for contact_id in conversation["contact_ids"]
    ]
    first_contact_reply = _first_contact_reply_at(conversation)
    teammate_ids = list(
        dict.fromkeys(
            part["author"]["id"] for part in conversation["parts"] if part["author"]["type"] == "admin"
        )
    )
    return {
        "type": "conversation",
        "id": conversation["id"],
        "title": conversation.get("title"),
        "created_at": conversation["created_at"],
        "updated_at": conversation["updated_at"],
        "waiting_since": conversation.get("waiting_since"),
        "snoozed_until": conversation.get("snoozed_until"),
        "open": conversation["state"] != "closed",
        "state": conversation["state"],
        "read": conversation.get("read", False),
        "priority": conversation.get("priority", "none"),
        "admin_assignee_id": int(conversation.get("admin_assignee_id") or 0),
        "team_assignee_id": int(conversation.get("team_assignee_id") or 0),
        "tags": {
            "type": "tag.list",
            "tags": [
                {
                    "type": "tag",
                    "id": applied["id"],
                    "name": workspace["tags"][applied["id"]]["name"],
                    "applied_at": applied["applied_at"],
                    "applied_by": {"type": "admin", "id": applied["applied_by"]},
                }
                for applied in conversation["tags"]
                if applied["id"] in workspace["tags"]
            ],
        },
        "conversation_rating": None,
        "source": {
            "type": source["type"],
            "id": source["id"],
            "delivered_as": source["delivered_as"],
            "subject": source.get("subject") or "",
            "body": _text(source.get("body"), plaintext),
            "author": render_author(source["author"]),
            "attachments": attachments.render(base_url, workspace["files"], source.get("attachment_ids", [])),
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [
                {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}
                for contact in contacts
            ],
        },
        "teammates": {
            "type": "admin.list",
            "teammates": [{"type": "admin", "id": admin_id} for admin_id in teammate_ids],
        },
        "custom_attributes": dict(conversation.get("custom_attributes", {})),
        "first_contact_reply": (
            {"created_at": first_contact_reply, "type": "conversation", "url": None}
            if first_contact_reply
            else None
        ),
        "sla_applied": None,
        "statistics": _statistics(conversation),
        "linked_objects": {"type": "list", "total_count": 0, "has_more": False, "data": []},
        "ai_agent_participated": False,
    }


def render_conversation(
    workspace: Workspace, base_url: str, conversation: dict, plaintext: bool = False
) -> dict:
    rendered = render_list_item(workspace, base_url, conversation, plaintext)
    parts = conversation["parts"][-MAX_RETURNED_PARTS:]
    rendered["conversation_parts"] = {
        "type": "conversation_part.list",
        "conversation_parts": [render_part(workspace, base_url, part, plaintext) for part in parts],
        "total_count": len(conversation["parts"]),
    }
    return rendered
