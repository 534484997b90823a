"""Two Airflow DAGs per migration config: the migration (discover → extract → map → transform → schema →
load → validate → report) and its rollback (plan → approve → undo → report).

The DAG file in dags/ only calls `build_dags`. Everything a run needs from the config travels
inside the serialized DAG, so a task never re-reads a file that may have changed since parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, TriggerRule, chain
from pydantic import BaseModel

from asapp_intercom.domain.config import MigrationConfig, load_configs
from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.domain.objects import STEPS
from asapp_intercom.domain.rollback import UNDO_ORDER, RollbackForm
from asapp_intercom.operators.base import note_failure, note_retry
from asapp_intercom.operators.discover import DiscoverAsappOperator, DiscoverIntercomOperator
from asapp_intercom.operators.extract import ExtractFeedOperator, TimelineOperator
from asapp_intercom.operators.field_map import (
    ApprovalGateOperator,
    ApprovedFieldMapOperator,
    FieldMapApprovalOperator,
    ProposeFieldMapOperator,
)
from asapp_intercom.operators.load import BatchesOperator, LoadOperator, StepManifestOperator
from asapp_intercom.operators.report import ReportOperator, RunOutcomeOperator
from asapp_intercom.operators.rollback import (
    RecheckOperator,
    RollbackApprovalOperator,
    RollbackApprovedOperator,
    RollbackGateOperator,
    RollbackPlanOperator,
    RollbackReportOperator,
    UndoOperator,
)
from asapp_intercom.operators.schema import EnsureSchemaOperator
from asapp_intercom.operators.transform import PlanOperator, TransformOperator
from asapp_intercom.operators.validate import ValidateOperator
from asapp_intercom.sensors.active_run import OneRunAtATimeSensor
from asapp_intercom.sensors.realtime import RealtimeEventsSensor

ANSWER_RETRY_DELAY = timedelta(seconds=5)
"""A question's retry after Airflow lost its answer: the answer is in the ledger, so the retry need not
wait (operators/approval.py)."""

DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "on_retry_callback": note_retry,
    "on_failure_callback": note_failure,
}


def form_params(defaults: BaseModel) -> dict[str, Param]:
    """A trigger form from its model (RunForm, RollbackForm): titles, descriptions and JSON schema, with the
    given values as defaults. Scheduled and backfill runs of a migration migrate their data interval
    instead."""
    schema = type(defaults).model_json_schema()
    values = defaults.model_dump(mode="json")
    params = {}
    for name, field_schema in schema["properties"].items():
        spec = _resolve(field_schema, schema.get("$defs", {}))
        spec.pop("default", None)
        title, description = spec.pop("title", name), spec.pop("description", None)
        if spec.get("type") == "array" and "enum" in spec.get("items", {}):
            spec["examples"] = spec["items"]["enum"]  # the UI offers them as a multi-select
        params[name] = Param(values[name], title=title, description=description, **spec)
    return params


def _resolve(spec: dict, definitions: dict) -> dict:
    """Pydantic's JSON schema as Airflow's form reads it: references inlined, `X | None` as ["x", "null"]."""
    if "$ref" in spec:
        spec = {
            **definitions[spec["$ref"].rsplit("/", 1)[-1]],
            **{k: v for k, v in spec.items() if k != "$ref"},
        }
    if "anyOf" in spec:
        options = [_resolve(option, definitions) for option in spec["anyOf"]]
        plain = next(option for option in options if option.get("type") != "null")
        spec = {
            **{k: v for k, v in spec.items() if k != "anyOf"},
            **plain,
            "type": [plain["type"], "null"] if len(options) > 1 else plain["type"],
        }
    if "items" in spec:
        spec["items"] = _resolve(spec["items"], definitions)
    return dict(spec)


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
        params=form_params(config.run_defaults),
        default_args=DEFAULT_ARGS,
        tags=["asapp", "intercom", "migration"] + (["demo"] if config.demo else []),
        doc_md=__doc__,
    ) as dag:
        turn = OneRunAtATimeSensor(task_id="one_run_at_a_time", **common)
        with TaskGroup("discover"):
            asapp = DiscoverAsappOperator(task_id="asapp", **common)
            intercom = DiscoverIntercomOperator(task_id="intercom", **common)
        with TaskGroup("extract"):
            extracted = ExtractFeedOperator.partial(
                task_id="feed", map_index_template="{{ task.feed }}", **common
            ).expand(feed=list(FEEDS))
            asapp >> extracted
            events = RealtimeEventsSensor(
                task_id="realtime", retries=3, retry_delay=timedelta(seconds=10), **common
            )
            timeline = TimelineOperator(task_id="timeline", **common)
            [extracted, events] >> timeline
        with TaskGroup("map"):
            proposal = ProposeFieldMapOperator(
                task_id="propose", extracted=extracted.output, asapp=asapp.output, **common
            )
            timeline >> proposal
            gate = ApprovalGateOperator(
                task_id="needs_approval",
                proposal=proposal.output,
                auto_approve=config.approval.mode == "auto",
            )
            approve = FieldMapApprovalOperator(task_id="approve", retry_delay=ANSWER_RETRY_DELAY, **common)
            approved = ApprovedFieldMapOperator(
                task_id="approved",
                proposal=proposal.output,
                trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
                **common,
            )
            gate >> [approve, approved]
            approve >> approved
        with TaskGroup("transform"):
            transformed = TransformOperator(
                task_id="payloads",
                field_map=approved.output,
                intercom=intercom.output,
                asapp=asapp.output,
                **common,
            )
            timeline >> transformed
            planned = PlanOperator(task_id="plan", transformed=transformed.output, **common)
        with TaskGroup("schema"):
            schema = EnsureSchemaOperator(
                task_id="attributes_and_tags",
                field_map=approved.output,
                transformed=transformed.output,
                asapp=asapp.output,
                **common,
            )
            planned >> schema
        with TaskGroup("load"):
            loads = []
            for step in STEPS:
                listed = BatchesOperator(task_id=f"{step}_batches", objects=step, plan=planned.output)
                batches = LoadOperator.partial(
                    task_id=step,
                    objects=step,
                    transformed=transformed.output,
                    schema=schema.output,
                    intercom=intercom.output,
                    map_index_template="{{ task.batch.label }}",
                    max_active_tis_per_dagrun=config.intercom.parallel_batches,
                    **common,
                ).expand(batch=listed.output)
                manifest = StepManifestOperator(
                    task_id=f"{step}_balanced",
                    objects=step,
                    transformed=transformed.output,
                    batches=batches.output,
                    intercom=intercom.output,
                    **common,
                )
                chain(*loads[-1:], batches)
                loads.append(manifest)
            # dependency order; a step whose batches do not balance fails at its manifest, stopping the next
        with TaskGroup("validate"):
            validation = ValidateOperator(
                task_id="read_back",
                transformed=transformed.output,
                loads=[step.output for step in loads],
                **common,
            )
        with TaskGroup("report"):
            report = ReportOperator(
                task_id="reconciliation",
                trigger_rule=TriggerRule.ALL_DONE,
                loads=[step.task_id for step in loads],
                extract=extracted.task_id,
                inputs={
                    "asapp": asapp.task_id,
                    "timeline": timeline.task_id,
                    "field_map": approved.task_id,
                    "transformed": transformed.task_id,
                    "plan": planned.task_id,
                    "schema": schema.task_id,
                    "validation": validation.task_id,
                },
                **common,
            )
            validation >> report
            outcome = RunOutcomeOperator(task_id="outcome", trigger_rule=TriggerRule.ALL_DONE)
        turn >> [task for task in dag.roots if task not in (turn, outcome)]
        [task for task in dag.tasks if task is not outcome] >> outcome
    return dag


def build_rollback_dag(config: MigrationConfig) -> DAG:
    """Undo the migration, one run of it or a time range of it: a dry run lists what would happen; a real
    run asks a person to approve that list, then undoes in reverse dependency order and reports."""
    common = {"config": config.model_dump(mode="json")}
    with DAG(
        dag_id=config.rollback_dag_id,
        dag_display_name=f"ASAPP → Intercom rollback: {config.migration_id}",
        description=f"Undo what the migration {config.migration_id} wrote to Intercom",
        schedule=None,
        start_date=datetime.combine(config.start_date, datetime.min.time(), tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        params=form_params(RollbackForm()),
        default_args=DEFAULT_ARGS,
        tags=["asapp", "intercom", "rollback"] + (["demo"] if config.demo else []),
        doc_md=build_rollback_dag.__doc__,
    ) as dag:
        turn = OneRunAtATimeSensor(task_id="one_run_at_a_time", **common)
        with TaskGroup("plan"):
            planned = RollbackPlanOperator(task_id="list", **common)
        turn >> planned  # a migration run writing while the rollback undoes would re-create what it deletes
        with TaskGroup("approve"):
            gate = RollbackGateOperator(task_id="needs_approval", auto_approve=config.approval.mode == "auto")
            confirm = RollbackApprovalOperator(task_id="confirm", retry_delay=ANSWER_RETRY_DELAY, **common)
            approved = RollbackApprovedOperator(
                task_id="approved", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **common
            )
            planned >> gate >> [confirm, approved]
            confirm >> approved
        with TaskGroup("undo"):
            recheck = RecheckOperator(task_id="recheck", **common)
            steps = [UndoOperator(task_id=str(step), step=str(step), **common) for step in UNDO_ORDER]
            approved >> recheck
            chain(recheck, *steps)  # reverse dependency order; a failed step stops the ones after it
        with TaskGroup("report"):
            report = RollbackReportOperator(task_id="rollback", trigger_rule=TriggerRule.ALL_DONE, **common)
            outcome = RunOutcomeOperator(task_id="outcome", trigger_rule=TriggerRule.ALL_DONE)
        # Not the gate itself: a dry run's gate follows no branch, and skips whatever it leads to directly.
        [task for task in dag.tasks if task not in (gate, report, outcome)] >> report
        report >> outcome
    return dag


def build_dags(directory: Path, only: str | None = None) -> dict[str, DAG]:
    """Every migration config in the directory as its two DAGs, or only the DAG `only` names (a task's
    process needs no other: building a dozen DAGs cost each task a second); a bad file stops parsing
    with its reason either way."""
    dags = {}
    for config in load_configs(directory):
        if only in (None, config.dag_id):
            dags[config.dag_id] = build_dag(config)
        if only in (None, config.rollback_dag_id):
            dags[config.rollback_dag_id] = build_rollback_dag(config)
    return dags
