"""The sandbox's own control API under /_sandbox/ (no Intercom auth): export, seed, reset, faults,
settings, traffic statistics.

Tests and the demo use it to look at the whole workspace the way Intercom's API never shows it (every
part of every conversation, what each tag tags), to start from a non-empty workspace, and to change
rate limits, search delay and injected faults without a restart.
"""

from __future__ import annotations

import base64
from typing import Any

from include.sandbox.intercom.resources.admins import add_admins
from include.sandbox.intercom.resources.attachments import render as render_attachments
from include.sandbox.intercom.resources.contacts import find_conflicting_user
from include.sandbox.intercom.server.errors import IntercomError, parameter_invalid
from include.sandbox.intercom.server.faults import Faults
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import SEQUENCE_STARTS, Workspace, now

EXPORT_FORMAT = "intercom-sandbox-export/1"
# Export sections, in seeding order (what a record refers to is seeded before it).
SECTIONS = (
    "admins",
    "data_attributes",
    "conversation_attributes",
    "tags",
    "segments",
    "companies",
    "contacts",
    "ticket_types",
    "files",
    "conversations",
    "pending_messages",
    "deleted_conversations",
    "tickets",
)
INTEGER_ID_SEQUENCES = {
    "data_attributes": "data_attributes",
    "tags": "tags",
    "conversations": "conversations",
    "ticket_types": "ticket_types",
    "tickets": "tickets",
    "files": "files",
}


# --- export ---------------------------------------------------------------------------------------


def export_workspace(workspace: Workspace, base_url: str, include_file_data: bool, read_file) -> dict:
    """The whole workspace: stored records plus what a reader wants next to them (marked as derived)."""
    exported: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "workspace_id": workspace.meta["workspace_id"],
        "app": dict(workspace.meta["app"]),
        "owner_admin_id": workspace.meta["owner_admin_id"],
    }
    for section in SECTIONS:
        exported[section] = [dict(record) for record in workspace[section].values()]
    company_members = workspace.index("contacts", "company")
    for company in exported["companies"]:
        company["contact_ids"] = sorted(company_members.ids(company["id"]))
    for tag in exported["tags"]:
        tag["tagged"] = {
            kind: [
                record["id"] for record in workspace[kind].values() if tag["id"] in record.get("tag_ids", [])
            ]
            for kind in ("contacts", "companies")
        }
        tag["tagged"]["conversations"] = [
            conversation["id"]
            for conversation in workspace["conversations"].values()
            if any(applied["id"] == tag["id"] for applied in conversation["tags"])
        ]
    files = workspace["files"]
    for conversation in exported["conversations"]:
        conversation["source"] = {
            **conversation["source"],
            "attachments": render_attachments(
                base_url, files, conversation["source"].get("attachment_ids", [])
            ),
        }
        conversation["parts"] = [
            {**part, "attachments": render_attachments(base_url, files, part.get("attachment_ids", []))}
            for part in conversation["parts"]
        ]
    if include_file_data:
        for record in exported["files"]:
            data = read_file(record["id"])
            record["data"] = base64.b64encode(data).decode() if data is not None else None
    return exported


DERIVED_KEYS = {"companies": ("contact_ids",), "tags": ("tagged",), "files": ("data",)}


# --- seed -----------------------------------------------------------------------------------------


def _defaults(section: str, record: dict, workspace: Workspace) -> dict:
    """Fill what a hand-written seed may leave out; records from an export already have it all."""
    created = now()
    if section == "contacts":
        base = {"role": "user", "custom_attributes": {}, "tag_ids": [], "company_ids": [], "archived": False}
        return {
            "id": record.get("id") or workspace.object_id(),
            "created_at": created,
            "updated_at": created,
            **base,
            **record,
        }
    if section == "companies":
        if not record.get("company_id"):
            raise parameter_invalid("every seeded company needs a company_id")
        return {
            "id": record.get("id") or workspace.object_id(),
            "created_at": created,
            "updated_at": created,
            "custom_attributes": {},
            "tag_ids": [],
            **record,
        }
    if section == "data_attributes":
        for required in ("name", "model", "data_type"):
            if required not in record:
                raise parameter_invalid(f"every seeded data attribute needs {required}")
        base = {"options": [], "description": "", "messenger_writable": False, "archived": False}
        return {
            "id": record.get("id") or workspace.next_id("data_attributes"),
            "created_at": created,
            "updated_at": created,
            "admin_id": workspace.meta["owner_admin_id"],
            **base,
            **record,
        }
    if section == "conversation_attributes":
        base = {"options": [], "required": False, "visible_to_team_ids": [], "archived": False}
        return {
            "id": record.get("id") or workspace.next_id("conversation_attributes"),
            "created_at": created,
            "updated_at": created,
            "admin_id": workspace.meta["owner_admin_id"],
            **base,
            **record,
        }
    if section == "tags":
        return {"id": record.get("id") or workspace.next_id("tags"), "created_at": created, **record}
    if section == "segments":
        if not record.get("name"):
            raise parameter_invalid("every seeded segment needs a name")
        base = {"person_type": "user", "tag_ids": [], "data_attribute_ids": []}
        return {"id": record.get("id") or workspace.object_id(), "created_at": created, **base, **record}
    if "id" not in record:
        raise parameter_invalid(f"every seeded {section} record needs an id")
    return dict(record)


