"""The rollback planner: what each record of the ledger becomes (deleted, restored, untagged, archived,
left alone, a conflict), in reverse dependency order, with the requests and ETA a person approves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asapp_intercom.domain.rollback import (
    UNDO_ORDER,
    Action,
    Count,
    LedgerRecord,
    Read,
    RollbackForm,
    RollbackFormError,
    RollbackPlan,
    Seen,
    UndoStep,
    approval_markdown,
    counts_needed,
    plan_rollback,
    reads_needed,
)

WRITTEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = WRITTEN + timedelta(days=1)


def record(object_type, source_id, intercom_id, origin="created", run="run-1", at=WRITTEN, **values):
    return LedgerRecord(
        object_type=object_type,
        source_id=source_id,
        intercom_id=intercom_id,
        origin=origin,
        run_id=values.pop("last_run", run),
        first_run_id=run,
        first_written_at=at,
        written_at=values.pop("written_at", at),
        **values,
    )


def seen(body: dict | None = None, at: datetime = WRITTEN) -> Seen:
    return Seen(True, int(at.timestamp()), body or {})


CONVERSATION = {"contacts": {"contacts": [{"id": "ic-contact-new"}]}}
WORKSPACE = [
    record("company", "co-new", "ic-company-new"),
    record(
        "company",
        "co-old",
        "ic-company-old",
        origin="existing",
        previous_state={"company_id": "co-old", "name": "CRM name", "plan": "Legacy"},
    ),
    record("contact", "email:new@x.example", "ic-contact-new", progress={"company": "ic-company-new"}),
    record(
        "contact",
        "email:old@x.example",
        "ic-contact-old",
        origin="existing",
        previous_state={"name": "CRM person", "company_ids": []},
    ),
    record("conversation", "issue-1", "ic-conversation-1"),
    record("attachment", "upload-1", "ic-part-1", parent="issue-1"),
    record("conversation_tags", "issue-1", "ic-conversation-1", progress={"applied": ["Billing"]}),
    record("data_attribute", "company.tier", "ic-attribute-1"),
    record("data_attribute", "conversation.asapp_lob", "ic-attribute-2"),
    record("data_attribute", "contact.plan", "ic-attribute-3", origin="existing"),
    record("tag", "billing", "ic-tag-1"),
]
AS_MIGRATED = {
    Read("company", "ic-company-new"): seen({"user_count": 1}),
    Read("company", "ic-company-old"): seen({"company_id": "co-old", "name": "ASAPP name", "plan": "Legacy"}),
    Read("contact", "ic-contact-new"): seen(),
    Read("contact", "ic-contact-old"): seen(
        {"name": "ASAPP person", "companies": {"data": [{"id": "ic-company-new"}]}}
    ),
    Read("conversation", "ic-conversation-1"): seen(CONVERSATION),
}
COUNTS = {Count("contact_ids", "ic-contact-new"): 1, Count("tag_ids", "ic-tag-1"): 1}


def actions(plan: RollbackPlan) -> dict[tuple[str, str], str]:
    return {(undo.object_type, undo.source_id): str(undo.action) for undo in plan.undos}


def test_a_whole_migration_is_undone_in_reverse_dependency_order_and_what_existed_is_restored():
    plan = plan_rollback(RollbackForm(), WORKSPACE, AS_MIGRATED, COUNTS, requests_per_minute=600)

    assert actions(plan) == {
        ("conversation", "issue-1"): "delete",
        ("attachment", "upload-1"): "forget",  # goes with its conversation
        ("conversation_tags", "issue-1"): "forget",
        ("contact", "email:new@x.example"): "delete",
        ("company", "co-new"): "delete",
        ("contact", "email:old@x.example"): "restore",
        ("company", "co-old"): "restore",
        ("data_attribute", "company.tier"): "archive",
        ("data_attribute", "conversation.asapp_lob"): "archive",
        ("data_attribute", "contact.plan"): "forget",  # was there before: left as it is
        ("tag", "billing"): "delete",
    }
    steps = [UNDO_ORDER.index(undo.step) for undo in plan.undos]
    assert steps == sorted(steps)
    assert [undo.step for undo in plan.undos][:1] == [UndoStep.CONVERSATIONS]
    # Existing records are never deleted; the contact's link to the company that goes is not re-sent.
    assert all(
        undo.action is not Action.DELETE
        for undo in plan.undos
        if undo.source_id in {"co-old", "email:old@x.example"}
    )
    restored = {undo.source_id: undo for undo in plan.undos if undo.action is Action.RESTORE}
    assert restored["co-old"].requests == 2  # read again, then one upsert with the name
    assert restored["email:old@x.example"].requests == 2  # read again, then one update (no detach)


def test_requests_and_eta_count_every_read_and_write():
    plan = plan_rollback(RollbackForm(), WORKSPACE, AS_MIGRATED, COUNTS, requests_per_minute=600)

    reads = len(AS_MIGRATED) + len(COUNTS)
    writes = 1 + 1 + 1 + 2 + 2 + 1 + 2 + 1  # conversation, contact, company, 2 restores, 2 archives, tag
    assert plan.requests == reads + writes
    assert plan.eta_minutes == round((reads + writes) / 600, 1)
    assert plan.counts()["conversation"] == {"delete": 1}
    assert RollbackPlan.from_dict(plan.as_dict()).as_dict() == plan.as_dict()


def test_what_was_changed_in_intercom_after_the_migration_wrote_it_is_a_conflict_and_keeps_its_records():
    changed = {
        **AS_MIGRATED,
        Read("conversation", "ic-conversation-1"): seen(CONVERSATION, at=LATER),
        Read("company", "ic-company-old"): seen({"company_id": "co-old", "name": "Agent's"}, at=LATER),
    }

    plan = plan_rollback(RollbackForm(), WORKSPACE, changed, COUNTS, requests_per_minute=600)

    got = actions(plan)
    assert got[("conversation", "issue-1")] == "conflict"
    assert got[("company", "co-old")] == "conflict"
    assert got[("conversation_tags", "issue-1")] == "conflict"
    assert got[("attachment", "upload-1")] == "leave"  # a part of a conversation that stays
    assert got[("contact", "email:new@x.example")] == "leave"  # the kept conversation is theirs
    assert got[("company", "co-new")] == "leave"  # and the kept contact belongs to it
    assert got[("tag", "billing")] == "leave"  # still on the kept conversation
    assert got[("data_attribute", "conversation.asapp_lob")] == "leave"
    conflict = next(
        undo for undo in plan.undos if undo.source_id == "issue-1" and undo.object_type == "conversation"
    )
    assert conflict.requests == 0 and conflict.detail["updated_at"] == int(LATER.timestamp())


def test_a_change_within_intercoms_one_second_stamp_is_the_migrations_own_write():
    close = {
        **AS_MIGRATED,
        Read("conversation", "ic-conversation-1"): seen(CONVERSATION, WRITTEN + timedelta(seconds=1)),
    }

    plan = plan_rollback(RollbackForm(), WORKSPACE, close, COUNTS, requests_per_minute=600)

    assert actions(plan)[("conversation", "issue-1")] == "delete"


def test_records_already_gone_from_intercom_are_forgotten_without_a_request():
    gone = {**AS_MIGRATED, Read("conversation", "ic-conversation-1"): Seen(False)}

    plan = plan_rollback(RollbackForm(), WORKSPACE, gone, COUNTS, requests_per_minute=600)

    undo = next(undo for undo in plan.undos if undo.object_type == "conversation")
    assert (undo.action, undo.requests) == (Action.GONE, 0)
    assert actions(plan)[("attachment", "upload-1")] == "forget"


def test_a_created_tag_someone_else_uses_is_a_conflict_not_deleted():
    used = {**COUNTS, Count("tag_ids", "ic-tag-1"): 3}

    plan = plan_rollback(RollbackForm(), WORKSPACE, AS_MIGRATED, used, requests_per_minute=600)

    assert actions(plan)[("tag", "billing")] == "conflict"


def test_a_created_contact_with_a_conversation_the_rollback_keeps_is_left_with_its_company():
    theirs = {**COUNTS, Count("contact_ids", "ic-contact-new"): 2}  # one conversation is not the migration's

    plan = plan_rollback(RollbackForm(), WORKSPACE, AS_MIGRATED, theirs, requests_per_minute=600)

    assert actions(plan)[("contact", "email:new@x.example")] == "leave"
    assert actions(plan)[("company", "co-new")] == "leave"
    assert actions(plan)[("data_attribute", "company.tier")] == "leave"  # the kept company may hold values


def test_a_run_scope_undoes_what_that_run_wrote_first_and_leaves_what_it_only_touched():
    records = [
        record("conversation", "issue-1", "ic-conversation-1", run="run-1"),
        record("conversation", "issue-2", "ic-conversation-2", run="run-2"),
        record("contact", "email:a@x.example", "ic-contact-a", run="run-1", last_run="run-2"),
    ]
    form = RollbackForm(scope="run", run_id="run-2")
    reads = reads_needed(form, records)
    assert reads == [Read("conversation", "ic-conversation-2")]

    plan = plan_rollback(form, records, {read: seen() for read in reads}, {}, requests_per_minute=600)

    assert actions(plan) == {
        ("conversation", "issue-2"): "delete",
        ("contact", "email:a@x.example"): "leave",  # first written by run-1: its earlier state is unknown
    }
    assert "issue-1" not in {undo.source_id for undo in plan.undos}


def test_a_time_range_covers_what_was_first_written_in_it():
    records = [
        record("conversation", "issue-1", "ic-conversation-1", at=WRITTEN),
        record("conversation", "issue-2", "ic-conversation-2", at=LATER),
    ]
    form = RollbackForm(
        scope="time_range", since=LATER - timedelta(hours=1), until=LATER + timedelta(hours=1)
    )

    assert reads_needed(form, records) == [Read("conversation", "ic-conversation-2")]
    assert counts_needed(form, WORKSPACE) == []  # nothing of the workspace was written in that range


def test_an_intent_without_an_intercom_id_is_left_for_the_migration_to_settle():
    records = [record("contact", "email:a@x.example", None)]

    plan = plan_rollback(RollbackForm(), records, {}, {}, requests_per_minute=600)

    assert plan.undos[0].action is Action.LEAVE and "run the migration again" in plan.undos[0].reason


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"scope": "run"}, "run id"),
        ({"scope": "time_range", "since": "2026-03-02", "until": "2026-03-01"}, "'since' before 'until'"),
        ({"scope": "everything"}, "Input should be"),
    ],
)
def test_a_form_that_does_not_say_what_to_roll_back_is_refused(params, problem):
    with pytest.raises(RollbackFormError, match=problem):
        RollbackForm.of_params(params)


def test_the_form_defaults_to_a_dry_run_of_the_whole_migration():
    form = RollbackForm.of_params({})
    assert form.dry_run and form.describe() == "everything the migration wrote"


def test_the_approval_screen_says_a_deleted_conversation_is_gone_for_good_and_lists_what_stays():
    changed = {**AS_MIGRATED, Read("conversation", "ic-conversation-1"): seen(CONVERSATION, at=LATER)}
    plan = plan_rollback(RollbackForm(), WORKSPACE, changed, COUNTS, requests_per_minute=600)

    text = approval_markdown(plan)

    assert "gone for good" in text
    assert f"{plan.requests} requests" in text
    assert "conversation `issue-1`: changed in Intercom after the migration last wrote it" in text
