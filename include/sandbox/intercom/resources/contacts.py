"""Contacts (users and leads): create, update, look up, archive, delete, merge, search, list.

The rules a migration trips over are reproduced: a second user with the same email
(case-insensitive) or external_id, archived ones included, is a 409 naming the existing id; custom
attributes must exist and fit their type; a merged contact answers 410 with a Link to the survivor;
search lags behind writes (see search.py).
"""

from __future__ import annotations

import re
from typing import Any

from include.sandbox.intercom.resources import search
from include.sandbox.intercom.resources.attributes import check_custom_attributes
from include.sandbox.intercom.server.errors import IntercomError, parameter_invalid, user_not_found
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import Workspace, now

ROLES = ("user", "lead")
# "An avatar image URL. note: the image url needs to be https." (Intercom's API reference); answers
# carry it as `avatar.image_url`, a `format: uri`. Only characters RFC 3986 allows in a URI.
AVATAR_URL = re.compile(
    r"https://[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]]+(/[A-Za-z0-9\-._~%!$&'()*+,;=:@/?#\[\]]*)?"
)
# One `@`, a local part and a dotted domain, nothing that needs quoting: stricter than RFC 5322 on
# purpose (a loader must not meet a refusal in Intercom that the sandbox let through).
EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([^\W_](([^\W_]|-)*[^\W_])?\.)+[^\W\d_]{2,}"
)
MAX_MERGE_HOPS = 3
WRITABLE_FIELDS = (
    "role",
    "external_id",
    "email",
    "email_verified",
    "phone",
    "name",
    "avatar",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
)
UNSET_DEVICE_FIELDS = (
    "last_email_opened_at",
    "last_email_clicked_at",
    "language_override",
    "browser",
    "browser_version",
    "browser_language",
    "os",
    "android_app_name",
    "android_app_version",
    "android_device",
    "android_os_version",
    "android_sdk_version",
    "android_last_seen_at",
    "ios_app_name",
    "ios_app_version",
    "ios_device",
    "ios_os_version",
    "ios_sdk_version",
    "ios_last_seen_at",
)


# --- rendering ------------------------------------------------------------------------------------


def render_contact(workspace: Workspace, contact: dict) -> dict:
    contact_id = contact["id"]
    email = contact.get("email") or ""
    rendered: dict[str, Any] = {
        "type": "contact",
        "id": contact_id,
        "workspace_id": workspace.meta["workspace_id"],
        "external_id": contact.get("external_id"),
        "role": contact["role"],
        "email": email,
        "email_domain": email.split("@", 1)[1] if "@" in email else "",
        "phone": contact.get("phone"),
        "name": contact.get("name"),
        "owner_id": contact.get("owner_id"),
        "has_hard_bounced": False,
        "marked_email_as_spam": False,
        "unsubscribed_from_emails": contact.get("unsubscribed_from_emails", False),
        "created_at": contact["created_at"],
        "updated_at": contact["updated_at"],
        "signed_up_at": contact.get("signed_up_at"),
        "last_seen_at": contact.get("last_seen_at"),
        "last_replied_at": contact.get("last_replied_at"),
        "last_contacted_at": contact.get("last_contacted_at"),
        **dict.fromkeys(UNSET_DEVICE_FIELDS),
        "custom_attributes": dict(contact.get("custom_attributes", {})),
        "avatar": {"type": "avatar", "image_url": contact["avatar"]} if contact.get("avatar") else None,
        "tags": _references(contact.get("tag_ids", []), "tag", "/tags", f"/contacts/{contact_id}/tags"),
        "notes": _references([], "note", "/notes", f"/contacts/{contact_id}/notes"),
        "companies": _references(
            contact.get("company_ids", []), "company", "/companies", f"/contacts/{contact_id}/companies"
        ),
        "location": {"type": "location", "country": None, "region": None, "city": None},
        "social_profiles": {"type": "list", "data": []},
        "enabled_push_messaging": None,
    }
    if contact.get("merge_history"):
        rendered["merge_history"] = list(contact["merge_history"])
    return rendered


def _references(ids: list[str], item_type: str, item_path: str, list_path: str) -> dict:
    return {
        "type": "list",
        "data": [{"type": item_type, "id": item_id, "url": f"{item_path}/{item_id}"} for item_id in ids],
        "url": list_path,
        "total_count": len(ids),
        "has_more": False,
    }


