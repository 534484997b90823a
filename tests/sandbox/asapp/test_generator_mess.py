"""Every kind of injected mess is present at default rates, findable through the manifest, and absent
with --no-mess; each is checked in the data itself, not only in the manifest."""

import re
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from include.sandbox.asapp.generator.mess import Mess
from tests.sandbox.asapp.generated import (
    dataset,
    manifest,
    mess_ids,
    raw_rows,
    read_lines,
    realtime_events,
    rows,
    rows_with_partition,
)

RIGHT_TO_LEFT = re.compile("[\u0590-\u05ff\u0600-\u06ff]")
EMOJI = re.compile("[\U0001f300-\U0001faff]")
HTML = re.compile(r"<[a-z/][^>]*>|&[a-z]+;")


def by_issue(root, feed) -> dict[int, list[dict]]:
    grouped = defaultdict(list)
    for row in rows(root, feed):
        grouped[row["issue_id"]].append(row)
    return grouped


def test_every_kind_is_present_at_default_rates():
    root = dataset("moderate")
    assert {kind: bool(ids) for kind, ids in manifest(root)["mess"].items()} == {
        kind.value: True for kind in Mess
    }


def test_no_kind_is_present_with_no_mess():
    root = dataset("clean")
    assert {kind: ids for kind, ids in manifest(root)["mess"].items() if ids} == {}
    assert manifest(root)["arguments"]["mess_rate"] == 0


def test_restated_conversations_change_after_they_ended():
    root = dataset("moderate")
    metadata = by_issue(root, "convos_metadata")
    for issue in mess_ids(root, "restated_conversations"):
        ended = sorted(
            (r for r in metadata[issue] if r["conversation_end_ts"]), key=lambda r: r["instance_ts"]
        )
        assert len(ended) >= 2 and ended[-1]["disposition_notes"] != ended[0]["disposition_notes"], issue


def test_late_csat_arrives_in_the_next_days_partitions():
    root = dataset("moderate")
    metadata = by_issue(root, "convos_metadata")
    feedback = defaultdict(set)
    for partition, row in rows_with_partition(root, "customer_feedback"):
        feedback[row["issue_id"]].add(partition[3:13])
    for issue in mess_ids(root, "late_csat"):
        end_day = datetime.fromisoformat(
            next(r["conversation_end_ts"] for r in metadata[issue] if r["conversation_end_ts"])
        )
        later = end_day.date().toordinal() + 1
        assert {datetime.fromisoformat(d).date().toordinal() for d in feedback[issue]} == {later}
        rated = [r for r in metadata[issue] if r["csat_rating"] is not None]
        assert rated and all(
            datetime.fromisoformat(r["instance_ts"]).date().toordinal() == later for r in rated
        )


def test_resumed_conversations_span_several_hourly_partitions_with_a_long_pause():
    root = dataset("moderate")
    utterances = by_issue(root, "utterances")
    for issue in mess_ids(root, "resumed_conversations"):
        times = sorted(datetime.fromisoformat(r["created_ts"]) for r in utterances[issue])
        assert max(b - a for a, b in zip(times, times[1:], strict=False)).total_seconds() >= 2 * 3600
        assert len({t.strftime("%Y-%m-%d %H") for t in times}) >= 2


def test_multiple_company_segments_and_long_conversations():
    root = dataset("moderate")
    segments = {row["issue_id"]: row["company_segments"] for row in rows(root, "convos_metadata")}
    for issue in mess_ids(root, "multiple_company_segments"):
        assert re.fullmatch(r"\[[a-z]+(,[a-z]+)+\]", segments[issue])
    assert all(
        re.fullmatch(r"\[[a-z]+\]", s)
        for i, s in segments.items()
        if i not in mess_ids(root, "multiple_company_segments")
    )
    counts = Counter(row["issue_id"] for row in rows(root, "utterances"))
    assert all(counts[issue] >= 1000 for issue in mess_ids(root, "long_conversations"))


def test_unicode_and_html_like_texts_are_written_verbatim():
    root = dataset("moderate")
    texts = {row["event_uuid"]: row["utterance"] for row in rows(root, "utterances")}
    for event in mess_ids(root, "unicode_text"):
        assert RIGHT_TO_LEFT.search(texts[event]) and (EMOJI.search(texts[event]) or "\u0301" in texts[event])
    for event in mess_ids(root, "html_like_text"):
        assert HTML.search(texts[event])
    first_texts = {row["first_utterance_text"] for row in rows(root, "convos_metadata")}
    assert any(HTML.search(text or "") for text in first_texts)


def test_customers_restated_and_emails_differing_only_in_case():
    root = dataset("moderate")
    customers = defaultdict(list)
    for row in rows(root, "customers"):
        customers[row["customer_id"]].append(row)
    for customer in mess_ids(root, "restated_customers"):
        days = sorted(customers[customer], key=lambda r: r["dt"])
        assert len({r["dt"] for r in days}) == 2 and days[1]["last_seen_ts"] > days[0]["last_seen_ts"]
    for first, second in mess_ids(root, "email_case_duplicates"):
        a, b = customers[first][0]["email_address"], customers[second][0]["email_address"]
        assert first != second and a != b and a.lower() == b.lower()
    owners = defaultdict(set)
    invalid = set(mess_ids(root, "invalid_emails"))
    for row in rows(root, "customers"):
        if row["email_address"] and row["customer_id"] not in invalid:
            owners[row["email_address"].lower()].add(row["customer_id"])
    shared = sorted(sorted(ids) for ids in owners.values() if len(ids) > 1)
    assert shared == sorted(mess_ids(root, "email_case_duplicates")), "only the twins share an address"


