"""The trigger that follows ASAPP's real-time events while the sensor holds no worker slot."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import httpx
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.ledger.state import EventCursor
from asapp_intercom.pipeline.realtime import pull
from asapp_intercom.triggers.realtime import RealtimeEventsTrigger

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.support.realtime import usable_events, window


def first_event(trigger: RealtimeEventsTrigger, timeout: float) -> dict | None:
    async def first():
        async for event in trigger.run():
            return event.payload

    try:
        return asyncio.run(asyncio.wait_for(first(), timeout))
    except TimeoutError:
        return None


def pull_trigger(cursor: str | None, **extra) -> RealtimeEventsTrigger:
    return RealtimeEventsTrigger(
        mode="pull", feed="journey", poll_interval=0.2, asapp_conn_id="asapp_stream", cursor=cursor, **extra
    )


def test_the_trigger_survives_serialization_unchanged():
    trigger = pull_trigger("eyJmIjoiam91cm5leSIsInMiOjF9", deadline="2026-01-07T06:00:00+00:00")
    classpath, kwargs = trigger.serialize()

    assert classpath == "asapp_intercom.triggers.realtime.RealtimeEventsTrigger"
    assert RealtimeEventsTrigger(**kwargs).serialize() == (classpath, kwargs)
    json.dumps(kwargs)  # what the triggerer stores must be plain data


def test_a_restarted_trigger_resumes_from_the_stored_cursor_and_misses_nothing(stream, dataset):
    asapp, ledger = stream
    pull(AsappHook("asapp_stream"), ledger, "journey")
    stored = (ledger.load(EventCursor) or EventCursor()).cursor
    waiting = pull_trigger(stored)

    assert first_event(waiting, timeout=1.5) is None  # nothing new yet: it keeps waiting, holding no worker

    asapp.advance_clock(3600)
    restarted = RealtimeEventsTrigger(**waiting.serialize()[1])  # what a triggerer restart rebuilds
    assert first_event(restarted, timeout=10) == {"status": "events"}
    before = ledger.event_summary()[0]
    pulled = pull(AsappHook("asapp_stream"), ledger, "journey")
    start, _ = window(dataset)
    expected = {
        event["event_id"]
        for _, event in usable_events(dataset)
        if event["name"].endswith("journey")
        and datetime.fromisoformat(event["meta_data"]["create_time"].replace("Z", "+00:00"))
        <= start + timedelta(minutes=59)
    }
    assert pulled.new == ledger.event_summary()[0] - before == len(expected)


def test_the_trigger_fires_at_its_deadline_when_no_event_comes(stream):
    _asapp, ledger = stream
    pull(AsappHook("asapp_stream"), ledger, "journey")
    deadline = (datetime.now().astimezone() + timedelta(seconds=1)).isoformat()

    assert first_event(
        pull_trigger((ledger.load(EventCursor) or EventCursor()).cursor, deadline=deadline), timeout=10
    ) == {"status": "deadline"}


def test_after_the_daily_cap_the_trigger_calls_nothing_until_the_reset(dataset, monkeypatch):
    start, _ = window(dataset)
    day_before = start.replace(hour=12, minute=0, second=0) - timedelta(days=1)
    with run_asapp_sandbox(dataset, daily_cap=50, clock=day_before.isoformat()) as asapp:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ASAPP_STREAM",
            json.dumps(
                {
                    "conn_type": "asapp",
                    "host": asapp.api_url,
                    "login": asapp.api_id,
                    "password": asapp.api_secret,
                }
            ),
        )
        for _ in range(50):  # spend the day's cap
            httpx.get(
                f"{asapp.api_url}/realtime/v1/events", params={"feed": "journey"}, headers=asapp.headers
            )
        asapp.set_clock(
            day_before.replace(hour=23, minute=59, second=52)
        )  # a few seconds before ASAPP's midnight

        event = first_event(pull_trigger(None), timeout=40)

        assert event == {"status": "events"}  # it went on after ASAPP's midnight reset…
        assert asapp.stats()["rejections"].get("429-02") == 1  # …having made no call after the first refusal


def test_revoked_keys_end_the_wait_with_an_error_event(stream):
    asapp, _ledger = stream
    asapp.revoke_key()

    event = first_event(pull_trigger(None), timeout=20)

    assert event["status"] == "error" and "401" in event["message"]
