"""Push delivery of real-time events to a webhook receiver: filtering, signatures, retries, drops."""

import hashlib
import hmac
import time

import httpx
import orjson
import pytest

from tests.sandbox.asapp.conftest import DAY


@pytest.fixture
def register(sandbox):
    """Register push endpoints for one test and remove them afterwards."""
    registered = []

    def add(url: str, **config) -> dict:
        endpoint = sandbox.add_push_endpoint(url, **config)
        registered.append(endpoint["id"])
        return endpoint

    yield add
    for endpoint_id in registered:
        sandbox.remove_push_endpoint(endpoint_id)


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for push deliveries"
        time.sleep(0.05)


def endpoint_stats(sandbox, endpoint_id: str) -> dict:
    return next(e for e in sandbox.stats()["push"]["endpoints"] if e["id"] == endpoint_id)


def test_each_new_event_is_posted_signed_with_the_static_headers(sandbox, receiver, register):
    sandbox.set_clock(f"{DAY}T14:00:00Z")
    endpoint = register(
        receiver.url,
        event_list=["ISSUE_CREATED", "ASSIGNED"],
        headers={"X-Tenant": "globex"},
        hmac_secret="shared-secret",
    )
    sandbox.set_clock(f"{DAY}T15:00:00Z")
    wait_for(lambda: endpoint_stats(sandbox, endpoint["id"])["delivered"] == 3)

    bodies = [orjson.loads(body) for _, _, body in receiver.requests]
    assert [b["event_id"] for b in bodies] == ["ev-journey-1", "ev-journey-2", "ev-journey-2"]
    for _, headers, body in receiver.requests:
        digest = hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
        assert headers["X-Asapp-Signature"] == f"sha256={digest}"
        assert headers["X-Tenant"] == "globex"
        assert headers["Content-Type"] == "application/json"


def test_only_events_visible_after_registration_are_pushed(sandbox, receiver, register):
    sandbox.set_clock(f"{DAY}T14:02:30Z")  # activity and the first journey event are already out
    endpoint = register(receiver.url)
    sandbox.set_clock(f"{DAY}T14:05:00Z")
    wait_for(lambda: endpoint_stats(sandbox, endpoint["id"])["delivered"] == 3)
    pushed = [orjson.loads(body)["event_id"] for _, _, body in receiver.requests]
    assert pushed == ["ev-journey-2", "ev-journey-2", "ev-queue-1"]
    assert "X-Asapp-Signature" not in receiver.requests[0][1]


def test_failures_are_retried_with_backoff_then_dropped(sandbox, receiver, register):
    sandbox.set_clock(f"{DAY}T14:02:30Z")
    receiver.statuses = [500, 503, 500, 502]  # first event fails 3 times; the second once, then 200
    endpoint = register(receiver.url, retries=2, event_list=["ASSIGNED"])
    sandbox.set_clock(f"{DAY}T14:03:30Z")
    wait_for(lambda: endpoint_stats(sandbox, endpoint["id"])["delivered"] == 1)

    stats = endpoint_stats(sandbox, endpoint["id"])
    assert (stats["dropped"], stats["attempts"], stats["failures"]) == (1, 5, 4)
    arrivals = [arrived for arrived, _, _ in receiver.requests]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95  # 0.5 s then 1 s between attempts of one event
    assert sandbox.stats()["push"]["dropped"] >= 1


def test_a_receiver_slower_than_timeout_ms_fails_the_delivery(sandbox, receiver, register):
    sandbox.set_clock(f"{DAY}T14:03:30Z")
    receiver.delay_seconds = 1.0
    endpoint = register(receiver.url, timeout_ms=200, retries=0, event_list=["queue_size_updated"])
    sandbox.set_clock(f"{DAY}T14:04:30Z")
    wait_for(lambda: endpoint_stats(sandbox, endpoint["id"])["dropped"] == 1)
    assert endpoint_stats(sandbox, endpoint["id"])["delivered"] == 0


def test_invalid_endpoint_configuration_is_rejected(sandbox):
    response = httpx.post(
        f"{sandbox.api_url}/_sim/admin/push-endpoints", json={"url": "ftp://x", "retries": 1}
    )
    assert response.status_code == 400 and "[Path '/url']" in response.json()["error"]["message"]
