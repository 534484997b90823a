"""The field map: which ASAPP field goes where in Intercom, proposed from what discovery saw.

Every field discovery saw gets an entry: a target object, an attribute or built-in field, an
Intercom data type, a confidence, and flags for lossy conversions. Core entries (identity,
relations, message bodies and times) are what the migration is; a person can rename, retype or
drop the others, and map columns the proposal left out. The approved map's hash is what an
approval is recorded against, so an unchanged map is not asked about twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from asapp_intercom.domain.feeds import FEEDS, JSON_TYPES, SQL_TYPES

TargetObject = Literal["company", "contact", "conversation"]

CUSTOM_TYPES = {
    "company": {"string"},
    "contact": {"string", "integer", "float", "boolean", "datetime", "date"},
    "conversation": {"string", "integer", "datetime"},
}
"""Attribute types whose values Intercom's API accepts, per its request schemas (REST 2.16): company
custom_attributes take string values only, conversation ones string, integer or datetime (UNIX time)."""
ATTRIBUTE_NAME = re.compile(r"^[\w \-$€£¥]{1,190}$")
"""Letters, digits, spaces, underscores, hyphens and currency symbols, as Intercom allows."""


def attribute_name(target: str | None) -> str | None:
    """The custom attribute a map target names, if it names one ("custom_attributes.<name>")."""
    if target and target.startswith("custom_attributes."):
        return target.removeprefix("custom_attributes.")
    return None


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    """feed.column, or feed.column[key] for key/value data (params, attributes, structured data)."""
    source_type: str
    target_object: TargetObject | None = None
    target: str | None = None
    """A built-in field ("email", "created_at"…), "custom_attributes.<name>", or None: not migrated."""
    data_type: str | None = None
    confidence: float
    lossy: bool = False
    core: bool = False
    note: str = ""

    @property
    def attribute(self) -> str | None:
        """The custom attribute's name, when the target is one."""
        return attribute_name(self.target)


class FieldMapError(ValueError):
    """An edit that would make the map unusable; the message says which entry and why."""


