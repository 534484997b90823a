"""The rollback DAG's tasks: plan, approve, undo step by step, report (pipeline/rollback.py does the work).

A dry run (the form's default) stops after the plan and reports it. A real one asks a person to approve
the plan in Required Actions (a demo config approves itself, and says so), makes the plan again to find
what changed while it waited, then undoes in reverse dependency order, one task per step: a step that
fails or is killed is cleared and finishes what it began.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import BaseBranchOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from asapp_intercom.domain.rollback import RollbackForm, RollbackFormError, UndoStep
from asapp_intercom.operators.approval import RecordedAnswerApproval
from asapp_intercom.operators.base import MigrationOperator

PLAN, GATE, CONFIRM, APPROVED, RECHECK = (
    "plan.list",
    "approve.needs_approval",
    "approve.confirm",
    "approve.approved",
    "undo.recheck",
)


class RollbackOperator(MigrationOperator):
    """What the rollback's tasks share: the form and the task try. (A rollback never runs beside a run of
    the migration: both DAGs begin by claiming it, see OneRunAtATimeSensor.)"""

    def rollback_form(self, context: Context) -> RollbackForm:
        try:
            return RollbackForm.of_params(context["params"])
        except RollbackFormError as error:
            raise AirflowFailException(f"The rollback form does not say what to roll back: {error}") from None

    def task_try(self, context: Context):
        from asapp_intercom.pipeline.progress import TaskTry

        ti = context["ti"]
        return TaskTry(ti.task_id, ti.map_index if ti.map_index is not None else -1, ti.try_number)


class RollbackPlanOperator(RollbackOperator):
    """Per record: delete, restore, untag, archive, leave alone or conflict, with the requests and ETA."""

    def execute(self, context: Context) -> dict:
        from asapp_intercom.domain.rollback import approval_markdown
        from asapp_intercom.pipeline.rollback import make_plan

        form = self.rollback_form(context)
        target = self.migration.intercom
        plan = make_plan(
            self.intercom_hook, self.ledger, form, target.requests_per_minute, target.concurrency
        )
        folder = self.staging.rollback_dir(context["run_id"])
        self.staging.write_text(folder / "plan.json", json.dumps(plan.as_dict(), indent=2, default=str))
        markdown = approval_markdown(plan)
        self.staging.write_text(folder / "plan.md", markdown + "\n")
        for object_type, counts in sorted(plan.counts().items()):
            self.log.info("%-18s %s", object_type, counts)
        self.log.info(
            "Rollback of %s: %d requests, about %.1f min%s. Plan: %s/plan.md",
            plan.scope,
            plan.requests,
            plan.eta_minutes,
            " (dry run: nothing will be changed)" if form.dry_run else "",
            folder,
        )
        return {
            "plan": str(folder / "plan.json"),
            "counts": plan.counts(),
            "requests": plan.requests,
            "eta_minutes": plan.eta_minutes,
            "markdown": markdown,
        }


class RollbackGateOperator(BaseBranchOperator):
    """A dry run ends here (straight to its report); a demo config approves itself; anyone else is asked."""

    def __init__(self, *, auto_approve: bool, **kwargs):
        super().__init__(**kwargs)
        self.auto_approve = auto_approve

    def choose_branch(self, context: Context) -> list[str]:
        if RollbackForm.of_params(context["params"]).dry_run:
            return []
        return [APPROVED] if self.auto_approve else [CONFIRM]


class RollbackApprovalOperator(RecordedAnswerApproval):
    """A person approves the plan, knowing what cannot be undone."""

    def __init__(self, **kwargs):
        super().__init__(
            subject="Approve the rollback of the ASAPP → Intercom migration",
            body=f"{{{{ ti.xcom_pull(task_ids='{PLAN}')['markdown'] }}}}",
            options=["Approve", "Reject"],
            **kwargs,
        )


class RollbackApprovedOperator(RollbackOperator):
    """Who approved (or that a demo config approved itself); a rejection ends the rollback here."""

    def execute(self, context: Context) -> dict:
        answer = context["ti"].xcom_pull(task_ids=CONFIRM)
        if answer is None:
            if self.migration.approval.mode != "auto":
                raise AirflowFailException("No answer was found for the rollback's approval")
            self.log.warning(
                "Rollback approved WITHOUT a person: allowed only because %s is a demo config "
                "(demo: true, approval.mode: auto)",
                self.migration.migration_id,
            )
            return {
                "approved_by": "auto-approval (demo config)",
                "approved_at": context["dag_run"].run_after.isoformat(),
            }
        user = answer.get("responded_by_user") or {}
        who = user.get("name") or user.get("id") or "unknown"
        if "Approve" not in answer["chosen_options"]:
            raise AirflowSkipException(f"The rollback was rejected by {who}: nothing was changed")
        self.log.info("Rollback approved by %s at %s", who, answer.get("responded_at"))
        return {"approved_by": who, "approved_at": str(answer.get("responded_at"))}


class RecheckOperator(RollbackOperator):
    """Make the plan again right before undoing (records may have changed while it waited for approval) and
    write the approved entries to the ledger: from here on, every step takes its entries from there."""

    def execute(self, context: Context) -> dict:
        from asapp_intercom.domain.rollback import RollbackPlan
        from asapp_intercom.pipeline.progress import Spend
        from asapp_intercom.pipeline.rollback import make_plan, store_plan

        form = self.rollback_form(context)
        approved = RollbackPlan.from_dict(json.loads(self._plan_path(context).read_text()))
        target = self.migration.intercom
        spend = Spend(self.ledger, context["run_id"], self.task_try(context), self.intercom_hook.api)
        try:
            plan = make_plan(
                self.intercom_hook, self.ledger, form, target.requests_per_minute, target.concurrency
            )
        finally:
            spend.write()
        stored = store_plan(self.ledger, context["run_id"], plan, approved.keys())
        changed = {
            object_type: counts
            for object_type, counts in plan.counts().items()
            if counts != approved.counts().get(object_type)
        }
        if changed:
            self.log.warning(
                "Since the plan was approved, Intercom or the ledger changed: the rollback now does %s",
                changed,
            )
        if stored["not_approved"]:
            self.log.warning(
                "%d record(s) in scope were not in the approved plan and are left for another rollback",
                len(stored["not_approved"]),
            )
        self.log.info("%d entries on record (%d new)", stored["entries"], stored["new"])
        return {"counts": plan.counts(), "requests": plan.requests, "not_approved": stored["not_approved"]}

    def _plan_path(self, context: Context):
        return self.staging.rollback_dir(context["run_id"]) / "plan.json"


class UndoOperator(RollbackOperator):
    """One step of the rollback, over its entries in the ledger."""

    def __init__(self, *, step: str, **kwargs):
        super().__init__(**kwargs)
        self.step = step

    def execute(self, context: Context) -> dict:
        from dataclasses import asdict

        from asapp_intercom.pipeline.rollback import Undoer

        step = UndoStep(self.step)
        undoer = Undoer(
            self.intercom_hook,
            self.ledger,
            context["run_id"],
            concurrency=self.migration.intercom.concurrency,
            task=self.task_try(context),
        )
        manifest = undoer.run(step)
        self.log.info(
            "%s: %s; %d requests (%d retried) in %.1f s",
            step,
            manifest.outcomes or "nothing to do",
            manifest.requests,
            manifest.retries,
            manifest.seconds,
        )
        return asdict(manifest)


class RollbackReportOperator(RollbackOperator):
    """Writes report.{json,md} beside the plan, whatever happened before it."""

    def execute(self, context: Context) -> dict[str, Any]:
        from asapp_intercom.domain.report import FAILED, last_error
        from asapp_intercom.domain.rollback_report import (
            build_rollback_report,
            render_rollback_markdown,
            summary_lines,
        )
        from asapp_intercom.pipeline.rollback import entries_as_data

        ti, run_id = context["ti"], context["run_id"]
        folder = self.staging.rollback_dir(run_id)
        plan_path = folder / "plan.json"
        plan = json.loads(plan_path.read_text()) if plan_path.exists() else None
        states = ti.get_task_states(dag_id=context["dag"].dag_id, run_ids=[run_id]).get(run_id, {})
        events = [
            {"task": row.task_id, "map_index": row.map_index, "kind": row.kind, "message": row.message}
            for row in self.ledger.task_events(run_id)
        ]
        failed = [
            {"task": task, "error": last_error(task, events)}
            for task, state in sorted(states.items())
            if state in FAILED and task != self.task_id
        ]
        params = dict(context["params"])
        report = build_rollback_report(
            migration_id=self.migration.migration_id,
            run_id=run_id,
            form=params,
            dry_run=bool(params.get("dry_run", True)),
            plan=plan,
            entries=entries_as_data(self.ledger.undo_entries(run_id)),
            spent=self.ledger.spent(run_id),
            failed=failed,
            approval=ti.xcom_pull(task_ids=APPROVED),
        )
        self.staging.write_text(folder / "report.json", json.dumps(report, indent=2, default=str))
        self.staging.write_text(folder / "report.md", render_rollback_markdown(report))
        for line in summary_lines(report):
            self.log.info("%s", line)
        self.log.info("Report: %s/report.md (and report.json)", folder)
        return {"report": str(folder / "report.md"), "matches_plan": report.get("matches_plan")}
