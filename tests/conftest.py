"""Every test session gets its own Airflow home, set before anything imports Airflow.

Airflow reads its configuration once, at import; tests that run DAGs then find this project's
dags/ and plugins/ folders and a metadata database of their own (one per xdist worker).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"

_home = Path(tempfile.mkdtemp(prefix="asapp-intercom-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "ASAPP_INTERCOM_MIGRATIONS": str(_home / "migrations"),
    }
)
(_home / "migrations").mkdir()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database (SQLite) in the session's Airflow home."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return _home


pytest_plugins = ["tests.support.migrations"]
"""Datasets, both sandboxes over HTTP and per-test migration configs, for the tests of the package."""
