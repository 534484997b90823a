"""Property-based run of ASAPP's published OpenAPI files against the sandbox (schemathesis), one test per
operation the sandbox implements: the File Exporter (7), the partner configuration's structured-data
fields and segments (10) and AutoSummary's structured data (1). Deterministic (derandomized, no example
database) and bounded (the coverage phase plus MAX_EXAMPLES fuzzed cases per operation).

Every answer must pass:
- no 5xx (`not_a_server_error`);
- a documented status answers the documented schema and content type (`response_schema_conformance`,
  `content_type_conformance`); an undocumented one is still ASAPP's error envelope with a matching code;
- a request the file rejects is refused (`negative_data_rejection`) with 400, or 404 when a path
  parameter is wrong, and with 400 when the path names something that exists;
- a request the file accepts is not refused (`positive_data_acceptance`): it succeeds, or it names a
  feed, date, file or id that does not exist (404), or one that already exists (409).

Most generated values name nothing that exists, so half of the valid cases, and the path of every case
that is not about a wrong path, get values that exist in the served dataset (chosen by the case itself,
so reproducibly): success answers and refusals of existing resources are checked too.

Where a file contradicts itself or ASAPP's documented behaviour, the run says how it reads it: READINGS
change the file as this run reads it, EXCLUSIONS name the answers the sandbox gives to requests the file
allows but ASAPP's documentation does not. SERVER.md lists both.
"""

from __future__ import annotations

import copy
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
)

from include.sandbox.asapp.server.launcher import AsappSandbox, run_asapp_sandbox
from tests.conftest import SHARED_REFERENCE
from tests.sandbox.asapp.conftest import CONVERSATION_ID, DAY, SPEC_HOST, build_small_dataset

REFERENCE = Path(__file__).resolve().parents[3] / "include" / "sandbox" / "asapp" / "generator" / "reference"
# ASAPP_SCHEMATHESIS=deep: the coverage phase in both modes and 150 fuzzed cases per operation (minutes).
DEEP = os.environ.get("ASAPP_SCHEMATHESIS") == "deep"
MAX_EXAMPLES = 150 if DEEP else 12
ALL_RELEASED = "2024-05-02T03:00:00Z"

IMPLEMENTED = {
    "asapp-fileexporter-openapi.yml": [
        "listFeeds",
        "listFeedVersions",
        "listFeedFormats",
        "listFeedDates",
        "listFeedIntervals",
        "listFeedFiles",
        "listFeedFile",
    ],
    "asapp-partner-configuration-openapi.yml": [
        "getStructuredDataFields",
        "postStructuredDataField",
        "getStructuredDataField",
        "putStructuredDataField",
        "deleteStructuredDataField",
        "getSegments",
        "postSegment",
        "getSegment",
        "patchSegment",
        "deleteSegment",
        "listRedactionEntities",
    ],
    "asapp-autosummary-openapi.yml": ["retrieveStructuredData"],
}

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",
            "deterministic": True,
            "max-examples": MAX_EXAMPLES,
            # The key pair is the test's, not generated: 401s are tested elsewhere.
            "with-security-parameters": False,
        },
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True, "generation": {"mode": "all" if DEEP else "negative"}},
            "stateful": {"enabled": False},
        },
        "checks": {
            "negative_data_rejection": {"expected-statuses": ["400", "404"]},
            "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409"]},
        },
    }
)


def load(name: str) -> dict:
    return yaml.safe_load((REFERENCE / name).read_text())


def read(name: str, document: dict) -> dict:
    """The file as this run reads it: READINGS applied."""
    document = copy.deepcopy(document)
    for reading in READINGS.get(name, ()):
        reading(document)
    return document


def _body(document: dict, path: str, method: str) -> dict:
    return document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def question_and_entity_ids(document: dict) -> None:
    """The file lets a structured-data field's `id` and `type` be any string, while its own descriptions say
    `type` "Must be either: QUESTION, ENTITY" and ASAPP's guide (NOTES §5.1) that an id starts with `q_`
    (question) or `e_` (entity). Read the Question branch as `id` ^q_ and `type` QUESTION, the Entity branch
    as ^e_ and ENTITY, and the path's structuredDataFieldId as ^[qe]_ (the sandbox refuses the rest: 400)."""
    fields = "/configuration/v1/structured-data-fields"
    for method, path in (("post", fields), ("put", fields + "/{structuredDataFieldId}")):
        question, entity = _body(document, path, method)["oneOf"]
        for branch, prefix, kind in ((question, "q_", "QUESTION"), (entity, "e_", "ENTITY")):
            assert branch["properties"]["type"] == {**branch["properties"]["type"], "type": "string"}
            branch["properties"]["type"]["enum"] = [kind]
            if "id" in branch["properties"]:
                branch["properties"]["id"]["pattern"] = f"^{prefix}[^/]*$"
    (parameter,) = document["paths"][fields + "/{structuredDataFieldId}"]["parameters"]
    parameter["schema"]["pattern"] = "^[qe]_[^/]*$"


