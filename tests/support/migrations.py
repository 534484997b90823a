"""Fixtures for pipeline tests: a generated dataset, both sandboxes over real HTTP, and a migration
config of its own per test (own ledger, staging area and DAG), run with dag.test()."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from include.demo.airflow_stack import task_name
from include.sandbox.asapp.server.launcher import AsappSandbox, run_asapp_sandbox
from include.sandbox.intercom.server.launcher import IntercomSandbox, run_intercom_sandbox
from tests.conftest import ROOT
from tests.support import oracle

CONVERSATIONS = 60
BOT_EMAIL = "bot@acme-support.example"
_ids = itertools.count(1)


def generate(
    out: Path, conversations: int, seed: int = 7, start: str | None = None, extra: list[str] = ()
) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "include.sandbox.asapp",
            "generate",
            "--out",
            str(out),
            "--seed",
            str(seed),
            "--conversations",
            str(conversations),
            *(["--start", start] if start else []),
            *extra,
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("asapp") / "data", CONVERSATIONS)


@pytest.fixture(scope="session")
def expected(dataset) -> oracle.Expected:
    return oracle.expected(dataset)


def after_the_realtime_window(data: Path) -> str:
    """A moment when every batch partition is delivered and every real-time event still retained."""
    end = datetime.fromisoformat(json.loads((data / "_manifest.json").read_text())["realtime_window"]["end"])
    return (end + timedelta(hours=1)).isoformat()


@pytest.fixture(scope="session")
def asapp(dataset) -> Iterator[AsappSandbox]:
    with run_asapp_sandbox(dataset, daily_cap=1_000_000, clock=after_the_realtime_window(dataset)) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def intercom_server(tmp_path_factory) -> Iterator[IntercomSandbox]:
    with run_intercom_sandbox(
        tmp_path_factory.mktemp("intercom") / "workspace.json", search_delay=1
    ) as sandbox:
        yield sandbox


def empty_workspace(intercom: IntercomSandbox, expected: oracle.Expected) -> IntercomSandbox:
    """The workspace emptied, its teammates the bot and every other ASAPP agent (the rest have none)."""
    intercom.reset()
    emails = sorted(email for email in expected.rep_emails.values() if email)
    intercom.add_admins(
        {"name": "ASAPP Bot", "email": BOT_EMAIL},
        *({"name": email.split("@")[0], "email": email} for email in emails[::2]),
    )
    return intercom


@pytest.fixture
def intercom(intercom_server, expected) -> IntercomSandbox:
    return empty_workspace(intercom_server, expected)


@dataclass
class Migration:
    """One migration config, its DAG and where it keeps its state."""

    migration_id: str
    home: Path
    config_path: Path
    intercom: IntercomSandbox
    asapp: AsappSandbox

    @property
    def dag_id(self) -> str:
        return f"asapp_to_intercom__{self.migration_id}"

    @property
    def rollback_dag_id(self) -> str:
        return f"asapp_to_intercom_rollback__{self.migration_id}"

    def dag(self, dag_id: str | None = None):
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(ROOT / "dags"))
        assert not bag.import_errors, bag.import_errors
        return bag.get_dag(dag_id or self.dag_id)

    def run(self, **conf):
        """Trigger a manual run with this conf and wait for it (dag.test runs tasks in this process)."""
        return self.dag().test(run_conf=conf)

    def roll_back(self, **conf):
        """A run of the migration's rollback DAG (a real one of a demo config approves itself)."""
        return self.dag(self.rollback_dag_id).test(run_conf=conf)

    def report(self, run) -> dict:
        return read_report(self.home, run.run_id)

    def rollback_report(self, run) -> dict:
        from asapp_intercom.pipeline.staging import run_key

        return json.loads(
            (self.home / "staging" / "rollbacks" / run_key(run.run_id) / "report.json").read_text()
        )

    def ledger(self):
        from asapp_intercom.ledger import Ledger

        return Ledger(f"sqlite:///{self.home}/ledger.db", self.migration_id)

    def task_states(self, run) -> dict[str, str]:
        return {
            task_name(ti.task_id, ti.map_index, ti.rendered_map_index): str(ti.state)
            for ti in run.get_task_instances()
        }


def read_report(home: Path, run_id: str) -> dict:
    """The report.json a run of a migration whose staging area is under `home` wrote."""
    from asapp_intercom.pipeline.staging import run_key

    return json.loads((home / "staging" / "runs" / run_key(run_id) / "report.json").read_text())


def migration_config(migration_id: str, home: Path, **overrides) -> dict:
    config = {
        "migration_id": migration_id,
        "demo": True,
        "start_date": "2026-01-05",
        "schedule": None,
        "asapp": {
            "conn_id": "asapp_test",
            "s3_conn_id": "asapp_test_s3",
            "bucket": "asapp-prod-acme-exports-us-east-1",
            "company_marker": "acme",
        },
        "intercom": {
            "conn_id": "intercom_test",
            "bot_admin_email": BOT_EMAIL,
            "search_consistency_seconds": 2,
            "concurrency": 8,
        },
        "staging": {"path": f"file://{home}/staging"},
        "ledger": {"url": f"sqlite:///{home}/ledger.db"},
        "approval": {"mode": "auto"},
    }
    for key, value in overrides.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return config


@contextmanager
def new_migration(
    asapp: AsappSandbox, intercom: IntercomSandbox, home: Path, env: pytest.MonkeyPatch
) -> Iterator[Migration]:
    """A migration config of its own (connections to these sandboxes, state under `home`) while inside."""
    env.setenv("AIRFLOW_CONN_ASAPP_TEST_S3", json.dumps(asapp.aws_connection()))
    env.setenv(
        "AIRFLOW_CONN_ASAPP_TEST",
        json.dumps(
            {"conn_type": "asapp", "host": asapp.api_url, "login": asapp.api_id, "password": asapp.api_secret}
        ),
    )
    env.setenv(
        "AIRFLOW_CONN_INTERCOM_TEST",
        json.dumps({"conn_type": "intercom", "host": intercom.url, "password": intercom.token}),
    )
    migration_id = f"test_{os.getpid()}_{next(_ids)}"
    config_path = Path(os.environ["ASAPP_INTERCOM_MIGRATIONS"]) / f"{migration_id}.yaml"
    config_path.write_text(yaml.safe_dump(migration_config(migration_id, home)))
    try:
        yield Migration(migration_id, home, config_path, intercom, asapp)
    finally:
        config_path.unlink()


@pytest.fixture
def migration(airflow_db, asapp, intercom, tmp_path, monkeypatch) -> Iterator[Migration]:
    with new_migration(asapp, intercom, tmp_path, monkeypatch) as migration:
        yield migration
