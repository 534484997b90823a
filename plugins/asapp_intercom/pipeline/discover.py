"""Discovery: an audit of what the ASAPP channels hold and what the Intercom workspace holds.

It lists (it does not download): per feed and channel the complete partitions, the files, the
batch window, what is still waiting for `_SUCCESS` and how many rows of it were already read;
ASAPP's configuration (structured-data fields, segments, redaction entities, custom vocabularies:
the configuration inventory is written from it); and in Intercom the admins, data attributes, tags
and record counts. Extraction then reads what discovery listed.
"""

from __future__ import annotations

from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.sources import FeedSource, FeedUnavailable, RequiredFeedMissing


def discover_feeds(
    sources: dict[str, FeedSource], ledger: Ledger, required: tuple[str, ...] = ()
) -> dict[str, dict]:
    """Per feed: its channel, partitions and files, what is still waiting, and what was already read. A
    feed the tenant does not have is reported as such, or stops the migration when it is a required one."""
    audit: dict[str, dict] = {}
    for name in FEEDS:
        source = sources[name]
        try:
            listing = source.list(name)
        except FeedUnavailable as missing:
            if name in required:
                raise RequiredFeedMissing(name, missing) from None
            audit[name] = {
                "channel": source.channel,
                "available": False,
                "unavailable": f"not available for this tenant ({missing})",
            }
            continue
        staged = {(row.partition, row.file_name): row for row in ledger.staged(name)}
        read = [staged.get((file.partition.path, file.name)) for file in listing.files]
        read = [
            row
            for row, file in zip(read, listing.files, strict=True)
            if row is not None and row.tag == file.tag
        ]
        partitions = listing.partitions
        audit[name] = {
            "channel": source.channel,
            "available": True,
            "partitions": len(partitions),
            "files": len(listing.files),
            "window": [partitions[0].starts_at.isoformat(), partitions[-1].starts_at.isoformat()]
            if partitions
            else None,
            "waiting_for_success": [partition.path for partition in listing.incomplete],
            "rows_already_read": sum(row.rows for row in read),
            "files_not_yet_read": len(listing.files) - len(read),
            "files_ignored": len(listing.ignored),
        }
    return audit


def discover_configuration(hook: AsappHook) -> dict:
    """Everything ASAPP's configuration API exposes: structured-data fields and segments (the migration uses
    them), redaction entities and custom vocabularies (the inventory lists them). A set ASAPP has not
    enabled for the tenant's key (403, 404) is named as not read, with ASAPP's answer."""
    fields = [
        {
            "id": item["id"],
            "name": item.get("name"),
            "type": item.get("type"),
            "category": item.get("categoryId"),
            "active": item.get("active"),
            "question": (item.get("question") or {}).get("question"),
            "entity": item.get("entity"),
            "segment_ids": item.get("segmentIds") or [],
        }
        for item in hook.structured_data_fields()
    ]
    segments = [
        {
            "id": item["id"],
            "name": item.get("name"),
            "query": (item.get("query") or {}).get("raw"),
            "field_ids": item.get("structuredDataFieldIds") or [],
        }
        for item in hook.segments()
    ]
    not_read: dict[str, str] = {}
    entities = _optional(hook.redaction_entities, "redaction_entities", not_read)
    vocabularies = _optional(hook.custom_vocabularies, "custom_vocabularies", not_read)
    return {
        "structured_data_fields": fields,
        "segments": segments,
        "redaction_entities": [
            {"id": item["id"], "description": item.get("description"), "policies": item.get("policies") or {}}
            for item in entities
        ],
        "custom_vocabularies": [
            {"phrase": item.get("phrase"), "sounds_like": item.get("soundsLike") or []}
            for item in vocabularies
        ],
        "configuration_not_read": not_read,
    }


def _optional(read, name: str, not_read: dict[str, str]) -> list[dict]:
    try:
        return read()
    except ApiError as error:
        if error.status not in {403, 404}:
            raise
        not_read[name] = f"ASAPP answered {error.status} ({error.message}): not enabled for this API key"
        return []


def _total(hook: IntercomHook, resource: str) -> int | None:
    try:
        return hook.count(resource)
    except ApiError:
        return None


def discover_intercom(hook: IntercomHook) -> dict:
    me = hook.get_me()
    admins = hook.list_admins()
    attributes = {
        model: [
            {
                "name": item["name"],
                "data_type": item.get("data_type"),
                "custom": item.get("custom", model == "conversation"),
            }
            for item in hook.list_data_attributes(model)
        ]
        for model in ("contact", "company", "conversation")
    }
    return {
        "me": {
            "id": str(me["id"]),
            "email": me.get("email"),
            "name": me.get("name"),
            "workspace": (me.get("app") or {}).get("name"),
            "workspace_id": (me.get("app") or {}).get("id_code"),
        },
        "admins": [
            {"id": str(admin["id"]), "email": admin.get("email"), "name": admin.get("name")}
            for admin in admins
        ],
        "data_attributes": attributes,
        "tags": [{"id": str(tag["id"]), "name": tag["name"]} for tag in hook.list_tags()],
        "counts": {"contacts": _total(hook, "contacts"), "conversations": _total(hook, "conversations")},
    }
