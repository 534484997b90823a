"""How much of Intercom's rate budget the loader's shared limiter spends, and whether it ever trips it:
prints figures, asserts nothing.

    .venv/bin/python benchmarks/budget.py [--seconds 40] [--app-per-minute 1200]
        [--workspace-per-minute 3000] [--store sqlite|redis|postgresql|all] [--no-celery]

Against the Intercom sandbox enforcing Intercom's limits in 10-second windows (per app: each token;
per workspace: all tokens), worker processes call GET /admins as fast as their threads allow through
`IntercomHook` with one shared budget store, in four set-ups:

- one task: one process, one token;
- four batches: four processes of one migration, one token (what mapped batches on workers are);
- two migrations: two processes each, each migration its own token and share, one workspace;
- a token pool: one process, three tokens, held by the workspace's limit;
- with the Redis store, four batches again as one DAG run's mapped tasks on a Celery stack of two workers
  (include/demo/celery_stack.py, PostgreSQL, Redis as broker and budget; benchmarks/dags/).

Per set-up: the rate the sandbox admitted in full windows ÷ the binding limit, the windows over a
limit (the sandbox refuses those calls, so 429s count them), and 429s ÷ calls. The limits are far
below Intercom's 10,000/25,000 per minute so that the machine's two cores, shared by the sandbox and
the workers, are not what binds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))


@dataclass(frozen=True)
class Worker:
    migration: str
    tokens: tuple[str, ...]
    share_per_minute: int


def drive(
    url: str, worker: Worker, limits: tuple[int, int], store: str, start: float, until: float, threads: int
) -> int:
    """One worker process: `threads` threads calling from `start` until `until`; returns the calls made."""
    from asapp_intercom.hooks.budget import Limits
    from asapp_intercom.hooks.intercom import IntercomHook

    os.environ["AIRFLOW_CONN_INTERCOM_BUDGET"] = json.dumps(
        {"conn_type": "intercom", "host": url, "password": ",".join(worker.tokens)}
    )
    app, workspace = limits
    hook = IntercomHook(
        "intercom_budget",
        limits=Limits(worker.share_per_minute, app, workspace, share=worker.migration),
        concurrency=threads,
        budget_url=store,
        workspace_id="bench-workspace",
    )

    def loop() -> None:
        while time.time() < until:
            hook.list_admins()

    time.sleep(max(0.0, start - time.time()))
    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return hook.api.calls


def in_processes(
    url: str, workers: list[Worker], limits: tuple[int, int], store: str, start: float, until: float
) -> int:
    """The workers as plain processes; returns their calls."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(workers)) as pool:
        return sum(pool.starmap(drive, [(url, worker, limits, store, start, until, 8) for worker in workers]))


@dataclass
class OnCelery:
    """The workers as one DAG run's mapped tasks (benchmarks/dags/budget_batches.py) on a Celery stack."""

    airflow: object  # include.demo.airflow_stack.AirflowStack

    def __call__(
        self, url: str, workers: list[Worker], limits: tuple[int, int], store: str, start: float, until: float
    ) -> int:
        (worker,) = set(workers)  # batches of one migration
        conf = {
            "batches": len(workers),
            "migration": worker.migration,
            "tokens": list(worker.tokens),
            "share_per_minute": worker.share_per_minute,
            "app_per_minute": limits[0],
            "workspace_per_minute": limits[1],
            "url": url,
            "store": store,
            "start": start,
            "until": until,
            "threads": 8,
        }
        run_id = self.airflow.trigger("budget_batches", conf)
        state = self.airflow.wait("budget_batches", run_id, timeout=until - time.time() + 300)
        if state != "success":
            raise RuntimeError(
                f"the benchmark's run ended {state}: {self.airflow.task_states('budget_batches', run_id)}"
            )
        run = f"/dags/budget_batches/dagRuns/{quote(run_id, safe='')}"
        return int(self.airflow.api("GET", f"{run}/taskInstances/total/xcomEntries/return_value")["value"])


