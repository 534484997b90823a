"""Property-based run of Intercom's 2.16 description against the sandbox (schemathesis), one test per
operation the sandbox implements (56), deterministic (derandomized, no example database).

Each operation gets requests generated from the description: schemathesis' coverage phase (negative
mode: every way a request can break the description) and MAX_EXAMPLES fuzzed cases, valid and invalid.
Every answer must pass:
- no 5xx (`not_a_server_error`);
- a documented status answers the documented schema and content type (`response_schema_conformance`,
  `content_type_conformance`); an undocumented one (the description leaves out most 400/404/409s
  Intercom sends) is still Intercom's `error.list` envelope;
- a request the description rejects is refused (`negative_data_rejection`), and with 400 when only the
  body, query or headers are wrong (the sandbox checks them before it looks anything up; a wrong path
  parameter may be a 404), unless the description documents another status (`DOCUMENTED_REFUSALS`).

Valid requests are not required to succeed: the sandbox refuses more than the description does where
Intercom does (unknown custom attributes, malformed emails, 255-character strings, unknown ids, ...).

Each operation starts from a reset workspace holding one of everything (`Workspace.create`), and half of
the valid cases get those records' ids in their path and body, so that success answers are checked too,
not only 404s. Generated `attachment_urls` are pointed at a file the sandbox itself serves, so that no
case reaches the network. Where the description contradicts itself or Intercom's documented behaviour
the run says how it reads it: `RELATIVE_URLS` and `DOCUMENTED_REFUSALS` here, `SPEC_READINGS` in
server/spec.py (the sandbox's own reading); README.md lists them all.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
import zlib
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft4Validator
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from include.sandbox.intercom.server.app import all_routes
from include.sandbox.intercom.server.launcher import IntercomSandbox, run_intercom_sandbox
from include.sandbox.intercom.server.spec import load_document

# By default: schemathesis' coverage phase in negative mode (each way a request can break its operation's
# description, deterministically: missing body, wrong media type, missing required fields, wrong types,
# values out of enums and bounds, ...) plus MAX_EXAMPLES fuzzed cases per operation, valid and invalid.
# INTERCOM_SCHEMATHESIS=deep: the coverage phase in both modes and 150 fuzzed cases (a few minutes).
DEEP = os.environ.get("INTERCOM_SCHEMATHESIS") == "deep"
MAX_EXAMPLES = 150 if DEEP else 15
IMPLEMENTED = sorted({route.operation_id for route in all_routes() if route.operation_id})
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",
            "deterministic": True,
            "max-examples": MAX_EXAMPLES,
            # The token is the test's, not generated: 401s are tested elsewhere.
            "with-security-parameters": False,
        },
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True, "generation": {"mode": "all" if DEEP else "negative"}},
            "stateful": {"enabled": False},
        },
        # intercom_refuses_with_400 (below) holds each operation to 400, or to what the description documents.
        "checks": {"negative_data_rejection": {"expected-statuses": ["400", "404", "422"]}},
    }
)

# Named exclusions: where the description contradicts itself or what Intercom documents, and how this run
# reads it (README.md, "Readings of the description").
RELATIVE_URLS = (
    # `format: uri` (an absolute URI), while the description's own examples, and Intercom's answers, are
    # paths relative to the API ("/contacts/5ba682d23d7cf92bef87bfd4/notes"): read as `uri-reference`.
    "addressable_list",
    "company_data",
    "contact_companies",
    "contact_notes",
    "contact_subscription_types",
    "contact_tags",
)


def _document() -> dict:
    document = copy.deepcopy(load_document())
    schemas = document["components"]["schemas"]
    for name in RELATIVE_URLS:
        url = schemas[name]["properties"]["url"]
        assert url["format"] == "uri" and url["example"].startswith("/"), name
        url["format"] = "uri-reference"
    return document


SCHEMA = schemathesis.openapi.from_dict(_document(), config=CONFIG).include(operation_id=IMPLEMENTED)
ERROR_ENVELOPE = Draft4Validator(load_document()["components"]["schemas"]["error"])


# --- checks ---------------------------------------------------------------------------------------


@schemathesis.check
def undocumented_status_is_an_intercom_error(ctx, response, case) -> None:
    """The description documents few error statuses: whatever else is answered is Intercom's envelope."""
    if str(response.status_code) in case.operation.responses.status_codes:
        return
    assert response.status_code >= 400, f"undocumented success status {response.status_code}"
    body = orjson.loads(response.content)
    errors = sorted(ERROR_ENVELOPE.iter_errors(body), key=str)
    assert not errors, f"{response.status_code} is not Intercom's error envelope: {errors[0].message}"
    assert body["type"] == "error.list" and body["errors"], body


