"""Custom data attributes (contact, company) and conversation attributes, and the checks on their values.

Intercom refuses a write to a custom attribute that was not defined first, and a value whose type
does not fit the attribute; a lenient sandbox would let a loader ship data Intercom would reject.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from include.sandbox.intercom.server.errors import IntercomError, parameter_invalid
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import Workspace, now

MAX_CUSTOM_ATTRIBUTES = 250  # per workspace, archived ones excluded (Intercom Help Center)
# "We only allow custom data attributes of string type to have up to 255 characters" (Intercom Help Center)
MAX_STRING_VALUE_CHARACTERS = 255
MODEL_WORDS = {"contact": "people", "company": "company"}
# The description's response enum has no `datetime` or `options`: Intercom reports them as these.
RENDERED_DATA_TYPE = {"datetime": "date", "options": "string"}
CONVERSATION_DATA_TYPES = (
    "string",
    "integer",
    "list",
    "decimal",
    "boolean",
    "datetime",
    "relationship",
    "files",
)
STANDARD_ATTRIBUTES = {
    "contact": [
        ("name", "Name", "string"),
        ("email", "Email", "string"),
        ("phone", "Phone", "string"),
        ("external_id", "User ID", "string"),
        ("role", "Role", "string"),
        ("owner_id", "Owner", "integer"),
        ("unsubscribed_from_emails", "Unsubscribed from emails", "boolean"),
        ("created_at", "Signed up", "date"),
        ("signed_up_at", "Signed up", "date"),
        ("last_seen_at", "Last seen", "date"),
    ],
    "company": [
        ("name", "Company name", "string"),
        ("company_id", "Company ID", "string"),
        ("plan", "Plan", "string"),
        ("size", "Company size", "integer"),
        ("website", "Website", "string"),
        ("industry", "Industry", "string"),
        ("monthly_spend", "Monthly Spend", "float"),
        ("created_at", "Company created at", "date"),
    ],
}


# --- value checks ----------------------------------------------------------------------------------


def check_custom_attributes(workspace: Workspace, model: str, values: dict | None) -> dict:
    """Validate a `custom_attributes` write for a contact or company; returns the values to store.

    The description types company attribute values as strings (requests and responses), so a company
    value is text that must read as the attribute's type ("12" for an integer attribute).
    """
    if not values:
        return {}
    definitions = _definitions_by_name(workspace, "data_attributes", model)
    for name, value in values.items():
        definition = definitions.get(name)
        if definition is None:
            raise parameter_invalid(f"Custom attribute '{name}' does not exist", f"custom_attributes.{name}")
        typed = _read_text(definition["data_type"], value) if model == "company" else value
        _check_value(name, definition["data_type"], definition.get("options"), typed)
    return dict(values)


def _read_text(data_type: str, text: Any) -> Any:
    """A company attribute's text as its attribute type, or the text itself when it does not read as one."""
    if not isinstance(text, str):
        return text
    readers = {
        "integer": int,
        "date": int,
        "datetime": int,
        "float": float,
        "boolean": {"true": True, "false": False}.__getitem__,
    }
    reader = readers.get(data_type)
    if reader is None:
        return text
    try:
        return reader(text)
    except (ValueError, KeyError):
        return text


def check_conversation_attributes(workspace: Workspace, values: dict | None) -> dict:
    """Validate a conversation `custom_attributes` write ("Conversation attribute 'x' does not exist")."""
    if not values:
        return {}
    definitions = _definitions_by_name(workspace, "conversation_attributes", None)
    for name, value in values.items():
        definition = definitions.get(name)
        if definition is None:
            raise parameter_invalid(
                f"Conversation attribute '{name}' does not exist", f"custom_attributes.{name}"
            )
        options = [option["label"] for option in definition.get("options", []) if not option.get("archived")]
        _check_value(name, definition["data_type"], options, value)
    return dict(values)


def _definitions_by_name(workspace: Workspace, kind: str, model: str | None) -> dict[str, dict]:
    return {
        attribute["name"]: attribute
        for attribute in workspace[kind].values()
        if not attribute.get("archived") and (model is None or attribute["model"] == model)
    }


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