def raw_queries(document: dict) -> None:
    """The file's segment `query` requires nothing and lets `type` be any string, while its own description
    says "Query type (only `raw` supported)" and the guide (NOTES §5.2) that a query is a raw expression:
    read `query` as {type: raw, raw} with both required. A segment to create names all four parts (the
    file requires none, but a segment without an id or a query selects nothing; its example has all four)."""
    segments = "/configuration/v1/segments"
    for path, method in ((segments, "post"), (segments + "/{segmentId}", "patch")):
        body = _body(document, path, method)
        query = body["properties"]["query"]
        query["properties"]["type"]["enum"] = ["raw"]
        query["required"] = ["type", "raw"]
        if method == "post":
            body["required"] = ["id", "name", "query", "structuredDataFieldIds"]
            body["properties"]["id"]["pattern"] = "^[^/]+$"  # it names the segment in later paths


def one_identifier(document: dict) -> None:
    """The file's request is oneOf three objects, each requiring one of conversationId, externalConversationId
    and issueId, but none forbids the others, so {"conversationId": "", "issueId": "1"} matches one branch and
    is valid. The guide says to use one of the ids (NOTES §5.3): read each branch as forbidding the other two;
    the sandbox refuses two ids with 400."""
    ids = ("conversationId", "externalConversationId", "issueId")
    for branch in _body(document, "/autosummary/v1/structured-data", "post")["oneOf"]:
        (own,) = branch["required"]
        branch["not"] = {"anyOf": [{"required": [other]} for other in ids if other != own]}


READINGS: dict[str, tuple] = {
    "asapp-partner-configuration-openapi.yml": (question_and_entity_ids, raw_queries),
    "asapp-autosummary-openapi.yml": (one_identifier,),
}


def interval_needed(case, response) -> bool:
    """`interval` is optional in the file ("all parameters are required except interval", says the guide),
    but file names repeat in every interval of an hourly feed's date, so which file is meant is unknown: the
    sandbox answers 400 naming /interval when the date has several intervals (a daily feed's one is found)."""
    return (
        case.operation.definition.raw["operationId"] in ("listFeedFiles", "listFeedFile")
        and isinstance(case.body, dict)
        and "interval" not in case.body
        and response.status_code == 400
        and orjson.loads(response.content)["error"]["message"].startswith("[Path '/interval'] is required")
    )


def type_follows_the_id(case, response) -> bool:
    """PUT names the field in the path and its type in the body; the file cannot tie the two together. A q_
    field is a QUESTION and an e_ one an ENTITY (NOTES §5.1), so a body of the other type is a 400 naming
    /type."""
    return (
        case.operation.definition.raw["operationId"] == "putStructuredDataField"
        and response.status_code == 400
        and orjson.loads(response.content)["error"]["message"].startswith("[Path '/type'] must be")
    )


EXCLUSIONS = (interval_needed, type_follows_the_id)
"""Answers to requests the file allows that ASAPP's documentation refuses (positive_data_acceptance only)."""


VALIDATORS: dict[str, OpenAPI] = {}


def schema(name: str):
    document = read(name, load(name))
    for operation_id in IMPLEMENTED[name]:
        VALIDATORS[operation_id] = OpenAPI.from_dict(document)
    return schemathesis.openapi.from_dict(document, config=CONFIG).include(operation_id=IMPLEMENTED[name])


def is_valid_request(case) -> bool:
    """Whether the request as it will be sent is valid for its operation (openapi-core's reading)."""
    request = MockRequest(
        SPEC_HOST,
        case.method.lower(),
        case.formatted_path,
        args=dict(case.query or {}),
        headers={"asapp-api-id": "id", "asapp-api-secret": "secret"},
        data=json.dumps(case.body).encode() if case.body is not None else None,
        content_type="application/json",
    )
    try:
        VALIDATORS[case.operation.definition.raw["operationId"]].validate_request(request)
    except Exception:  # noqa: BLE001 - any validation error means invalid
        return False
    return True


FILE_EXPORTER = schema("asapp-fileexporter-openapi.yml")
CONFIGURATION = schema("asapp-partner-configuration-openapi.yml")
AUTOSUMMARY = schema("asapp-autosummary-openapi.yml")


# --- checks ---------------------------------------------------------------------------------------


@schemathesis.check
def undocumented_status_is_an_asapp_error(ctx, response, case) -> None:
    """Whatever status the file leaves out must still be ASAPP's error envelope, code matching the status."""
    if str(response.status_code) in case.operation.responses.status_codes:
        return
    assert response.status_code >= 400, f"undocumented success status {response.status_code}"
    error = orjson.loads(response.content)["error"]
    assert set(error) == {"requestId", "message", "code"}, error
    assert error["code"].startswith(f"{response.status_code}-"), error
    assert [error["requestId"]] == response.headers["x-request-id"]


