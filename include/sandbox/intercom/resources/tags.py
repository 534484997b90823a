"""Tags: find-or-create by name (case-insensitive), rename, bulk tag/untag companies and contacts, delete.

`POST /tags` is several operations in one, told apart by the body: `{name}` finds or creates,
`{id, name}` renames, `{name, companies:[…]}` tags companies (`untag: true` removes the tag) and
`{name, users:[{id}]}` tags contacts.
"""

from __future__ import annotations

from include.sandbox.intercom.resources.companies import company_by_company_id, live_company
from include.sandbox.intercom.resources.contacts import live_contact
from include.sandbox.intercom.server.errors import (
    IntercomError,
    company_not_found,
    parameter_invalid,
    resource_not_found,
)
from include.sandbox.intercom.server.routing import Call, Reply
from include.sandbox.intercom.server.workspace import Workspace, now


def render_tag(tag: dict) -> dict:
    return {"type": "tag", "id": tag["id"], "name": tag["name"]}


def live_tag(workspace: Workspace, tag_id: str, missing: IntercomError | None = None) -> dict:
    tag = workspace["tags"].get(tag_id)
    if tag is None:
        raise missing or resource_not_found()
    return tag


def find_or_create_tag(workspace: Workspace, name: str) -> dict:
    existing = workspace.index("tags", "name").first(name.lower())
    if existing is not None:
        return workspace["tags"][existing]
    return workspace.put("tags", {"id": workspace.next_id("tags"), "name": name, "created_at": now()})


def _tag_companies(workspace: Workspace, tag: dict, references: list[dict]) -> list[dict]:
    results = []
    for reference in references:
        if reference.get("id"):
            company = live_company(workspace, reference["id"])
        else:
            company = company_by_company_id(workspace, reference.get("company_id") or "")
            if company is None:
                raise company_not_found()
        tagged = not reference.get("untag", False)
        tag_ids = company.setdefault("tag_ids", [])
        if tagged and tag["id"] not in tag_ids:
            tag_ids.append(tag["id"])
        elif not tagged and tag["id"] in tag_ids:
            tag_ids.remove(tag["id"])
        workspace.changed("companies", company["id"])
        results.append({"id": company["id"], "tagged": tagged})
    return results


def _tag_contacts(workspace: Workspace, tag: dict, references: list[dict]) -> list[dict]:
    contacts = [live_contact(workspace, reference.get("id") or "") for reference in references]
    for contact in contacts:
        if tag["id"] not in contact["tag_ids"]:
            contact["tag_ids"].append(tag["id"])
            workspace.changed("contacts", contact["id"])
    return [{"id": contact["id"], "tagged": True} for contact in contacts]


# What the items of `companies` and `users` may hold (the branches of the description's `oneOf`).
REFERENCE_FIELDS = {
    "companies": {"id": str, "company_id": str, "untag": bool},
    "users": {"id": str},
}


def _check_references(body: dict) -> None:
    """A body with `companies` or `users` must be a tag/untag request (lists of objects), not just any
    `{name}`: with the description's overlapping `oneOf` read as `anyOf`, the schema check alone lets a
    string or a list of numbers through. Intercom's answer is the operation's documented 400."""
    for field, keys in REFERENCE_FIELDS.items():
        if field not in body:
            continue
        items = body[field]
        if not isinstance(items, list) or not all(
            isinstance(item, dict)
            and all(key not in item or isinstance(item[key], kind) for key, kind in keys.items())
            for item in items
        ):
            raise parameter_invalid("invalid tag parameters", field)


def create_tag(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    _check_references(body)
    if body.get("id"):
        tag = live_tag(workspace, body["id"])
        clash = workspace.index("tags", "name").first(body["name"].lower())
        if clash not in (None, tag["id"]):
            raise IntercomError(
                400, "parameter_invalid", f"A tag named '{body['name']}' already exists", "name"
            )
        tag["name"] = body["name"]
        workspace.changed("tags", tag["id"])
        return render_tag(tag)
    tag = find_or_create_tag(workspace, body["name"])
    answer = render_tag(tag)
    if "companies" in body:
        answer["companies"] = _tag_companies(workspace, tag, body["companies"])
    if "users" in body:
        answer["users"] = _tag_contacts(workspace, tag, body["users"])
    return answer


def list_tags(call: Call) -> dict:
    return {"type": "list", "data": [render_tag(tag) for tag in call.workspace["tags"].values()]}


def find_tag(call: Call) -> dict:
    return render_tag(live_tag(call.workspace, call.params["tag_id"]))


def delete_tag(call: Call) -> Reply:
    """Removes the tag from everything it tags, unless a segment's filter uses it (Intercom's documented
    400)."""
    workspace = call.workspace
    tag = live_tag(workspace, call.params["tag_id"])
    using = sorted(
        segment["name"] for segment in workspace["segments"].values() if tag["id"] in segment["tag_ids"]
    )
    if using:
        raise IntercomError(
            400,
            "tag_has_dependent_objects",
            f"Unable to delete Tag with dependent objects. Segments: {', '.join(using)}.",
        )
    for kind in ("contacts", "companies"):
        for record in workspace[kind].values():
            if tag["id"] in record.get("tag_ids", []):
                record["tag_ids"].remove(tag["id"])
                workspace.changed(kind, record["id"])
    for conversation in workspace["conversations"].values():
        if any(applied["id"] == tag["id"] for applied in conversation["tags"]):
            conversation["tags"] = [applied for applied in conversation["tags"] if applied["id"] != tag["id"]]
            workspace.changed("conversations", conversation["id"])
    workspace.remove("tags", tag["id"])
    return Reply(200, None)


def attach_tag_to_contact(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    tag = live_tag(workspace, call.body["id"])
    if tag["id"] not in contact["tag_ids"]:
        contact["tag_ids"].append(tag["id"])
        workspace.changed("contacts", contact["id"])
    return render_tag(tag)


def detach_tag_from_contact(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    tag = live_tag(workspace, call.params["tag_id"])
    if tag["id"] in contact["tag_ids"]:
        contact["tag_ids"].remove(tag["id"])
        workspace.changed("contacts", contact["id"])
    return render_tag(tag)


def list_contact_tags(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    return {"type": "list", "data": [render_tag(workspace["tags"][tag_id]) for tag_id in contact["tag_ids"]]}


ROUTES = [
    ("POST", "/tags", "createTag", create_tag, {"": "invalid tag parameters"}),
    ("GET", "/tags", "listTags", list_tags),
    ("GET", "/tags/{tag_id}", "findTag", find_tag),
    ("DELETE", "/tags/{tag_id}", "deleteTag", delete_tag),
    ("POST", "/contacts/{contact_id}/tags", "attachTagToContact", attach_tag_to_contact),
    ("GET", "/contacts/{contact_id}/tags", "listTagsForAContact", list_contact_tags),
    ("DELETE", "/contacts/{contact_id}/tags/{tag_id}", "detachTagFromContact", detach_tag_from_contact),
]
