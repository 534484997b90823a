"""Run an ASAPP sandbox server in a subprocess, for tests and the demo.

    with run_asapp_sandbox(data_dir, clock="2024-05-02T03:00:00Z", daily_cap=50) as sandbox:
        httpx.post(f"{sandbox.api_url}/fileexporter/v1/static/listfeeds", headers=sandbox.headers, json={})

Options are the `serve` flags as keyword arguments (daily_cap=50 -> --daily-cap 50). Ports are free
ones picked by the OS. The server and anything it started are stopped on exit.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from . import DEFAULT_API_ID, DEFAULT_API_SECRET
from .clock import parse_instant

REPO_ROOT = Path(__file__).resolve().parents[4]


@dataclass
class AsappSandbox:
    api_url: str
    s3_endpoint_url: str
    bucket: str
    api_id: str
    api_secret: str
    region: str
    log_path: Path
    process: subprocess.Popen

    @property
    def headers(self) -> dict[str, str]:
        """The two ASAPP auth headers for this sandbox's key."""
        return {"asapp-api-id": self.api_id, "asapp-api-secret": self.api_secret}

    def aws_connection(self) -> dict[str, Any]:
        """An Airflow `aws` connection for the export bucket (serialise it into AIRFLOW_CONN_<ID>).
        moto accepts any key pair; these say where they belong."""
        return {
            "conn_type": "aws",
            "login": "asapp-sandbox",
            "password": "asapp-sandbox",
            "extra": {"endpoint_url": self.s3_endpoint_url, "region_name": self.region},
        }

    def s3_client(self):
        """A boto3 client of the sandbox's S3 server (moto: any key pair is accepted)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint_url,
            region_name=self.region,
            aws_access_key_id="asapp-sandbox",
            aws_secret_access_key="asapp-sandbox",
        )

    def clock(self) -> datetime:
        return parse_instant(self._admin("GET", "clock")["now"])

    def set_clock(self, moment: datetime | str) -> datetime:
        text = moment.isoformat() if isinstance(moment, datetime) else moment
        return parse_instant(self._admin("PUT", "clock", {"now": text})["now"])

    def advance_clock(self, seconds: float) -> datetime:
        return parse_instant(self._admin("PUT", "clock", {"advance_seconds": seconds})["now"])

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change some fault settings (error_rate, endpoint_error_rates, slow_ms, partial_partitions,
        expire_urls); returns all of them."""
        return self._admin("PUT", "faults", settings)

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults(
            error_rate=0, endpoint_error_rates={}, slow_ms=0, partial_partitions=False, expire_urls=False
        )

    def revoke_key(self, api_id: str | None = None) -> None:
        self._admin("POST", f"keys/{api_id or self.api_id}/revoke")

    def restore_key(self, api_id: str | None = None) -> None:
        self._admin("POST", f"keys/{api_id or self.api_id}/restore")

    def add_push_endpoint(self, url: str, **config: Any) -> dict[str, Any]:
        """config: timeout_ms, retries, event_list, headers, hmac_secret. Returns the endpoint with its id."""
        return self._admin("POST", "push-endpoints", {"url": url, **config})

    def remove_push_endpoint(self, endpoint_id: str) -> None:
        self._admin("DELETE", f"push-endpoints/{endpoint_id}")

    def append_events(self, envelopes: list[dict[str, Any]]) -> int:
        return self._admin("POST", "events", envelopes)["appended"]

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    def reset_configuration(self) -> None:
        """Structured-data fields and segments back to the dataset's."""
        self._admin("POST", "configuration/reset")

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        content = None if body is None else orjson.dumps(body)
        response = httpx.request(method, f"{self.api_url}/_sim/admin/{path}", content=content, timeout=30)
        response.raise_for_status()
        return response.json()


@contextlib.contextmanager
def run_asapp_sandbox(
    data_dir: str | os.PathLike, startup_timeout: float = 60, **options: Any
) -> Iterator[AsappSandbox]:
    options.setdefault("api_id", DEFAULT_API_ID)
    options.setdefault("api_secret", DEFAULT_API_SECRET)
    options.setdefault("port", 0)
    workdir = Path(tempfile.mkdtemp(prefix="asapp-sandbox-"))
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp.server",
        "--data",
        str(data_dir),
        *_flags(options),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with open(workdir / "stdout", "wb") as stdout, open(workdir / "server.log", "wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    try:
        connection = _wait_for_connection_line(process, workdir, startup_timeout)
        sandbox = AsappSandbox(
            api_url=connection["api_url"],
            s3_endpoint_url=connection["s3_endpoint_url"],
            bucket=connection["bucket"],
            api_id=connection["api_id"],
            api_secret=options["api_secret"],
            region=connection["region"],
            log_path=workdir / "server.log",
            process=process,
        )
        _wait_until_answering(sandbox, startup_timeout)
        yield sandbox
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _flags(options: dict[str, Any]) -> list[str]:
    flags = []
    for name, value in options.items():
        if value is not None:
            flags += [
                f"--{name.replace('_', '-')}",
                value.isoformat() if isinstance(value, datetime) else str(value),
            ]
    return flags


def _wait_for_connection_line(process: subprocess.Popen, workdir: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        first_line, newline, _ = (workdir / "stdout").read_bytes().partition(b"\n")
        if newline:
            return orjson.loads(first_line)
        if process.poll() is not None:
            raise RuntimeError(
                f"ASAPP sandbox exited with {process.returncode}:\n{_tail(workdir / 'server.log')}"
            )
        time.sleep(0.05)
    raise TimeoutError(f"ASAPP sandbox did not start in {timeout} s:\n{_tail(workdir / 'server.log')}")


def _wait_until_answering(sandbox: AsappSandbox, timeout: float) -> None:
    """Both the API (its admin clock, which costs no quota) and the S3 bucket must answer."""
    deadline = time.monotonic() + timeout
    probes = [f"{sandbox.api_url}/_sim/admin/clock", f"{sandbox.s3_endpoint_url}/{sandbox.bucket}"]
    while probes:
        try:
            if httpx.get(probes[0], timeout=2).status_code == 200:
                probes.pop(0)
                continue
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or sandbox.process.poll() is not None:
            raise RuntimeError(f"ASAPP sandbox is not answering {probes[0]}:\n{_tail(sandbox.log_path)}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (a graceful uvicorn shutdown), SIGKILL it if that hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
