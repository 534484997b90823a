"""The feeds the generator writes: names, sync period, unique key and typed columns, in file order.

Documented ASAPP Messaging feeds take their columns from ASAPP's published schema
(reference/asapp-messaging-feeds.json, an unchanged copy of docs.asapp.com's file) so the two
cannot drift apart; the sandbox's own feeds are declared here (see DATASET.md).
"""

import json
from dataclasses import dataclass
from pathlib import Path

SCHEMA_PATH = Path(__file__).parent / "reference" / "asapp-messaging-feeds.json"

DOCUMENTED_FEEDS = (
    "convos_metadata",
    "utterances",
    "reps",
    "rep_attributes",
    "customer_params",
    "customer_feedback",
)

# ASAPP's schema leaves a few column types blank; these are the types the generator writes there.
UNDECLARED_TYPES = {
    ("convos_metadata", "raw_current_page_url"): "varchar(2000)",
    ("utterances", "sent_to_rep"): "boolean",
    ("reps", "crm_rep_id"): "varchar(255)",
    ("reps", "agent_status"): "varchar(255)",
    ("rep_attributes", "agent_attribute_id"): "bigint",
}

# The one column added to a documented feed: convos_metadata restates an issue once per 15-minute
# window (NOTES §10.4), and its rows say which window, as the feeds that do document it (utterances,
# customer_params) do. It comes first, as in NOTES §10.5's example row.
ADDED_COLUMNS = {"convos_metadata": (("instance_ts", "timestamp"),)}

TIMESTAMP, VARCHAR, BIGINT, INTEGER, DOUBLE, BOOLEAN = (
    "timestamp",
    "varchar(255)",
    "bigint",
    "integer",
    "double precision",
    "boolean",
)
JSON = "json"
"""A JSON array or object kept as such in the row (own feeds only)."""


@dataclass(frozen=True)
class FeedSpec:
    name: str
    sync: str
    """"1h": one partition per hour (dt=D/hr=HH/mi=00); "1d": one per day (dt=D/hr=00/mi=00)."""
    unique_key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    """(name, declared type) in the order rows are written."""
    documented: bool

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


def _documented(table: dict) -> FeedSpec:
    name = table["name"]
    columns = ADDED_COLUMNS.get(name, ()) + tuple(
        (column["name"], column["type"] or UNDECLARED_TYPES[(name, column["name"])])
        for column in table["columns"]
    )
    column_names = {column for column, _ in columns}
    # customer_feedback's documented key names company_marker, a column the table does not have:
    # company_name is the same tenant identifier there.
    key = tuple(
        part if part in column_names else "company_name"
        for part in (part.strip() for part in table["primary_key"].split(","))
    )
    return FeedSpec(name, table["sync_time"], key, columns, documented=True)


def _load_documented() -> dict[str, FeedSpec]:
    tables = {
        table["name"]: table
        for schema in json.loads(SCHEMA_PATH.read_text())["schemas"]
        for table in schema["tables"]
    }
    return {name: _documented(tables[name]) for name in DOCUMENTED_FEEDS}


def _own(name: str, sync: str, unique_key: tuple[str, ...], *columns: tuple[str, str]) -> FeedSpec:
    return FeedSpec(name, sync, unique_key, columns, documented=False)


_OWN_FEEDS = (
    # File Exporter feed (NOTES §2.3, §5.4): not in the Messaging schema file, columns as documented.
    _own(
        "autosummary_structured_data",
        "1d",
        ("company_marker", "conversation_id", "structured_data_id", "structured_data_field_id"),
        ("instance_ts", TIMESTAMP),
        ("conversation_id", "varchar(26)"),
        ("external_conversation_id", VARCHAR),
        ("agent_id", VARCHAR),
        ("structured_data_id", "varchar(36)"),
        ("structured_data_ts", TIMESTAMP),
        ("structured_data_field_id", VARCHAR),
        ("structured_data_field_name", VARCHAR),
        ("structured_data_field_value", VARCHAR),
        ("structured_data_field_category", VARCHAR),
        ("company_marker", VARCHAR),
        ("dt", "varchar(10)"),
        ("hr", "varchar(2)"),
    ),
    _own(
        "customers",
        "1d",
        ("company_name", "customer_id", "dt"),
        ("customer_id", BIGINT),
        ("external_customer_id", VARCHAR),
        ("external_user_type", VARCHAR),
        ("status", VARCHAR),
        ("email_address", VARCHAR),
        ("phone_number", VARCHAR),
        ("user_id", VARCHAR),
        ("name", VARCHAR),
        ("address_country", VARCHAR),
        ("address_state", VARCHAR),
        ("address_zipcode", VARCHAR),
        ("company_external_id", VARCHAR),
        ("first_seen_ts", TIMESTAMP),
        ("last_seen_ts", TIMESTAMP),
        ("attributes", JSON),
        ("company_name", VARCHAR),
        ("dt", "varchar(10)"),
        ("hr", "varchar(2)"),
    ),
    _own(
        "companies",
        "1d",
        ("company_name", "company_external_id", "dt"),
        ("company_external_id", VARCHAR),
        ("name", VARCHAR),
        ("industry", VARCHAR),
        ("website", VARCHAR),
        ("domain", VARCHAR),
        ("size", INTEGER),
        ("plan", VARCHAR),
        ("created_ts", TIMESTAMP),
        ("attributes", JSON),
        ("company_name", VARCHAR),
        ("dt", "varchar(10)"),
        ("hr", "varchar(2)"),
    ),
    _own(
        "file_uploads",
        "1h",
        ("file_upload_event_id",),
        ("file_upload_event_id", "varchar(36)"),
        ("file_upload_ts", TIMESTAMP),
        ("issue_id", BIGINT),
        ("customer_id", BIGINT),
        ("sender_type", VARCHAR),
        ("event_uuid", "varchar(36)"),
        ("file_name", VARCHAR),
        ("file_mime_type", VARCHAR),
        ("file_size_mb", DOUBLE),
        ("file_image_width", INTEGER),
        ("file_image_height", INTEGER),
        ("instance_ts", TIMESTAMP),
        ("company_name", VARCHAR),
    ),
    _own(
        "structured_data_config",
        "1d",
        ("field_id", "dt"),
        ("field_id", VARCHAR),
        ("name", VARCHAR),
        ("type", VARCHAR),
        ("category_id", VARCHAR),
        ("active", BOOLEAN),
        ("question", "varchar(1024)"),
        ("entity_name", VARCHAR),
        ("entity_description", "varchar(1024)"),
        ("entity_examples", JSON),
        ("segment_ids", JSON),
        ("dt", "varchar(10)"),
    ),
)

FEEDS: dict[str, FeedSpec] = {**_load_documented(), **{feed.name: feed for feed in _OWN_FEEDS}}
