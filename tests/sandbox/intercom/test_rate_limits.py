"""Several tokens (each one private app), per-app and per-workspace limits in 10-second windows, and the
traffic statistics a benchmark reads (GET /_sandbox/stats)."""

from __future__ import annotations

import time

import httpx
import pytest

from include.sandbox.intercom.server.launcher import run_intercom_sandbox
from include.sandbox.intercom.server.ratelimit import RateLimiter, TrafficStats

APP_ONE, APP_TWO = "app-one-token", "app-two-token"


@pytest.fixture(scope="module")
def two_apps(tmp_path_factory):
    """Two apps of 10 calls per window each (60/min) in a workspace of 15 per window (90/min)."""
    state = tmp_path_factory.mktemp("intercom-apps") / "workspace.json"
    with run_intercom_sandbox(
        state,
        tokens=[APP_ONE, APP_TWO],
        rate_limit_per_minute=60,
        workspace_rate_limit_per_minute=90,
        search_delay=0,
    ) as sandbox:
        yield sandbox


@pytest.fixture
def apps(two_apps, client):
    two_apps.configure(rate_limit_per_minute=60, workspace_rate_limit_per_minute=90)
    two_apps.reset_stats()
    with client(two_apps) as one, client(two_apps) as two:
        one.headers.update(two_apps.headers_for(APP_ONE))
        two.headers.update(two_apps.headers_for(APP_TWO))
        yield one, two