def test_changed_reps_show_new_values_in_later_snapshots():
    root = dataset("moderate")
    names = defaultdict(set)
    for row in rows(root, "reps"):
        names[row["rep_id"]].add((row["name"], row["max_slot"]))
    for rep in mess_ids(root, "changed_reps"):
        assert len({name for name, _ in names[rep]}) == 2, rep
    assert all(len(values) == 1 for rep, values in names.items() if rep not in mess_ids(root, "changed_reps"))


def test_empty_partitions_hold_only_the_success_marker():
    root = dataset("moderate")
    for partition in mess_ids(root, "empty_partitions"):
        assert sorted(p.name for p in (root / partition).iterdir()) == ["_SUCCESS"]
    assert {p.split("/")[0] for p in mess_ids(root, "empty_partitions")} == {
        "convos_metadata",
        "utterances",
        "file_uploads",
    }


def test_schema_drift_adds_a_column_to_later_partitions_only():
    root = dataset("moderate")
    (drift,) = mess_ids(root, "schema_drift")
    with_column = {
        partition for partition, row in rows_with_partition(root, drift["feed"]) if drift["column"] in row
    }
    without = {
        partition for partition, row in rows_with_partition(root, drift["feed"]) if drift["column"] not in row
    }
    assert with_column and without
    first = drift["first_partition"].split("/format=jsonl/")[1]
    assert min(with_column) == first and max(without) < first


def test_realtime_only_conversations_and_duplicate_deliveries():
    root = dataset("moderate")
    events = realtime_events(root)
    batch_issues = {row["issue_id"] for row in rows(root, "convos_metadata")}
    customers = {row["customer_id"] for row in rows(root, "customers")}
    journeys = defaultdict(list)
    for event in events:
        if event["name"] == "com.asapp.event.journey":
            journeys[int(event["meta_data"]["issue_id"])].append(event)
    for issue in mess_ids(root, "realtime_only_conversations"):
        assert issue not in batch_issues and journeys[issue][0]["event_type"] == "ISSUE_CREATED"
        assert {e["data"]["customer_id"] for e in journeys[issue]} <= customers
    delivered = Counter(event["event_id"] for event in events)
    assert {event_id for event_id, count in delivered.items() if count == 2} == set(
        mess_ids(root, "duplicate_deliveries")
    )


@pytest.mark.parametrize(
    "check", ["texts", "timestamps", "drift", "emails", "conversations", "realtime", "files", "records"]
)
def test_the_clean_dataset_shows_none_of_it(check):
    root = dataset("clean")
    if check == "files":
        names = [p for p in root.rglob("*") if p.is_file()]
        assert not (root / "_redeliveries").exists()
        assert all(
            p.name in ("_SUCCESS", f"{p.parts[len(root.parts)]}.jsonl")
            for p in names
            if p.parts[len(root.parts)] in manifest(root)["feeds"]
        ), "only data files and _SUCCESS"
        for path in names:
            if path.name.endswith(".jsonl") and path.parent.name.startswith("mi="):
                raw = path.read_bytes()
                assert (path.parent / "_SUCCESS").exists() and raw.endswith(b"\n") and b"\r" not in raw
                assert all(isinstance(row, dict) for row in read_lines(path)), path
        assert all(
            isinstance(e, dict) and "event_id" in e for e in read_lines(root / "_realtime" / "events.jsonl")
        )
    elif check == "records":
        assert all(isinstance(row["issue_id"], int) for row in raw_rows(root, "utterances"))
        assert all(
            row["sender_type"] != "system" and row["utterance"].strip() == row["utterance"]
            for row in rows(root, "utterances")
        )
        customers = {row["customer_id"] for row in rows(root, "customers")}
        assert {row["customer_id"] for row in rows(root, "convos_metadata")} <= customers
        assert all(c["website"] in (None, f"https://{c['domain']}") for c in rows(root, "companies"))
        uploads = {row["file_upload_event_id"] for row in rows(root, "file_uploads")}
        assert uploads <= {p.name for p in (root / "_attachments").iterdir()}
        assert len({row["external_customer_id"] for row in rows(root, "customers")}) == len(customers)
    elif check == "texts":
        texts = [row["utterance"] for row in rows(root, "utterances")]
        assert not any(RIGHT_TO_LEFT.search(t) or EMOJI.search(t) or HTML.search(t) for t in texts)
    elif check == "timestamps":
        assert all(row["issue_created_ts"].endswith("+00:00") for row in rows(root, "convos_metadata"))
    elif check == "drift":
        assert all(len(row) == 17 for row in rows(root, "utterances"))
    elif check == "emails":
        with_email = {r["rep_id"] for r in rows(root, "rep_attributes") if r["attribute_name"] == "email"}
        assert with_email == {r["rep_id"] for r in rows(root, "reps")}
        emails = [r["email_address"].lower() for r in rows(root, "customers") if r["email_address"]]
        assert len(emails) == len(set(emails))
    elif check == "conversations":
        assert max(Counter(row["issue_id"] for row in rows(root, "utterances")).values()) < 1000
        assert all(row["company_segments"].count(",") == 0 for row in rows(root, "convos_metadata"))
        names = defaultdict(set)
        for row in rows(root, "reps"):
            names[row["rep_id"]].add(row["name"])
        assert all(len(values) == 1 for values in names.values())
    else:
        events = realtime_events(root)
        assert len({e["event_id"] for e in events}) == len(events)
        batch_issues = {row["issue_id"] for row in rows(root, "convos_metadata")}
        assert {
            int(e["meta_data"]["issue_id"]) for e in events if "issue_id" in e["meta_data"]
        } <= batch_issues
