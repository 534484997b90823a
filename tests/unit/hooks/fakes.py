"""A fake clock and HTTP session for the hooks' tests: no network, no real waiting.

The HTTP session answers with canned `requests.Response` objects, since what is under test is
when ApiSession waits, retries or gives up, not HTTP itself.
"""

import json

import requests
from asapp_intercom.hooks.api import ApiSession, RateLimiter, RetryPolicy
from asapp_intercom.hooks.budget import Limits, MemoryStore, SharedBudget
from asapp_intercom.hooks.intercom import parse_intercom_error
from requests.structures import CaseInsensitiveDict

T0 = 1_767_621_730.0


class FakeClock:
    """time.time and time.sleep for code under test: sleeping moves the clock, and is recorded."""

    def __init__(self, now: float = T0, patience: float = 3600.0):
        self.now = now
        self.sleeps: list[float] = []
        self.patience = patience

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if sum(self.sleeps) > self.patience:
            raise RuntimeError(f"waited more than {self.patience} s in total: {self.sleeps[:5]}…")


class FakeSession:
    """Answers each request with the next canned outcome (a response, or an exception to raise)."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.requests: list[tuple[str, str, dict]] = []

    def request(self, method, url, **kwargs):
        self.requests.append((method, url, kwargs))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def response(
    status: int,
    body: object = None,
    *,
    text: str | None = None,
    headers: dict | None = None,
    reason: str = "",
) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.reason = reason
    answer._content = (text if text is not None else "" if body is None else json.dumps(body)).encode()
    answer.headers = CaseInsensitiveDict(headers or {})
    return answer


def budget(
    per_minute: int,
    clock: FakeClock,
    *,
    tokens=("unit-token",),
    workspace_per_minute: int = 1_000_000,
    store=None,
) -> SharedBudget:
    """A budget of `per_minute` per app (and for the migration), on the fake clock, in this process."""
    return SharedBudget(
        list(tokens),
        store=store or MemoryStore(),
        limits=Limits(per_minute, per_minute, workspace_per_minute),
        clock=clock,
        sleep=clock.sleep,
    )


def rate_headers(limit: int, remaining: int, reset: float) -> dict:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def api_session(
    session: FakeSession,
    clock: FakeClock,
    *,
    attempts: int = 4,
    limiter: RateLimiter | None = None,
    **options,
) -> ApiSession:
    policy = RetryPolicy(rate_limited=(1, 2, 4), server_error=(0.25, 0.5, 1.0), attempts=attempts)
    return ApiSession(
        session,
        "https://api.example.test/",
        retry=policy,
        parse_error=parse_intercom_error,
        limiter=limiter,
        sleep=clock.sleep,
        **options,
    )


def intercom_error(status: int, code: str, message: str = "") -> requests.Response:
    return response(
        status, {"type": "error.list", "request_id": "req-1", "errors": [{"code": code, "message": message}]}
    )


def asapp_error(status: int, code: str, message: str, **headers) -> requests.Response:
    return response(
        status,
        {"error": {"requestId": "8e033668-9f1a-11ec-b909-0242ac120002", "code": code, "message": message}},
        headers=headers,
    )
