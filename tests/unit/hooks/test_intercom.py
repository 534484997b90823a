"""The Intercom hook: its 10-second window limiter and how it reads Intercom's errors, on a fake clock."""

import random

import pytest
from asapp_intercom.hooks.asapp import parse_asapp_error
from asapp_intercom.hooks.intercom import IntercomWindowLimiter, parse_intercom_error

from tests.unit.hooks.fakes import (
    T0,
    FakeClock,
    FakeSession,
    intercom_error,
    rate_headers,
    response,
)


def calls_before_waiting(limiter: IntercomWindowLimiter, clock: FakeClock, most: int = 10_000) -> int:
    """How many calls (each answered at once) start right away before the limiter first makes one wait."""
    for started in range(most):
        limiter.acquire()
        limiter.observe(response(200))
        if clock.sleeps:
            return started
    raise AssertionError(f"more than {most} calls started without waiting")


@pytest.mark.parametrize(("per_minute", "per_window"), [(10_000, 1666), (600, 100), (100, 16), (3, 1)])
def test_the_window_budget_is_the_per_minute_share_spread_over_six_windows(per_minute, per_window):
    assert IntercomWindowLimiter(per_minute).budget == per_window


def test_the_whole_budget_starts_at_once_and_the_next_call_waits_for_the_next_window(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)

    assert calls_before_waiting(limiter, clock) == 100
    assert clock.sleeps == [pytest.approx(10.0)]
    assert limiter.waited_seconds == pytest.approx(10.0)


