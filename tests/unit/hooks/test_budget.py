"""The shared Intercom budget: its windows on a fake clock, its stores under processes racing for one
window, and a token pool against the Intercom sandbox's per-app and per-workspace limits."""

from __future__ import annotations

import json
import random
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from asapp_intercom.hooks.budget import Counter, Limits, MemoryStore, SharedBudget, open_store
from asapp_intercom.hooks.intercom import IntercomHook

from include.sandbox.intercom.server.launcher import run_intercom_sandbox
from tests.support.postgres import run_postgres, server_binaries
from tests.support.redis import run_redis
from tests.unit.hooks.fakes import T0, FakeClock, budget, rate_headers, response


def calls_before_waiting(limiter: SharedBudget, clock: FakeClock, most: int = 10_000) -> int:
    """How many calls (each answered at once) start right away before the limiter first makes one wait."""
    for started in range(most):
        permit = limiter.acquire()
        if clock.sleeps:
            return started
        limiter.observe(permit, response(200))
    raise AssertionError(f"more than {most} calls started without waiting")


def test_the_whole_budget_starts_at_once_and_the_next_call_waits_for_the_next_window(clock):
    limiter = budget(600, clock)

    assert calls_before_waiting(limiter, clock) == 100
    assert clock.sleeps == [pytest.approx(10.0)]
    assert limiter.waited_seconds == pytest.approx(10.0)


