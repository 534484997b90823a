"""The account of requests a task try spends, kept in the ledger as it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline import progress
from asapp_intercom.pipeline.progress import Spend, TaskTry


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
