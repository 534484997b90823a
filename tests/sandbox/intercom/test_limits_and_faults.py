"""Rate limits, injected faults, eventual consistency of search, auth and the version header."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest

_unique = itertools.count()


@pytest.fixture(autouse=True)
def calm_sandbox(sandbox):
    """Each test starts without faults or limits and with instant search, whatever the previous one set."""
    sandbox.set_faults()
    sandbox.configure(rate_limit_per_minute=0, search_delay_seconds=0)
    yield
    sandbox.set_faults()
    sandbox.configure(rate_limit_per_minute=0, search_delay_seconds=0)


def test_bad_token_is_401_without_rate_limit_headers(sandbox, api):
    sandbox.configure(rate_limit_per_minute=600)
    response = api.get("/me", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["errors"] == [{"code": "unauthorized", "message": "Access Token Invalid"}]
    assert "x-ratelimit-limit" not in response.headers


def test_invalid_intercom_version_is_rejected(api):
    response = api.get("/me", headers={"Intercom-Version": "9.9"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "intercom_version_invalid"
    assert api.get("/me", headers={"Intercom-Version": "2.11"}).status_code == 200


def test_rate_limit_headers_and_429_within_a_10_second_window(sandbox, api):
    sandbox.configure(rate_limit_per_minute=60)  # 10 calls per 10-second window
    window_end = (int(time.time()) // 10 + 1) * 10
    if window_end - time.time() < 3:  # too close to a window edge to count reliably
        time.sleep(window_end - time.time() + 0.05)
    answers = [api.get("/me") for _ in range(11)]
    first, last_allowed, refused = answers[0], answers[9], answers[10]
    assert first.headers["x-ratelimit-limit"] == "10"
    assert first.headers["x-ratelimit-remaining"] == "9"
    assert last_allowed.status_code == 200 and last_allowed.headers["x-ratelimit-remaining"] == "0"
    assert refused.status_code == 429
    assert refused.json()["errors"] == [
        {"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 10 in 10_seconds"}
    ]
    reset_at = int(refused.headers["x-ratelimit-reset"])
    assert reset_at % 10 == 0 and 0 < reset_at - time.time() <= 10


def test_a_429_storm_hits_the_next_requests_only(sandbox, api):
    sandbox.set_faults(rate_limit_next=2)
    statuses = [api.get("/me").status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_a_share_of_requests_can_fail_with_5xx(sandbox, api):
    sandbox.set_faults(error_share=0.5, error_status=503, seed=7)
    statuses = [api.get("/me").status_code for _ in range(40)]
    assert set(statuses) == {200, 503}
    assert 8 <= statuses.count(503) <= 32
    failed = next(response for response in (api.get("/me") for _ in range(20)) if response.status_code == 503)
    assert failed.json()["errors"][0]["code"] == "service_unavailable"


def test_slow_responses(sandbox, api):
    sandbox.set_faults(latency_ms=300)
    started = time.monotonic()
    assert api.get("/me").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_connection_gets_no_answer(sandbox, api):
    sandbox.set_faults(drop_next=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/me")
    assert api.get("/me").status_code == 200


def test_a_drop_after_the_write_keeps_the_write(sandbox, api):
    """The case that breaks naive retries: the contact exists although the client saw no answer."""
    email = f"ghost.{next(_unique)}@example.com"
    sandbox.set_faults(drop_next=1, phase="after")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/contacts", json={"email": email})
    retry = api.post("/contacts", json={"email": email})
    assert retry.status_code == 409


def test_search_lags_behind_writes_while_get_by_id_does_not(sandbox, api):
    sandbox.configure(search_delay_seconds=1.5)
    email = f"lagging.{next(_unique)}@example.com"
    created = api.post("/contacts", json={"email": email}).json()
    query = {"query": {"field": "email", "operator": "=", "value": email}}
    assert api.post("/contacts/search", json=query).json()["total_count"] == 0
    assert api.get(f"/contacts/{created['id']}").status_code == 200
    time.sleep(1.6)
    assert [contact["id"] for contact in api.post("/contacts/search", json=query).json()["data"]] == [
        created["id"]
    ]


def test_search_sees_an_update_late_too(sandbox, api):
    email = f"renamed.{next(_unique)}@example.com"
    created = api.post("/contacts", json={"email": email, "name": "Before"}).json()
    sandbox.configure(search_delay_seconds=1.0)
    api.put(f"/contacts/{created['id']}", json={"name": "After"})
    by_new_name = {
        "query": {
            "operator": "AND",
            "value": [
                {"field": "email", "operator": "=", "value": email},
                {"field": "name", "operator": "=", "value": "After"},
            ],
        }
    }
    assert api.post("/contacts/search", json=by_new_name).json()["total_count"] == 0
    time.sleep(1.1)
    assert api.post("/contacts/search", json=by_new_name).json()["total_count"] == 1


def test_invalid_fault_settings_are_refused(sandbox):
    with pytest.raises(httpx.HTTPStatusError):
        sandbox.set_faults(error_status=404)
    with pytest.raises(httpx.HTTPStatusError):
        sandbox.set_faults(explode=True)
