"""Intercom's OpenAPI description (REST 2.16), compiled once into per-operation request checks.

The sandbox rejects what the published contract rejects, so request bodies and query parameters are
checked against the operation's own schema (not a hand-written copy that could drift). Validators are
built once at start-up; a check costs tens of microseconds, which keeps the sandbox fast enough that a
loader's throughput is never bounded by it.

Two schemas in the description use `oneOf` with branches that overlap (every body one branch accepts,
another accepts too), so read literally they reject every request the operation documents, including
the description's own examples. Those are given a reading (see SPEC_READINGS and README.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from include.sandbox.intercom.server.errors import IntercomError, parameter_invalid

SPEC_PATH = Path(__file__).resolve().parents[1] / "api.intercom.io.yaml"
SPEC_URI = "urn:intercom:api.intercom.io.yaml"
MAX_PER_PAGE = 150  # "the max amount for any API is 150" (Intercom's pagination guide)


def _one_of_as_any_of(node: dict) -> None:
    node["anyOf"] = node.pop("oneOf")


def _other_type_is_without_options(node: dict) -> None:
    node["oneOf"][1] = {"title": "other type", "not": {"required": ["options"]}}


# JSON pointers (inside the description) of overlapping `oneOf`s, how each is read, and why.
SPEC_READINGS = {
    "/paths/~1tags/post/requestBody/content/application~1json/schema": (
        _one_of_as_any_of,
        "create_or_update_tag_request requires only `name`, so it also accepts every tag-companies and "
        "tag-users body; read literally, the operation's own `company_not_found` example is invalid. "
        "Read as `anyOf` (what `companies` and `users` must hold is checked by the handler, tags.py)",
    ),
    "/components/schemas/update_data_attribute_request": (
        _other_type_is_without_options,
        "the second branch (`other type`) is `{}`, which accepts everything the `list attribute` branch "
        "accepts, and also an `options` that is no list, which the operation's own `too_few_options_in_list` "
        "example says is a 400 'Options isn't an array'. Read as: a body with `options` is a list attribute",
    ),
}


@functools.cache
def load_document() -> dict:
    """The description as a dict, with the readings above applied (loaded once per process)."""
    with SPEC_PATH.open("rb") as stream:
        document = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for pointer, (reading, _why) in SPEC_READINGS.items():
        reading(_resolve_pointer(document, pointer))
    return document


def _resolve_pointer(document: dict, pointer: str) -> Any:
    node: Any = document
    for token in pointer.lstrip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


@dataclass(frozen=True)
class QueryParameter:
    name: str
    type: str
    enum: tuple | None
    maximum: int | None

    def parse(self, raw: str) -> Any:
        """Cast a query-string value to the declared type, as Intercom's router does, or reject it."""
        if self.type == "integer":
            try:
                value: Any = int(raw)
            except ValueError:
                raise parameter_invalid(f"{self.name} must be an integer", self.name) from None
            limit = self.maximum
            if self.name == "per_page":
                limit = min(limit or MAX_PER_PAGE, MAX_PER_PAGE)
            if limit is not None and value > limit:
                raise parameter_invalid(f"{self.name} must be {limit} or less", self.name)
            if self.name in ("per_page", "page") and value < 1:
                raise parameter_invalid(f"{self.name} must be 1 or more", self.name)
            return value
        if self.type == "boolean":
            if raw not in ("true", "false"):
                raise parameter_invalid(f"{self.name} must be true or false", self.name)
            return raw == "true"
        if self.enum is not None and raw not in self.enum:
            allowed = ", ".join(str(option) for option in self.enum)
            raise parameter_invalid(f"{self.name} must be one of: {allowed}", self.name)
        return raw


