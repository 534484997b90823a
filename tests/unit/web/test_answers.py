"""Answers to a migration's questions are kept in its ledger as Airflow accepts them (the API server's
middleware)."""

from __future__ import annotations

import gzip
import json

import pytest
import yaml
from asapp_intercom.ledger import Ledger
from asapp_intercom.web.answers import RecordAnswers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.support.migrations import migration_config

RUN = "manual__2026-01-07T10:00:00+00:00"
PATH = f"/api/v2/dags/asapp_to_intercom__asked/dagRuns/{RUN}/taskInstances/map.approve/-1/hitlDetails"


def airflow_answering(status: int, gzipped: bool = False) -> Starlette:
    """Stands in for Airflow's API: answers a PATCH as its HITL endpoint does."""

    async def answer(request: Request) -> Response:
        if request.method == "GET":
            return Response(b"{}", status, media_type="application/json")
        sent = await request.json()
        body = json.dumps(
            {
                "responded_by": {"id": "7", "name": "maria"},
                "responded_at": "2026-01-07T10:00:03Z",
                "chosen_options": sent["chosen_options"],
                "params_input": sent["params_input"],
            }
        ).encode()
        headers = {"content-encoding": "gzip"} if gzipped else {}
        return Response(
            gzip.compress(body) if gzipped else body, status, headers=headers, media_type="application/json"
        )

    return Starlette(
        routes=[
            Route(
                "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/{index}/hitlDetails",
                answer,
                methods=["PATCH", "GET"],
            )
        ]
    )


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "asked.yaml").write_text(yaml.safe_dump(migration_config("asked", tmp_path)))
    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(migrations))
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "asked")
    yield ledger
    ledger.close()


@pytest.mark.parametrize("gzipped", [False, True])
def test_an_accepted_answer_is_recorded_with_who_gave_it(ledger, gzipped):
    client = TestClient(RecordAnswers(airflow_answering(200, gzipped)))

    answered = client.patch(PATH, json={"chosen_options": ["Approve"], "params_input": {"overrides": {}}})

    assert answered.status_code == 200
    kept = ledger.answer(RUN, "map.approve")
    assert (kept.chosen_options, kept.params_input, kept.responded_by) == (
        ["Approve"],
        {"overrides": {}},
        "maria",
    )


def test_a_refused_answer_and_other_requests_are_not_recorded(ledger):
    client = TestClient(RecordAnswers(airflow_answering(409)))

    assert client.patch(PATH, json={"chosen_options": ["Approve"], "params_input": {}}).status_code == 409
    assert client.get(PATH).status_code == 409
    other_dag = PATH.replace("asapp_to_intercom__asked", "some_other_dag")
    assert (
        client.patch(other_dag, json={"chosen_options": ["Approve"], "params_input": {}}).status_code == 409
    )
    assert ledger.answer(RUN, "map.approve") is None
