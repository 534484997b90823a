"""Airflow DAGs: one ASAPP → Intercom migration DAG per config file in include/migrations/.

Set ASAPP_INTERCOM_MIGRATIONS to read the configs from another directory.
"""

from asapp_intercom.config import migrations_dir
from asapp_intercom.dag_factory import build_dags

globals().update(build_dags(migrations_dir()))
