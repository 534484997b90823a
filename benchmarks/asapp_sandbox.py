"""How fast the ASAPP sandbox server answers: prints figures, asserts nothing.

    .venv/bin/python benchmarks/asapp_sandbox.py [--data DIR] [--conversations 1000] [--workers 8]

Without --data it generates a dataset first. It measures server start-up, small-call latency and
throughput, a full File Exporter extract (list, sign and download every file) and the same files
read from the S3 endpoint, so a slow pipeline test can be told apart from a slow server.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.sandbox.asapp.server.launcher import run_asapp_sandbox  # noqa: E402

BASE = "/fileexporter/v1/static"
AFTER_EVERYTHING = "2100-01-01T00:00:00Z"  # every partition released


def generate(out: Path, conversations: int) -> None:
    command = [sys.executable, "-m", "include.sandbox.asapp", "generate", "--out", str(out)]
    subprocess.run([*command, "--conversations", str(conversations)], check=True, capture_output=True)


def small_calls(api: httpx.Client, count: int, workers: int) -> None:
    body = {"feed": "convos_metadata", "version": "1", "format": "jsonl"}
    api.post(f"{BASE}/listfeeddates", json=body)  # warm-up

    def timed(_: int) -> float:
        started = time.perf_counter()
        api.post(f"{BASE}/listfeeddates", json=body).raise_for_status()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        latencies = sorted(pool.map(timed, range(count)))
    elapsed = time.perf_counter() - started
    print(
        f"listfeeddates x{count} ({workers} threads): {count / elapsed:,.0f} req/s, "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {latencies[int(count * 0.99)] * 1000:.1f} ms"
    )


def file_exporter_extract(api: httpx.Client, downloads: httpx.Client, workers: int) -> None:
    """The routine extract: for every partition listfeedfiles, then getfeedfile + download per file.
    Downloads share one client without ASAPP headers (a fresh httpx client costs ~20 ms of TLS setup)."""
    requests, downloaded = 0, 0

    def post(endpoint: str, body: dict) -> dict:
        nonlocal requests
        requests += 1
        response = api.post(f"{BASE}/{endpoint}", json=body)
        response.raise_for_status()
        return response.json()

    started = time.perf_counter()
    wanted = []
    for feed in post("listfeeds", {})["feeds"]:
        where = {"feed": feed, "version": "1", "format": "jsonl"}
        for date in post("listfeeddates", where)["dates"]:
            for interval in post("listfeedintervals", {**where, "date": date})["intervals"]:
                spot = {**where, "date": date, "interval": interval}
                files = post("listfeedfiles", spot)["files"]
                wanted += [{**spot, "fileName": name} for name in files if name != "_SUCCESS"]

    def fetch(body: dict) -> int:
        url = post("getfeedfile", body)["url"]
        with downloads.stream("GET", url) as response:
            return sum(len(chunk) for chunk in response.iter_raw())

    with ThreadPoolExecutor(workers) as pool:
        downloaded = sum(pool.map(fetch, wanted))
    elapsed = time.perf_counter() - started
    print(
        f"File Exporter extract: {len(wanted)} files, {downloaded / 1e6:.1f} MB, {requests} API calls "
        f"in {elapsed:.2f} s ({downloaded / 1e6 / elapsed:.1f} MB/s, {requests / elapsed:,.0f} calls/s)"
    )


def s3_extract(sandbox, workers: int) -> None:
    s3 = sandbox.s3_client()
    started = time.perf_counter()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]

    def fetch(key: str) -> int:
        return len(s3.get_object(Bucket=sandbox.bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(workers) as pool:
        downloaded = sum(pool.map(fetch, keys))
    elapsed = time.perf_counter() - started
    print(
        f"S3 extract: {len(keys)} objects, {downloaded / 1e6:.1f} MB in {elapsed:.2f} s "
        f"({downloaded / 1e6 / elapsed:.1f} MB/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="dataset to serve (default: generate one)")
    parser.add_argument("--conversations", type=int, default=1000, help="size of a generated dataset")
    parser.add_argument("--workers", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--calls", type=int, default=3000, help="small calls for the latency figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            data = Path(scratch) / "dataset"
            started = time.perf_counter()
            generate(data, args.conversations)
            print(f"generated {args.conversations} conversations in {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        with run_asapp_sandbox(data, clock=AFTER_EVERYTHING, daily_cap=10**9, spike_rps=10**6) as sandbox:
            print(f"server ready (API and S3 answering) in {time.perf_counter() - started:.2f} s")
            limits = httpx.Limits(max_connections=args.workers, max_keepalive_connections=args.workers)
            with (
                httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers, limits=limits) as api,
                httpx.Client(limits=limits) as downloads,
            ):
                small_calls(api, args.calls, args.workers)
                file_exporter_extract(api, downloads, args.workers)
            s3_extract(sandbox, args.workers)


if __name__ == "__main__":
    main()
