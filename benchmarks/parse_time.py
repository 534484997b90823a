"""How long a worker takes to parse the DAG file, against importing Airflow's SDK alone.

Every worker parses the DAG file before each task, so the file must cost little beyond Airflow
itself: the operators import hooks, the ledger, DuckDB and the pipeline only when a task runs.
Each figure is a fresh interpreter (nothing cached in memory), the two commands alternating so
that a noisy machine slows both alike; the medians and their ratio are printed.

    .venv/bin/python benchmarks/parse_time.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDK_ONLY = "import airflow.sdk"
DAG_FILE = f"import runpy; runpy.run_path({str(ROOT / 'dags' / 'asapp_to_intercom.py')!r})"
HEAVY = ("duckdb", "pyarrow", "pandas", "boto3", "sqlalchemy.dialects.postgresql", "alembic", "httpx")


def timed(code: str, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=environment, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    environment = {
        **os.environ,
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="bench-parse-"),
        "ASAPP_INTERCOM_MIGRATIONS": str(ROOT / "include" / "migrations"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
    }
    timed(SDK_ONLY, environment)  # warm the file cache once
    sdk, dag = [], []
    for _ in range(args.runs):
        sdk.append(timed(SDK_ONLY, environment))
        dag.append(timed(DAG_FILE, environment))
    loaded = {
        code: set(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"{code}; import sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))",
                ],
                check=True,
                env=environment,
                capture_output=True,
                text=True,
            ).stdout.split()
        )
        for code in (SDK_ONLY, DAG_FILE)
    }
    added = sorted(loaded[DAG_FILE] - loaded[SDK_ONLY])
    sdk_median, dag_median = statistics.median(sdk), statistics.median(dag)
    print(
        f"import airflow.sdk      median {sdk_median:.2f} s  (min {min(sdk):.2f}, max {max(sdk):.2f}) "
        f"over {args.runs}"
    )
    print(
        f"parse the DAG file      median {dag_median:.2f} s  (min {min(dag):.2f}, max {max(dag):.2f}) "
        f"over {args.runs}"
    )
    print(f"ratio                   {dag_median / sdk_median:.2f}  (goal: at most 1.2)")
    print(f"heavy modules the DAG file imports beyond Airflow's own: {', '.join(added) or 'none'}")


if __name__ == "__main__":
    main()
