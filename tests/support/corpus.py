"""The bad-input corpus: each mess kind of a generated dataset against the outcome DATASET.md promises for it.

`assert_corpus_outcomes` reads the dataset's manifest (which lists every case of every kind), the
Intercom sandbox's export and the run's report, and checks each kind: what must arrive has
arrived (oracle.py checks every record), what must arrive without a field lacks it and the
report lists the field with the value ASAPP had, what must be quarantined is listed with a
reason, and what must stay out (unpublished, not data) is nowhere in Intercom.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import oracle
from tests.support.checks import assert_contacts_and_companies, assert_migrated, by_issue

PHANTOM_ISSUES = 29_000_000
"""Issue ids from this one on exist only in files that are not data or partitions ASAPP never finished."""
LINE_KINDS = {
    "broken_json_lines": "not valid JSON",
    "non_object_lines": "not a JSON object",
    "invalid_utf8_lines": "not valid UTF-8",
    "wrong_type_values": "is not",
    "missing_key_values": "missing",
}


def manifest(data: Path) -> dict:
    return json.loads((data / "_manifest.json").read_text())


def quarantined(report: dict) -> dict[tuple[str, str], str]:
    return {(item["object"], item["source_id"]): item["reason"] for item in report["quarantined"]}


def left_out(report: dict) -> list[dict]:
    return report["fields_left_out"]


def assert_corpus_outcomes(data: Path, export: dict, report: dict, *, redelivered: bool = False) -> None:
    mess = manifest(data)["mess"]
    expected = oracle.expected(data, redelivered=redelivered)
    migrated = assert_migrated(export, expected)
    assert_contacts_and_companies(export, expected)
    held = quarantined(report)
    assert len(report["quarantined"]) == report["quarantined_total"], (
        "the report lists every quarantined item"
    )

    # Arrives; nothing that is not data, or not yet published, does.
    assert not [issue for issue in migrated if int(issue) >= PHANTOM_ISSUES]
    for kind in ("numbers_as_strings", "realtime_only_conversations", "restated_conversations", "late_csat"):
        assert set(map(str, mess[kind])) <= set(migrated), kind

    # Quarantined, each with its reason.
    for kind, reason in LINE_KINDS.items():
        for case in mess[kind]:
            feed = case["path"].split("/", 1)[0]
            path = "/".join(
                part for part in case["path"].split("/") if not part.startswith(("version=", "format="))
            )
            assert reason in held.get((f"feed:{feed}", f"{path}:{case['line']}"), ""), (kind, case)
    for case in mess["truncated_gzip"]:
        feed = case["path"].split("/", 1)[0]
        path = "/".join(
            part for part in case["path"].split("/") if not part.startswith(("version=", "format="))
        )
        reason = held.get((f"feed:{feed}", path))
        if redelivered:
            assert reason is None, "the corrected re-delivery lifted the file's quarantine"
        else:
            assert reason and f"after {case['rows_readable']} lines" in reason, (case, reason)
    for issue_id in mess["dangling_customers"]:
        assert "not in the customers feed" in held[("conversation", str(issue_id))]
        assert str(issue_id) not in migrated
    for upload_id in mess["orphan_uploads"]:
        assert "is in no feed" in held[("attachment", upload_id)]
    for upload_id in mess["missing_attachment_binaries"]:
        assert "ASAPP could not provide the file" in held[("attachment", upload_id)]
    assert sum(1 for (kind, _source) in held if kind == "events") == len(mess["malformed_events"])

    # Arrives without the field, which the report lists with the value ASAPP had.
    fields = {(item["object"], item["source_id"], item["field"]): item for item in left_out(report)}
    contacts = export["contacts"]
    for customer_id in mess["invalid_emails"]:
        issue = fields[("contact", f"customer:{customer_id}", "email")]
        contact = next(
            item
            for item in contacts
            if str(customer_id) in item["custom_attributes"]["asapp_customer_id"].split(",")
        )
        assert not contact.get("email") and issue["value"]
    for company_id in mess["invalid_websites"]:
        assert ("company", company_id, "website") in fields
        company = next(item for item in export["companies"] if item["company_id"] == company_id)
        assert company["website"].startswith("https://")
    customers = oracle.latest(
        data, "customers", lambda row: oracle.whole_int(row.get("customer_id")), when=None
    )
    for keeper, loser in mess["colliding_external_ids"]:
        issue = fields[("contact", oracle.contact_key(customers[loser]), "external_id")]
        assert issue["value"] == customers[keeper]["external_customer_id"]
        assert any(item.get("external_id") == f"asapp-customer-{loser}" for item in contacts)
    for issue_id in mess["overlong_values"]:
        assert ("conversation", str(issue_id), "custom_attributes.asapp_disposition_notes") in fields
        assert "asapp_disposition_notes" not in migrated[str(issue_id)]["custom_attributes"]
    for issue_id in mess["bad_attribute_values"]:
        assert "asapp_csat_rating" not in migrated[str(issue_id)]["custom_attributes"]
        assert any("csat_rating" in key[2] for key in fields), "the bad rating is reported"
    for customer_id in mess["dangling_companies"]:
        contact = next(
            item
            for item in contacts
            if str(customer_id) in item["custom_attributes"]["asapp_customer_id"].split(",")
        )
        assert contact["company_ids"] == []

    # Reported as such.
    feeds = report["feeds"]
    assert sum(feed.get("files_ignored") or 0 for feed in feeds.values()) >= len(mess["non_data_files"])
    assert sum(feed.get("waiting_for_success") or 0 for feed in feeds.values()) >= len(
        mess["unpublished_partitions"]
    )
    agents = {agent["rep_id"] for agent in report["agents_without_intercom_admin"]}
    assert set(map(str, mess["unknown_agents"])) <= agents
    assert by_issue(export)  # every conversation once
