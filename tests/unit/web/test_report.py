"""The report pages, served by a real Airflow API server app (Airflow's own auth manager in front)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import yaml
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.staging import Staging, run_key
from asapp_intercom.web.app import plugin_app
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from tests.support.migrations import migration_config
from tests.support.report_page import pointer, shown_as
from tests.unit.domain.test_report import RUN, loaded, report_for

pytestmark = pytest.mark.airflow

DAG_ID = "asapp_to_intercom__paged"
SIGNED_URL = "https://asapp-exports.s3.amazonaws.com/a.png?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA"


@pytest.fixture(scope="module")
def api(airflow_db, tmp_path_factory):
    """Airflow's API server app as `airflow api-server` builds it (plugins, simple auth manager), and an
    admin's token."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    from airflow.api_fastapi.app import create_app, purge_cached_app

    client = TestClient(create_app(apps="core"))
    password = json.loads((airflow_db / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    token = client.post("/auth/token", json={"username": "admin", "password": password}).json()[
        "access_token"
    ]
    yield client, {"Authorization": f"Bearer {token}"}
    purge_cached_app()
    monkeypatch.undo()


@pytest.fixture
def migration(tmp_path, monkeypatch):
    """A migration with one run: its report.json and cutover report in the staging area, an inventory,
    30 quarantined items in its ledger and a minute-by-minute spend."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    config = migration_config("paged", tmp_path, intercom={"requests_per_minute": 600})
    (migrations / "paged.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(migrations))
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "paged")
    for n in range(28):
        ledger.quarantine(
            "conversation", f"issue-{n:03d}", f"its customer ({n}) is not in the customers feed", RUN
        )
    ledger.quarantine("feed:utterances", "utterances/u.jsonl:7", "not valid JSON", RUN)
    ledger.quarantine("attachment", "upload-1", f"could not fetch {SIGNED_URL}", RUN)
    ledger.quarantine("company", "c9", "from an earlier run", "manual__earlier")
    loaded(ledger, "company", 3)
    loaded(ledger, "company", 1, action="updated")
    start = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
    for minute, requests in ((0, 420), (1, 610), (3, 90)):
        ledger.note_spend_in_minute(RUN, "load.contacts", -1, 1, start + timedelta(minutes=minute), requests)
    report = report_for(
        ledger,
        transformed={
            "objects": {
                "company": {"object_type": "company", "path": "p", "source_count": 5, "quarantined": 1}
            },
            "unmatched_agents": [{"rep_id": "102", "name": "Sam Okafor", "email": "sam@acme.example"}],
            "conversation_lengths": {"1": 3, "4": 10, "12": 2, "80": 1},
        },
    )
    run_dir = tmp_path / "staging" / "runs" / run_key(RUN)
    run_dir.mkdir(parents=True)
    (run_dir / "report.json").write_text(json.dumps(report))
    (run_dir / "report.md").write_text("# Migration report\n")
    (run_dir / "cutover.md").write_text(f"# Cutover\nGo. Evidence: {SIGNED_URL}\n")
    inventory = Staging(f"file://{tmp_path}/staging").inventory_dir  # where the pipeline writes it
    inventory.mkdir(parents=True)
    (inventory / "inventory.md").write_text("# Configuration inventory\n")
    yield report
    ledger.close()


def page(client, headers, **params) -> str:
    response = client.get(
        "/asapp-intercom/report?" + urlencode({"dag_id": DAG_ID, "run_id": RUN, **params}), headers=headers
    )
    assert response.status_code == 200, response.text
    return response.text


def test_every_page_of_the_plugin_but_asapps_push_needs_an_airflow_user(api, migration):
    client, _ = api
    pages = [
        route.path
        for route in plugin_app.routes
        if isinstance(route, APIRoute) and route.path != "/events/{migration_id}"
    ]
    assert {"/migrations", "/report", "/report/document"} <= set(pages)
    query = urlencode({"dag_id": DAG_ID, "run_id": RUN, "name": "report.md"})
    for path in pages:
        assert client.get(f"/asapp-intercom{path}?{query}").status_code == 401, path
        forged = client.get(f"/asapp-intercom{path}?{query}", headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 403, path
        assert "issue-0" not in forged.text
    # ASAPP's endpoint answers without an Airflow user, and refuses what its secret did not sign
    assert client.post("/asapp-intercom/events/paged", content=b"{}").status_code == 401


def test_a_runs_page_shows_its_report_with_the_numbers_of_report_json(api, migration):
    client, headers = api

    html = page(client, headers)

    shown = dict(re.findall(r'data-report="([^"]+)"[^>]*>([^<]*)<', html))
    assert len(shown) > 20
    for path, text in shown.items():
        assert text.strip() == shown_as(pointer(migration, path)), path
    assert "Sam Okafor" in html  # an agent without an Intercom admin
    assert '<td>21</td><td>state</td><td class="wrap">closed</td><td class="wrap">open</td>' in html
    for chart in ("outcomes", "reasons", "rate", "lengths"):
        card = html.split(f'id="chart-{chart}"')[1].split('class="card"')[0]
        assert "<svg" in card and 'class="mark"' in card, chart
    assert "budget: 600 requests/min" in html
    assert "10:01 UTC: 610 requests" in html and "10:02 UTC: 0 requests" in html


def test_the_quarantine_is_paged_and_searched_on_the_server(api, migration):
    client, headers = api

    first = page(client, headers)
    second = page(client, headers, page=2)
    searched = page(client, headers, q="NOT VALID json")
    everything = page(client, headers, scope="migration", q="earlier")

    assert "<span data-quarantine-total>30</span>" in first and "page 1 of 2" in first
    rows = [
        html.split('id="quarantine-table"')[1].split("</table>")[0].count("<tr><td>")
        for html in (first, second)
    ]
    assert rows == [25, 5]
    assert "upload-1" in first and "issue-023" in first and "issue-024" not in first
    assert "issue-024" in second and "utterances/u.jsonl:7" in second and "issue-000" not in second
    assert "<span data-quarantine-total>1</span>" in searched and "utterances/u.jsonl:7" in searched
    assert "c9" in everything and "<span data-quarantine-total>1</span>" in everything


def test_no_signed_url_reaches_a_page_or_a_document(api, migration):
    client, headers = api

    html = page(client, headers, q="fetch")
    cutover = client.get(
        "/asapp-intercom/report/document?"
        + urlencode({"dag_id": DAG_ID, "run_id": RUN, "name": "cutover.md"}),
        headers=headers,
    )

    assert "upload-1" in html and "https://asapp-exports.s3.amazonaws.com/a.png?…" in html
    assert cutover.status_code == 200 and cutover.text.startswith("# Cutover")
    for text in (html, cutover.text):
        assert "X-Amz-Signature" not in text and "AKIA" not in text and "deadbeef" not in text


def test_the_page_links_the_documents_the_run_has_and_only_those(api, migration):
    client, headers = api

    html = page(client, headers)

    assert all(f"name={name}" in html for name in ("report.md", "cutover.md", "inventory.md"))
    assert "name=implementation_guide.md" not in html
    inventory = client.get(
        "/asapp-intercom/report/document?"
        + urlencode({"dag_id": DAG_ID, "run_id": RUN, "name": "inventory.md"}),
        headers=headers,
    )
    missing = client.get(
        "/asapp-intercom/report/document?"
        + urlencode({"dag_id": DAG_ID, "run_id": RUN, "name": "implementation_guide.md"}),
        headers=headers,
    )
    assert inventory.text == "# Configuration inventory\n"
    outside = client.get(
        "/asapp-intercom/report/document?"
        + urlencode({"dag_id": DAG_ID, "run_id": RUN, "name": "../ledger.db"}),
        headers=headers,
    )
    assert (missing.status_code, outside.status_code) == (404, 404)


def test_a_run_without_a_report_and_a_dag_that_is_no_migration_say_so(api, migration):
    client, headers = api

    running = page(client, headers, run_id="manual__still-running")
    other = client.get("/asapp-intercom/report?dag_id=example_dag&run_id=x", headers=headers)

    assert "This run has no report yet" in running
    assert other.status_code == 404 and "is not an ASAPP → Intercom migration" in other.text
