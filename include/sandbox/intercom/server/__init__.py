"""The Intercom sandbox server: `serve` runs it with uvicorn (uvloop + httptools) on one port.

    python -m include.sandbox.intercom serve --port 8102 --state FILE

The core lives here (app, routing, spec, store, workspace, settings, ratelimit, faults, control,
launcher); the Intercom resources it serves are in include.sandbox.intercom.resources.

The socket is bound before anything is printed, so the JSON line {"url", "token"} on stdout is a
promise: the URL accepts connections from that moment (with `--port 0` the OS picks a free port and
the line tells which). Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
from pathlib import Path

from include.sandbox.intercom.server.ratelimit import DEFAULT_PER_MINUTE, DEFAULT_WORKSPACE_PER_MINUTE
from include.sandbox.intercom.server.settings import (
    DEFAULT_FLUSH_INTERVAL_SECONDS,
    DEFAULT_SEARCH_DELAY_SECONDS,
    DEFAULT_TOKEN,
    Settings,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102, help="0 picks a free port (see the printed URL)")
    parser.add_argument("--state", required=True, type=Path, help="state file (created if missing)")
    parser.add_argument(
        "--token",
        action="append",
        help=f"accepted bearer token; repeat for several (default {DEFAULT_TOKEN})",
    )
    parser.add_argument(
        "--rate-limit-per-minute",
        type=int,
        default=DEFAULT_PER_MINUTE,
        help="per-token (per-app) budget, enforced per 10 s window (budget/6); 0 turns limiting off",
    )
    parser.add_argument(
        "--workspace-rate-limit-per-minute",
        type=int,
        default=None,
        help="budget of all tokens together, per 10 s window (budget/6); default "
        f"{DEFAULT_WORKSPACE_PER_MINUTE}, or off when --rate-limit-per-minute is 0; 0 turns it off",
    )
    parser.add_argument(
        "--search-delay",
        type=float,
        default=DEFAULT_SEARCH_DELAY_SECONDS,
        help="seconds before a write is searchable",
    )
    parser.add_argument(
        "--admins", type=Path, help='JSON file of teammates: [{"name", "email", ...}] or {"admins": [...]}'
    )
    parser.add_argument(
        "--flush-interval",
        type=float,
        default=DEFAULT_FLUSH_INTERVAL_SECONDS,
        help="seconds between journal fsyncs",
    )
    parser.add_argument("--log-level", default="warning")


def _workspace_limit(args: argparse.Namespace) -> int | None:
    """Unless given, the workspace budget is Intercom's 25,000/min, or off with per-app limiting off (so
    that `--rate-limit-per-minute 0` still means "no rate limiting", e.g. for benchmarks)."""
    if args.workspace_rate_limit_per_minute is not None:
        return args.workspace_rate_limit_per_minute or None
    return DEFAULT_WORKSPACE_PER_MINUTE if args.rate_limit_per_minute else None


def _admins_from(path: Path | None) -> list[dict]:
    if path is None:
        return []
    data = json.loads(path.read_text())
    return data["admins"] if isinstance(data, dict) else data


def run(args: argparse.Namespace) -> None:
    import uvicorn  # the server's dependencies load only when serving (not for the launcher)

    from include.sandbox.intercom.server.app import SandboxApp
    from include.sandbox.intercom.server.sandbox import Sandbox

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    tokens = tuple(dict.fromkeys(args.token or [DEFAULT_TOKEN]))  # each token is one private app
    settings = Settings(
        tokens=tokens,
        rate_limit_per_minute=args.rate_limit_per_minute or None,
        workspace_rate_limit_per_minute=_workspace_limit(args),
        search_delay_seconds=args.search_delay,
        flush_interval_seconds=args.flush_interval,
        admins=_admins_from(args.admins),
    )
    sandbox = Sandbox(args.state, settings)
    listener = socket.create_server((args.host, args.port), backlog=2048)
    # Accepted connections inherit this: without it, a response written as headers then body waits
    # for the client's delayed ACK (Nagle), adding ~40 ms to every call.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(
        SandboxApp(sandbox),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    print(json.dumps({"url": f"http://{host}:{port}", "token": tokens[0]}), flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))
