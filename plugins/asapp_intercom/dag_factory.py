"""One Airflow DAG per migration config: discover → extract → map → transform → schema → load → validate → report.

The DAG file in dags/ only calls `build_dags`. Everything a run needs from the config travels
inside the serialized DAG, so a task never re-reads a file that may have changed since parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, TriggerRule, chain

from asapp_intercom.config import OBJECTS, MigrationConfig, RunDefaults, load_configs
from asapp_intercom.feeds import FEEDS
from asapp_intercom.operators.discover import DiscoverAsappOperator, DiscoverIntercomOperator
from asapp_intercom.operators.extract import ExtractFeedOperator, TimelineOperator
from asapp_intercom.operators.field_map import (
    ApprovalGateOperator,
    ApprovedFieldMapOperator,
    FieldMapApprovalOperator,
    ProposeFieldMapOperator,
)
from asapp_intercom.operators.load import EnsureSchemaOperator, LoadOperator, ValidateOperator
from asapp_intercom.operators.report import ReportOperator, RunOutcomeOperator
from asapp_intercom.operators.transform import PlanOperator, TransformOperator
from asapp_intercom.sensors import RealtimeEventsSensor

DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=30)}


def run_params(defaults: RunDefaults) -> dict[str, Param]:
    """The trigger form. Scheduled and backfill runs migrate their data interval in full instead."""
    return {
        "mode": Param(defaults.mode.value, enum=["sample", "full"], title="Mode",
                      description="sample: a few conversations with their contacts and companies, to try the map; "
                                  "full: everything in the feeds."),
        "sample_size": Param(defaults.sample_size, type="integer", minimum=1, title="Sample size",
                             description="Conversations to migrate in sample mode."),
        "objects": Param(list(defaults.objects), type="array", items={"type": "string", "enum": list(OBJECTS)},
                         examples=list(OBJECTS), title="Objects",
                         description="What to migrate. Each object needs the ones before it in this list "
                                     "to be migrated already (in this or an earlier run)."),
        "dry_run": Param(defaults.dry_run, type="boolean", title="Dry run",
                         description="Discover, extract, map and plan (requests and ETA), but write nothing "
                                     "to Intercom and ask for no approval."),
        "thread_mode": Param(defaults.thread_mode.value, enum=["parts", "transcript"], title="Thread mode",
                             description="parts: every message becomes a part with its original time and speaker; "
                                         "transcript: one internal note holding the whole exchange."),
        "follow_events_until": Param(None, type=["null", "string"], format="date-time", title="Follow events until",
                                     description="Keep following ASAPP's real-time events, without holding a worker, "
                                                 "until one at or after this moment arrives (or it passes by the "
                                                 "config's grace period). Empty: take the events there are now."),
    }


def build_dag(config: MigrationConfig) -> DAG:
    common = {"config": config.model_dump(mode="json")}
    start = datetime.combine(config.start_date, datetime.min.time(), tzinfo=UTC)
    with DAG(
        dag_id=config.dag_id,
        dag_display_name=f"ASAPP → Intercom: {config.migration_id}",
        description=config.description or f"Migrate ASAPP ({config.asapp.company_marker}) to Intercom",
        schedule=CronDataIntervalTimetable(config.schedule, timezone="UTC") if config.schedule else None,
        start_date=start,
        catchup=False,
        max_active_runs=1,
        params=run_params(config.run_defaults),
        default_args=DEFAULT_ARGS,
        tags=["asapp", "intercom", "migration"] + (["demo"] if config.demo else []),
        doc_md=__doc__,
    ) as dag:
        with TaskGroup("discover"):
            asapp = DiscoverAsappOperator(task_id="asapp", **common)
            intercom = DiscoverIntercomOperator(task_id="intercom", **common)
        with TaskGroup("extract"):
            extracted = ExtractFeedOperator.partial(task_id="feed", map_index_template="{{ task.feed }}",
                                                    **common).expand(feed=list(FEEDS))
            asapp >> extracted
            events = RealtimeEventsSensor(task_id="realtime", retries=3, retry_delay=timedelta(seconds=10), **common)
            timeline = TimelineOperator(task_id="timeline", **common)
            [extracted, events] >> timeline
        with TaskGroup("map"):
            proposal = ProposeFieldMapOperator(task_id="propose", extracted=extracted.output, asapp=asapp.output,
                                               **common)
            timeline >> proposal
            gate = ApprovalGateOperator(task_id="needs_approval", proposal=proposal.output,
                                        auto_approve=config.approval.mode == "auto")
            approve = FieldMapApprovalOperator(task_id="approve")
            approved = ApprovedFieldMapOperator(task_id="approved", proposal=proposal.output,
                                                trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **common)
            gate >> [approve, approved]
            approve >> approved
        with TaskGroup("transform"):
            transformed = TransformOperator(task_id="payloads", field_map=approved.output, intercom=intercom.output,
                                            asapp=asapp.output, **common)
            timeline >> transformed
            planned = PlanOperator(task_id="plan", transformed=transformed.output, **common)
        with TaskGroup("schema"):
            schema = EnsureSchemaOperator(task_id="attributes_and_tags", field_map=approved.output,
                                          transformed=transformed.output, asapp=asapp.output, **common)
            planned >> schema
        with TaskGroup("load"):
            loads = [LoadOperator(task_id=objects, objects=objects, transformed=transformed.output,
                                  schema=schema.output, intercom=intercom.output, **common) for objects in OBJECTS]
            chain(*loads)  # dependency order; a step whose manifest does not balance fails, stopping the next
        with TaskGroup("validate"):
            validation = ValidateOperator(task_id="read_back", transformed=transformed.output,
                                          loads=[step.output for step in loads], **common)
        with TaskGroup("report"):
            report = ReportOperator(
                task_id="reconciliation", trigger_rule=TriggerRule.ALL_DONE, loads=[step.task_id for step in loads],
                extract=extracted.task_id,
                inputs={"timeline": timeline.task_id, "field_map": approved.task_id,
                        "transformed": transformed.task_id, "plan": planned.task_id, "schema": schema.task_id,
                        "validation": validation.task_id},
                **common)
            validation >> report
            outcome = RunOutcomeOperator(task_id="outcome", trigger_rule=TriggerRule.ONE_FAILED)
        [task for task in dag.tasks if task is not outcome] >> outcome
    return dag


def build_dags(directory: Path) -> dict[str, DAG]:
    """Every migration config in the directory as a DAG; a bad file stops parsing with its reason."""
    return {config.dag_id: build_dag(config) for config in load_configs(directory)}
