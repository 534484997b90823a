"""Airflow DAGs: one ASAPP → Intercom migration DAG per config file in include/migrations/.

Set ASAPP_INTERCOM_MIGRATIONS to read the configs from another directory. A task's process builds only
its own DAG (Airflow's parsing context names it).
"""

from airflow.sdk import get_parsing_context
from asapp_intercom.dag_factory import build_dags
from asapp_intercom.domain.config import migrations_dir

globals().update(build_dags(migrations_dir(), only=get_parsing_context().dag_id))