@dataclass
class DiscoveredSchema:
    """What discovery saw in the staged feeds, as the proposal needs it."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    """feed → column → type seen (DuckDB JSON types, or the catalog type when typed)."""
    first_seen: dict[str, dict[str, str]] = field(default_factory=dict)
    """feed → column → partition where it first appears (a late first appearance is schema drift)."""
    param_keys: list[str] = field(default_factory=list)
    customer_attributes: list[str] = field(default_factory=list)
    company_attributes: list[str] = field(default_factory=list)
    feedback_questions: list[str] = field(default_factory=list)
    structured_fields: list[dict] = field(default_factory=list)
    """[{id, name, type: QUESTION|ENTITY}] from the configuration API and the feed."""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "value"


def _core(source, source_type, obj, target, data_type, note) -> FieldMapping:
    return FieldMapping(
        source=source,
        source_type=source_type,
        target_object=obj,
        target=target,
        data_type=data_type,
        confidence=1.0,
        core=True,
        note=note,
    )


# Fields the migration is built on: identities, relations, the thread itself. Not editable.
CORE: dict[str, tuple[TargetObject, str, str, str]] = {
    "companies.company_external_id": (
        "company",
        "company_id",
        "string",
        "Intercom's upsert key for companies",
    ),
    "companies.name": ("company", "name", "string", ""),
    "companies.website": ("company", "website", "string", "when empty, https://<domain> is used"),
    "companies.domain": (
        "company",
        "website",
        "string",
        "website derived from the domain when ASAPP has none",
    ),
    "companies.industry": ("company", "industry", "string", ""),
    "companies.size": ("company", "size", "integer", ""),
    "companies.plan": ("company", "plan", "string", ""),
    "companies.created_ts": ("company", "remote_created_at", "datetime", ""),
    "customers.customer_id": (
        "contact",
        "custom_attributes.asapp_customer_id",
        "string",
        "lineage: the ASAPP customer id (several when emails differ only in case)",
    ),
    "customers.external_customer_id": ("contact", "external_id", "string", ""),
    "customers.email_address": ("contact", "email", "string", "contacts are matched by email, ignoring case"),
    "customers.name": ("contact", "name", "string", ""),
    "customers.phone_number": ("contact", "phone", "string", ""),
    "customers.first_seen_ts": ("contact", "signed_up_at", "datetime", ""),
    "customers.last_seen_ts": ("contact", "last_seen_at", "datetime", ""),
    "customers.company_external_id": (
        "contact",
        "companies",
        "relation",
        "the contact is attached to its company",
    ),
    "convos_metadata.issue_id": (
        "conversation",
        "custom_attributes.asapp_issue_id",
        "string",
        "lineage: the ASAPP issue id",
    ),
    "convos_metadata.customer_id": ("conversation", "contacts", "relation", "the conversation's contact"),
    "convos_metadata.issue_created_ts": ("conversation", "created_at", "datetime", ""),
    "convos_metadata.conversation_end_ts": ("conversation", "state", "string", "closed when the issue ended"),
    "convos_metadata.last_rep_id": (
        "conversation",
        "admin_assignee_id",
        "relation",
        "agent's email matched to an Intercom admin; unassigned otherwise",
    ),
    "convos_metadata.company_segments": ("conversation", "tags", "tag", "each segment becomes a tag"),
    "utterances.utterance": (
        "conversation",
        "conversation_parts.body",
        "string",
        "HTML-escaped, never rendered",
    ),
    "utterances.created_ts": ("conversation", "conversation_parts.created_at", "datetime", "original time"),
    "utterances.sender_type": (
        "conversation",
        "conversation_parts.author",
        "relation",
        "customer → contact reply; rep → admin comment; bot → bot admin; rep_note/rep_whisper → admin note",
    ),
    "utterances.sender_id": ("conversation", "conversation_parts.author", "relation", "customer or agent"),
    "utterances.event_uuid": (
        "conversation",
        "conversation_parts.identity",
        "string",
        "identifies the part, so a retry never posts it twice",
    ),
    "utterances.issue_id": ("conversation", "conversation_parts", "relation", ""),
    "reps.rep_id": ("conversation", "admin_assignee_id", "relation", "via the agent's email"),
    "reps.name": (
        "conversation",
        "conversation_parts.author",
        "string",
        "named in the part when the agent has no Intercom admin",
    ),
    "rep_attributes.attribute_value": (
        "conversation",
        "admin_assignee_id",
        "relation",
        "the agent's email (attribute_name = email) → Intercom admin",
    ),
    "file_uploads.file_upload_event_id": (
        "conversation",
        "conversation_parts.attachments",
        "relation",
        "binary re-hosted in Intercom",
    ),
    "file_uploads.file_name": ("conversation", "conversation_parts.attachments.name", "string", ""),
    "file_uploads.file_mime_type": (
        "conversation",
        "conversation_parts.attachments.content_type",
        "string",
        "",
    ),
    "file_uploads.file_upload_ts": (
        "conversation",
        "conversation_parts.created_at",
        "datetime",
        "original time",
    ),
    "file_uploads.sender_type": ("conversation", "conversation_parts.author", "relation", ""),
    "file_uploads.issue_id": ("conversation", "conversation_parts", "relation", ""),
}

# Proposed custom attributes: (object, attribute, Intercom type, confidence, lossy, note).
SUGGESTED: dict[str, tuple[TargetObject, str, str, float, bool, str]] = {
    "customers.address_country": ("contact", "asapp_address_country", "string", 0.9, False, ""),
    "customers.address_state": ("contact", "asapp_address_state", "string", 0.9, False, ""),
    "customers.address_zipcode": ("contact", "asapp_address_zipcode", "string", 0.9, False, ""),
    "customers.status": ("contact", "asapp_status", "string", 0.7, False, ""),
    "customers.user_id": ("contact", "asapp_user_id", "string", 0.7, False, ""),
    "customers.external_user_type": ("contact", "asapp_external_user_type", "string", 0.6, False, ""),
    "convos_metadata.csat_rating": (
        "conversation",
        "asapp_csat_rating",
        "integer",
        0.8,
        True,
        "Intercom's conversation_rating is read-only through the API, and conversation "
        "attributes take no fractions: a fractional rating is quarantined",
    ),
    "convos_metadata.sentiment_valence": ("conversation", "asapp_sentiment", "string", 0.8, False, ""),
    "convos_metadata.platform": ("conversation", "asapp_platform", "string", 0.8, False, ""),
    "convos_metadata.device_type": ("conversation", "asapp_device_type", "string", 0.8, False, ""),
    "convos_metadata.issue_queue_name": ("conversation", "asapp_queue", "string", 0.8, False, ""),
    "convos_metadata.company_subdivision": ("conversation", "asapp_subdivision", "string", 0.7, False, ""),
    "convos_metadata.disposition_event_type": ("conversation", "asapp_disposition", "string", 0.8, False, ""),
    "convos_metadata.disposition_notes": (
        "conversation",
        "asapp_disposition_notes",
        "string",
        0.8,
        False,
        "",
    ),
    "convos_metadata.termination_event_type": ("conversation", "asapp_ended_by", "string", 0.7, False, ""),
    "convos_metadata.language_code": ("conversation", "asapp_language", "string", 0.8, False, ""),
}

NOT_MIGRATED_NOTES = {
    "company_name": "the ASAPP tenant, the same on every row",
    "company_marker": "the ASAPP tenant, the same on every row",
    "dt": "partition date",
    "hr": "partition hour",
    "instance_ts": "export window of the row",
}


def _source_type(feed: str, column: str, seen: str) -> str:
    declared = FEEDS[feed].types.get(column) if feed in FEEDS else None
    return SQL_TYPES[declared][1] if declared else JSON_TYPES.get(seen, "string")


def _keyed(
    source: str,
    obj: TargetObject,
    attribute: str,
    data_type: str,
    confidence: float,
    note: str,
    lossy: bool = False,
) -> FieldMapping:
    return FieldMapping(
        source=source,
        source_type="string",
        target_object=obj,
        target=f"custom_attributes.{attribute}",
        data_type=data_type,
        confidence=confidence,
        lossy=lossy,
        note=note,
    )


def propose(schema: DiscoveredSchema) -> list[FieldMapping]:
    """One entry per field discovery saw, plus the key/value fields (params, attributes, structured data)."""
    entries: list[FieldMapping] = []
    for feed in sorted(schema.columns):
        first_partition = min(schema.first_seen.get(feed, {}).values(), default=None)
        for column in sorted(schema.columns[feed]):
            source = f"{feed}.{column}"
            source_type = _source_type(feed, column, schema.columns[feed][column])
            if source in CORE:
                obj, target, data_type, note = CORE[source]
                entries.append(_core(source, source_type, obj, target, data_type, note))
            elif source in SUGGESTED:
                obj, attribute, data_type, confidence, lossy, note = SUGGESTED[source]
                entries.append(
                    FieldMapping(
                        source=source,
                        source_type=source_type,
                        target_object=obj,
                        target=f"custom_attributes.{attribute}",
                        data_type=data_type,
                        confidence=confidence,
                        lossy=lossy,
                        note=note,
                    )
                )
            elif column in {
                "attributes",
                "param_key",
                "param_value",
                "answer",
                "structured_data_field_value",
            }:
                continue  # expanded per key below
            else:
                first = schema.first_seen.get(feed, {}).get(column)
                drift = first is not None and first_partition is not None and first > first_partition
                note = NOT_MIGRATED_NOTES.get(column, "no Intercom equivalent proposed; map it to keep it")
                if drift:
                    note = f"new column, first seen in {first}; not migrated unless you map it"
                entries.append(
                    FieldMapping(
                        source=source, source_type=source_type, confidence=0.2 if drift else 0.5, note=note
                    )
                )
    entries += [
        _keyed(
            f"customers.attributes[{name}]",
            "contact",
            slug(name),
            "string",
            0.7,
            "customer metadata attribute",
        )
        for name in sorted(schema.customer_attributes)
    ]
    entries += [
        _keyed(
            f"companies.attributes[{name}]",
            "company",
            slug(name),
            "string",
            0.7,
            "company metadata attribute",
        )
        for name in sorted(schema.company_attributes)
    ]
    entries += [
        _keyed(
            f"customer_params.param_value[{key}]",
            "conversation",
            f"asapp_param_{slug(key)}",
            "string",
            0.6,
            "client-sent parameter",
        )
        for key in sorted(schema.param_keys)
    ]
    entries += [
        _keyed(
            f"customer_feedback.answer[{question}]",
            "conversation",
            f"asapp_feedback_{slug(question)}",
            "string",
            0.7,
            "survey answer (latest)",
        )
        for question in sorted(schema.feedback_questions)
    ]
    for spec in sorted(schema.structured_fields, key=lambda item: item["id"]):
        kind = "a Yes/No answer" if spec.get("type") == "QUESTION" else "an extracted entity"
        entries.append(
            _keyed(
                f"autosummary_structured_data.structured_data_field_value[{spec['id']}]",
                "conversation",
                f"asapp_sd_{slug(spec['id'])}",
                "string",
                0.8,
                f"AI Summary structured data, {kind}: {spec.get('name') or spec['id']}",
            )
        )
    return _unique_attribute_names(entries)


def _unique_attribute_names(entries: list[FieldMapping]) -> list[FieldMapping]:
    """Two fields whose names slug alike ("Plan Tier", "plan_tier") get plan_tier and plan_tier_2."""
    taken = {
        (entry.target_object, entry.attribute.lower()) for entry in entries if entry.core and entry.attribute
    }
    unique = []
    for entry in entries:
        if entry.core or not entry.attribute:
            unique.append(entry)
            continue
        name, number = entry.attribute, 1
        while (entry.target_object, name.lower()) in taken:
            number += 1
            name = f"{entry.attribute}_{number}"
        taken.add((entry.target_object, name.lower()))
        unique.append(
            entry
            if name == entry.attribute
            else entry.model_copy(update={"target": f"custom_attributes.{name}"})
        )
    return unique


def apply_overrides(entries: list[FieldMapping], overrides: dict[str, dict]) -> list[FieldMapping]:
    """A person's edits, keyed by source: {"target": …, "data_type": …, "target_object": …}."""
    by_source = {entry.source: entry for entry in entries}
    edited = dict(by_source)
    for source, change in (overrides or {}).items():
        if source not in by_source:
            raise FieldMapError(f"{source}: no such field in the proposed map")
        entry = by_source[source]
        if entry.core:
            raise FieldMapError(f"{source}: a core field of the migration cannot be edited")
        unknown = set(change) - {"target", "data_type", "target_object"}
        if unknown:
            raise FieldMapError(
                f"{source}: only target, data_type and target_object can be edited, not {sorted(unknown)}"
            )
        values = entry.model_dump() | change | {"confidence": 1.0, "note": (entry.note + " (edited)").strip()}
        if values.get("target") is None:
            values.update(target_object=None, data_type=None)
        try:
            edited[source] = FieldMapping.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, issue['loc']))}: {issue['msg']}" for issue in error.errors()
            )
            raise FieldMapError(f"{source}: {problems}") from None
    result = list(edited.values())
    validate(result)
    return result


