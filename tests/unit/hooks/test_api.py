"""ApiSession: pacing, retries and when to give up, on a fake clock."""

import threading

import pytest
import requests
from asapp_intercom.hooks.api import AmbiguousWrite, ApiError, RetryPolicy, SteadyPace

from tests.unit.hooks.fakes import (
    T0,
    FakeSession,
    api_session,
    budget,
    intercom_error,
    rate_headers,
    response,
)


def test_steady_pace_spaces_calls_evenly_across_threads():
    sleeps, lock = [], threading.Lock()

    def record(seconds):
        with lock:
            sleeps.append(seconds)

    pace = SteadyPace(20, clock=lambda: T0, sleep=record)
    start = threading.Barrier(40)

    def worker():
        start.wait()
        pace.acquire()

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(sleeps) == pytest.approx([0.05 * slot for slot in range(1, 40)])


def test_steady_pace_does_not_save_up_idle_time_for_a_burst(clock):
    pace = SteadyPace(20, clock=clock, sleep=clock.sleep)
    pace.acquire()
    clock.now += 30
    pace.acquire()
    pace.acquire()
    assert clock.sleeps == [pytest.approx(0.05)]


def test_retry_delays_follow_the_policy_with_a_little_jitter_and_repeat_the_last():
    delays = (0.25, 0.5, 1.0)
    policy = RetryPolicy(rate_limited=(1, 2, 4), server_error=delays)
    for retry_number, base in [(0, 0.25), (1, 0.5), (2, 1.0), (7, 1.0)]:
        samples = [policy.delay(delays, retry_number) for _ in range(50)]
        assert all(base <= sample <= base * 1.25 for sample in samples)
        assert len(set(samples)) > 1  # parallel workers do not retry in step


def test_a_successful_call_returns_its_body(clock):
    session = FakeSession(response(200, {"id": "7"}))

    assert api_session(session, clock).json("GET", "/contacts/7") == {"id": "7"}
    assert session.requests == [("GET", "https://api.example.test/contacts/7", {"timeout": 60.0})]


def test_an_empty_successful_body_is_none(clock):
    assert api_session(FakeSession(response(204)), clock).json("DELETE", "/tags/1") is None


def test_server_errors_are_retried_after_the_policys_delays(clock):
    session = FakeSession(
        intercom_error(500, "server_error"),
        intercom_error(503, "service_unavailable"),
        response(200, {"ok": True}),
    )
    api = api_session(session, clock)

    assert api.json("GET", "/me") == {"ok": True}
    assert len(session.requests) == 3 and api.retries == 2
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.3125 and 0.5 <= second <= 0.625


def test_connection_errors_are_retried_like_server_errors(clock):
    session = FakeSession(
        requests.ConnectionError("reset by peer"),
        requests.Timeout("read timed out"),
        response(200, {"ok": True}),
    )

    assert api_session(session, clock).json("GET", "/me") == {"ok": True}
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.3125 and 0.5 <= second <= 0.625


def test_a_connection_that_keeps_failing_gives_up_after_the_attempts(clock):
    session = FakeSession(*[requests.ConnectionError("refused")] * 3)

    with pytest.raises(ApiError) as raised:
        api_session(session, clock, attempts=3).request("GET", "/me")

    assert (raised.value.status, raised.value.code) == (0, "connection_error")
    assert len(session.requests) == 3


def test_a_server_error_that_persists_gives_up_after_the_attempts(clock):
    session = FakeSession(*[intercom_error(502, "server_error", "upstream down")] * 3)

    with pytest.raises(ApiError) as raised:
        api_session(session, clock, attempts=3).request("GET", "/me")

    assert (raised.value.status, raised.value.code, raised.value.message) == (
        502,
        "server_error",
        "upstream down",
    )
    assert len(session.requests) == 3 and len(clock.sleeps) == 2