VALUE_CHECKS = {
    "string": lambda value: isinstance(value, str),
    "options": lambda value: isinstance(value, str),
    "list": lambda value: isinstance(value, str),
    "integer": _is_integer,
    "float": lambda value: _is_integer(value) or isinstance(value, float),
    "decimal": lambda value: _is_integer(value) or isinstance(value, float),
    "boolean": lambda value: isinstance(value, bool),
    "date": _is_integer,
    "datetime": lambda value: _is_integer(value) or _is_iso_datetime(value),
}
TYPE_NAMES = {
    "string": "a string",
    "options": "one of the attribute's options",
    "list": "one of the attribute's options",
    "integer": "an integer",
    "float": "a number",
    "decimal": "a number",
    "boolean": "a boolean",
    "date": "a UNIX timestamp (integer)",
    "datetime": "a UNIX timestamp or an ISO 8601 date-time",
}


def _check_value(name: str, data_type: str, options: list | None, value: Any) -> None:
    if value is None:
        return  # null clears the attribute
    check = VALUE_CHECKS.get(data_type)
    field = f"custom_attributes.{name}"
    if check is None:
        raise parameter_invalid(
            f"Attribute '{name}' of type {data_type} can't be written through this API", field
        )
    if not check(value) or (data_type in ("options", "list") and options and value not in options):
        raise parameter_invalid(
            f"Custom attribute '{name}' has type {data_type}: "
            f"the value {value!r} is not {TYPE_NAMES[data_type]}",
            field,
        )
    if data_type == "string" and len(value) > MAX_STRING_VALUE_CHARACTERS:
        raise parameter_invalid(
            f"Custom attribute '{name}' is {len(value)} characters long: "
            f"string attributes hold at most {MAX_STRING_VALUE_CHARACTERS}",
            field,
        )


# --- data attributes (contact, company) -----------------------------------------------------------


def render_data_attribute(attribute: dict) -> dict:
    rendered = {
        "type": "data_attribute",
        "id": int(attribute["id"]),
        "model": attribute["model"],
        "name": attribute["name"],
        "full_name": f"custom_attributes.{attribute['name']}",
        "label": attribute["name"],
        "description": attribute.get("description") or "",
        "data_type": RENDERED_DATA_TYPE.get(attribute["data_type"], attribute["data_type"]),
        "api_writable": True,
        "ui_writable": True,
        "messenger_writable": attribute.get("messenger_writable", False),
        "custom": True,
        "archived": attribute.get("archived", False),
        "created_at": attribute["created_at"],
        "updated_at": attribute["updated_at"],
        "admin_id": attribute["admin_id"],
    }
    if attribute.get("options"):
        rendered["options"] = list(attribute["options"])
    return rendered


def _render_standard_attribute(model: str, name: str, label: str, data_type: str) -> dict:
    return {
        "type": "data_attribute",
        "model": model,
        "name": name,
        "full_name": name,
        "label": label,
        "data_type": data_type,
        "api_writable": name not in ("created_at",),
        "ui_writable": False,
        "messenger_writable": False,
        "custom": False,
        "archived": False,
    }


def list_data_attributes(call: Call) -> dict:
    model = call.query.get("model")
    models = [model] if model else ["contact", "company"]
    include_archived = call.query.get("include_archived", False)
    data = [
        _render_standard_attribute(each_model, *standard)
        for each_model in models
        for standard in STANDARD_ATTRIBUTES[each_model]
    ]
    data += [
        render_data_attribute(attribute)
        for attribute in call.workspace["data_attributes"].values()
        if attribute["model"] in models and (include_archived or not attribute.get("archived"))
    ]
    return {"type": "list", "data": data}


def _valid_attribute_name(name: str) -> bool:
    """Letters, digits, spaces, underscores, hyphens and currency symbols (Intercom's naming rule)."""
    return bool(name.strip()) and all(
        character.isalnum() or character in " _-" or unicodedata.category(character) == "Sc"
        for character in name
    )