def validate(entries: Iterable[FieldMapping]) -> None:
    """Refuse maps Intercom would refuse: bad names, types an object cannot hold, one name used twice."""
    entries = list(entries)
    seen: dict[tuple[str, str], str] = {
        (entry.target_object, entry.attribute.lower()): entry.source
        for entry in entries
        if entry.core and entry.attribute
    }
    for entry in entries:
        attribute = entry.attribute
        if entry.target is None or entry.core:
            continue
        if attribute is None:
            raise FieldMapError(f"{entry.source}: target must be custom_attributes.<name> (or null to skip)")
        if entry.target_object not in CUSTOM_TYPES:
            raise FieldMapError(f"{entry.source}: target_object must be one of {sorted(CUSTOM_TYPES)}")
        if not ATTRIBUTE_NAME.match(attribute):
            raise FieldMapError(
                f"{entry.source}: attribute name {attribute!r} may only hold letters, digits, "
                "spaces, underscores, hyphens and currency symbols"
            )
        if entry.data_type not in CUSTOM_TYPES[entry.target_object]:
            raise FieldMapError(
                f"{entry.source}: {entry.target_object} attributes cannot be of type "
                f"{entry.data_type!r} (allowed: {', '.join(sorted(CUSTOM_TYPES[entry.target_object]))})"
            )
        key = (entry.target_object, attribute.lower())
        if key in seen:
            raise FieldMapError(f"{entry.source}: attribute {attribute!r} is also the target of {seen[key]}")
        seen[key] = entry.source


def map_hash(entries: Iterable[FieldMapping]) -> str:
    canonical = json.dumps([entry.model_dump() for entry in entries], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def custom_attributes(entries: Iterable[FieldMapping], target_object: str) -> list[FieldMapping]:
    """The mapped custom attributes of one Intercom object, core lineage attributes included."""
    return [entry for entry in entries if entry.target_object == target_object and entry.attribute]


def to_markdown(entries: list[FieldMapping]) -> str:
    """The map as a table a reviewer can read in the approval form and the report."""
    lines = ["| ASAPP field | → Intercom | type | confidence | notes |", "|---|---|---|---|---|"]
    for entry in entries:
        target = f"{entry.target_object}.{entry.target}" if entry.target else "*not migrated*"
        flags = " ".join(flag for flag, on in (("core", entry.core), ("LOSSY", entry.lossy)) if on)
        note = " ".join(part for part in (flags, entry.note) if part).replace("|", "/")
        lines.append(
            f"| `{entry.source}` ({entry.source_type}) | {target} | {entry.data_type or ''} "
            f"| {entry.confidence:.1f} | {note} |"
        )
    return "\n".join(lines)
