"""Conversations: contact-initiated and admin-initiated creation, replies, state changes, tags, search.

History import relies on `created_at` (accepted on creation, on admin and contact replies, and on
messages) and on parts keeping their original order; close, open, snooze and assignment take no
`created_at` and are stamped with the current time, as in Intercom. An admin-initiated message only
becomes a conversation at once with `create_conversation_without_contact_reply: true`; otherwise it
waits for the contact's reply (`POST /conversations/last/reply` as that contact).
"""

from __future__ import annotations

import bisect
from typing import Any

from include.sandbox.intercom.resources import attachments, search
from include.sandbox.intercom.resources.attributes import check_conversation_attributes
from include.sandbox.intercom.resources.companies import live_company
from include.sandbox.intercom.resources.contacts import contact_by_email, contact_by_external_id, live_contact
from include.sandbox.intercom.resources.conversation_views import (
    part_sort_key,
    render_conversation,
    render_list_item,
)
from include.sandbox.intercom.server.errors import (
    IntercomError,
    admin_not_found,
    parameter_invalid,
    resource_not_found,
    user_not_found,
)
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import Workspace, now

REPLY_SHAPES = (
    "A reply comes from an admin (type admin, admin_id, message_type comment|note|quick_reply) "
    "or from a contact (type user, message_type comment, body, and exactly one of intercom_user_id, "
    "user_id, email)"
)
MESSAGE_TYPES = {"in_app": "inapp", "email": "email"}


# --- look-ups and authors -------------------------------------------------------------------------


def live_conversation(
    workspace: Workspace, conversation_id: str, missing: IntercomError | None = None
) -> dict:
    conversation = workspace["conversations"].get(conversation_id)
    if conversation is None:
        raise missing or resource_not_found()
    return conversation


def live_admin(workspace: Workspace, admin_id: Any) -> dict:
    admin = workspace["admins"].get(str(admin_id))
    if admin is None:
        raise admin_not_found()
    return admin


def admin_author(admin: dict) -> dict:
    return {"type": "admin", "id": admin["id"], "name": admin.get("name"), "email": admin.get("email")}


def contact_author(contact: dict) -> dict:
    return {
        "type": contact["role"],
        "id": contact["id"],
        "name": contact.get("name"),
        "email": contact.get("email"),
    }


def add_part(
    workspace: Workspace,
    conversation: dict,
    part_type: str,
    author: dict,
    body: str | None = None,
    created_at: int | None = None,
    attachment_ids: list[str] | None = None,
    assigned_to: dict | None = None,
) -> dict:
    """Insert a part at its place in the thread: by created_at, then insertion (ids only grow)."""
    written = now()
    part = {
        "id": workspace.next_id("parts"),
        "part_type": part_type,
        "body": body,
        "created_at": created_at if created_at is not None else written,
        "updated_at": written,
        "author": author,
        "attachment_ids": attachment_ids or [],
        "assigned_to": assigned_to,
    }
    bisect.insort(conversation["parts"], part, key=part_sort_key)
    conversation["updated_at"] = written
    return part


def new_conversation(workspace: Workspace, source: dict, contact_ids: list[str], created_at: int) -> dict:
    customer_initiated = source["author"]["type"] != "admin"
    return {
        "id": workspace.next_id("conversations"),
        "created_at": created_at,
        "updated_at": now(),
        "waiting_since": created_at if customer_initiated else None,
        "snoozed_until": None,
        "state": "open",
        "read": False,
        "priority": "none",
        "admin_assignee_id": None,
        "team_assignee_id": None,
        "title": None,
        "company_id": None,
        "contact_ids": contact_ids,
        "source": source,
        "custom_attributes": {},
        "tags": [],
        "parts": [],
    }


# --- creation -------------------------------------------------------------------------------------