def create_data_attribute(call: Call) -> dict:
    body = call.body
    workspace = call.workspace
    name, model = body["name"], body["model"]
    if not _valid_attribute_name(name):
        raise parameter_invalid(
            "Your name for this attribute must only contain alphanumeric characters, "
            "currency symbols, and hyphens",
            "name",
        )
    for existing_id in workspace.index("data_attributes", "name").ids(name.lower()):
        existing = workspace["data_attributes"][existing_id]
        raise parameter_invalid(
            f"You already have '{name}' in your {MODEL_WORDS[existing['model']]} data. "
            f"To save this as new {MODEL_WORDS[model]} data, use a different name.",
            "name",
        )
    options = [option.get("value") for option in body.get("options", [])]
    if body["data_type"] == "options" and (
        len(options) < 2 or not all(isinstance(value, str) for value in options)
    ):
        raise parameter_invalid("Options must be a list of at least 2 values", "options")
    active = sum(1 for attribute in workspace["data_attributes"].values() if not attribute.get("archived"))
    if active >= MAX_CUSTOM_ATTRIBUTES:
        raise parameter_invalid(
            f"You have reached the limit of {MAX_CUSTOM_ATTRIBUTES} custom data attributes"
        )
    created = now()
    attribute = {
        "id": workspace.next_id("data_attributes"),
        "model": model,
        "name": name,
        "data_type": body["data_type"],
        "options": options if body["data_type"] == "options" else [],
        "description": body.get("description", ""),
        "messenger_writable": body.get("messenger_writable", False),
        "archived": False,
        "created_at": created,
        "updated_at": created,
        "admin_id": workspace.meta["owner_admin_id"],
    }
    workspace.put("data_attributes", attribute)
    return render_data_attribute(attribute)


def update_data_attribute(call: Call) -> dict:
    attribute = call.workspace["data_attributes"].get(call.params["data_attribute_id"])
    if attribute is None:
        raise IntercomError(404, "field_not_found", "We couldn't find that data attribute to update")
    body = call.body
    if "data_type" in body and body["data_type"] != attribute["data_type"]:
        raise parameter_invalid("The data type of an attribute can't be changed", "data_type")
    if "options" in body:
        if attribute["data_type"] != "options":
            raise parameter_invalid("Options can only be set on an attribute of type options", "options")
        attribute["options"] = [option.get("value") for option in body["options"]]
    if body.get("archived") and any(
        attribute["id"] in segment["data_attribute_ids"] for segment in call.workspace["segments"].values()
    ):
        raise IntercomError(
            422, "data_invalid", "The Data Attribute you are trying to archive has a dependant object"
        )
    for name in ("archived", "description", "messenger_writable"):
        if name in body:
            attribute[name] = body[name]
    attribute["updated_at"] = now()
    call.workspace.changed("data_attributes", attribute["id"])
    return render_data_attribute(attribute)


# --- conversation attributes ----------------------------------------------------------------------


def render_conversation_attribute(attribute: dict) -> dict:
    rendered = {
        "type": "conversation_attribute",
        "id": int(attribute["id"]),
        "name": attribute["name"],
        "data_type": attribute["data_type"],
        "required": attribute.get("required", False),
        "visible_to_team_ids": attribute.get("visible_to_team_ids", []),
        "archived": attribute.get("archived", False),
        "created_at": attribute["created_at"],
        "updated_at": attribute["updated_at"],
        "admin_id": attribute["admin_id"],
    }
    if attribute["data_type"] == "string":
        rendered["multiline"] = attribute.get("multiline", False)
    if attribute["data_type"] == "list":
        rendered["options"] = [dict(option) for option in attribute.get("options", [])]
    if attribute["data_type"] == "relationship" and attribute.get("reference"):
        rendered["reference"] = dict(attribute["reference"])
    return rendered


def _conversation_attribute(call: Call) -> dict:
    attribute = call.workspace["conversation_attributes"].get(call.params["id"])
    if attribute is None:
        raise IntercomError(404, "conversation_attribute_not_found", "Conversation attribute not found")
    return attribute


def list_conversation_attributes(call: Call) -> dict:
    include_archived = call.query.get("include_archived", False)
    return {
        "type": "list",
        "data": [
            render_conversation_attribute(attribute)
            for attribute in call.workspace["conversation_attributes"].values()
            if include_archived or not attribute.get("archived")
        ],
    }