def test_a_long_run_never_starts_more_than_the_budget_in_a_window_and_fills_each_one(clock):
    limiter = IntercomWindowLimiter(120, clock=clock, sleep=clock.sleep)
    pace = random.Random(3)
    started = []
    for _ in range(500):
        limiter.acquire()
        started.append(clock.now)
        clock.now += pace.uniform(0, 0.05)  # the call's own duration
        limiter.observe(response(200))

    per_window: dict[int, int] = {}
    for moment in started:
        window = int((moment - started[0]) // 10)
        per_window[window] = per_window.get(window, 0) + 1
    *full, last = [per_window[window] for window in sorted(per_window)]
    assert full == [20] * len(full)
    assert 0 < last <= 20


def test_the_server_limit_tightens_the_budget(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(response(200, headers=rate_headers(limit=5, remaining=4, reset=T0 + 10)))

    assert limiter.budget == 5
    assert calls_before_waiting(limiter, clock) == 4


def test_calls_other_apps_made_in_the_window_are_taken_off_the_budget(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(response(200, headers=rate_headers(limit=100, remaining=10, reset=T0 + 10)))

    assert calls_before_waiting(limiter, clock) == 10


def test_the_servers_later_window_is_adopted(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(response(200, headers=rate_headers(limit=100, remaining=97, reset=T0 + 13)))

    assert calls_before_waiting(limiter, clock) == 97
    assert clock.now == pytest.approx(T0 + 13)


def test_a_late_answer_from_the_previous_window_does_not_reset_the_count(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        limiter.acquire()
    limiter.observe(response(200, headers=rate_headers(limit=100, remaining=99, reset=T0 - 4)))

    assert calls_before_waiting(limiter, clock) == 40


def test_a_429_returns_the_wait_until_the_server_resets_and_blocks_the_window(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 6

    wait = limiter.observe(response(429, headers=rate_headers(limit=100, remaining=0, reset=T0 + 10)))

    assert wait == pytest.approx(4.0, abs=0.1)
    assert calls_before_waiting(limiter, clock) == 0
    assert clock.now == pytest.approx(T0 + 10)


def test_a_429_without_rate_headers_leaves_the_wait_to_the_retry_policy(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    assert limiter.observe(response(429, headers={"X-RateLimit-Limit": "many"})) is None


def test_calls_in_flight_at_a_rollover_are_charged_to_the_new_window(clock):
    limiter = IntercomWindowLimiter(18, clock=clock, sleep=clock.sleep)  # 3 per window
    for _ in range(3):
        limiter.acquire()
    limiter.observe(response(200))  # one answered; two still in flight
    clock.now = T0 + 10

    assert calls_before_waiting(limiter, clock) == 1
    assert clock.now == pytest.approx(T0 + 20)


def test_an_idle_gap_of_several_windows_starts_a_fresh_window(clock):
    limiter = IntercomWindowLimiter(60, clock=clock, sleep=clock.sleep)  # 10 per window
    for _ in range(10):
        limiter.acquire()
        limiter.observe(response(200))
    clock.now = T0 + 47

    assert calls_before_waiting(limiter, clock) == 10
    assert clock.now == pytest.approx(T0 + 50)


def test_intercom_429_is_retried_when_the_window_resets(intercom_api, clock):
    intercom_api.session = FakeSession(
        response(
            429,
            intercom_error(429, "rate_limit_exceeded", "Exceeded rate limit of 100 in 10_seconds").json(),
            headers=rate_headers(limit=100, remaining=0, reset=T0 + 10),
        ),
        response(200, {"type": "admin"}, headers=rate_headers(limit=100, remaining=99, reset=T0 + 20)),
    )

    assert intercom_api.json("GET", "/me") == {"type": "admin"}
    assert clock.now == pytest.approx(T0 + 10, abs=0.1)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {
                "type": "error.list",
                "request_id": "e097e446-9ae6-44a8-8e13-2bf3008b87ef",
                "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}],
            },
            ("unauthorized", "Access Token Invalid", "e097e446-9ae6-44a8-8e13-2bf3008b87ef"),
        ),
        (
            429,
            {
                "type": "error.list",
                "request_id": "b68959ea-6328-4f70-83cb-e7913dba1542",
                "errors": [
                    {
                        "code": "rate_limit_exceeded",
                        "message": "Exceeded rate limit of 5 pending reporting dataset export jobs",
                    }
                ],
            },
            (
                "rate_limit_exceeded",
                "Exceeded rate limit of 5 pending reporting dataset export jobs",
                "b68959ea-6328-4f70-83cb-e7913dba1542",
            ),
        ),
        (
            404,
            {
                "type": "error.list",
                "request_id": None,
                "errors": [
                    {
                        "code": "conversation_attribute_not_found",
                        "message": "Conversation attribute not found",
                    }
                ],
            },
            ("conversation_attribute_not_found", "Conversation attribute not found", None),
        ),
        (
            409,
            {
                "type": "error.list",
                "request_id": "r-9",
                "errors": [
                    {
                        "code": "conflict",
                        "message": "A contact matching those details already exists with id=6657add46abd",
                    },
                    {"code": "second", "message": "ignored"},
                ],
            },
            ("conflict", "A contact matching those details already exists with id=6657add46abd", "r-9"),
        ),
        (
            400,
            {
                "type": "error.list",
                "request_id": "r-1",
                "errors": [{"code": "parameter_invalid", "field": "email"}],
            },
            ("parameter_invalid", "", "r-1"),
        ),
    ],
    ids=["401 from the spec", "429 from the spec", "null request id", "409 duplicate contact", "code only"],
)
def test_intercom_error_lists_are_read_for_status_code_message_and_request(status, body, expected):
    error = parse_intercom_error(response(status, body))
    assert (error.status, error.code, error.message, error.request_id) == (status, *expected)


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        (
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "Bad Gateway",
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        ("", "Bad Gateway", "Bad Gateway"),
        ('{"message": "upstream timeout"}', "Gateway Timeout", '{"message": "upstream timeout"}'),
        ('{"type": "error.list", "errors": []}', "Bad Request", '{"type": "error.list", "errors": []}'),
    ],
    ids=["html page", "empty body", "other json", "empty error list"],
)
def test_intercom_errors_that_are_not_error_lists_keep_the_text(text, reason, message):
    error = parse_intercom_error(response(502, text=text, reason=reason))
    assert (error.status, error.code, error.message, error.request_id) == (502, "http_error", message, None)


def test_a_long_non_json_error_body_is_cut_short():
    assert len(parse_intercom_error(response(500, text="x" * 5000)).message) == 300
    assert len(parse_asapp_error(response(500, text="x" * 5000)).message) == 300
