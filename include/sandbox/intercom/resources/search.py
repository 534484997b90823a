"""Search: Intercom's query language over an index that sees writes only after a delay.

Intercom's search is eventually consistent (a new contact "may not appear … this delay can take a
few minutes"), so a loader must never rely on search-before-create for idempotency. The index keeps,
per record, the searchable projection that was current `delay` seconds ago; GET by id reads the live
record and is always current.

Query rules reproduced: nested AND/OR at most 2 levels deep, at most 15 filters per group, operators
checked against the field's type, contact dates matched by calendar day in the workspace time zone
(`>` from the next day; `!=`, `>=`, `<=`, IN, NIN refused on dates).
"""

from __future__ import annotations

import base64
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from include.sandbox.intercom.server.errors import IntercomError, parameter_invalid
from include.sandbox.intercom.server.spec import MAX_PER_PAGE
from include.sandbox.intercom.server.workspace import Workspace

MAX_DEPTH = 2
MAX_FILTERS_PER_GROUP = 15
STRING_OPERATORS = {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"}
NUMBER_OPERATORS = {"=", "!=", "IN", "NIN", ">", "<", ">=", "<="}
CONTACT_DATE_OPERATORS = {"=", ">", "<"}
CONVERSATION_DATE_OPERATORS = {"=", "!=", ">", "<"}

Projection = Callable[[dict], "dict | None"]


class SearchIndex:
    """The searchable projections of contacts and conversations, each visible after the configured delay."""

    def __init__(self, workspace: Workspace, projections: dict[str, Projection], delay_seconds: float):
        self.projections = projections
        self.delay_seconds = delay_seconds
        self.visible: dict[str, dict[str, dict]] = {kind: {} for kind in projections}
        self._pending: list[tuple[float, int, str, str, dict | None]] = []
        self._order = itertools.count()
        for kind, projection in projections.items():
            for record_id, record in workspace[kind].items():
                projected = projection(record)
                if projected is not None:
                    self.visible[kind][record_id] = projected
        workspace.listeners.append(self.record_changed)

    def record_changed(self, kind: str, record_id: str, record: dict | None) -> None:
        projection = self.projections.get(kind)
        if projection is None:
            return
        projected = projection(record) if record is not None else None
        if self.delay_seconds <= 0:
            self._apply(kind, record_id, projected)
        else:
            due = time.monotonic() + self.delay_seconds
            heapq.heappush(self._pending, (due, next(self._order), kind, record_id, projected))

    def records(self, kind: str) -> dict[str, dict]:
        """What search sees now for `kind` (writes older than the delay)."""
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            _, _, pending_kind, record_id, projected = heapq.heappop(self._pending)
            self._apply(pending_kind, record_id, projected)
        return self.visible[kind]

    def _apply(self, kind: str, record_id: str, projected: dict | None) -> None:
        if projected is None:
            self.visible[kind].pop(record_id, None)
        else:
            self.visible[kind][record_id] = projected


@dataclass(frozen=True)
class Field:
    """A searchable field: how to read it from a projection and which type its values have."""

    type: str  # string | integer | float | boolean | date | tag
    read: Callable[[dict], Any]


@dataclass(frozen=True)
class SearchRules:
    """What one model (contacts, conversations) accepts in a query."""

    fields: dict[str, Field]
    custom_attribute_types: Callable[[], dict[str, str]]
    date_operators: set[str]
    dates_by_day: bool
    timezone: Callable[[], str]

    def field(self, name: str) -> Field:
        if name.startswith("custom_attributes."):
            attribute = name.split(".", 1)[1]
            data_type = self.custom_attribute_types().get(attribute)
            if data_type is None:
                raise parameter_invalid(f"Custom attribute '{attribute}' does not exist", name)
            return Field(
                _SEARCH_TYPE_OF.get(data_type, "string"),
                lambda record: record["custom_attributes"].get(attribute),
            )
        found = self.fields.get(name)
        if found is None:
            raise parameter_invalid(f"'{name}' is not a searchable field", name)
        return found


_SEARCH_TYPE_OF = {
    "string": "string",
    "options": "string",
    "list": "string",
    "integer": "integer",
    "float": "float",
    "decimal": "float",
    "boolean": "boolean",
    "date": "date",
    "datetime": "date",
}


def compile_query(query: dict, rules: SearchRules) -> Callable[[dict], bool]:
    """Turn a validated query body into a predicate over projections, or raise Intercom's 400."""
    return _compile(query, rules, depth=0)


def _compile(node: dict, rules: SearchRules, depth: int) -> Callable[[dict], bool]:
    if node.get("operator") in ("AND", "OR"):
        if depth >= MAX_DEPTH:
            raise parameter_invalid(f"Query has too many nested filters: a maximum of {MAX_DEPTH} is allowed")
        children = node.get("value") or []
        if len(children) > MAX_FILTERS_PER_GROUP:
            raise parameter_invalid(f"A query group can have at most {MAX_FILTERS_PER_GROUP} filters")
        predicates = [_compile(child, rules, depth + 1) for child in children]
        combine = all if node["operator"] == "AND" else any
        return lambda record: combine(predicate(record) for predicate in predicates)
    return _compile_filter(node, rules)


def _compile_filter(node: dict, rules: SearchRules) -> Callable[[dict], bool]:
    name, operator, value = node.get("field"), node.get("operator"), node.get("value")
    if not isinstance(name, str):
        raise parameter_invalid("Each filter needs a field", "query.field")
    field = rules.field(name)
    allowed = {
        "string": STRING_OPERATORS,
        "integer": NUMBER_OPERATORS,
        "float": NUMBER_OPERATORS,
        "boolean": {"=", "!="},
        "tag": {"=", "!="},
        "date": rules.date_operators,
    }[field.type]
    if operator not in allowed:
        raise parameter_invalid(f"Operator '{operator}' is not supported for field '{name}'", name)
    if operator in ("IN", "NIN"):
        if not isinstance(value, list):
            raise parameter_invalid(f"The value of an {operator} filter must be an array", name)
        wanted = {_coerce(item, field.type, name) for item in value}
        matches_any = _matcher("=", field, wanted)
        return (
            (lambda record: matches_any(record))
            if operator == "IN"
            else (lambda record: not matches_any(record))
        )
    wanted_value = _coerce(value, field.type, name)
    if field.type == "date" and rules.dates_by_day:
        return _day_filter(operator, field, wanted_value, ZoneInfo(rules.timezone()))
    if field.type == "date":
        operator = {">": ">=", "<": "<="}.get(
            operator, operator
        )  # conversation dates: "Greater (or equal) than"
    return _matcher(operator, field, wanted_value)


def _coerce(value: Any, field_type: str, name: str) -> Any:
    """The filter value as the field's type ("the value … has to match the accepted type")."""
    try:
        if field_type in ("integer", "date"):
            if isinstance(value, bool) or value is None:
                raise ValueError
            return int(value)
        if field_type == "float":
            if isinstance(value, bool) or value is None:
                raise ValueError
            return float(value)
        if field_type == "boolean":
            if isinstance(value, bool):
                return value
            if value in ("true", "false"):
                return value == "true"
            raise ValueError
    except (TypeError, ValueError):
        raise parameter_invalid(
            f"The value {value!r} does not match the type of field '{name}'", name
        ) from None
    if value is None:
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise parameter_invalid(f"The value {value!r} does not match the type of field '{name}'", name)


def _matcher(operator: str, field: Field, wanted: Any) -> Callable[[dict], bool]:
    read = field.read
    if field.type == "tag":
        return (
            (lambda record: wanted in read(record))
            if operator == "="
            else (lambda record: wanted not in read(record))
        )
    if field.type == "string":
        return _string_matcher(operator, read, wanted)
    comparisons = {
        "=": lambda actual: actual == wanted if not isinstance(wanted, set) else actual in wanted,
        "!=": lambda actual: actual != wanted,
        ">": lambda actual: actual is not None and actual > wanted,
        "<": lambda actual: actual is not None and actual < wanted,
        ">=": lambda actual: actual is not None and actual >= wanted,
        "<=": lambda actual: actual is not None and actual <= wanted,
    }
    compare = comparisons[operator]
    return lambda record: compare(_as_comparable(read(record), field.type))


def _as_comparable(value: Any, field_type: str) -> Any:
    if value is None or isinstance(value, bool) and field_type != "boolean":
        return None
    if field_type == "float":
        return float(value)
    return value


def _string_matcher(operator: str, read: Callable[[dict], Any], wanted: Any) -> Callable[[dict], bool]:
    def normalized(record: dict) -> list[str]:
        actual = read(record)
        values = actual if isinstance(actual, (list, tuple, set)) else [actual]
        return [str(value).lower() for value in values if value is not None]

    if isinstance(wanted, set):
        lowered = {value.lower() for value in wanted}
        return lambda record: any(value in lowered for value in normalized(record))
    target = None if wanted is None else wanted.lower()
    tests = {
        "=": lambda values: target in values if target is not None else not values,
        "!=": lambda values: target not in values if target is not None else bool(values),
        "~": lambda values: any(target in value for value in values),
        "!~": lambda values: not any(target in value for value in values),
        "^": lambda values: any(value.startswith(target) for value in values),
        "$": lambda values: any(value.endswith(target) for value in values),
    }
    test = tests[operator]
    return lambda record: test(normalized(record))


def _day_filter(operator: str, field: Field, timestamp: int, zone: ZoneInfo) -> Callable[[dict], bool]:
    """Contact dates match by calendar day: `=` the whole day, `>` from the next day, `<` before it."""
    day = datetime.fromtimestamp(timestamp, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    day_start = int(day.timestamp())
    next_day_start = int((day + timedelta(days=1)).timestamp())
    read = field.read

    def matches(record: dict) -> bool:
        actual = read(record)
        if actual is None:
            return False
        if operator == "=":
            return day_start <= actual < next_day_start
        if operator == ">":
            return actual >= next_day_start
        return actual < day_start

    return matches


def sort_key(field: Field) -> Callable[[dict], Any]:
    def key(record: dict) -> tuple:
        value = field.read(record)
        return (value is None, value if value is not None else 0)

    return key


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = orjson.loads(base64.urlsafe_b64decode(padded))["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError):
        raise parameter_invalid("starting_after is not a valid cursor", "starting_after") from None


def page_size(value: Any, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise parameter_invalid("per_page must be a positive integer", "per_page")
    if value > MAX_PER_PAGE:
        raise parameter_invalid(f"per_page must be {MAX_PER_PAGE} or less", "per_page")
    return value


def paginate(items: list, per_page: int, starting_after: str | None) -> tuple[list, dict]:
    """One page of cursor pagination, and Intercom's `pages` object (no `next` on the last page)."""
    offset = decode_cursor(starting_after) if starting_after else 0
    page_items = items[offset : offset + per_page]
    total_pages = max(1, -(-len(items) // per_page)) if items else 0
    pages: dict[str, Any] = {
        "type": "pages",
        "page": offset // per_page + 1,
        "per_page": per_page,
        "total_pages": total_pages,
    }
    if offset + per_page < len(items):
        pages["next"] = {"per_page": per_page, "starting_after": encode_cursor(offset + per_page)}
    return page_items, pages


def sort_order(sort: dict | None) -> bool:
    """Whether results are descending; an order other than ascending/descending is Intercom's 400."""
    order = (sort or {}).get("order", "descending")
    if order not in ("ascending", "descending"):
        raise IntercomError(
            400, "invalid_sort_order", f"Invalid sort order '{order}'. Must be one of: ascending, descending"
        )
    return order == "descending"
