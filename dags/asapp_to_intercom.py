"""Airflow DAGs: one ASAPP → Intercom migration DAG per config file in include/migrations/.

Set ASAPP_INTERCOM_MIGRATIONS to read the configs from another directory.
"""

import os
from pathlib import Path

from asapp_intercom.dag_factory import build_dags

MIGRATIONS = Path(os.environ.get("ASAPP_INTERCOM_MIGRATIONS") or Path(__file__).resolve().parents[1] / "include/migrations")

globals().update(build_dags(MIGRATIONS))
