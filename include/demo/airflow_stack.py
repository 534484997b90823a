"""A real Airflow (scheduler, DAG processor, triggerer, API server) for the demo and end-to-end tests.

`airflow standalone` on SQLite with this project's dags/ and plugins/, driven through Airflow's
REST API. Started in a session of its own with SIGINT restored: backgrounded, standalone ignores
SIGINT and a SIGTERM to the parent leaves its children running (reference/airflow/NOTES.md §14).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[2]
FINISHED = {"success", "failed"}
TASK_DONE = {"success", "failed", "skipped", "upstream_failed"}
LAUNCH = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setsid(); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stack_environment(home: Path, port: int, migrations: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Wait up to a minute for SQLite's lock instead of failing after pysqlite's 5 s.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout=60",
        "AIRFLOW__CORE__PARALLELISM": "4",  # standalone would start 32 workers on 2 cores
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        # A parse that times out on a busy machine marks every migration's DAG stale until the next one.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "ASAPP_INTERCOM_MIGRATIONS": str(migrations),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),  # for its `airflow` children
        **extra,
    }


def task_name(task_id: str, map_index: int, rendered_map_index: str | None) -> str:
    """A task as the grid names it: a mapped one by its map_index_template (extract.feed[utterances])."""
    return task_id if map_index < 0 else f"{task_id}[{rendered_map_index or map_index}]"


def task_id_of(task: str) -> str:
    """The task id in a grid name: `load.conversations` in `load.conversations[2 of 3]`."""
    return task.split("[", 1)[0]


@dataclass
class AirflowStack:
    home: Path
    url: str
    process: subprocess.Popen
    log_path: Path
    environment: dict[str, str] = field(repr=False)
    client: httpx.Client = field(default=None, repr=False)

    def cli(self, *args: str, attempts: int = 20) -> str:
        """Run an `airflow` CLI command against this stack (retrying while SQLite is locked)."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        for attempt in range(attempts):
            done = subprocess.run(
                [airflow, *args], env=self.environment, cwd=ROOT, capture_output=True, text=True
            )
            if done.returncode == 0:
                return done.stdout
            if "database is locked" not in (done.stdout + done.stderr).lower() or attempt == attempts - 1:
                raise RuntimeError(f"airflow {' '.join(args)} failed: {done.stderr[-2000:]}")
            time.sleep(2)
        raise AssertionError("unreachable")

    @property
    def password(self) -> str:
        return json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]

    def login(self) -> None:
        token = (
            httpx.post(
                f"{self.url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
            )
            .raise_for_status()
            .json()["access_token"]
        )
        self.client = httpx.Client(
            base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def api(self, method: str, path: str, *, accept: frozenset[int] = frozenset(), **kwargs) -> dict:
        """One REST call. On SQLite a busy database answers 500/503; reads are asked again, and so is
        any call the caller made safe to repeat (`accept` names the answers a repeat may get)."""
        repeatable = method == "GET" or bool(accept)
        for attempt in range(6):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                # A write can hold SQLite for longer than the client waits; asked again if safe to.
                if not repeatable or attempt == 5:
                    raise
                continue
            if response.status_code < 400 or (attempt and response.status_code in accept):
                return response.json() if response.content else {}
            if response.status_code < 500 or not repeatable or attempt == 5:
                break
            time.sleep(2)
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the DAG processor has parsed the DAG (or reported why it cannot). A DAG file that failed to
        parse once, even while a config was being written, leaves its DAGs stale until parsed again, and a
        stale DAG cannot be triggered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.client.get(f"/dags/{dag_id}")
            if response.status_code == 200 and not response.json()["is_stale"]:
                return
            errors = self.api("GET", "/importErrors").get("import_errors", [])
            if errors:
                raise RuntimeError(f"DAG import errors: {errors}")
            time.sleep(2)
        raise TimeoutError(f"{dag_id} was not parsed within {timeout} s; see {self.log_path}")

    def trigger(self, dag_id: str, conf: dict) -> str:
        """Trigger a run under a run id of our own, so that asking again can never make a second run."""
        run_id = f"manual__{datetime.now(UTC).isoformat()}"
        self.api(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            accept=frozenset({409}),
            json={"dag_run_id": run_id, "logical_date": None, "conf": conf},
        )
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api(
            "GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 200}
        )["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {
            task_name(item["task_id"], item["map_index"], item.get("rendered_map_index")): item["state"]
            for item in self.task_instances(dag_id, run_id)
        }

    def wait(
        self,
        dag_id: str,
        run_id: str,
        *,
        until=FINISHED,
        task: str | None = None,
        timeout: float = 600,
        on_progress=None,
    ) -> str:
        """Until the run (or one task of it) reaches one of the states; returns that state."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            state = self.task_states(dag_id, run_id).get(task) if task else self.run_state(dag_id, run_id)
            if on_progress:
                on_progress(state)
            last = state
            if state in until:
                return state
            if task and self.run_state(dag_id, run_id) in FINISHED:
                raise RuntimeError(
                    f"run ended before {task} reached {until}: {self.task_states(dag_id, run_id)}"
                )
            time.sleep(1)
        raise TimeoutError(
            f"{task or 'run'} still {last} after {timeout} s: {self.task_states(dag_id, run_id)}\n"
            f"{self.log_excerpt()}"
        )

    def log_excerpt(self, lines: int = 40) -> str:
        """The stack's last warnings and errors, so that a failure in CI explains itself."""
        if not self.log_path.exists():
            return ""
        noteworthy = [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if any(word in line for word in ("ERROR", "WARNING", "Traceback", "Error:"))
        ]
        return "\n".join(["last warnings and errors of the stack:", *noteworthy[-lines:]])

    def task_instance(self, dag_id: str, run_id: str, task: str) -> dict:
        """One task instance: `load.conversations[1]` is map index 1 of a mapped task, which the grid names
        `load.conversations[2 of 3]` once it has run (that name is found too). LookupError: none (yet: a
        mapped task has instances only once its upstream has said what it maps over)."""
        if "[" not in task:
            return self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task}")
        for item in self.task_instances(dag_id, run_id):
            rendered = task_name(item["task_id"], item["map_index"], item.get("rendered_map_index"))
            if task in (rendered, f"{item['task_id']}[{item['map_index']}]"):
                return item
        raise LookupError(f"{task} is not a task instance of {dag_id} {run_id}")

    def hitl(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.api(
            "GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails"
        )

    def answer(
        self, dag_id: str, run_id: str, task_id: str, options: list[str], params: dict, timeout: float = 600
    ) -> str:
        """Respond to a human-in-the-loop task as a person would in Required Actions, and wait until the
        task has taken the answer; returns the task's final state.

        Airflow 3.3.2 can lose an answer given within seconds of the request: when the resumed task is
        queued before the scheduler reads the executor's report of the parked worker's exit, that try
        is failed as "changed externally" and its retry asks again. A person sees the request come back
        and answers it again; so does this.
        """
        deadline, answers = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            state = self.task_states(dag_id, run_id).get(task_id)
            if state in TASK_DONE:
                return state
            if state == "awaiting_input" and not self.hitl(dag_id, run_id, task_id)["response_received"]:
                self.api(
                    "PATCH",
                    f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails",
                    accept=frozenset({409}),
                    json={"chosen_options": options, "params_input": params},
                )
                answers += 1
            time.sleep(1)
        raise TimeoutError(
            f"{task_id} answered {answers} time(s) but still {state} after {timeout} s: "
            f"{self.task_instance(dag_id, run_id, task_id)}\n{self.log_excerpt()}"
        )

    def add_connection(self, conn_id: str, connection: dict) -> None:
        """Create (or replace) a connection through the REST API, as an operator would in Admin →
        Connections."""
        body = {
            "connection_id": conn_id,
            **{key: value for key, value in connection.items() if key != "extra"},
        }
        if "extra" in connection:
            body["extra"] = json.dumps(connection["extra"])
        if self.client.get(f"/connections/{conn_id}").status_code == 200:
            self.api("PATCH", f"/connections/{conn_id}", json=body)
        else:
            self.api("POST", "/connections", accept=frozenset({409}), json=body)

    def clear(self, dag_id: str, run_id: str, tasks: list[str]) -> None:
        """Clear tasks named as the grid names them (a mapped task by any of its batches: all of them)."""
        task_ids = sorted({task_id_of(task) for task in tasks})
        self.api(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={"dag_run_id": run_id, "task_ids": task_ids, "dry_run": False, "only_failed": False},
        )

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        with suppress(ProcessLookupError):  # workers and log servers that outlived standalone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextmanager
def run_airflow(
    home: Path,
    migrations: Path,
    connections: dict[str, dict],
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 180,
    celery_workers: int = 0,
) -> Iterator[AirflowStack]:
    """Start `airflow standalone` (or, with `celery_workers`, the CeleryExecutor's topology of
    include/demo/celery_stack.py, whose database and broker `env` names), wait until its API answers
    and log in; stop it on exit."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    extra = {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection)
        for conn_id, connection in connections.items()
    }
    extra.update(env or {})
    log_path = home / "standalone.log"
    command = (
        [sys.executable, "-m", "include.demo.celery_stack", "--workers", str(celery_workers)]
        if celery_workers
        else [str(Path(sys.executable).with_name("airflow")), "standalone"]
    )
    environment = stack_environment(home, port, migrations, extra)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=ROOT,
        )
    stack = AirflowStack(home, f"http://127.0.0.1:{port}", process, log_path, environment)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the Airflow stack exited; see {log_path}")
            try:
                if (
                    httpx.get(f"{stack.url}/api/v2/version", timeout=5).status_code in {200, 401, 403}
                    and (home / "simple_auth_manager_passwords.json.generated").exists()
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow's API did not answer within {timeout} s; see {log_path}")
            time.sleep(1)
        stack.login()
        yield stack
    finally:
        stack.stop()
