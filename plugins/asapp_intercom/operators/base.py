"""What every migration task shares: its config, connections, ledger, staging area and run scope."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator, Context
from pydantic import BaseModel, ConfigDict

from asapp_intercom.config import OBJECTS, MigrationConfig, RunMode, ThreadMode
from asapp_intercom.hooks.asapp import AsappHook, DailyCapReached
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.sources import FeedSource, FileExporterFeedSource, S3FeedSource
from asapp_intercom.staging import Staging
from asapp_intercom.times import instant
from asapp_intercom.transform import DELTA_MARK, Scope

WINDOWED_RUN_TYPES = {"scheduled", "backfill"}


class RunParams(BaseModel):
    """The run form's values (see dag_factory.run_params), validated once more in the task."""

    model_config = ConfigDict(extra="ignore")

    mode: RunMode
    sample_size: int
    objects: list[str]
    dry_run: bool
    thread_mode: ThreadMode


class MigrationOperator(BaseOperator):
    """Base of the migration's tasks. `config` is the validated migration config as plain data."""

    ui_color = "#e8f0fe"

    def __init__(self, *, config: dict[str, Any], **kwargs):
        super().__init__(**kwargs)
        self.config = config

    @cached_property
    def migration(self) -> MigrationConfig:
        return MigrationConfig.model_validate(self.config)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.migration.ledger_url(), self.migration.migration_id)

    @cached_property
    def staging(self) -> Staging:
        staging = self.migration.staging
        return Staging(self.migration.staging_url(), staging.conn_id, staging.memory_limit)

    @cached_property
    def asapp_hook(self) -> AsappHook:
        return AsappHook(self.migration.asapp.conn_id)

    @cached_property
    def intercom_hook(self) -> IntercomHook:
        target = self.migration.intercom
        return IntercomHook(target.conn_id, requests_per_minute=target.requests_per_minute,
                            concurrency=target.concurrency)

    def feed_source(self, feed: str) -> FeedSource:
        asapp = self.migration.asapp
        if feed in asapp.file_exporter_feeds:
            return FileExporterFeedSource(self.asapp_hook)
        return S3FeedSource(S3Hook(aws_conn_id=asapp.s3_conn_id), asapp.bucket, asapp.prefix)

    @staticmethod
    def params_of(context: Context) -> RunParams:
        return RunParams.model_validate(dict(context["params"]))

    @staticmethod
    def window(context: Context) -> tuple[datetime | None, datetime | None]:
        """A scheduled or backfill run covers its data interval; a manual run covers everything."""
        run = context["dag_run"]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        run_type = str(getattr(run.run_type, "value", run.run_type)).lower()
        if run_type in WINDOWED_RUN_TYPES and start and end and end > start:
            return start, end
        return None, None

    def scope(self, context: Context) -> Scope:
        params = self.params_of(context)
        since, until = self.window(context)
        mark = self.ledger.get_state(DELTA_MARK) or {}
        return Scope(mode=RunMode.full if since else params.mode, sample_size=params.sample_size, since=since,
                     until=until, staged_after=instant(mark.get("staged_at")), events_after=mark.get("event_seq") or 0)

    def covers_everything(self, context: Context) -> bool:
        """A run that migrated all it was meant to: every object, not a sample, not a dry run."""
        params = self.params_of(context)
        return (not params.dry_run and set(params.objects) == set(OBJECTS)
                and (params.mode is RunMode.full or self.window(context)[0] is not None))

    def wait_for_cap_reset(self, cap: DailyCapReached) -> None:
        """ASAPP refuses every call until its daily cap resets: wait for it without a worker, then run again."""
        self.log.warning("ASAPP's daily request cap is spent; no call until it resets at %s", cap.resets_at)
        self.defer(trigger=DateTimeTrigger(moment=cap.resets_at), method_name="execute")

    def selected(self, context: Context, objects: str) -> bool:
        assert objects in OBJECTS
        return objects in self.params_of(context).objects