async def create_conversation(call: Call) -> dict:
    """A contact-initiated, in-app conversation; answers the created message, not the conversation."""
    workspace, body = call.workspace, call.body
    sender = body["from"]
    contact = workspace["contacts"].get(sender["id"])
    if (
        contact is None
        or contact.get("deleted_at")
        or contact.get("merged_into")
        or (sender["type"] != "contact" and contact["role"] != sender["type"])
    ):
        raise user_not_found()
    attachment_ids = await attachments.collect(call, body)
    created_at = body.get("created_at") or now()
    message_id = workspace.next_id("messages")
    source = {
        "type": "conversation",
        "id": message_id,
        "delivered_as": "customer_initiated",
        "subject": body.get("subject") or "",
        "body": body["body"],
        "author": contact_author(contact),
        "attachment_ids": attachment_ids,
    }
    conversation = workspace.put(
        "conversations", new_conversation(workspace, source, [contact["id"]], created_at)
    )
    return {
        "type": "user_message",
        "id": message_id,
        "created_at": created_at,
        "body": body["body"],
        "message_type": "inapp",
        "conversation_id": conversation["id"],
    }


def _message_body_error(body: dict) -> IntercomError | None:
    if "body" not in body and "template" not in body:
        return parameter_invalid("Body is required", "body")
    return None


def create_message(call: Call) -> dict:
    """An admin-initiated message; a conversation exists at once only with
    create_conversation_without_contact_reply."""
    workspace, body = call.workspace, call.body
    if body["message_type"] not in MESSAGE_TYPES:
        raise parameter_invalid("The sandbox sends in_app and email messages only", "message_type")
    if body["message_type"] == "email" and not body.get("subject"):
        raise IntercomError(422, "parameter_not_found", "No subject supplied for email message", "subject")
    if "body" not in body:
        raise parameter_invalid("Body is required", "body")
    admin = live_admin(workspace, body["from"]["id"])
    recipient = body["to"][0] if isinstance(body["to"], list) else body["to"]
    if isinstance(body["to"], list) and len(body["to"]) != 1:
        raise parameter_invalid("A message has exactly one recipient", "to")
    contact = live_contact(workspace, recipient["id"])
    if contact["role"] != recipient["type"]:
        raise user_not_found()
    created_at = body.get("created_at") or now()
    message = {
        "id": workspace.next_id("messages"),
        "created_at": created_at,
        "subject": body.get("subject") or "",
        "body": body["body"],
        "message_type": MESSAGE_TYPES[body["message_type"]],
        "author": admin_author(admin),
        "contact_id": contact["id"],
    }
    answer = {
        "type": "admin_message",
        "id": message["id"],
        "created_at": created_at,
        "subject": message["subject"],
        "body": message["body"],
        "message_type": message["message_type"],
    }
    if body.get("create_conversation_without_contact_reply"):
        conversation = workspace.put("conversations", _conversation_from_message(workspace, message))
        answer["conversation_id"] = conversation["id"]
    else:
        workspace.put("pending_messages", message)
    return answer


def _conversation_from_message(workspace: Workspace, message: dict) -> dict:
    source = {
        "type": "email" if message["message_type"] == "email" else "conversation",
        "id": message["id"],
        "delivered_as": "admin_initiated",
        "subject": message["subject"],
        "body": message["body"],
        "author": message["author"],
        "attachment_ids": [],
    }
    return new_conversation(workspace, source, [message["contact_id"]], message["created_at"])


# --- replies --------------------------------------------------------------------------------------


def _replying_contact(workspace: Workspace, body: dict) -> dict:
    if "intercom_user_id" in body:
        contact = workspace["contacts"].get(body["intercom_user_id"])
        contact = contact if contact and not contact.get("deleted_at") else None
    elif "user_id" in body:
        contact = contact_by_external_id(workspace, body["user_id"])
    else:
        contact = contact_by_email(workspace, body["email"])
    if contact is None:
        raise user_not_found()
    return contact


def _last_conversation_of(workspace: Workspace, contact: dict) -> dict:
    """`last`: the newest admin message still waiting for this contact's reply (it becomes a
    conversation now), otherwise the contact's newest conversation."""
    pending = [
        message
        for message in workspace["pending_messages"].values()
        if message["contact_id"] == contact["id"]
    ]
    if pending:
        newest_message = max(pending, key=lambda message: (message["created_at"], int(message["id"])))
        workspace.remove("pending_messages", newest_message["id"])
        return workspace.put("conversations", _conversation_from_message(workspace, newest_message))
    conversations = [
        conversation
        for conversation in workspace["conversations"].values()
        if contact["id"] in conversation["contact_ids"]
    ]
    if not conversations:
        raise resource_not_found()
    return max(conversations, key=lambda conversation: (conversation["created_at"], int(conversation["id"])))


