"""A long task's progress lines, and the account of requests a try spends, kept in the ledger as it goes."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from types import SimpleNamespace

from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline import progress
from asapp_intercom.pipeline.progress import Heartbeat, Progress, Spend, TaskTry
from asapp_intercom.pipeline.staging import Staging


def test_a_tries_requests_are_kept_minute_by_minute_and_in_total(tmp_path, monkeypatch):
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "spend")
    api = SimpleNamespace(calls=40, retries=0)  # 40 sent before this step started
    ten = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
    clock = iter([ten, ten, ten + timedelta(minutes=1), ten + timedelta(minutes=3)])
    monkeypatch.setattr(progress, "_minute", lambda: next(clock))

    spend = Spend(ledger, "run_1", TaskTry("load.contacts", -1, 2), api)
    api.calls = 140
    spend.write()  # 10:00, 100 sent
    api.calls, api.retries = 300, 2
    spend.write()  # 10:01: what was sent since the last write counts there
    spend.write()  # 10:03, nothing new: no row

    assert ledger.requests_per_minute("run_1") == [(ten, 100), (ten + timedelta(minutes=1), 160)]
    assert ledger.spent("run_1") == {"load.contacts": {"requests": 260, "retries": 2, "tries": 1}}


def test_a_long_task_says_where_it_stands_at_least_every_30_seconds(caplog):
    now = [0.0]
    progress = Progress(logging.getLogger("test"), "transform conversation", 2_000_000, clock=lambda: now[0])
    caplog.set_level(logging.INFO)

    for _ in range(29):  # 29 s at 1,000 records a second: nothing to say yet
        now[0] += 1
        progress.advance(1_000)
    assert caplog.messages == []
    now[0] += 1.5
    progress.advance(1_000)
    now[0] += 1
    progress.advance(1_000)  # a second later: not again
    now[0] = 5_000
    progress.advance(1_000)

    assert caplog.messages == [
        "transform conversation: 30,000 of 2,000,000 records (1.5 %), 983.6/s, about 33 min left",
        "transform conversation: 32,000 of 2,000,000 records (1.6 %), 6.4/s, about 3 d 13 h left",
    ]


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 10 s"
        time.sleep(0.01)


def test_a_step_with_no_records_to_count_still_says_it_is_working(caplog):
    """A sort of millions of rows counts no records: its step says every `every` seconds how long it has
    run and, where DuckDB can tell, how far its statement is; then that it is done, and nothing more."""
    caplog.set_level(logging.INFO)
    clock = chain([0.0, 40.0, 150.0], repeat(200.0))
    estimates = chain([0.0, 45.4], repeat(99.0))
    beat = Heartbeat(
        logging.getLogger("test"),
        "transform",
        every=0.01,
        estimate=lambda: next(estimates),
        clock=lambda: next(clock),
    )

    with beat.step("sorting the feeds by conversation"):
        wait_for(lambda: len(caplog.messages) >= 2)
    said = len(caplog.messages)
    time.sleep(0.05)

    assert caplog.messages[:2] == [
        "transform: sorting the feeds by conversation, for 40 s",
        "transform: sorting the feeds by conversation, for 2 min (45 % of its current statement)",
    ]
    assert caplog.messages[-1] == "transform: sorting the feeds by conversation, done in 3 min"
    assert len(caplog.messages) == said


def test_a_staging_connection_tells_how_far_its_statement_is(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    connection = Staging(f"file://{tmp_path}/staging").connect()
    beat = Heartbeat(logging.getLogger("test"), "transform", every=0.05, estimate=connection.query_progress)

    def estimated() -> bool:
        return any("% of its current statement)" in message for message in caplog.messages)

    with beat.step("sorting"):
        for _ in range(5):  # a statement of a second or two; again if it ended before a line
            connection.execute(
                "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS m FROM range(3000000) t(i) ORDER BY m)"
            ).fetchall()
            if estimated():
                break

    assert estimated()
    assert caplog.messages[0].startswith("transform: sorting, for 0 s")
