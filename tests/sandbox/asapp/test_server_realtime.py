"""Real-time events through the pull cursor: order, at-least-once, the clock, appends, retention."""

import httpx
import pytest

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.sandbox.asapp.conftest import DAY, EVENTS, assert_asapp_error, envelope

EVENTS_PATH = "/realtime/v1/events"


def pull(api, feed: str, cursor: str | None = None, limit: int | None = None) -> dict:
    params = {"feed": feed, **({"cursor": cursor} if cursor else {}), **({"limit": limit} if limit else {})}
    response = api.get(EVENTS_PATH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> list[str]:
    return [event["event_id"] for event in page["events"]]


def test_pages_follow_create_time_and_keep_duplicates(sandbox, api):
    sandbox.set_clock(f"{DAY}T15:00:00Z")
    first = pull(api, "all", limit=2)
    second = pull(api, "all", first["nextCursor"], limit=2)
    third = pull(api, "all", second["nextCursor"], limit=2)
    assert [ids(first), ids(second), ids(third)] == [
        ["ev-activity-1", "ev-journey-1"],
        ["ev-journey-2", "ev-journey-2"],  # the log's duplicate is delivered as it is
        ["ev-queue-1"],
    ]
    assert [first["hasMore"], second["hasMore"], third["hasMore"]] == [True, True, False]
    assert first["events"][0] == EVENTS[0]  # envelopes are passed through unchanged

    idle = pull(api, "all", third["nextCursor"])
    assert idle == {"events": [], "nextCursor": third["nextCursor"], "hasMore": False}


def test_a_feed_holds_only_its_own_events(sandbox, api):
    sandbox.set_clock(f"{DAY}T15:00:00Z")
    assert ids(pull(api, "journey")) == ["ev-journey-1", "ev-journey-2", "ev-journey-2"]
    assert ids(pull(api, "queue")) == ["ev-queue-1"]


def test_events_appear_when_the_clock_passes_their_create_time(sandbox, api):
    sandbox.set_clock(f"{DAY}T15:00:00Z")
    cursor = pull(api, "journey")["nextCursor"]
    assert pull(api, "journey", cursor)["events"] == []
    sandbox.set_clock(f"{DAY}T16:00:30Z")
    assert ids(pull(api, "journey", cursor)) == ["ev-journey-3"]


def test_a_cursor_behind_the_seven_day_retention_is_gone(sandbox, api):
    sandbox.set_clock(f"{DAY}T14:00:00Z")
    before_anything = pull(api, "journey")["nextCursor"]
    sandbox.set_clock(f"{DAY}T15:00:00Z")
    after_first = pull(api, "journey", limit=1)["nextCursor"]

    sandbox.set_clock("2024-05-08T14:02:30Z")  # ev-journey-1 (14:02:11) is now older than 7 days
    response = api.get(EVENTS_PATH, params={"feed": "journey", "cursor": before_anything})
    error = assert_asapp_error(response, 410, "410-01")
    assert error["message"] == "Cursor expired"
    assert ids(pull(api, "journey", after_first))[0] == "ev-journey-2"
    assert ids(pull(api, "journey"))[0] == "ev-journey-2"  # no cursor: the oldest retained event


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"feed": "chat"}, "/feed"),
        ({"feed": "all", "limit": "0"}, "/limit"),
        ({"feed": "all", "limit": "501"}, "/limit"),
        ({"feed": "all", "cursor": "not-a-cursor"}, "/cursor"),
        ({"feed": "queue", "cursor": "eyJmIjoiam91cm5leSIsInMiOjF9"}, "/cursor"),  # a journey cursor
    ],
)
def test_bad_parameters_are_rejected_naming_them(api, params, path):
    error = assert_asapp_error(api.get(EVENTS_PATH, params=params), 400, "400-01")
    assert error["message"].startswith(f"[Path '{path}']")


def test_appended_events_reach_readers_even_when_dated_in_the_past(small_dataset):
    with run_asapp_sandbox(small_dataset, clock=f"{DAY}T15:00:00Z") as sandbox:
        with httpx.Client(base_url=sandbox.api_url, headers=sandbox.headers) as api:
            cursor = pull(api, "journey")["nextCursor"]
            late = envelope("journey", "DISPOSITION", f"{DAY}T10:00:00.000Z", "ev-late")
            future = envelope("journey", "SURVEY_SUBMITTED", f"{DAY}T15:30:00.000Z", "ev-future")
            assert sandbox.append_events([future, late]) == 2
            page = pull(api, "journey", cursor)
            assert ids(page) == ["ev-late"]
            sandbox.set_clock(f"{DAY}T15:31:00Z")
            assert ids(pull(api, "journey", page["nextCursor"])) == ["ev-future"]

            bad = httpx.post(
                f"{sandbox.api_url}/_sim/admin/events", json=[{"name": "com.asapp.event.journey"}]
            )
            assert bad.status_code == 400 and "/0/meta_data/create_time" in bad.json()["error"]["message"]
