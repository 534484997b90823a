"""The dry-run plan and the reconciliation report, from staged payloads and a ledger on local disk."""

import pytest
from asapp_intercom.ledger import Ledger
from asapp_intercom.load import LoadManifest
from asapp_intercom.payloads import payload_hash
from asapp_intercom.plan import plan
from asapp_intercom.report import build_report, render_markdown, summary_lines
from asapp_intercom.staging import Staging
from asapp_intercom.transform import ObjectManifest, PayloadWriter, TransformManifest
from asapp_intercom.validate import ValidationManifest

RUN = "manual__2026-01-07T10:00:00+00:00"
EARLIER_RUN = "manual__2026-01-06T10:00:00+00:00"


@pytest.fixture
def area(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "unit")
    yield Staging(f"file://{tmp_path}/staging"), ledger
    ledger.close()


def staged(staging: Staging, object_type: str, payloads: dict[str, dict], quarantined: int = 0) -> ObjectManifest:
    manifest = ObjectManifest(object_type, f"runs/unit/payloads/{object_type}.parquet",
                              source_count=len(payloads) + quarantined, quarantined=quarantined)
    with PayloadWriter(staging, manifest) as writer:
        for source_id, payload in payloads.items():
            writer.add(source_id, None, payload)
    return manifest


def loaded(ledger: Ledger, object_type: str, source_id: str, payload: dict) -> None:
    ledger.complete(object_type, source_id, intercom_id=f"ic-{source_id}", action="created",
                    payload_hash=payload_hash(payload), run_id=EARLIER_RUN)


def thread(parts: int, *, assignee: str | None = None, state: str = "open") -> dict:
    return {"opener": {"key": "m0"}, "parts": [{"key": f"m{index}"} for index in range(1, parts + 1)],
            "assignee_admin_id": assignee, "state": state, "custom_attributes": {}}


# Plan ----------------------------------------------------------------------------------------
def test_the_plan_sorts_records_into_create_update_unchanged_and_counts_quarantined(area):
    staging, ledger = area
    same, edited = {"company_id": "c1", "name": "Acme"}, {"company_id": "c2", "name": "Globex Ltd"}
    loaded(ledger, "company", "c1", same)
    loaded(ledger, "company", "c2", {"company_id": "c2", "name": "Globex"})
    ledger.begin("company", "c3", RUN, origin="created")  # a try that died before Intercom answered
    manifest = staged(staging, "company", {"c1": same, "c2": edited, "c3": {"company_id": "c3"},
                                           "c4": {"company_id": "c4"}}, quarantined=2)

    counts = plan(staging, ledger, TransformManifest({"company": manifest}), 600)["objects"]["company"]

    assert {key: counts[key] for key in ("create", "update", "unchanged", "quarantined")} == {
        "create": 2, "update": 1, "unchanged": 1, "quarantined": 2}


def test_the_plan_counts_the_requests_each_new_conversation_costs(area):
    staging, ledger = area
    manifest = staged(staging, "conversation", {
        "21": thread(2, assignee="admin-7", state="closed"),  # open, 2 replies, attributes, assign, close
        "22": thread(0),  # open, attributes
    })

    planned = plan(staging, ledger, TransformManifest({"conversation": manifest}), 60)

    assert planned["objects"]["conversation"]["requests"] == 6 + 2
    assert planned["requests"] == 8


def test_the_plan_estimates_minutes_under_the_configured_rate(area):
    staging, ledger = area
    contacts = staged(staging, "contact", {f"email:{n}@x.example": {"email": f"{n}@x.example"} for n in range(45)})
    tags = staged(staging, "conversation_tags", {"21": {"tags": ["billing", "vip", "refunds"]}})

    planned = plan(staging, ledger, TransformManifest({"contact": contacts, "conversation_tags": tags}), 60)

    assert planned["requests"] == 45 * 2 + 3  # create or update, then the company link; one call per tag
    assert planned["eta_minutes"] == 1.6
    assert planned["requests_per_minute"] == 60


def test_unchanged_records_cost_no_requests(area):
    staging, ledger = area
    payload = thread(3, assignee="admin-7", state="closed")
    loaded(ledger, "conversation", "21", payload)
    manifest = staged(staging, "conversation", {"21": payload})

    planned = plan(staging, ledger, TransformManifest({"conversation": manifest}), 60)

    assert (planned["objects"]["conversation"]["unchanged"], planned["requests"]) == (1, 0)


# Report --------------------------------------------------------------------------------------
def extract_manifest(feed: str, *, waiting: int = 0) -> dict:
    return {"feed": feed, "channel": "s3", "files_listed": 4, "files_staged": 4, "rows_staged": 120,
            "rows_quarantined": 1, "partitions_complete": 3, "partitions_waiting": [f"dt=2026-01-07/hr={hour:02d}/mi=00"
                                                                                    for hour in range(waiting)]}


