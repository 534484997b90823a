"""The configuration inventory and the Intercom implementation guide: what the Intercom team must know
about ASAPP's setup that no record carries.

The inventory lists what ASAPP's configuration API exposes (segments with their queries and fields,
structured-data fields, redaction entities, custom vocabularies) and names what ASAPP does not export
at all. The guide says, item by item, which Intercom feature it becomes, what the migration already
made for it (tags, data attributes, from the ledger) and what a person must still build. Both are
written per migration (`inventory/` in the staging area), from the latest run's discovery, and linked
from that run's report. No Airflow and no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asapp_intercom.domain.objects import SchemaObject

STRUCTURED_SOURCE = "autosummary_structured_data.structured_data_field_value[{}]"
"""The field map's source name of one structured-data field (domain/mapping.py proposes it)."""

NOT_EXPORTED = (
    {
        "item": "Routing rules (queues, agent routing codes, business hours, queue capping)",
        "why": "no ASAPP API exports them; the real-time feed only reports that a setting changed",
        "becomes": "Intercom teams, Inbox assignment rules (Workflows) and office hours",
        "to_build": "Create a team per ASAPP queue, then assignment Workflows that route as the queues did; "
        "set office hours from ASAPP's business hours.",
    },
    {
        "item": "AI model settings (AutoSummary, AutoCompose, virtual agent tuning)",
        "why": "ASAPP's models and their settings are ASAPP's own and are not exported",
        "becomes": "Fin AI Agent settings and Fin procedures",
        "to_build": "Set up Fin with the workspace's content; write Fin procedures for the flows the virtual "
        "agent handled.",
    },
    {
        "item": "Intents (the classifier, its intent tree and training)",
        "why": "the intents feed lists codes and names; the classifier and its training are not exported",
        "becomes": "conversation topics or a conversation data attribute, filled by Fin or a Workflow",
        "to_build": "Recreate the intents a report or a routing rule needs as topics or as the values of a "
        "conversation attribute.",
    },
    {
        "item": "Workflows and flows (virtual agent flows, flow nodes)",
        "why": "ASAPP exports which flow node a conversation passed, not the flows themselves",
        "becomes": "Intercom Workflows and Fin procedures",
        "to_build": "Rebuild each flow as a Workflow (or a Fin procedure where an answer is generated).",
    },
)

POLICY_NAMES = {
    "customerImmediate": "customer, immediately",
    "customerDelayed": "customer, after confirmation",
    "agentImmediate": "agent, immediately",
    "autoTranscribe": "transcripts",
    "voice": "voice",
}


