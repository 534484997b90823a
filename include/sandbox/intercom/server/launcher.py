"""Start the Intercom sandbox in a subprocess for tests and the demo, and stop it cleanly.

    with run_intercom_sandbox(tmp_path / "intercom.json", search_delay=0) as intercom:
        httpx.get(f"{intercom.url}/me", headers=intercom.headers)
        intercom.seed({"contacts": [{"email": "ada@example.com"}]})

The server binds a free port chosen by the OS (no fixed ports: tests run side by side), and the
context manager returns once the sandbox answers. Leaving the block stops it with SIGTERM, which
persists every write; `crash()` kills it instead, to test what a crash keeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPOSITORY_ROOT = Path(__file__).resolve().parents[4]
START_TIMEOUT_SECONDS = 30.0
UNCHANGED = object()  # `configure` leaves a setting alone unless it is given
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class IntercomSandbox:
    """A running sandbox: where it is, how to authenticate, and its control endpoints."""

    url: str
    token: str
    state_file: Path
    process: subprocess.Popen
    log_file: Path
    tokens: list[str] = field(default_factory=list)  # every accepted token (each one private app)
    _control: httpx.Client = field(repr=False, default=None)

    def __post_init__(self):
        self._control = httpx.Client(base_url=self.url, timeout=30.0)
        self.tokens = self.tokens or [self.token]

    @property
    def headers(self) -> dict[str, str]:
        """What an Intercom client sends: bearer token, JSON, API version 2.16."""
        return self.headers_for(self.token)

    def headers_for(self, token: str) -> dict[str, str]:
        """The same headers for another of the accepted tokens (another app of the workspace)."""
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Intercom-Version": "2.16",
        }

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._control.request(method, f"/_sandbox/{path}", json=body, params=params or None)
        response.raise_for_status()
        return response.json()

    def export(self, include_file_data: bool = False) -> dict:
        """The whole workspace (every part of every conversation, what each tag tags, ...)."""
        return self._call("GET", "export", **({"include_file_data": "true"} if include_file_data else {}))

    def seed(self, workspace: dict) -> dict:
        """Add records shaped like `export()` (hand-written seeds may leave ids and timestamps out)."""
        return self._call("POST", "seed", workspace)

    def reset(self) -> None:
        self._call("POST", "reset")

    def flush(self) -> None:
        """Make every write so far durable now (the server also does it every flush interval)."""
        self._call("POST", "flush")

    def set_faults(self, **faults: Any) -> dict:
        """Replace the injected faults, e.g. set_faults(error_next=2, error_status=503); none clears them."""
        return self._call("PUT", "faults", faults)

    def configure(
        self,
        *,
        rate_limit_per_minute: Any = UNCHANGED,
        workspace_rate_limit_per_minute: Any = UNCHANGED,
        search_delay_seconds: Any = UNCHANGED,
    ) -> dict:
        """Change the per-token and/or workspace rate budgets (None or 0: off) and/or the search delay."""
        given = {
            "rate_limit_per_minute": rate_limit_per_minute,
            "workspace_rate_limit_per_minute": workspace_rate_limit_per_minute,
            "search_delay_seconds": search_delay_seconds,
        }
        return self._call(
            "PUT", "settings", {name: value for name, value in given.items() if value is not UNCHANGED}
        )

    def stats(self) -> dict:
        """Traffic per token and for the workspace: answers, 429s, what each 10-second window admitted."""
        return self._call("GET", "stats")

    def reset_stats(self) -> dict:
        return self._call("POST", "stats/reset")

    def add_admins(self, *admins: dict) -> list[dict]:
        """Add teammates ({"name", "email", ...}); Intercom's API cannot create admins."""
        return self._call("POST", "admins", {"admins": list(admins)})["admins"]

    def stop(self) -> None:
        """Graceful stop (SIGTERM): the workspace is fully persisted."""
        self._control.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def crash(self) -> None:
        """Kill the server (SIGKILL) without letting it persist anything more."""
        self._control.close()
        self.process.kill()
        self.process.wait()


def _command(state_file: Path, options: dict[str, Any]) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "include.sandbox.intercom",
        "serve",
        "--port",
        "0",
        "--state",
        str(state_file),
    ]
    flags = {
        "token": "--token",
        "rate_limit_per_minute": "--rate-limit-per-minute",
        "workspace_rate_limit_per_minute": "--workspace-rate-limit-per-minute",
        "search_delay": "--search-delay",
        "admins_file": "--admins",
        "flush_interval": "--flush-interval",
        "log_level": "--log-level",
    }
    unknown = set(options) - set(flags) - {"tokens"}
    if unknown:
        raise TypeError(f"unknown sandbox options: {', '.join(sorted(unknown))}")
    for token in _tokens(options):
        command += ["--token", token]
    for name, value in options.items():
        if name not in ("token", "tokens") and value is not None:
            command += [flags[name], str(value)]
    return command


def _tokens(options: dict[str, Any]) -> list[str]:
    """`token` first, then `tokens`, without repeats (empty: the server's default token)."""
    given = ([options["token"]] if options.get("token") else []) + list(options.get("tokens") or [])
    return list(dict.fromkeys(str(token) for token in given))


def start_intercom_sandbox(state_file: str | os.PathLike, **options: Any) -> IntercomSandbox:
    """Start a sandbox and wait until it answers; the caller must `stop()` it.

    Options: token or tokens=[...] (each token one private app; the first is `token`),
    rate_limit_per_minute (per token; 0 = off), workspace_rate_limit_per_minute (all tokens together;
    default 25,000, or off with rate_limit_per_minute=0; 0 = off), search_delay (seconds), admins_file,
    flush_interval (seconds), log_level.
    """
    state_file = Path(state_file)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    log_file = state_file.with_name(state_file.name + ".log")
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            _command(state_file, options),
            cwd=REPOSITORY_ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])
                ),
            },
        )
    first_line = process.stdout.readline()
    if not first_line:
        process.wait()
        raise RuntimeError(
            f"the Intercom sandbox did not start; see {log_file}:\n{log_file.read_text()[-3000:]}"
        )
    announced = json.loads(first_line)
    process.stdout.close()
    sandbox = IntercomSandbox(
        announced["url"], announced["token"], state_file, process, log_file, tokens=_tokens(options)
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            if httpx.get(f"{sandbox.url}/_sandbox/health", timeout=2.0).status_code == 200:
                return sandbox
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            sandbox.stop()
            raise RuntimeError(f"the Intercom sandbox never became ready; see {log_file}")
        time.sleep(0.05)


@contextlib.contextmanager
def run_intercom_sandbox(state_file: str | os.PathLike, **options: Any) -> Iterator[IntercomSandbox]:
    """A running sandbox for the duration of the block (see start_intercom_sandbox for options)."""
    sandbox = start_intercom_sandbox(state_file, **options)
    try:
        yield sandbox
    finally:
        sandbox.stop()
