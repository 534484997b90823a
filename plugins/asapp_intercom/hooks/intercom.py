"""Intercom REST API (version 2.16) through an `intercom` connection.

The connection's host is the API URL (https://api.intercom.io, or a regional or sandbox URL) and
its password the access token. The token only ever travels in the Authorization header.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook
from requests.adapters import HTTPAdapter

from asapp_intercom.hooks.api import ApiError, ApiSession, RateLimiter, RetryPolicy
from asapp_intercom.provider import INTERCOM_FORM

INTERCOM_VERSION = "2.16"
WINDOW_SECONDS = 10
"""Intercom spreads its per-minute limit over fixed 10-second windows."""

RETRY = RetryPolicy(rate_limited=(1, 2, 5, 10), server_error=(0.5, 1, 2, 4, 8, 15), attempts=10)


class IntercomWindowLimiter(RateLimiter):
    """Start at most the window's budget of calls in each 10-second window, never more.

    The budget is the smaller of our share (requests_per_minute / 6) and the server's
    X-RateLimit-Limit. The server's own count (limit - remaining) wins when it is higher, which
    happens when other apps share the workspace's budget. Calls still in flight when a window
    rolls over are charged to the new one, since that is where the server will count them.
    """

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.share = max(1, requests_per_minute * WINDOW_SECONDS // 60)
        self.server_limit: int | None = None
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._window_end: float | None = None
        self._used = 0
        self._in_flight = 0
        self.waited_seconds = 0.0

    @property
    def budget(self) -> int:
        return min(self.share, self.server_limit) if self.server_limit else self.share

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                if self._window_end is None or now >= self._window_end:
                    self._roll(now)
                if self._used < self.budget:
                    self._used += 1
                    self._in_flight += 1
                    return
                wait = self._window_end - now
            self.waited_seconds += wait
            self.sleep(wait)

    def _roll(self, now: float) -> None:
        if self._window_end is None:
            self._window_end = now + WINDOW_SECONDS
        else:
            elapsed_windows = math.floor((now - self._window_end) / WINDOW_SECONDS) + 1
            self._window_end += elapsed_windows * WINDOW_SECONDS
        self._used = self._in_flight

    def release(self) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def observe(self, response: requests.Response) -> float | None:
        headers = response.headers
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            try:
                limit = int(headers["X-RateLimit-Limit"])
                remaining = int(headers["X-RateLimit-Remaining"])
                reset = float(headers["X-RateLimit-Reset"])
            except (KeyError, ValueError):
                return None
            self.server_limit = limit
            if self._window_end is None or reset > self._window_end + 0.5:
                self._window_end = reset
                self._used = max(limit - remaining, self._in_flight)
            elif abs(reset - self._window_end) <= 0.5:
                self._used = max(self._used, limit - remaining)
            if response.status_code == 429:
                self._used = max(self._used, limit)
                return max(0.0, reset - self.clock()) + 0.05
        return None


def parse_intercom_error(response: requests.Response) -> ApiError:
    """Intercom answers errors as {"type": "error.list", "request_id", "errors": [{code, message}]}."""
    try:
        body = response.json()
        first = body["errors"][0]
        return ApiError(response.status_code, first.get("code", "unknown"), first.get("message", ""),
                        body.get("request_id"))
    except (ValueError, KeyError, IndexError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:300] or response.reason)


class IntercomHook(HttpHook):
    """Talks to one Intercom workspace; thread-safe, so a loader can share it across workers."""

    conn_name_attr = "intercom_conn_id"
    default_conn_name = "intercom_default"
    conn_type = "intercom"
    hook_name = "Intercom"
    default_host = "https://api.intercom.io"

    def __init__(
        self,
        intercom_conn_id: str = default_conn_name,
        *,
        requests_per_minute: int = 10_000,
        concurrency: int = 8,
    ):
        super().__init__(
            method="GET",
            http_conn_id=intercom_conn_id,
            adapter=HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 4), max_retries=0),
        )
        self.limiter = IntercomWindowLimiter(requests_per_minute)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return INTERCOM_FORM

    def _configure_session_from_auth(self, session: requests.Session, connection) -> requests.Session:
        if not connection.password:
            raise ValueError(f"Connection {self.http_conn_id!r} has no access token (password)")
        session.auth = None
        session.headers.update({
            "Authorization": f"Bearer {connection.password}",
            "Intercom-Version": INTERCOM_VERSION,
            "Accept": "application/json",
        })
        return session

    @cached_property
    def api(self) -> ApiSession:
        session = self.get_conn()
        return ApiSession(session, self.base_url, retry=RETRY, parse_error=parse_intercom_error,
                          limiter=self.limiter)

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None, *,
             resend: bool = True) -> Any:
        """One API call; `resend=False` for writes Intercom cannot de-duplicate (see ApiSession.request)."""
        return self.api.json(method, path, json=body, params=params, resend=resend)

    def search(self, model: str, query: dict, per_page: int = 150) -> Iterator[dict]:
        """POST /{model}/search with paging in the body, as Intercom requires."""
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": per_page}}
        key = "data" if model == "contacts" else "conversations"
        while True:
            page = self.call("POST", f"/{model}/search", body)
            yield from page.get(key) or page.get("data") or []
            cursor = ((page.get("pages") or {}).get("next") or {}).get("starting_after")
            if not cursor:
                return
            body["pagination"]["starting_after"] = cursor

    def test_connection(self) -> tuple[bool, str]:
        try:
            me = self.call("GET", "/me")
        except (ApiError, ValueError) as error:
            return False, str(error)
        return True, f"Connected as {me.get('email')} to workspace {me.get('app', {}).get('name')}"
