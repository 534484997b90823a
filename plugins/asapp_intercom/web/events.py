"""The endpoint, served by the Airflow API server, where ASAPP pushes real-time events.

ASAPP's real-time delivery is one POST per event to an endpoint the customer hosts. Each
migration in push mode gets `POST /asapp-intercom/events/<migration_id>`; ASAPP signs the body
with the shared secret held by the connection `asapp.realtime.webhook_conn_id` and sends
`X-Asapp-Signature: sha256=<hex HMAC-SHA256>`. Anything unsigned or wrongly signed is refused with
401. ASAPP's mutual TLS, where required, is terminated at the proxy in front of the API server.
Each event is appended once (by event_id) to the migration's event log, which its sensor follows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from asapp_intercom.domain.config import MigrationConfig, load_configs, migrations_dir
from asapp_intercom.ledger import Ledger

SIGNATURE_HEADER = "X-Asapp-Signature"

events_app = FastAPI(title="ASAPP real-time events", description=__doc__)


def push_migration(migration_id: str) -> MigrationConfig | None:
    for config in load_configs(migrations_dir()):
        if config.migration_id == migration_id and config.asapp.realtime.mode == "push":
            return config
    return None


def shared_secret(conn_id: str) -> str:
    from airflow.models.connection import Connection

    secret = Connection.get_connection_from_secrets(conn_id).password
    if not secret:
        raise HTTPException(500, f"connection {conn_id!r} has no shared secret (password)")
    return secret


@lru_cache(maxsize=32)
def ledger_of(url: str, migration_id: str) -> Ledger:
    return Ledger(url, migration_id)


def signed(body: bytes, secret: str, signature: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return signature is not None and hmac.compare_digest(expected, signature)


@events_app.post("/events/{migration_id}")
async def receive_event(migration_id: str, request: Request,
                        x_asapp_signature: str | None = Header(default=None)) -> dict:
    body = await request.body()
    config = push_migration(migration_id)
    # An unknown migration is refused like a bad signature, so callers cannot list migrations.
    secret = config and await run_in_threadpool(shared_secret, config.asapp.realtime.webhook_conn_id)
    if not secret or not signed(body, secret, x_asapp_signature):
        raise HTTPException(401, f"missing or wrong {SIGNATURE_HEADER}")
    try:
        envelope = json.loads(body)
        envelope["event_id"]
    except (ValueError, KeyError, TypeError):
        raise HTTPException(400, "the body must be one ASAPP event envelope with an event_id") from None
    ledger = ledger_of(config.ledger_url(), migration_id)
    added = await run_in_threadpool(ledger.append_events, [envelope], "push")
    return {"event_id": envelope["event_id"], "stored": bool(added)}
