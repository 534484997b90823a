"""The deferrable sensor that follows ASAPP's real-time events up to the run's watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import BaseSensorOperator, Context

from asapp_intercom.hooks.asapp import DailyCapReached
from asapp_intercom.operators.base import MigrationOperator
from asapp_intercom.realtime import CURSOR, pull
from asapp_intercom.times import instant
from asapp_intercom.triggers import RealtimeEventsTrigger


class RealtimeEventsSensor(MigrationOperator, BaseSensorOperator):
    """Brings the event log up to the run's watermark, waiting in the triggerer, not in a worker.

    The watermark is the end of a scheduled or backfill run's data interval, the run's
    `follow_events_until` param for a manual run (none: take what is there and go on), never later
    than the config's cutover. It is reached once an event at or past it has arrived, or once the
    watermark plus the config's grace period has passed on the clock.
    """

    def watermark(self, context: Context) -> datetime | None:
        realtime = self.migration.asapp.realtime
        _since, until = self.window(context)
        follow = context["params"].get("follow_events_until")
        watermark = until or instant(follow)
        if watermark is not None and realtime.cutover_at is not None:
            watermark = min(watermark, realtime.cutover_at)
        return watermark

    def execute(self, context: Context, event: dict | None = None) -> dict:
        realtime = self.migration.asapp.realtime
        if realtime.mode == "off":
            return {"mode": "off"}
        result = {}
        if realtime.mode == "pull":
            try:
                result = vars(pull(self.asapp_hook, self.ledger, realtime.feed))
            except DailyCapReached as cap:
                self.wait_for_cap_reset(cap)
        logged, position, newest = self.ledger.event_summary()
        watermark = self.watermark(context)
        summary = {"mode": realtime.mode, **result, "events_logged": logged,
                   "newest_event": newest.isoformat() if newest else None,
                   "watermark": watermark.isoformat() if watermark else None}
        self.log.info("Real-time events (%s): %s", realtime.mode, summary)
        if watermark is None or (newest is not None and newest >= watermark):
            return summary
        deadline = watermark + timedelta(seconds=realtime.grace_seconds)
        if datetime.now(UTC) >= deadline:
            self.log.info("The watermark %s plus %s s of grace has passed; going on with what arrived",
                          watermark, realtime.grace_seconds)
            return summary
        self._wait(realtime, deadline, position)

    def _wait(self, realtime, deadline: datetime, position: int) -> None:
        """Defer to the trigger; on any event, execute() runs again (it is idempotent)."""
        pulling = realtime.mode == "pull"
        self.defer(method_name="execute", trigger=RealtimeEventsTrigger(
            mode=realtime.mode, feed=realtime.feed, poll_interval=realtime.poll_interval,
            asapp_conn_id=self.migration.asapp.conn_id if pulling else None,
            cursor=self.ledger.get_state(CURSOR) if pulling else None,
            ledger_url=None if pulling else self.migration.ledger_url(),
            migration_id=None if pulling else self.migration.migration_id,
            log_position=position, deadline=deadline.isoformat()))