def report_for(ledger: Ledger, *, field_map: dict | None = None, **changes) -> dict:
    company_load = LoadManifest("company", source_count=5, created=3, updated=1, unchanged=0, quarantined=1,
                                requests=9, checksum="abc").as_dict()
    conversation_check = ValidationManifest("conversation", checked=2, matching=1, mismatched=1, mismatches=[
        {"source_id": "21", "problems": [{"field": "state", "expected": "closed", "actual": "open"}]}]).as_dict()
    transformed = TransformManifest(
        objects={"company": ObjectManifest("company", "p", source_count=5, payloads=4, quarantined=1),
                 "conversation": ObjectManifest("conversation", "p", source_count=7, payloads=6, quarantined=1)},
        unmatched_agents=[{"rep_id": "102", "name": "Sam Okafor", "email": "sam@acme.example"}]).as_dict()
    inputs = {"run_id": RUN, "migration_id": "acme_eu", "params": {"mode": "full", "dry_run": False},
              "extract": {"customers": extract_manifest("customers", waiting=2)}, "field_map": field_map,
              "transformed": transformed, "timeline": None, "plan": None, "schema": None, "loads": {"company": company_load},
              "validations": {"company": ValidationManifest("company", checked=4, matching=4).as_dict(),
                              "conversation": conversation_check},
              "ledger": ledger}
    return build_report(**(inputs | changes))


def test_the_report_accounts_for_every_object_loaded_or_not(area):
    _, ledger = area
    company, conversation = report_for(ledger)["objects"]

    expected = {"object": "company", "source": 5, "created": 3, "updated": 1, "unchanged": 0, "quarantined": 1,
                "in_intercom": 4, "balanced": True, "validated": 4}
    assert {key: company[key] for key in expected} == expected
    assert conversation["in_intercom"] is None and conversation["note"] == "not loaded in this run"
    assert (conversation["source"], conversation["quarantined"], conversation["mismatched"]) == (7, 1, 1)


def test_the_report_lists_this_runs_quarantine_only(area):
    _, ledger = area
    ledger.quarantine("conversation", "21", "conversation has only internal notes", RUN)
    ledger.quarantine("contact", "email:a@x.example", "Intercom refused the contact", RUN)
    ledger.quarantine("company", "c9", "from yesterday", EARLIER_RUN)

    report = report_for(ledger)

    assert report["quarantined_total"] == 2
    assert {(row["object"], row["source_id"]) for row in report["quarantined"]} == {
        ("conversation", "21"), ("contact", "email:a@x.example")}


def test_the_report_counts_partitions_still_waiting_for_success(area):
    _, ledger = area
    assert report_for(ledger)["feeds"]["customers"]["waiting_for_success"] == 2


def test_the_markdown_report_says_who_approved_the_map(area):
    _, ledger = area
    approved = {"hash": "0123456789abcdef" * 4, "approved_by": "Maria", "approved_at": "2026-01-07T09:58:00+00:00"}
    text = render_markdown(report_for(ledger, field_map=approved))
    assert "Field map `0123456789ab`: approved by Maria at 2026-01-07T09:58:00+00:00." in text


def test_the_markdown_report_of_a_dry_run_says_nothing_was_written(area):
    _, ledger = area
    unapproved = {"hash": "f" * 64, "approved_by": None, "approved_at": None}
    assert "not approved (dry run: nothing was written)" in render_markdown(report_for(ledger, field_map=unapproved))


def test_the_markdown_report_names_agents_quarantined_records_and_read_back_differences(area):
    _, ledger = area
    ledger.quarantine("conversation", "21", "csat_rating: '4.5' is not a integer | change the type", RUN)

    text = render_markdown(report_for(ledger))

    assert "## Agents without an Intercom admin (1)" in text
    assert "| 102 | Sam Okafor | sam@acme.example |" in text
    assert "| conversation | 21 | csat_rating: '4.5' is not a integer / change the type |" in text
    assert "- `21` state: expected 'closed', found 'open'" in text


def test_the_markdown_report_says_none_when_there_is_nothing_to_list(area):
    _, ledger = area
    text = render_markdown(report_for(ledger, transformed=None))
    assert "## Agents without an Intercom admin (0)\n\nTheir conversations" in text
    assert text.count("None.") == 2


def test_the_markdown_tables_keep_their_columns(area):
    _, ledger = area
    ledger.quarantine("conversation", "21", "a | b | c", RUN)
    for table in render_markdown(report_for(ledger)).split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, table


def test_the_log_summary_has_a_line_per_object_and_the_totals(area):
    _, ledger = area
    ledger.quarantine("conversation", "21", "no messages", RUN)

    lines = summary_lines(report_for(ledger))

    assert lines[0] == f"Migration acme_eu, run {RUN}:"
    assert lines[1].split()[:7] == ["company", "source", "5", "in", "Intercom", "4", "created"]
    assert lines[2].split()[:6] == ["conversation", "source", "7", "in", "Intercom", "0"]
    assert lines[-1] == "  quarantined records: 1; agents without an Intercom admin: 1"
