"""Reading request bodies and parameters, failing with 400-01 errors that name the field path."""

from typing import Any

import orjson
from starlette.requests import Request

from .errors import bad_request

_MISSING = object()
_TYPE_NAMES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


async def read_json(request: Request) -> Any:
    """The JSON body. A body declared as anything but JSON is refused, whatever it holds (ASAPP's APIs take
    application/json only); a body sent without a Content-Type is read as JSON."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared and declared != "application/json" and not declared.endswith("+json"):
        raise bad_request("/", f"body must be application/json, not {declared}")
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise bad_request("/", "body is not valid JSON") from None


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    if optional and not (await request.body()).strip():
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("/", "body must be a JSON object")
    return body


def field(
    body: dict[str, Any],
    name: str,
    kind: type,
    *,
    required: bool = True,
    default=None,
    at: str = "",
    nullable: bool = False,
):
    """One field of a JSON object, type-checked; `at` is the object's own path for error messages.

    An optional field may be left out; sent as null it is refused like any other wrong type, unless nullable
    (ASAPP's files declare these fields as plain types: `"structuredDataFieldIds": null` is no array)."""
    value = body.get(name, _MISSING)
    if value is _MISSING or (value is None and (required or nullable)):
        if required:
            raise bad_request(f"{at}/{name}", "is required")
        return default
    if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise bad_request(f"{at}/{name}", f"must be of type {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def string_list(values: list[Any], path: str) -> list[str]:
    if not all(isinstance(value, str) for value in values):
        raise bad_request(path, "must be a list of strings")
    return values


def query_limit(text: str | None, default: int, maximum: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise bad_request("/limit", f"must be an integer from 1 to {maximum}")
    return int(text)
