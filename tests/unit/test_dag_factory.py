"""The DAG a migration config becomes: its trigger form refuses what a run could not do, as Airflow checks a
run's conf when it is triggered (the serialized DAG the API server holds merges and validates it)."""

from __future__ import annotations

import pytest
from airflow.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization
from asapp_intercom.dag_factory import build_dag
from asapp_intercom.domain.config import MigrationConfig

from tests.support.migrations import migration_config


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    config = MigrationConfig.model_validate(migration_config("form", tmp_path_factory.mktemp("form")))
    return DagSerialization.from_dict(DagSerialization.to_dict(build_dag(config)))


@pytest.mark.parametrize(
    "conf",
    [
        {"sample_size": 0},
        {"sample_size": -5},
        {"objects": ["contacts", "tickets"]},
        {"objects": []},
        {"mode": "everything"},
        {"thread_mode": "html"},
    ],
)
def test_the_trigger_form_refuses_what_no_run_could_do(dag, conf):
    with pytest.raises(ParamValidationError):
        dag.params.deep_merge(conf).validate()


def test_the_trigger_form_takes_a_sample_of_some_objects(dag):
    values = dag.params.deep_merge({"mode": "sample", "sample_size": 1, "objects": ["companies"]}).validate()

    assert (values["mode"], values["sample_size"], values["objects"]) == ("sample", 1, ["companies"])
