"""What every migration task shares: ASAPP's daily cap, once met by one task, keeps every task from
calling; after a cutover, scheduled runs and backfills stop following ASAPP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from asapp_intercom.hooks.asapp import AsappHook, DailyCapReached
from asapp_intercom.ledger import Ledger
from asapp_intercom.ledger.state import Cutover
from asapp_intercom.operators.base import LedgerCapMemo, MigrationOperator

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.support.migrations import migration_config
from tests.support.realtime import window


def test_after_one_task_meets_the_daily_cap_no_task_calls_asapp_before_it_resets(
    dataset, monkeypatch, tmp_path
):
    start, _ = window(dataset)
    with run_asapp_sandbox(dataset, daily_cap=5, clock=(start - timedelta(hours=12)).isoformat()) as asapp:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ASAPP_CAPPED",
            json.dumps(
                {
                    "conn_type": "asapp",
                    "host": asapp.api_url,
                    "login": asapp.api_id,
                    "password": asapp.api_secret,
                }
            ),
        )
        ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "capped")
        discovery, extraction = (AsappHook("asapp_capped", daily_cap=LedgerCapMemo(ledger)) for _ in range(2))
        for _ in range(5):
            discovery.file_exporter("listfeeds")

        with pytest.raises(DailyCapReached) as met:
            discovery.file_exporter("listfeeds")
        with pytest.raises(
            DailyCapReached
        ) as known:  # another task, another process: it asks the ledger first
            extraction.list_feed_dates("utterances")

        assert asapp.stats()["rejections"] == {"429-02": 1}
        assert abs((known.value.resets_at - met.value.resets_at).total_seconds()) < 5


def test_after_a_cutover_scheduled_runs_and_backfills_stop_following_asapp(tmp_path):
    task = MigrationOperator(task_id="t", config=migration_config("cut", tmp_path))
    freeze = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)

    def window_of(run_type: str, start: datetime):
        return task.window(
            {
                "dag_run": SimpleNamespace(run_type=run_type),
                "data_interval_start": start,
                "data_interval_end": start + timedelta(hours=2),
            }
        )

    before = freeze - timedelta(hours=1)
    assert window_of("scheduled", before) == (before, before + timedelta(hours=2))  # no cutover yet
    task.ledger.save(Cutover(at=freeze, run_id="manual__cutover"))

    assert window_of("scheduled", before) == (before, freeze)  # up to the freeze
    for run_type in ("scheduled", "backfill"):
        with pytest.raises(AirflowSkipException, match="after the cutover"):
            window_of(run_type, freeze)
    assert window_of("manual", freeze) == (None, None)  # a person may still run it by hand
