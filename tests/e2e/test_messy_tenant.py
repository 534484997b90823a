"""A real tenant's migration under real Airflow processes: the bad-input corpus, a flaky Intercom, load tasks
killed with SIGKILL in mid-step, and approvals answered the moment they are asked. Each run must end
`success`, with every good record in Intercom exactly once and every bad one in the report."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asapp_intercom.domain.mapping import slug
from asapp_intercom.pipeline.staging import run_key

from include.demo.airflow_stack import AirflowStack
from include.sandbox.intercom.server.launcher import IntercomSandbox
from tests.support import oracle
from tests.support.checks import live
from tests.support.corpus import assert_corpus_outcomes
from tests.support.existing import seed_existing
from tests.support.migrations import migration_config, read_report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


def assert_counts_match_intercom(report: dict, export: dict, existing: dict | None = None) -> None:
    """The report's counts, over every try, are what Intercom holds: no write went unrecorded or twice.
    `existing`: per object, how many records the workspace held before (found and updated, not created)."""
    rows = {row["object"]: row for row in report["objects"]}
    files = [
        attachment
        for conversation in export["conversations"]
        for part in conversation["parts"]
        for attachment in part.get("attachments") or []
    ]
    held = {
        "company": len(export["companies"]),
        "contact": len(export["contacts"]),
        "conversation": len(export["conversations"]),
        "attachment": len(files),
    }
    for object_type, count in held.items():
        found = (existing or {}).get(object_type, 0)
        assert rows[object_type]["created"] + found == rows[object_type]["in_intercom"] == count, (
            object_type,
            rows,
        )


def test_a_messy_tenant_on_a_flaky_intercom_ends_green_with_everything_once(flaky_run, dataset):
    assert flaky_run.state == "success", flaky_run.task_states
    report = read_report(flaky_run.home, flaky_run.run_id)
    assert_corpus_outcomes(dataset, flaky_run.export, report)
    assert_counts_match_intercom(report, flaky_run.export)
    assert report["failed_tasks"] == []


@dataclass
class Killer:
    """Kills each task's process with SIGKILL once the ledger shows it has done part of its step, then
    clears the task (or, once, lets Airflow's retry take it up). Intercom answers slowly meanwhile, so that
    a step lasts long enough to be caught in its middle."""

    airflow: AirflowStack
    intercom: IntercomSandbox
    dag_id: str
    run_id: str
    ledger: Path
    plan: list[tuple[str, str, list[int], int]]
    """(task, what to count in the ledger, kill at these counts, Intercom's latency in ms meanwhile)"""
    killed: list[tuple[str, int]] = field(default_factory=list)
    retried_by_airflow: str | None = "load.contacts[0]"
    error: BaseException | None = None

    def count(self, what: str) -> int:
        """Done in the ledger: parts, records of a kind, or a rollback's entries of a step ("undo.<step>")."""
        if what == "part":
            table, where = "parts", "state = 'done'"
        elif what.startswith("undo."):
            table, where = "rollback_entries", f"step = '{what.removeprefix('undo.')}' AND state = 'done'"
        else:
            table, where = "records", f"object_type = '{what}' AND state = 'done'"
        with sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True, timeout=30) as connection:
            return connection.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]

    def state(self, task: str) -> str | None:
        try:
            return self.airflow.task_instance(self.dag_id, self.run_id, task)["state"]
        except LookupError:  # a mapped step not expanded yet
            return None

    def running(self, task: str, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                instance = self.airflow.task_instance(self.dag_id, self.run_id, task)
            except LookupError:  # a mapped step not expanded yet
                time.sleep(0.2)
                continue
            if instance["state"] == "running" and instance.get("pid"):
                return instance
            assert instance["state"] not in {"success", "failed", "upstream_failed"}, (
                task,
                instance["state"],
            )
            time.sleep(0.2)
        raise TimeoutError(f"{task} did not run")

    def run(self) -> None:
        try:
            self.kill_as_planned()
        except BaseException as error:  # noqa: BLE001 - the test thread reports it
            self.error = error
        finally:
            self.intercom.set_faults()

    def kill_as_planned(self) -> None:
        for task, what, thresholds, latency in self.plan:
            self.intercom.set_faults(latency_ms=latency)  # before the step starts: it must not end at once
            for threshold in thresholds:
                self.running(task)
                wanted = max(threshold, self.count(what) + 1)  # mid-step: after this try has done something
                while self.count(what) < wanted:
                    time.sleep(0.05)
                os.kill(self.airflow.task_instance(self.dag_id, self.run_id, task)["pid"], signal.SIGKILL)
                self.killed.append((task, self.count(what)))
                if task != self.retried_by_airflow:
                    deadline = time.monotonic() + 300
                    while self.state(task) not in {"up_for_retry", "failed"}:
                        assert time.monotonic() < deadline, (task, self.state(task))
                        time.sleep(0.2)
                    self.airflow.clear(self.dag_id, self.run_id, [task])


def company_attributes(dataset: Path) -> dict[str, str]:
    """The company attributes the migration's field map writes (each a string), as the dataset names them."""
    return {
        slug(attribute["name"]): "string"
        for _order, row in oracle.rows(dataset, "companies")
        for attribute in row.get("attributes") or []
        if isinstance(attribute, dict) and isinstance(attribute.get("name"), str)
    }


def test_load_and_rollback_tasks_killed_in_mid_step_finish_with_nothing_lost_or_twice(
    stack, asapp, intercom, dataset, expected, tmp_path
):
    airflow = stack.airflow
    # The workspace already holds a company and two contacts of the tenant (origin = existing): the rollback
    # must put them back as they were, under kills too.
    existing = seed_existing(intercom, expected.contact_company, company_attributes(dataset), strangers=False)
    before = intercom.export()
    dag_id = stack.add_migration(
        migration_config(
            "killed", tmp_path, demo=False, approval={"mode": "human"}, intercom={"concurrency": 2}
        ),
        asapp,
        intercom,
    )
    run_id = airflow.trigger(dag_id, {"mode": "full"})
    stack.approve_at_once(dag_id, run_id)
    plan = [
        ("load.companies[0]", "company", [2, 4], 300),  # each step is one batch here: map index 0
        ("load.contacts[0]", "contact", [10, 25], 100),
        ("load.conversations[0]", "part", [40, 300, 650], 20),
        ("load.attachments[0]", "attachment", [2], 300),
        ("load.tags[0]", "conversation_tags", [3], 300),
    ]
    killer = Killer(airflow, intercom, dag_id, run_id, tmp_path / "ledger.db", plan=plan)
    killing = threading.Thread(target=killer.run, daemon=True)
    killing.start()

    state = airflow.wait(dag_id, run_id, timeout=1400)
    killing.join(timeout=5)

    assert state == "success", (airflow.task_states(dag_id, run_id), killer.killed)
    assert killer.error is None, (killer.error, killer.killed)
    # every planned kill happened, each in mid-step
    assert len(killer.killed) == sum(len(thresholds) for _, _, thresholds, _ in plan), killer.killed
    export, report = intercom.export(), read_report(tmp_path, run_id)
    assert_corpus_outcomes(dataset, export, report)
    assert_counts_match_intercom(
        report, export, {"company": len(existing["companies"]), "contact": len(existing["emails"])}
    )
    tries = {row["object"]: row["tries"] for row in report["objects"]}
    assert tries == {"company": 3, "contact": 3, "conversation": 4, "attachment": 2, "conversation_tags": 2}

    # Rolled back with its undo tasks killed at random points of their steps, each cleared: the workspace
    # is what it was, the records it held before put back as they were.
    rollback = dag_id.replace("asapp_to_intercom__", "asapp_to_intercom_rollback__")
    undo_id = airflow.trigger(rollback, {"scope": "migration", "dry_run": False})
    stack.approve_at_once(rollback, undo_id, task="approve.confirm", params={})
    seed = random.randrange(1_000_000)
    points = random.Random(seed)
    plan = [
        ("undo.conversations", "undo.conversations", sorted(points.sample(range(1, 40), 2)), 100),
        ("undo.contacts", "undo.contacts", [points.randrange(1, 25)], 100),
        ("undo.restore", "undo.restore", [1], 300),  # three records, two at a time: killed mid-restore
    ]
    undoer = Killer(
        airflow, intercom, rollback, undo_id, tmp_path / "ledger.db", plan=plan, retried_by_airflow=None
    )
    undoer.run()

    assert airflow.wait(rollback, undo_id, timeout=900) == "success", (
        seed,
        airflow.task_states(rollback, undo_id),
    )
    assert undoer.error is None, (seed, undoer.error, undoer.killed)
    assert len(undoer.killed) == 4, (seed, undoer.killed)
    assert live(intercom.export()) == live(before), seed
    undone = json.loads((tmp_path / "staging" / "rollbacks" / run_key(undo_id) / "report.json").read_text())
    assert undone["matches_plan"] and undone["conflicts_total"] == 0, undone
    assert undone["not_restorable_total"] == 0, undone
    assert undone["done"]["company"]["restored"] == len(existing["companies"]), undone["done"]
    assert undone["done"]["contact"]["restored"] == len(existing["emails"]), undone["done"]
