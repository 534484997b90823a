"""The production topology, natively: CeleryExecutor with two workers, Redis as broker and budget store,
PostgreSQL for Airflow's metadata and the ledger, S3 (moto) as the staging area. A migration split into
batches runs on both workers, one of which is killed -9 in mid-load, and ends with every record once.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass

import psutil
import pytest

from include.demo.airflow_stack import run_airflow
from include.demo.celery_stack import worker_pid_file
from include.sandbox.intercom.server.ratelimit import DEFAULT_PER_MINUTE
from tests.e2e.conftest import Stack
from tests.support.checks import assert_migrated
from tests.support.corpus import assert_corpus_outcomes
from tests.support.migrations import empty_workspace, migration_config
from tests.support.postgres import create_database, run_postgres, server_binaries
from tests.support.redis import run_redis

BUDGET_PER_MINUTE = 3_000
"""The migration's share and the sandbox's per-app limit: two workers' batches together must keep to it."""
QUEUED_TIMEOUT = 120
"""A task the killed worker had received but not yet started stays queued (Celery acknowledges a task once
it is done, and Redis gives an unacknowledged one back only after a day) until Airflow's scheduler finds it
queued this long and queues it again: Airflow's 600 s default outlasts the test. Two minutes is more than
any task here waits for a free slot."""


@dataclass
class CeleryStack(Stack):
    ledger: str = ""
    """a PostgreSQL database for the migration's ledger"""


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory) -> Iterator[CeleryStack]:
    if server_binaries() is None:
        pytest.skip("PostgreSQL's server binaries are not installed")
    root = tmp_path_factory.mktemp("celery")
    migrations = root / "migrations"
    migrations.mkdir()
    with ExitStack() as stack:
        server = stack.enter_context(run_postgres("celery-postgres-"))
        database = create_database(server, "airflow")
        broker = stack.enter_context(run_redis())
        airflow = stack.enter_context(
            run_airflow(
                root / "airflow",
                migrations,
                {},
                env={
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database,
                    "AIRFLOW__CELERY__BROKER_URL": broker,
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database}",
                    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT),
                    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
                },
                celery_workers=2,
                timeout=300,
            )
        )
        yield CeleryStack(airflow, migrations, ledger=create_database(server, "ledger"))


def report_from_s3(s3, key_prefix: str) -> dict:
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="celery-staging", Prefix=key_prefix)
        for item in page.get("Contents", [])
        if item["Key"].endswith("/report.json")
    ]
    assert len(keys) == 1, keys
    return json.loads(s3.get_object(Bucket="celery-staging", Key=keys[0])["Body"].read())


def worker_running(pid: int, workers: dict[int, int]) -> int | None:
    """Which worker (number) a task's process runs under."""
    with_parents = [psutil.Process(pid), *psutil.Process(pid).parents()]
    return next((number for number, worker in workers.items() for p in with_parents if p.pid == worker), None)


def kill_tree(pid: int) -> None:
    """kill -9 of a whole worker: its main process, its pool and the task processes under them."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)


@pytest.mark.timeout(900)  # a kill can cost a heartbeat timeout, a retry delay and a queued timeout
def test_two_celery_workers_share_the_budget_and_a_killed_one_loses_and_duplicates_nothing(
    celery_stack, asapp, intercom_server, expected, dataset, tmp_path
):
    intercom = empty_workspace(intercom_server, expected)
    intercom.configure(rate_limit_per_minute=BUDGET_PER_MINUTE)
    intercom.reset_stats()
    try:
        run_and_kill_a_worker(celery_stack, asapp, intercom, expected, dataset, tmp_path)
    finally:
        intercom.configure(rate_limit_per_minute=DEFAULT_PER_MINUTE)


def run_and_kill_a_worker(celery_stack, asapp, intercom, expected, dataset, tmp_path) -> None:
    airflow = celery_stack.airflow
    s3 = asapp.s3_client()
    s3.create_bucket(Bucket="celery-staging")  # its own: the dag tests stage on this S3 server too
    config = migration_config(
        "celery",
        tmp_path,
        intercom={"batch_size": 25, "parallel_batches": 4, "requests_per_minute": BUDGET_PER_MINUTE},
        ledger={"url": celery_stack.ledger},
    )
    config["staging"] = {"path": "s3://asapp_celery_s3@celery-staging/acme"}
    dag_id = celery_stack.add_migration(config, asapp, intercom)
    workers = {n: int(worker_pid_file(airflow.home, n).read_text()) for n in (1, 2)}

    run_id = airflow.trigger(dag_id, {"mode": "full"})
    deadline, killed = time.monotonic() + 300, None
    while killed is None:  # kill -9 the worker running a conversations batch, once it has sent some parts
        assert time.monotonic() < deadline, airflow.task_states(dag_id, run_id)
        states = airflow.task_states(dag_id, run_id)
        running = [
            name
            for name, state in states.items()
            if name.startswith("load.conversations[") and state == "running"
        ]
        for name in running:
            instance = airflow.task_instance(dag_id, run_id, name)
            number = instance.get("pid") and worker_running(instance["pid"], workers)
            if number and intercom.stats()["workspace"]["admitted"] > 400:
                kill_tree(workers[number])
                killed = (name, number)
                break
        time.sleep(0.5)

    state = airflow.wait(dag_id, run_id, timeout=540)

    states = airflow.task_states(dag_id, run_id)
    assert state == "success", (states, killed)
    assert airflow.task_instance(dag_id, run_id, killed[0])["try_number"] >= 2  # retried, on the other worker
    batches = [name for name in states if name.startswith("load.conversations[")]
    assert len(batches) >= 3, batches
    export = intercom.export()
    report = report_from_s3(s3, "acme/runs/")
    assert_migrated(export, expected)  # every conversation, every part once, in order, with its speaker
    assert_corpus_outcomes(dataset, export, report)
    assert all(row["balanced"] for row in report["objects"]), report["objects"]
    traffic = intercom.stats()["workspace"]
    assert traffic["rate_limited"] == 0 and traffic["windows_over_limit"] == 0, (
        traffic
    )  # one budget, two workers
