"""What every migration task shares: its config, connections, ledger, staging area and run scope.

Every worker parses the DAG file before each task, so this module and the operators import only
Airflow's SDK and the domain; hooks, the ledger, DuckDB and the pipeline are imported when a task
first uses them.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from asapp_intercom.domain.config import MigrationConfig
from asapp_intercom.domain.cutover import effective_cutover, window_before_cutover
from asapp_intercom.domain.objects import STEPS
from asapp_intercom.domain.run_form import RunForm, RunMode, Scope

if TYPE_CHECKING:
    from asapp_intercom.hooks.asapp import AsappHook, DailyCapReached
    from asapp_intercom.hooks.intercom import IntercomHook
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.pipeline.sources import FeedSource, S3FeedSource
    from asapp_intercom.pipeline.staging import Staging

WINDOWED_RUN_TYPES = {"scheduled", "backfill"}


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
        from asapp_intercom.ledger import Ledger

        return Ledger(self.migration.ledger_url(), self.migration.migration_id)

    @cached_property
    def staging(self) -> Staging:
        from asapp_intercom.pipeline.staging import Staging

        return Staging.of(self.migration)

    @cached_property
    def asapp_hook(self) -> AsappHook:
        from asapp_intercom.hooks.asapp import AsappHook

        return AsappHook(self.migration.asapp.conn_id, daily_cap=LedgerCapMemo(self.ledger))

    @cached_property
    def intercom_hook(self) -> IntercomHook:
        from asapp_intercom.hooks.budget import Limits
        from asapp_intercom.hooks.intercom import IntercomHook

        target = self.migration.intercom
        limits = Limits(
            share_per_minute=target.requests_per_minute,
            app_per_minute=target.app_requests_per_minute,
            workspace_per_minute=target.workspace_requests_per_minute,
            share=self.migration.migration_id,
        )
        discovered = getattr(self, "intercom", None)
        return IntercomHook(
            target.conn_id,
            limits=limits,
            concurrency=target.concurrency,
            budget_url=budget_url(self.migration),
            workspace_id=discovered["me"].get("workspace_id") if isinstance(discovered, dict) else None,
        )

    def feed_source(self, feed: str) -> FeedSource:
        from asapp_intercom.pipeline.sources import FileExporterFeedSource

        if feed in self.migration.asapp.file_exporter_feeds:
            return FileExporterFeedSource(self.asapp_hook)
        return self.s3_source

    @cached_property
    def s3_source(self) -> S3FeedSource:
        """One S3 client for the task's feeds: building one loads botocore's models, a second or more."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from asapp_intercom.pipeline.sources import S3FeedSource

        asapp = self.migration.asapp
        return S3FeedSource(S3Hook(aws_conn_id=asapp.s3_conn_id), asapp.bucket, asapp.prefix)

    @staticmethod
    def form(context: Context) -> RunForm:
        return RunForm.of_params(context["params"])

    def cutover_at(self) -> datetime | None:
        """The config's `cutover_at` or a cutover run's freeze, whichever is first: ASAPP is not followed
        after it."""
        from asapp_intercom.ledger.state import Cutover

        recorded = self.ledger.load(Cutover)
        return effective_cutover(self.migration.asapp.realtime.cutover_at, recorded.at if recorded else None)

    def window(self, context: Context) -> tuple[datetime | None, datetime | None]:
        """A scheduled or backfill run covers its data interval up to the cutover (one wholly after it does
        nothing); a manual run covers everything."""
        run = context["dag_run"]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        run_type = str(getattr(run.run_type, "value", run.run_type)).lower()
        if not (run_type in WINDOWED_RUN_TYPES and start and end and end > start):
            return None, None
        cutover = self.cutover_at()
        window = window_before_cutover(start, end, cutover)
        if window is None:
            raise AirflowSkipException(
                f"This run's interval starts after the cutover ({cutover.isoformat()}): ASAPP is no longer "
                "followed"
            )
        return window

    def scope(self, context: Context) -> Scope:
        from asapp_intercom.ledger.state import DeltaMark

        form = self.form(context)
        since, until = self.window(context)
        mark = self.ledger.load(DeltaMark) or DeltaMark()
        return Scope(
            mode=RunMode.full if since else form.mode,
            sample_size=form.sample_size,
            since=since,
            until=until,
            staged_after=mark.staged_at,
            events_after=mark.event_seq,
        )

    def covers_everything(self, context: Context) -> bool:
        """A run that migrated all it was meant to: every object, not a sample, not a dry run."""
        form = self.form(context)
        return (
            not form.dry_run
            and set(form.objects) == set(STEPS)
            and (form.mode is RunMode.full or self.window(context)[0] is not None)
        )

    def wait_for_cap_reset(self, context: Context, cap: DailyCapReached) -> None:
        """ASAPP refuses every call until its daily cap resets: wait for it without a worker, then run
        again."""
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        resets_at = cap.resets_at.isoformat()
        message = f"ASAPP's daily request cap is spent; no call to ASAPP until it resets at {resets_at}"
        self.log.warning("%s", message)
        self.note_event(context, "waited", message)
        self.defer(trigger=DateTimeTrigger(moment=cap.resets_at), method_name="execute")

    def selected(self, context: Context, step: str) -> bool:
        return step in self.form(context).objects

    def note_event(self, context: Context, kind: str, message: str) -> None:
        """Something the run's report should tell (a wait, a failure), kept in the ledger under this try."""
        ti = context["ti"]
        self.ledger.note_task_event(
            context["run_id"],
            ti.task_id,
            ti.map_index if ti.map_index is not None else -1,
            ti.try_number,
            kind,
            message,
        )


def budget_url(migration: MigrationConfig) -> str:
    """Where the workspace's calls are counted (intercom.budget_url in the config describes the default):
    somewhere every worker that may run this migration's tasks reaches."""
    from airflow.sdk import conf

    if migration.intercom.budget_url:
        return migration.intercom.budget_url
    broker = conf.get("celery", "broker_url", fallback=None) or ""
    if "Celery" in conf.get("core", "executor", fallback="") and broker.startswith(("redis://", "rediss://")):
        return broker
    ledger = migration.ledger_url()
    if not ledger.startswith("sqlite"):
        return ledger
    return f"sqlite:///{migration.shared_home()}/intercom_budget.db"


class LedgerCapMemo:
    """The migration's ledger remembers ASAPP's spent daily cap for all its tasks
    (hooks.asapp.DailyCapMemo)."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def spent_until(self) -> datetime | None:
        from asapp_intercom.ledger.state import AsappCapSpent

        spent = self.ledger.load(AsappCapSpent)
        return spent.resets_at if spent else None

    def note_spent(self, resets_at: datetime) -> None:
        from asapp_intercom.ledger.state import AsappCapSpent

        self.ledger.save(AsappCapSpent(resets_at=resets_at))


def _note_trouble(context: Context, kind: str) -> None:
    task = context.get("task")
    if not isinstance(task, MigrationOperator):
        return
    error = context.get("exception")
    try:
        task.note_event(
            context,
            kind,
            f"{error.__class__.__name__}: {error}" if error else "the task's process ended without a result",
        )
    except Exception:  # the report loses one line; the task's own outcome must not change
        task.log.exception("Could not note this try's error in the migration's ledger")


def note_retry(context: Context) -> None:
    """on_retry_callback of every task: the try's error goes to the ledger, for the run's report."""
    _note_trouble(context, "retried")


def note_failure(context: Context) -> None:
    """on_failure_callback of every task: the task's last error goes to the ledger, for the run's report."""
    _note_trouble(context, "failed")
