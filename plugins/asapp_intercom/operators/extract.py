"""Extraction tasks: read each feed's new files once into the staging area."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.operators.base import MigrationOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


class ExtractFeedOperator(MigrationOperator):
    """Stage one feed (mapped over the feeds). Waits, without a worker slot, when ASAPP's daily cap is
    spent."""

    def __init__(self, *, feed: str, **kwargs):
        super().__init__(**kwargs)
        self.feed = feed

    def execute(self, context: Context, event: dict | None = None) -> dict:
        from asapp_intercom.hooks.asapp import DailyCapReached
        from asapp_intercom.pipeline.extract import extract_feed
        from asapp_intercom.pipeline.sources import RequiredFeedMissing

        self.log.info("Feed %s (%s)", self.feed, self.feed_source(self.feed).channel)
        try:
            manifest = extract_feed(
                self.feed_source(self.feed),
                FEEDS[self.feed],
                self.staging,
                self.ledger,
                context["run_id"],
                required=self.feed in self.migration.asapp.required_feeds,
            )
        except DailyCapReached as cap:
            self.wait_for_cap_reset(context, cap)
        except RequiredFeedMissing as missing:
            raise AirflowFailException(str(missing)) from None
        self.staged = manifest
        return manifest.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance) -> OperatorLineage:
        """The feed as read from ASAPP (rows and files), and as staged (operators/lineage.py)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from asapp_intercom.operators import lineage

        manifest = getattr(self, "staged", None)
        if manifest is None or not manifest.available:
            return OperatorLineage()
        return OperatorLineage(
            inputs=[
                lineage.read(
                    self.feed_source(self.feed).dataset(self.feed),
                    manifest.rows_staged + manifest.rows_quarantined,
                    manifest.files_staged,
                )
            ],
            outputs=[
                lineage.written(
                    lineage.staged_feed(self.staging, self.feed), manifest.rows_staged, manifest.files_staged
                )
            ],
        )


class TimelineOperator(MigrationOperator):
    """Merge the real-time event log onto the batch feeds, and report what the batches lacked."""

    def execute(self, context: Context) -> dict:
        if self.migration.asapp.realtime.mode == "off":
            return {"mode": "off"}
        from asapp_intercom.pipeline.realtime import build_timeline

        timeline = build_timeline(self.staging, self.ledger)
        self.log.info(
            "Timeline: %d events; %d conversations only in events, %d extended by events, %d messages "
            "only in events%s",
            timeline.events,
            len(timeline.conversations_only_in_events),
            len(timeline.conversations_extended_by_events),
            timeline.messages_only_in_events,
            f"; the event cursor expired: {timeline.cursor_expired}" if timeline.cursor_expired else "",
        )
        return timeline.as_dict()
