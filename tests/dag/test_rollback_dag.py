"""The rollback DAG under dag.test(): a workspace that already held contacts and companies, migrated, then
rolled back (approved by a person), is what it was before for every object the migration touched; the dry
run's numbers are what the rollback then did; a later migration run creates everything anew; what a person
changed in Intercom after the migration wrote it is listed as a conflict and left as it is.

Each run migrates a sample of a few conversations (with their contacts and companies): enough records of
every kind for the assertions, and a small fraction of a full run's time."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import oracle
from tests.support.checks import assert_migrated, by_issue, live
from tests.support.existing import seed_existing

pytestmark = pytest.mark.airflow

SAMPLE = 4


def sampled(dataset, expected, size: int = SAMPLE) -> tuple[set[str], dict[str, str | None]]:
    """The conversations a sample run migrates (transform orders issue ids by md5, as DuckDB writes it) and
    their contacts (contact key → company)."""
    issues = set(expected.conversations) | expected.quarantined_conversations
    sample = sorted(issues, key=lambda issue: hashlib.md5(issue.encode()).hexdigest())[:size]
    customers = oracle.latest(
        dataset, "customers", lambda row: oracle.whole_int(row.get("customer_id")), when=None
    )
    contacts = {
        oracle.contact_key(customers[expected.conversations[issue].customer_id])
        for issue in sample
        if issue in expected.conversations
    }
    return set(sample) & set(expected.conversations), {key: expected.contact_company[key] for key in contacts}


def asks_a_person(migration) -> None:
    """The migration and its rollback ask a person (not a demo config)."""
    migration.config_path.write_text(
        migration.config_path.read_text()
        .replace("mode: auto", "mode: human")
        .replace("demo: true", "demo: false")
    )


def roll_back_approved(migration, **conf):
    """A real rollback, approved by a person: the answer is in the ledger as the API server keeps it the
    moment it is given (web/answers.py), and the approval task takes it from there."""
    moment = datetime.now(UTC)  # the run's id, so that the answer can be given for it
    migration.ledger().record_answer(
        f"manual__{moment.isoformat()}", "approve.confirm", ["Approve"], {}, "ops@acme", moment
    )
    return migration.dag(migration.rollback_dag_id).test(
        run_after=moment, logical_date=moment, run_conf={**conf, "dry_run": False}
    )


def test_a_rolled_back_workspace_is_what_it_was_a_later_run_creates_it_all_again_and_a_persons_changes_stay(
    migration, dataset, expected
):
    asks_a_person(migration)
    issues, contacts = sampled(dataset, expected)
    proposed = migration.report(migration.run(mode="sample", sample_size=SAMPLE, dry_run=True))["field_map"]
    migration.ledger().record_approval(
        proposed["proposal_hash"], proposed["entries"], "ops@acme", datetime.now(UTC), "a-dry-run"
    )
    company_attributes = {
        entry["target"].removeprefix("custom_attributes."): entry["data_type"]
        for entry in proposed["entries"]
        if entry["target_object"] == "company" and (entry["target"] or "").startswith("custom_attributes.")
    }
    existing = seed_existing(migration.intercom, contacts, company_attributes)
    before = migration.intercom.export()
    migrate = migration.dag()
    first = migrate.test(
        run_conf={"mode": "sample", "sample_size": SAMPLE}, mark_success_pattern=r"^map\.approve$"
    )
    assert str(first.state) == "success", migration.task_states(first)
    migrated = migration.intercom.export()
    assert set(by_issue(migrated)) == issues
    assert migration.ledger().record_counts()["company"]["existing"] == len(existing["companies"])
    assert migration.ledger().record_counts()["contact"]["existing"] == len(existing["emails"])

    dry = migration.roll_back(scope="migration", dry_run=True)

    assert str(dry.state) == "success", migration.task_states(dry)
    assert migration.task_states(dry)["approve.confirm"] == "skipped"  # a dry run asks no one
    assert migration.intercom.export() == migrated  # and changes nothing
    planned = migration.rollback_report(dry)
    assert planned["dry_run"] and planned["conflicts_total"] == 0
    assert planned["planned"]["conversation"] == {"deleted": len(issues)}
    assert planned["planned"]["contact"] == {
        "deleted": len(contacts) - len(existing["emails"]),
        "restored": len(existing["emails"]),
    }
    plan_md = (migration.home / "staging" / "rollbacks").glob("*/plan.md")
    assert any("gone for good" in path.read_text() for path in plan_md)

    done = roll_back_approved(migration, scope="migration")

    assert str(done.state) == "success", migration.task_states(done)
    after = migration.intercom.export()
    assert live(after) == live(before)
    report = migration.rollback_report(done)
    assert report["approval"]["approved_by"] == "ops@acme"
    assert report["matches_plan"], (report["planned"], report["done"])
    assert report["done"] == planned["planned"]  # the dry run's numbers are what the rollback did
    assert report["requests_sent"] == planned["planned_requests"]
    assert report["not_restorable_total"] == 0
    assert list(migration.ledger().iter_records()) == []  # it remembers what it undid, in its entries
    assert len(migration.ledger().undo_entries(done.run_id)) == sum(
        sum(row.values()) for row in report["done"].values()
    )

    again = migrate.test(
        run_conf={"mode": "sample", "sample_size": SAMPLE}, mark_success_pattern=r"^map\.approve$"
    )

    assert str(again.state) == "success", migration.task_states(again)
    rows = {row["object"]: row for row in migration.report(again)["objects"]}
    first_rows = {row["object"]: row for row in migration.report(first)["objects"]}
    assert {name: row["created"] for name, row in rows.items()} == {
        name: row["created"] for name, row in first_rows.items()
    }
    assert all(row["mismatched"] == 0 for row in rows.values())
    assert_migrated(migration.intercom.export(), expected, issues)

    # A person answers a conversation and renames a contact after the migration wrote them: rolling back
    # again lists both as conflicts and leaves them, and what they need, as they are.
    time.sleep(1.5)  # a little after the migration's last write
    api = httpx.Client(base_url=migration.intercom.url, headers=migration.intercom.headers, timeout=30)
    export = migration.intercom.export()
    issue, conversation = sorted(by_issue(export).items())[0]
    answered = api.post(
        f"/conversations/{conversation['id']}/reply",
        json={
            "message_type": "comment",
            "type": "admin",
            "admin_id": export["owner_admin_id"],
            "body": "Following up",
        },
    )
    assert answered.status_code == 200, answered.text
    (contact_id,) = conversation["contact_ids"]
    created = {record.intercom_id for record in migration.ledger().iter_records("contact")}
    other = sorted(created - {contact_id})[0]
    assert api.put(f"/contacts/{other}", json={"name": "Renamed by an agent"}).status_code == 200

    undone = roll_back_approved(migration)

    assert str(undone.state) == "success", migration.task_states(undone)
    conflicts = {
        (item["object"], item["intercom_id"]) for item in migration.rollback_report(undone)["conflicts"]
    }
    assert {("conversation", conversation["id"]), ("contact", other)} <= conflicts
    after = migration.intercom.export()
    kept = by_issue(after)
    assert list(kept) == [issue]  # the conversation a person answered is still there
    assert kept[issue]["parts"][: len(conversation["parts"])] == conversation["parts"]
    assert [contact["name"] for contact in after["contacts"] if contact["id"] == other] == [
        "Renamed by an agent"
    ]
    # Besides what was there before, only the answered conversation's contact (it is theirs) and the renamed
    # contact are left.
    assert set(live(after)["contacts"]) == set(live(before)["contacts"]) | {contact_id, other}
