"""The Airflow plugin: what this package adds to the Airflow API server."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from asapp_intercom.web.answers import RecordAnswers
from asapp_intercom.web.events import events_app


class AsappIntercomPlugin(AirflowPlugin):
    name = "asapp_intercom"
    fastapi_apps = [{"app": events_app, "url_prefix": "/asapp-intercom", "name": "ASAPP real-time events"}]
    fastapi_root_middlewares = [
        {"middleware": RecordAnswers, "name": "Keep answers to migrations' questions"}
    ]
