"""Fixtures for the ASAPP sandbox server tests: a small dataset builder, running servers, and the
published OpenAPI specs to check requests and responses against."""

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from include.sandbox.asapp.server.launcher import AsappSandbox, run_asapp_sandbox
from tests.conftest import SHARED_REFERENCE

SPECS = SHARED_REFERENCE / "asapp"
SPEC_HOST = "https://api.sandbox.asapp.com"  # the specs' server URL; paths match ours

DAY = "2024-05-01"
CONVERSATION_ID = "01HWX3M5Q2B7ZK9R4T6V8Y0N1P"
UPLOAD_ID = "9a1d7c1e-upload"
ATTACHMENT = b"%PDF-1.4 a sandbox bill\n" + bytes(range(256))


class DatasetBuilder:
    """Writes a dataset directory in the layout the server serves (the generator's contract)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def partition(
        self, feed: str, date: str, hour: str, files: dict[str, list[dict]], success: bool = True
    ) -> Path:
        directory = self.root / feed / "version=1" / "format=jsonl" / f"dt={date}" / f"hr={hour}" / "mi=00"
        directory.mkdir(parents=True, exist_ok=True)
        for name, rows in files.items():
            content = b"".join(orjson.dumps(row) + b"\n" for row in rows)
            (directory / name).write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
        if success:
            (directory / "_SUCCESS").write_bytes(b"")
        return directory

    def attachment(self, upload_id: str, content: bytes) -> None:
        self._write(f"_attachments/{upload_id}", content)

    def segments(self, segments: list[dict]) -> None:
        self._write("_config/segments.json", orjson.dumps(segments))

    def events(self, envelopes: list[dict]) -> None:
        self._write("_realtime/events.jsonl", b"".join(orjson.dumps(e) + b"\n" for e in envelopes))

    def _write(self, relative: str, content: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def envelope(feed: str, event_type: str, create_time: str, event_id: str, issue_id: str = "1001") -> dict:
    """A real-time event in ASAPP's documented envelope (NOTES §4.2)."""
    return {
        "api_version": "v1.3.0",
        "name": f"com.asapp.event.{feed}",
        "meta_data": {
            "create_time": create_time,
            "event_time": create_time,
            "issue_id": issue_id,
            "company_id": "globex",
        },
        "data": {"customer_id": "1470001"},
        "event_id": event_id,
        "event_type": event_type,
        "details": {},
    }


def convo(issue_id: int, instant: str) -> dict:
    return {"instance_ts": instant, "issue_id": issue_id, "company_name": "globex", "platform": "web"}


def utterance(issue_id: int, text: str) -> dict:
    return {"issue_id": issue_id, "sender_type": "customer", "utterance": text, "company_name": "globex"}


# What the small dataset holds; tests compare what they read back with these.
CONVOS_HR13 = [convo(1001, f"{DAY}T13:15:00.000000+00:00")]
CONVOS_HR14 = [convo(1002, f"{DAY}T14:00:00.000000+00:00"), convo(1001, f"{DAY}T14:15:00.000000+00:00")]
UTTERANCE_SPLITS = {
    "utterances.jsonl.00.gz": [utterance(1001, "I want to pay my bill"), utterance(1001, "thanks")],
    "utterances.jsonl.01.gz": [utterance(1002, "my router is down")],
}
STRUCTURED_FIELDS = [
    {
        "field_id": "q_issue_escalated",
        "name": "Issue escalated",
        "type": "QUESTION",
        "category_id": "OUTCOME",
        "active": True,
        "question": "Was the issue escalated?",
        "segment_ids": ["GLOBAL"],
        "dt": DAY,
    },
    {
        "field_id": "q_promotion_offered",
        "name": "Promotion offered",
        "type": "QUESTION",
        "category_id": "OUTCOME",
        "active": False,
        "question": "Did the agent offer a promotion?",
        "segment_ids": ["BILLING"],
        "dt": DAY,
    },
    {
        "field_id": "e_account_number",
        "name": "Account number",
        "type": "ENTITY",
        "category_id": "OUTCOME",
        "active": True,
        "entity_name": "Account number",
        "entity_description": "The customer's account number",
        "entity_examples": ["8999246118"],
        "segment_ids": ["GLOBAL"],
        "dt": DAY,
    },
]
SEGMENTS = [
    {"id": "GLOBAL", "name": "Global", "query": {"type": "raw", "raw": "TRUE"}, "structuredDataFieldIds": []},
    {
        "id": "BILLING",
        "name": "Billing",
        "query": {"type": "raw", "raw": "intent_code = 'BILLING'"},
        "structuredDataFieldIds": ["q_promotion_offered"],
    },
    {
        "id": "SUPPORT",
        "name": "Support",
        "query": {"type": "raw", "raw": "lob_id IN ['wireless', 'broadband']"},
        "structuredDataFieldIds": ["q_issue_escalated"],
    },
]
EVENTS = [
    envelope("activity", "agent_activity_status_updated", f"{DAY}T14:01:00.000Z", "ev-activity-1"),
    envelope("journey", "ISSUE_CREATED", f"{DAY}T14:02:11.000Z", "ev-journey-1"),
    envelope("journey", "ASSIGNED", f"{DAY}T14:03:00.000Z", "ev-journey-2"),
    envelope("journey", "ASSIGNED", f"{DAY}T14:03:00.000Z", "ev-journey-2"),  # at-least-once duplicate
    envelope("queue", "queue_size_updated", f"{DAY}T14:04:00.000Z", "ev-queue-1"),
    envelope("journey", "ISSUE_ENDED", f"{DAY}T16:00:00.000Z", "ev-journey-3"),
]