def create_conversation_attribute(call: Call) -> dict:
    body = call.body
    workspace = call.workspace
    name, data_type = body["name"], body["data_type"]
    if workspace.index("conversation_attributes", "name").ids(name.lower()):
        raise parameter_invalid(
            f"You already have '{name}' in your conversation data. Use a different name.", "name"
        )
    created = now()
    attribute = {
        "id": workspace.next_id("conversation_attributes"),
        "name": name,
        "data_type": data_type,
        "required": body.get("required", False),
        "visible_to_team_ids": body.get("visible_to_team_ids", []),
        "multiline": body.get("multiline", False),
        "options": [
            {"id": workspace.next_id("conversation_attributes"), "label": option["label"], "archived": False}
            for option in body.get("options", [])
        ],
        "reference": body.get("reference"),
        "archived": False,
        "created_at": created,
        "updated_at": created,
        "admin_id": workspace.meta["owner_admin_id"],
    }
    workspace.put("conversation_attributes", attribute)
    return render_conversation_attribute(attribute)


def get_conversation_attribute(call: Call) -> dict:
    return render_conversation_attribute(_conversation_attribute(call))


def update_conversation_attribute(call: Call) -> dict:
    attribute = _conversation_attribute(call)
    body = call.body
    if "data_type" in body and body["data_type"] != attribute["data_type"]:
        raise parameter_invalid("The data type of an attribute can't be changed", "data_type")
    for name in ("name", "multiline", "required", "visible_to_team_ids", "reference"):
        if name in body:
            attribute[name] = body[name]
    attribute["updated_at"] = now()
    call.workspace.changed("conversation_attributes", attribute["id"])
    return render_conversation_attribute(attribute)


def archive_conversation_attribute(call: Call) -> dict:
    """DELETE archives (soft), as Intercom does."""
    attribute = _conversation_attribute(call)
    attribute["archived"] = True
    attribute["updated_at"] = now()
    call.workspace.changed("conversation_attributes", attribute["id"])
    return render_conversation_attribute(attribute)


def _unsupported_model(model: str) -> IntercomError:
    if model == "conversation":
        return IntercomError(
            422,
            "parameter_invalid",
            "model=conversation is no longer supported. Use GET /conversations/attributes instead",
        )
    return parameter_invalid("model must be one of: contact, company", "model")


def _invalid_conversation_data_type(body: dict) -> IntercomError | None:
    """An unknown type is Intercom's 422; a missing one is the usual 400 (None: the generic error)."""
    data_type = body.get("data_type")
    if data_type in CONVERSATION_DATA_TYPES or "data_type" not in body:
        return None
    allowed = ", ".join(CONVERSATION_DATA_TYPES)
    return IntercomError(
        422,
        "parameter_invalid",
        f"data_type '{data_type}' is not valid. Allowed types: {allowed}",
        "data_type",
    )


CREATE_DATA_ATTRIBUTE_MESSAGES = {
    "data_type": "Data Type isn't an option",
    "model": "The Data Attribute model field must be either contact or company",
    "options": "Options isn't an array",
}

ROUTES = [
    (
        "GET",
        "/data_attributes",
        "lisDataAttributes",
        list_data_attributes,
        {"query.model": _unsupported_model},
    ),
    (
        "POST",
        "/data_attributes",
        "createDataAttribute",
        create_data_attribute,
        CREATE_DATA_ATTRIBUTE_MESSAGES,
    ),
    (
        "PUT",
        "/data_attributes/{data_attribute_id}",
        "updateDataAttribute",
        update_data_attribute,
        {"options": "Options isn't an array"},
    ),
    ("GET", "/conversations/attributes", "listConversationAttributes", list_conversation_attributes),
    (
        "POST",
        "/conversations/attributes",
        "createConversationAttribute",
        create_conversation_attribute,
        {"data_type": _invalid_conversation_data_type},
    ),
    ("GET", "/conversations/attributes/{id}", "getConversationAttribute", get_conversation_attribute),
    ("PUT", "/conversations/attributes/{id}", "updateConversationAttribute", update_conversation_attribute),
    (
        "DELETE",
        "/conversations/attributes/{id}",
        "deleteConversationAttribute",
        archive_conversation_attribute,
    ),
]
