"""getattachmentfile names and types uploads that only the real-time log describes, including
events appended at run time, and the signed download carries that name and type."""

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from include.sandbox.asapp.server.launcher import AsappSandbox, run_asapp_sandbox
from tests.sandbox.asapp.conftest import DAY, DatasetBuilder, assert_asapp_error, envelope
from tests.sandbox.asapp.generated import generate_into, read_lines, rows

ENDPOINT = "/fileexporter/v1/static/getattachmentfile"
FEED_UPLOAD, LOGGED_UPLOAD, UNNAMED_UPLOAD, UNTYPED_UPLOAD = (
    "up-feed",
    "up-logged",
    "up-unnamed",
    "up-untyped",
)
SCREENSHOT = b"\x89PNG\r\n\x1a\n a screenshot"
STATEMENT = "Relevé de compte 01.pdf"


def file_item(upload_id: str, name: str | None, mime_type: str | None) -> dict:
    """An uploaded_files_list item as journey events carry it (NOTES §4.3)."""
    item = {
        "file_upload_event_id": upload_id,
        "file_upload_ts": f"{DAY}T14:05:00.000Z",
        "file_size_mb": 0.0001,
    }
    return item | ({"file_name": name} if name else {}) | ({"file_mime_type": mime_type} if mime_type else {})


def upload_event(event_type: str, create_time: str, event_id: str, *items: dict) -> dict:
    event = envelope("journey", event_type, create_time, event_id)
    event["details"] = {"uploaded_files_list": list(items)}
    return event


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsappSandbox]:
    """One upload described by the feed, two only by the log, one by nothing yet."""
    build = DatasetBuilder(tmp_path_factory.mktemp("asapp-attachments"))
    feed_row = {
        "file_upload_event_id": FEED_UPLOAD,
        "file_name": "bill.pdf",
        "file_mime_type": "application/pdf",
    }
    build.partition("file_uploads", DAY, "14", {"file_uploads.jsonl": [feed_row]})
    logged = file_item(LOGGED_UPLOAD, "error screen.png", "image/png")
    untyped = file_item(UNTYPED_UPLOAD, STATEMENT, None)
    build.events(
        [
            envelope("journey", "ISSUE_CREATED", f"{DAY}T14:02:00.000Z", "ev-1"),
            upload_event("FILE_UPLOAD_DETECTED", f"{DAY}T14:05:00.010Z", "ev-2", logged),
            # details accumulate: a later event repeats the first upload and adds one
            upload_event("FILE_UPLOAD_DETECTED", f"{DAY}T14:09:00.010Z", "ev-3", logged, untyped),
        ]
    )
    for upload_id in (FEED_UPLOAD, LOGGED_UPLOAD, UNNAMED_UPLOAD, UNTYPED_UPLOAD):
        build.attachment(upload_id, SCREENSHOT)
    with run_asapp_sandbox(build.root, clock=f"{DAY}T12:00:00Z") as running:
        yield running


def describe(api: httpx.Client, upload_id: str) -> tuple[str, str]:
    response = api.post(ENDPOINT, json={"fileUploadEventId": upload_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fileUploadEventId"] == upload_id
    return body["fileName"], body["mimeType"]


def download(api: httpx.Client, upload_id: str) -> httpx.Response:
    url = api.post(ENDPOINT, json={"fileUploadEventId": upload_id}).json()["url"]
    return httpx.get(url)


def saved_as(response: httpx.Response) -> str:
    """The file name a browser saves the download under (plain or RFC 5987 encoded)."""
    disposition = response.headers["content-disposition"]
    encoded = re.search(r"filename\*=utf-8''(\S+)", disposition)
    return unquote(encoded.group(1)) if encoded else re.search(r'filename="([^"]*)"', disposition).group(1)


def test_an_upload_only_the_event_log_lists_gets_its_real_name_and_type(api):
    assert describe(api, LOGGED_UPLOAD) == ("error screen.png", "image/png")
    assert describe(api, FEED_UPLOAD) == ("bill.pdf", "application/pdf")
    served = download(api, LOGGED_UPLOAD)
    assert served.content == SCREENSHOT and served.headers["content-type"] == "image/png"
    assert saved_as(served) == "error screen.png"
    assert saved_as(download(api, FEED_UPLOAD)) == "bill.pdf"


def test_a_logged_name_without_a_type_is_typed_from_its_extension(api):
    assert describe(api, UNTYPED_UPLOAD) == (STATEMENT, "application/pdf")
    assert saved_as(download(api, UNTYPED_UPLOAD)) == STATEMENT


def test_events_appended_at_run_time_describe_uploads_from_then_on(sandbox, api):
    assert describe(api, UNNAMED_UPLOAD) == (UNNAMED_UPLOAD, "application/octet-stream")
    late = file_item(UNNAMED_UPLOAD, "router-log.txt", "text/plain")
    refused = httpx.post(
        f"{sandbox.api_url}/_sim/admin/events",
        json=[upload_event("FILE_UPLOAD_DETECTED", "not a time", "ev-bad", late)],
    )
    assert refused.status_code == 400
    assert describe(api, UNNAMED_UPLOAD) == (UNNAMED_UPLOAD, "application/octet-stream"), (
        "a refused list teaches nothing"
    )

    assert (
        sandbox.append_events([upload_event("FILE_UPLOAD_DETECTED", f"{DAY}T18:00:00.000Z", "ev-4", late)])
        == 1
    )
    assert describe(api, UNNAMED_UPLOAD) == ("router-log.txt", "text/plain")
    assert download(api, UNNAMED_UPLOAD).headers["content-type"].startswith("text/plain")


def test_unknown_uploads_are_still_404(api):
    assert_asapp_error(api.post(ENDPOINT, json={"fileUploadEventId": "no-such-upload"}), 404, "404-01")


def test_a_generated_upload_after_the_last_batch_partition_is_named_from_the_log(tmp_path: Path):
    root = generate_into(tmp_path / "generated", seed=5, conversations=40, realtime_hours=2)
    in_feed = {row["file_upload_event_id"] for row in rows(root, "file_uploads")}
    logged = {
        item["file_upload_event_id"]: item
        for event in read_lines(root / "_realtime" / "events.jsonl")
        for item in event["details"].get("uploaded_files_list", [])
    }
    only_logged = {upload_id: item for upload_id, item in logged.items() if upload_id not in in_feed}
    assert only_logged, "the first real-time-only conversation always uploads a file"
    with (
        run_asapp_sandbox(root) as sandbox,
        httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers) as api,
    ):
        for upload_id, item in only_logged.items():
            assert describe(api, upload_id) == (item["file_name"], item["file_mime_type"])
