"""Pacing, rate limits and retries of the API hooks, on a fake clock: no network, no real waiting.

The HTTP session is a small fake that answers with canned `requests.Response` objects, since what
is under test is when ApiSession waits, retries or gives up, not HTTP itself.
"""

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from asapp_intercom.hooks.api import ApiError, ApiSession, RateLimiter, RetryPolicy, SteadyPace
from asapp_intercom.hooks.asapp import AsappHook, DailyCapReached, parse_asapp_error
from asapp_intercom.hooks.intercom import IntercomHook, IntercomWindowLimiter, parse_intercom_error
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


def response(status: int, body: object = None, *, text: str | None = None, headers: dict | None = None,
             reason: str = "") -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.reason = reason
    answer._content = (text if text is not None else "" if body is None else json.dumps(body)).encode()
    answer.headers = CaseInsensitiveDict(headers or {})
    return answer


def rate_headers(limit: int, remaining: int, reset: float) -> dict:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


def calls_before_waiting(limiter: IntercomWindowLimiter, clock: FakeClock, most: int = 10_000) -> int:
    """How many calls (each answered at once) start right away before the limiter first makes one wait."""
    for started in range(most):
        limiter.acquire()
        limiter.observe(response(200))
        if clock.sleeps:
            return started
    raise AssertionError(f"more than {most} calls started without waiting")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# IntercomWindowLimiter ----------------------------------------------------------------------------
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


# SteadyPace --------------------------------------------------------------------------------------
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


# RetryPolicy -------------------------------------------------------------------------------------
def test_retry_delays_follow_the_policy_with_a_little_jitter_and_repeat_the_last():
    delays = (0.25, 0.5, 1.0)
    policy = RetryPolicy(rate_limited=(1, 2, 4), server_error=delays)
    for retry_number, base in [(0, 0.25), (1, 0.5), (2, 1.0), (7, 1.0)]:
        samples = [policy.delay(delays, retry_number) for _ in range(50)]
        assert all(base <= sample <= base * 1.25 for sample in samples)
        assert len(set(samples)) > 1  # parallel workers do not retry in step


# ApiSession --------------------------------------------------------------------------------------
def api_session(session: FakeSession, clock: FakeClock, *, attempts: int = 4, limiter: RateLimiter | None = None,
                **options) -> ApiSession:
    policy = RetryPolicy(rate_limited=(1, 2, 4), server_error=(0.25, 0.5, 1.0), attempts=attempts)
    return ApiSession(session, "https://api.example.test/", retry=policy, parse_error=parse_intercom_error,
                      limiter=limiter, sleep=clock.sleep, **options)


def intercom_error(status: int, code: str, message: str = "") -> requests.Response:
    return response(status, {"type": "error.list", "request_id": "req-1", "errors": [{"code": code, "message": message}]})


def test_a_successful_call_returns_its_body(clock):
    session = FakeSession(response(200, {"id": "7"}))

    assert api_session(session, clock).json("GET", "/contacts/7") == {"id": "7"}
    assert session.requests == [("GET", "https://api.example.test/contacts/7", {"timeout": 60.0})]


def test_an_empty_successful_body_is_none(clock):
    assert api_session(FakeSession(response(204)), clock).json("DELETE", "/tags/1") is None


def test_server_errors_are_retried_after_the_policys_delays(clock):
    session = FakeSession(intercom_error(500, "server_error"), intercom_error(503, "service_unavailable"),
                          response(200, {"ok": True}))
    api = api_session(session, clock)

    assert api.json("GET", "/me") == {"ok": True}
    assert len(session.requests) == 3 and api.retries == 2
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.3125 and 0.5 <= second <= 0.625


def test_connection_errors_are_retried_like_server_errors(clock):
    session = FakeSession(requests.ConnectionError("reset by peer"), requests.Timeout("read timed out"),
                          response(200, {"ok": True}))

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

    assert (raised.value.status, raised.value.code, raised.value.message) == (502, "server_error", "upstream down")
    assert len(session.requests) == 3 and len(clock.sleeps) == 2


def test_a_429_without_server_guidance_waits_the_policys_rate_limit_delays(clock):
    session = FakeSession(intercom_error(429, "rate_limit_exceeded"), intercom_error(429, "rate_limit_exceeded"),
                          response(200, {}))

    api_session(session, clock).request("GET", "/me")

    first, second = clock.sleeps
    assert 1 <= first <= 1.25 and 2 <= second <= 2.5


def test_a_429_that_persists_gives_up_after_the_attempts(clock):
    session = FakeSession(*[intercom_error(429, "rate_limit_exceeded")] * 4)
    with pytest.raises(ApiError, match="429 rate_limit_exceeded"):
        api_session(session, clock, attempts=4).request("GET", "/me")
    assert len(session.requests) == 4


