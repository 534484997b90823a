"""Columns, order and value types of every feed, read from the generated files, plus the links between feeds.

Documented feeds are checked against ASAPP's published schema file itself (not against FEEDS).
"""

import json
import re
from collections import defaultdict
from datetime import datetime

import pytest

from include.sandbox.asapp.generator.feeds import FEEDS, SCHEMA_PATH
from tests.conftest import SHARED_REFERENCE
from tests.sandbox.asapp.generated import dataset, manifest, mess_ids, raw_rows, rows, rows_with_partition

SHARED_SCHEMA = SHARED_REFERENCE / "asapp" / "asapp-messaging-feeds.json"
DOCUMENTED = (
    "convos_metadata",
    "utterances",
    "reps",
    "rep_attributes",
    "customer_params",
    "customer_feedback",
)
ADDED = {"convos_metadata": ["instance_ts"]}  # DATASET.md: the one column added to a documented feed
CANONICAL_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00")
ALTERNATE_TS = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")


def reference_tables() -> dict[str, dict]:
    path = SHARED_SCHEMA if SHARED_SCHEMA.exists() else SCHEMA_PATH
    schemas = json.loads(path.read_text())["schemas"]
    return {table["name"]: table for schema in schemas for table in schema["tables"]}


def python_type(declared: str):
    """ASAPP's declared column type as the JSON value type a row must carry (None: not declared)."""
    text = declared.lower()
    if not text:
        return None
    if re.match(r"(big)?int|integer|smallint|tinyint", text):
        return int
    if re.match(r"double|float|numeric", text):
        return float
    if re.match(r"timestamp|datetime", text):
        return datetime
    if text == "boolean":
        return bool
    if re.match(r"varchar|character varying|text", text):
        return str
    if text == "json":
        return (list, dict)
    raise AssertionError(f"unknown declared type {declared!r}")


def assert_value_type(value, expected, where):
    if value is None or expected is None:
        return
    if expected is datetime:
        assert isinstance(value, str) and datetime.fromisoformat(value), where
    elif expected is int:
        assert isinstance(value, int) and not isinstance(value, bool), where
    else:
        assert isinstance(value, expected), where


def test_the_vendored_schema_file_is_asapps_unchanged():
    if not SHARED_SCHEMA.exists():
        pytest.skip("the shared reference copy is not on this machine")
    assert SCHEMA_PATH.read_bytes() == SHARED_SCHEMA.read_bytes()


@pytest.mark.parametrize("feed", DOCUMENTED)
def test_documented_feeds_have_every_documented_column_in_order_with_its_type(feed):
    root = dataset("moderate")
    table = reference_tables()[feed]
    documented = [(column["name"], python_type(column["type"])) for column in table["columns"]]
    drift = next((d for d in mess_ids(root, "schema_drift") if d["feed"] == feed), None)
    expected = ADDED.get(feed, []) + [name for name, _ in documented]
    types = {name: kind for name, kind in documented} | {name: datetime for name in ADDED.get(feed, [])}
    checked = 0
    for partition, row in rows_with_partition(root, feed, raw=True):
        drifted = (
            drift is not None and f"{feed}/version=1/format=jsonl/{partition}" >= drift["first_partition"]
        )
        assert list(row) == expected + ([drift["column"]] if drifted else []), partition
        for name in expected:
            if (name, row) in listed_values(root, feed):
                continue
            assert_value_type(row[name], types[name], (feed, name, row[name]))
        checked += 1
    assert checked > 0
    assert table["sync_time"] == manifest(root)["feeds"][feed]["sync_time"]


@pytest.mark.parametrize("feed", [name for name in FEEDS if name not in DOCUMENTED])
class ListedValues:
    """(column, row) pairs whose value a value-level mess kind lists as deliberately of another type."""

    def __init__(self, root, feed) -> None:
        self.strings = (
            set(mess_ids(root, "numbers_as_strings")) if feed in ("utterances", "convos_metadata") else set()
        )
        self.ratings = set(mess_ids(root, "bad_attribute_values")) if feed == "convos_metadata" else set()

    def __contains__(self, item) -> bool:
        name, row = item
        if not (self.strings or self.ratings):
            return False
        issue = int(row["issue_id"])
        if name in ("issue_id", "customer_id", "sender_id") and issue in self.strings:
            return isinstance(row[name], str) and row[name].isdigit()
        return name == "csat_rating" and issue in self.ratings and row[name] == "N/A"


def listed_values(root, feed) -> ListedValues:
    return ListedValues(root, feed)


def test_listed_values_are_the_only_ones_of_another_type():
    root = dataset("moderate")
    strings = {
        int(row["issue_id"]) for row in raw_rows(root, "utterances") if isinstance(row["issue_id"], str)
    }
    assert strings == set(mess_ids(root, "numbers_as_strings"))
    metadata = [row for row in raw_rows(root, "convos_metadata") if isinstance(row["issue_id"], str)]
    assert {int(row["issue_id"]) for row in metadata} == strings
    assert all(isinstance(row["customer_id"], str) for row in metadata)
    rated = {
        row["issue_id"]: row["csat_rating"]
        for row in rows(root, "convos_metadata")
        if row["csat_rating"] is not None
    }
    odd = {issue for issue, value in rated.items() if value == "N/A" or value % 100}
    assert odd <= set(mess_ids(root, "bad_attribute_values"))


