"""Real-time events and delta runs under real Airflow processes, driven through the REST API:
a sensor that waits in the triggerer while ASAPP emits events, ASAPP pushing events to the plugin's
endpoint in the API server, and a backfill over three past windows while the schedule runs too, then one
window backfilled again, and once more after a cutover."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from asapp_intercom.ledger import Ledger
from asapp_intercom.ledger.state import Cutover

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from include.sandbox.intercom.server.launcher import run_intercom_sandbox
from tests.e2e.conftest import Stack
from tests.support import oracle
from tests.support.checks import assert_contacts_and_companies, assert_migrated
from tests.support.migrations import BOT_EMAIL, after_the_realtime_window, generate, migration_config
from tests.support.realtime import usable_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SECRET = "pushed-events-shared-secret"


def realtime_window(data: Path) -> tuple[datetime, datetime]:
    window = json.loads((data / "_manifest.json").read_text())["realtime_window"]
    return datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])


def teammates(intercom, expected: oracle.Expected) -> None:
    emails = sorted(email for email in expected.rep_emails.values() if email)
    intercom.add_admins(
        {"name": "ASAPP Bot", "email": BOT_EMAIL},
        *({"name": email.split("@")[0], "email": email} for email in emails[::2]),
    )


class Migrations:
    """Three migrations on the shared Airflow stack, each with its own ASAPP and Intercom sandboxes."""

    def __init__(self, stack: ExitStack, airflow: Stack, root: Path, dataset: Path):
        self.root = root
        today = datetime.now(UTC).date()
        self.future = generate(root / "future", 30, start=(today - timedelta(days=1)).isoformat())
        self.history = dataset
        start, _ = realtime_window(self.future)
        self.live_asapp = stack.enter_context(
            run_asapp_sandbox(
                self.future, daily_cap=1_000_000, clock=(start + timedelta(hours=2, minutes=5)).isoformat()
            )
        )
        self.pushing_asapp = stack.enter_context(
            run_asapp_sandbox(
                self.future, daily_cap=1_000_000, clock=(start - timedelta(minutes=5)).isoformat()
            )
        )
        self.history_asapp = stack.enter_context(
            run_asapp_sandbox(dataset, daily_cap=1_000_000, clock=after_the_realtime_window(dataset))
        )
        self.intercom = {
            name: stack.enter_context(run_intercom_sandbox(root / f"{name}.json", search_delay=1))
            for name in ("live", "pushed", "backfilled")
        }
        self.expected = {"future": oracle.expected(self.future), "history": oracle.expected(dataset)}
        for name, data in (("live", "future"), ("pushed", "future"), ("backfilled", "history")):
            teammates(self.intercom[name], self.expected[data])
        self.airflow = airflow.airflow
        airflow.add_migration(
            migration_config("live", root / "live", asapp={"realtime": {"poll_interval": 2}}),
            self.live_asapp,
            self.intercom["live"],
        )
        airflow.add_migration(
            migration_config(
                "pushed",
                root / "pushed",
                asapp={"realtime": {"mode": "push", "webhook_conn_id": "asapp_webhook", "poll_interval": 2}},
            ),
            self.pushing_asapp,
            self.intercom["pushed"],
            asapp_webhook={"conn_type": "generic", "password": SECRET},
        )
        airflow.add_migration(
            migration_config("backfilled", root / "backfilled", schedule="@daily", start_date="2026-01-05"),
            self.history_asapp,
            self.intercom["backfilled"],
        )


@pytest.fixture(scope="module")
def migrations(tmp_path_factory, dataset, stack):
    with ExitStack() as sandboxes:
        yield Migrations(sandboxes, stack, tmp_path_factory.mktemp("realtime-e2e"), dataset)


def test_the_sensor_waits_for_events_without_a_worker_and_migrates_them(migrations):
    airflow, asapp = migrations.airflow, migrations.live_asapp
    messages = [
        event for _, event in usable_events(migrations.future) if event["event_type"] == "TEXT_MESSAGE"
    ]
    last_message = max(event["meta_data"]["create_time"] for event in messages)
    shown_before = asapp.clock()
    sent_while_waiting = [
        event for event in messages if oracle.instant(event["meta_data"]["create_time"]) > shown_before
    ]
    assert sent_while_waiting, "the dataset's window must have messages after the clock's starting point"
    run_id = airflow.trigger("asapp_to_intercom__live", {"mode": "full", "follow_events_until": last_message})

    airflow.wait("asapp_to_intercom__live", run_id, task="extract.realtime", until={"deferred"}, timeout=300)
    time.sleep(5)
    assert airflow.task_states("asapp_to_intercom__live", run_id)["extract.realtime"] == "deferred"
    asapp.advance_clock(4 * 3600)  # ASAPP emits the rest of the window's events

    assert airflow.wait("asapp_to_intercom__live", run_id, timeout=900) == "success", airflow.task_states(
        "asapp_to_intercom__live", run_id
    )
    export = migrations.intercom["live"].export()
    migrated = assert_migrated(export, migrations.expected["future"])
    assert_contacts_and_companies(export, migrations.expected["future"])
    for event in sent_while_waiting:  # each arrived as a part of its own conversation, at its original time
        message = event["details"]["message"]
        thread = oracle.thread_of(migrated[event["meta_data"]["issue_id"]])
        created = int(oracle.instant(message["created_ts"]).timestamp())
        assert any(at == created and message["text"] in text for at, _, text in thread), message


def test_events_pushed_by_asapp_are_migrated_and_unsigned_posts_refused(migrations):
    airflow, asapp = migrations.airflow, migrations.pushing_asapp
    endpoint = f"{airflow.url}/asapp-intercom/events/pushed"
    assert httpx.post(endpoint, json={"event_id": "forged"}).status_code == 401
    asapp.add_push_endpoint(endpoint, timeout_ms=10_000, retries=3, hmac_secret=SECRET)

    _, end = realtime_window(migrations.future)
    asapp.set_clock(end + timedelta(hours=1))
    deliveries = len(
        (migrations.future / "_realtime/events.jsonl").read_text().splitlines()
    )  # duplicates too
    deadline = time.monotonic() + 300
    while asapp.stats()["push"]["delivered"] < deliveries:
        assert time.monotonic() < deadline, asapp.stats()["push"]
        time.sleep(2)

    run_id = airflow.trigger("asapp_to_intercom__pushed", {"mode": "full"})

    assert airflow.wait("asapp_to_intercom__pushed", run_id, timeout=900) == "success", airflow.task_states(
        "asapp_to_intercom__pushed", run_id
    )
    assert_migrated(migrations.intercom["pushed"].export(), migrations.expected["future"])


def backfill(airflow, dag_id: str, first: str, last: str, reprocess: str | None = None) -> None:
    """A backfill over daily windows, created as the UI's backfill dialog creates one, then wait until its
    runs are done.

    It is created while the DAG is paused. On SQLite, a creation that met a locked database (and was asked
    again) left runs removed from under a scheduler that had already started one: the scheduler died of an
    ObjectDeletedError, `airflow standalone` did not start it again, and the test waited 20 minutes. A
    paused DAG's runs are not started, so none can be removed while running."""
    body = {
        "dag_id": dag_id,
        "from_date": f"{first}T00:00:00Z",
        "to_date": f"{last}T00:00:00Z",
        "max_active_runs": 1,
        "reprocess_behavior": reprocess or "none",
    }
    airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    try:
        for attempt in range(5):
            try:
                airflow.api("POST", "/backfills", json=body)
                break
            except RuntimeError:
                running = [
                    item
                    for item in airflow.api("GET", "/backfills", params={"dag_id": dag_id})["backfills"]
                    if not item.get("completed_at")
                ]
                if (
                    running
                    and running[0]["from_date"][:10] == first
                    and running[0]["reprocess_behavior"] == body["reprocess_behavior"]
                ):
                    break  # made, though the answer said otherwise
                if attempt == 4:
                    raise
                time.sleep(2)
    finally:
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    deadline = time.monotonic() + 1200
    while True:
        backfills = airflow.api("GET", "/backfills", params={"dag_id": dag_id})["backfills"]
        if backfills and all(item.get("completed_at") for item in backfills):
            return
        assert time.monotonic() < deadline, "the backfill did not complete"
        time.sleep(3)


