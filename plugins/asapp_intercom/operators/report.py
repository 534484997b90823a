"""The report task: runs whatever happened before it, and writes the reconciliation report."""

from __future__ import annotations

import json

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from asapp_intercom.domain.report import FAILED, build_report, render_markdown, summary_lines
from asapp_intercom.operators.base import MigrationOperator


class ReportOperator(MigrationOperator):
    """Collects every phase's manifest from XCom (missing ones stay empty) and writes report.{json,md}."""

    def __init__(self, *, extract: str, inputs: dict[str, str], loads: list[str], **kwargs):
        super().__init__(**kwargs)
        self.extract = extract
        self.inputs = inputs
        self.loads = loads

    def execute(self, context: Context) -> dict:
        from asapp_intercom.domain.cutover import cutover_document, cutover_verdict
        from asapp_intercom.ledger.state import Cutover
        from asapp_intercom.pipeline.inventory import write_inventory
        from asapp_intercom.pipeline.report import ledger_view

        ti = context["ti"]
        pulled = {name: ti.xcom_pull(task_ids=task_id) for name, task_id in self.inputs.items()}
        # The mapped extract task: a list of task ids always answers a list, even when one feed succeeded.
        extracted = [manifest for manifest in ti.xcom_pull(task_ids=[self.extract]) or [] if manifest]
        loads = {}
        for task_id in self.loads:
            manifest = ti.xcom_pull(task_ids=task_id)
            if manifest and not manifest.get("skipped"):
                loads[manifest["object_type"]] = manifest
        run_id = context["run_id"]
        states = ti.get_task_states(dag_id=context["dag"].dag_id, run_ids=[run_id]).get(run_id, {})
        view = ledger_view(self.ledger, run_id)
        report = build_report(
            run_id=run_id,
            migration_id=self.migration.migration_id,
            params=dict(context["params"]),
            extract={manifest["feed"]: manifest for manifest in extracted},
            field_map=pulled["field_map"],
            timeline=pulled["timeline"],
            transformed=pulled["transformed"],
            plan=pulled["plan"],
            schema=pulled["schema"],
            loads=loads,
            validations=pulled["validation"] or {},
            ledger=view,
            task_states=states,
        )
        if pulled.get("asapp"):  # discovery read ASAPP's configuration: the inventory says what it read
            report["inventory"] = write_inventory(
                self.staging,
                self.ledger,
                self.migration.migration_id,
                run_id,
                pulled["asapp"],
                (pulled["field_map"] or {}).get("entries") or [],
            )
        freeze = self.form(context).cutover_at
        if freeze is not None:
            report["cutover"] = cutover_verdict(
                report["objects"],
                view.quarantined,
                report["agents_without_intercom_admin"],
                report["failed_tasks"],
                freeze,
            )
            if report["cutover"]["go"] and not self.form(context).dry_run:
                self.ledger.save(Cutover(at=freeze, run_id=run_id))
            self.log.info("Cutover: %s", report["cutover"]["verdict"])
        run_dir = self.staging.run_dir(context["run_id"])
        self.staging.write_text(run_dir / "report.json", json.dumps(report, indent=2, default=str))
        self.staging.write_text(run_dir / "report.md", render_markdown(report))
        if report.get("cutover"):
            self.staging.write_text(
                run_dir / "cutover.md", cutover_document(self.migration.migration_id, report["cutover"])
            )
        for line in summary_lines(report):
            self.log.info("%s", line)
        self.log.info("Report: %s/report.md (and report.json)", run_dir)
        return {
            "report": str(run_dir / "report.md"),
            "objects": report["objects"],
            "quarantined": report["quarantined_total"],
        }


class RunOutcomeOperator(BaseOperator):
    """Fails the run when any task failed: the report runs whatever happens, so it cannot say it alone.
    It runs last (after the report, whatever happened) and reads the run's task states itself."""

    ui_color = "#fde8e8"

    def execute(self, context: Context) -> None:
        run_id = context["run_id"]
        states = context["ti"].get_task_states(dag_id=context["dag"].dag_id, run_ids=[run_id]).get(run_id, {})
        failed = sorted(task for task, state in states.items() if state in FAILED and task != self.task_id)
        if failed:
            raise AirflowFailException(
                f"{', '.join(failed)} failed; the report says what was done and what was not"
            )
