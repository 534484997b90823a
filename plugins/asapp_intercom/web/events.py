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

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from asapp_intercom.domain.config import MigrationConfig
from asapp_intercom.domain.events import EVENTS, identity, unusable
from asapp_intercom.web.configs import ledger_of, migration

SIGNATURE_HEADER = "X-Asapp-Signature"

router = APIRouter()
"""Open to ASAPP without an Airflow user: each POST proves itself with the shared secret's signature."""


def push_migration(migration_id: str) -> MigrationConfig | None:
    config = migration(migration_id)
    return config if config is not None and config.asapp.realtime.mode == "push" else None


def shared_secret(conn_id: str) -> str:
    from airflow.models.connection import Connection

    secret = Connection.get_connection_from_secrets(conn_id).password
    if not secret:
        raise HTTPException(500, f"connection {conn_id!r} has no shared secret (password)")
    return secret


def signed(body: bytes, secret: str, signature: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return signature is not None and hmac.compare_digest(expected, signature)


@router.post("/events/{migration_id}")
async def receive_event(
    migration_id: str, request: Request, x_asapp_signature: str | None = Header(default=None)
) -> dict:
    body = await request.body()
    config = await run_in_threadpool(push_migration, migration_id)
    # An unknown migration is refused like a bad signature, so callers cannot list migrations.
    secret = config and await run_in_threadpool(shared_secret, config.asapp.realtime.webhook_conn_id)
    if not secret or not signed(body, secret, x_asapp_signature):
        raise HTTPException(401, f"missing or wrong {SIGNATURE_HEADER}")
    try:
        envelope = json.loads(body)
    except ValueError:
        raise HTTPException(400, "the body must be one ASAPP event envelope (JSON)") from None
    ledger = await run_in_threadpool(ledger_of, config.ledger_url(), migration_id)
    if (reason := unusable(envelope)) is not None:  # signed by ASAPP, so kept for a person to look at
        await run_in_threadpool(
            ledger.quarantine, EVENTS, identity(envelope), reason, "push", {"envelope": envelope}
        )
        return {"event_id": identity(envelope), "stored": False, "quarantined": reason}
    added = await run_in_threadpool(ledger.append_events, [envelope], "push")
    return {"event_id": envelope["event_id"], "stored": bool(added)}
