"""File Exporter API over real HTTP: the documented walk, downloads, attachments, the visibility
clock and errors, with every exchange checked against ASAPP's published OpenAPI file."""

import gzip

import httpx
import orjson
import pytest

from tests.sandbox.asapp.conftest import (
    ATTACHMENT,
    CONVOS_HR13,
    CONVOS_HR14,
    DAY,
    UPLOAD_ID,
    UTTERANCE_SPLITS,
    assert_asapp_error,
)

ALL_RELEASED = "2024-05-02T03:00:00Z"


def call(api: httpx.Client, endpoint: str, body: dict | None = None) -> httpx.Response:
    return api.post(f"/fileexporter/v1/static/{endpoint}", json=body if body is not None else {})


def rows(content: bytes) -> list[dict]:
    return [orjson.loads(line) for line in content.splitlines() if line]


def test_documented_walk_finds_and_downloads_every_file(sandbox, api, fileexporter_spec):
    sandbox.set_clock(ALL_RELEASED)
    check = fileexporter_spec.check
    feeds = check(call(api, "listfeeds")).json()["feeds"]
    assert "convos_metadata" in feeds and "utterances" in feeds

    downloaded: dict[str, list[dict]] = {}
    feed = {"feed": "convos_metadata"}
    versions = check(call(api, "listfeedversions", feed)).json()
    assert versions == {"feed": "convos_metadata", "versions": ["1"]}
    formats = check(call(api, "listfeedformats", {**feed, "version": "1"})).json()["formats"]
    assert formats == ["jsonl"]
    selection = {**feed, "version": "1", "format": "jsonl"}
    dates = check(call(api, "listfeeddates", selection)).json()
    assert dates["format"] == "format=jsonl" and dates["dates"] == [DAY]
    intervals = check(call(api, "listfeedintervals", {**selection, "date": DAY})).json()["intervals"]
    assert intervals == ["hr=13/mi=00", "hr=14/mi=00"]
    for interval in intervals:
        where = {**selection, "date": DAY, "interval": interval}
        files = check(call(api, "listfeedfiles", where)).json()["files"]
        assert files == ["convos_metadata.jsonl", "_SUCCESS"]
        answer = check(call(api, "getfeedfile", {**where, "fileName": files[0]})).json()
        assert answer["interval"] == interval and answer["fileName"] == files[0]
        download = httpx.get(answer["url"])  # no ASAPP headers: a presigned URL
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/x-ndjson"
        downloaded[interval] = rows(download.content)
    assert downloaded == {"hr=13/mi=00": CONVOS_HR13, "hr=14/mi=00": CONVOS_HR14}


def test_hive_style_values_are_accepted_and_echoed_unchanged(sandbox, api, fileexporter_spec):
    sandbox.set_clock(ALL_RELEASED)
    body = {
        "feed": "convos_metadata",
        "version": "version=1",
        "format": "format=jsonl",
        "date": "dt=2024-05-01",
        "interval": "hr=14/mi=00",
    }
    answer = fileexporter_spec.check(call(api, "listfeedfiles", body)).json()
    assert {key: answer[key] for key in body} == body
    dates = call(api, "listfeeddates", {"feed": "reps", "version": "version=1", "format": "jsonl"}).json()
    assert dates["version"] == "version=1" and dates["format"] == "format=jsonl"
    assert dates["dates"] == ["2024-05-01", "2024-04-30"]


def test_split_gzip_files_download_as_gzip_objects(sandbox, api):
    sandbox.set_clock(ALL_RELEASED)
    where = {"feed": "utterances", "version": "1", "format": "jsonl", "date": DAY, "interval": "hr=14"}
    files = call(api, "listfeedfiles", where).json()["files"]
    assert files == [*UTTERANCE_SPLITS, "_SUCCESS"]
    for name, expected in UTTERANCE_SPLITS.items():
        url = call(api, "getfeedfile", {**where, "fileName": name}).json()["url"]
        with httpx.stream("GET", url) as download:
            assert download.headers["content-type"] == "application/gzip"
            assert "content-encoding" not in download.headers
            compressed = download.read()
        assert rows(gzip.decompress(compressed)) == expected


def test_daily_feed_without_interval_uses_its_only_partition(sandbox, api):
    sandbox.set_clock(ALL_RELEASED)
    answer = call(api, "listfeedfiles", {"feed": "reps", "version": "1", "format": "jsonl", "date": DAY})
    assert answer.json()["interval"] == "hr=00/mi=00"
    assert answer.json()["files"] == ["reps.jsonl", "_SUCCESS"]


