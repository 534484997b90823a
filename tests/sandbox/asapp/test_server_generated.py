"""The server over a dataset made by the generator, started through the documented command."""

import gzip
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from include.sandbox.asapp.server.clock import parse_instant
from include.sandbox.asapp.server.launcher import REPO_ROOT, run_asapp_sandbox
from tests.sandbox.asapp.generated import rows_in

BASE = "/fileexporter/v1/static"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asapp-generated") / "dataset"
    command = [sys.executable, "-m", "include.sandbox.asapp", "generate", "--out", str(out)]
    subprocess.run(
        [*command, "--seed", "7", "--conversations", "60"], cwd=REPO_ROOT, check=True, capture_output=True
    )
    return out


@pytest.fixture(scope="module")
def manifest(generated: Path) -> dict:
    return json.loads((generated / "_manifest.json").read_text())


def test_documented_serve_command_prints_its_connection_line_first(generated, manifest, tmp_path):
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp",
        "serve",
        "--data",
        str(generated),
        "--port",
        "0",
    ]
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log)
    try:
        connection = json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    assert set(connection) == {"api_url", "s3_endpoint_url", "bucket", "api_id", "region"}
    assert connection["bucket"] == f"asapp-prod-{manifest['company']}-exports-us-east-1"
    assert connection["api_id"] == "sandbox-api-id"


def test_every_generated_row_and_event_can_be_read_back(generated, manifest):
    (truncated,) = manifest["mess"]["truncated_gzip"]
    # After the truncated file's re-delivery. This test reads as fast as it can; spike arrest (100/s by
    # default) is covered elsewhere.
    after = parse_instant(truncated["redelivered_at"]) + timedelta(hours=1)
    with run_asapp_sandbox(generated, clock=after, spike_rps=100_000) as sandbox:
        with (
            httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers) as api,
            httpx.Client() as downloads,
        ):
            rows = {
                feed: count_rows(api, downloads, feed, generated, manifest)
                for feed in call(api, "listfeeds", {})["feeds"]
            }
            assert rows == {feed: info["rows"] for feed, info in manifest["feeds"].items()}

            events, cursor = 0, None
            while True:
                page = api.get(
                    "/realtime/v1/events", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
                )
                events += len(page.json()["events"])
                cursor = page.json()["nextCursor"]
                if not page.json()["hasMore"]:
                    break
            assert events == manifest["realtime"]["lines"]  # duplicates included: at-least-once

        s3 = sandbox.s3_client()
        keys = [
            o["Key"]
            for p in s3.get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket)
            for o in p["Contents"]
        ]
        on_disk = [p for p in generated.glob("*/version=*/format=*/dt=*/hr=*/mi=*/*")]
        assert len(keys) == len(on_disk)


def call(api: httpx.Client, endpoint: str, body: dict) -> dict:
    response = api.post(f"{BASE}/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def count_rows(api: httpx.Client, downloads: httpx.Client, feed: str, root: Path, manifest: dict) -> int:
    """Good rows of every data file of a feed, found and fetched the way ASAPP documents (§10.8), skipping
    exactly what the manifest lists: unfinished partitions, files that are not the feed's data, extra
    lines."""
    rows = 0
    where = {"feed": feed, "version": "1", "format": "jsonl"}
    for date in call(api, "listfeeddates", where)["dates"]:
        for interval in call(api, "listfeedintervals", {**where, "date": date})["intervals"]:
            spot = {**where, "date": date, "interval": interval}
            prefix = f"{feed}/version=1/format=jsonl/dt={date}/{interval}"
            files = call(api, "listfeedfiles", spot)["files"]
            if prefix in manifest["mess"]["unpublished_partitions"]:
                assert "_SUCCESS" not in files
                continue
            assert files[-1] == "_SUCCESS"
            for name in files[:-1]:
                if f"{prefix}/{name}" in manifest["mess"]["non_data_files"]:
                    continue
                content = downloads.get(call(api, "getfeedfile", {**spot, "fileName": name})["url"]).content
                raw = gzip.decompress(content) if name.endswith(".gz") else content
                rows += len(rows_in(root, f"{prefix}/{name}", raw))
    return rows
