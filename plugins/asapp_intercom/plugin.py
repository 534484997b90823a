"""The Airflow plugin: what this package adds to the Airflow API server and its UI."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from asapp_intercom.web.answers import RecordAnswers
from asapp_intercom.web.app import URL_PREFIX, plugin_app

ROOT = URL_PREFIX.lstrip("/")  # hrefs stay relative to Airflow's base URL, so a proxy's prefix is kept


class AsappIntercomPlugin(AirflowPlugin):
    name = "asapp_intercom"
    fastapi_apps = [{"app": plugin_app, "url_prefix": URL_PREFIX, "name": "ASAPP → Intercom migration"}]
    fastapi_root_middlewares = [
        {"middleware": RecordAnswers, "name": "Keep answers to migrations' questions"}
    ]
    external_views = [
        {
            "name": "Migrations",
            "href": f"{ROOT}/migrations",
            "destination": "nav",
            "category": "browse",
            "url_route": "asapp-intercom-migrations",
        },
        {
            "name": "Migration report",
            "href": f"{ROOT}/report?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "asapp-intercom-report",
        },
    ]