def test_a_429_waits_as_long_as_the_limiter_says_the_server_needs(clock):
    limiter = IntercomWindowLimiter(600, clock=clock, sleep=clock.sleep)
    session = FakeSession(response(429, intercom_error(429, "rate_limit_exceeded").json(),
                                   headers=rate_headers(limit=100, remaining=0, reset=T0 + 10)),
                          response(200, {}))

    api_session(session, clock, limiter=limiter).request("POST", "/contacts")

    assert clock.sleeps == [pytest.approx(10.0, abs=0.1)]
    assert len(session.requests) == 2


@pytest.mark.parametrize(("status", "code"), [(400, "parameter_invalid"), (401, "unauthorized"), (404, "not_found"),
                                              (409, "conflict"), (422, "data_invalid")])
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
    limiter = IntercomWindowLimiter(6, clock=clock, sleep=clock.sleep)  # 1 call per window
    session = FakeSession(requests.ConnectionError("reset by peer"), response(200, {}), response(200, {}))
    api = api_session(session, clock, limiter=limiter)

    api.request("GET", "/me")  # fails once, retried in the next window
    api.request("GET", "/me")  # the window after that

    assert clock.now <= T0 + 20.5


# The hooks' own wiring: ASAPP and Intercom connections from the environment -----------------------
@pytest.fixture
def asapp_api(monkeypatch, clock) -> ApiSession:
    monkeypatch.setenv("AIRFLOW_CONN_ASAPP_UNIT", json.dumps({
        "conn_type": "asapp", "host": "https://api.asapp.test", "login": "unit-api-id", "password": "unit-api-secret"}))
    api = AsappHook("asapp_unit").api
    api.sleep = api.limiter.sleep = clock.sleep
    api.limiter.clock = clock
    return api


@pytest.fixture
def intercom_api(monkeypatch, clock) -> ApiSession:
    monkeypatch.setenv("AIRFLOW_CONN_INTERCOM_UNIT", json.dumps({
        "conn_type": "intercom", "host": "https://api.intercom.test", "password": "unit-access-token"}))
    api = IntercomHook("intercom_unit", requests_per_minute=600).api
    api.sleep = api.limiter.sleep = clock.sleep
    api.limiter.clock = clock
    return api


def asapp_error(status: int, code: str, message: str, **headers) -> requests.Response:
    return response(status, {"error": {"requestId": "8e033668-9f1a-11ec-b909-0242ac120002", "code": code,
                                       "message": message}}, headers=headers)


def test_asapp_daily_cap_stops_at_once_and_says_when_it_resets(asapp_api):
    asapp_api.session = FakeSession(asapp_error(429, "429-02", "Daily limit exceeded", **{"Retry-After": "3600"}),
                                    response(200, {}))

    with pytest.raises(DailyCapReached) as raised:
        asapp_api.request("POST", "/fileexporter/v1/static/listfeeds")

    assert len(asapp_api.session.requests) == 1
    assert raised.value.resets_at == pytest.approx(datetime.now(UTC) + timedelta(hours=1), abs=timedelta(seconds=5))


def test_asapp_daily_cap_without_retry_after_resets_at_utc_midnight():
    error = parse_asapp_error(asapp_error(429, "429-02", "Daily limit exceeded"))
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert error.resets_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)


@pytest.mark.parametrize(("status", "code"), [(401, "401-02"), (403, "403-01")])
def test_asapp_revoked_or_forbidden_credentials_are_not_retried(asapp_api, status, code):
    asapp_api.session = FakeSession(asapp_error(status, code, "API token revoked"), response(200, {}))
    with pytest.raises(ApiError, match=code):
        asapp_api.request("GET", "/configuration/v1/segments")
    assert len(asapp_api.session.requests) == 1


def test_asapp_spike_arrest_is_retried_with_asapps_documented_backoff(asapp_api, clock):
    asapp_api.session = FakeSession(asapp_error(429, "429-01", "Too Many Requests", **{"Retry-After": "1"}),
                                    asapp_error(503, "503-01", "Service Unavailable"), response(200, {"feeds": []}))

    assert asapp_api.json("POST", "/fileexporter/v1/static/listfeeds") == {"feeds": []}
    first, second = clock.sleeps  # each retry waits longer than SteadyPace's spacing, so only these appear
    assert 1 <= first <= 1.25 and 0.25 <= second <= 0.3125


def test_asapp_calls_are_paced_at_twenty_per_second(asapp_api, clock):
    asapp_api.session = FakeSession(*[response(200, {})] * 5)
    for _ in range(5):
        asapp_api.request("GET", "/configuration/v1/segments")
    assert clock.now == pytest.approx(T0 + 4 * 0.05)


