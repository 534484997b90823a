"""The schema of everything staged, as the field-map proposal needs it: columns per feed (and where each
first appeared), and the keys of key/value data (client parameters, metadata attributes, survey
questions, structured data)."""

from __future__ import annotations

from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.domain.staged import RAW
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.staging import Staging

DYNAMIC_KEYS_SQL = {
    "param_keys": "SELECT DISTINCT param_key FROM customer_params WHERE param_key IS NOT NULL",
    "customer_attributes": f"SELECT DISTINCT unnest(json_extract_string({RAW}, '$.attributes[*].name')) "
    "FROM customers",
    "company_attributes": f"SELECT DISTINCT unnest(json_extract_string({RAW}, '$.attributes[*].name')) "
    "FROM companies",
    "feedback_questions": "SELECT DISTINCT question FROM customer_feedback WHERE question IS NOT NULL",
}


def profile_staged(staging: Staging, ledger: Ledger) -> dict:
    columns: dict[str, dict[str, str]] = {}
    first_seen: dict[str, dict[str, str]] = {}
    for name in FEEDS:
        for row in ledger.staged(name, with_columns=True):
            for column, kind in (row.columns or {}).items():
                seen = columns.setdefault(name, {})
                if seen.get(column) in (None, "NULL"):
                    seen[column] = kind
                first_seen.setdefault(name, {}).setdefault(column, row.partition)
    connection = staging.connect()
    try:
        staging.create_feed_views(connection, ledger)
        dynamic = {
            key: sorted(value for (value,) in connection.execute(sql).fetchall() if value)
            for key, sql in DYNAMIC_KEYS_SQL.items()
        }
        dynamic["structured_fields"] = [
            {"id": field_id, "name": name}
            for field_id, name in connection.execute(
                "SELECT structured_data_field_id, any_value(structured_data_field_name) FROM "
                "autosummary_structured_data WHERE structured_data_field_id IS NOT NULL GROUP BY 1 ORDER BY 1"
            ).fetchall()
        ]
    finally:
        connection.close()
    return {"columns": columns, "first_seen": first_seen, **dynamic}
