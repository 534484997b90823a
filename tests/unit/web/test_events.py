"""The endpoint where ASAPP pushes real-time events: signed posts stored once, everything else refused."""

from __future__ import annotations

import hashlib
import hmac
import json

import yaml
from asapp_intercom.ledger import Ledger
from asapp_intercom.web.app import plugin_app
from starlette.testclient import TestClient

from tests.support.migrations import migration_config
from tests.support.realtime import events_in


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_push_endpoint_stores_signed_events_once_and_refuses_the_rest(dataset, tmp_path, monkeypatch):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    config = migration_config(
        "pushed", tmp_path, asapp={"realtime": {"mode": "push", "webhook_conn_id": "hook"}}
    )
    (migrations / "pushed.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ASAPP_INTERCOM_MIGRATIONS", str(migrations))
    monkeypatch.setenv("AIRFLOW_CONN_HOOK", json.dumps({"conn_type": "generic", "password": "s3cret-shared"}))
    event = events_in(dataset)[0]
    body = json.dumps(event).encode()
    client = TestClient(plugin_app)

    assert client.post("/events/pushed", content=body).status_code == 401
    assert (
        client.post(
            "/events/pushed", content=body, headers={"X-Asapp-Signature": sign(body, "wrong")}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/events/nobody", content=body, headers={"X-Asapp-Signature": sign(body, "s3cret-shared")}
        ).status_code
        == 401
    )
    signed = {"X-Asapp-Signature": sign(body, "s3cret-shared")}
    assert client.post("/events/pushed", content=body, headers=signed).json() == {
        "event_id": event["event_id"],
        "stored": True,
    }
    assert client.post("/events/pushed", content=body, headers=signed).json()["stored"] is False
    assert Ledger(f"sqlite:///{tmp_path}/ledger.db", "pushed").event_summary()[0] == 1
