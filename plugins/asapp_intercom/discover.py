"""Discovery: an audit of what the ASAPP channels hold and what the Intercom workspace holds.

It lists (it does not download): per feed and channel the complete partitions, the files, the
batch window, what is still waiting for `_SUCCESS` and how many rows of it were already read;
ASAPP's structured-data fields and segments; and in Intercom the admins, data attributes, tags
and record counts. Extraction then reads what discovery listed.
"""

from __future__ import annotations

from asapp_intercom.feeds import FEEDS
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.sources import FeedSource
from asapp_intercom.staging import Staging
from asapp_intercom.transform import create_feed_views


def discover_feeds(sources: dict[str, FeedSource], ledger: Ledger) -> dict[str, dict]:
    audit = {}
    for name in FEEDS:
        source = sources[name]
        listing = source.list(name)
        staged = {(row.partition, row.file_name): row for row in ledger.staged(name)}
        read = [staged.get((file.partition.path, file.name)) for file in listing.files]
        read = [row for row, file in zip(read, listing.files, strict=True) if row is not None and row.tag == file.tag]
        partitions = listing.partitions
        audit[name] = {
            "channel": source.channel,
            "partitions": len(partitions),
            "files": len(listing.files),
            "window": [partitions[0].starts_at.isoformat(), partitions[-1].starts_at.isoformat()] if partitions else None,
            "waiting_for_success": [partition.path for partition in listing.incomplete],
            "rows_already_read": sum(row.rows for row in read),
            "files_not_yet_read": len(listing.files) - len(read),
        }
    return audit


def discover_configuration(hook: AsappHook) -> dict:
    """Structured-data fields and segments, through ASAPP's configuration API."""
    fields = [{"id": item["id"], "name": item.get("name"), "type": item.get("type"), "active": item.get("active"),
               "segment_ids": item.get("segmentIds") or []} for item in hook.structured_data_fields()]
    segments = [{"id": item["id"], "name": item.get("name"), "query": (item.get("query") or {}).get("raw"),
                 "field_ids": item.get("structuredDataFieldIds") or []} for item in hook.segments()]
    return {"structured_data_fields": fields, "segments": segments}


def _total(hook: IntercomHook, path: str) -> int | None:
    try:
        return (hook.call("GET", path, params={"per_page": 1}) or {}).get("total_count")
    except ApiError:
        return None


def discover_intercom(hook: IntercomHook) -> dict:
    me = hook.call("GET", "/me")
    admins = hook.call("GET", "/admins").get("admins", [])
    attributes = {model: [{"name": item["name"], "data_type": item.get("data_type"), "custom": item.get("custom")}
                          for item in hook.call("GET", "/data_attributes", params={"model": model}).get("data", [])]
                  for model in ("contact", "company")}
    attributes["conversation"] = [{"name": item["name"], "data_type": item.get("data_type"), "custom": True}
                                  for item in hook.call("GET", "/conversations/attributes").get("data", [])]
    return {
        "me": {"id": str(me["id"]), "email": me.get("email"), "name": me.get("name"),
               "workspace": (me.get("app") or {}).get("name")},
        "admins": [{"id": str(admin["id"]), "email": admin.get("email"), "name": admin.get("name")}
                   for admin in admins],
        "data_attributes": attributes,
        "tags": [{"id": str(tag["id"]), "name": tag["name"]} for tag in hook.call("GET", "/tags").get("data", [])],
        "counts": {"contacts": _total(hook, "/contacts"), "conversations": _total(hook, "/conversations")},
    }


DYNAMIC_KEYS_SQL = {
    "param_keys": "SELECT DISTINCT param_key FROM customer_params WHERE param_key IS NOT NULL",
    "customer_attributes": "SELECT DISTINCT unnest(json_extract_string(_raw, '$.attributes[*].name')) FROM customers",
    "company_attributes": "SELECT DISTINCT unnest(json_extract_string(_raw, '$.attributes[*].name')) FROM companies",
    "feedback_questions": "SELECT DISTINCT question FROM customer_feedback WHERE question IS NOT NULL",
}


def profile_staged(staging: Staging, ledger: Ledger) -> dict:
    """The schema of everything staged: columns per feed (and where each first appeared), and the
    keys of key/value data (client parameters, metadata attributes, survey questions, structured data)."""
    columns: dict[str, dict[str, str]] = {}
    first_seen: dict[str, dict[str, str]] = {}
    for name in FEEDS:
        for row in ledger.staged(name):
            for column, kind in (row.columns or {}).items():
                seen = columns.setdefault(name, {})
                if seen.get(column) in (None, "NULL"):
                    seen[column] = kind
                first_seen.setdefault(name, {}).setdefault(column, row.partition)
    connection = staging.connect()
    try:
        create_feed_views(connection, staging)
        dynamic = {key: sorted(value for (value,) in connection.execute(sql).fetchall() if value)
                   for key, sql in DYNAMIC_KEYS_SQL.items()}
        dynamic["structured_fields"] = [
            {"id": field_id, "name": name} for field_id, name in connection.execute(
                "SELECT structured_data_field_id, any_value(structured_data_field_name) FROM "
                "autosummary_structured_data WHERE structured_data_field_id IS NOT NULL GROUP BY 1 ORDER BY 1")
            .fetchall()]
    finally:
        connection.close()
    return {"columns": columns, "first_seen": first_seen, **dynamic}
