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


E2E_GROUPS = {
    "tests/e2e/test_realtime.py": "airflow-2",
    "tests/e2e/test_demo.py": "airflow-2",
    "tests/e2e/test_celery.py": "celery",
}
"""End-to-end modules outside the first group ("airflow"): each group runs on one xdist worker, which
starts one Airflow stack for the group's tests (the `stack` fixture), so one group's waits on Airflow's
loops overlap the other's work, and the rest of the suite fills the gaps."""


def e2e_group(nodeid: str) -> str | None:
    if not nodeid.startswith("tests/e2e/"):
        return None
    return E2E_GROUPS.get(nodeid.split("::", 1)[0], "airflow")


def pytest_xdist_make_scheduler(config, log):
    """xdist's loadgroup, grouping by path: pytest 9 derives a node id from its parts, so xdist 3.8's
    `xdist_group` marker (which appends "@group" to the id) no longer keeps a group on one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class EndToEndGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return e2e_group(nodeid) or nodeid

    return EndToEndGroups(config, log)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database (SQLite) in the session's Airflow home."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return _home


pytest_plugins = ["tests.support.migrations"]
"""Datasets, both sandboxes over HTTP and per-test migration configs, for the tests of the package."""
