"""The server delivers a messy generated dataset the way ASAPP would, over real HTTP and S3: a truncated file
replaced by its re-delivery on the clock, a partition never finished, stray files, attachments without a
binary, malformed real-time events in pull and push, and a tenant without a feed."""

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from include.sandbox.asapp.server.launcher import AsappSandbox, run_asapp_sandbox
from tests.sandbox.asapp.conftest import assert_asapp_error
from tests.sandbox.asapp.generated import dataset, generate_into, manifest, mess_ids, raw_realtime_events

BASE = "/fileexporter/v1/static"
HOURLY_LAG = timedelta(minutes=20)


@pytest.fixture(scope="module")
def root() -> Path:
    return dataset("sixty")


@pytest.fixture(scope="module")
def sandbox(root: Path) -> Iterator[AsappSandbox]:
    with run_asapp_sandbox(root, clock=manifest(root)["batch_window"]["start"]) as running:
        yield running


@pytest.fixture
def api(sandbox: AsappSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers, timeout=30) as client:
        yield client
    sandbox.clear_faults()


def s3_keys(sandbox: AsappSandbox, prefix: str = "") -> set[str]:
    pages = (
        sandbox.s3_client().get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket, Prefix=prefix)
    )
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def where(path: str) -> dict:
    """A partition file's File Exporter coordinates."""
    match = re.fullmatch(
        r"(?P<feed>[a-z_]+)/version=1/format=jsonl/dt=(?P<date>[\d-]+)/(?P<interval>hr=\d\d/mi=\d\d)"
        r"(?:/(?P<name>.+))?",
        path,
    )
    spot = {
        "feed": match["feed"],
        "version": "1",
        "format": "jsonl",
        "date": match["date"],
        "interval": match["interval"],
    }
    return spot | ({"fileName": match["name"]} if match["name"] else {})


def appears(path: str) -> datetime:
    """When an hourly partition is released: its hour's end plus the lag."""
    hour = datetime.fromisoformat(re.search(r"dt=([\d-]+)/hr=(\d\d)", path).expand(r"\1T\2:00:00+00:00"))
    return hour + timedelta(hours=1) + HOURLY_LAG


def call(api: httpx.Client, endpoint: str, body: dict) -> httpx.Response:
    return api.post(f"{BASE}/{endpoint}", json=body)


def test_a_truncated_file_is_replaced_by_its_redelivery_when_the_clock_reaches_it(sandbox, api, root):
    (case,) = mess_ids(root, "truncated_gzip")
    broken, complete = (
        (root / case["path"]).read_bytes(),
        (root / "_redeliveries" / case["path"]).read_bytes(),
    )
    s3 = sandbox.s3_client()
    redelivered_at = datetime.fromisoformat(case["redelivered_at"])

    sandbox.set_clock(appears(case["path"]) + timedelta(minutes=1))
    before = s3.get_object(Bucket=sandbox.bucket, Key=case["path"])
    assert before["Body"].read() == broken
    url = call(api, "getfeedfile", where(case["path"])).json()["url"]
    assert httpx.get(url).content == broken

    sandbox.set_clock(redelivered_at - timedelta(seconds=30))
    assert s3.get_object(Bucket=sandbox.bucket, Key=case["path"])["Body"].read() == broken
    url = call(api, "getfeedfile", where(case["path"])).json()["url"]
    sandbox.set_clock(redelivered_at)
    after = s3.get_object(Bucket=sandbox.bucket, Key=case["path"])
    assert after["Body"].read() == complete and after["ETag"] != before["ETag"], (
        "replaced: new bytes, new ETag"
    )
    assert httpx.get(call(api, "getfeedfile", where(case["path"])).json()["url"]).content == complete
    assert httpx.get(url).content == complete, "like a presigned URL, it names the key, not a version"
    files = call(
        api, "listfeedfiles", {k: v for k, v in where(case["path"]).items() if k != "fileName"}
    ).json()
    assert files["files"] == ["utterances.jsonl.00.gz", "_SUCCESS"]

    sandbox.set_clock(redelivered_at - timedelta(hours=1))
    assert s3.get_object(Bucket=sandbox.bucket, Key=case["path"])["Body"].read() == broken, (
        "the clock decides"
    )


def test_a_partition_asapp_never_finished_is_published_without_success_whatever_happens(sandbox, api, root):
    partitions = mess_ids(root, "unpublished_partitions")
    sandbox.set_clock(datetime.fromisoformat(manifest(root)["realtime_window"]["end"]) + timedelta(days=2))
    for partition in partitions:
        feed = partition.split("/")[0]
        assert s3_keys(sandbox, partition + "/") == {f"{partition}/{feed}.jsonl"}
        spot = where(partition)
        intervals = call(api, "listfeedintervals", {k: v for k, v in spot.items() if k != "interval"}).json()
        assert "hr=23/mi=30" in intervals["intervals"] and "hr=23/mi=00" in intervals["intervals"]
        assert call(api, "listfeedfiles", spot).json()["files"] == [f"{feed}.jsonl"]
        assert "_SUCCESS" not in call(api, "listfeedfiles", {**spot, "interval": "hr=23"}).json()["files"]
        other = call(api, "listfeedfiles", {**spot, "interval": "hr=23/mi=00"}).json()["files"]
        assert other[-1] == "_SUCCESS"
    sandbox.set_faults(partial_partitions=True)
    sandbox.set_faults(partial_partitions=False)  # completing withheld partitions must not complete these
    for partition in partitions:
        assert f"{partition}/_SUCCESS" not in s3_keys(sandbox, partition + "/")
        assert "_SUCCESS" not in call(api, "listfeedfiles", where(partition)).json()["files"]