def structured_data_row(generation: str, instant: str, field_id: str, value: str) -> dict:
    return {
        "conversation_id": CONVERSATION_ID,
        "external_conversation_id": "1001",
        "agent_id": "0671018510",
        "structured_data_id": generation,
        "structured_data_ts": instant,
        "structured_data_field_id": field_id,
        "structured_data_field_name": field_id.replace("_", " "),
        "structured_data_field_value": value,
        "company_marker": "globex",
        "dt": DAY,
        "hr": "14",
    }


def build_small_dataset(root: Path) -> Path:
    """Hourly and daily feeds, a split gzip partition, an attachment, configuration and events.

    With the default 20 min lag, hr=13 appears at 14:20 and hr=14 at 15:20 on 2024-05-01; the
    daily partitions of 2024-04-30 at 2024-05-01 02:00 and those of 2024-05-01 at 2024-05-02 02:00.
    """
    build = DatasetBuilder(root)
    build.partition("convos_metadata", DAY, "13", {"convos_metadata.jsonl": CONVOS_HR13})
    build.partition("convos_metadata", DAY, "14", {"convos_metadata.jsonl": CONVOS_HR14})
    build.partition("utterances", DAY, "14", UTTERANCE_SPLITS)
    build.partition("reps", "2024-04-30", "00", {"reps.jsonl": [{"rep_id": "123008", "name": "Smith, Anne"}]})
    build.partition("reps", DAY, "00", {"reps.jsonl": [{"rep_id": "123009", "name": "Doe, John"}]})
    upload = {
        "file_upload_event_id": UPLOAD_ID,
        "file_name": "bill.pdf",
        "file_mime_type": "application/pdf",
        "issue_id": 1001,
    }
    build.partition("file_uploads", DAY, "14", {"file_uploads.jsonl": [upload]})
    build.attachment(UPLOAD_ID, ATTACHMENT)
    old_field = {**STRUCTURED_FIELDS[0], "field_id": "q_retired", "dt": "2024-04-30"}
    build.partition(
        "structured_data_config", "2024-04-30", "00", {"structured_data_config.jsonl": [old_field]}
    )
    build.partition("structured_data_config", DAY, "00", {"structured_data_config.jsonl": STRUCTURED_FIELDS})
    first = [structured_data_row("gen-1", f"{DAY}T14:20:00.000000+00:00", "q_issue_escalated", "Yes")]
    second = [
        structured_data_row("gen-2", f"{DAY}T14:28:05.000000+00:00", "q_issue_escalated", "No"),
        structured_data_row("gen-2", f"{DAY}T14:28:05.000000+00:00", "e_account_number", "8999246118"),
    ]
    build.partition(
        "autosummary_structured_data", DAY, "00", {"autosummary_structured_data.jsonl": first + second}
    )
    build.segments(SEGMENTS)
    build.events(EVENTS)
    return root


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_dataset(tmp_path_factory.mktemp("asapp-small"))


@pytest.fixture(scope="module")
def sandbox(small_dataset: Path) -> Iterator[AsappSandbox]:
    """A server over the small dataset shared by a module; tests set the clock they need."""
    with run_asapp_sandbox(small_dataset) as running:
        yield running


@pytest.fixture
def api(sandbox: AsappSandbox) -> Iterator[httpx.Client]:
    """An authenticated client; the sandbox's faults are cleared after each test."""
    with httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers, timeout=30) as client:
        yield client
    sandbox.clear_faults()


class SpecChecker:
    """Checks a real exchange (httpx request and response) against one published OpenAPI spec."""

    def __init__(self, spec_file: str) -> None:
        # Responses are held to the strict reading: every documented property present, no others.
        # Requests use the default (some request schemas put properties only inside oneOf branches).
        strict = Config(
            additional_properties_default_policy="forbid", response_properties_default_policy="required"
        )
        self.requests = OpenAPI.from_file_path(str(SPECS / spec_file))
        self.responses = OpenAPI.from_file_path(str(SPECS / spec_file), config=strict)

    def check(self, response: httpx.Response, *, valid_request: bool = True) -> httpx.Response:
        """Validate the response; the request too unless the test sends an invalid one on purpose."""
        request = response.request
        mock_request = MockRequest(
            SPEC_HOST,
            request.method,
            request.url.path,
            args=dict(request.url.params),
            headers=dict(request.headers),
            data=request.content,
            content_type=request.headers.get("content-type", "application/json"),
        )
        if valid_request:
            self.requests.validate_request(mock_request)
        mock_response = MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", ""),
        )
        self.responses.validate_response(mock_request, mock_response)
        return response


@pytest.fixture(scope="session")
def fileexporter_spec() -> SpecChecker:
    return SpecChecker("asapp-fileexporter-openapi.yml")


@pytest.fixture(scope="session")
def configuration_spec() -> SpecChecker:
    return SpecChecker("asapp-partner-configuration-openapi.yml")


@pytest.fixture(scope="session")
def autosummary_spec() -> SpecChecker:
    return SpecChecker("asapp-autosummary-openapi.yml")


def assert_asapp_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """ASAPP's error shape, with the request id echoed in x-request-id."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["requestId"] == response.headers["x-request-id"]
    return error


class Receiver:
    """A webhook endpoint for push tests: records requests and answers with scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, dict[str, str], bytes]] = []  # (monotonic arrival, headers, body)
        self.statuses: list[int] = []  # consumed one per request; 200 once empty
        self.delay_seconds = 0.0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                threading.Event().wait(receiver.delay_seconds)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/asapp-events"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()
