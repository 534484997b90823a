"""The sensor following ASAPP's real-time events: it defers to execute_complete and fails on an error
event."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException
from asapp_intercom.sensors.realtime import RealtimeEventsSensor

from tests.support.migrations import migration_config


def test_an_error_event_from_the_trigger_fails_the_sensor_with_its_message(tmp_path):
    sensor = RealtimeEventsSensor(task_id="realtime", config=migration_config("sensed", tmp_path))

    with pytest.raises(AirflowException, match="ASAPP refused the keys: 401"):
        sensor.execute_complete(
            context={}, event={"status": "error", "message": "ASAPP refused the keys: 401 401-02"}
        )
