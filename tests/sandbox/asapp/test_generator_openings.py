"""Who writes first: most conversations open with the customer, about a fifth with the virtual
assistant's greeting and a few with an agent's proactive message, in the feeds and the real-time log."""

import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from tests.sandbox.asapp.generated import dataset, manifest, mess_ids, realtime_events, rows

REPO_ROOT = Path(__file__).resolve().parents[3]
FIRST_SENDER = {"bot_first": "bot", "rep_first": "rep"}


def instant(text: str) -> datetime:
    """Any timestamp the dataset writes (the alternate_timestamps mess has no zone: UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def messages_by_issue(root: Path) -> dict[int, list[dict]]:
    """Every message of every conversation, batch rows and real-time TEXT_MESSAGEs together, in time order."""
    merged: dict[int, dict[str, dict]] = defaultdict(dict)
    for row in rows(root, "utterances"):
        merged[row["issue_id"]][row["event_uuid"]] = {
            "at": instant(row["created_ts"]),
            "sender_type": row["sender_type"],
            "sender_id": row["sender_id"],
            "sent_to_rep": row["sent_to_rep"],
            "source": "batch",
        }
    for event in realtime_events(root):
        if event["event_type"] == "TEXT_MESSAGE":
            message = event["details"]["message"]
            merged[int(event["meta_data"]["issue_id"])][message["event_uuid"]] = {
                "at": instant(message["created_ts"]),
                "sender_type": message["sender_type"],
                "sender_id": message["sender_id"],
                "source": "realtime",
            }
    return {issue: sorted(by_uuid.values(), key=lambda m: m["at"]) for issue, by_uuid in merged.items()}


def expected_first_sender(root: Path) -> dict[int, str]:
    openings = manifest(root)["openings"]
    return {issue: FIRST_SENDER[kind] for kind, issues in openings.items() for issue in issues}


def test_a_fifth_open_with_the_bot_and_a_few_with_a_rep_before_the_customer_writes():
    root = dataset("moderate")
    conversations = messages_by_issue(root)
    listed = expected_first_sender(root)
    assert set(listed) <= set(conversations)
    for issue, messages in conversations.items():
        opener = messages[0]
        assert opener["sender_type"] == listed.get(issue, "customer"), issue
        first_customer = next(m for m in messages if m["sender_type"] == "customer")
        if issue in listed:
            assert opener["at"] < first_customer["at"], issue
    shares = {kind: len(issues) / len(conversations) for kind, issues in manifest(root)["openings"].items()}
    assert 0.15 <= shares["bot_first"] <= 0.25 and 0.015 <= shares["rep_first"] <= 0.05, shares


def test_the_realtime_log_shows_the_openings_of_conversations_that_start_there():
    root = dataset("moderate")
    listed = expected_first_sender(root)
    first_text = {}
    for event in realtime_events(root):
        issue = int(event["meta_data"].get("issue_id", 0))
        if event["event_type"] == "TEXT_MESSAGE" and issue not in first_text:
            first_text[issue] = event["details"]["message"]["sender_type"]
    realtime_only = mess_ids(root, "realtime_only_conversations")
    assert {first_text[issue] for issue in realtime_only} == {"customer", "bot", "rep"}, (
        "this dataset's real-time-only conversations show every opening"
    )
    for issue in realtime_only:
        assert first_text[issue] == listed.get(issue, "customer"), issue


def test_a_rep_who_writes_first_is_assigned_from_the_start_without_a_queue():
    root = dataset("moderate")
    conversations = messages_by_issue(root)
    latest = {}
    for row in rows(root, "convos_metadata"):
        if row["issue_id"] not in latest or row["instance_ts"] > latest[row["issue_id"]]["instance_ts"]:
            latest[row["issue_id"]] = row
    journeys = defaultdict(list)
    for event in realtime_events(root):
        if event["name"] == "com.asapp.event.journey":
            journeys[int(event["meta_data"]["issue_id"])].append(event["event_type"])
    rep_first = manifest(root)["openings"]["rep_first"]
    for issue in rep_first:
        opener, *later = conversations[issue]
        assert all(
            m["sent_to_rep"] for m in later if m["sender_type"] == "customer" and m["source"] == "batch"
        )
        if issue in latest:
            metadata = latest[issue]
            assert str(opener["sender_id"]) == metadata["first_rep_id"] and metadata["escalated_to_chat"] == 1
            assert instant(metadata["assigned_to_rep_time"]) <= opener["at"]
            assert instant(metadata["first_utterance_ts"]) > opener["at"], (
                "first_utterance_* is the customer's"
            )
        elif journeys[issue]:
            assert "QUEUED" not in journeys[issue][: journeys[issue].index("TEXT_MESSAGE")]
            assert "ASSIGNED" in journeys[issue][: journeys[issue].index("TEXT_MESSAGE")]
    assert any(issue in latest for issue in rep_first)


def test_bot_greetings_first_leave_first_utterance_to_the_customer():
    root = dataset("moderate")
    first_customer = {}
    for row in sorted(rows(root, "utterances"), key=lambda r: r["created_ts"]):
        if row["sender_type"] == "customer":
            first_customer.setdefault(row["issue_id"], row["created_ts"])
    bot_first = set(manifest(root)["openings"]["bot_first"]) - set(mess_ids(root, "alternate_timestamps"))
    checked = 0
    for row in rows(root, "convos_metadata"):
        if row["issue_id"] in bot_first and row["first_utterance_ts"] is not None:
            assert row["first_utterance_ts"] == first_customer[row["issue_id"]]
            checked += 1
    assert checked


def test_openings_are_traffic_not_mess_so_no_mess_keeps_them():
    clean, messy = dataset("clean"), dataset("moderate")
    realtime_only = set(mess_ids(messy, "realtime_only_conversations"))
    for kind, issues in manifest(messy)["openings"].items():
        batch_issues = [issue for issue in issues if issue not in realtime_only]
        assert manifest(clean)["openings"][kind] == batch_issues and batch_issues, kind


def test_customer_first_makes_every_conversation_open_with_the_customer(tmp_path):
    out = tmp_path / "customer-first"
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp",
        "generate",
        "--out",
        str(out),
        "--conversations",
        "120",
        "--realtime-hours",
        "2",
        "--customer-first",
    ]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    written = manifest(out)
    assert written["arguments"]["customer_first"] is True
    assert written["openings"] == {"bot_first": [], "rep_first": []}
    conversations = messages_by_issue(out)
    assert len(conversations) > 120
    assert all(messages[0]["sender_type"] == "customer" for messages in conversations.values())
