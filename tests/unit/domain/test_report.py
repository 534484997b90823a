"""The reconciliation report, built from the phases' manifests and what the ledger holds (pipeline.report)."""

import pytest
from asapp_intercom.domain.manifests import (
    LoadManifest,
    ObjectManifest,
    TransformManifest,
    ValidationManifest,
)
from asapp_intercom.domain.report import build_report, render_markdown, summary_lines
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.report import ledger_view

RUN = "manual__2026-01-07T10:00:00+00:00"
EARLIER_RUN = "manual__2026-01-06T10:00:00+00:00"


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "unit")
    yield ledger
    ledger.close()


def extract_manifest(feed: str, *, waiting: int = 0) -> dict:
    return {
        "feed": feed,
        "channel": "s3",
        "files_listed": 4,
        "files_staged": 4,
        "rows_staged": 120,
        "rows_quarantined": 1,
        "partitions_complete": 3,
        "partitions_waiting": [f"dt=2026-01-07/hr={hour:02d}/mi=00" for hour in range(waiting)],
    }


def report_for(
    ledger: Ledger, *, field_map: dict | None = None, task_states: dict | None = None, **changes
) -> dict:
    company_load = LoadManifest(
        "company",
        source_count=5,
        created=3,
        updated=1,
        unchanged=0,
        quarantined=1,
        requests=9,
        checksum="abc",
    ).as_dict()
    conversation_check = ValidationManifest(
        "conversation",
        checked=2,
        matching=1,
        mismatched=1,
        mismatches=[
            {"source_id": "21", "problems": [{"field": "state", "expected": "closed", "actual": "open"}]}
        ],
    ).as_dict()
    transformed = TransformManifest(
        objects={
            "company": ObjectManifest("company", "p", source_count=5, payloads=4, quarantined=1),
            "conversation": ObjectManifest("conversation", "p", source_count=7, payloads=6, quarantined=1),
        },
        unmatched_agents=[{"rep_id": "102", "name": "Sam Okafor", "email": "sam@acme.example"}],
    ).as_dict()
    inputs = {
        "run_id": RUN,
        "migration_id": "acme_eu",
        "params": {"mode": "full", "dry_run": False},
        "extract": {"customers": extract_manifest("customers", waiting=2)},
        "field_map": field_map,
        "transformed": transformed,
        "timeline": None,
        "plan": None,
        "schema": None,
        "loads": {"company": company_load},
        "validations": {
            "company": ValidationManifest("company", checked=4, matching=4).as_dict(),
            "conversation": conversation_check,
        },
        "ledger": ledger_view(ledger, RUN),
        "task_states": task_states or {},
    }
    return build_report(**(inputs | changes))


def loaded(ledger: Ledger, object_type: str, count: int, run_id: str = RUN, action: str = "created") -> None:
    for n in range(count):
        ledger.complete(
            object_type,
            f"{object_type}-{run_id}-{action}-{n}",
            intercom_id=f"ic-{n}",
            action=action,
            payload_hash="h",
            run_id=run_id,
        )


def test_the_report_counts_what_every_try_of_the_run_did_and_what_the_migration_holds(ledger):
    loaded(ledger, "company", 2)  # a first try that was killed
    loaded(ledger, "company", 1, action="updated")
    loaded(ledger, "company", 3, run_id=EARLIER_RUN)
    ledger.quarantine("company", "c9", "Intercom answered 400", RUN)
    ledger.note_spend(RUN, "load.companies", -1, 1, requests=5, retries=1)  # the killed try's requests
    ledger.note_spend(RUN, "load.companies", -1, 2, requests=4, retries=0)

    company, conversation = report_for(ledger)["objects"]

    expected = {
        "object": "company",
        "source": 5,
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "quarantined": 1,
        "in_intercom": 6,
        "requests": 9,
        "tries": 2,
        "balanced": True,
        "validated": 4,
    }
    assert {key: company[key] for key in expected} == expected
    assert (conversation["in_intercom"], conversation["note"]) == (0, "not loaded in this run")
    assert (conversation["source"], conversation["mismatched"]) == (7, 1)


def test_the_report_lists_what_is_quarantined_in_the_whole_migration_and_says_what_came_from_this_run(ledger):
    ledger.quarantine("conversation", "21", "conversation has only internal notes", RUN)
    ledger.quarantine(
        "feed:utterances", "utterances/dt=2026-01-05/hr=10/mi=00/u.jsonl:7", "not valid JSON", RUN
    )
    ledger.quarantine("company", "c9", "from yesterday", EARLIER_RUN)
    ledger.quarantine("contact", "c1", "fixed since", EARLIER_RUN)
    ledger.resolve_quarantine("contact", "c1")

    report = report_for(ledger)

    assert (report["quarantined_total"], report["quarantined_this_run"]) == (3, 2)
    assert {(row["object"], row["source_id"], row["run_id"]) for row in report["quarantined"]} == {
        ("conversation", "21", RUN),
        ("company", "c9", EARLIER_RUN),
        ("feed:utterances", "utterances/dt=2026-01-05/hr=10/mi=00/u.jsonl:7", RUN),
    }
    assert report["quarantined_by_kind"] == {"company": 1, "conversation": 1, "feed:utterances": 1}


