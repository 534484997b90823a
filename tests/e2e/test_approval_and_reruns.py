"""The migration under real Airflow processes (API server, scheduler, DAG processor, triggerer),
driven only through Airflow's REST API, as an operator would drive it."""

from __future__ import annotations

import time

import pytest
import yaml

from include.demo.airflow_stack import run_airflow
from tests.support.checks import assert_contacts_and_companies, assert_migrated
from tests.support.migrations import migration_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


@pytest.fixture
def stack(asapp, intercom, tmp_path):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    config = migration_config("e2e", tmp_path / "state", demo=False, approval={"mode": "human"})
    (migrations / "e2e.yaml").write_text(yaml.safe_dump(config))
    connections = {
        "asapp_test": {"conn_type": "asapp", "host": asapp.api_url, "login": asapp.api_id,
                       "password": asapp.api_secret},
        "asapp_test_s3": asapp.aws_connection(),
        "intercom_test": {"conn_type": "intercom", "host": intercom.url, "password": intercom.token},
    }
    with run_airflow(tmp_path / "airflow", migrations, connections) as airflow:
        airflow.wait_for_dag("asapp_to_intercom__e2e")
        yield airflow


def test_an_approved_migration_lands_once_however_often_it_runs(stack, intercom, expected):
    dag_id = "asapp_to_intercom__e2e"
    run_id = stack.trigger(dag_id, {"mode": "full"})

    stack.wait(dag_id, run_id, task="map.approve", until={"awaiting_input"}, timeout=600)
    untouched = intercom.export()
    assert (untouched["companies"], untouched["contacts"], untouched["conversations"],
            untouched["data_attributes"], untouched["conversation_attributes"]) == ([], [], [], [], [])
    request = stack.hitl(dag_id, run_id, "map.approve")
    assert request["options"] == ["Approve", "Reject"]
    assert "convos_metadata.issue_id" in request["body"]

    assert stack.answer(dag_id, run_id, "map.approve", ["Approve"], {"overrides": {}}) == "success"

    assert stack.wait(dag_id, run_id) == "success", stack.task_states(dag_id, run_id)
    first = intercom.export()
    assert_migrated(first, expected)
    assert_contacts_and_companies(first, expected)

    again = stack.trigger(dag_id, {"mode": "full"})

    assert stack.wait(dag_id, again) == "success", stack.task_states(dag_id, again)
    assert stack.task_states(dag_id, again)["map.approve"] == "skipped"  # the same map is not asked again
    assert intercom.export()["conversations"] == first["conversations"]

    tries = stack.task_instance(dag_id, again, "load.conversations")["try_number"]
    stack.clear(dag_id, again, ["load.conversations"])

    deadline = time.monotonic() + 300
    while stack.task_instance(dag_id, again, "load.conversations")["try_number"] == tries:
        assert time.monotonic() < deadline, "the cleared task did not run again"
        time.sleep(1)
    assert stack.wait(dag_id, again) == "success", stack.task_states(dag_id, again)
    after = intercom.export()
    assert after["conversations"] == first["conversations"]
    assert after["contacts"] == first["contacts"]
