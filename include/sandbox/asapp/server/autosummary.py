"""POST /autosummary/v1/structured-data (NOTES §5.3), answered from the autosummary_structured_data feed.

A conversation is found by conversationId, externalConversationId or issueId (the Messaging issue
id, which the feed keeps in external_conversation_id). The answer is its latest generation whose
structured_data_ts has passed on the sandbox clock; each call gets a fresh id, as ASAPP regenerates.
"""

import re
import uuid
from collections import defaultdict
from functools import cached_property
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .clock import SandboxClock, parse_instant
from .dataset import Dataset
from .errors import JSONResponse, bad_request, not_found
from .payloads import field, read_json_object

FEED = "autosummary_structured_data"
CONVERSATION_ID = re.compile(r"^[A-Z0-9]+$")
LOOKUPS = {  # request field -> feed column
    "conversationId": "conversation_id",
    "externalConversationId": "external_conversation_id",
    "issueId": "external_conversation_id",
}

Row = dict[str, Any]


class AutosummaryApi:
    def __init__(self, dataset: Dataset, clock: SandboxClock) -> None:
        self.dataset = dataset
        self.clock = clock

    def routes(self) -> list[Route]:
        return [Route("/autosummary/v1/structured-data", self.structured_data, methods=["POST"])]

    @cached_property
    def _rows_by(self) -> dict[str, dict[str, list[Row]]]:
        """Feed rows indexed by conversation_id and by external_conversation_id, read on first use."""
        index: dict[str, dict[str, list[Row]]] = {
            column: defaultdict(list) for column in set(LOOKUPS.values())
        }
        for row in self.dataset.rows(FEED):
            for column, rows in index.items():
                if row.get(column) is not None:
                    rows[str(row[column])].append(row)
        return index

    async def structured_data(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        given = [name for name in LOOKUPS if body.get(name) is not None]
        if len(given) != 1:
            raise bad_request(
                "/", "exactly one of conversationId, externalConversationId, issueId is required"
            )
        key = field(body, given[0], str)
        if given[0] == "conversationId" and not CONVERSATION_ID.match(key):
            raise bad_request("/conversationId", "must match ^[A-Z0-9]+$")
        agent = field(body, "agentExternalId", str, required=False)
        now = self.clock.now()
        rows = [
            row
            for row in self._rows_by[LOOKUPS[given[0]]].get(key, [])
            if parse_instant(row["structured_data_ts"]) <= now and agent in (None, row.get("agent_id"))
        ]
        if not rows:
            raise not_found(f"structured data for {given[0]} '{key}'")
        latest = max(rows, key=lambda row: parse_instant(row["structured_data_ts"]))
        generation = [
            row for row in rows if row.get("structured_data_id") == latest.get("structured_data_id")
        ]
        metrics = [
            {
                "id": row["structured_data_field_id"],
                "name": row.get("structured_data_field_name") or row["structured_data_field_id"],
                "value": str(row.get("structured_data_field_value")),
            }
            for row in generation
        ]
        return JSONResponse(
            {
                "conversationId": latest.get("conversation_id"),
                "id": str(uuid.uuid4()),
                "structuredDataMetrics": metrics,
            }
        )