def render_reference(contact: dict) -> dict:
    return {"type": "contact", "id": contact["id"], "external_id": contact.get("external_id")}


# --- look-ups -------------------------------------------------------------------------------------


def live_contact(workspace: Workspace, contact_id: str) -> dict:
    """The contact behind an id, or Intercom's 404 (deleted or unknown) / 410 (merged, with Link)."""
    contact = workspace["contacts"].get(contact_id)
    if contact is None or contact.get("deleted_at"):
        raise user_not_found()
    if contact.get("merged_into"):
        canonical = contact
        for _ in range(MAX_MERGE_HOPS):
            canonical = workspace["contacts"].get(canonical.get("merged_into") or "", canonical)
            if not canonical.get("merged_into"):
                break
        raise IntercomError(
            410,
            "contact_merged",
            "This contact has been merged. See the 'Link' header for the canonical contact.",
            headers={"Link": f'</contacts/{canonical["id"]}>; rel="canonical"'},
        )
    return contact


def contact_by_email(workspace: Workspace, email: str) -> dict | None:
    """A live contact with this email (users before leads), as contact replies and tickets look them up."""
    candidates = [
        workspace["contacts"][contact_id]
        for contact_id in workspace.index("contacts", "any_email").ids(email.lower())
    ]
    candidates.sort(key=lambda contact: (contact["role"] != "user", contact["created_at"], contact["id"]))
    return candidates[0] if candidates else None


def contact_by_external_id(workspace: Workspace, external_id: str) -> dict | None:
    contact_id = workspace.index("contacts", "identity").first(("external_id", external_id))
    return workspace["contacts"][contact_id] if contact_id else None


def find_conflicting_user(workspace: Workspace, contact: dict, own_id: str | None) -> dict | None:
    """Another user (archived included) already holding this user's email (any case) or external_id."""
    if contact.get("role", "user") != "user":
        return None
    identity = workspace.index("contacts", "identity")
    keys = []
    if contact.get("email"):
        keys.append(("email", contact["email"].lower()))
    if contact.get("external_id"):
        keys.append(("external_id", contact["external_id"]))
    for key in keys:
        for contact_id in sorted(identity.ids(key)):
            if contact_id != own_id:
                return workspace["contacts"][contact_id]
    return None


def _conflict(existing: dict) -> IntercomError:
    prefix = "An archived contact" if existing.get("archived") else "A contact"
    return IntercomError(
        409, "conflict", f"{prefix} matching those details already exists with id={existing['id']}"
    )


# --- writes ---------------------------------------------------------------------------------------


def _apply_fields(workspace: Workspace, contact: dict, body: dict, own_id: str | None) -> None:
    """Check and copy the writable fields of a create or update body onto `contact`."""
    if "role" in body and body["role"] not in ROLES:
        raise parameter_invalid("role must be one of: user, lead", "role")
    if body.get("email_verified") is not None and not body.get("email"):
        raise parameter_invalid("email_verified must be supplied together with an email", "email_verified")
    email = body.get("email")
    if email and not EMAIL.fullmatch(email):  # "" is no email (answers show a contact without one so)
        raise parameter_invalid(f"'{email}' is not a valid email address", "email")
    avatar = body.get("avatar")
    if avatar and not AVATAR_URL.fullmatch(avatar):
        raise parameter_invalid("avatar must be an https URL of an image", "avatar")
    owner_id = body.get("owner_id")
    if owner_id is not None and str(owner_id) not in workspace["admins"]:
        raise parameter_invalid(f"Owner with id={owner_id} not found", "owner_id")
    role = body.get("role", contact.get("role", "user"))
    identity = {
        "role": role,
        "email": body.get("email", contact.get("email")),
        "external_id": body.get("external_id", contact.get("external_id")),
    }
    existing = find_conflicting_user(workspace, identity, own_id)
    if existing is not None:
        raise _conflict(existing)
    custom_attributes = check_custom_attributes(workspace, "contact", body.get("custom_attributes"))
    for name in WRITABLE_FIELDS:
        if name in body:
            contact[name] = body[name]
    if "unsubscribed_from_emails" in body:  # nullable in requests, a boolean in answers: null is false
        contact["unsubscribed_from_emails"] = bool(body["unsubscribed_from_emails"])
    contact["role"] = role
    merged = {**contact.get("custom_attributes", {}), **custom_attributes}
    contact["custom_attributes"] = {name: value for name, value in merged.items() if value is not None}


