"""The schema phase: the data attributes and tags the approved map needs, before any record.

Intercom rejects a custom attribute that has no data attribute, and cannot change an
attribute's type afterwards; so existing attributes are matched by name and a type clash stops
the run here, with a message saying what to change, instead of failing record by record later.
Creating is idempotent: when Intercom's answer to a create is lost (or it says the name is taken),
the attributes are listed again, and one of that name and type counts as made.

Each attribute and tag is kept in the ledger as made (origin "created", the intent written before the
call) or found (origin "existing"), so that a rollback archives and deletes what the migration made and
nothing else. An attribute a rollback archived is taken back into use by a later run.
"""

from __future__ import annotations

import hashlib

from asapp_intercom.domain.manifests import SchemaManifest
from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.objects import SchemaObject
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.intercom import IntercomHook, refuses_the_record
from asapp_intercom.ledger import Ledger

CREATE_ATTEMPTS = 4


class SchemaClash(RuntimeError):
    """The workspace already has an attribute by that name with another type."""


def _existing(hook: IntercomHook, model: str) -> dict[str, dict]:
    return {item["name"].lower(): item for item in hook.list_data_attributes(model, include_archived=True)}


def _create(hook: IntercomHook, model: str, entry: FieldMapping) -> dict:
    """Create the attribute; after an answer that leaves it unknown whether it exists, look, then try
    again."""
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return hook.create_data_attribute(
                model, entry.attribute, entry.data_type, f"Migrated from ASAPP {entry.source}"
            )
        except ApiError as error:
            taken = error.status == 400 and "already have" in error.message.lower()
            if (refuses_the_record(error) and not taken) or attempt == CREATE_ATTEMPTS:
                raise
        found = _existing(hook, model).get(entry.attribute.lower())
        if found is not None and found.get("data_type") == entry.data_type and not found.get("archived"):
            return found
    raise AssertionError("unreachable")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Schema:
    """The schema phase of one run: what it finds and makes, on record in the ledger as it goes."""

    def __init__(self, hook: IntercomHook, ledger: Ledger, run_id: str):
        self.hook, self.ledger, self.run_id = hook, ledger, run_id

    def _keep(self, kind: SchemaObject, key: str, intercom_id: str, origin: str, digest: str) -> None:
        record = self.ledger.record(kind, key)
        if record is not None and record.state == "done" and record.intercom_id == intercom_id:
            return
        if record is not None and record.state == "pending":
            origin = record.origin or origin  # our own intent: what a lost answer made is ours
        self.ledger.complete(
            kind,
            key,
            intercom_id=intercom_id,
            action="created" if origin == "created" else "unchanged",
            origin=origin,
            payload_hash=digest,
            run_id=self.run_id,
        )

    def ensure_attributes(self, entries: list[FieldMapping], manifest: SchemaManifest) -> None:
        wanted = [entry for entry in entries if entry.attribute]
        for model in sorted({entry.target_object for entry in wanted}):
            existing = _existing(self.hook, model)
            for entry in (item for item in wanted if item.target_object == model):
                label = f"{model}.{entry.attribute}"
                digest = _digest(model, entry.attribute, entry.data_type)
                found = existing.get(entry.attribute.lower())
                if found is None:
                    if self.ledger.record(SchemaObject.DATA_ATTRIBUTE, label) is None:
                        self.ledger.begin(SchemaObject.DATA_ATTRIBUTE, label, self.run_id, origin="created")
                    made = _create(self.hook, model, entry)
                    self._keep(SchemaObject.DATA_ATTRIBUTE, label, str(made["id"]), "created", digest)
                    manifest.created.append(label)
                    continue
                if found.get("data_type") != entry.data_type:
                    raise SchemaClash(
                        f"{label} exists in Intercom as {found.get('data_type')}, but the map sends "
                        f"{entry.source} as {entry.data_type}: Intercom cannot change an attribute's "
                        "type, so change the type or the name in the map"
                    )
                if found.get("archived"):
                    self._unarchive_ours(label, model, found)
                    self._keep(SchemaObject.DATA_ATTRIBUTE, label, str(found["id"]), "created", digest)
                    manifest.created.append(label)
                    continue
                self._keep(SchemaObject.DATA_ATTRIBUTE, label, str(found["id"]), "existing", digest)
                manifest.matched.append(label)

    def _unarchive_ours(self, label: str, model: str, found: dict) -> None:
        """An archived attribute is taken back only when a rollback of this migration archived it."""
        undone = self.ledger.rolled_back(SchemaObject.DATA_ATTRIBUTE, label)
        if undone is None or undone.outcome != "archived" or undone.intercom_id != str(found["id"]):
            raise SchemaClash(
                f"{label} exists in Intercom but is archived: unarchive it, or map it to another name"
            )
        self.ledger.begin(SchemaObject.DATA_ATTRIBUTE, label, self.run_id, origin="created")
        self.hook.unarchive_data_attribute(str(found["id"]))

    def ensure_tags(self, names: list[str], manifest: SchemaManifest) -> None:
        """POST /tags finds or creates by name (case-insensitively), so this is safe to repeat; whether the
        workspace had the tag is decided (and kept) before the first call."""
        wanted = sorted({name.lower(): name for name in names}.items())
        existing = {tag["name"].lower() for tag in self.hook.list_tags()} if wanted else set()
        for key, name in wanted:
            if self.ledger.record(SchemaObject.TAG, key) is None:
                origin = "existing" if key in existing else "created"
                self.ledger.begin(SchemaObject.TAG, key, self.run_id, origin=origin)
            tag_id = str(self.hook.find_or_create_tag(name)["id"])
            self._keep(SchemaObject.TAG, key, tag_id, "existing" if key in existing else "created", key)
        for name in sorted(set(names)):
            record = self.ledger.record(SchemaObject.TAG, name.lower())
            manifest.tag_ids[name] = record.intercom_id


def ensure_schema(
    hook: IntercomHook, ledger: Ledger, run_id: str, entries: list[FieldMapping], tag_names: list[str]
) -> SchemaManifest:
    manifest = SchemaManifest()
    schema = Schema(hook, ledger, run_id)
    schema.ensure_attributes(entries, manifest)
    schema.ensure_tags(tag_names, manifest)
    return manifest
