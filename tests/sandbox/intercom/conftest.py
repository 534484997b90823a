"""Fixtures: a running sandbox per test module and an HTTP client that holds every exchange to the spec.

`api` is an httpx client whose response hook checks each request/response pair against Intercom's
OpenAPI description (openapi-core, spec loaded once per session):
- every response must validate against the operation's documented response for its status; a status
  the operation does not document (409, 429, 5xx, ...) must still be Intercom's `error` envelope;
- a request the description rejects must have been rejected by the sandbox (4xx).

Two readings are applied to the description, both documented in the sandbox README: the overlapping
`oneOf`s listed in server/spec.py's SPEC_READINGS get the readings given there, and the `uuid` format
(which the description puts on 24-character contact ids, a contradiction) also accepts Intercom's
24-hex ids.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from include.sandbox.intercom.server.launcher import IntercomSandbox, run_intercom_sandbox
from include.sandbox.intercom.server.spec import load_document

INTERCOM_ID = re.compile(r"^[0-9a-f]{24}$")


def _uuid_or_intercom_id(value) -> bool:
    if not isinstance(value, str):
        return True
    if INTERCOM_ID.match(value):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class SpecRequest:
    """An httpx request as openapi-core reads it."""

    def __init__(self, request: httpx.Request):
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = request.url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class SpecResponse:
    def __init__(self, response: httpx.Response):
        self.data = response.content
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("content-type", "application/json").split(";")[0]


class SpecChecker:
    """Checks exchanges with the sandbox against the description."""

    def __init__(self):
        document = copy.deepcopy(load_document())
        document["servers"] = [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "80"}}}]
        self.openapi = OpenAPI.from_dict(
            document,
            config=Config(spec_validator_cls=None, extra_format_validators={"uuid": _uuid_or_intercom_id}),
        )
        self.error_validator = OAS30Validator(document["components"]["schemas"]["error"])
        self.checked = 0

    def check(self, response: httpx.Response) -> None:
        request = SpecRequest(response.request)
        if request.path.startswith("/_sandbox/"):
            return
        request_result = self.openapi.unmarshal_request(request)
        if any(isinstance(error, (PathNotFound, OperationNotFound)) for error in request_result.errors):
            assert response.status_code in (401, 404), f"{request.path} is not in the description"
            self.error_validator.validate(orjson.loads(response.content))
            return
        if request_result.errors:
            assert 400 <= response.status_code < 500, (
                f"{request.method.upper()} {request.path} violates the description "
                f"({request_result.errors[0]!r}) but the sandbox answered {response.status_code}"
            )
        try:
            self.openapi.validate_response(request, SpecResponse(response))
        except ResponseNotFound:
            assert response.status_code >= 400, (
                f"undocumented success status {response.status_code} for {request.path}"
            )
            self.error_validator.validate(orjson.loads(response.content))
        except Exception as error:
            detail = getattr(error, "__cause__", None) or error
            raise AssertionError(
                f"{request.method.upper()} {request.path} -> {response.status_code}: response violates the "
                f"description: {error!r} {detail!r}\n{response.text[:2000]}"
            ) from error
        self.checked += 1


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    return SpecChecker()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[IntercomSandbox]:
    """A sandbox per test module, searchable at once and without rate limits unless a test says so."""
    state = tmp_path_factory.mktemp("intercom") / "workspace.json"
    with run_intercom_sandbox(state, search_delay=0, rate_limit_per_minute=0) as running:
        yield running


def validating_client(sandbox: IntercomSandbox, spec_checker: SpecChecker, **options) -> httpx.Client:
    def check(response: httpx.Response) -> None:
        response.read()
        spec_checker.check(response)

    return httpx.Client(
        base_url=sandbox.url,
        headers=sandbox.headers,
        timeout=options.pop("timeout", 30.0),
        event_hooks={"response": [check]},
        **options,
    )


@pytest.fixture
def api(sandbox, spec_checker) -> Iterator[httpx.Client]:
    with validating_client(sandbox, spec_checker) as client:
        yield client


@pytest.fixture(scope="module")
def module_api(sandbox, spec_checker) -> Iterator[httpx.Client]:
    """The same validating client, for module-scoped setup."""
    with validating_client(sandbox, spec_checker) as client:
        yield client


@pytest.fixture
def client(spec_checker):
    """Open a validating client on any sandbox a test starts itself: `with client(sandbox) as api:`."""
    return lambda sandbox: validating_client(sandbox, spec_checker)
