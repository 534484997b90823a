"""What a real tenant brings, under dag.test(): a broken file ASAPP delivers again, feeds a tenant does not
have, and an Intercom that changed after the load: red only when something is truly wrong, and saying what."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import yaml

from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from tests.support import oracle
from tests.support.corpus import assert_corpus_outcomes, manifest
from tests.support.migrations import after_the_realtime_window, generate

pytestmark = pytest.mark.airflow


def use_asapp(migration, monkeypatch, sandbox) -> None:
    """Point the migration's connections at another ASAPP sandbox."""
    monkeypatch.setenv("AIRFLOW_CONN_ASAPP_TEST_S3", json.dumps(sandbox.aws_connection()))
    monkeypatch.setenv(
        "AIRFLOW_CONN_ASAPP_TEST",
        json.dumps(
            {
                "conn_type": "asapp",
                "host": sandbox.api_url,
                "login": sandbox.api_id,
                "password": sandbox.api_secret,
            }
        ),
    )


def test_a_broken_file_asapp_delivers_again_is_picked_up_and_lifts_its_quarantine(
    migration, dataset, monkeypatch
):
    with run_asapp_sandbox(dataset, daily_cap=1_000_000, clock=after_the_realtime_window(dataset)) as asapp:
        use_asapp(migration, monkeypatch, asapp)
        first = migration.run(mode="full")
        assert str(first.state) == "success", migration.task_states(first)
        broken = manifest(dataset)["mess"]["truncated_gzip"][0]
        asapp.set_clock(datetime.fromisoformat(broken["redelivered_at"]) + timedelta(minutes=1))

        again = migration.run(mode="full")

    assert str(again.state) == "success", migration.task_states(again)
    assert_corpus_outcomes(dataset, migration.intercom.export(), migration.report(again), redelivered=True)
    unreadable = set(broken["unreadable_event_uuids"])
    assert unreadable and unreadable <= {message.get("event_uuid") for message in _staged_messages(migration)}


def _staged_messages(migration) -> list[dict]:
    import duckdb

    return (
        duckdb.sql(
            f"SELECT event_uuid FROM read_parquet('{migration.home}/staging/raw/utterances/**/*.parquet', "
            "union_by_name = true)"
        )
        .df()
        .to_dict("records")
    )


def test_a_tenant_without_an_optional_feed_migrates_and_a_missing_required_one_names_the_setting(
    migration, monkeypatch, tmp_path_factory
):
    data = generate(
        tmp_path_factory.mktemp("no-autosummary") / "data",
        20,
        seed=3,
        extra=["--without-feed", "autosummary_structured_data", "--without-feed", "customer_feedback"],
    )
    with run_asapp_sandbox(data, daily_cap=1_000_000, clock=after_the_realtime_window(data)) as asapp:
        use_asapp(migration, monkeypatch, asapp)
        run = migration.run(mode="full")
        assert str(run.state) == "success", migration.task_states(run)
        feeds = migration.report(run)["feeds"]
        assert feeds["autosummary_structured_data"]["available"] is False
        assert "not available for this tenant" in feeds["customer_feedback"]["note"]
        assert len(oracle.expected(data).conversations) == len(migration.intercom.export()["conversations"])

        config = yaml.safe_load(migration.config_path.read_text())
        config["asapp"]["required_feeds"] = [
            "convos_metadata",
            "utterances",
            "customers",
            "customer_feedback",
        ]
        migration.config_path.write_text(yaml.safe_dump(config))
        failed = migration.run(mode="full")

    assert str(failed.state) == "failed"
    assert migration.task_states(failed)["discover.asapp"] == "failed"
    (why,) = migration.report(failed)["failed_tasks"]
    assert why["task"] == "discover.asapp"
    assert "customer_feedback" in why["error"] and "asapp.required_feeds" in why["error"]


def test_read_back_names_a_part_changed_in_intercom_and_a_part_there_twice(migration):
    first = migration.run(mode="full")
    assert str(first.state) == "success", migration.task_states(first)
    workspace = migration.intercom.export()
    changed, doubled = [
        conversation
        for conversation in workspace["conversations"]
        if len([part for part in conversation["parts"] if part["part_type"] == "comment"]) > 2
    ][:2]
    edited = next(part for part in changed["parts"] if part["part_type"] == "comment")
    edited["body"] = "<p>A teammate edited this after the migration</p>"
    copy = dict(next(part for part in doubled["parts"] if part["part_type"] == "comment"))
    doubled["parts"].append({**copy, "id": str(int(copy["id"]) + 10**9)})
    migration.intercom.seed({"conversations": [changed, doubled]})

    again = migration.run(mode="full")

    assert str(again.state) == "failed"
    assert migration.task_states(again)["validate.read_back"] == "failed"
    report = migration.report(again)
    mismatches = {
        item["source_id"]: item["problems"] for item in report["validation_mismatches"]["conversation"]
    }
    assert set(mismatches) == {
        changed["custom_attributes"]["asapp_issue_id"],
        doubled["custom_attributes"]["asapp_issue_id"],
    }
    assert [problem["actual"] for problem in mismatches[changed["custom_attributes"]["asapp_issue_id"]]] == [
        "missing"
    ]
    (twice,) = mismatches[doubled["custom_attributes"]["asapp_issue_id"]]
    assert twice["actual"].startswith("duplicated part")
    assert report["failed_tasks"][0]["task"] == "validate.read_back"