def test_backfills_beside_the_schedule_again_and_after_the_cutover_do_exactly_what_they_should(
    migrations,
):
    """The scheduled run of the latest window starts with the DAG; the backfill's runs take turns with
    it (one run works on a migration at a time), and backfilling a window again changes nothing."""
    airflow, intercom = migrations.airflow, migrations.intercom["backfilled"]
    dag_id = "asapp_to_intercom__backfilled"

    backfill(airflow, dag_id, "2026-01-05", "2026-01-07")
    runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": "backfill"})["dag_runs"]
    assert sorted(run["logical_date"][:10] for run in runs) == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert {run["state"] for run in runs} == {"success"}, runs
    (scheduled,) = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": "scheduled"})["dag_runs"]
    assert airflow.wait(dag_id, scheduled["dag_run_id"], timeout=900) == "success"
    worked = sorted(  # from the moment a run held the migration to its end
        (airflow.task_instance(dag_id, run["dag_run_id"], "one_run_at_a_time")["end_date"], run["end_date"])
        for run in airflow.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]
    )
    assert len(worked) == 4
    assert all(ended <= began for (_, ended), (began, _) in pairwise(worked)), worked
    first = intercom.export()
    assert_migrated(first, migrations.expected["history"])
    assert_contacts_and_companies(first, migrations.expected["history"])

    backfill(airflow, dag_id, "2026-01-06", "2026-01-06", reprocess="completed")

    again = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": "backfill"})["dag_runs"]
    assert {run["state"] for run in again} == {"success"}, again
    second_backfill_ended = max(run["end_date"] for run in again)
    second = intercom.export()
    for kind in ("companies", "contacts", "conversations", "tags"):
        changed = {
            record["id"]: {
                key: (before.get(key), record.get(key))
                for key in record
                if record.get(key) != before.get(key)
            }
            for record, before in zip(second[kind], first[kind], strict=True)
            if record != before
        }
        assert len(second[kind]) == len(first[kind]) and not changed, (kind, changed)

    # After a cutover (as a cutover run that said go records it), a backfill no longer reads ASAPP.
    ledger = Ledger(f"sqlite:///{migrations.root}/backfilled/ledger.db", "backfilled")
    ledger.save(Cutover(at=datetime(2026, 1, 6, tzinfo=UTC), run_id="manual__cutover"))
    ledger.close()
    asked = migrations.history_asapp.stats()["requests"]

    backfill(airflow, dag_id, "2026-01-06", "2026-01-06", reprocess="completed")

    (after_cutover,) = [
        run
        for run in airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": "backfill"})["dag_runs"]
        if run["logical_date"].startswith("2026-01-06") and run["end_date"] > second_backfill_ended
    ]
    states = airflow.task_states(dag_id, after_cutover["dag_run_id"])
    assert after_cutover["state"] == "success", states
    assert states["discover.asapp"] == states["load.conversations_balanced"] == "skipped", states
    assert migrations.history_asapp.stats()["requests"] == asked
    assert intercom.export() == second
