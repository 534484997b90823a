"""The configuration API (NOTES §5.1, §5.2): structured-data fields and segments, and the list of
redaction entities (asapp-partner-configuration-openapi.yml).

Fields start from the structured_data_config feed's latest date and segments from
_config/segments.json; create, update and delete change an in-memory copy. Redaction entities are
a typical tenant's, listed only (what a migration reads). Lists page with ASAPP's cursors: a cursor
is the id of a page's first item (items are ordered by id), so pages stay stable while items are
added or removed.
"""

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .dataset import Dataset
from .errors import ApiError, JSONResponse, bad_request, not_found
from .payloads import field, query_limit, read_json_object, string_list

BASE = "/configuration/v1"
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
FIELD_KINDS = {"q_": "QUESTION", "e_": "ENTITY"}

Item = dict[str, Any]

POLICIES = ("customerImmediate", "customerDelayed", "agentImmediate", "autoTranscribe", "voice")
REDACTION_ENTITIES = [
    {"id": entity_id, "description": description, "policies": dict(zip(POLICIES, enabled, strict=True))}
    for entity_id, description, enabled in (
        ("CREDIT_CARD_NUMBER", "Payment card numbers", (True, False, True, True, True)),
        ("EMAIL_ADDRESS", "Email addresses", (False, False, False, False, False)),
        ("PASSWORD", "Passwords and PINs", (True, False, True, True, True)),
        ("PHONE_NUMBER", "Phone numbers", (False, True, False, True, False)),
        ("SSN", "US Social Security numbers", (True, False, True, True, True)),
    )
]


class Collection:
    """Items by id with cursor pagination."""

    def __init__(self, items: list[Item]) -> None:
        self._items = {item["id"]: item for item in items}

    def get(self, item_id: str) -> Item:
        if item_id not in self._items:
            raise not_found(f"'{item_id}'")
        return self._items[item_id]

    def create(self, item: Item) -> Item:
        if item["id"] in self._items:
            raise ApiError(409, "409-01", f"Conflict: '{item['id']}' already exists")
        self._items[item["id"]] = item
        return item

    def replace(self, item: Item) -> Item:
        self.get(item["id"])
        self._items[item["id"]] = item
        return item

    def delete(self, item_id: str) -> None:
        self.get(item_id)
        del self._items[item_id]

    def page(
        self, cursor: str | None, limit: int, keep: Callable[[Item], bool]
    ) -> tuple[list[Item], Any, Any]:
        ids = sorted(item_id for item_id, item in self._items.items() if keep(item))
        start = bisect_left(ids, cursor) if cursor else 0
        next_cursor = ids[start + limit] if start + limit < len(ids) else None
        prev_cursor = ids[max(0, start - limit)] if start > 0 else None
        return [self._items[i] for i in ids[start : start + limit]], next_cursor, prev_cursor


def field_from_row(row: dict[str, Any]) -> Item:
    """A structured_data_config feed row in the API's shape."""
    field_id = row["field_id"]
    kind = str(row.get("type") or FIELD_KINDS.get(field_id[:2], "QUESTION")).upper()
    item: Item = {
        "id": field_id,
        "name": row.get("name") or field_id,
        "categoryId": row.get("category_id") or "OUTCOME",
        "type": kind,
        "active": bool(row.get("active", True)),
        "segmentIds": list(row.get("segment_ids") or []),
    }
    if kind == "ENTITY":
        item["entity"] = {
            "name": row.get("entity_name") or item["name"],
            "description": row.get("entity_description") or "",
            "examples": list(row.get("entity_examples") or []),
        }
    else:
        item["question"] = {"question": row.get("question") or ""}
    return item


