"""The migration DAG under dag.test(): what lands in the Intercom sandbox, per run mode."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import yaml
from asapp_intercom.domain.mapping import slug
from asapp_intercom.domain.payloads import HashScheme, payload_hash
from asapp_intercom.ledger.state import Cutover, PayloadHashing
from asapp_intercom.pipeline import transform
from asapp_intercom.pipeline.staging import Staging, run_key

from tests.support import oracle
from tests.support.checks import assert_migrated, by_issue
from tests.support.corpus import assert_corpus_outcomes
from tests.support.realtime import window

pytestmark = pytest.mark.airflow


def test_a_messy_tenant_ends_green_with_every_good_record_and_every_bad_one_reported_then_cuts_over(
    migration, expected, dataset, caplog
):
    run = migration.run(mode="full")

    assert str(run.state) == "success", migration.task_states(run)
    logged = caplog.text
    conversations, sources = (
        len(expected.conversations),
        len(expected.conversations) + len(expected.quarantined_conversations),
    )
    for line in (  # each long task says where it stands: done of total, the rate and the time left
        r"utterances: staging: \d+ of \d+ files \(100.0 %\), [\d,.]+/s",
        rf"transform conversation: {sources} of {sources} records \(100.0 %\), [\d,.]+/s",
        rf"load conversations: {conversations} of {conversations} records \(100.0 %\), [\d,.]+/s",
        rf"read back conversation: {conversations} of {conversations} records \(100.0 %\), [\d,.]+/s",
    ):
        assert re.search(line, logged), line
    export = migration.intercom.export()
    report = migration.report(run)
    assert_corpus_outcomes(dataset, export, report)
    assert all(row["balanced"] and row["mismatched"] == 0 for row in report["objects"])
    conversations = {row["object"]: row for row in report["objects"]}["conversation"]
    assert conversations["created"] == conversations["in_intercom"] == len(expected.conversations)
    assert conversations["source"] == len(expected.conversations) + len(expected.quarantined_conversations)
    generated = json.loads((dataset / "_manifest.json").read_text())
    assert report["gap"]["conversations_only_in_events"] == [
        str(issue) for issue in generated["mess"]["realtime_only_conversations"]
    ]
    assert set(report["gap"]["conversations_extended_by_events"]) == {
        str(issue) for issue in generated["realtime_continued_issue_ids"]
    }

    # three contacts whose last read-back found a difference since mended (or that a ledger from before
    # read-back marks never saw read back): the cutover reads back these and only these
    unsure = [row.source_id for row in migration.ledger().iter_records("contact") if row.state == "done"][:3]
    migration.ledger().mark_read_back("contact", dict.fromkeys(unsure))
    freeze = window(dataset)[1]
    again = migration.run(mode="full", cutover_at=freeze.isoformat())  # the cutover: the final delta

    assert str(again.state) == "success", migration.task_states(again)
    assert migration.intercom.export()["conversations"] == export["conversations"]
    cutover = migration.report(again)["cutover"]
    assert cutover["go"], cutover["verdict"]
    assert {row["object"]: row["missing"] for row in cutover["objects"]} == {
        row["object"]: 0 for row in report["objects"]
    }
    assert cutover["agents_without_intercom_admin"] == report["agents_without_intercom_admin"]
    assert migration.ledger().load(Cutover) == Cutover(at=freeze, run_id=again.run_id)
    staging = Staging(f"file://{migration.home}/staging")  # the documents the run's report page links
    assert (
        (staging.run_dir(again.run_id) / "cutover.md")
        .read_text()
        .startswith(f"# Cutover of {migration.migration_id}\n\n**GO: cut over at {freeze.isoformat()}")
    )
    assert {path.name for path in staging.inventory_dir.iterdir()} == {
        "inventory.md",
        "inventory.json",
        "implementation_guide.md",
    }
    rows = {row["object"]: row for row in migration.report(again)["objects"]}
    assert all(
        row["created"] == row["updated"] == 0 and row["unchanged"] + row["quarantined"] == row["source"]
        for row in rows.values()
    ), rows
    assert all(row["requests"] == 0 for name, row in rows.items() if name != "attachment"), rows
    assert {name: row["validated"] for name, row in rows.items()} == {
        name: 3 if name == "contact" else 0 for name in rows
    }
    assert all(row["validated"] + row["validated_earlier"] == row["in_intercom"] for row in rows.values()), (
        rows
    )


def test_a_dry_run_plans_every_request_and_writes_nothing_and_inventories_the_configuration(
    migration, expected, dataset
):
    run = migration.run(mode="full", dry_run=True)

    assert str(run.state) == "success", migration.task_states(run)
    export = migration.intercom.export()
    assert (export["contacts"], export["conversations"], export["data_attributes"]) == ([], [], [])
    states = migration.task_states(run)
    assert states["schema.attributes_and_tags"] == states["load.conversations"] == "skipped"
    report = migration.report(run)
    plan = report["plan"]
    assert plan["objects"]["conversation"]["create"] == len(expected.conversations)
    folder = migration.home / "staging" / "inventory"  # linked from the report
    assert report["inventory"]["inventory_json"] == f"file://{folder}/inventory.json"
    inventory = json.loads((folder / "inventory.json").read_text())
    segments = json.loads((dataset / "_config" / "segments.json").read_text())
    assert [item["id"] for item in inventory["segments"]] == sorted(item["id"] for item in segments)
    assert inventory["redaction_entities"] and inventory["not_exported"]
    assert "404" in inventory["not_read"]["custom_vocabularies"]  # the sandbox's key has no access to them
    guide = (folder / "implementation_guide.md").read_text()
    assert all(f"| {item['id']} (" in guide for item in segments)
    assert plan["requests"] > sum(
        len(conversation.messages) for conversation in expected.conversations.values()
    )


def test_records_transformed_in_chunks_and_loaded_in_batches_arrive_once_and_balance(
    migration, expected, dataset, monkeypatch
):
    config = yaml.safe_load(migration.config_path.read_text())
    config["intercom"]["batch_size"] = 20
    migration.config_path.write_text(yaml.safe_dump(config))
    # and transform gathers contacts and conversations a few at a time, as it does with millions of them
    monkeypatch.setattr(transform, "CHUNK_CONTACTS", 7)
    monkeypatch.setattr(transform, "CHUNK_ISSUES", 7)

    run = migration.run(mode="full")

    states = migration.task_states(run)
    assert str(run.state) == "success", states
    conversations = sorted(name for name in states if name.startswith("load.conversations["))
    count = len(conversations)
    assert count >= 3 and conversations == sorted(
        f"load.conversations[{i} of {count}]" for i in range(1, count + 1)
    )
    assert all(states[name] == "success" for name in conversations)
    assert [name for name in states if name.startswith("load.attachments[")] == ["load.attachments[1 of 1]"]
    assert states["load.conversations_balanced"] == "success"
    export = migration.intercom.export()
    assert_migrated(export, expected)
    rows = {row["object"]: row for row in migration.report(run)["objects"]}
    assert all(row["balanced"] for row in rows.values()), rows
    assert (
        rows["conversation"]["created"] == rows["conversation"]["in_intercom"] == len(expected.conversations)
    )
    assert rows["conversation"]["tries"] == count  # one try per batch
    # a contact keeps its customer's metadata attributes, which live in the customer's raw JSON only
    customers = oracle.latest(dataset, "customers", lambda row: row.get("customer_id"), when=None)
    carried = 0
    for contact in export["contacts"]:
        (customer_id, *others) = contact["custom_attributes"]["asapp_customer_id"].split(",")
        metadata = {} if others else customers[int(customer_id)].get("attributes") or {}
        for item in metadata:
            assert contact["custom_attributes"][slug(item["name"])] == item["value"], contact
            carried += 1
    assert carried >= len(export["contacts"])
    # and a conversation its metadata's, which live in the raw JSON too (the transform keeps only these keys)
    metadata = oracle.latest(dataset, "convos_metadata", lambda row: oracle.whole_int(row.get("issue_id")))
    compared = 0
    for conversation in export["conversations"]:
        row = metadata.get(int(conversation["custom_attributes"]["asapp_issue_id"]))
        if row is None:  # an issue whose metadata is only in real-time events, or in no usable row
            continue
        for column in ("platform", "device_type"):
            assert conversation["custom_attributes"].get(f"asapp_{column}") == row.get(column), conversation
        compared += 1
    assert compared >= len(export["conversations"]) / 2


def test_a_sample_run_migrates_the_sample_with_its_contacts_only(migration, expected):
    run = migration.run(mode="sample", sample_size=5)

    assert str(run.state) == "success", migration.task_states(run)
    export = migration.intercom.export()
    migrated = by_issue(export)
    assert len(migrated) == 5
    assert_migrated(export, expected, set(migrated))
    customers = {str(expected.conversations[issue].customer_id) for issue in migrated}
    for contact in export["contacts"]:
        assert set(contact["custom_attributes"]["asapp_customer_id"].split(",")) & customers


def test_transcript_mode_writes_the_exchange_as_one_note(migration, expected):
    run = migration.run(
        mode="sample",
        sample_size=3,
        thread_mode="transcript",
        objects=["companies", "contacts", "conversations"],
    )

    assert str(run.state) == "success", migration.task_states(run)
    for issue, conversation in by_issue(migration.intercom.export()).items():
        messages = expected.conversations[issue].messages
        notes = [part for part in conversation["parts"] if part["part_type"] == "note"]
        comments = [part for part in conversation["parts"] if part["part_type"] == "comment"]
        assert (len(notes), comments) == (1, [])
        transcript = oracle.reader_text(notes[0]["body"])
        assert all(text in transcript for _, _, text, _ in messages)
        assert notes[0]["created_at"] == messages[-1][0]


def test_a_migration_begun_before_hash_schemes_hashes_its_records_as_it_always_has(migration):
    """Revision 0008 marks a migration begun before hash schemes: its payloads and the attributes set on
    its conversations are hashed as its ledger's records were, so nothing it loaded looks changed."""
    migration.ledger().save(PayloadHashing(scheme=HashScheme.STDLIB_JSON))

    run = migration.run(mode="sample", sample_size=2, objects=["companies", "contacts", "conversations"])

    assert str(run.state) == "success", migration.task_states(run)
    ledger, staging = migration.ledger(), Staging(f"file://{migration.home}/staging")
    rows = list(staging.read_payloads(f"runs/{run_key(run.run_id)}/payloads/conversation.parquet"))
    assert len(rows) == 2
    for row in rows:
        record = ledger.record("conversation", row["source_id"])
        assert record.payload_hash == row["hash"] == payload_hash(row["payload"], HashScheme.STDLIB_JSON)
        attributes = row["payload"]["custom_attributes"]
        assert record.progress["attributes"] == payload_hash(attributes, HashScheme.STDLIB_JSON)


