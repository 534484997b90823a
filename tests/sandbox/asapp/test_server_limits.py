"""Rate limits and key revocation (NOTES §10.7): spike arrest, the daily cap and its reset at
midnight on the sandbox clock, and revoked keys."""

import time

import httpx
import pytest

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.sandbox.asapp.conftest import assert_asapp_error

LISTFEEDS = "/fileexporter/v1/static/listfeeds"
SEGMENTS = "/configuration/v1/segments"


@pytest.fixture(scope="module")
def limited(small_dataset):
    """A sandbox that allows 4 calls per day and product."""
    with run_asapp_sandbox(small_dataset, daily_cap=4, clock="2024-05-01T23:58:00Z") as sandbox:
        with httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers) as api:
            yield sandbox, api


def test_spike_arrest_refuses_bursts_per_product(small_dataset):
    with run_asapp_sandbox(small_dataset, spike_rps=5) as sandbox:
        with httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers) as api:
            started = time.monotonic()
            burst = [api.post(LISTFEEDS, json={}) for _ in range(20)]
            elapsed = time.monotonic() - started
            accepted = sum(r.status_code == 200 for r in burst)
            refused = [r for r in burst if r.status_code == 429]
            assert 5 <= accepted <= 5 + int(elapsed * 5) + 1  # a bucket of 5, refilled at 5 per second
            assert len(refused) == len(burst) - accepted
            for response in refused:
                assert_asapp_error(response, 429, "429-01")
                assert response.headers["retry-after"] == "1"
            assert api.get(SEGMENTS).status_code == 200  # another product has its own bucket
            time.sleep(1.1)
            assert api.post(LISTFEEDS, json={}).status_code == 200


def test_daily_cap_refuses_until_midnight_and_refusals_do_not_count(limited):
    sandbox, api = limited
    sandbox.set_clock("2024-05-01T23:58:00Z")
    assert [api.post(LISTFEEDS, json={}).status_code for _ in range(4)] == [200] * 4
    for _ in range(3):
        refused = api.post(LISTFEEDS, json={})
        error = assert_asapp_error(refused, 429, "429-02")
        assert error["message"] == "Daily limit exceeded"
        assert 100 <= int(refused.headers["retry-after"]) <= 120  # seconds until 00:00 UTC
    assert api.get(SEGMENTS).status_code == 200  # caps are per product
    daily = sandbox.stats()["daily"]
    assert daily["date"] == "2024-05-01" and daily["counts"][sandbox.api_id]["fileexporter"] == 4

    sandbox.advance_clock(180)
    assert api.post(LISTFEEDS, json={}).status_code == 200
    assert sandbox.stats()["daily"]["counts"][sandbox.api_id] == {"fileexporter": 1}


def test_revoked_keys_are_refused_until_restored(limited):
    sandbox, api = limited
    sandbox.set_clock("2024-06-01T12:00:00Z")  # a fresh day's budget
    sandbox.revoke_key()
    error = assert_asapp_error(api.get(SEGMENTS), 401, "401-02")
    assert error["message"] == "API token revoked"
    sandbox.restore_key()
    assert api.get(SEGMENTS).status_code == 200