async def reply(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    if not body.get("body") and not body.get("attachment_files") and not body.get("attachment_urls"):
        raise parameter_invalid("Body is required", "body")
    if body["type"] == "admin":
        author = admin_author(live_admin(workspace, body["admin_id"]))
        conversation = live_conversation(workspace, call.params["conversation_id"])
    else:
        contact = _replying_contact(workspace, body)
        author = contact_author(contact)
        if call.params["conversation_id"] == "last":
            conversation = _last_conversation_of(workspace, contact)
        else:
            conversation = live_conversation(workspace, call.params["conversation_id"])
            if contact["id"] not in conversation["contact_ids"]:
                raise parameter_invalid("The contact is not a participant of this conversation")
    attachment_ids = await attachments.collect(call, body)
    part = add_part(
        workspace,
        conversation,
        body["message_type"],
        author,
        body.get("body"),
        body.get("created_at"),
        attachment_ids,
    )
    if author["type"] == "admin":
        if part["part_type"] != "note":
            conversation["waiting_since"] = None
    else:
        conversation["state"] = "open"
        conversation["waiting_since"] = part["created_at"]
    workspace.changed("conversations", conversation["id"])
    return render_conversation(workspace, call.base_url, conversation)


def manage(call: Call) -> dict:
    """close / open / snoozed / assignment: stamped now (these take no created_at)."""
    workspace, body = call.workspace, call.body
    conversation = live_conversation(workspace, call.params["conversation_id"])
    author = admin_author(live_admin(workspace, body["admin_id"]))
    action = body["message_type"]
    if action == "close":
        add_part(workspace, conversation, "close", author, body.get("body"))
        conversation.update(state="closed", waiting_since=None, snoozed_until=None)
    elif action == "open":
        add_part(workspace, conversation, "open", author)
        conversation.update(state="open", snoozed_until=None)
    elif action == "snoozed":
        add_part(workspace, conversation, "snoozed", author)
        conversation.update(state="snoozed", snoozed_until=body["snoozed_until"])
    else:
        assigned_to = _assignee(workspace, body)
        add_part(workspace, conversation, "assignment", author, body.get("body"), assigned_to=assigned_to)
        field = "admin_assignee_id" if body["type"] == "admin" else "team_assignee_id"
        conversation[field] = assigned_to["id"] if assigned_to else None
    workspace.changed("conversations", conversation["id"])
    return render_conversation(workspace, call.base_url, conversation)


def _assignee(workspace: Workspace, body: dict) -> dict | None:
    """The new assignee ("0" unassigns). The sandbox has no teams, so only "0" is a valid team id."""
    assignee_id = body["assignee_id"]
    if assignee_id == "0":
        return None
    if body["type"] == "team":
        raise IntercomError(404, "team_not_found", "Team not found", "assignee_id")
    if assignee_id not in workspace["admins"]:
        raise IntercomError(404, "assignee_not_found", "Assignee not found", "assignee_id")
    return {"type": "admin", "id": assignee_id}


def update_conversation(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    conversation = live_conversation(workspace, call.params["conversation_id"])
    custom_attributes = check_conversation_attributes(workspace, body.get("custom_attributes"))
    if body.get("company_id"):
        conversation["company_id"] = live_company(workspace, body["company_id"])["id"]
    for name in ("read", "title"):
        if name in body:
            conversation[name] = body[name]
    merged = {**conversation["custom_attributes"], **custom_attributes}
    conversation["custom_attributes"] = {name: value for name, value in merged.items() if value is not None}
    conversation["updated_at"] = now()
    workspace.changed("conversations", conversation["id"])
    return render_conversation(
        workspace, call.base_url, conversation, call.query.get("display_as") == "plaintext"
    )


# --- reading, searching, deleting -----------------------------------------------------------------


def retrieve_conversation(call: Call) -> dict:
    conversation = live_conversation(call.workspace, call.params["conversation_id"])
    return render_conversation(
        call.workspace, call.base_url, conversation, call.query.get("display_as") == "plaintext"
    )


def _newest_first(conversations: list[dict]) -> list[dict]:
    return sorted(
        conversations,
        key=lambda conversation: (conversation["updated_at"], int(conversation["id"])),
        reverse=True,
    )


def list_conversations(call: Call) -> dict:
    workspace = call.workspace
    per_page = search.page_size(call.query.get("per_page"), default=20)
    ordered = _newest_first(list(workspace["conversations"].values()))
    page, pages = search.paginate(ordered, per_page, call.query.get("starting_after"))
    return {
        "type": "conversation.list",
        "conversations": [render_list_item(workspace, call.base_url, conversation) for conversation in page],
        "total_count": len(ordered),
        "pages": pages,
    }


def search_projection(conversation: dict) -> dict:
    source = conversation["source"]
    return {
        "id": conversation["id"],
        "created_at": conversation["created_at"],
        "updated_at": conversation["updated_at"],
        "waiting_since": conversation.get("waiting_since"),
        "snoozed_until": conversation.get("snoozed_until"),
        "state": conversation["state"],
        "open": conversation["state"] != "closed",
        "read": conversation.get("read", False),
        "priority": conversation.get("priority", "none"),
        "contact_ids": list(conversation["contact_ids"]),
        "admin_assignee_id": int(conversation.get("admin_assignee_id") or 0),
        "team_assignee_id": int(conversation.get("team_assignee_id") or 0),
        "custom_attributes": dict(conversation.get("custom_attributes", {})),
        "tag_ids": [applied["id"] for applied in conversation["tags"]],
        "source_type": source["type"],
        "source_id": source["id"],
        "source_delivered_as": source["delivered_as"],
        "source_subject": source.get("subject"),
        "source_body_tokens": (source.get("body") or "").split(),
        "source_author_id": source["author"]["id"],
        "source_author_type": source["author"]["type"],
        "count_conversation_parts": len(conversation["parts"]),
    }


def _read(name: str):
    return lambda record: record.get(name)


CONVERSATION_FIELDS = {
    "id": search.Field("string", _read("id")),
    "state": search.Field("string", _read("state")),
    "priority": search.Field("string", _read("priority")),
    "contact_ids": search.Field("string", _read("contact_ids")),
    "tag_ids": search.Field("string", _read("tag_ids")),
    "source.type": search.Field("string", _read("source_type")),
    "source.id": search.Field("string", _read("source_id")),
    "source.delivered_as": search.Field("string", _read("source_delivered_as")),
    "source.subject": search.Field("string", _read("source_subject")),
    "source.body": search.Field("string", _read("source_body_tokens")),
    "source.author.id": search.Field("string", _read("source_author_id")),
    "source.author.type": search.Field("string", _read("source_author_type")),
    "open": search.Field("boolean", _read("open")),
    "read": search.Field("boolean", _read("read")),
    "admin_assignee_id": search.Field("integer", _read("admin_assignee_id")),
    "team_assignee_id": search.Field("integer", _read("team_assignee_id")),
    "statistics.count_conversation_parts": search.Field("integer", _read("count_conversation_parts")),
    **{
        name: search.Field("date", _read(name))
        for name in ("created_at", "updated_at", "waiting_since", "snoozed_until")
    },
}


def conversation_search_rules(workspace: Workspace) -> search.SearchRules:
    return search.SearchRules(
        fields=CONVERSATION_FIELDS,
        custom_attribute_types=lambda: {
            attribute["name"]: attribute["data_type"]
            for attribute in workspace["conversation_attributes"].values()
        },
        date_operators=search.CONVERSATION_DATE_OPERATORS,
        dates_by_day=False,
        timezone=lambda: workspace.meta["app"]["timezone"],
    )


def search_conversations(call: Call) -> dict:
    workspace = call.workspace
    matches = search.compile_query(call.body["query"], conversation_search_rules(workspace))
    pagination = call.body.get("pagination") or {}
    per_page = search.page_size(pagination.get("per_page"), default=20)
    found = [
        record for record in call.sandbox.search_index.records("conversations").values() if matches(record)
    ]
    found.sort(key=lambda record: (record["created_at"], int(record["id"])), reverse=True)
    page, pages = search.paginate(found, per_page, pagination.get("starting_after"))
    live = [
        workspace["conversations"][record["id"]]
        for record in page
        if record["id"] in workspace["conversations"]
    ]
    return {
        "type": "conversation.list",
        "conversations": [render_list_item(workspace, call.base_url, conversation) for conversation in live],
        "total_count": len(found),
        "pages": pages,
    }


def delete_conversation(call: Call) -> dict:
    """Irreversible, as in Intercom; the id stays listed under GET /conversations/deleted."""
    workspace = call.workspace
    conversation = live_conversation(workspace, call.params["conversation_id"])
    retain_metrics = call.query.get("retain_metrics", True)
    workspace.remove("conversations", conversation["id"])
    workspace.put(
        "deleted_conversations",
        {"id": conversation["id"], "deleted_at": now(), "metrics_retained": retain_metrics},
    )
    return {"id": conversation["id"], "object": "conversation", "deleted": True}


def list_deleted_conversations(call: Call) -> dict:
    per_page = search.page_size(call.query.get("per_page"), default=20)
    page_number = call.query.get("page", 1)
    deleted = sorted(
        call.workspace["deleted_conversations"].values(),
        key=lambda item: item["deleted_at"],
        reverse=call.query.get("order", "desc") == "desc",
    )
    chunk = deleted[(page_number - 1) * per_page : page_number * per_page]
    return {
        "type": "conversation.list",
        "conversations": [{"type": "conversation", **item} for item in chunk],
        "total_count": len(deleted),
        "pages": {
            "type": "pages",
            "page": page_number,
            "per_page": per_page,
            "total_pages": -(-len(deleted) // per_page),
        },
    }


# --- tags on conversations ------------------------------------------------------------------------


def _conversation_and_tag(call: Call, tag_id: str) -> tuple[dict, dict, dict]:
    workspace = call.workspace
    conversation = live_conversation(
        workspace, call.params["conversation_id"], IntercomError(404, "not_found", "Conversation not found")
    )
    admin = live_admin(workspace, call.body["admin_id"])
    tag = workspace["tags"].get(tag_id)
    if tag is None:
        raise IntercomError(404, "tag_not_found", "Tag not found")
    return conversation, admin, tag


def _applied_tag(tag: dict, applied: dict) -> dict:
    return {
        "type": "tag",
        "id": tag["id"],
        "name": tag["name"],
        "applied_at": applied["applied_at"],
        "applied_by": {"type": "admin", "id": applied["applied_by"]},
    }


def attach_tag(call: Call) -> dict:
    conversation, admin, tag = _conversation_and_tag(call, call.body["id"])
    applied = next((item for item in conversation["tags"] if item["id"] == tag["id"]), None)
    if applied is None:
        applied = {"id": tag["id"], "applied_at": now(), "applied_by": admin["id"]}
        conversation["tags"].append(applied)
        call.workspace.changed("conversations", conversation["id"])
    return _applied_tag(tag, applied)


def detach_tag(call: Call) -> dict:
    conversation, admin, tag = _conversation_and_tag(call, call.params["tag_id"])
    applied = next((item for item in conversation["tags"] if item["id"] == tag["id"]), None)
    if applied is None:
        raise IntercomError(404, "tag_not_found", "Tag not found")
    conversation["tags"].remove(applied)
    call.workspace.changed("conversations", conversation["id"])
    return _applied_tag(tag, {"applied_at": now(), "applied_by": admin["id"]})


ROUTES = [
    ("POST", "/conversations", "createConversation", create_conversation),
    ("GET", "/conversations", "listConversations", list_conversations),
    ("POST", "/messages", "createMessage", create_message, {"": _message_body_error}),
    ("POST", "/conversations/search", "searchConversations", search_conversations),
    ("GET", "/conversations/deleted", "listDeletedConversationIds", list_deleted_conversations),
    ("GET", "/conversations/{conversation_id}", "retrieveConversation", retrieve_conversation),
    ("PUT", "/conversations/{conversation_id}", "updateConversation", update_conversation),
    ("DELETE", "/conversations/{conversation_id}", "deleteConversation", delete_conversation),
    ("POST", "/conversations/{conversation_id}/reply", "replyConversation", reply, {"": REPLY_SHAPES}),
    ("POST", "/conversations/{conversation_id}/parts", "manageConversation", manage),
    ("POST", "/conversations/{conversation_id}/tags", "attachTagToConversation", attach_tag),
    ("DELETE", "/conversations/{conversation_id}/tags/{tag_id}", "detachTagFromConversation", detach_tag),
]
