"""The deferrable sensor that follows ASAPP's real-time events up to the run's watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowException

from asapp_intercom.operators.base import MigrationOperator


class RealtimeEventsSensor(MigrationOperator, BaseSensorOperator):
    """Brings the event log up to the run's watermark, waiting in the triggerer, not in a worker.

    The watermark is the end of a scheduled or backfill run's data interval, the run's
    `follow_events_until` or `cutover_at` (the freeze) for a manual run (none: take what is there and
    go on), never later than the cutover (the config's, or a cutover run's that said go). It is
    reached once an event at or past it has arrived, or once the watermark plus the config's grace
    period has passed on the clock.
    """

    def watermark(self, context: Context) -> datetime | None:
        _since, until = self.window(context)
        form = self.form(context)
        watermark = until or form.follow_events_until or form.cutover_at
        cutover = self.cutover_at()
        if watermark is not None and cutover is not None:
            watermark = min(watermark, cutover)
        return watermark

    def execute(self, context: Context, event: dict | None = None) -> dict | None:
        """Store what the stream holds now; return if the watermark is reached, else wait for more."""
        from asapp_intercom.hooks.asapp import DailyCapReached
        from asapp_intercom.pipeline.realtime import pull

        realtime = self.migration.asapp.realtime
        if realtime.mode == "off":
            return {"mode": "off"}
        watermark = self.watermark(context)  # first: a run wholly after the cutover asks ASAPP nothing
        result: dict[str, Any] = {}
        if realtime.mode == "pull":
            try:
                result = vars(pull(self.asapp_hook, self.ledger, realtime.feed, context["run_id"]))
            except DailyCapReached as cap:
                self.wait_for_cap_reset(context, cap)
        logged, position, newest = self.ledger.event_summary()
        summary = {
            "mode": realtime.mode,
            **result,
            "events_logged": logged,
            "newest_event": newest.isoformat() if newest else None,
            "watermark": watermark.isoformat() if watermark else None,
        }
        self.log.info("Real-time events (%s): %s", realtime.mode, summary)
        if watermark is None or (newest is not None and newest >= watermark):
            return summary
        deadline = watermark + timedelta(seconds=realtime.grace_seconds)
        if datetime.now(UTC) >= deadline:
            self.log.info(
                "The watermark %s plus %s s of grace has passed; going on with what arrived",
                watermark,
                realtime.grace_seconds,
            )
            return summary
        self._defer(deadline, position)
        return None

    def execute_complete(self, context: Context, event: dict) -> dict | None:
        """The trigger saw new events or the deadline pass: store them and look again; an error ends the
        task."""
        if event.get("status") == "error":
            raise AirflowException(f"Following ASAPP's real-time events failed: {event.get('message')}")
        return self.execute(context)

    def _defer(self, deadline: datetime, position: int) -> None:
        from asapp_intercom.ledger.state import EventCursor
        from asapp_intercom.triggers.realtime import RealtimeEventsTrigger

        realtime = self.migration.asapp.realtime
        pulling = realtime.mode == "pull"
        self.defer(
            method_name="execute_complete",
            trigger=RealtimeEventsTrigger(
                mode=realtime.mode,
                feed=realtime.feed,
                poll_interval=realtime.poll_interval,
                asapp_conn_id=self.migration.asapp.conn_id if pulling else None,
                cursor=(self.ledger.load(EventCursor) or EventCursor()).cursor if pulling else None,
                ledger_url=None if pulling else self.migration.ledger_url(),
                migration_id=None if pulling else self.migration.migration_id,
                log_position=position,
                deadline=deadline.isoformat(),
            ),
        )