def seed_workspace(workspace: Workspace, data: dict, save_file) -> dict[str, int]:
    """Add (or replace, by id) the records of an export-shaped document; returns counts per section."""
    if not isinstance(data, dict):
        raise parameter_invalid("the seed must be a JSON object shaped like GET /_sandbox/export")
    counts: dict[str, int] = {}
    if data.get("admins"):
        counts["admins"] = len(add_admins(workspace, data["admins"]))
    if data.get("app"):
        workspace.meta["app"].update(data["app"])
        workspace.meta_dirty = True
    links: list[tuple[str, dict, dict]] = []
    for section in SECTIONS[1:]:
        records = data.get(section) or []
        for record in records:
            if not isinstance(record, dict):
                raise parameter_invalid(f"{section} must be a list of objects")
            stored = _defaults(
                section,
                {key: value for key, value in record.items() if key not in DERIVED_KEYS.get(section, ())},
                workspace,
            )
            if section == "conversations":
                stored["source"] = {
                    key: value for key, value in stored["source"].items() if key != "attachments"
                }
                stored["parts"] = [
                    {key: value for key, value in part.items() if key != "attachments"}
                    for part in stored["parts"]
                ]
            if section == "contacts":
                conflict = find_conflicting_user(workspace, stored, own_id=stored["id"])
                if conflict is not None:
                    raise IntercomError(
                        409,
                        "conflict",
                        f"A contact matching those details already exists with id={conflict['id']}",
                    )
            if section == "files" and record.get("data"):
                save_file(stored["id"], base64.b64decode(record["data"]))
            workspace.put(section, stored)
            links.append((section, record, stored))
        if records:
            counts[section] = len(records)
    for section, record, stored in links:  # once every record exists, whatever the section order
        _link_derived(workspace, section, record, stored)
    _advance_sequences(workspace)
    return counts


def _link_derived(workspace: Workspace, section: str, record: dict, stored: dict) -> None:
    """Honour the derived lists of a seed (a company's contact_ids, what a tag tags) as links."""
    if section == "companies":
        for contact_id in record.get("contact_ids", []):
            contact = workspace["contacts"].get(contact_id)
            if contact is not None and stored["id"] not in contact["company_ids"]:
                contact["company_ids"].append(stored["id"])
                workspace.changed("contacts", contact_id)
    if section == "tags":
        for kind in ("contacts", "companies"):
            for record_id in (record.get("tagged") or {}).get(kind, []):
                target = workspace[kind].get(record_id)
                if target is not None and stored["id"] not in target["tag_ids"]:
                    target["tag_ids"].append(stored["id"])
                    workspace.changed(kind, record_id)


def _advance_sequences(workspace: Workspace) -> None:
    """Keep new ids clear of seeded ones."""
    sequences = workspace.meta["sequences"]
    for section, sequence in INTEGER_ID_SEQUENCES.items():
        numeric = [int(record_id) for record_id in workspace[section] if str(record_id).isdigit()]
        if numeric:
            sequences[sequence] = max(sequences.get(sequence, SEQUENCE_STARTS[sequence]), max(numeric) + 1)
    part_ids = [
        int(part["id"])
        for conversation in workspace["conversations"].values()
        for part in conversation["parts"]
    ]
    if part_ids:
        sequences["parts"] = max(sequences.get("parts", SEQUENCE_STARTS["parts"]), max(part_ids) + 1)
    workspace.meta_dirty = True


# --- handlers -------------------------------------------------------------------------------------


def health(call: Call) -> dict:
    return {"status": "ok", "url": call.base_url}


def export(call: Call) -> dict:
    return export_workspace(
        call.workspace,
        call.base_url,
        call.query.get("include_file_data") == "true",
        call.sandbox.state.read_file,
    )


def seed(call: Call) -> dict:
    return {"seeded": seed_workspace(call.workspace, call.body, call.sandbox.state.save_file)}


async def reset(call: Call) -> dict:
    await call.sandbox.reset()
    return {"status": "reset"}


async def flush(call: Call) -> dict:
    await call.sandbox.flush()
    return {"status": "flushed"}


def get_faults(call: Call) -> dict:
    return call.sandbox.faults.settings()


def set_faults(call: Call) -> dict:
    try:
        call.sandbox.faults = Faults.from_settings(call.body or {})
    except (TypeError, ValueError) as error:
        raise parameter_invalid(str(error)) from None
    return call.sandbox.faults.settings()


def clear_faults(call: Call) -> dict:
    call.sandbox.faults = Faults()
    return call.sandbox.faults.settings()


def get_settings(call: Call) -> dict:
    return call.sandbox.settings_view()


def set_settings(call: Call) -> dict:
    try:
        call.sandbox.apply_settings(call.body or {})
    except (TypeError, ValueError) as error:
        raise parameter_invalid(str(error)) from None
    return call.sandbox.settings_view()


def get_stats(call: Call) -> dict:
    return call.sandbox.stats.view(call.sandbox.limiter)


def reset_stats(call: Call) -> dict:
    call.sandbox.stats.reset()
    return call.sandbox.stats.view(call.sandbox.limiter)


def post_admins(call: Call) -> dict:
    admins = (call.body or {}).get("admins")
    if not isinstance(admins, list):
        raise parameter_invalid('send {"admins": [{"name": …, "email": …}, …]}')
    return {"admins": add_admins(call.workspace, admins)}


ROUTES = [
    ("GET", "/_sandbox/health", None, health),
    ("GET", "/_sandbox/export", None, export),
    ("POST", "/_sandbox/seed", None, seed),
    ("POST", "/_sandbox/reset", None, reset),
    ("POST", "/_sandbox/flush", None, flush),
    ("GET", "/_sandbox/faults", None, get_faults),
    ("PUT", "/_sandbox/faults", None, set_faults),
    ("DELETE", "/_sandbox/faults", None, clear_faults),
    ("GET", "/_sandbox/settings", None, get_settings),
    ("PUT", "/_sandbox/settings", None, set_settings),
    ("POST", "/_sandbox/admins", None, post_admins),
    ("GET", "/_sandbox/stats", None, get_stats),
    ("POST", "/_sandbox/stats/reset", None, reset_stats),
]
