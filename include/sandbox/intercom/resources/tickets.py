"""Ticket types and tickets: enough to import tickets with their original `created_at`.

Each ticket type gets Intercom's default attributes `_default_title_` and `_default_description_`;
a ticket names exactly one contact ("Currently only one is allowed") by id, external_id or email (an
unknown email creates a contact, as Intercom does) and may only write attributes its type defines.
"""

from __future__ import annotations

from include.sandbox.intercom.resources.contacts import (
    contact_by_email,
    contact_by_external_id,
    live_contact,
    render_reference,
)
from include.sandbox.intercom.server.errors import IntercomError, parameter_invalid, user_not_found
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import Workspace, now

DEFAULT_ATTRIBUTES = (
    ("_default_title_", "Title", "string"),
    ("_default_description_", "Description", "string"),
)
SUBMITTED_STATE = {
    "type": "ticket_state",
    "id": "1",
    "category": "submitted",
    "internal_label": "Submitted",
    "external_label": "Submitted",
}


def render_ticket_type(workspace: Workspace, ticket_type: dict) -> dict:
    return {
        "type": "ticket_type",
        "id": ticket_type["id"],
        "category": ticket_type["category"],
        "name": ticket_type["name"],
        "description": ticket_type.get("description") or "",
        "icon": ticket_type.get("icon") or "",
        "workspace_id": workspace.meta["workspace_id"],
        "archived": False,
        "is_internal": ticket_type.get("is_internal", False),
        "created_at": ticket_type["created_at"],
        "updated_at": ticket_type["updated_at"],
        "ticket_type_attributes": {
            "type": "list",
            "ticket_type_attributes": [
                {
                    "type": "ticket_type_attribute",
                    "id": f"{ticket_type['id']}-{position}",
                    "workspace_id": workspace.meta["workspace_id"],
                    "name": name,
                    "description": label,
                    "data_type": data_type,
                    "order": position,
                    "required_to_create": False,
                    "visible_on_create": True,
                    "visible_to_contacts": True,
                    "default": True,
                    "ticket_type_id": int(ticket_type["id"]),
                    "archived": False,
                    "created_at": ticket_type["created_at"],
                    "updated_at": ticket_type["updated_at"],
                }
                for position, (name, label, data_type) in enumerate(DEFAULT_ATTRIBUTES)
            ],
        },
        "ticket_states": {"type": "list", "data": [dict(SUBMITTED_STATE)]},
    }


def list_ticket_types(call: Call) -> dict:
    return {
        "type": "list",
        "data": [
            render_ticket_type(call.workspace, ticket_type)
            for ticket_type in call.workspace["ticket_types"].values()
        ],
    }


def create_ticket_type(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    created = now()
    ticket_type = {
        "id": workspace.next_id("ticket_types"),
        "name": body["name"],
        "description": body.get("description", ""),
        "category": body.get("category", "Customer"),
        "icon": body.get("icon", ""),
        "is_internal": body.get("is_internal", False),
        "created_at": created,
        "updated_at": created,
    }
    workspace.put("ticket_types", ticket_type)
    return render_ticket_type(workspace, ticket_type)


def get_ticket_type(call: Call) -> dict:
    ticket_type = call.workspace["ticket_types"].get(call.params["ticket_type_id"])
    if ticket_type is None:
        raise IntercomError(404, "not_found", "Resource Not Found")
    return render_ticket_type(call.workspace, ticket_type)


def render_ticket(workspace: Workspace, ticket: dict) -> dict:
    ticket_type = workspace["ticket_types"][ticket["ticket_type_id"]]
    contacts = [
        workspace["contacts"][contact_id]
        for contact_id in ticket["contact_ids"]
        if contact_id in workspace["contacts"]
    ]
    return {
        "type": "ticket",
        "id": ticket["id"],
        "ticket_id": ticket["ticket_number"],
        "category": ticket_type["category"],
        "ticket_attributes": dict(ticket["ticket_attributes"]),
        "ticket_state": dict(SUBMITTED_STATE),
        "ticket_type": render_ticket_type(workspace, ticket_type),
        "contacts": {"type": "contact.list", "contacts": [render_reference(contact) for contact in contacts]},
        "admin_assignee_id": int(ticket.get("admin_assignee_id") or 0),
        "team_assignee_id": 0,
        "created_at": ticket["created_at"],
        "updated_at": ticket["updated_at"],
        "open": True,
        "linked_objects": {"type": "list", "total_count": 0, "has_more": False, "data": []},
        "ticket_parts": {"type": "ticket_part.list", "ticket_parts": [], "total_count": 0},
        "is_shared": False,
    }


def _ticket_contact(workspace: Workspace, reference: dict) -> dict:
    if "id" in reference:
        return live_contact(workspace, reference["id"])
    if "external_id" in reference:
        contact = contact_by_external_id(workspace, reference["external_id"])
        if contact is None:
            raise user_not_found()
        return contact
    contact = contact_by_email(workspace, reference["email"])
    if contact is not None:
        return contact
    created = now()
    new_contact = {
        "id": workspace.object_id(),
        "role": "user",
        "email": reference["email"],
        "created_at": created,
        "updated_at": created,
        "custom_attributes": {},
        "tag_ids": [],
        "company_ids": [],
        "archived": False,
    }
    return workspace.put("contacts", new_contact)


def create_ticket(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    ticket_type = workspace["ticket_types"].get(body["ticket_type_id"])
    if ticket_type is None:
        raise IntercomError(404, "not_found", "Ticket type not found", "ticket_type_id")
    if len(body["contacts"]) != 1:
        raise parameter_invalid(
            "A ticket needs exactly one contact (currently only one is allowed)", "contacts"
        )
    attributes = body.get("ticket_attributes") or {}
    known = {name for name, _, _ in DEFAULT_ATTRIBUTES}
    for name in attributes:
        if name not in known:
            raise parameter_invalid(
                f"Ticket attribute '{name}' does not exist on this ticket type", f"ticket_attributes.{name}"
            )
    if body.get("assignment", {}).get("admin_assignee_id") not in (None, *workspace["admins"]):
        raise IntercomError(404, "assignee_not_found", "Assignee not found", "assignment.admin_assignee_id")
    contact = _ticket_contact(workspace, body["contacts"][0])
    created = now()
    ticket = {
        "id": workspace.next_id("tickets"),
        "ticket_number": workspace.next_id("ticket_numbers"),
        "ticket_type_id": ticket_type["id"],
        "contact_ids": [contact["id"]],
        "ticket_attributes": dict(attributes),
        "admin_assignee_id": body.get("assignment", {}).get("admin_assignee_id"),
        "created_at": body.get("created_at") or created,
        "updated_at": created,
    }
    workspace.put("tickets", ticket)
    return render_ticket(workspace, ticket)


def get_ticket(call: Call) -> dict:
    ticket = call.workspace["tickets"].get(call.params["ticket_id"])
    if ticket is None:
        raise IntercomError(404, "ticket_not_found", "Ticket not found")
    return render_ticket(call.workspace, ticket)


ROUTES = [
    ("GET", "/ticket_types", "listTicketTypes", list_ticket_types),
    ("POST", "/ticket_types", "createTicketType", create_ticket_type),
    ("GET", "/ticket_types/{ticket_type_id}", "getTicketType", get_ticket_type),
    ("POST", "/tickets", "createTicket", create_ticket),
    ("GET", "/tickets/{ticket_id}", "getTicket", get_ticket),
]
