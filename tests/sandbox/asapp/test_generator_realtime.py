"""_realtime/events.jsonl: ASAPP's envelope, sorted, inside its window, with accumulated journey details."""

import re
from collections import defaultdict
from datetime import datetime

from tests.sandbox.asapp.generated import dataset, manifest, realtime_events, rows

EVENT_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
ENVELOPE = ["api_version", "name", "meta_data", "data", "event_id", "event_type", "details"]
MESSAGE = {"event_uuid", "created_ts", "sender_type", "sender_id", "utterance_type", "text"}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def journeys(root) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for event in realtime_events(root):
        if event["name"] == "com.asapp.event.journey":
            grouped[event["meta_data"]["issue_id"]].append(event)
    return grouped


def contains_null(value) -> bool:
    if isinstance(value, dict):
        return any(item is None or contains_null(item) for item in value.values())
    if isinstance(value, list):
        return any(item is None or contains_null(item) for item in value)
    return False


def test_envelopes_are_well_formed_sorted_and_inside_the_window():
    root = dataset("moderate")
    events = realtime_events(root)
    window = manifest(root)["realtime_window"]
    start, end = instant(window["start"]), instant(window["end"])
    assert len(events) == manifest(root)["realtime"]["lines"] - len(
        manifest(root)["mess"]["malformed_events"]
    )
    create_times = [event["meta_data"]["create_time"] for event in events]
    assert create_times == sorted(create_times)
    for event in events:
        assert list(event) == ENVELOPE
        assert event["api_version"] == "v1.3.0"
        assert event["name"] in ("com.asapp.event.journey", "com.asapp.event.activity")
        meta = event["meta_data"]
        assert EVENT_TS.fullmatch(meta["create_time"]) and EVENT_TS.fullmatch(meta["event_time"])
        assert (
            start <= instant(meta["event_time"]) <= instant(meta["create_time"])
            and instant(meta["event_time"]) < end
        )
        assert meta["company_id"] == "acme"
        assert re.fullmatch(r"[0-9a-f-]{36}", event["event_id"])
        assert not contains_null(event), "ASAPP omits null fields"
        if event["name"] == "com.asapp.event.journey":
            assert isinstance(meta["issue_id"], str) and isinstance(meta["company_segments"], list)
            assert meta["client_type"] in ("WEB", "IOS", "ANDROID")


def test_text_messages_carry_the_message_extension_and_continue_open_conversations():
    root = dataset("moderate")
    batch_events = {row["event_uuid"] for row in rows(root, "utterances")}
    latest = {}
    for row in rows(root, "convos_metadata"):
        if row["issue_id"] not in latest or row["instance_ts"] > latest[row["issue_id"]]["instance_ts"]:
            latest[row["issue_id"]] = row
    continued = set()
    messages = [e for e in realtime_events(root) if e["event_type"] == "TEXT_MESSAGE"]
    assert messages
    for event in messages:
        message = event["details"]["message"]
        assert set(message) == MESSAGE and message["event_uuid"] not in batch_events
        assert message["created_ts"] == event["meta_data"]["event_time"]
        issue = int(event["meta_data"]["issue_id"])
        if issue in latest:
            assert latest[issue]["conversation_end_ts"] is None, (
                "only conversations open at the boundary continue"
            )
            continued.add(issue)
    assert continued and continued <= set(manifest(root)["realtime_continued_issue_ids"])
    assert all(
        "message" not in e["details"] for e in realtime_events(root) if e["event_type"] != "TEXT_MESSAGE"
    )


def test_journey_details_accumulate_per_issue():
    root = dataset("moderate")
    for issue, events in journeys(root).items():
        seen: dict = {}
        for event in events:
            details = event["details"]
            assert details["issue_start_ts"] == events[0]["details"]["issue_start_ts"]
            for key, value in seen.items():
                if key.endswith("_ct"):
                    assert details[key] >= value, (issue, key)
                elif key in ("assigned_ts", "uploaded_files_list", "customer_params_field_01"):
                    assert key in details, (issue, key)
            seen = {k: v for k, v in details.items() if k != "message"}


def test_lifecycle_events_carry_their_documented_fields():
    root = dataset("moderate")
    external_ids = {row["external_rep_id"] for row in rows(root, "rep_attributes")}
    customers = {row["customer_id"] for row in rows(root, "customers")}
    kinds = defaultdict(list)
    for event in realtime_events(root):
        kinds[event["event_type"]].append(event)
    for event in kinds["ASSIGNED"]:
        assert event["data"]["agent_id"] == event["data"]["rep_id"]
        assert event["data"]["external_agent_id"] in external_ids and event["data"]["agent_name"]
    for event in kinds["ISSUE_ENDED"] + kinds["CONVERSATION_ENDED"]:
        assert isinstance(event["details"]["is_resolved"], bool) and EVENT_TS.fullmatch(
            event["details"]["issue_ended_ts"]
        )
    for event in kinds["SURVEY_SUBMITTED"]:
        assert event["details"]["survey_responses"][0]["question"] == "VOC Score"
    for event in kinds["FILE_UPLOAD_DETECTED"]:
        for item in event["details"]["uploaded_files_list"]:
            assert (root / "_attachments" / item["file_upload_event_id"]).is_file()
    for event in realtime_events(root):
        if event["name"] == "com.asapp.event.journey":
            assert event["data"]["customer_id"] in customers
    for kind in (
        "ISSUE_CREATED",
        "TEXT_MESSAGE",
        "ASSIGNED",
        "FILE_UPLOAD_DETECTED",
        "SURVEY_SUBMITTED",
        "CONVERSATION_ENDED",
        "ISSUE_ENDED",
        "agent_activity_identity_updated",
        "agent_activity_status_updated",
    ):
        assert kinds[kind], kind


def test_every_rep_reports_its_identity_during_the_window():
    root = dataset("moderate")
    identities = {
        e["data"]["rep_id"]: e["data"]
        for e in realtime_events(root)
        if e["event_type"] == "agent_activity_identity_updated"
    }
    reps = {row["rep_id"]: row for row in rows(root, "reps")}
    assert set(identities) == set(reps)
    last_day = max(row["created_ts"] for row in rows(root, "reps"))
    for rep_id, data in identities.items():
        current = next(r for r in rows(root, "reps") if r["rep_id"] == rep_id and r["created_ts"] == last_day)
        assert data["rep_name"] == current["name"] and data["max_slots"] == current["max_slot"]
