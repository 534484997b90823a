"""The production topology without Docker: Airflow's scheduler, DAG processor, triggerer and API server,
and N Celery workers, each its own process, on the CeleryExecutor (what docker-compose.yaml runs as
containers). PostgreSQL and Redis are the caller's: their URLs come in Airflow's own settings.

    AIRFLOW__CORE__EXECUTOR=CeleryExecutor \\
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg://airflow@localhost/airflow \\
    AIRFLOW__CELERY__BROKER_URL=redis://localhost:6379/0 \\
    AIRFLOW__CELERY__RESULT_BACKEND=db+postgresql+psycopg://airflow@localhost/airflow \\
    .venv/bin/python -m include.demo.celery_stack --workers 2

Each worker runs in a session of its own, its pid in `$AIRFLOW_HOME/celery-worker-<n>.pid`, so that one
can be killed (kill -9 of the whole worker) while the rest go on. SIGINT, SIGTERM or SIGHUP stop all.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

COMPONENTS = (("api-server",), ("scheduler",), ("dag-processor",), ("triggerer",))


def worker_pid_file(home: Path, number: int) -> Path:
    return home / f"celery-worker-{number}.pid"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    args = parser.parse_args(argv)
    airflow = str(Path(sys.executable).with_name("airflow"))
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    home.mkdir(parents=True, exist_ok=True)
    stopping = False

    def stop(_signal, _frame) -> None:
        nonlocal stopping
        stopping = True

    for received in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(received, stop)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    components = [subprocess.Popen([airflow, *component]) for component in COMPONENTS]
    workers = []
    for number in range(1, args.workers + 1):
        worker = subprocess.Popen(
            [
                airflow,
                "celery",
                "worker",
                "--celery-hostname",
                f"worker{number}@%h",
                "--concurrency",
                str(args.concurrency),
                *([] if number == 1 else ["--skip-serve-logs"]),  # one log server per host and port
            ],
            start_new_session=True,
        )
        worker_pid_file(home, number).write_text(str(worker.pid))
        workers.append(worker)
    try:
        while not stopping:
            if any(component.poll() is not None for component in components):
                print("an Airflow component exited; stopping the stack", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        _signal_all(components, workers, signal.SIGTERM)
        deadline = time.monotonic() + 8  # AirflowStack.stop kills the group after 10 s
        for process in components + workers:
            with suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        _signal_all(components, workers, signal.SIGKILL)


def _signal_all(components: list[subprocess.Popen], workers: list[subprocess.Popen], sent: int) -> None:
    """Components share our process group; each worker has its own (its task processes with it)."""
    for process in components:
        with suppress(ProcessLookupError):
            process.send_signal(sent)
    for process in workers:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sent)


if __name__ == "__main__":
    sys.exit(main())
