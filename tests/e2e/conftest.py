"""A real Airflow stack (scheduler, DAG processor, triggerer, API server) per end-to-end group.

Starting a stack costs a minute and a gigabyte; the tests of a group (`E2E_GROUPS` in tests/conftest.py)
share one, each bringing its own migration config (hence its own DAG, ledger and staging area) and
connections, created through the REST API as an operator would. The messy tenant's run on a flaky
Intercom is made once (`flaky_run`) and looked at by every test it answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from include.demo.airflow_stack import AirflowStack, run_airflow
from include.sandbox.asapp.server.launcher import AsappSandbox
from include.sandbox.intercom.server.launcher import IntercomSandbox
from tests.support.migrations import empty_workspace, migration_config
from tests.support.postgres import create_database, run_postgres, server_binaries

FLAKY = {"error_share": 0.05, "error_status": 503, "drop_share": 0.02, "phase": "after", "seed": 5}
"""Intercom answering 5 % of calls with a 503 and dropping 2 % of connections after doing the write."""


STACKS = ExitStack()
"""What this worker started for its end-to-end group (a PostgreSQL server and an Airflow stack)."""


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are torn down
def pytest_runtest_teardown(item, nextitem):
    """After the group's last test, stop its stack at once: idle, it would take a core's third from the
    dag and unit tests that follow on this worker until the session ends."""
    if nextitem is None or "tests/e2e/" not in str(nextitem.fspath):
        STACKS.close()


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
        # Written whole, then renamed: the DAG processor must never parse half a file.
        partial = self.migrations / f".{name}.yaml.partial"
        partial.write_text(yaml.safe_dump(config))
        partial.rename(self.migrations / f"{name}.yaml")
        dag_id = f"asapp_to_intercom__{name}"
        self.airflow.wait_for_dag(dag_id)
        return dag_id

    def approve_at_once(
        self, dag_id: str, run_id: str, task: str = "map.approve", params: dict | None = None
    ) -> threading.Thread:
        """A person approving (the field map, unless another question is named) the moment the request
        appears (Airflow 3.3.2 can lose such an answer)."""
        params = {"overrides": {}} if params is None else params

        def answer() -> None:
            self.airflow.wait(dag_id, run_id, task=task, until={"awaiting_input"}, timeout=600)
            self.airflow.answer(dag_id, run_id, task, ["Approve"], params)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        return thread


@dataclass
class FinishedRun:
    """A migration run the stack has finished, and what Intercom held right after it."""

    dag_id: str
    run_id: str
    home: Path
    """its staging area and ledger"""
    state: str
    task_states: dict[str, str]
    export: dict


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """The group's Airflow, its metadata on PostgreSQL as in production (where the machine has it): on
    SQLite's single writer, the triggerer stalled for a minute and a backfill's runs vanished under the
    scheduler."""
    root = tmp_path_factory.mktemp("e2e")
    migrations = root / "migrations"
    migrations.mkdir()
    with STACKS:
        database = {}
        if server_binaries() is not None:
            url = create_database(STACKS.enter_context(run_postgres("airflow-postgres-")), "airflow")
            database = {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,  # psycopg 3 is async too
            }
        airflow = STACKS.enter_context(run_airflow(root / "airflow", migrations, {}, env=database))
        yield Stack(airflow, migrations)


@pytest.fixture(scope="session")
def flaky_run(stack, asapp, intercom_server, expected, tmp_path_factory) -> FinishedRun:
    """The messy tenant migrated on a flaky Intercom (and a burst of 429s), its field map approved the
    moment it is asked. What landed is test_messy_tenant's concern; how its report page shows the run,
    test_report_page's."""
    home = tmp_path_factory.mktemp("flaky")
    intercom = empty_workspace(intercom_server, expected)
    airflow = stack.airflow
    dag_id = stack.add_migration(
        migration_config("flaky", home, demo=False, approval={"mode": "human"}), asapp, intercom
    )
    # Three 429s in a row: each waits for Intercom's next 10-second window. (Twelve made the first task
    # give up after ten and wait for Airflow's retry: two minutes of the suite, proving nothing more.)
    intercom.set_faults(**FLAKY, rate_limit_next=3)
    try:
        run_id = airflow.trigger(dag_id, {"mode": "full"})
        stack.approve_at_once(dag_id, run_id)
        state = airflow.wait(dag_id, run_id, timeout=1200)
    finally:
        intercom.set_faults()
    return FinishedRun(dag_id, run_id, home, state, airflow.task_states(dag_id, run_id), intercom.export())
