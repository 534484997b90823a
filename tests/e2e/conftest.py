"""One real Airflow stack (scheduler, DAG processor, triggerer, API server) for every end-to-end test.

Starting a stack costs a minute and a gigabyte; the end-to-end tests share one, each bringing its
own migration config (hence its own DAG, ledger and staging area) and connections, created through
the REST API as an operator would. They run one after another on one pytest worker (xdist group
"airflow"), while the other worker runs the rest of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from include.demo.airflow_stack import AirflowStack, run_airflow
from include.sandbox.asapp.server.launcher import AsappSandbox
from include.sandbox.intercom.server.launcher import IntercomSandbox


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("airflow"))


@dataclass
class Stack:
    airflow: AirflowStack
    migrations: Path

    def add_migration(
        self, config: dict, asapp: AsappSandbox, intercom: IntercomSandbox, **connections: dict
    ) -> str:
        """Give the stack a migration config with connections to these sandboxes; returns its DAG id."""
        name = config["migration_id"]
        config = {
            **config,
            "asapp": {**config["asapp"], "conn_id": f"asapp_{name}", "s3_conn_id": f"asapp_{name}_s3"},
            "intercom": {**config["intercom"], "conn_id": f"intercom_{name}"},
        }
        for conn_id, connection in {
            f"asapp_{name}": {
                "conn_type": "asapp",
                "host": asapp.api_url,
                "login": asapp.api_id,
                "password": asapp.api_secret,
            },
            f"asapp_{name}_s3": asapp.aws_connection(),
            f"intercom_{name}": {"conn_type": "intercom", "host": intercom.url, "password": intercom.token},
            **connections,
        }.items():
            self.airflow.add_connection(conn_id, connection)
        (self.migrations / f"{name}.yaml").write_text(yaml.safe_dump(config))
        dag_id = f"asapp_to_intercom__{name}"
        self.airflow.wait_for_dag(dag_id)
        return dag_id


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    migrations = root / "migrations"
    migrations.mkdir()
    with run_airflow(root / "airflow", migrations, connections={}) as airflow:
        yield Stack(airflow, migrations)
