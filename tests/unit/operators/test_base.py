"""What every migration task shares: ASAPP's daily cap, once met by one task, keeps every task from
calling."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asapp_intercom.hooks.asapp import AsappHook, DailyCapReached
from asapp_intercom.ledger import Ledger
from asapp_intercom.operators.base import LedgerCapMemo

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
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
