"""The ASAPP hook: its pace, ASAPP's daily cap and spike arrest, and how it reads ASAPP's errors."""

from datetime import UTC, datetime, timedelta

import pytest
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import DailyCapReached, parse_asapp_error

from tests.unit.hooks.fakes import T0, FakeSession, asapp_error, response


def test_asapp_daily_cap_stops_at_once_and_says_when_it_resets(asapp_api):
    asapp_api.session = FakeSession(
        asapp_error(429, "429-02", "Daily limit exceeded", **{"Retry-After": "3600"}), response(200, {})
    )

    with pytest.raises(DailyCapReached) as raised:
        asapp_api.request("POST", "/fileexporter/v1/static/listfeeds")

    assert len(asapp_api.session.requests) == 1
    assert raised.value.resets_at == pytest.approx(
        datetime.now(UTC) + timedelta(hours=1), abs=timedelta(seconds=5)
    )


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
    asapp_api.session = FakeSession(
        asapp_error(429, "429-01", "Too Many Requests", **{"Retry-After": "1"}),
        asapp_error(503, "503-01", "Service Unavailable"),
        response(200, {"feeds": []}),
    )

    assert asapp_api.json("POST", "/fileexporter/v1/static/listfeeds") == {"feeds": []}
    first, second = clock.sleeps  # each retry waits longer than SteadyPace's spacing, so only these appear
    assert 1 <= first <= 1.25 and 0.25 <= second <= 0.3125


def test_asapp_calls_are_paced_at_twenty_per_second(asapp_api, clock):
    asapp_api.session = FakeSession(*[response(200, {})] * 5)
    for _ in range(5):
        asapp_api.request("GET", "/configuration/v1/segments")
    assert clock.now == pytest.approx(T0 + 4 * 0.05)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (
            400,
            "400-03",
            "ERROR - [Path '/timestamp'] String 2024-08-14T00:00:00.000K is invalid against requested date "
            "format(s) [yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.[0-9]{1,12}Z]: []]",
        ),
        (401, "401-01", "Unauthorized"),
        (429, "429-01", "Too Many Requests"),
    ],
    ids=["400 from the docs", "401 from the spec", "429 from the spec"],
)
def test_asapp_errors_are_read_for_code_message_and_request(status, code, message):
    error = parse_asapp_error(asapp_error(status, code, message))
    assert type(error) is ApiError
    assert (error.status, error.code, error.message, error.request_id) == (
        status,
        code,
        message,
        "8e033668-9f1a-11ec-b909-0242ac120002",
    )


def test_asapp_daily_cap_is_its_own_error_carrying_retry_after():
    error = parse_asapp_error(asapp_error(429, "429-02", "Daily limit exceeded", **{"Retry-After": "5400"}))
    assert isinstance(error, DailyCapReached)
    assert (error.code, error.retry_after) == ("429-02", "5400")


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        (
            "<html>503 Service Temporarily Unavailable</html>",
            "Service Unavailable",
            "<html>503 Service Temporarily Unavailable</html>",
        ),
        ("", "Service Unavailable", "Service Unavailable"),
        ('{"detail": "no error key"}', "Service Unavailable", '{"detail": "no error key"}'),
    ],
    ids=["html page", "empty body", "other json"],
)
def test_asapp_errors_that_are_not_asapp_shaped_fall_back_to_the_status(text, reason, message):
    error = parse_asapp_error(response(503, text=text, reason=reason))
    assert (error.status, error.code, error.message, error.request_id) == (503, "503", message, None)
