"""Following ASAPP's real-time events: the trigger, the pull into the log, the push endpoint, the timeline."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import datetime, timedelta

import httpx
import pytest
import yaml
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.plugin import events_app
from asapp_intercom.realtime import CURSOR, EXPIRED, build_timeline, pull, rows_from_events
from asapp_intercom.report import build_report, render_markdown
from asapp_intercom.staging import Staging
from asapp_intercom.triggers import RealtimeEventsTrigger
from starlette.testclient import TestClient

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.asapp_intercom.conftest import migration_config


def events_in(data) -> list[dict]:
    return [json.loads(line) for line in (data / "_realtime" / "events.jsonl").read_text().splitlines()]


def window(data) -> tuple[datetime, datetime]:
    manifest = json.loads((data / "_manifest.json").read_text())["realtime_window"]
    return datetime.fromisoformat(manifest["start"]), datetime.fromisoformat(manifest["end"])


@pytest.fixture
def stream(dataset, monkeypatch, tmp_path):
    """A fresh ASAPP sandbox whose clock stands just before the real-time window: no event visible yet."""
    start, _end = window(dataset)
    with run_asapp_sandbox(dataset, daily_cap=1_000_000, clock=(start - timedelta(minutes=1)).isoformat()) as asapp:
        monkeypatch.setenv("AIRFLOW_CONN_ASAPP_STREAM", json.dumps(
            {"conn_type": "asapp", "host": asapp.api_url, "login": asapp.api_id, "password": asapp.api_secret}))
        ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "stream")
        yield asapp, ledger
        ledger.close()


def first_event(trigger: RealtimeEventsTrigger, timeout: float) -> dict | None:
    async def first():
        async for event in trigger.run():
            return event.payload

    try:
        return asyncio.run(asyncio.wait_for(first(), timeout))
    except TimeoutError:
        return None


def pull_trigger(cursor: str | None, **extra) -> RealtimeEventsTrigger:
    return RealtimeEventsTrigger(mode="pull", feed="journey", poll_interval=0.2, asapp_conn_id="asapp_stream",
                                 cursor=cursor, **extra)


def test_the_trigger_survives_serialization_unchanged():
    trigger = pull_trigger("eyJmIjoiam91cm5leSIsInMiOjF9", deadline="2026-01-07T06:00:00+00:00")
    classpath, kwargs = trigger.serialize()

    assert classpath == "asapp_intercom.triggers.RealtimeEventsTrigger"
    assert RealtimeEventsTrigger(**kwargs).serialize() == (classpath, kwargs)
    json.dumps(kwargs)  # what the triggerer stores must be plain data


def test_a_restarted_trigger_resumes_from_the_stored_cursor_and_misses_nothing(stream, dataset):
    asapp, ledger = stream
    pull(AsappHook("asapp_stream"), ledger, "journey")
    stored = ledger.get_state(CURSOR)
    waiting = pull_trigger(stored)

    assert first_event(waiting, timeout=1.5) is None  # nothing new yet: it keeps waiting, holding no worker

    asapp.advance_clock(3600)
    restarted = RealtimeEventsTrigger(**waiting.serialize()[1])  # what a triggerer restart rebuilds
    assert first_event(restarted, timeout=10) == {"status": "events"}
    before = ledger.event_summary()[0]
    pulled = pull(AsappHook("asapp_stream"), ledger, "journey")
    start, _ = window(dataset)
    expected = {event["event_id"] for event in events_in(dataset) if event["name"].endswith("journey")
                and datetime.fromisoformat(event["meta_data"]["create_time"].replace("Z", "+00:00"))
                <= start + timedelta(minutes=59)}
    assert pulled.new == ledger.event_summary()[0] - before == len(expected)


def test_pulling_twice_stores_each_event_once(stream, dataset):
    asapp, ledger = stream
    asapp.advance_clock(7 * 3600)
    first = pull(AsappHook("asapp_stream"), ledger, "journey")
    again = pull(AsappHook("asapp_stream"), ledger, "journey")

    journey = [event for event in events_in(dataset) if event["name"].endswith("journey")]
    assert first.delivered == len(journey)  # at-least-once: duplicates are delivered…
    assert ledger.event_summary()[0] == len({event["event_id"] for event in journey})  # …and stored once
    assert again.new == 0


def test_the_trigger_fires_at_its_deadline_when_no_event_comes(stream):
    _asapp, ledger = stream
    pull(AsappHook("asapp_stream"), ledger, "journey")
    deadline = (datetime.now().astimezone() + timedelta(seconds=1)).isoformat()

    assert first_event(pull_trigger(ledger.get_state(CURSOR), deadline=deadline), timeout=10) == {"status": "deadline"}


def test_an_expired_cursor_is_reported_and_the_stream_read_again(stream):
    asapp, ledger = stream
    asapp.advance_clock(3600)
    pull(AsappHook("asapp_stream"), ledger, "journey")
    asapp.advance_clock(8 * 24 * 3600)  # past ASAPP's 7-day retention

    result = pull(AsappHook("asapp_stream"), ledger, "journey")

    assert result.cursor_expired
    assert ledger.get_state(EXPIRED)["last_event_before"] is not None


def test_the_report_says_which_window_only_the_batch_feeds_cover_after_an_expired_cursor(stream, tmp_path):
    asapp, ledger = stream
    asapp.advance_clock(3600)
    pull(AsappHook("asapp_stream"), ledger, "journey")
    asapp.advance_clock(8 * 24 * 3600)
    pull(AsappHook("asapp_stream"), ledger, "journey")

    timeline = build_timeline(Staging(f"file://{tmp_path}/staging"), ledger).as_dict()
    report = build_report(run_id="manual__1", migration_id="stream", params={"mode": "full"}, extract={},
                          field_map=None, transformed=None, timeline=timeline, plan=None, schema=None, loads={},
                          validations={}, ledger=ledger)

    assert timeline["events"] > 0 and timeline["conversations_only_in_events"]  # no batch was staged yet
    last_before = ledger.get_state(EXPIRED)["last_event_before"]
    assert "**The event cursor expired**" in render_markdown(report)
    assert last_before in render_markdown(report)


def test_after_the_daily_cap_the_trigger_calls_nothing_until_the_reset(dataset, monkeypatch):
    start, _ = window(dataset)
    before_midnight = start.replace(hour=23, minute=59, second=56) - timedelta(days=1)
    with run_asapp_sandbox(dataset, daily_cap=50, clock=before_midnight.isoformat()) as asapp:
        monkeypatch.setenv("AIRFLOW_CONN_ASAPP_STREAM", json.dumps(
            {"conn_type": "asapp", "host": asapp.api_url, "login": asapp.api_id, "password": asapp.api_secret}))
        for _ in range(50):  # spend the day's cap
            httpx.get(f"{asapp.api_url}/realtime/v1/events", params={"feed": "journey"}, headers=asapp.headers)

        event = first_event(pull_trigger(None), timeout=30)

        assert event == {"status": "events"}  # it went on after ASAPP's midnight reset…
        assert asapp.stats()["rejections"].get("429-02") == 1  # …having made no call after the first refusal


def test_journey_events_become_feed_rows_with_the_accumulated_state(dataset):
    envelopes = list(enumerate(events_in(dataset), start=1))
    rows = rows_from_events(envelopes)

    messages = [envelope for _, envelope in envelopes if envelope["event_type"] == "TEXT_MESSAGE"]
    assert len({row["event_uuid"] for row in rows["utterances"]}) == len(
        {envelope["details"]["message"]["event_uuid"] for envelope in messages})
    ended = {envelope["meta_data"]["issue_id"] for _, envelope in envelopes
             if envelope.get("details", {}).get("issue_ended_ts")}
    closed = {row["issue_id"] for row in rows["convos_metadata"] if row["conversation_end_ts"]}
    assert closed == {int(issue) for issue in ended}
    assert all(row["_partition"].startswith("dt=") for feed in rows.values() for row in feed)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_push_endpoint_stores_signed_events_once_and_refuses_the_rest(dataset, tmp_path, monkeypatch):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    config = migration_config("pushed", tmp_path, asapp={"realtime": {"mode": "push", "webhook_conn_id": "hook"}})
    (migrations / "pushed.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(migrations))
    monkeypatch.setenv("AIRFLOW_CONN_HOOK", json.dumps({"conn_type": "generic", "password": "s3cret-shared"}))
    event = events_in(dataset)[0]
    body = json.dumps(event).encode()
    client = TestClient(events_app)

    assert client.post("/events/pushed", content=body).status_code == 401
    assert client.post("/events/pushed", content=body, headers={"X-Asapp-Signature": sign(body, "wrong")}).status_code == 401
    assert client.post("/events/nobody", content=body, headers={"X-Asapp-Signature": sign(body, "s3cret-shared")}).status_code == 401
    signed = {"X-Asapp-Signature": sign(body, "s3cret-shared")}
    assert client.post("/events/pushed", content=body, headers=signed).json() == {"event_id": event["event_id"], "stored": True}
    assert client.post("/events/pushed", content=body, headers=signed).json()["stored"] is False
    assert Ledger(f"sqlite:///{tmp_path}/ledger.db", "pushed").event_summary()[0] == 1
