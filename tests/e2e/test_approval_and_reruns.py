"""The migration under real Airflow processes (API server, scheduler, DAG processor, triggerer),
driven only through Airflow's REST API, as an operator would drive it."""

from __future__ import annotations

import time

import pytest

from tests.support.checks import assert_contacts_and_companies, assert_migrated
from tests.support.migrations import migration_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def test_an_approved_migration_lands_once_however_often_it_runs(stack, asapp, intercom, expected, tmp_path):
    dag_id = stack.add_migration(
        migration_config("approved", tmp_path, demo=False, approval={"mode": "human"}), asapp, intercom
    )
    airflow = stack.airflow
    run_id = airflow.trigger(dag_id, {"mode": "full"})

    airflow.wait(dag_id, run_id, task="map.approve", until={"awaiting_input"}, timeout=600)
    untouched = intercom.export()
    assert (
        untouched["companies"],
        untouched["contacts"],
        untouched["conversations"],
        untouched["data_attributes"],
        untouched["conversation_attributes"],
    ) == ([], [], [], [], [])
    request = airflow.hitl(dag_id, run_id, "map.approve")
    assert request["options"] == ["Approve", "Reject"]
    assert "convos_metadata.issue_id" in request["body"]

    assert airflow.answer(dag_id, run_id, "map.approve", ["Approve"], {"overrides": {}}) == "success"

    assert airflow.wait(dag_id, run_id) == "success", airflow.task_states(dag_id, run_id)
    first = intercom.export()
    assert_migrated(first, expected)
    assert_contacts_and_companies(first, expected)

    again = airflow.trigger(dag_id, {"mode": "full"})

    assert airflow.wait(dag_id, again) == "success", airflow.task_states(dag_id, again)
    assert airflow.task_states(dag_id, again)["map.approve"] == "skipped"  # the same map is not asked again
    assert intercom.export()["conversations"] == first["conversations"]

    tries = airflow.task_instance(dag_id, again, "load.conversations[0]")["try_number"]
    airflow.clear(dag_id, again, ["load.conversations"])

    deadline = time.monotonic() + 300
    while airflow.task_instance(dag_id, again, "load.conversations[0]")["try_number"] == tries:
        assert time.monotonic() < deadline, "the cleared task did not run again"
        time.sleep(1)
    assert airflow.wait(dag_id, again) == "success", airflow.task_states(dag_id, again)
    after = intercom.export()
    assert after["conversations"] == first["conversations"]
    assert after["contacts"] == first["contacts"]
