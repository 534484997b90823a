"""The operator's view in the Airflow UI: the migrations, and each run's report as a page.

Two external views point here (plugin.py): "Migrations" in Browse lists the migrations and their
runs, and "Migration report" is a tab of every DAG run. A run's page shows what its report.json says
(phases and their manifests, charts, the approved field map, agents without an Intercom admin,
read-back differences) and, live from the ledger, the requests per minute against the budget and
the quarantine, paged and searched on the server. Every page needs an Airflow user (web/auth.py);
nothing on it is a credential, and web addresses lose their query strings (signed URLs) on the way.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from markupsafe import Markup

from asapp_intercom.domain.config import MigrationConfig
from asapp_intercom.web import charts
from asapp_intercom.web.auth import airflow_user, readable_dag_ids, run_reader
from asapp_intercom.web.configs import ledger_of, migration_of_dag, migrations

router = APIRouter()

PAGE_SIZE = 25
RUNS_LISTED = 15
DOCUMENTS = (
    "report.md",
    "report.json",
    "cutover.md",
    "inventory.md",
    "inventory.json",
    "implementation_guide.md",
)
"""What a run's page links to when it exists: in the run's folder of the staging area (its report, and
a cutover run's cutover report), else in the migration's inventory folder (the configuration inventory
and implementation guide, as the latest run wrote them)."""
OUTCOMES = ("created", "updated", "unchanged", "quarantined")
SIGNED = re.compile(r"(?P<address>https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")


def without_signatures(text: str) -> str:
    """Web addresses without their query strings: a pre-signed URL's signature never reaches a page."""
    return SIGNED.sub(r"\g<address>?…", text)


@cache
def _templates():
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, select_autoescape

    def finalize(value: Any) -> Any:
        return (
            without_signatures(value) if isinstance(value, str) and not isinstance(value, Markup) else value
        )

    environment = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(default=True),
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = lambda value: (
        f"{value:,}" if isinstance(value, int | float) else (value or "–")
    )
    return environment


def _page(template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(template).render(**values), status_code=status_code)


def _config(dag_id: str) -> MigrationConfig:
    config = migration_of_dag(dag_id)
    if config is None:
        raise HTTPException(404, f"{dag_id} is not an ASAPP → Intercom migration")
    return config


@router.get("/migrations", response_class=HTMLResponse)
def list_migrations(user: Annotated[Any, Depends(airflow_user)]) -> HTMLResponse:
    """Every migration the user may read, with its latest runs."""
    allowed = readable_dag_ids(user)
    listed = [config for _, config in sorted(migrations().items()) if config.dag_id in allowed]
    return _page("migrations.html", migrations=[(config, _latest_runs(config.dag_id)) for config in listed])


def _latest_runs(dag_id: str) -> list[dict]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.run_after)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc())
            .limit(RUNS_LISTED)
        ).all()
    return [
        {
            "run_id": row.run_id,
            "state": str(row.state),
            "run_type": str(row.run_type),
            "run_after": row.run_after,
            "link": "report?" + urlencode({"dag_id": dag_id, "run_id": row.run_id}),
        }
        for row in rows
    ]


@router.get("/report", response_class=HTMLResponse, dependencies=[Depends(run_reader)])
def run_report(
    dag_id: str,
    run_id: str,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    scope: Annotated[str, Query(pattern="^(run|migration)$")] = "run",
) -> HTMLResponse:
    """One run's report page (the DAG run's "Migration report" tab)."""
    config = migration_of_dag(dag_id)
    if config is None:
        return _page("not_a_migration.html", 404, dag_id=dag_id)
    from asapp_intercom.pipeline.staging import Staging

    staging = Staging.of(config)
    report_file = staging.run_dir(run_id) / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    ledger = ledger_of(config.ledger_url(), config.migration_id)
    rows, total = ledger.quarantine_page(
        run_id=run_id if scope == "run" else None, search=q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    here = {"dag_id": dag_id, "run_id": run_id}
    pages = max(1, -(-total // PAGE_SIZE))
    return _page(
        "run.html",
        config=config,
        dag_id=dag_id,
        run_id=run_id,
        report=report,
        charts=_charts(report, ledger.requests_per_minute(run_id), config.intercom.requests_per_minute),
        documents=[
            (name, "report/document?" + urlencode({**here, "name": name}))
            for name in DOCUMENTS
            if _document(staging, run_id, name) is not None
        ],
        quarantine={
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "q": q,
            "scope": scope,
            "link": lambda **change: (
                "report?" + urlencode({**here, "q": q, "scope": scope, "page": page} | change)
            ),
        },
        airflow_run="../dags/{}/runs/{}".format(*(_path_part(part) for part in (dag_id, run_id))),
    )


def _path_part(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _charts(report: dict | None, per_minute: list, budget: int) -> dict[str, Markup]:
    drawn = {}
    if per_minute:
        drawn["rate"] = charts.rate_against_budget(
            f"Requests per minute against the budget of {budget:,}", per_minute, budget
        )
    if not report:
        return drawn
    loaded = [row for row in report["objects"] if "created" in row]
    if loaded:
        drawn["outcomes"] = charts.stacked_bars(
            "Records per object and outcome",
            [row["object"] for row in loaded],
            {outcome: [row.get(outcome) or 0 for row in loaded] for outcome in OUTCOMES},
        )
    reasons = report.get("quarantine_reasons") or []
    if reasons:
        drawn["reasons"] = charts.horizontal_bars(
            "Quarantined in this run, by reason",
            [
                (without_signatures(f"{item['object']}: {item['reason']}"), item["count"])
                for item in reasons[:12]
            ],
        )
    if report.get("conversation_lengths"):
        drawn["lengths"] = charts.histogram(
            "Conversations by number of messages",
            charts.length_buckets(report["conversation_lengths"]),
            "conversations",
        )
    return drawn


def _document(staging, run_id: str, name: str):
    for folder in (staging.run_dir(run_id), staging.inventory_dir):
        if (folder / name).exists():
            return folder / name
    return None


@router.get("/report/document", response_class=PlainTextResponse, dependencies=[Depends(run_reader)])
def run_document(dag_id: str, run_id: str, name: str) -> PlainTextResponse:
    """One of the run's documents (report, cutover report, inventory, implementation guide), as text."""
    if name not in DOCUMENTS:
        raise HTTPException(404, f"{name!r} is not one of a run's documents")
    from asapp_intercom.pipeline.staging import Staging

    path = _document(Staging.of(_config(dag_id)), run_id, name)
    if path is None:
        raise HTTPException(404, f"this run has no {name}")
    media_type = "application/json" if name.endswith(".json") else "text/markdown"
    return PlainTextResponse(without_signatures(path.read_text()), media_type=f"{media_type}; charset=utf-8")
