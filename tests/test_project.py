"""The project as a newcomer meets it: pinned dependencies, a valid compose file, DAGs that import."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT, SHARED_REFERENCE


def pins(path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


@pytest.mark.parametrize(
    "requirements, lock",
    [
        ("requirements.txt", "requirements.lock"),
        ("requirements.txt", "requirements-dev.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
    ],
)
def test_every_dependency_is_pinned_and_locked(requirements, lock):
    locked = (ROOT / lock).read_text()
    for requirement in pins(ROOT / requirements):
        name, _, version = requirement.partition("==")
        assert version, f"{requirement} is not pinned with =="
        assert re.search(
            rf"^{re.escape(name.split('[')[0])}=={re.escape(version)} \\", locked, re.M | re.I
        ), requirement
    assert "--hash=sha256:" in locked


def test_the_package_declares_its_run_time_dependencies_only_and_reads_its_version_from_its_metadata():
    from importlib.metadata import requires, version

    from asapp_intercom.provider import get_provider_info

    declared = [
        requirement.split(";")[0].strip()
        for requirement in requires("asapp-intercom-migration")
        if "extra ==" not in requirement
    ]
    assert sorted(declared) == sorted(pins(ROOT / "requirements.txt"))
    assert not any(tool in " ".join(declared) for tool in ("pytest", "moto", "ruff", "schemathesis"))
    assert get_provider_info()["versions"] == [version("asapp-intercom-migration")]
    image = (ROOT / "Dockerfile").read_text()
    assert "-r /opt/airflow/project/requirements.lock" in image and "requirements-dev.lock" not in image


def test_the_compose_file_is_valid_and_refers_to_what_exists():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    schema = json.loads((SHARED_REFERENCE / "compose" / "compose-spec.json").read_text())

    jsonschema.Draft7Validator(schema).validate(compose)  # the schema declares draft-07
    assert {
        "postgres",
        "redis",
        "minio",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    } <= set(compose["services"])
    assert compose["services"]["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert (ROOT / "Dockerfile").exists()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_dir(), volume


@pytest.mark.airflow
def test_a_tasks_process_builds_only_the_dag_of_its_task(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(ROOT / "include" / "migrations"))
    # what Airflow's task runner sets around its parse (it names the task's DAG and task)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "asapp_to_intercom_rollback__demo")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "plan.list")
    bag = DagBag(dag_folder=str(ROOT / "dags"))

    assert bag.import_errors == {} and bag.dag_ids == ["asapp_to_intercom_rollback__demo"]


@pytest.mark.airflow
def test_the_dag_folder_imports_a_migration_and_a_rollback_dag_per_config_with_a_group_per_phase(
    airflow_db, monkeypatch
):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(ROOT / "include" / "migrations"))
    bag = DagBag(dag_folder=str(ROOT / "dags"))

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"asapp_to_intercom__demo", "asapp_to_intercom_rollback__demo"}
    dag = bag.get_dag("asapp_to_intercom__demo")
    groups = {task.task_id.split(".")[0] for task in dag.tasks}
    assert groups == {
        "one_run_at_a_time",
        "discover",
        "extract",
        "map",
        "transform",
        "schema",
        "load",
        "validate",
        "report",
    }
    assert set(dag.params) == {
        "mode",
        "sample_size",
        "objects",
        "dry_run",
        "thread_mode",
        "follow_events_until",
        "cutover_at",
    }
    assert all(dag.params.get_param(name).description for name in dag.params)
    rollback = bag.get_dag("asapp_to_intercom_rollback__demo")
    assert [task.task_id for task in rollback.tasks if task.task_id.startswith("undo.")] == [
        "undo.recheck",
        "undo.untag",
        "undo.conversations",
        "undo.contacts",
        "undo.companies",
        "undo.restore",
        "undo.attributes",
        "undo.tags",
    ]
    assert set(rollback.params) == {"scope", "run_id", "since", "until", "dry_run"}
    assert rollback.params["dry_run"] is True
    assert all(rollback.params.get_param(name).description for name in rollback.params)


@pytest.mark.airflow
def test_a_bad_config_is_an_import_error_naming_the_file_the_field_and_the_reason(
    airflow_db, tmp_path, monkeypatch
):
    from airflow.dag_processing.dagbag import DagBag

    config = yaml.safe_load((ROOT / "include" / "migrations" / "demo.yaml").read_text())
    config["intercom"]["requests_per_minute"] = "lots"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(tmp_path))

    errors = DagBag(dag_folder=str(ROOT / "dags")).import_errors

    (message,) = errors.values()
    assert "broken.yaml" in message
    assert "intercom.requests_per_minute" in message
    assert "valid integer" in message


def test_the_asapp_and_intercom_connection_types_are_registered_with_their_forms():
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager()
    hooks, behaviours = providers.hooks, providers.field_behaviours

    assert hooks["asapp"].hook_class_name == "asapp_intercom.hooks.asapp.AsappHook"
    assert hooks["intercom"].hook_class_name == "asapp_intercom.hooks.intercom.IntercomHook"
    assert behaviours["asapp"]["relabeling"] == {
        "host": "API base URL",
        "login": "API Id",
        "password": "API Secret",
    }
    assert behaviours["intercom"]["relabeling"]["password"] == "Access token"