def create_contact(call: Call) -> dict:
    workspace = call.workspace
    created = now()
    contact: dict[str, Any] = {
        "id": workspace.object_id(),
        "created_at": created,
        "updated_at": created,
        "custom_attributes": {},
        "tag_ids": [],
        "company_ids": [],
        "archived": False,
    }
    _apply_fields(workspace, contact, call.body, own_id=None)
    workspace.put("contacts", contact)
    return render_contact(workspace, contact)


def update_contact(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    _apply_fields(workspace, contact, call.body, own_id=contact["id"])
    contact["updated_at"] = now()
    workspace.changed("contacts", contact["id"])
    return render_contact(workspace, contact)


def show_contact(call: Call) -> dict:
    return render_contact(call.workspace, live_contact(call.workspace, call.params["contact_id"]))


def show_contact_by_external_id(call: Call) -> dict:
    contact = contact_by_external_id(call.workspace, call.params["external_id"])
    if contact is None:
        raise user_not_found()
    return render_contact(call.workspace, contact)


def delete_contact(call: Call) -> dict:
    """Deleted contacts are kept (Intercom can restore them for 7 days) but no longer found or unique."""
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    contact["deleted_at"] = now()
    workspace.changed("contacts", contact["id"])
    return {
        "type": "contact",
        "id": contact["id"],
        "external_id": contact.get("external_id"),
        "deleted": True,
    }


def _set_archived(call: Call, archived: bool) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    contact["archived"] = archived
    contact["updated_at"] = now()
    workspace.changed("contacts", contact["id"])
    return {
        "type": "contact",
        "id": contact["id"],
        "external_id": contact.get("external_id"),
        "archived": archived,
    }


def archive_contact(call: Call) -> dict:
    return _set_archived(call, True)


def unarchive_contact(call: Call) -> dict:
    return _set_archived(call, False)


def merge_contacts(call: Call) -> dict:
    """Merge a lead into a user: the lead then answers 410 pointing at the user."""
    workspace = call.workspace
    source = live_contact(workspace, call.body["from"])
    target = live_contact(workspace, call.body["into"])
    duplicates = (
        source.get("email") and (source.get("email") or "").lower() == (target.get("email") or "").lower()
    ) or (source.get("phone") and source.get("phone") == target.get("phone"))
    if source["role"] != "lead" or target["role"] != "user" or source["id"] == target["id"]:
        raise IntercomError(400, "invalid_merge", "Only a lead can be merged into a user")
    if not duplicates and not call.body.get("skip_duplicate_validation"):
        raise IntercomError(
            400,
            "invalid_merge",
            "Contacts can only be merged when they are duplicates (matching email or phone). "
            "Pass skip_duplicate_validation=true to override this check.",
        )
    merged_at = now()
    for list_name in ("tag_ids", "company_ids"):
        target[list_name] = list(dict.fromkeys(target.get(list_name, []) + source.get(list_name, [])))
    target.setdefault("merge_history", []).append(
        {
            "type": "merge_history_item",
            "source_contact_id": source["id"],
            "source_contact_role": "lead",
            "merged_at": merged_at,
        }
    )
    target["updated_at"] = merged_at
    source["merged_into"] = target["id"]
    workspace.changed("contacts", source["id"])
    workspace.changed("contacts", target["id"])
    return render_contact(workspace, target)


# --- list and search ------------------------------------------------------------------------------


def _listable(contact: dict) -> bool:
    return not (contact.get("archived") or contact.get("deleted_at") or contact.get("merged_into"))


def search_projection(contact: dict) -> dict | None:
    """What the search index stores for a contact (None: not searchable)."""
    if not _listable(contact):
        return None
    return {
        **contact,
        "custom_attributes": dict(contact.get("custom_attributes", {})),
        "tag_ids": list(contact.get("tag_ids", [])),
    }


def _read(name: str):
    return lambda record: record.get(name)


CONTACT_FIELDS = {
    **{
        name: search.Field("string", _read(name))
        for name in ("id", "role", "name", "phone", "external_id", "owner_id")
    },
    "email": search.Field("string", lambda record: record.get("email")),
    "email_domain": search.Field(
        "string", lambda record: (record.get("email") or "@").split("@", 1)[1] or None
    ),
    **{
        name: search.Field("date", _read(name))
        for name in (
            "created_at",
            "updated_at",
            "signed_up_at",
            "last_seen_at",
            "last_replied_at",
            "last_contacted_at",
        )
    },
    "unsubscribed_from_emails": search.Field(
        "boolean", lambda record: record.get("unsubscribed_from_emails", False)
    ),
    "tag_id": search.Field("tag", lambda record: record.get("tag_ids", [])),
}


def contact_search_rules(workspace: Workspace) -> search.SearchRules:
    return search.SearchRules(
        fields=CONTACT_FIELDS,
        custom_attribute_types=lambda: {
            attribute["name"]: attribute["data_type"]
            for attribute in workspace["data_attributes"].values()
            if attribute["model"] == "contact"
        },
        date_operators=search.CONTACT_DATE_OPERATORS,
        dates_by_day=True,
        timezone=lambda: workspace.meta["app"]["timezone"],
    )


def _sort_order_error(body: dict) -> IntercomError | None:
    order = (body.get("sort") or {}).get("order") if isinstance(body.get("sort"), dict) else None
    if order is None or order in ("ascending", "descending"):
        return None
    return IntercomError(
        400, "invalid_sort_order", f"Invalid sort order '{order}'. Must be one of: ascending, descending"
    )


def search_contacts(call: Call) -> dict:
    workspace = call.workspace
    rules = contact_search_rules(workspace)
    matches = search.compile_query(call.body["query"], rules)
    pagination = call.body.get("pagination") or {}
    per_page = search.page_size(pagination.get("per_page"), default=50)
    sort = call.body.get("sort") or {}
    descending = search.sort_order(sort)
    sort_field = rules.field(sort.get("field", "created_at"))
    found = [record for record in call.sandbox.search_index.records("contacts").values() if matches(record)]
    found.sort(key=lambda record: record["id"], reverse=descending)
    found.sort(key=search.sort_key(sort_field), reverse=descending)
    page, pages = search.paginate(found, per_page, pagination.get("starting_after"))
    data = [
        render_contact(workspace, workspace["contacts"][record["id"]])
        for record in page
        if record["id"] in workspace["contacts"]
    ]
    return {"type": "list", "data": data, "total_count": len(found), "pages": pages}


def list_contacts(call: Call) -> dict:
    workspace = call.workspace
    per_page = search.page_size(_int_query(call.query.get("per_page")), default=50)
    listable = [contact for contact in workspace["contacts"].values() if _listable(contact)]
    page, pages = search.paginate(listable, per_page, call.query.get("starting_after"))
    return {
        "type": "list",
        "data": [render_contact(workspace, contact) for contact in page],
        "total_count": len(listable),
        "pages": pages,
    }


def _int_query(raw: Any) -> int | None:
    """`per_page` on an operation whose description does not declare it arrives as text."""
    if raw is None or isinstance(raw, int):
        return raw
    try:
        return int(raw)
    except ValueError:
        raise parameter_invalid("per_page must be an integer", "per_page") from None


CREATE_CONTACT_MESSAGES = {
    "": ("parameter_not_found", "A contact needs at least one of: email, external_id, role")
}

ROUTES = [
    ("POST", "/contacts", "CreateContact", create_contact, CREATE_CONTACT_MESSAGES),
    ("GET", "/contacts", "ListContacts", list_contacts),
    ("POST", "/contacts/search", "SearchContacts", search_contacts, {"sort": _sort_order_error}),
    ("POST", "/contacts/merge", "MergeContact", merge_contacts),
    (
        "GET",
        "/contacts/find_by_external_id/{external_id}",
        "ShowContactByExternalId",
        show_contact_by_external_id,
    ),
    ("GET", "/contacts/{contact_id}", "ShowContact", show_contact),
    ("PUT", "/contacts/{contact_id}", "UpdateContact", update_contact),
    ("DELETE", "/contacts/{contact_id}", "DeleteContact", delete_contact),
    ("POST", "/contacts/{contact_id}/archive", "ArchiveContact", archive_contact),
    ("POST", "/contacts/{contact_id}/unarchive", "UnarchiveContact", unarchive_contact),
]