def test_stray_files_are_published_beside_the_data(sandbox, api, root):
    sandbox.set_clock(datetime.fromisoformat(manifest(root)["realtime_window"]["end"]) + timedelta(days=2))
    strays = mess_ids(root, "non_data_files")
    assert set(strays) <= s3_keys(sandbox)
    for path in strays:
        spot = where(path)
        listed = call(api, "listfeedfiles", {k: v for k, v in spot.items() if k != "fileName"}).json()[
            "files"
        ]
        assert spot["fileName"] in listed and listed[-1] == "_SUCCESS"
        assert httpx.get(call(api, "getfeedfile", spot).json()["url"]).content == (root / path).read_bytes()


def test_uploads_without_a_binary_answer_404_and_orphan_uploads_are_served(sandbox, api, root):
    for upload_id in mess_ids(root, "missing_attachment_binaries"):
        response = call(api, "getattachmentfile", {"fileUploadEventId": upload_id})
        assert (
            assert_asapp_error(response, 404, "404-01")["message"] == f"Not Found: attachment '{upload_id}'"
        )
    for upload_id in mess_ids(root, "orphan_uploads"):
        answer = call(api, "getattachmentfile", {"fileUploadEventId": upload_id})
        assert answer.status_code == 200, answer.text
        assert httpx.get(answer.json()["url"]).content == (root / "_attachments" / upload_id).read_bytes()


def test_malformed_events_are_pulled_and_pushed_as_they_are(sandbox, api, root, receiver):
    window = manifest(root)["realtime_window"]
    listed = mess_ids(root, "malformed_events")
    logged = raw_realtime_events(root)
    sandbox.set_clock(window["start"])
    endpoint = sandbox.add_push_endpoint(receiver.url)
    try:
        sandbox.set_clock(datetime.fromisoformat(window["end"]) + timedelta(hours=1))
        pulled, cursor = [], None
        while True:
            page = api.get(
                "/realtime/v1/events", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
            ).json()
            pulled += page["events"]
            cursor = page["nextCursor"]
            if not page["hasMore"]:
                break
        assert pulled == logged, "every line, malformed ones included, in the log's order"
        deadline = time.monotonic() + 60
        while len(receiver.requests) < len(logged):
            assert time.monotonic() < deadline, f"pushed {len(receiver.requests)} of {len(logged)}"
            time.sleep(0.1)
        pushed = [orjson.loads(body) for _, _, body in receiver.requests]
        assert pushed == logged
        assert [pushed[number - 1] for number in listed] == [logged[number - 1] for number in listed]
    finally:
        sandbox.remove_push_endpoint(endpoint["id"])


@pytest.fixture(scope="module")
def without_summaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsappSandbox]:
    root = generate_into(
        tmp_path_factory.mktemp("asapp-no-summaries") / "dataset",
        seed=7,
        conversations=60,
        without_feeds=("autosummary_structured_data",),
    )
    end = datetime.fromisoformat(manifest(root)["realtime_window"]["end"]) + timedelta(days=2)
    with run_asapp_sandbox(root, clock=end) as running:
        yield running


@pytest.mark.parametrize(
    "endpoint",
    [
        "listfeedversions",
        "listfeedformats",
        "listfeeddates",
        "listfeedintervals",
        "listfeedfiles",
        "getfeedfile",
    ],
)
def test_a_feed_the_tenant_does_not_have_is_not_found(without_summaries, fileexporter_spec, endpoint):
    body = {
        "feed": "autosummary_structured_data",
        "version": "1",
        "format": "jsonl",
        "date": "2026-01-05",
        "interval": "hr=00/mi=00",
        "fileName": "autosummary_structured_data.jsonl",
    }
    with httpx.Client(base_url=without_summaries.api_url, headers=without_summaries.headers) as api:
        feeds = fileexporter_spec.check(call(api, "listfeeds", {})).json()["feeds"]
        assert "autosummary_structured_data" not in feeds and "convos_metadata" in feeds
        response = call(api, endpoint, body)
    error = assert_asapp_error(response, 404, "404-01")
    assert error["message"] == "Not Found: feed 'autosummary_structured_data'"
    fileexporter_spec.check(response)
    assert s3_keys(without_summaries, "autosummary_structured_data/") == set()
    assert s3_keys(without_summaries, "convos_metadata/")


def test_structured_data_of_a_tenant_without_the_feed_is_not_found(without_summaries):
    with httpx.Client(base_url=without_summaries.api_url, headers=without_summaries.headers) as api:
        response = api.post("/autosummary/v1/structured-data", json={"issueId": "21400001"})
    assert_asapp_error(response, 404, "404-01")
    assert json.loads(response.content)["error"]["message"].startswith("Not Found: structured data")