def at_a_fresh_window(margin: float = 6.0) -> int:
    """Wait, if needed, so that at least `margin` seconds of the current 10-second window remain."""
    window_end = (int(time.time()) // 10 + 1) * 10
    if window_end - time.time() < margin:
        time.sleep(window_end - time.time() + 0.05)
        window_end += 10
    return window_end


def test_both_tokens_are_accepted_and_the_first_is_the_handles(two_apps):
    assert two_apps.tokens == [APP_ONE, APP_TWO]
    assert two_apps.token == APP_ONE
    answers = [
        httpx.get(f"{two_apps.url}/me", headers=two_apps.headers_for(token)) for token in two_apps.tokens
    ]
    assert [answer.status_code for answer in answers] == [200, 200]


def test_two_apps_under_their_own_limits_but_over_the_workspace_one_get_429s_for_the_excess(two_apps, apps):
    one, two = apps
    window_end = at_a_fresh_window()
    first = [one.get("/me") for _ in range(10)]  # app one: its whole budget
    second = [two.get("/me") for _ in range(10)]  # app two: 5 fit in the workspace's 15
    assert [answer.status_code for answer in first] == [200] * 10
    assert [answer.status_code for answer in second] == [200] * 5 + [429] * 5
    refused = second[5]
    assert refused.json()["errors"] == [
        {
            "code": "rate_limit_exceeded",
            "message": (
                "Exceeded workspace rate limit of 15 in 10_seconds (shared by all apps of the workspace)"
            ),
        }
    ]
    # the headers keep describing app two's own window: 10 per window, 5 used, when it ends
    assert refused.headers["x-ratelimit-limit"] == "10"
    assert refused.headers["x-ratelimit-remaining"] == "5"
    assert int(refused.headers["x-ratelimit-reset"]) == window_end
    assert second[4].headers["x-ratelimit-remaining"] == "5"
    # app one over its own budget gets the per-app message
    own = one.get("/me")
    assert own.status_code == 429
    assert own.json()["errors"][0]["message"] == "Exceeded rate limit of 10 in 10_seconds"
    assert own.headers["x-ratelimit-remaining"] == "0"
    assert time.time() < window_end, "the calls crossed a window edge; the counts above are not comparable"

    stats = two_apps.stats()
    assert stats["window_seconds"] == 10
    assert stats["limits"] == {"token_per_window": 10, "workspace_per_window": 15}
    app_one, app_two = stats["tokens"]
    assert (app_one["app"], app_one["token_hint"]) == (1, "app-…")
    assert (app_one["requests"], app_one["admitted"], app_one["rate_limited"]) == (11, 10, 1)
    assert (app_two["requests"], app_two["admitted"], app_two["rate_limited"]) == (10, 5, 5)
    workspace = stats["workspace"]
    assert (workspace["requests"], workspace["admitted"], workspace["rate_limited"]) == (21, 15, 6)
    assert workspace["current_window"] == {
        "start": window_end - 10,
        "ends_at": window_end,
        "admitted": 15,
        "refused": 6,
        "limit": 15,
        "over_limit": False,
    }
    assert app_two["current_window"]["admitted"] == 5 and app_two["current_window"]["limit"] == 10
    assert workspace["windows_over_limit"] == 0 and workspace["max_admitted_in_a_window"] == 15


def test_stats_reset_and_unknown_tokens(two_apps, apps):
    one, _two = apps
    one.get("/me")
    assert httpx.get(f"{two_apps.url}/me", headers=two_apps.headers_for("nobody")).status_code == 401
    stats = two_apps.stats()
    assert stats["workspace"]["requests"] == 1 and stats["workspace"]["unauthorized"] == 1
    cleared = two_apps.reset_stats()
    assert cleared["workspace"]["requests"] == 0 and cleared["workspace"]["current_window"] is None
    assert [app["requests"] for app in cleared["tokens"]] == [0, 0]
    assert cleared["since"] >= stats["since"]


def test_the_settings_api_changes_both_limits(two_apps, apps):
    settings = two_apps.configure(workspace_rate_limit_per_minute=0)
    assert settings["workspace_rate_limit_per_minute"] is None
    assert settings["rate_limit_per_minute"] == 60 and settings["rate_limit_per_window"] == 10
    settings = two_apps.configure(rate_limit_per_minute=None, workspace_rate_limit_per_minute=600)
    assert settings["rate_limit_per_minute"] is None
    assert settings["workspace_rate_limit_per_window"] == 100
    # with only the workspace limit on, the headers describe the workspace's window
    one, _two = apps
    assert one.get("/me").headers["x-ratelimit-limit"] == "100"
    refused = httpx.put(f"{two_apps.url}/_sandbox/settings", json={"workspace_rate_limit_per_minute": -1})
    assert refused.status_code == 400


def test_the_workspace_limit_defaults_to_intercoms_and_is_off_with_limits_off(tmp_path):
    with run_intercom_sandbox(tmp_path / "limited.json") as sandbox:
        settings = sandbox.configure()
        assert settings["rate_limit_per_window"] == 1666
        assert settings["workspace_rate_limit_per_minute"] == 25_000
        assert settings["workspace_rate_limit_per_window"] == 4166
    with run_intercom_sandbox(tmp_path / "unlimited.json", rate_limit_per_minute=0) as sandbox:
        settings = sandbox.configure()
        assert settings["rate_limit_per_minute"] is None
        assert settings["workspace_rate_limit_per_minute"] is None


def test_finished_windows_are_kept_and_checked_against_their_limit():
    limiter = RateLimiter(per_minute=60, workspace_per_minute=90)
    stats = TrafficStats(("a", "b"))
    for at, token in [(1000.0, "a")] * 12 + [(1000.5, "b")] * 6 + [(1010.0, "a")] * 3:
        stats.record(token, limiter.take(token, at=at), limiter)
    view = stats.view(limiter, now=1021.0)
    workspace = view["workspace"]
    assert [(window["start"], window["admitted"], window["refused"]) for window in workspace["windows"]] == [
        (1000, 15, 3),
        (1010, 3, 0),
    ]
    assert workspace["finished_windows"] == 2 and workspace["windows_over_limit"] == 0
    assert workspace["current_window"] is None
    app_a, app_b = view["tokens"]
    assert [window["admitted"] for window in app_a["windows"]] == [10, 3]
    assert [window["refused"] for window in app_b["windows"]] == [1]