def test_intercom_429_is_retried_when_the_window_resets(intercom_api, clock):
    intercom_api.session = FakeSession(
        response(429, intercom_error(429, "rate_limit_exceeded", "Exceeded rate limit of 100 in 10_seconds").json(),
                 headers=rate_headers(limit=100, remaining=0, reset=T0 + 10)),
        response(200, {"type": "admin"}, headers=rate_headers(limit=100, remaining=99, reset=T0 + 20)))

    assert intercom_api.json("GET", "/me") == {"type": "admin"}
    assert clock.now == pytest.approx(T0 + 10, abs=0.1)


# Error bodies ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "body", "expected"), [
    (401, {"type": "error.list", "request_id": "e097e446-9ae6-44a8-8e13-2bf3008b87ef",
           "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}]},
     ("unauthorized", "Access Token Invalid", "e097e446-9ae6-44a8-8e13-2bf3008b87ef")),
    (429, {"type": "error.list", "request_id": "b68959ea-6328-4f70-83cb-e7913dba1542",
           "errors": [{"code": "rate_limit_exceeded",
                       "message": "Exceeded rate limit of 5 pending reporting dataset export jobs"}]},
     ("rate_limit_exceeded", "Exceeded rate limit of 5 pending reporting dataset export jobs",
      "b68959ea-6328-4f70-83cb-e7913dba1542")),
    (404, {"type": "error.list", "request_id": None,
           "errors": [{"code": "conversation_attribute_not_found", "message": "Conversation attribute not found"}]},
     ("conversation_attribute_not_found", "Conversation attribute not found", None)),
    (409, {"type": "error.list", "request_id": "r-9", "errors": [
        {"code": "conflict", "message": "A contact matching those details already exists with id=6657add46abd"},
        {"code": "second", "message": "ignored"}]},
     ("conflict", "A contact matching those details already exists with id=6657add46abd", "r-9")),
    (400, {"type": "error.list", "request_id": "r-1", "errors": [{"code": "parameter_invalid", "field": "email"}]},
     ("parameter_invalid", "", "r-1")),
], ids=["401 from the spec", "429 from the spec", "null request id", "409 duplicate contact", "code only"])
def test_intercom_error_lists_are_read_for_status_code_message_and_request(status, body, expected):
    error = parse_intercom_error(response(status, body))
    assert (error.status, error.code, error.message, error.request_id) == (status, *expected)


@pytest.mark.parametrize(("text", "reason", "message"), [
    ("<html><body><h1>502 Bad Gateway</h1></body></html>", "Bad Gateway",
     "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ("", "Bad Gateway", "Bad Gateway"),
    ('{"message": "upstream timeout"}', "Gateway Timeout", '{"message": "upstream timeout"}'),
    ('{"type": "error.list", "errors": []}', "Bad Request", '{"type": "error.list", "errors": []}'),
], ids=["html page", "empty body", "other json", "empty error list"])
def test_intercom_errors_that_are_not_error_lists_keep_the_text(text, reason, message):
    error = parse_intercom_error(response(502, text=text, reason=reason))
    assert (error.status, error.code, error.message, error.request_id) == (502, "http_error", message, None)


def test_a_long_non_json_error_body_is_cut_short():
    assert len(parse_intercom_error(response(500, text="x" * 5000)).message) == 300
    assert len(parse_asapp_error(response(500, text="x" * 5000)).message) == 300


@pytest.mark.parametrize(("status", "code", "message"), [
    (400, "400-03", "ERROR - [Path '/timestamp'] String 2024-08-14T00:00:00.000K is invalid against requested date "
                    "format(s) [yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.[0-9]{1,12}Z]: []]"),
    (401, "401-01", "Unauthorized"),
    (429, "429-01", "Too Many Requests"),
], ids=["400 from the docs", "401 from the spec", "429 from the spec"])
def test_asapp_errors_are_read_for_code_message_and_request(status, code, message):
    error = parse_asapp_error(asapp_error(status, code, message))
    assert type(error) is ApiError
    assert (error.status, error.code, error.message, error.request_id) == (
        status, code, message, "8e033668-9f1a-11ec-b909-0242ac120002")


def test_asapp_daily_cap_is_its_own_error_carrying_retry_after():
    error = parse_asapp_error(asapp_error(429, "429-02", "Daily limit exceeded", **{"Retry-After": "5400"}))
    assert isinstance(error, DailyCapReached)
    assert (error.code, error.retry_after) == ("429-02", "5400")


@pytest.mark.parametrize(("text", "reason", "message"), [
    ("<html>503 Service Temporarily Unavailable</html>", "Service Unavailable",
     "<html>503 Service Temporarily Unavailable</html>"),
    ("", "Service Unavailable", "Service Unavailable"),
    ('{"detail": "no error key"}', "Service Unavailable", '{"detail": "no error key"}'),
], ids=["html page", "empty body", "other json"])
def test_asapp_errors_that_are_not_asapp_shaped_fall_back_to_the_status(text, reason, message):
    error = parse_asapp_error(response(503, text=text, reason=reason))
    assert (error.status, error.code, error.message, error.request_id) == (503, "503", message, None)