@schemathesis.check
def valid_requests_are_accepted(ctx, response, case):
    """positive_data_acceptance, except for the EXCLUSIONS."""
    if any(exclusion(case, response) for exclusion in EXCLUSIONS):
        return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def asapp_refuses_with_400(ctx, response, case) -> None:
    """A body or query the file rejects is a 400 (a wrong path parameter may be a 404)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or meta.is_negative_at(ParameterLocation.PATH):
        return
    if response.status_code < 400:
        return  # left to negative_data_rejection, which knows which mutations change nothing on the wire
    if case.method.upper() != case.operation.method.upper():
        assert response.status_code == 405, f"an undocumented method got {response.status_code}, not 405"
        return
    assert response.status_code in (400, 404), (
        f"a request the file rejects got {response.status_code}, not 400"
    )


CHECKS = [
    schemathesis.checks.not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    negative_data_rejection,
    valid_requests_are_accepted,
    undocumented_status_is_an_asapp_error,
    asapp_refuses_with_400,
]


# --- the served dataset and values that exist in it ----------------------------------------------

EXISTING = {
    # File Exporter: an hourly partition and its file
    "feed": "convos_metadata",
    "version": "1",
    "format": "jsonl",
    "date": DAY,
    "interval": "hr=13/mi=00",
    "fileName": "convos_metadata.jsonl",
    # AutoSummary
    "conversationId": CONVERSATION_ID,
    "externalConversationId": "1001",
    "issueId": "1001",
    # configuration (path parameters)
    "structuredDataFieldId": "q_issue_escalated",
    "segmentId": "GLOBAL",
}
EXISTING_ENTITY = "e_account_number"
"""The existing field a PUT of an ENTITY body is filled with."""


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsappSandbox]:
    root = build_small_dataset(tmp_path_factory.mktemp("asapp-schemathesis"))
    with run_asapp_sandbox(root, clock=ALL_RELEASED, spike_rps=100_000, daily_cap=1_000_000) as sandbox:
        yield sandbox


@pytest.fixture
def configuration(target: AsappSandbox) -> Iterator[AsappSandbox]:
    """Every configuration operation starts from the dataset's fields and segments."""
    target.reset_configuration()
    yield target
    target.reset_configuration()


def fill(case) -> bool:
    """Put values that exist into the request: into the path of every case that is not about a wrong path (so
    that an invalid body meets an existing resource and must be refused for itself), and into the path and
    body of half of the valid cases (chosen by the case itself, so reproducibly), so that success answers are
    checked too. Returns whether the path now names something that exists."""
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if negative and case.meta.is_negative_at(ParameterLocation.PATH):
        return False
    drawn = json.dumps([case.path_parameters, case.query, case.body], sort_keys=True, default=str)
    if not negative and zlib.crc32(drawn.encode()) % 2:
        return False
    for name in list(case.path_parameters or {}):
        if name in EXISTING:
            entity = isinstance(case.body, dict) and case.body.get("type") == "ENTITY"
            case.path_parameters[name] = (
                EXISTING_ENTITY if entity and name == "structuredDataFieldId" else EXISTING[name]
            )
    if isinstance(case.body, dict) and not (negative and case.media_type != "application/json"):
        for name in list(case.body):
            if name in EXISTING and isinstance(case.body[name], str):
                drawn, case.body[name] = case.body[name], EXISTING[name]
                if is_valid_request(case) == negative:
                    case.body[name] = drawn  # keep what made the case invalid, or what kept it valid
    return True


def run(case, sandbox: AsappSandbox, reset: bool = False) -> None:
    existing = fill(case)
    response = case.call(base_url=sandbox.api_url, headers=sandbox.headers)
    if reset and response.status_code < 300 and case.method.upper() != "GET":
        sandbox.reset_configuration()  # the next case starts from the dataset's configuration again
    case.validate_response(response, checks=CHECKS)
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if (
        negative
        and existing
        and case.path_parameters
        and response.status_code >= 400
        and case.method.upper() == case.operation.method.upper()
    ):
        assert response.status_code == 400, (
            f"an invalid request about an existing resource got {response.status_code}, not 400: "
            f"{response.text}"
        )


SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@FILE_EXPORTER.parametrize()
@SETTINGS
def test_file_exporter_conforms_to_its_file(case, target):
    run(case, target)


@CONFIGURATION.parametrize()
@SETTINGS
def test_configuration_conforms_to_its_file(case, configuration):
    run(case, configuration, reset=True)


@AUTOSUMMARY.parametrize()
@SETTINGS
def test_autosummary_conforms_to_its_file(case, target):
    run(case, target)


@pytest.mark.parametrize("name", sorted(IMPLEMENTED))
def test_the_vendored_files_are_asapps_unchanged(name):
    shared = SHARED_REFERENCE / "asapp" / name
    if not shared.exists():
        pytest.skip("the shared reference copy is not on this machine")
    assert (REFERENCE / name).read_bytes() == shared.read_bytes()