def build_inventory(migration_id: str, run_id: str, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory as data (inventory.json), from discovery's reading of the configuration API."""
    fields = configuration.get("structured_data_fields") or []
    segments_of: dict[str, list[str]] = {}
    for segment in configuration.get("segments") or []:
        for field_id in segment["field_ids"]:
            segments_of.setdefault(field_id, []).append(segment["id"])
    return {
        "migration_id": migration_id,
        "read_by_run": run_id,
        "segments": [
            {**segment, "fields": segment["field_ids"]}
            for segment in sorted(configuration.get("segments") or [], key=lambda item: item["id"])
        ],
        "structured_data_fields": [
            {
                **item,
                "validation": _validation(item),
                "segment_ids": sorted(
                    set(item.get("segment_ids") or []) | set(segments_of.get(item["id"], []))
                ),
            }
            for item in sorted(fields, key=lambda item: item["id"])
        ],
        "redaction_entities": sorted(
            configuration.get("redaction_entities") or [], key=lambda item: item["id"]
        ),
        "custom_vocabularies": configuration.get("custom_vocabularies") or [],
        "not_read": dict(configuration.get("configuration_not_read") or {}),
        "not_exported": [dict(item) for item in NOT_EXPORTED],
    }


def _validation(field: Mapping[str, Any]) -> str:
    """What ASAPP accepts as the field's value, as its type says."""
    if field.get("type") == "QUESTION":
        return "Yes / No answer to the question"
    entity = field.get("entity") or {}
    examples = ", ".join(str(example) for example in entity.get("examples") or [])
    return "free text extracted by AutoSummary" + (f" (e.g. {examples})" if examples else "")


def build_guide(
    inventory: Mapping[str, Any], field_map: list[Mapping[str, Any]], schema: Mapping[tuple[str, str], str]
) -> list[dict[str, Any]]:
    """Per inventory item: the Intercom feature, what the migration made for it and what is left to build.
    `field_map` is the run's approved map; `schema` the ledger's schema objects, (kind, key) → origin."""
    targets = {entry["source"]: entry for entry in field_map if entry.get("target")}
    guide = []
    for segment in inventory["segments"]:
        tag = segment.get("name") or segment["id"]
        guide.append(
            {
                "kind": "segment",
                "item": f"{segment['id']} ({tag})",
                "becomes": "a tag on the conversations it matches, applied by a Workflow rule",
                "created": _made(schema, SchemaObject.TAG, tag.lower(), f"tag `{tag}`"),
                "to_build": f"A Workflow that tags new conversations matching `{segment.get('query')}` with "
                f"`{tag}` (migrated conversations carry it already); a team or assignment rule if the "
                "segment routed work.",
            }
        )
    for field in inventory["structured_data_fields"]:
        entry = targets.get(STRUCTURED_SOURCE.format(field["id"]))
        attribute = entry["target"].removeprefix("custom_attributes.") if entry else None
        created = (
            _made(
                schema,
                SchemaObject.DATA_ATTRIBUTE,
                f"{entry['target_object']}.{attribute}",
                f"conversation attribute `{attribute}`",
            )
            if entry
            else ["nothing: the approved field map does not migrate it"]
        )
        asked = field.get("question") or (field.get("entity") or {}).get("description") or field.get("name")
        guide.append(
            {
                "kind": "structured-data field",
                "item": f"{field['id']} ({field.get('name')})",
                "becomes": "a conversation data attribute (a ticket attribute for tickets), filled by Fin",
                "created": created,
                "to_build": (
                    "Nothing: the field is inactive in ASAPP."
                    if field.get("active") is False
                    else f"Have Fin (or a Workflow) fill `{attribute or field['id']}` on new conversations: "
                    f"{asked}"
                ),
            }
        )
    for entity in inventory["redaction_entities"]:
        enabled = [POLICY_NAMES.get(name, name) for name, on in sorted(entity["policies"].items()) if on]
        guide.append(
            {
                "kind": "redaction entity",
                "item": f"{entity['id']} ({entity.get('description') or ''})".strip(),
                "becomes": "Intercom's redaction of conversation parts, and Fin's handling of personal data",
                "created": ["nothing: Intercom's API does not configure redaction"],
                "to_build": (
                    f"Redact {entity['id']} as ASAPP did (for: {'; '.join(enabled)})."
                    if enabled
                    else "Nothing: ASAPP does not redact it."
                ),
            }
        )
    for vocabulary in inventory["custom_vocabularies"]:
        guide.append(
            {
                "kind": "custom vocabulary",
                "item": vocabulary["phrase"],
                "becomes": "Fin content (a snippet naming the term)",
                "created": ["nothing"],
                "to_build": f"Add `{vocabulary['phrase']}` (said as {', '.join(vocabulary['sounds_like'])}) "
                "to Fin's content.",
            }
        )
    for item in inventory["not_exported"]:
        guide.append(
            {
                "kind": "not exported by ASAPP",
                "item": item["item"],
                "becomes": item["becomes"],
                "created": ["nothing: ASAPP does not export it"],
                "to_build": item["to_build"],
            }
        )
    return guide


def _made(schema: Mapping[tuple[str, str], str], kind: str, key: str, what: str) -> list[str]:
    origin = schema.get((str(kind), key))
    if origin is None:
        return [f"nothing yet: {what} is made by the first run that writes to Intercom"]
    return [f"{what} ({'created by the migration' if origin == 'created' else 'was already in Intercom'})"]


def inventory_markdown(inventory: Mapping[str, Any]) -> str:
    lines = [
        f"# ASAPP configuration inventory: {inventory['migration_id']}",
        "",
        f"Read through ASAPP's configuration API by run `{inventory['read_by_run']}`. The implementation "
        "guide (implementation_guide.md) says what each item becomes in Intercom.",
        "",
        f"## Segments ({len(inventory['segments'])})",
        "",
    ]
    lines += _table(
        ["id", "name", "query", "structured-data fields"],
        [
            [item["id"], item.get("name"), f"`{item.get('query')}`", ", ".join(item["fields"])]
            for item in inventory["segments"]
        ],
    )
    lines += ["", f"## Structured-data fields ({len(inventory['structured_data_fields'])})", ""]
    lines += _table(
        ["id", "name", "type", "category", "active", "validation", "segments"],
        [
            [
                item["id"],
                item.get("name"),
                item.get("type"),
                item.get("category"),
                "yes" if item.get("active") else "no",
                item["validation"],
                ", ".join(item["segment_ids"]),
            ]
            for item in inventory["structured_data_fields"]
        ],
    )
    lines += ["", f"## Redaction entities ({len(inventory['redaction_entities'])})", ""]
    lines += _table(
        ["id", "description", *POLICY_NAMES.values()],
        [
            [item["id"], item.get("description")]
            + ["yes" if item["policies"].get(name) else "no" for name in POLICY_NAMES]
            for item in inventory["redaction_entities"]
        ],
    )
    lines += ["", f"## Custom vocabularies ({len(inventory['custom_vocabularies'])})", ""]
    lines += _table(
        ["phrase", "sounds like"],
        [[item["phrase"], ", ".join(item["sounds_like"])] for item in inventory["custom_vocabularies"]],
    )
    if inventory["not_read"]:
        lines += ["", "## Not read", ""]
        lines += [f"- {name}: {why}" for name, why in sorted(inventory["not_read"].items())]
    lines += ["", "## What ASAPP does not export", ""]
    lines += [f"- **{item['item']}**: {item['why']}." for item in inventory["not_exported"]]
    return "\n".join(lines) + "\n"


def guide_markdown(migration_id: str, guide: list[Mapping[str, Any]]) -> str:
    lines = [
        f"# Intercom implementation guide: {migration_id}",
        "",
        "For each item of the configuration inventory (inventory.md): the Intercom feature it becomes, what "
        "the migration already made for it, and what a person must still build.",
    ]
    for kind in dict.fromkeys(item["kind"] for item in guide):
        lines += ["", f"## {kind[0].upper()}{kind[1:]}", ""]
        lines += _table(
            ["item", "in Intercom", "made by the migration", "to build"],
            [
                [item["item"], item["becomes"], "; ".join(item["created"]), item["to_build"]]
                for item in guide
                if item["kind"] == kind
            ],
        )
    return "\n".join(lines) + "\n"


def _table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["None."]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        lines.append(
            "| " + " | ".join(str(cell if cell is not None else "").replace("|", "/") for cell in row) + " |"
        )
    return lines