def test_a_long_run_never_starts_more_than_the_budget_in_a_window_and_fills_each_one(clock):
    limiter = budget(120, clock)
    pace = random.Random(3)
    started = []
    for _ in range(500):
        permit = limiter.acquire()
        started.append(clock.now)
        clock.now += pace.uniform(0, 0.05)  # the call's own duration
        limiter.observe(permit, response(200))

    per_window: dict[int, int] = {}
    for moment in started:
        per_window[int(moment // 10)] = per_window.get(int(moment // 10), 0) + 1
    *full, last = [per_window[window] for window in sorted(per_window)]
    assert full == [20] * len(full)
    assert 0 < last <= 20


def test_the_server_limit_tightens_the_budget(clock):
    limiter = budget(600, clock)
    limiter.observe(
        limiter.acquire(), response(200, headers=rate_headers(limit=5, remaining=4, reset=T0 + 10))
    )

    assert calls_before_waiting(limiter, clock) == 4


def test_calls_other_tools_made_in_the_window_are_taken_off_the_budget(clock):
    limiter = budget(600, clock)
    limiter.observe(
        limiter.acquire(), response(200, headers=rate_headers(limit=100, remaining=10, reset=T0 + 10))
    )

    assert calls_before_waiting(limiter, clock) == 10


def test_the_windows_follow_the_servers_phase(clock):
    limiter = budget(600, clock)
    limiter.observe(
        limiter.acquire(), response(200, headers=rate_headers(limit=100, remaining=99, reset=T0 + 3))
    )

    calls_before_waiting(limiter, clock)

    assert clock.now == pytest.approx(T0 + 3)


def test_a_429_returns_the_wait_until_the_server_resets_and_closes_the_window(clock):
    limiter = budget(600, clock)
    permit = limiter.acquire()
    clock.now += 6

    wait = limiter.observe(permit, response(429, headers=rate_headers(limit=100, remaining=0, reset=T0 + 10)))

    assert wait == pytest.approx(4.0, abs=0.1)
    assert calls_before_waiting(limiter, clock) == 0
    assert clock.now == pytest.approx(T0 + 10)


def test_a_429_without_rate_headers_leaves_the_wait_to_the_retry_policy(clock):
    limiter = budget(600, clock)
    assert limiter.observe(limiter.acquire(), response(429, headers={"X-RateLimit-Limit": "many"})) is None


def test_calls_in_flight_at_a_rollover_are_charged_to_the_new_window(clock):
    limiter = budget(18, clock)  # 3 per window
    permits = [limiter.acquire() for _ in range(3)]
    limiter.observe(permits[0], response(200))  # one answered; two still in flight
    clock.now = T0 + 10

    assert calls_before_waiting(limiter, clock) == 1
    assert clock.now == pytest.approx(T0 + 20)


def test_an_idle_gap_of_several_windows_starts_a_fresh_window(clock):
    limiter = budget(60, clock)  # 10 per window
    for _ in range(10):
        limiter.observe(limiter.acquire(), response(200))
    clock.now = T0 + 47

    assert calls_before_waiting(limiter, clock) == 10
    assert clock.now == pytest.approx(T0 + 50)


def test_a_token_pool_uses_the_workspaces_budget_no_app_over_its_own(clock):
    limiter = SharedBudget(
        ["tok-a", "tok-b", "tok-c"],
        store=MemoryStore(),
        limits=Limits(share_per_minute=1500, app_per_minute=600, workspace_per_minute=1500),
        clock=clock,
        sleep=clock.sleep,
    )
    used = {"tok-a": 0, "tok-b": 0, "tok-c": 0}
    while not clock.sleeps:
        permit = limiter.acquire()
        if not clock.sleeps:
            used[permit.headers["Authorization"].removeprefix("Bearer ")] += 1
        limiter.observe(permit, response(200))

    assert sum(used.values()) == 250  # the workspace's 1,500/min is 250 per window
    assert max(used.values()) <= 100 and min(used.values()) >= 80


class Full(Exception):
    """The limiter would wait for the next window."""


def _refuse(seconds: float) -> None:
    raise Full


def test_two_migrations_on_one_workspace_share_its_budget_each_within_its_own_share(clock):
    store = MemoryStore()

    def migration(name: str) -> SharedBudget:
        return SharedBudget(
            [f"{name}-token"],
            store=store,
            limits=Limits(share_per_minute=600, app_per_minute=10_000, workspace_per_minute=900, share=name),
            workspace="w1",
            clock=clock,
            sleep=_refuse,
        )

    def calls_in_the_window(limiter: SharedBudget) -> int:
        started = 0
        try:
            while True:
                limiter.acquire()
                started += 1
        except Full:
            return started

    assert calls_in_the_window(migration("first")) == 100  # its share: 600/min
    assert calls_in_the_window(migration("second")) == 50  # what is left of the workspace's 900/min


# --- the stores, raced by processes ----------------------------------------------------------


def _lease_until_refused(url: str, window: int, block: int) -> int:
    store = open_store(url)
    counters = [Counter("w/app/x", 500), Counter("w/workspace", 700), Counter("w/share/m", 10_000)]
    granted = 0
    while (step := store.lease(window, counters, block)) > 0:
        granted += step
    return granted


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/budget.db"
    elif request.param == "postgresql":
        if server_binaries() is None:
            pytest.skip("PostgreSQL's server binaries are not installed")
        with run_postgres("budget-postgres-") as server:
            yield f"{server}/postgres"
    else:
        with run_redis() as url:
            yield url


def test_processes_racing_for_a_window_are_granted_exactly_its_limit(store_url):
    with ProcessPoolExecutor(4) as pool:
        granted = list(pool.map(_lease_until_refused, [store_url] * 4, [7] * 4, [7] * 4))

    assert sum(granted) == 500  # the app's limit, the tightest of the three
    assert open_store(store_url).lease(7, [Counter("w/workspace", 700)], 1000) == 200
    assert open_store(store_url).lease(8, [Counter("w/app/x", 500)], 3) == 3  # a new window is fresh


def test_threads_racing_in_one_process_are_granted_exactly_the_limit():
    store = MemoryStore()
    counters = [Counter("w/app/x", 500), Counter("w/workspace", 700)]

    def lease_all(_):
        granted = 0
        while (step := store.lease(1, counters, 7)) > 0:
            granted += step
        return granted

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(lease_all, range(8))) == 500


def test_what_the_server_counted_raises_a_counter_and_never_lowers_it(store_url):
    store = open_store(store_url)
    store.lease(3, [Counter("w/app/x", 100)], 40)
    store.fill(3, "w/app/x", 90)
    store.fill(3, "w/app/x", 20)

    assert store.lease(3, [Counter("w/app/x", 100)], 50) == 10


# --- a token pool against the sandbox ----------------------------------------------------------


def test_a_pool_of_three_apps_stays_within_each_apps_and_the_workspaces_limits(tmp_path, monkeypatch):
    tokens = ["pool-app-one", "pool-app-two", "pool-app-three"]
    with run_intercom_sandbox(
        tmp_path / "workspace.json",
        tokens=tokens,
        rate_limit_per_minute=60,  # 10 per window per app
        workspace_rate_limit_per_minute=120,  # 20 per window for all three
        search_delay=0,
    ) as intercom:
        monkeypatch.setenv(
            "AIRFLOW_CONN_INTERCOM_POOL",
            json.dumps({"conn_type": "intercom", "host": intercom.url, "password": ",".join(tokens)}),
        )
        hook = IntercomHook(
            "intercom_pool",
            limits=Limits(share_per_minute=1_000, app_per_minute=60, workspace_per_minute=120),
            budget_url=f"sqlite:///{tmp_path}/budget.db",
        )
        for _ in range(30):
            hook.list_admins()
        stats = intercom.stats()

    workspace = stats["workspace"]
    assert workspace["rate_limited"] == 0
    assert workspace["admitted"] == 30 + 1  # and the one GET /me that named the workspace
    assert workspace["windows_over_limit"] == 0
    assert all(token["admitted"] >= 9 for token in stats["tokens"])