@pytest.mark.parametrize("feed", [name for name in FEEDS if name not in DOCUMENTED])
def test_own_feeds_rows_have_the_declared_columns_and_types(feed):
    root = dataset("moderate")
    spec = FEEDS[feed]
    feed_rows = rows(root, feed)
    assert feed_rows
    for row in feed_rows:
        assert list(row) == list(spec.column_names)
        for name, declared in spec.columns:
            assert_value_type(row[name], python_type(declared), (feed, name))


def test_documented_values_are_filled_where_asapp_fills_them():
    """Columns a migration reads are never null where they apply (deprecated ones always are)."""
    root = dataset("moderate")
    required = {
        "convos_metadata": [
            "instance_ts",
            "issue_id",
            "session_id",
            "customer_id",
            "company_name",
            "company_segments",
            "issue_created_ts",
            "platform",
            "device_type",
            "issue_queue_id",
            "language_code",
        ],
        "utterances": [
            "instance_ts",
            "created_ts",
            "issue_id",
            "sender_id",
            "sender_type",
            "utterance",
            "event_uuid",
        ],
        "reps": ["created_ts", "rep_id", "crm_rep_id", "name", "max_slot", "rep_status"],
        "rep_attributes": [
            "rep_attribute_id",
            "rep_id",
            "external_rep_id",
            "attribute_name",
            "attribute_value",
        ],
        "customer_feedback": ["instance_ts", "issue_id", "question", "answer", "ordering"],
        "customer_params": ["event_id", "event_ts", "issue_id", "customer_id", "param_key", "param_value"],
    }
    deprecated = {
        feed: [
            c["name"]
            for c in reference_tables()[feed]["columns"]
            if "deprecated" in (c["description"] or "").lower()
        ]
        for feed in required
    }
    for feed, columns in required.items():
        for row in rows(root, feed):
            assert all(row[c] is not None for c in columns), (feed, row)
            assert all(row[c] is None for c in deprecated[feed]), (feed, row)


def test_timestamps_use_the_feed_format_except_in_the_alternate_format_cases():
    root = dataset("moderate")
    alternate = set(mess_ids(root, "alternate_timestamps"))
    seen_alternate = set()
    for feed in DOCUMENTED:
        timestamp_columns = [
            name for name, declared in FEEDS[feed].columns if python_type(declared) is datetime
        ]
        for row in rows(root, feed):
            for column in timestamp_columns:
                value = row[column]
                if value is None or CANONICAL_TS.fullmatch(value):
                    continue
                assert feed == "convos_metadata" and row["issue_id"] in alternate, (feed, column, value)
                assert ALTERNATE_TS.fullmatch(value) and column != "instance_ts"
                seen_alternate.add(row["issue_id"])
    assert seen_alternate == alternate


def test_unique_keys_hold_where_rows_are_never_restated():
    root = dataset("moderate")
    for feed in ("utterances", "file_uploads", "customer_params", "autosummary_structured_data"):
        keys = [tuple(row[k] for k in FEEDS[feed].unique_key) for row in rows(root, feed)]
        assert len(keys) == len(set(keys)), feed
    windows = [(row["issue_id"], row["instance_ts"]) for row in rows(root, "convos_metadata")]
    assert len(windows) == len(set(windows)), "one convos_metadata row per issue and 15-minute window"


def test_senders_and_reps_link_up():
    root = dataset("moderate")
    metadata = {row["issue_id"]: row for row in rows(root, "convos_metadata")}
    rep_ids = {row["rep_id"] for row in rows(root, "reps")}
    unknown_agents, system = (
        set(mess_ids(root, "unknown_agents")),
        set(mess_ids(root, "unknown_sender_types")),
    )
    for row in rows(root, "utterances"):
        if row["event_uuid"] in system:
            assert row["sender_type"] == "system"
        elif row["sender_type"] == "customer":
            assert row["sender_id"] == metadata[row["issue_id"]]["customer_id"]
        elif row["sender_type"] in ("rep", "rep_note", "rep_whisper"):
            assert str(row["sender_id"]) in rep_ids | unknown_agents
        else:
            assert row["sender_type"] == "bot"
    assert {row["sender_type"] for row in rows(root, "utterances") if row["event_uuid"] not in system} == {
        "customer",
        "bot",
        "rep",
        "rep_note",
        "rep_whisper",
    }
    for row in rows(root, "convos_metadata"):
        assert (
            row["first_rep_id"] is None
            or {row["first_rep_id"], row["last_rep_id"]} <= rep_ids | unknown_agents
        )


def test_utterance_times_strictly_increase_within_each_conversation():
    root = dataset("moderate")
    times = defaultdict(list)
    for row in rows(root, "utterances"):
        times[row["issue_id"]].append(row["created_ts"])
    for issue, created in times.items():
        ordered = sorted(created)
        assert all(a < b for a, b in zip(ordered, ordered[1:], strict=False)), issue