def test_partitions_appear_when_the_clock_passes_their_time(sandbox, api):
    hourly = {"feed": "convos_metadata", "version": "1", "format": "jsonl", "date": DAY}
    daily = {"feed": "reps", "version": "1", "format": "jsonl"}
    sandbox.set_clock(f"{DAY}T14:19:00Z")  # hr=13 is due at 14:20 (hour end + 20 min lag)
    assert_asapp_error(call(api, "listfeedintervals", hourly), 404, "404-01")
    sandbox.set_clock(f"{DAY}T14:21:00Z")
    assert call(api, "listfeedintervals", hourly).json()["intervals"] == ["hr=13/mi=00"]
    sandbox.advance_clock(3600)
    assert call(api, "listfeedintervals", hourly).json()["intervals"] == ["hr=13/mi=00", "hr=14/mi=00"]

    sandbox.set_clock("2024-05-02T01:59:00Z")  # a daily dt=D is due at D+1 02:00
    assert call(api, "listfeeddates", daily).json()["dates"] == ["2024-04-30"]
    sandbox.advance_clock(120)
    assert call(api, "listfeeddates", daily).json()["dates"] == ["2024-05-01", "2024-04-30"]


def test_attachment_binary_is_served_with_its_metadata(sandbox, api):
    answer = call(api, "getattachmentfile", {"fileUploadEventId": UPLOAD_ID})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["fileUploadEventId"], body["fileName"], body["mimeType"]) == (
        UPLOAD_ID,
        "bill.pdf",
        "application/pdf",
    )
    download = httpx.get(body["url"])
    assert download.content == ATTACHMENT
    assert download.headers["content-type"] == "application/pdf"
    assert_asapp_error(call(api, "getattachmentfile", {"fileUploadEventId": "no-such-upload"}), 404, "404-01")


def test_signed_urls_expire_on_the_sandbox_clock_and_resist_tampering(sandbox, api):
    sandbox.set_clock(ALL_RELEASED)
    where = {"feed": "reps", "version": "1", "format": "jsonl", "date": DAY, "fileName": "reps.jsonl"}
    url = httpx.URL(call(api, "getfeedfile", where).json()["url"])
    expires = int(url.params["expires"])
    assert expires - sandbox.clock().timestamp() == pytest.approx(900, abs=5)
    assert httpx.get(url).status_code == 200

    later = url.copy_set_param("expires", str(expires + 3600))
    error = assert_asapp_error(httpx.get(later), 403, "403-01")
    assert error["message"] == "Request has expired"

    sandbox.advance_clock(901)
    assert_asapp_error(httpx.get(url), 403, "403-01")


@pytest.mark.parametrize(
    ("endpoint", "body", "status", "code", "path"),
    [
        ("listfeedversions", {}, 400, "400-01", "/feed"),
        ("listfeedversions", {"feed": "no_such_feed"}, 404, "404-01", None),
        ("listfeedformats", {"feed": "reps", "version": "7"}, 404, "404-01", None),
        ("listfeeddates", {"feed": "reps", "version": "1", "format": "csv"}, 404, "404-01", None),
        (
            "listfeedintervals",
            {"feed": "reps", "version": "1", "format": "jsonl", "date": "May 1"},
            400,
            "400-01",
            "/date",
        ),
        (
            "listfeedintervals",
            {"feed": "reps", "version": "1", "format": "jsonl", "date": "1999-01-01"},
            404,
            "404-01",
            None,
        ),
        (
            "listfeedfiles",
            {"feed": "convos_metadata", "version": "1", "format": "jsonl", "date": DAY},
            400,
            "400-01",
            "/interval",
        ),
        (
            "listfeedfiles",
            {"feed": "convos_metadata", "version": "1", "format": "jsonl", "date": DAY, "interval": "hr=07"},
            404,
            "404-01",
            None,
        ),
        (
            "getfeedfile",
            {"feed": "reps", "version": "1", "format": "jsonl", "date": DAY},
            400,
            "400-01",
            "/fileName",
        ),
        (
            "getfeedfile",
            {"feed": "reps", "version": "1", "format": "jsonl", "date": DAY, "fileName": "x.jsonl"},
            404,
            "404-01",
            None,
        ),
    ],
)
def test_bad_requests_name_the_field_and_unknown_values_are_404(
    sandbox, api, fileexporter_spec, endpoint, body, status, code, path
):
    sandbox.set_clock(ALL_RELEASED)
    response = call(api, endpoint, body)
    error = assert_asapp_error(response, status, code)
    if path:
        assert f"[Path '{path}']" in error["message"]
    fileexporter_spec.check(response, valid_request=status != 400)


def test_calls_without_valid_credentials_are_unauthorized(sandbox, fileexporter_spec):
    for headers in ({}, {"asapp-api-id": sandbox.api_id, "asapp-api-secret": "wrong"}):
        url = f"{sandbox.api_url}/fileexporter/v1/static/listfeedversions"
        response = httpx.post(url, json={"feed": "reps"}, headers=headers)
        assert_asapp_error(response, 401, "401-01")
        fileexporter_spec.check(response, valid_request=False)
