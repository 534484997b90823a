"""The schema phase: the data attributes and tags the approved map needs, before any record.

Intercom rejects a custom attribute that has no data attribute, and cannot change an
attribute's type afterwards; so existing attributes are matched by name and a type clash stops
the run here, with a message saying what to change, instead of failing record by record later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.mapping import FieldMapping


class SchemaClash(RuntimeError):
    """The workspace already has an attribute by that name with another type."""


@dataclass
class SchemaManifest:
    created: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    tag_ids: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _existing(hook: IntercomHook, model: str) -> dict[str, dict]:
    if model == "conversation":
        items = hook.call("GET", "/conversations/attributes", params={"include_archived": "true"}).get("data", [])
    else:
        items = hook.call("GET", "/data_attributes", params={"model": model, "include_archived": "true"}).get("data", [])
    return {item["name"].lower(): item for item in items}


def ensure_attributes(hook: IntercomHook, entries: list[FieldMapping], manifest: SchemaManifest) -> None:
    wanted = [entry for entry in entries if entry.attribute]
    for model in sorted({entry.target_object for entry in wanted}):
        existing = _existing(hook, model)
        for entry in (item for item in wanted if item.target_object == model):
            label = f"{model}.{entry.attribute}"
            found = existing.get(entry.attribute.lower())
            if found is None:
                body = {"name": entry.attribute, "data_type": entry.data_type,
                        "description": f"Migrated from ASAPP {entry.source}"}
                if model == "conversation":
                    hook.call("POST", "/conversations/attributes", body)
                else:
                    hook.call("POST", "/data_attributes", body | {"model": model})
                manifest.created.append(label)
                continue
            if found.get("archived"):
                raise SchemaClash(f"{label} exists in Intercom but is archived: unarchive it, or map "
                                  f"{entry.source} to another name")
            if found.get("data_type") != entry.data_type:
                raise SchemaClash(f"{label} exists in Intercom as {found.get('data_type')}, but the map sends "
                                  f"{entry.source} as {entry.data_type}: Intercom cannot change an attribute's "
                                  "type, so change the type or the name in the map")
            manifest.matched.append(label)


def ensure_tags(hook: IntercomHook, names: list[str], manifest: SchemaManifest) -> None:
    """POST /tags finds or creates by name (case-insensitively), so this is safe to repeat."""
    for name in sorted(set(names)):
        manifest.tag_ids[name] = str(hook.call("POST", "/tags", {"name": name})["id"])


def ensure_schema(hook: IntercomHook, entries: list[FieldMapping], tag_names: list[str]) -> SchemaManifest:
    manifest = SchemaManifest()
    ensure_attributes(hook, entries, manifest)
    ensure_tags(hook, tag_names, manifest)
    return manifest