def test_the_report_names_the_failed_task_and_its_last_error(ledger):
    ledger.note_task_event(
        RUN, "load.conversations", -1, 1, "retried", "AmbiguousWrite: 503 service_unavailable"
    )
    ledger.note_task_event(
        RUN, "load.conversations", -1, 2, "failed", "ApiError: 401 unauthorized: Access Token Invalid"
    )
    ledger.note_task_event(RUN, "extract.feed", 3, 1, "waited", "ASAPP's daily request cap is spent")

    report = report_for(
        ledger,
        task_states={
            "load.conversations": "failed",
            "load.attachments": "upstream_failed",
            "extract.feed_3": "success",
            "report.reconciliation": "running",
        },
    )

    assert report["failed_tasks"] == [
        {"task": "load.conversations", "error": "ApiError: 401 unauthorized: Access Token Invalid"}
    ]
    assert report["not_run"] == ["load.attachments"]
    text = render_markdown(report)
    assert text.index("## Why the run failed") < text.index("## Objects")
    assert "- `load.conversations`: ApiError: 401 unauthorized: Access Token Invalid" in text
    assert "- not run because of it: `load.attachments`" in text
    assert "| extract.feed | 3 | 1 | waited | ASAPP's daily request cap is spent |" in text


def test_the_report_lists_fields_left_out_with_the_value_asapp_had(ledger):
    ledger.note_field_issues(
        "contact", [("customer:7", "email", "not-an-email", "not an email address")], RUN
    )

    report = report_for(ledger)

    assert report["fields_left_out"] == [
        {
            "object": "contact",
            "source_id": "customer:7",
            "field": "email",
            "value": "not-an-email",
            "reason": "not an email address",
            "run_id": RUN,
        }
    ]
    assert "| contact | customer:7 | email | not-an-email | not an email address |" in render_markdown(report)


def test_the_report_counts_partitions_still_waiting_for_success(ledger):
    assert report_for(ledger)["feeds"]["customers"]["waiting_for_success"] == 2


def test_the_markdown_report_says_who_approved_the_map(ledger):
    approved = {
        "hash": "0123456789abcdef" * 4,
        "approved_by": "Maria",
        "approved_at": "2026-01-07T09:58:00+00:00",
    }
    text = render_markdown(report_for(ledger, field_map=approved))
    assert "Field map `0123456789ab`: approved by Maria at 2026-01-07T09:58:00+00:00." in text


def test_the_markdown_report_of_a_dry_run_says_nothing_was_written(ledger):
    unapproved = {"hash": "f" * 64, "approved_by": None, "approved_at": None}
    assert "not approved (dry run: nothing was written)" in render_markdown(
        report_for(ledger, field_map=unapproved)
    )


def test_the_markdown_report_names_agents_quarantined_records_and_read_back_differences(ledger):
    ledger.quarantine("conversation", "21", "csat_rating: '4.5' is not a integer | change the type", RUN)

    text = render_markdown(report_for(ledger))

    assert "## Agents without an Intercom admin (1)" in text
    assert "| 102 | Sam Okafor | sam@acme.example |" in text
    assert f"| conversation | 21 | csat_rating: '4.5' is not a integer / change the type | {RUN} |" in text
    assert "- `21` state: expected 'closed', found 'open'" in text


def test_the_markdown_report_says_none_when_there_is_nothing_to_list(ledger):
    text = render_markdown(report_for(ledger, transformed=None))
    assert "## Agents without an Intercom admin (0)\n\nTheir conversations" in text
    assert text.count("None.") == 3


def test_the_markdown_tables_keep_their_columns(ledger):
    ledger.quarantine("conversation", "21", "a | b | c", RUN)
    for table in render_markdown(report_for(ledger)).split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, table


def test_the_log_summary_has_a_line_per_object_and_the_totals(ledger):
    ledger.quarantine("conversation", "21", "no messages", RUN)

    loaded(ledger, "company", 4)

    lines = summary_lines(report_for(ledger, task_states={"load.contacts": "failed"}))

    assert lines[0] == f"Migration acme_eu, run {RUN}:"
    assert lines[1].startswith("  FAILED load.contacts: no error was recorded")
    assert lines[2].split()[:7] == ["company", "source", "5", "in", "Intercom", "4", "created"]
    assert lines[3].split()[:6] == ["conversation", "source", "7", "in", "Intercom", "0"]
    assert lines[-1] == (
        "  quarantined: 1 open (1 from this run); fields left out: 0; agents without an Intercom admin: 1"
    )


def test_the_report_counts_this_runs_quarantine_by_kind_of_reason(ledger):
    for line, value in enumerate(("yesterday", "", "soon")):
        ledger.quarantine(
            "feed:utterances", f"u.jsonl:{line}", f"created_ts: {value} is not a timestamp", RUN
        )
    ledger.quarantine("conversation", "21", "its customer (77) is not in the customers feed", RUN)
    ledger.quarantine("conversation", "22", "its customer (78) is not in the customers feed", RUN)
    ledger.quarantine("contact", "c1", "Intercom answered 400 parameter_invalid: email x is bad", RUN)
    ledger.quarantine("contact", "c2", "Intercom answered 400 parameter_invalid: email y is bad", EARLIER_RUN)

    report = report_for(ledger)

    assert report["quarantine_reasons"] == [
        {"object": "feed:utterances", "reason": "created_ts: not a timestamp", "count": 3},
        {"object": "conversation", "reason": "its customer (…) is not in the customers feed", "count": 2},
        {"object": "contact", "reason": "Intercom answered 400 parameter_invalid", "count": 1},
    ]
    assert "| conversation | its customer (…) is not in the customers feed | 2 |" in render_markdown(report)


def test_the_report_keeps_how_long_the_runs_conversations_are(ledger):
    transformed = TransformManifest(conversation_lengths={"3": 41, "12": 2}).as_dict()

    assert report_for(ledger, transformed=transformed)["conversation_lengths"] == {"3": 41, "12": 2}