def run(
    label: str,
    workers: list[Worker],
    limits: tuple[int, int],
    store: str,
    seconds: int,
    sandbox,
    launch=in_processes,
    lead: int = 10,
) -> None:
    """One set-up, from the first window that starts `lead` seconds from now (the workers' start-up)."""
    from asapp_intercom.hooks.budget import window_budget

    app, workspace = limits
    tokens = {token for worker in workers for token in worker.tokens}
    binding = min(
        window_budget(workspace),
        window_budget(app) * len(tokens),
        sum(window_budget(share) for share in {w.migration: w.share_per_minute for w in workers}.values()),
    )
    sandbox.configure(rate_limit_per_minute=app, workspace_rate_limit_per_minute=workspace)
    sandbox.reset_stats()
    start = ((time.time() + lead) // 10 + 1) * 10
    until = start + seconds
    calls = launch(sandbox.url, workers, limits, store, start, until)
    view = sandbox.stats()
    stats = view["workspace"]
    windows = [w for w in stats["windows"] if start <= w["start"] and w["start"] + 10 <= until]
    admitted = sum(w["admitted"] for w in windows) / max(1, len(windows))
    over = sum(1 for w in windows if w["over_limit"])
    backend = store.split(":")[0].split("+")[0]
    print(
        f"{label:<16} {backend:<10} {len(windows):>7} {binding:>9} {admitted:>9.1f} "
        f"{admitted / binding:>9.3f} {over:>5} {stats['rate_limited']:>6} {calls:>7} "
        f"{stats['rate_limited'] / max(1, calls):>8.2%}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--app-per-minute", type=int, default=1_200)
    parser.add_argument("--workspace-per-minute", type=int, default=3_000)
    parser.add_argument("--store", choices=["sqlite", "redis", "postgresql", "all"], default="all")
    parser.add_argument(
        "--no-celery", action="store_true", help="skip the set-up on a Celery stack (with the Redis store)"
    )
    args = parser.parse_args()

    from include.sandbox.intercom.server.launcher import run_intercom_sandbox
    from tests.support.postgres import run_postgres
    from tests.support.redis import run_redis

    work = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    app, workspace = args.app_per_minute, args.workspace_per_minute
    tokens = ["bench-app-one", "bench-app-two", "bench-app-three"]
    setups = [
        ("one task", [Worker("m1", (tokens[0],), app)]),
        ("four batches", [Worker("m1", (tokens[0],), app)] * 4),
        ("two migrations", [Worker("m1", (tokens[0],), app)] * 2 + [Worker("m2", (tokens[1],), app)] * 2),
        ("3-token pool", [Worker("m1", tuple(tokens), workspace)]),
    ]
    print(
        f"limits: {app:,}/min per app, {workspace:,}/min per workspace, in 10-second windows; "
        f"{args.seconds} s per set-up; {os.cpu_count()} cores"
    )
    print(
        f"{'set-up':<16} {'store':<10} {'windows':>7} {'limit/10s':>9} {'admitted':>9} {'÷ limit':>9} "
        f"{'over':>5} {'429s':>6} {'calls':>7} {'429÷calls':>8}"
    )
    stores = ["sqlite", "redis", "postgresql"] if args.store == "all" else [args.store]
    with run_intercom_sandbox(work / "workspace.json", tokens=tokens, search_delay=0) as sandbox:
        for store in stores:
            if store == "sqlite":
                url, server = f"sqlite:///{work}/budget.db", None
            elif store == "redis":
                server = run_redis()
                url = server.__enter__()
            else:
                server = run_postgres("bench-budget-")
                url = f"{server.__enter__()}/postgres"
            try:
                for label, workers in setups:
                    run(label, workers, (app, workspace), url, args.seconds, sandbox)
                if store == "redis" and not args.no_celery:
                    with celery_stack(work, url) as airflow:
                        batches = [Worker("m1", (tokens[0],), app)] * 4
                        run(
                            "Celery 4 batches",
                            batches,
                            (app, workspace),
                            url,
                            args.seconds,
                            sandbox,
                            launch=OnCelery(airflow),
                            lead=40,
                        )
            finally:
                if server is not None:
                    server.__exit__(None, None, None)


@contextmanager
def celery_stack(work: Path, broker: str) -> Iterator:
    """include/demo/celery_stack.py with two workers of two task slots each, on PostgreSQL, with Redis as
    broker and budget store, its DAG folder benchmarks/dags."""
    from include.demo.airflow_stack import run_airflow
    from tests.support.postgres import create_database, run_postgres

    with run_postgres("bench-celery-") as server:
        database = create_database(server, "airflow")
        env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "benchmarks" / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database}",
        }
        (work / "migrations").mkdir(exist_ok=True)
        with run_airflow(
            work / "airflow", work / "migrations", {}, env=env, celery_workers=2, timeout=300
        ) as airflow:
            airflow.wait_for_dag("budget_batches")
            yield airflow


if __name__ == "__main__":
    main()
