"""The rollback's approval: a dry run asks no one, a demo config approves itself, anyone else is asked, and
a rejection changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from asapp_intercom.operators.rollback import (
    APPROVED,
    CONFIRM,
    RollbackApprovedOperator,
    RollbackGateOperator,
    RollbackPlanOperator,
)

from tests.support.migrations import migration_config


def context(answer: dict | None = None, **params) -> dict:
    return {
        "params": params,
        "ti": SimpleNamespace(xcom_pull=lambda task_ids: answer if task_ids == CONFIRM else None),
        "dag_run": SimpleNamespace(run_after=datetime(2026, 3, 1, tzinfo=UTC)),
    }


@pytest.mark.parametrize(
    ("params", "auto", "branch"),
    [
        ({}, False, []),  # the form's default: a dry run, straight to its report
        ({"dry_run": False}, True, [APPROVED]),
        ({"dry_run": False}, False, [CONFIRM]),
    ],
)
def test_only_a_real_rollback_of_a_config_that_is_not_a_demo_asks_a_person(params, auto, branch):
    gate = RollbackGateOperator(task_id="needs_approval", auto_approve=auto)

    assert gate.choose_branch(context(**params)) == branch


def test_a_rejected_rollback_stops_before_anything_is_changed_and_an_approval_names_who(tmp_path):
    config = migration_config("rollback", tmp_path, approval={"mode": "human"}, demo=False)
    approved = RollbackApprovedOperator(task_id="approved", config=config)
    person = {"id": "ops", "name": "ops@acme"}

    with pytest.raises(AirflowSkipException, match="rejected by ops@acme"):
        approved.execute(context({"chosen_options": ["Reject"], "responded_by_user": person}))
    with pytest.raises(AirflowFailException, match="No answer"):
        approved.execute(context(None))
    answer = {"chosen_options": ["Approve"], "responded_by_user": person, "responded_at": "2026-03-01"}
    assert approved.execute(context(answer))["approved_by"] == "ops@acme"


def test_a_form_that_does_not_say_what_to_roll_back_fails_the_plan_saying_why(tmp_path):
    plan = RollbackPlanOperator(task_id="list", config=migration_config("rollback", tmp_path))

    with pytest.raises(AirflowFailException, match="scope 'run' needs the run id"):
        plan.execute(context(scope="run"))
