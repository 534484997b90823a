"""Records and values real exports get wrong: ids as strings, malformed emails and websites, colliding
external ids, values Intercom cannot store, references to nothing, uploads without a conversation or a
binary, odd messages and agents, malformed real-time events; and a tenant without a feed. Each is checked
in the data itself, and only the listed cases show it."""

import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.sandbox.asapp.generated import (
    dataset,
    generate_into,
    manifest,
    mess_ids,
    raw_realtime_events,
    raw_rows,
    realtime_events,
    rows,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
EMAIL = re.compile(r"[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+", re.IGNORECASE)


def latest(root, feed="convos_metadata") -> dict[int, dict]:
    found = {}
    for row in rows(root, feed):
        if row["issue_id"] not in found or row["instance_ts"] > found[row["issue_id"]]["instance_ts"]:
            found[row["issue_id"]] = row
    return found


def test_numbers_as_strings_write_every_integer_id_of_the_listed_conversations_as_a_string():
    root = dataset("moderate")
    listed = set(mess_ids(root, "numbers_as_strings"))
    assert listed
    for feed, columns in (
        ("utterances", ("issue_id", "sender_id")),
        ("convos_metadata", ("issue_id", "customer_id")),
    ):
        seen = set()
        for row in raw_rows(root, feed):
            if isinstance(row["issue_id"], str):
                seen.add(int(row["issue_id"]))
                assert all(isinstance(row[c], str) and row[c].isdigit() for c in columns), row
            else:
                assert all(isinstance(row[c], int) for c in columns) and row["issue_id"] not in listed
        assert seen == listed, feed


def test_invalid_emails_are_malformed_and_the_only_malformed_ones():
    root = dataset("moderate")
    listed = set(mess_ids(root, "invalid_emails"))
    assert listed
    for row in rows(root, "customers"):
        email = row["email_address"]
        if row["customer_id"] in listed:
            assert email and not EMAIL.fullmatch(email), email
        elif email is not None:
            assert EMAIL.fullmatch(email), email


def test_invalid_websites_are_no_urls_and_the_others_derive_from_the_domain():
    root = dataset("moderate")
    listed = set(mess_ids(root, "invalid_websites"))
    assert listed
    for company in rows(root, "companies"):
        website = company["website"]
        if company["company_external_id"] in listed:
            parsed = urlparse(website)
            assert not (parsed.scheme in ("http", "https") and parsed.netloc and " " not in website), website
        else:
            assert website in (None, f"https://{company['domain']}")


def test_colliding_external_ids_pair_an_earlier_customer_with_another_of_a_different_email():
    root = dataset("moderate")
    customers = {row["customer_id"]: row for row in rows(root, "customers")}
    pairs = mess_ids(root, "colliding_external_ids")
    twins = {customer for pair in mess_ids(root, "email_case_duplicates") for customer in pair}
    assert pairs
    for keeper, collider in pairs:
        first, second = customers[keeper], customers[collider]
        assert first["external_customer_id"] == second["external_customer_id"]
        assert EMAIL.fullmatch(first["email_address"]) and EMAIL.fullmatch(second["email_address"])
        assert first["email_address"].lower() != second["email_address"].lower()
        assert first["first_seen_ts"] <= second["first_seen_ts"] and not {keeper, collider} & twins
    owners = defaultdict(set)
    for row in rows(root, "customers"):
        owners[row["external_customer_id"]].add(row["customer_id"])
    assert sorted(sorted(ids) for ids in owners.values() if len(ids) > 1) == sorted(pairs)


def test_overlong_notes_and_bad_ratings_are_in_the_listed_conversations_latest_state():
    root = dataset("moderate")
    final = latest(root)
    overlong, bad = set(mess_ids(root, "overlong_values")), set(mess_ids(root, "bad_attribute_values"))
    assert overlong and bad
    for issue, row in final.items():
        notes = row["disposition_notes"] or ""
        assert (300 <= len(notes) <= 600) if issue in overlong else len(notes) <= 255, issue
        rating = row["csat_rating"]
        if issue in bad:
            assert rating == "N/A" or (isinstance(rating, float) and rating % 100), rating
        else:
            assert rating is None or rating in (100.0, 200.0, 300.0, 400.0, 500.0)


def test_dangling_customers_and_companies_name_nothing_in_their_feeds():
    root = dataset("moderate")
    customers = {row["customer_id"]: row for row in rows(root, "customers")}
    companies = {row["company_external_id"] for row in rows(root, "companies")}
    by_customer = defaultdict(set)
    for row in rows(root, "convos_metadata"):
        by_customer[row["customer_id"]].add(row["issue_id"])
    final = latest(root)
    dangling = set(mess_ids(root, "dangling_customers"))
    assert dangling
    for issue in dangling:
        customer = final[issue]["customer_id"]
        assert customer not in customers and by_customer[customer] == {issue}, (
            "used by that conversation only"
        )
    assert {issue for issue, row in final.items() if row["customer_id"] not in customers} == dangling
    journeys = {e["data"]["customer_id"] for e in realtime_events(root) if e["name"].endswith("journey")}
    assert journeys <= set(customers)
    listed = set(mess_ids(root, "dangling_companies"))
    assert listed
    for customer_id, row in customers.items():
        reference = row["company_external_id"]
        assert (reference is not None and reference not in companies) == (customer_id in listed), customer_id


def test_orphan_uploads_and_missing_binaries():
    root = dataset("moderate")
    uploads = {row["file_upload_event_id"]: row for row in rows(root, "file_uploads")}
    attachments = {path.name for path in (root / "_attachments").iterdir()}
    conversations = {row["issue_id"] for row in rows(root, "convos_metadata")}
    utterances = {row["event_uuid"]: row for row in rows(root, "utterances")}
    orphans, missing = mess_ids(root, "orphan_uploads"), mess_ids(root, "missing_attachment_binaries")
    assert orphans and missing
    for upload_id in orphans:
        row = uploads[upload_id]
        assert row["issue_id"] >= 29_200_001 and row["issue_id"] not in conversations
        assert row["event_uuid"] not in utterances and upload_id in attachments
    for upload_id in missing:
        row = uploads[upload_id]
        assert (
            row["issue_id"] in conversations and utterances[row["event_uuid"]]["issue_id"] == row["issue_id"]
        )
        assert upload_id not in attachments
    assert {u for u, row in uploads.items() if row["issue_id"] not in conversations} == set(orphans)


def test_odd_messages_are_written_exactly_as_sent():
    root = dataset("moderate")
    texts = {row["event_uuid"]: row for row in rows(root, "utterances")}
    empty, padded = mess_ids(root, "empty_messages"), mess_ids(root, "padded_text")
    long, system = mess_ids(root, "very_long_messages"), mess_ids(root, "unknown_sender_types")
    assert empty and padded and long and system
    assert all(texts[event]["utterance"].strip() == "" for event in empty)
    assert all(texts[event]["utterance"] != texts[event]["utterance"].strip() for event in padded)
    assert {texts[event]["sender_type"] for event in padded} == {"customer", "rep"}
    assert all(20_000 <= len(texts[event]["utterance"]) <= 60_000 for event in long)
    assert all(texts[event]["sender_type"] == "system" for event in system)
    listed = set(empty) | set(padded) | set(long) | set(system)
    for event, row in texts.items():
        if event not in listed:
            text = row["utterance"]
            assert text.strip() and (text == text.strip() or "\n" in text.strip()) and len(text) < 2000, event
            assert row["sender_type"] != "system"


def test_unknown_agents_write_and_end_conversations_without_being_in_either_rep_feed():
    root = dataset("moderate")
    known = {row["rep_id"] for row in rows(root, "reps")} | {
        row["rep_id"] for row in rows(root, "rep_attributes")
    }
    listed = set(mess_ids(root, "unknown_agents"))
    assert listed and not listed & known
    writers = {str(row["sender_id"]) for row in rows(root, "utterances") if row["sender_type"] == "rep"}
    assert listed <= writers and writers - listed <= known
    assert listed <= {row["last_rep_id"] for row in latest(root).values()}


def test_malformed_events_are_json_objects_that_are_no_usable_events():
    root = dataset("moderate")
    listed = mess_ids(root, "malformed_events")
    raw = raw_realtime_events(root)
    assert listed and len(listed) % 3 == 0
    reasons = Counter()
    for number in listed:
        event = raw[number - 1]
        assert isinstance(event, dict)
        meta = event.get("meta_data")
        if "event_id" not in event:
            reasons["no event_id"] += 1
        elif not isinstance(meta, dict):
            reasons["meta_data not an object"] += 1
        else:
            with pytest.raises(ValueError):
                datetime.fromisoformat(meta["create_time"].replace("Z", "+00:00"))
            reasons["unparsable create_time"] += 1
    assert set(reasons.values()) == {len(listed) // 3} and len(reasons) == 3
    assert len(realtime_events(root)) == len(raw) - len(listed)


def test_a_tenant_without_a_feed_has_nothing_of_it(tmp_path):
    root = generate_into(
        tmp_path / "no-summaries", seed=7, conversations=60, without_feeds=("autosummary_structured_data",)
    )
    assert not (root / "autosummary_structured_data").exists()
    assert "autosummary_structured_data" not in manifest(root)["feeds"]
    assert manifest(root)["arguments"]["without_feeds"] == ["autosummary_structured_data"]
    assert manifest(root)["feeds"].keys() == manifest(dataset("sixty"))["feeds"].keys() - {
        "autosummary_structured_data"
    }
    for feed in manifest(root)["feeds"]:
        assert rows(root, feed) == rows(dataset("sixty"), feed), "every other feed is the same"
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp",
        "generate",
        "--out",
        str(tmp_path / "x"),
        "--conversations",
        "20",
        "--without-feed",
        "no_such_feed",
    ]
    refused = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert refused.returncode != 0 and "no such feed" in refused.stderr
