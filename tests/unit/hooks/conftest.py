"""Fixtures for the hooks' tests."""

import json

import pytest
from asapp_intercom.hooks.api import ApiSession
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.hooks.budget import Limits
from asapp_intercom.hooks.intercom import IntercomHook

from tests.unit.hooks.fakes import (
    FakeClock,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def asapp_api(monkeypatch, clock) -> ApiSession:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASAPP_UNIT",
        json.dumps(
            {
                "conn_type": "asapp",
                "host": "https://api.asapp.test",
                "login": "unit-api-id",
                "password": "unit-api-secret",
            }
        ),
    )
    api = AsappHook("asapp_unit").api
    api.sleep = api.limiter.sleep = clock.sleep
    api.limiter.clock = clock
    return api


@pytest.fixture
def intercom_api(monkeypatch, clock) -> ApiSession:
    monkeypatch.setenv(
        "AIRFLOW_CONN_INTERCOM_UNIT",
        json.dumps(
            {"conn_type": "intercom", "host": "https://api.intercom.test", "password": "unit-access-token"}
        ),
    )
    api = IntercomHook("intercom_unit", limits=Limits(600, 600)).api
    api.sleep = api.limiter.sleep = clock.sleep
    api.limiter.clock = clock
    return api
