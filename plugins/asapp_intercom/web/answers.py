"""Keep every answer a person gives to a migration's question, the moment it is given.

Airflow 3.3.2 can lose an answer given seconds after the question: the scheduler may fail the
resumed try ("changed externally") and its retry asks anew, the first answer kept only in the
task's history. This middleware, in the API server, sees each answer go by (the Required Actions
form and the REST API both PATCH `…/taskInstances/{task}/{map_index}/hitlDetails`) and records it in
the migration's ledger once Airflow has accepted it; the task, on any try, uses a recorded answer
instead of asking again (operators/approval.py: the field map's and the rollback's approvals).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from datetime import datetime

from starlette.concurrency import run_in_threadpool

from asapp_intercom.web.configs import ledger_of, migration_of_dag

log = logging.getLogger(__name__)

ANSWER_PATH = re.compile(
    r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/(?P<run_id>[^/]+)/taskInstances/"
    r"(?P<task_id>[^/]+)/(?P<map_index>-?\d+)/hitlDetails$"
)


class RecordAnswers:
    """Pure ASGI middleware: passes everything through untouched, and notes accepted answers on the way."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = ANSWER_PATH.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope["method"] != "PATCH" or migration_of_dag(match["dag_id"]) is None:
            await self.app(scope, receive, send)
            return
        answer: dict = {"status": None, "body": b""}

        async def watch(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, watch)
        if answer["status"] == 200:
            try:
                await run_in_threadpool(_record, match, _json(answer["body"]))
            except Exception:  # the answer itself was accepted; recording it must never break the API
                log.exception("Could not record the answer to %s in the migration's ledger", match.group(0))


def _json(body: bytes) -> dict:
    """The answer's JSON, compressed or not (the API's gzip middleware may sit on either side of this one)."""
    return json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)


def _record(match: re.Match, response: dict) -> None:
    config = migration_of_dag(match["dag_id"])
    who = response.get("responded_by") or {}
    ledger_of(config.ledger_url(), config.migration_id).record_answer(
        match["run_id"],
        match["task_id"],
        response["chosen_options"],
        response.get("params_input") or {},
        who.get("name") or who.get("id"),
        datetime.fromisoformat(response["responded_at"]),
    )