class Operation:
    """What the description says one operation accepts: its query parameters and its JSON body."""

    def __init__(self, operation_id: str, definition: dict, document: dict, registry: Registry):
        self.operation_id = operation_id
        self.query_parameters = {
            parameter["name"]: QueryParameter(
                name=parameter["name"],
                type=parameter.get("schema", {}).get("type", "string"),
                enum=tuple(parameter["schema"]["enum"]) if "enum" in parameter.get("schema", {}) else None,
                maximum=parameter.get("schema", {}).get("maximum"),
            )
            for parameter in definition.get("parameters", [])
            if parameter.get("in") == "query"
        }
        body = definition.get("requestBody", {}).get("content", {}).get("application/json")
        self.body_validator = None
        if body is not None:
            self.body_validator = OAS30Validator(_inline(body["schema"], document, ()), registry=registry)

    def parse_query(
        self, raw_query: dict[str, str], messages: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Declared parameters are cast and checked; undeclared ones are passed through as strings.

        `messages["query.<name>"]`, a function of the raw value, replaces the generic error for a parameter.
        """
        parsed: dict[str, Any] = {}
        for name, raw in raw_query.items():
            declared = self.query_parameters.get(name)
            try:
                parsed[name] = declared.parse(raw) if declared else raw
            except IntercomError:
                special = (messages or {}).get(f"query.{name}")
                if special is None:
                    raise
                raise special(raw) from None
        return parsed

    def check_body(self, body: Any, messages: dict[str, Any] | None = None) -> None:
        """Reject a body the operation's schema rejects, with an Intercom-style 400.

        `messages` maps a top-level field to the message Intercom uses for it (text, `(code, text)`,
        or a function of the body returning an IntercomError or None), for instance `data_type` ->
        "Data Type isn't an option"; the key "" is for a body matching none of the alternative shapes.
        """
        if self.body_validator is None or self.body_validator.is_valid(body):
            return
        raise _as_intercom_error(list(self.body_validator.iter_errors(body)), messages or {}, body)


# `discriminator` only names which `oneOf` branch applies (the branches already exclude each other by
# their enums); its mapping refers into the whole document, which an inlined schema no longer is.
INLINE_DROPPED_KEYS = ("example", "discriminator")


def _inline(schema: Any, document: dict, stack: tuple[str, ...]) -> Any:
    """Copy a schema with its `$ref`s expanded in place, which makes validation about twice as fast.

    A reference back into a schema being expanded (the recursive search query) stays a reference,
    resolved through the registry.
    """
    if isinstance(schema, list):
        return [_inline(item, document, stack) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref")
    if reference is not None:
        if reference in stack:
            return {"$ref": f"{SPEC_URI}{reference}"}
        return _inline(_resolve_pointer(document, reference.lstrip("#")), document, (*stack, reference))
    return {
        key: _inline(value, document, stack)
        for key, value in schema.items()
        if key not in INLINE_DROPPED_KEYS
    }


def _leaf_errors(error: ValidationError):
    if not error.context:
        yield error
        return
    for sub_error in error.context:
        yield from _leaf_errors(sub_error)


def _top_field(error: ValidationError) -> str | None:
    if error.absolute_path:
        return str(error.absolute_path[0])
    if error.validator == "required":
        return error.message.split("'")[1]
    return None


def _closest_alternative(error: ValidationError) -> ValidationError:
    """For a body matching none of several shapes, the most telling error of the shape it is closest to
    (the branch with the fewest errors), e.g. a filter's bad operator rather than a group's missing list."""
    by_branch: dict[Any, list[ValidationError]] = {}
    for sub_error in error.context:
        by_branch.setdefault(sub_error.relative_schema_path[0], []).append(sub_error)
    closest = min(by_branch.values(), key=len)
    return best_match(closest)


def _known_error(message: Any, field: str | None, body: Any) -> IntercomError | None:
    """A message given as text, as `(code, text)`, or as a function of the body returning an error
    (or None)."""
    if callable(message):
        return message(body)
    if isinstance(message, tuple):
        code, text = message
        return IntercomError(400, code, text, field)
    return parameter_invalid(message, field)


def _as_intercom_error(errors: list[ValidationError], messages: dict, body: Any) -> IntercomError:
    leaves = [leaf for error in errors for leaf in _leaf_errors(error)]
    for field, message in messages.items():
        if field and any(_top_field(leaf) == field for leaf in leaves):
            known = _known_error(message, field, body)
            if known is not None:
                return known
    error = best_match(errors)
    if "" in messages and error.validator in ("oneOf", "anyOf") and not error.absolute_path:
        known = _known_error(messages[""], None, body)
        if known is not None:
            return known
    while error.context:
        error = _closest_alternative(error)
    location = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        location.append(error.message.split("'")[1])
    field = ".".join(location) or None
    if error.validator == "required":
        return IntercomError(400, "parameter_not_found", f"{field} is required", field)
    if error.validator == "type":
        return parameter_invalid(f"{field or 'body'} must be of type {error.validator_value}", field)
    if error.validator == "enum":
        allowed = ", ".join(str(option) for option in error.validator_value)
        return parameter_invalid(f"{field} must be one of: {allowed}", field)
    if error.validator == "maxItems":
        return parameter_invalid(f"{field} accepts at most {error.validator_value} items", field)
    return parameter_invalid(f"{field or 'body'} is invalid: {error.message}", field)


class Contract:
    """The operations of the description, looked up by operationId and compiled on first use."""

    def __init__(self, document: dict):
        self._document = document
        self._registry = Registry().with_resource(SPEC_URI, Resource.from_contents(document, DRAFT4))
        self._definitions = {
            definition["operationId"]: definition
            for methods in document["paths"].values()
            for definition in methods.values()
            if isinstance(definition, dict) and definition.get("operationId")
        }
        self._operations: dict[str, Operation] = {}

    def operation(self, operation_id: str) -> Operation:
        operation = self._operations.get(operation_id)
        if operation is None:
            definition = self._definitions[operation_id]
            operation = Operation(operation_id, definition, self._document, self._registry)
            self._operations[operation_id] = operation
        return operation


@functools.cache
def contract() -> Contract:
    return Contract(load_document())