# Statuses other than 400 with which an operation refuses a request, where the description says so.
DOCUMENTED_REFUSALS = {
    # "Invalid data_type" is documented as 422 (and so is what Intercom answers, NOTES.md §11).
    "createConversationAttribute": {422},
}


@schemathesis.check
def intercom_refuses_with_400(ctx, response, case) -> None:
    """A body, query or header the description rejects is a 400 (path parameters may be 404)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or meta.is_negative_at(ParameterLocation.PATH):
        return
    if response.status_code < 400:
        return  # left to negative_data_rejection, which knows which mutations change nothing on the wire
    allowed = {400, 404} | DOCUMENTED_REFUSALS.get(_operation_id(case), set())
    assert response.status_code in allowed, (
        f"a request the description rejects got {response.status_code}, not 400"
    )


def _operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId")


CHECKS = [
    schemathesis.checks.not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    negative_data_rejection,
    undocumented_status_is_an_intercom_error,
    intercom_refuses_with_400,
]


# --- a workspace holding one of everything --------------------------------------------------------

_unique = itertools.count()


class Workspace:
    """Records whose ids valid cases use, re-created when a case deleted, archived or merged them."""

    def __init__(self, sandbox: IntercomSandbox):
        self.sandbox = sandbox
        self.client = httpx.Client(base_url=sandbox.url, headers=sandbox.headers, timeout=30.0)
        self.ids: dict[str, str] = {}

    def _post(self, path: str, body: dict) -> dict:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    def create(self) -> None:
        n = next(_unique)
        admin_id = self.client.get("/me").json()["id"]
        attribute = self._post(
            "/data_attributes", {"name": f"plan_{n}", "model": "contact", "data_type": "string"}
        )
        conversation_attribute = self._post(
            "/conversations/attributes", {"name": f"Source {n}", "data_type": "string"}
        )
        contact = self._post(
            "/contacts", {"role": "user", "email": f"user.{n}@example.com", "external_id": f"ext-{n}"}
        )
        lead = self._post("/contacts", {"role": "lead", "name": f"Lead {n}"})
        company = self._post("/companies", {"company_id": f"company-{n}", "name": f"Company {n}"})
        self._post(f"/contacts/{contact['id']}/companies", {"id": company["id"]})
        tag = self._post("/tags", {"name": f"tag {n}"})
        conversation_id = self._post(
            "/conversations", {"from": {"type": "user", "id": contact["id"]}, "body": "hello"}
        )["conversation_id"]
        reply = self._post(
            f"/conversations/{conversation_id}/reply",
            {
                "type": "admin",
                "message_type": "comment",
                "admin_id": admin_id,
                "body": "hi",
                "attachment_files": [
                    {"content_type": "image/png", "data": base64.b64encode(PNG_1X1).decode(), "name": "a.png"}
                ],
            },
        )
        attachment_url = reply["conversation_parts"]["conversation_parts"][-1]["attachments"][0]["url"]
        ticket_type = self._post("/ticket_types", {"name": f"Refund {n}"})
        ticket = self._post(
            "/tickets", {"ticket_type_id": ticket_type["id"], "contacts": [{"id": contact["id"]}]}
        )
        self.ids = {
            "admin_id": admin_id,
            "data_attribute_id": str(attribute["id"]),
            "conversation_attribute_id": str(conversation_attribute["id"]),
            "contact_id": contact["id"],
            "external_id": contact["external_id"],
            "lead_id": lead["id"],
            "company_id": company["id"],
            "tag_id": tag["id"],
            "conversation_id": conversation_id,
            "attachment_url": attachment_url,
            "ticket_type_id": str(ticket_type["id"]),
            "ticket_id": ticket["id"],
        }

    def fill(self, case) -> bool:
        """Put real ids into half of the valid cases (chosen by the case itself, so reproducibly)."""
        if case.meta is not None and case.meta.generation.mode.is_negative:
            return False
        drawn = json.dumps([case.path_parameters, case.body], sort_keys=True, default=str)
        if zlib.crc32(drawn.encode()) % 2:
            return False
        ids = self.ids
        for name in list(case.path_parameters or {}):
            key = "conversation_attribute_id" if name == "id" else name
            if key in ids:
                case.path_parameters[name] = ids[key]
        body = case.body
        if isinstance(body, dict):
            _fill_body(_operation_id(case), body, ids)
        return True

    def close(self) -> None:
        self.client.close()


BODY_ID_FIELDS = {
    "attachContactToACompany": {"id": "company_id"},
    "attachTagToContact": {"id": "tag_id"},
    "attachTagToConversation": {"id": "tag_id"},
    "MergeContact": {"from": "lead_id", "into": "contact_id"},
    "createTicket": {"ticket_type_id": "ticket_type_id"},
}


def _fill_body(operation_id: str, body: dict, ids: dict[str, str]) -> None:
    for field, key in BODY_ID_FIELDS.get(operation_id, {}).items():
        if field in body:
            body[field] = ids[key]
    if "admin_id" in body and isinstance(body["admin_id"], str):
        body["admin_id"] = ids["admin_id"]
    for party in ("from", "to"):
        if isinstance(body.get(party), dict) and "id" in body[party]:
            body[party]["id"] = ids["admin_id" if body[party].get("type") == "admin" else "contact_id"]
    if isinstance(body.get("contacts"), list):
        for contact in body["contacts"]:
            if isinstance(contact, dict) and "id" in contact:
                contact["id"] = ids["contact_id"]
    if "intercom_user_id" in body:
        body["intercom_user_id"] = ids["contact_id"]


def _keep_off_the_network(body: Any, attachment_url: str) -> None:
    """The sandbox downloads `attachment_urls`, as Intercom does: give it one it can reach (itself)."""
    if isinstance(body, dict):
        urls = body.get("attachment_urls")
        if isinstance(urls, list):
            body["attachment_urls"] = [attachment_url if isinstance(url, str) else url for url in urls]
        for value in body.values():
            _keep_off_the_network(value, attachment_url)
    elif isinstance(body, list):
        for item in body:
            _keep_off_the_network(item, attachment_url)


DESTRUCTIVE = {
    "DeleteContact",
    "ArchiveContact",
    "MergeContact",
    "deleteCompany",
    "deleteTag",
    "deleteConversation",
    "deleteConversationAttribute",
    "detachContactFromACompany",
}


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> IntercomSandbox:
    state = tmp_path_factory.mktemp("intercom-schemathesis") / "workspace.json"
    with run_intercom_sandbox(state, search_delay=0, rate_limit_per_minute=0) as sandbox:
        yield sandbox


@pytest.fixture
def workspace(target) -> Workspace:
    """Every operation starts from the same workspace, whatever ran before it on this worker."""
    target.reset()
    workspace = Workspace(target)
    workspace.create()
    yield workspace
    workspace.close()


@SCHEMA.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_conforms_to_the_description(case, target, workspace):
    filled = workspace.fill(case)
    _keep_off_the_network(case.body, workspace.ids["attachment_url"])
    response = case.call(base_url=target.url, headers={"Authorization": f"Bearer {target.token}"})
    case.validate_response(response, checks=CHECKS)
    if filled and _operation_id(case) in DESTRUCTIVE and response.status_code == 200:
        workspace.create()