class ConfigurationApi:
    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.reset()

    def reset(self) -> None:
        """Back to the dataset's configuration: what create, update and delete changed is forgotten."""
        rows = self.dataset.latest_rows("structured_data_config")
        self.fields = Collection([field_from_row(row) for row in rows if row.get("field_id")])
        self.segments = Collection(
            [segment for segment in self.dataset.segments() if isinstance(segment, dict)]
        )
        self.redaction_entities = Collection([dict(item) for item in REDACTION_ENTITIES])

    def routes(self) -> list[Route]:
        fields, segments = f"{BASE}/structured-data-fields", f"{BASE}/segments"
        return [
            Route(fields, self.list_fields, methods=["GET"]),
            Route(fields, self.create_field, methods=["POST"]),
            Route(fields + "/{item_id}", self.get_field, methods=["GET"]),
            Route(fields + "/{item_id}", self.update_field, methods=["PUT"]),
            Route(fields + "/{item_id}", self.delete_field, methods=["DELETE"]),
            Route(segments, self.list_segments, methods=["GET"]),
            Route(segments, self.create_segment, methods=["POST"]),
            Route(segments + "/{item_id}", self.get_segment, methods=["GET"]),
            Route(segments + "/{item_id}", self.update_segment, methods=["PATCH"]),
            Route(segments + "/{item_id}", self.delete_segment, methods=["DELETE"]),
            Route(f"{BASE}/redaction-entities", self.list_redaction_entities, methods=["GET"]),
        ]

    async def list_fields(self, request: Request) -> JSONResponse:
        active = _active_filter(request.query_params.get("active"))
        items, next_cursor, prev_cursor = self.fields.page(
            request.query_params.get("cursor"),
            query_limit(request.query_params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT),
            lambda item: active is None or item["active"] == active,
        )
        return JSONResponse(
            {"structuredDataFields": items, "nextCursor": next_cursor, "prevCursor": prev_cursor}
        )

    async def create_field(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        return JSONResponse(self.fields.create(_structured_data_field(body, _identifier(body, "id"))), 201)

    async def get_field(self, request: Request) -> JSONResponse:
        return JSONResponse(self.fields.get(request.path_params["item_id"]))

    async def update_field(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        return JSONResponse(self.fields.replace(_structured_data_field(body, request.path_params["item_id"])))

    async def delete_field(self, request: Request) -> JSONResponse:
        self.fields.delete(request.path_params["item_id"])
        return JSONResponse({})

    async def list_segments(self, request: Request) -> JSONResponse:
        items, next_cursor, prev_cursor = self.segments.page(
            request.query_params.get("cursor"),
            query_limit(request.query_params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT),
            lambda item: True,
        )
        return JSONResponse({"segments": items, "nextCursor": next_cursor, "prevCursor": prev_cursor})

    async def list_redaction_entities(self, request: Request) -> JSONResponse:
        items, next_cursor, prev_cursor = self.redaction_entities.page(
            request.query_params.get("cursor"),
            query_limit(request.query_params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT),
            lambda item: True,
        )
        return JSONResponse(
            {"redactionEntities": items, "nextCursor": next_cursor, "prevCursor": prev_cursor}
        )

    async def create_segment(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        segment = {"id": _identifier(body, "id"), **_segment_parts(body, required=True)}
        return JSONResponse(self.segments.create(segment), 201)

    async def get_segment(self, request: Request) -> JSONResponse:
        return JSONResponse(self.segments.get(request.path_params["item_id"]))

    async def update_segment(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        parts = _segment_parts(body, required=False)  # the body is checked before the id is looked up
        segment = self.segments.get(request.path_params["item_id"])
        return JSONResponse(self.segments.replace({**segment, **parts}))

    async def delete_segment(self, request: Request) -> JSONResponse:
        self.segments.delete(request.path_params["item_id"])
        return JSONResponse({})


def _structured_data_field(body: dict[str, Any], field_id: str) -> Item:
    """Validate a field as the API receives it (POST with id, PUT without) and keep only known keys."""
    kind = FIELD_KINDS.get(field_id[:2])
    if kind is None:
        raise bad_request("/id", "must start with q_ (question) or e_ (entity)")
    if field(body, "type", str) != kind:
        raise bad_request("/type", f"must be {kind} for an id starting with {field_id[:2]}")
    item: Item = {
        "id": field_id,
        "name": field(body, "name", str),
        "categoryId": field(body, "categoryId", str),
        "type": kind,
        "active": field(body, "active", bool),
        "segmentIds": string_list(field(body, "segmentIds", list), "/segmentIds"),
    }
    if kind == "QUESTION":
        question = field(body, "question", dict)
        item["question"] = {"question": field(question, "question", str, at="/question")}
    else:
        entity = field(body, "entity", dict)
        item["entity"] = {
            "name": field(entity, "name", str, at="/entity"),
            "description": field(entity, "description", str, at="/entity"),
            "examples": string_list(field(entity, "examples", list, at="/entity"), "/entity/examples"),
        }
    return item


def _identifier(body: dict[str, Any], name: str) -> str:
    """An id names the item in later paths: it cannot be empty or hold a slash."""
    value = field(body, name, str)
    if not value or "/" in value:
        raise bad_request(f"/{name}", "must be a non-empty identifier without '/'")
    return value


def _segment_parts(body: dict[str, Any], *, required: bool) -> Item:
    parts: Item = {}
    name = field(body, "name", str, required=required)
    if name is not None:
        parts["name"] = name
    query = field(body, "query", dict, required=required)
    if query is not None:
        if query.get("type") != "raw":
            raise bad_request("/query/type", "must be raw")
        parts["query"] = {"type": "raw", "raw": field(query, "raw", str, at="/query")}
    field_ids = field(body, "structuredDataFieldIds", list, required=required)
    if field_ids is not None:
        parts["structuredDataFieldIds"] = string_list(field_ids, "/structuredDataFieldIds")
    return parts


def _active_filter(text: str | None) -> bool | None:
    if text is None:
        return None
    if text not in ("true", "false"):
        raise bad_request("/active", "must be true or false")
    return text == "true"
