"""Admins (teammates): read-only through the API, as in Intercom; seeded from a file or the control API.

There is no way to create an admin through Intercom's REST API, so a migration must map agents onto
teammates that already exist; the sandbox reproduces that by seeding admins out of band.
"""

from __future__ import annotations

from include.sandbox.intercom.server.errors import admin_not_found, parameter_invalid
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import Workspace

DEFAULT_OWNER = {"name": "Sandbox Owner", "email": "owner@sandbox.invalid", "job_title": "Workspace owner"}


def render_admin(admin: dict) -> dict:
    return {
        "type": "admin",
        "id": admin["id"],
        "name": admin["name"],
        "email": admin["email"],
        "job_title": admin.get("job_title") or "",
        "away_mode_enabled": admin.get("away_mode_enabled", False),
        "away_mode_reassign": admin.get("away_mode_reassign", False),
        "has_inbox_seat": admin.get("has_inbox_seat", True),
        "team_ids": list(admin.get("team_ids", [])),
        "avatar": None,
    }


def add_admins(workspace: Workspace, admins: list[dict]) -> list[dict]:
    """Add teammates (matched by email: an existing one is updated, keeping its id)."""
    added = []
    by_email = {admin["email"].lower(): admin for admin in workspace["admins"].values()}
    for position, entry in enumerate(admins):
        if not isinstance(entry, dict) or not entry.get("email") or not entry.get("name"):
            raise parameter_invalid(f"admins[{position}] needs a name and an email")
        existing = by_email.get(entry["email"].lower())
        admin_id = existing["id"] if existing else str(entry.get("id") or workspace.next_id("admins"))
        admin = {
            **(existing or {}),
            **{key: value for key, value in entry.items() if key != "id"},
            "id": admin_id,
        }
        workspace.put("admins", admin)
        by_email[admin["email"].lower()] = admin
        added.append(admin)
    if workspace.meta.get("owner_admin_id") not in workspace["admins"]:
        workspace.meta["owner_admin_id"] = added[0]["id"] if added else None
        workspace.meta_dirty = True
    return added


def ensure_owner(workspace: Workspace) -> None:
    """A workspace always has the admin who owns the API token (the answer to GET /me)."""
    if workspace.meta.get("owner_admin_id") not in workspace["admins"]:
        add_admins(workspace, [next(iter(workspace["admins"].values()), DEFAULT_OWNER)])


def identify_admin(call: Call) -> dict:
    workspace = call.workspace
    admin = render_admin(workspace.owner_admin())
    app = workspace.meta["app"]
    admin["avatar"] = {"type": "avatar", "image_url": None}
    admin["email_verified"] = True
    admin["app"] = {
        "type": "app",
        "id_code": workspace.meta["workspace_id"],
        "name": app["name"],
        "region": app["region"],
        "timezone": app["timezone"],
        "created_at": app["created_at"],
        "identity_verification": False,
    }
    return admin


def list_admins(call: Call) -> dict:
    return {
        "type": "admin.list",
        "admins": [render_admin(admin) for admin in call.workspace["admins"].values()],
    }


def retrieve_admin(call: Call) -> dict:
    admin = call.workspace["admins"].get(call.params["admin_id"])
    if admin is None:
        raise admin_not_found()
    return render_admin(admin)


ROUTES = [
    ("GET", "/me", "identifyAdmin", identify_admin),
    ("GET", "/admins", "listAdmins", list_admins),
    ("GET", "/admins/{admin_id}", "retrieveAdmin", retrieve_admin),
]