def test_a_429_without_server_guidance_waits_the_policys_rate_limit_delays(clock):
    session = FakeSession(
        intercom_error(429, "rate_limit_exceeded"),
        intercom_error(429, "rate_limit_exceeded"),
        response(200, {}),
    )

    api_session(session, clock).request("GET", "/me")

    first, second = clock.sleeps
    assert 1 <= first <= 1.25 and 2 <= second <= 2.5


def test_a_429_that_persists_gives_up_after_the_attempts(clock):
    session = FakeSession(*[intercom_error(429, "rate_limit_exceeded")] * 4)
    with pytest.raises(ApiError, match="429 rate_limit_exceeded"):
        api_session(session, clock, attempts=4).request("GET", "/me")
    assert len(session.requests) == 4


def test_a_429_waits_as_long_as_the_limiter_says_the_server_needs(clock):
    limiter = budget(600, clock)
    session = FakeSession(
        response(
            429,
            intercom_error(429, "rate_limit_exceeded").json(),
            headers=rate_headers(limit=100, remaining=0, reset=T0 + 10),
        ),
        response(200, {}),
    )

    api_session(session, clock, limiter=limiter).request("POST", "/contacts")

    assert clock.sleeps == [pytest.approx(10.0, abs=0.1)]
    assert len(session.requests) == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "parameter_invalid"),
        (401, "unauthorized"),
        (404, "not_found"),
        (409, "conflict"),
        (422, "data_invalid"),
    ],
)
def test_other_client_errors_are_raised_at_once(clock, status, code):
    session = FakeSession(intercom_error(status, code, "details"), response(200, {}))

    with pytest.raises(ApiError) as raised:
        api_session(session, clock).request("POST", "/contacts")

    assert (raised.value.status, raised.value.code, raised.value.request_id) == (status, code, "req-1")
    assert len(session.requests) == 1 and clock.sleeps == []


def test_an_error_the_caller_marks_final_is_raised_without_retrying(clock):
    session = FakeSession(intercom_error(503, "token_blocked"), response(200, {}))
    api = api_session(session, clock, is_final=lambda error: error.code == "token_blocked")

    with pytest.raises(ApiError, match="token_blocked"):
        api.request("GET", "/me")
    assert len(session.requests) == 1


def test_a_connection_error_does_not_use_up_later_windows(clock):
    limiter = budget(6, clock)  # 1 call per window
    session = FakeSession(requests.ConnectionError("reset by peer"), response(200, {}), response(200, {}))
    api = api_session(session, clock, limiter=limiter)

    api.request("GET", "/me")  # fails once, retried in the next window
    api.request("GET", "/me")  # the window after that

    assert clock.now <= T0 + 20.5


@pytest.mark.parametrize(
    "outcome",
    [
        intercom_error(503, "service_unavailable", "Server Error"),
        requests.ConnectionError("Connection aborted: RemoteDisconnected"),
        requests.ReadTimeout("read timed out"),
    ],
)
def test_a_write_sent_once_reports_an_unclear_answer_without_sending_it_again(clock, outcome):
    session = FakeSession(outcome, response(200, {"id": "never reached"}))
    api = api_session(session, clock)

    with pytest.raises(AmbiguousWrite):
        api.json("POST", "/conversations/7/reply", json={"body": "hi"}, resend=False)

    assert len(session.requests) == 1 and clock.sleeps == []


def test_a_write_sent_once_is_retried_when_it_never_reached_the_server_or_was_throttled(clock):
    session = FakeSession(
        requests.ConnectTimeout("connect timed out"),
        intercom_error(429, "rate_limit_exceeded"),
        response(200, {"id": "part-1"}),
    )
    api = api_session(session, clock)

    assert api.json("POST", "/conversations/7/reply", json={"body": "hi"}, resend=False) == {"id": "part-1"}
    assert len(session.requests) == 3


def test_a_refusal_of_a_write_sent_once_is_not_unclear(clock):
    api = api_session(FakeSession(intercom_error(400, "parameter_invalid", "Body is required")), clock)

    with pytest.raises(ApiError) as raised:
        api.json("POST", "/conversations/7/reply", json={}, resend=False)

    assert not isinstance(raised.value, AmbiguousWrite) and raised.value.status == 400
