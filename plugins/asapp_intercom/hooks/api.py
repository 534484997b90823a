"""One HTTP session per hook, with the retry rules of the vendor behind it.

The HTTP provider's `HttpHook.run()` builds a new session (and re-reads the connection) on every
call; a migration makes millions of calls, so the hooks take one configured session from
`HttpHook.get_conn()` and send every request through `ApiSession`, which knows when to wait, when
to retry and when to give up.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)


_QUERY = re.compile(r"\?[^\s'\"]*")


def without_query(text: str) -> str:
    """Signed download URLs carry their credentials in the query string: never log or report it."""
    return _QUERY.sub("?…", text)


class ApiError(Exception):
    """A response the caller must handle: the vendor's status, error code and message."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None, retry_after=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


class AmbiguousWrite(ApiError):
    """A write sent once (Intercom cannot de-duplicate it) got no clear answer: a 5xx or a lost connection.
    It may or may not have happened; the caller looks at what the server holds before writing again."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before each retry; the last delay repeats until `attempts` runs out."""

    rate_limited: tuple[float, ...]
    server_error: tuple[float, ...]
    attempts: int = 8

    def delay(self, delays: tuple[float, ...], retry_number: int) -> float:
        base = delays[min(retry_number, len(delays) - 1)]
        return base * random.uniform(1.0, 1.25)  # jitter keeps parallel workers from retrying in step


@dataclass(frozen=True)
class Permit:
    """Leave to start one call: which of the limiter's credentials it is charged to, and the headers
    that say so (an Intercom token pool spreads calls over several apps)."""

    app: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class RateLimiter:
    """No limit of our own: wait only when the server says so. Subclasses pace calls."""

    def acquire(self) -> Permit:
        """Block until one more call may start."""
        return Permit()

    def observe(self, permit: Permit, response: requests.Response) -> float | None:
        """Learn from a response; return how long to wait before retrying a 429, if the server says."""
        return None

    def release(self, permit: Permit) -> None:
        """A call started with acquire() ended without a response (connection error, timeout)."""


class SteadyPace(RateLimiter):
    """At most `per_second` calls, evenly spaced, across all threads sharing it."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> Permit:
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self.sleep(start - now)
        return Permit()


class ApiSession:
    """Send requests on one session with the vendor's retry policy and error format."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        *,
        retry: RetryPolicy,
        parse_error: Callable[[requests.Response], ApiError],
        is_final: Callable[[ApiError], bool] = lambda error: False,
        limiter: RateLimiter | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.parse_error = parse_error
        self.is_final = is_final
        self.limiter = limiter or RateLimiter()
        self.timeout = timeout
        self.sleep = sleep
        self.calls = 0
        self.retries = 0
        self._count = threading.Lock()  # loader threads share one session

    def request(self, method: str, path: str, *, resend: bool = True, **kwargs: Any) -> requests.Response:
        """Return the first successful response; raise ApiError for a final failure.

        `resend=False` is for writes the server cannot de-duplicate (opening a conversation, a reply):
        after a 5xx or a lost connection such a write may have happened, so it is not sent again here;
        `AmbiguousWrite` goes up, and the caller finds out what was done before writing again. Only a
        429 or a connect timeout, which the server never acted on, is retried.
        """
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        kwargs.setdefault("timeout", self.timeout)
        rate_limited = server_errors = 0
        while True:
            permit = self.limiter.acquire()
            with self._count:
                self.calls += 1
            try:
                response = self.session.request(method, url, **self._with_headers(kwargs, permit))
            except BaseException as error:
                self.limiter.release(permit)
                if not isinstance(error, requests.ConnectionError | requests.Timeout):
                    raise
                never_arrived = isinstance(error, requests.ConnectTimeout)
                if not (resend or never_arrived):
                    raise AmbiguousWrite(0, "connection_error", without_query(str(error))) from error
                if server_errors + 1 >= self.retry.attempts:
                    raise ApiError(0, "connection_error", without_query(str(error))) from error
                wait = self.retry.delay(self.retry.server_error, server_errors)
                server_errors += 1
                self._note_retry(method, url, f"connection error ({error.__class__.__name__})", wait)
                continue
            server_wait = self.limiter.observe(permit, response)
            if response.status_code < 400:
                return response
            error = self.parse_error(response)
            if self.is_final(error):
                raise error
            if response.status_code == 429 and rate_limited + 1 < self.retry.attempts:
                wait = (
                    server_wait
                    if server_wait is not None
                    else self.retry.delay(self.retry.rate_limited, rate_limited)
                )
                rate_limited += 1
            elif response.status_code >= 500 and not resend:
                raise AmbiguousWrite(error.status, error.code, error.message, error.request_id) from None
            elif response.status_code >= 500 and server_errors + 1 < self.retry.attempts:
                wait = self.retry.delay(self.retry.server_error, server_errors)
                server_errors += 1
            else:
                raise error
            self._note_retry(method, url, f"{error.status} {error.code}", wait)

    @staticmethod
    def _with_headers(kwargs: dict[str, Any], permit: Permit) -> dict[str, Any]:
        if not permit.headers:
            return kwargs
        return {**kwargs, "headers": {**(kwargs.get("headers") or {}), **permit.headers}}

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def _note_retry(self, method: str, url: str, reason: str, wait: float) -> None:
        with self._count:
            self.retries += 1
        log.info("%s %s: %s; retrying in %.2f s", method, without_query(url), reason, wait)
        self.sleep(wait)