def test_convos_metadata_has_a_row_per_active_window_and_ends_in_the_final_state():
    root = dataset("moderate")
    windows = defaultdict(set)
    latest = {}
    for row in rows(root, "convos_metadata"):
        windows[row["issue_id"]].add(row["instance_ts"])
        if row["issue_id"] not in latest or row["instance_ts"] > latest[row["issue_id"]]["instance_ts"]:
            latest[row["issue_id"]] = row
    for row in rows(root, "utterances"):
        assert row["instance_ts"] in windows[row["issue_id"]]
    open_at_boundary = set(manifest(root)["realtime_continued_issue_ids"])
    for issue, row in latest.items():
        if issue not in open_at_boundary:
            assert row["conversation_end_ts"] is not None, issue
            assert sum(row[f"ended_{k}"] for k in ("resolved", "unresolved", "timeout", "auto", "other")) == 1
    assert any(len(w) > 1 for w in windows.values()), "conversations spanning several windows are restated"


def test_csat_matches_the_survey_answer():
    root = dataset("moderate")
    latest = {}
    for row in rows(root, "convos_metadata"):
        if row["issue_id"] not in latest or row["instance_ts"] > latest[row["issue_id"]]["instance_ts"]:
            latest[row["issue_id"]] = row
    voc = {
        row["issue_id"]: row["answer"]
        for row in rows(root, "customer_feedback")
        if row["question"] == "VOC Score"
    }
    assert voc
    bad = set(mess_ids(root, "bad_attribute_values"))
    for issue, answer in voc.items():
        if issue not in bad:
            assert latest[issue]["csat_rating"] == int(answer) * 100.0


def test_agents_have_role_email_group_and_jobcode_with_support_emails():
    root = dataset("moderate")
    attributes = defaultdict(dict)
    for row in rows(root, "rep_attributes"):
        attributes[row["rep_id"]][row["attribute_name"]] = row["attribute_value"]
    without_email = set(mess_ids(root, "agents_without_email"))
    assert set(attributes) == {row["rep_id"] for row in rows(root, "reps")}
    for rep_id, values in attributes.items():
        expected = {"role", "companygroup", "jobcode"} | (set() if rep_id in without_email else {"email"})
        assert set(values) == expected, rep_id
        if "email" in values:
            assert re.fullmatch(r"[a-z]+\.[a-z]+\d*@acme-support\.example", values["email"])


def test_customers_companies_uploads_and_structured_data_link_to_the_conversations():
    root = dataset("moderate")
    customers = {row["customer_id"] for row in rows(root, "customers")}
    companies = {row["company_external_id"]: row for row in rows(root, "companies")}
    dangling = set(mess_ids(root, "dangling_customers"))
    assert {
        row["customer_id"] for row in rows(root, "convos_metadata") if row["issue_id"] not in dangling
    } <= customers
    dangling_companies = set(mess_ids(root, "dangling_companies"))
    customer_companies = {
        row["company_external_id"]
        for row in rows(root, "customers")
        if row["customer_id"] not in dangling_companies
    }
    assert None in customer_companies and customer_companies - {None} <= set(companies)
    assert any(c["website"] is None for c in companies.values())
    assert all(c["domain"].endswith(".example") for c in companies.values())
    utterances = {row["event_uuid"]: row for row in rows(root, "utterances")}
    orphans = set(mess_ids(root, "orphan_uploads"))
    for upload in rows(root, "file_uploads"):
        if upload["file_upload_event_id"] in orphans:
            continue
        carrier = utterances[upload["event_uuid"]]
        assert (carrier["issue_id"], carrier["sender_type"]) == (upload["issue_id"], "customer")
    last_rep = {}
    for row in sorted(rows(root, "convos_metadata"), key=lambda r: r["instance_ts"]):
        last_rep[row["issue_id"]] = row["external_rep_id"]
    for row in rows(root, "autosummary_structured_data"):
        assert row["agent_id"] == last_rep[int(row["external_conversation_id"])]
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", row["conversation_id"])


def test_structured_data_config_matches_the_segments_file():
    root = dataset("moderate")
    segments = json.loads((root / "_config" / "segments.json").read_text())
    assert [s["id"] for s in segments][0] == "GLOBAL" and segments[0]["query"] == {
        "type": "raw",
        "raw": "TRUE",
    }
    for segment in segments:
        assert set(segment) == {"id", "name", "query", "structuredDataFieldIds"}
    last_day = max(row["dt"] for row in rows(root, "structured_data_config"))
    config = {row["field_id"]: row for row in rows(root, "structured_data_config") if row["dt"] == last_day}
    for segment in segments:
        for field_id in segment["structuredDataFieldIds"]:
            assert segment["id"] in config[field_id]["segment_ids"]
    active = {field_id for field_id, row in config.items() if row["active"]}
    assert {row["structured_data_field_id"] for row in rows(root, "autosummary_structured_data")} <= active
    assert all(re.fullmatch(r"[qe]_[a-z_]+", field_id) for field_id in config)