def test_objects_not_selected_are_not_loaded(migration):
    run = migration.run(mode="full", objects=["companies", "contacts"])

    assert str(run.state) == "success", migration.task_states(run)
    export = migration.intercom.export()
    assert export["companies"] and export["contacts"]
    assert export["conversations"] == []


def test_an_approved_map_is_not_asked_about_again(migration):
    migration.config_path.write_text(
        migration.config_path.read_text()
        .replace("mode: auto", "mode: human")
        .replace("demo: true", "demo: false")
    )
    planned = migration.report(migration.run(mode="full", dry_run=True))["field_map"]
    assert planned["approved_by"] is None
    migration.ledger().record_approval(
        planned["proposal_hash"], planned["entries"], "ops@acme", datetime.now(UTC), "an-earlier-run"
    )

    run = migration.dag().test(
        run_conf={"mode": "sample", "sample_size": 2}, mark_success_pattern=r"^map\.approve$"
    )

    states = migration.task_states(run)
    assert str(run.state) == "success", states
    assert states["map.approve"] == "skipped"
    assert migration.report(run)["field_map"]["approved_by"] == "ops@acme"
    assert len(migration.intercom.export()["conversations"]) == 2


def test_an_attribute_of_another_type_stops_the_run_before_any_record(migration):
    migration.intercom.seed(
        {"data_attributes": [{"name": "asapp_status", "model": "contact", "data_type": "integer"}]}
    )

    run = migration.run(mode="sample", sample_size=2)

    states = migration.task_states(run)
    assert str(run.state) == "failed"
    assert states["schema.attributes_and_tags"] == "failed"
    assert states["load.companies"] == "upstream_failed"
    export = migration.intercom.export()
    assert (export["companies"], export["contacts"], export["conversations"]) == ([], [], [])


def test_the_staging_area_can_live_on_object_storage(migration, asapp):
    s3 = asapp.s3_client()
    s3.create_bucket(Bucket="migration-staging")
    config = yaml.safe_load(migration.config_path.read_text())
    config["staging"] = {"path": "s3://asapp_test_s3@migration-staging/acme"}
    migration.config_path.write_text(yaml.safe_dump(config))

    run = migration.run(mode="sample", sample_size=3)

    assert str(run.state) == "success", migration.task_states(run)
    assert len(by_issue(migration.intercom.export())) == 3
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="migration-staging")
        for item in page.get("Contents", [])
    ]
    assert any(key.startswith("acme/raw/utterances/") and key.endswith(".parquet") for key in keys)
    assert any(key.endswith("/report.md") for key in keys)
