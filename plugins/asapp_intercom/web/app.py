"""The plugin's one FastAPI app, served by the Airflow API server under /asapp-intercom.

ASAPP's push endpoint (events.py) checks its own signature and needs no Airflow user; everything
else (report.py) requires one through Airflow's auth manager (auth.py).
"""

from __future__ import annotations

from fastapi import FastAPI

from asapp_intercom.web import events, report

URL_PREFIX = "/asapp-intercom"

plugin_app = FastAPI(title="ASAPP → Intercom migration", description=__doc__)
plugin_app.include_router(events.router)
plugin_app.include_router(report.router)
