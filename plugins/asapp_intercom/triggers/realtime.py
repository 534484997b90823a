"""The trigger that follows ASAPP's real-time events while the sensor holds no worker slot.

It only looks: it never stores an event or moves a cursor (triggers may run more than once), so a
triggerer restart simply starts looking again from the position the sensor stored. It fires when
the stream (pull mode) or the event log (push mode) has something past that position, or when the
run's watermark has passed. After ASAPP's daily-cap 429 it makes no call until the cap resets. It
fires an error event when ASAPP refuses the keys, or when looking failed too many times in a row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent
from sqlalchemy.exc import SQLAlchemyError

from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import AsappHook, DailyCapReached
from asapp_intercom.ledger import Ledger

MAX_BACKOFF_SECONDS = 300
MAX_CONSECUTIVE_FAILURES = 10


class RealtimeEventsTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        mode: str,
        feed: str,
        poll_interval: float,
        asapp_conn_id: str | None = None,
        cursor: str | None = None,
        ledger_url: str | None = None,
        migration_id: str | None = None,
        log_position: int = 0,
        deadline: str | None = None,
    ):
        super().__init__()
        self.mode = mode
        self.feed = feed
        self.poll_interval = poll_interval
        self.asapp_conn_id = asapp_conn_id
        self.cursor = cursor
        self.ledger_url = ledger_url
        self.migration_id = migration_id
        self.log_position = log_position
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "asapp_intercom.triggers.realtime.RealtimeEventsTrigger", {
            "mode": self.mode,
            "feed": self.feed,
            "poll_interval": self.poll_interval,
            "asapp_conn_id": self.asapp_conn_id,
            "cursor": self.cursor,
            "ledger_url": self.ledger_url,
            "migration_id": self.migration_id,
            "log_position": self.log_position,
            "deadline": self.deadline,
        }

    @cached_property
    def hook(self) -> AsappHook:
        return AsappHook(self.asapp_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ledger = (
            await asyncio.to_thread(Ledger, self.ledger_url, self.migration_id)
            if self.mode == "push"
            else None
        )
        try:
            async for event in self._watch(ledger):
                yield event
                return
        finally:
            if ledger is not None:
                ledger.close()

    async def _watch(self, ledger: Ledger | None) -> AsyncIterator[TriggerEvent]:
        failures = 0
        while True:
            try:
                if await self._has_new_events(ledger):
                    yield TriggerEvent({"status": "events"})
                    return
                failures = 0
            except DailyCapReached as cap:
                self.log.warning("ASAPP's daily cap is spent; no call until %s", cap.resets_at)
                await _sleep_until(cap.resets_at)
                continue
            except ApiError as error:
                if error.status == 410:  # the cursor expired: the sensor records it and starts again
                    yield TriggerEvent({"status": "events"})
                    return
                if error.status in {401, 403}:
                    yield TriggerEvent({"status": "error", "message": f"ASAPP refused the keys: {error}"})
                    return
                failures += 1
                self.log.warning("Looking at ASAPP's events failed (%s); trying again", error)
            except (OSError, httpx.HTTPError, SQLAlchemyError) as error:
                failures += 1
                self.log.warning("Looking for events failed (%s); trying again", error)
            if failures >= MAX_CONSECUTIVE_FAILURES:
                yield TriggerEvent(
                    {"status": "error", "message": f"looking for events failed {failures} times in a row"}
                )
                return
            if self.deadline and datetime.now(UTC) >= datetime.fromisoformat(self.deadline):
                yield TriggerEvent({"status": "deadline"})
                return
            await asyncio.sleep(min(self.poll_interval * 2**failures, MAX_BACKOFF_SECONDS))

    async def _has_new_events(self, ledger: Ledger | None) -> bool:
        if ledger is None:
            page = await self.hook.apeek_events(self.cursor, self.feed)
            return bool(page.get("events"))
        return bool(await asyncio.to_thread(ledger.events_after, self.log_position, 1))


async def _sleep_until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)) / timedelta(seconds=1)
    if delay > 0:
        await asyncio.sleep(delay)
