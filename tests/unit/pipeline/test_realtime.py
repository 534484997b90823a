"""ASAPP's real-time events: pulled into the log once each, and merged onto the batch feeds as one
timeline."""

from __future__ import annotations

from asapp_intercom.domain.report import LedgerView, build_report, render_markdown
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.ledger.state import CursorExpiry
from asapp_intercom.pipeline.realtime import build_timeline, pull, rows_from_events
from asapp_intercom.pipeline.staging import Staging

from tests.support.realtime import events_in, usable_events


def test_pulling_twice_stores_each_event_once(stream, dataset):
    asapp, ledger = stream
    asapp.advance_clock(7 * 3600)
    first = pull(AsappHook("asapp_stream"), ledger, "journey")
    again = pull(AsappHook("asapp_stream"), ledger, "journey")

    journey = [event for event in events_in(dataset) if event.get("name") == "com.asapp.event.journey"]
    usable = {event["event_id"] for _, event in usable_events(dataset) if event["name"].endswith("journey")}
    assert first.delivered == len(journey)  # at-least-once: duplicates (and malformed events) are delivered…
    assert ledger.event_summary()[0] == len(usable)  # …and the usable ones stored once
    assert again.new == 0


def test_an_expired_cursor_is_reported_and_the_stream_read_again(stream):
    asapp, ledger = stream
    asapp.advance_clock(3600)
    pull(AsappHook("asapp_stream"), ledger, "journey")
    asapp.advance_clock(8 * 24 * 3600)  # past ASAPP's 7-day retention

    result = pull(AsappHook("asapp_stream"), ledger, "journey")

    assert result.cursor_expired
    assert ledger.load(CursorExpiry).last_event_before is not None


def test_the_report_says_which_window_only_the_batch_feeds_cover_after_an_expired_cursor(stream, tmp_path):
    asapp, ledger = stream
    asapp.advance_clock(3600)
    pull(AsappHook("asapp_stream"), ledger, "journey")
    asapp.advance_clock(8 * 24 * 3600)
    pull(AsappHook("asapp_stream"), ledger, "journey")

    timeline = build_timeline(Staging(f"file://{tmp_path}/staging"), ledger).as_dict()
    report = build_report(
        run_id="manual__1",
        migration_id="stream",
        params={"mode": "full"},
        extract={},
        field_map=None,
        transformed=None,
        timeline=timeline,
        plan=None,
        schema=None,
        loads={},
        validations={},
        ledger=LedgerView(),
    )

    assert timeline["events"] > 0 and timeline["conversations_only_in_events"]  # no batch was staged yet
    last_before = ledger.load(CursorExpiry).model_dump(mode="json")["last_event_before"]
    assert "**The event cursor expired**" in render_markdown(report)
    assert last_before in render_markdown(report)


def test_journey_events_become_feed_rows_with_the_accumulated_state(dataset):
    envelopes = usable_events(dataset)
    rows = rows_from_events(envelopes)

    messages = [envelope for _, envelope in envelopes if envelope["event_type"] == "TEXT_MESSAGE"]
    assert len({row["event_uuid"] for row in rows["utterances"]}) == len(
        {envelope["details"]["message"]["event_uuid"] for envelope in messages}
    )
    ended = {
        envelope["meta_data"]["issue_id"]
        for _, envelope in envelopes
        if envelope.get("details", {}).get("issue_ended_ts")
    }
    closed = {row["issue_id"] for row in rows["convos_metadata"] if row["conversation_end_ts"]}
    assert closed == {int(issue) for issue in ended}
    assert all(row["_partition"].startswith("dt=") for feed in rows.values() for row in feed)
