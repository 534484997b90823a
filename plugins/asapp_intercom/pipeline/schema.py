"""The schema phase: the data attributes and tags the approved map needs, before any record.

Intercom rejects a custom attribute that has no data attribute, and cannot change an
attribute's type afterwards; so existing attributes are matched by name and a type clash stops
the run here, with a message saying what to change, instead of failing record by record later.
Creating is idempotent: when Intercom's answer to a create is lost (or it says the name is taken),
the attributes are listed again, and one of that name and type counts as made.
"""

from __future__ import annotations

from asapp_intercom.domain.manifests import SchemaManifest
from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.intercom import IntercomHook, refuses_the_record

CREATE_ATTEMPTS = 4


class SchemaClash(RuntimeError):
    """The workspace already has an attribute by that name with another type."""


def _existing(hook: IntercomHook, model: str) -> dict[str, dict]:
    return {item["name"].lower(): item for item in hook.list_data_attributes(model, include_archived=True)}


def _create(hook: IntercomHook, model: str, entry: FieldMapping) -> None:
    """Create the attribute; after an answer that leaves it unknown whether it exists, look, then try
    again."""
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            hook.create_data_attribute(
                model, entry.attribute, entry.data_type, f"Migrated from ASAPP {entry.source}"
            )
            return
        except ApiError as error:
            taken = error.status == 400 and "already have" in error.message.lower()
            if (refuses_the_record(error) and not taken) or attempt == CREATE_ATTEMPTS:
                raise
        found = _existing(hook, model).get(entry.attribute.lower())
        if found is not None and found.get("data_type") == entry.data_type and not found.get("archived"):
            return


def ensure_attributes(hook: IntercomHook, entries: list[FieldMapping], manifest: SchemaManifest) -> None:
    wanted = [entry for entry in entries if entry.attribute]
    for model in sorted({entry.target_object for entry in wanted}):
        existing = _existing(hook, model)
        for entry in (item for item in wanted if item.target_object == model):
            label = f"{model}.{entry.attribute}"
            found = existing.get(entry.attribute.lower())
            if found is None:
                _create(hook, model, entry)
                manifest.created.append(label)
                continue
            if found.get("archived"):
                raise SchemaClash(
                    f"{label} exists in Intercom but is archived: unarchive it, or map "
                    f"{entry.source} to another name"
                )
            if found.get("data_type") != entry.data_type:
                raise SchemaClash(
                    f"{label} exists in Intercom as {found.get('data_type')}, but the map sends "
                    f"{entry.source} as {entry.data_type}: Intercom cannot change an attribute's "
                    "type, so change the type or the name in the map"
                )
            manifest.matched.append(label)


def ensure_tags(hook: IntercomHook, names: list[str], manifest: SchemaManifest) -> None:
    """POST /tags finds or creates by name (case-insensitively), so this is safe to repeat."""
    for name in sorted(set(names)):
        manifest.tag_ids[name] = str(hook.find_or_create_tag(name)["id"])


def ensure_schema(hook: IntercomHook, entries: list[FieldMapping], tag_names: list[str]) -> SchemaManifest:
    manifest = SchemaManifest()
    ensure_attributes(hook, entries, manifest)
    ensure_tags(hook, tag_names, manifest)
    return manifest
