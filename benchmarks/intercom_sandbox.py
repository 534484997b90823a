"""How fast the Intercom sandbox answers, and how it holds several apps to Intercom's limits: prints
figures, asserts nothing.

    .venv/bin/python benchmarks/intercom_sandbox.py [--seconds 10] [--concurrency 64] [--clients 2]
        [--limited-seconds 20] [--apps 3]

Drives a mix of GET /me and POST /contacts (half each, every contact new) from async aiohttp clients
in `--clients` processes, then reports end-to-end requests/s and latencies, and the server's own
capacity: requests per second of server CPU time (what one core of the sandbox can answer, with the
client's cost taken out). Also times start-up and a 500-part conversation read.

Then, with Intercom's limits on (10,000/min per app, 25,000/min per workspace, in 10-second windows),
`--apps` client processes, one token each, drive the same mix as fast as they can for
`--limited-seconds`; GET /_sandbox/stats then shows what every window admitted per app and for the
workspace, how many windows went over a limit (none may) and the admitted rate achieved.
"""

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.sandbox.intercom.server.launcher import run_intercom_sandbox  # noqa: E402


async def _drive(
    url: str, headers: dict, seconds: float, concurrency: int, worker: int, allow_429: bool = False
) -> list[float]:
    """Run the GET /me + POST /contacts mix for `seconds`; returns the latency of every answered call.

    aiohttp rather than httpx: httpx's async client tops out near 600 req/s per core, which would
    measure the client instead of the sandbox.
    """
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, headers=headers, connector=connector) as session:

        async def loop(lane: int) -> None:
            sequence = 0
            while time.perf_counter() < deadline:
                sequence += 1
                started = time.perf_counter()
                if sequence % 2:
                    request = session.get("/me")
                else:
                    email = f"bench.{worker}.{lane}.{sequence}@example.com"
                    request = session.post("/contacts", json={"email": email, "name": "Bench"})
                async with request as response:
                    await response.read()
                    if response.status != 200 and not (allow_429 and response.status == 429):
                        raise RuntimeError(f"unexpected {response.status}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(loop(lane) for lane in range(concurrency)))
    return latencies


def _client_process(
    url: str, headers: dict, seconds: float, concurrency: int, worker: int, results, allow_429: bool = False
) -> None:
    results.put(asyncio.run(_drive(url, headers, seconds, concurrency, worker, allow_429)))


def throughput(
    url: str, headers: dict, server_pid: int, seconds: float, concurrency: int, clients: int
) -> None:
    server = psutil.Process(server_pid)
    results = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=_client_process, args=(url, headers, seconds, concurrency, worker, results)
        )
        for worker in range(clients)
    ]
    cpu_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    for process in processes:
        process.start()
    latencies = sorted(latency for _ in processes for latency in results.get())
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    server_cpu = sum(server.cpu_times()[:2]) - cpu_before
    count = len(latencies)
    print(
        f"GET /me + POST /contacts mix, {clients} client processes x {concurrency} concurrent, "
        f"{seconds:.0f} s: {count:,} requests"
    )
    print(f"  end to end       {count / elapsed:,.0f} req/s (client and server share {os.cpu_count()} cores)")
    print(
        f"  latency          p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(count * 0.99)] * 1000:.1f} ms"
    )
    print(f"  server CPU       {server_cpu:.1f} s for {count:,} requests")
    print(f"  server capacity  {count / server_cpu:,.0f} req/s per core of server CPU")


def limited(sandbox, seconds: float, concurrency: int) -> None:
    """Every app (token) as fast as it can against Intercom's per-app and per-workspace limits."""
    window_end = (int(time.time()) // 10 + 1) * 10
    time.sleep(window_end - time.time() + 0.01)  # start with a window, so whole windows are measured
    sandbox.reset_stats()
    results = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=_client_process,
            args=(sandbox.url, sandbox.headers_for(token), seconds, concurrency, worker, results, True),
        )
        for worker, token in enumerate(sandbox.tokens)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    answered = sum(len(results.get()) for _ in processes)
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    stats = sandbox.stats()
    limits = stats["limits"]
    print(
        f"Limits on: {len(sandbox.tokens)} apps x {concurrency} concurrent, {seconds:.0f} s, "
        f"{limits['token_per_window']:,} per app and {limits['workspace_per_window']:,} per workspace "
        f"per 10 s window: {answered:,} answers"
    )
    meters = [(f"app {app['app']}", app) for app in stats["tokens"]] + [("workspace", stats["workspace"])]
    for label, meter in meters:
        windows = meter["windows"] + ([meter["current_window"]] if meter["current_window"] else [])
        full = [window["admitted"] for window in meter["windows"]]
        print(
            f"  {label:<10} admitted {meter['admitted']:>7,}  429s {meter['rate_limited']:>7,}  "
            f"windows {len(windows)} (over the limit: {meter['windows_over_limit']})  "
            f"max admitted in a window {meter['max_admitted_in_a_window']:,}  "
            f"admitted {meter['admitted'] / elapsed:,.0f} req/s"
            + (f" ({statistics.mean(full) / 10:,.0f} req/s over finished windows)" if full else "")
        )


def large_conversation_read(sandbox) -> None:
    """A conversation with 600 parts read back (the response carries the 500 newest)."""
    with httpx.Client(base_url=sandbox.url, headers=sandbox.headers, timeout=30) as api:
        contact = api.post("/contacts", json={"email": "bench.reader@example.com"}).json()
        message = api.post(
            "/conversations", json={"from": {"type": "user", "id": contact["id"]}, "body": "start"}
        )
        conversation_id = message.json()["conversation_id"]
        admin_id = api.get("/me").json()["id"]
        conversation = next(
            item for item in sandbox.export()["conversations"] if item["id"] == conversation_id
        )
        author = {"type": "admin", "id": admin_id, "name": "Bench", "email": "bench@example.com"}
        conversation["parts"] = [
            {
                "id": str(8_000_000_000 + index),
                "part_type": "comment",
                "body": f"<p>part {index}</p>",
                "created_at": 1_600_000_000 + index,
                "updated_at": 1_600_000_000 + index,
                "author": author,
                "attachment_ids": [],
                "assigned_to": None,
            }
            for index in range(600)
        ]
        sandbox.seed({"conversations": [conversation]})
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            api.get(f"/conversations/{conversation_id}").raise_for_status()
            timings.append(time.perf_counter() - started)
        print(f"GET /conversations/{{id}} with 600 parts: median {statistics.median(timings) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent requests per client process")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--limited-seconds", type=float, default=20.0, help="0 skips the limited run")
    parser.add_argument("--apps", type=int, default=3, help="apps (tokens) in the limited run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        with run_intercom_sandbox(Path(directory) / "bench.json", rate_limit_per_minute=0) as sandbox:
            print(f"start-up (process start to first answer): {time.perf_counter() - started:.2f} s")
            throughput(
                sandbox.url,
                sandbox.headers,
                sandbox.process.pid,
                args.seconds,
                args.concurrency,
                args.clients,
            )
            large_conversation_read(sandbox)
        if args.limited_seconds:
            tokens = [f"bench-app-{number}" for number in range(1, args.apps + 1)]
            with run_intercom_sandbox(Path(directory) / "limited.json", tokens=tokens) as sandbox:
                limited(sandbox, args.limited_seconds, args.concurrency)


if __name__ == "__main__":
    main()
