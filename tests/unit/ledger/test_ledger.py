"""The ledger on both databases it supports: SQLite (the default) and PostgreSQL (a shared deployment)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from asapp_intercom.ledger import Ledger, sql_engine
from asapp_intercom.ledger.state import ActiveRun, DeltaMark

migration_ids = (f"ledger_{n}" for n in count())


@pytest.fixture
def ledger(database):
    ledger = Ledger(database, next(migration_ids))
    yield ledger
    ledger.close()


def envelope(n: int, at: datetime) -> dict:
    return {
        "event_id": f"evt-{n}",
        "name": "journey",
        "event_type": "conversation_started",
        "meta_data": {"create_time": at.isoformat(), "issue_id": str(21_000 + n)},
    }


def test_an_intent_stays_pending_with_its_first_time_until_the_write_is_done(ledger):
    first = ledger.begin("contact", "c-1", "run_1", origin="existing", previous_state={"name": "Ada"})
    again = ledger.begin("contact", "c-1", "run_2")  # a retry before the write finished

    assert again == first and first.tzinfo is not None
    assert ledger.record("contact", "c-1").state == "pending"

    ledger.complete("contact", "c-1", intercom_id="ic-9", action="updated", payload_hash="h1", run_id="run_2")

    done = ledger.record("contact", "c-1")
    assert (done.state, done.intercom_id, done.action, done.origin) == ("done", "ic-9", "updated", "existing")
    assert done.previous_state == {"name": "Ada"}  # what a rollback restores


def test_records_are_found_in_batches_larger_than_one_query(ledger):
    for n in range(620):
        ledger.complete(
            "company", f"co-{n}", intercom_id=f"ic-{n}", action="created", payload_hash="h", run_id="r"
        )

    found = ledger.records_for("company", [f"co-{n}" for n in range(0, 640, 2)])

    assert sorted(found) == sorted(f"co-{n}" for n in range(0, 620, 2))
    assert found["co-600"].intercom_id == "ic-600"


def test_a_read_back_mark_is_the_payload_found_as_sent_and_a_difference_clears_it(ledger):
    for n in range(3):
        ledger.complete(
            "contact", f"c-{n}", intercom_id=f"ic-{n}", action="created", payload_hash="h1", run_id="r"
        )
    ledger.mark_read_back("contact", {"c-0": "h1", "c-1": "h1"})

    ledger.mark_read_back("contact", {"c-1": None})  # a later read-back found it changed in Intercom

    marks = {row.source_id: row.read_back_hash for row in ledger.iter_records("contact")}
    assert marks == {"c-0": "h1", "c-1": None, "c-2": None}


def test_a_run_counts_what_its_killed_tries_wrote_once_each(ledger):
    ledger.complete(
        "company", "co-old", intercom_id="ic-0", action="created", payload_hash="h", run_id="run_1"
    )
    ledger.complete("company", "co-1", intercom_id="ic-1", action="created", payload_hash="h", run_id="run_2")
    ledger.complete("company", "co-2", intercom_id="ic-2", action="updated", payload_hash="h", run_id="run_2")

    # the retry of a killed try finds all three as Intercom has them
    ledger.mark_unchanged("company", ["co-old", "co-1", "co-2"], "run_2")

    assert ledger.record_counts("run_2")["company"] == {"created": 1, "updated": 1, "unchanged": 1}


def test_an_event_delivered_many_times_at_once_is_stored_once(ledger):
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    batch = [envelope(n, start + timedelta(seconds=n)) for n in range(40)]

    with ThreadPoolExecutor(8) as pool:
        added = sum(pool.map(lambda _: ledger.append_events(batch, "push"), range(8)))

    logged, _position, newest = ledger.event_summary()
    assert (added, logged) == (40, 40)
    assert newest == start + timedelta(seconds=39)
    assert [row.event_id for row in ledger.events_after(0)] == [item["event_id"] for item in batch]


def test_one_run_at_a_time_holds_the_migration_until_it_has_ended(ledger):
    scheduled = ActiveRun(dag_id="asapp_to_intercom__m", run_id="scheduled__1")
    backfills = [ActiveRun(dag_id="asapp_to_intercom__m", run_id=f"backfill__{n}") for n in range(8)]
    ended: set[str] = set()

    def active(run: ActiveRun) -> bool:
        return run.run_id not in ended

    with ThreadPoolExecutor(8) as pool:  # eight runs claim at once: one wins, the others see it
        holders = list(pool.map(lambda run: ledger.claim_run(run, active), backfills))
    winners = [run for run, holder in zip(backfills, holders, strict=True) if holder is None]
    assert len(winners) == 1 and all(holder == winners[0] for holder in holders if holder is not None)

    assert ledger.claim_run(winners[0], active) is None  # its retry still holds it
    assert ledger.claim_run(scheduled, active) == winners[0]
    ended.add(winners[0].run_id)
    assert ledger.claim_run(scheduled, active) is None
    assert ledger.load(ActiveRun) == scheduled


def test_the_quarantine_lists_what_is_still_refused(ledger):
    ledger.quarantine("contact", "c-1", "email is not valid", "run_1", detail={"email": "nope"})
    ledger.quarantine("contact", "c-2", "409 conflict", "run_1")
    ledger.resolve_quarantine("contact", "c-2")

    (still,) = ledger.open_quarantine("contact")
    assert (still.source_id, still.reason, still.detail) == ("c-1", "email is not valid", {"email": "nope"})


def test_approvals_and_typed_state_keep_their_values(ledger):
    field_map = [{"source": "convos_metadata.issue_id", "target": "conversation.external_id"}]
    ledger.record_approval("hash-1", field_map, "admin", datetime(2026, 11, 2, tzinfo=UTC), "run_1")
    assert ledger.load(DeltaMark) is None
    ledger.save(DeltaMark(staged_at=datetime(2026, 11, 2, 9, tzinfo=UTC), event_seq=3))
    ledger.save(DeltaMark(staged_at=datetime(2026, 11, 2, 10, tzinfo=UTC), event_seq=4))

    assert ledger.approval("hash-1").field_map == field_map
    assert ledger.approval("hash-2") is None
    assert ledger.load(DeltaMark) == DeltaMark(staged_at=datetime(2026, 11, 2, 10, tzinfo=UTC), event_seq=4)


def test_migrations_sharing_a_database_do_not_see_each_other(database, ledger):
    other = Ledger(database, next(migration_ids))
    try:
        ledger.complete("contact", "c-1", intercom_id="ic-1", action="created", payload_hash="h", run_id="r")
        other.append_events([envelope(1, datetime(2026, 11, 2, tzinfo=UTC))], "pull")

        assert other.record("contact", "c-1") is None
        assert ledger.event_summary()[0] == 0
        assert other.event_summary()[0] == 1
    finally:
        other.close()


def test_the_requests_of_every_try_add_up_minute_by_minute(ledger):
    ten = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
    ledger.note_spend_in_minute("run_1", "load.contacts", -1, 1, ten, 100)
    ledger.note_spend_in_minute("run_1", "load.contacts", -1, 1, ten, 250)  # the same minute, later
    ledger.note_spend_in_minute("run_1", "load.contacts", -1, 2, ten, 50)  # the retry, in that minute too
    ledger.note_spend_in_minute("run_1", "load.companies", -1, 1, ten + timedelta(minutes=2), 30)
    ledger.note_spend_in_minute("run_2", "load.contacts", -1, 1, ten, 999)

    assert ledger.requests_per_minute("run_1") == [(ten, 300), (ten + timedelta(minutes=2), 30)]


def test_a_page_of_the_quarantine_is_searched_and_counted_in_the_database(ledger):
    for n in range(12):
        ledger.quarantine("conversation", f"issue-{n:02d}", f"its customer ({n}) is not in the feed", "run_1")
    ledger.quarantine("feed:utterances", "u.jsonl:7", "Not Valid JSON", "run_1")
    ledger.quarantine("company", "c9", "refused 100%_of the time", "run_0")
    ledger.resolve_quarantine("conversation", "issue-11")

    rows, total = ledger.quarantine_page(run_id="run_1", offset=5, limit=5)
    assert total == 12 and [row.source_id for row in rows] == [f"issue-{n:02d}" for n in range(5, 10)]
    rows, total = ledger.quarantine_page(search="not valid json")
    assert (total, [row.source_id for row in rows]) == (1, ["u.jsonl:7"])
    assert ledger.quarantine_page(search="100%_")[1] == 1  # LIKE's wildcards are searched as text
    assert ledger.quarantine_page(search="issue_0")[1] == 0


def _journal_mode(path: str) -> str:
    with sql_engine(f"sqlite:///{path}").connect() as connection:
        return connection.exec_driver_sql("PRAGMA journal_mode").scalar()


def test_processes_opening_a_new_sqlite_ledger_at_once_all_get_it_in_wal_mode(tmp_path):
    """Workers starting together open a new ledger file at once: each races to switch it to WAL, a switch
    that does not wait for the lock; every one of them must connect (one in a few dozen failed with
    "database is locked")."""
    paths = [str(tmp_path / f"ledger_{n}.db") for n in range(40) for _ in range(8)]
    with ProcessPoolExecutor(4) as pool:
        modes = list(pool.map(_journal_mode, paths))
    assert modes == ["wal"] * len(paths)
