"""Fixtures for unit tests that talk to a sandbox over real HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asapp_intercom.ledger import Ledger

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.support.realtime import window


@pytest.fixture
def stream(dataset, monkeypatch, tmp_path):
    """A fresh ASAPP sandbox whose clock stands just before the real-time window: no event visible yet."""
    start, _end = window(dataset)
    with run_asapp_sandbox(
        dataset, daily_cap=1_000_000, clock=(start - timedelta(minutes=1)).isoformat()
    ) as asapp:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ASAPP_STREAM",
            json.dumps(
                {
                    "conn_type": "asapp",
                    "host": asapp.api_url,
                    "login": asapp.api_id,
                    "password": asapp.api_secret,
                }
            ),
        )
        ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "stream")
        yield asapp, ledger
        ledger.close()
