"""Faults switched at run time: 5xx rates, slow responses, partial partitions, expired URLs."""

import time

import httpx
import pytest

from tests.sandbox.asapp.conftest import DAY, assert_asapp_error

BASE = "/fileexporter/v1/static"
HR13 = {"feed": "convos_metadata", "version": "1", "format": "jsonl", "date": DAY, "interval": "hr=13"}


def test_an_error_rate_of_one_fails_every_call_with_500_or_503(sandbox, api, fileexporter_spec):
    sandbox.set_faults(error_rate=1.0)
    statuses = set()
    for _ in range(20):
        response = api.post(f"{BASE}/listfeedversions", json={"feed": "reps"})
        assert_asapp_error(response, response.status_code, f"{response.status_code}-01")
        fileexporter_spec.check(response)
        statuses.add(response.status_code)
    assert statuses == {500, 503}
    assert sandbox.stats()["injected_faults"]
    sandbox.set_faults(error_rate=0)
    assert api.post(f"{BASE}/listfeeds", json={}).status_code == 200


def test_a_partial_error_rate_fails_some_calls(sandbox, api):
    sandbox.set_faults(error_rate=0.5)
    statuses = [api.post(f"{BASE}/listfeeds", json={}).status_code for _ in range(60)]
    assert 200 in statuses and {500, 503} & set(statuses)


def test_an_endpoint_error_rate_hits_only_that_endpoint(sandbox, api):
    sandbox.set_clock("2024-05-02T03:00:00Z")
    sandbox.set_faults(endpoint_error_rates={f"{BASE}/getfeedfile": 1.0})
    assert api.post(f"{BASE}/listfeedfiles", json=HR13).status_code == 200
    assert api.post(f"{BASE}/getfeedfile", json={**HR13, "fileName": "_SUCCESS"}).status_code in (500, 503)


def test_slow_responses_are_delayed(sandbox, api):
    sandbox.set_faults(slow_ms=400)
    started = time.monotonic()
    assert api.get("/v1/health").status_code == 200
    assert time.monotonic() - started >= 0.4
    sandbox.set_faults(slow_ms=0)
    started = time.monotonic()
    api.get("/v1/health")
    assert time.monotonic() - started < 0.4


def test_partial_partitions_hold_back_success_on_s3_and_in_listings(sandbox, api):
    bucket = sandbox.s3_client()
    prefix = f"convos_metadata/version=1/format=jsonl/dt={DAY}/hr=13/mi=00/"

    def s3_files() -> list[str]:
        listing = bucket.list_objects_v2(Bucket=sandbox.bucket, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"].removeprefix(prefix) for item in listing)

    sandbox.set_clock(f"{DAY}T14:10:00Z")
    sandbox.set_faults(partial_partitions=True)
    sandbox.set_clock(f"{DAY}T14:21:00Z")
    assert api.post(f"{BASE}/listfeedfiles", json=HR13).json()["files"] == ["convos_metadata.jsonl"]
    assert s3_files() == ["convos_metadata.jsonl"]

    sandbox.set_faults(partial_partitions=False)
    assert api.post(f"{BASE}/listfeedfiles", json=HR13).json()["files"] == [
        "convos_metadata.jsonl",
        "_SUCCESS",
    ]
    assert s3_files() == ["_SUCCESS", "convos_metadata.jsonl"]


def test_expire_urls_hands_out_urls_that_are_already_expired(sandbox, api):
    sandbox.set_clock("2024-05-02T03:00:00Z")
    sandbox.set_faults(expire_urls=True)
    url = api.post(f"{BASE}/getfeedfile", json={**HR13, "fileName": "convos_metadata.jsonl"}).json()["url"]
    assert_asapp_error(httpx.get(url), 403, "403-01")
    sandbox.set_faults(expire_urls=False)
    url = api.post(f"{BASE}/getfeedfile", json={**HR13, "fileName": "convos_metadata.jsonl"}).json()["url"]
    assert httpx.get(url).status_code == 200


@pytest.mark.parametrize(
    "settings", [{"error_rate": 2}, {"slow_ms": -1}, {"partial_partitions": "yes"}, {"typo_rate": 0.1}]
)
def test_invalid_fault_settings_are_rejected_and_change_nothing(sandbox, settings):
    before = sandbox.set_faults()
    response = httpx.put(f"{sandbox.api_url}/_sim/admin/faults", json=settings)
    assert response.status_code == 400
    assert sandbox.set_faults() == before
