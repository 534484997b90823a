"""The migration DAG under dag.test(): what lands in the Intercom sandbox, per run mode."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.asapp_intercom import oracle

pytestmark = pytest.mark.airflow


def by_issue(export: dict) -> dict[str, dict]:
    conversations = export["conversations"]
    issues = [conversation["custom_attributes"]["asapp_issue_id"] for conversation in conversations]
    duplicates = [issue for issue, count in Counter(issues).items() if count > 1]
    assert not duplicates, f"conversations migrated more than once: {duplicates}"
    return dict(zip(issues, conversations, strict=True))


def expected_thread(conversation: oracle.Conversation, expected: oracle.Expected, admin_emails: set[str]):
    """(created_at, author type, text) as Intercom should show each message."""
    thread = []
    for created, sender, text, rep_id in conversation.messages:
        if sender == "customer":
            thread.append((created, "user", text))
        elif sender == "bot" or (expected.rep_emails.get(rep_id) or "").lower() in admin_emails:
            thread.append((created, "admin", text))
        else:
            thread.append((created, "admin", f"[{expected.rep_names.get(rep_id) or f'ASAPP agent {rep_id}'}] {text}"))
    return sorted(thread)


def assert_migrated(export: dict, expected: oracle.Expected, issues: set[str] | None = None) -> dict[str, dict]:
    migrated = by_issue(export)
    wanted = issues if issues is not None else set(expected.conversations)
    assert set(migrated) == wanted
    admins = {admin["email"].lower(): admin["id"] for admin in export["admins"]}
    contacts = {contact["id"]: contact for contact in export["contacts"]}
    tags = {tag["id"]: tag["name"] for tag in export["tags"]}
    for issue in wanted:
        source, conversation = expected.conversations[issue], migrated[issue]
        thread = oracle.thread_of(conversation)
        assert [created for created, _, _ in thread] == sorted(created for created, _, _ in thread)
        assert sorted(thread) == expected_thread(source, expected, set(admins)), f"conversation {issue}"
        assert conversation["state"] == ("closed" if source.closed else "open"), f"conversation {issue} state"
        (contact_id,) = conversation["contact_ids"]
        assert str(source.customer_id) in contacts[contact_id]["custom_attributes"]["asapp_customer_id"].split(",")
        rep_email = (expected.rep_emails.get(str(source.last_rep_id)) or "").lower()
        assert conversation["admin_assignee_id"] == admins.get(rep_email), f"conversation {issue} assignee"
        # Intercom tag names are case-insensitive: segment "billing" joins an existing "Billing" tag.
        assert {tags[tag["id"]].lower() for tag in conversation["tags"]} >= {name.lower() for name in source.segments}
    return migrated


def assert_contacts_and_companies(export: dict, expected: oracle.Expected) -> None:
    companies = {company["id"]: company["company_id"] for company in export["companies"]}
    assert set(companies.values()) == expected.companies
    keys = [(contact.get("email") or "").lower() or f"customer:{contact['custom_attributes']['asapp_customer_id']}"
            for contact in export["contacts"]]
    assert len(keys) == len(set(keys)), "a contact was created twice"
    for contact, key in zip(export["contacts"], keys, strict=True):
        want = expected.contact_company[key]
        assert [companies[company_id] for company_id in contact["company_ids"]] == ([want] if want else [])


def test_a_full_run_migrates_every_record_and_a_second_run_changes_nothing(migration, expected):
    run = migration.run(mode="full")

    assert str(run.state) == "success", migration.task_states(run)
    export = migration.intercom.export()
    assert_migrated(export, expected)
    assert_contacts_and_companies(export, expected)
    report = migration.report(run)
    assert report["quarantined_total"] == 0
    assert all(row["balanced"] and row["mismatched"] == 0 for row in report["objects"])
    conversations = {row["object"]: row for row in report["objects"]}["conversation"]
    assert (conversations["created"], conversations["source"]) == (len(expected.conversations),) * 2

    again = migration.run(mode="full")

    assert str(again.state) == "success", migration.task_states(again)
    assert migration.intercom.export()["conversations"] == export["conversations"]
    rows = {row["object"]: row for row in migration.report(again)["objects"]}
    assert all(row["created"] == row["updated"] == 0 and row["unchanged"] == row["source"] for row in rows.values())
    assert all(row["requests"] == 0 for name, row in rows.items() if name != "attachment")


def test_a_dry_run_plans_every_request_and_writes_nothing(migration, expected):
    run = migration.run(mode="full", dry_run=True)

    assert str(run.state) == "success", migration.task_states(run)
    export = migration.intercom.export()
    assert (export["contacts"], export["conversations"], export["data_attributes"]) == ([], [], [])
    states = migration.task_states(run)
    assert states["schema.attributes_and_tags"] == states["load.conversations"] == "skipped"
    plan = migration.report(run)["plan"]
    assert plan["objects"]["conversation"]["create"] == len(expected.conversations)
    assert plan["requests"] > sum(len(conversation.messages) for conversation in expected.conversations.values())


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
    run = migration.run(mode="sample", sample_size=3, thread_mode="transcript",
                        objects=["companies", "contacts", "conversations"])

    assert str(run.state) == "success", migration.task_states(run)
    for issue, conversation in by_issue(migration.intercom.export()).items():
        messages = expected.conversations[issue].messages
        notes = [part for part in conversation["parts"] if part["part_type"] == "note"]
        comments = [part for part in conversation["parts"] if part["part_type"] == "comment"]
        assert (len(notes), comments) == (1, [])
        transcript = oracle.reader_text(notes[0]["body"])
        assert all(text in transcript for _, _, text, _ in messages)
        assert notes[0]["created_at"] == messages[-1][0]


def test_objects_not_selected_are_not_loaded(migration):
    run = migration.run(mode="full", objects=["companies", "contacts"])

    assert str(run.state) == "success", migration.task_states(run)
    export = migration.intercom.export()
    assert export["companies"] and export["contacts"]
    assert export["conversations"] == []


def test_an_approved_map_is_not_asked_about_again(migration):
    migration.config_path.write_text(migration.config_path.read_text().replace("mode: auto", "mode: human")
                                     .replace("demo: true", "demo: false"))
    planned = migration.report(migration.run(mode="full", dry_run=True))["field_map"]
    assert planned["approved_by"] is None
    migration.ledger().record_approval(planned["proposal_hash"], planned["entries"], "ops@acme",
                                       datetime.now(UTC), "an-earlier-run")

    run = migration.dag().test(run_conf={"mode": "sample", "sample_size": 2},
                               mark_success_pattern=r"^map\.approve$")

    states = migration.task_states(run)
    assert str(run.state) == "success", states
    assert states["map.approve"] == "skipped"
    assert migration.report(run)["field_map"]["approved_by"] == "ops@acme"
    assert len(migration.intercom.export()["conversations"]) == 2
