"""The dry-run plan, from staged payloads and a ledger on local disk."""

import logging

import pytest
from asapp_intercom.domain.manifests import ObjectManifest, TransformManifest
from asapp_intercom.domain.payloads import HashScheme, payload_hash
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.plan import plan
from asapp_intercom.pipeline.staging import BATCH_ROWS, Staging

RUN = "manual__2026-01-07T10:00:00+00:00"
EARLIER_RUN = "manual__2026-01-06T10:00:00+00:00"


def staged(
    staging: Staging,
    object_type: str,
    payloads: dict[str, dict],
    quarantined: int = 0,
    depends_on: dict[str, str] | None = None,
    scheme: HashScheme = HashScheme.SORTED_ORJSON,
) -> ObjectManifest:
    manifest = ObjectManifest(
        object_type,
        f"runs/unit/payloads/{object_type}.parquet",
        source_count=len(payloads) + quarantined,
        quarantined=quarantined,
    )
    with staging.payload_writer(manifest, scheme) as writer:
        for source_id, payload in payloads.items():
            writer.add(source_id, (depends_on or {}).get(source_id), payload)
    return manifest


def loaded(
    ledger: Ledger,
    object_type: str,
    source_id: str,
    payload: dict,
    scheme: HashScheme = HashScheme.SORTED_ORJSON,
) -> None:
    ledger.complete(
        object_type,
        source_id,
        intercom_id=f"ic-{source_id}",
        action="created",
        payload_hash=payload_hash(payload, scheme),
        run_id=EARLIER_RUN,
    )


def thread(parts: int, *, assignee: str | None = None, state: str = "open") -> dict:
    return {
        "opener": {"key": "m0"},
        "parts": [{"key": f"m{index}"} for index in range(1, parts + 1)],
        "assignee_admin_id": assignee,
        "state": state,
        "custom_attributes": {},
    }


@pytest.mark.parametrize("scheme", list(HashScheme))
def test_the_plan_sorts_records_into_create_update_unchanged_and_counts_quarantined(area, scheme):
    """In either hash scheme: the payloads are written in the one the records were loaded in."""
    staging, ledger = area
    same, edited = {"company_id": "c1", "name": "Zoë"}, {"company_id": "c2", "name": "Globex Ltd"}
    loaded(ledger, "company", "c1", same, scheme)
    loaded(ledger, "company", "c2", {"company_id": "c2", "name": "Globex"}, scheme)
    ledger.begin("company", "c3", RUN, origin="created")  # a try that died before Intercom answered
    manifest = staged(
        staging,
        "company",
        {"c1": same, "c2": edited, "c3": {"company_id": "c3"}, "c4": {"company_id": "c4"}},
        quarantined=2,
        scheme=scheme,
    )

    counts = plan(staging, ledger, TransformManifest({"company": manifest}), 600, 5_000)["objects"]["company"]

    assert {key: counts[key] for key in ("create", "update", "unchanged", "quarantined")} == {
        "create": 2,
        "update": 1,
        "unchanged": 1,
        "quarantined": 2,
    }


def test_the_plan_reads_every_payload_of_a_file_written_in_several_row_groups(area):
    staging, ledger = area
    companies = {f"c{index:05}": {"company_id": f"c{index:05}"} for index in range(2 * BATCH_ROWS + 1)}
    loaded(ledger, "company", "c00000", companies["c00000"])
    loaded(ledger, "company", f"c{2 * BATCH_ROWS:05}", {"company_id": "renamed"})
    manifest = staged(staging, "company", companies)

    counts = plan(staging, ledger, TransformManifest({"company": manifest}), 600, 5_000)["objects"]["company"]

    assert {key: counts[key] for key in ("create", "update", "unchanged")} == {
        "create": 2 * BATCH_ROWS - 1,
        "update": 1,
        "unchanged": 1,
    }
    assert [row["source_id"] for row in staging.read_payloads(manifest.path)] == list(companies)


def test_the_plan_counts_the_requests_each_new_conversation_costs(area):
    staging, ledger = area
    manifest = staged(
        staging,
        "conversation",
        {
            "21": thread(2, assignee="admin-7", state="closed"),  # open, 2 replies, attributes, assign, close
            "22": thread(0),  # open, attributes
        },
    )

    planned = plan(staging, ledger, TransformManifest({"conversation": manifest}), 60, 5_000)

    assert planned["objects"]["conversation"]["requests"] == 6 + 2
    assert planned["requests"] == 8


def test_the_plan_estimates_minutes_under_the_configured_rate(area):
    staging, ledger = area
    loaded(ledger, "company", "acme-co", {"company_id": "acme-co"})  # migrated by an earlier run
    contacts = staged(
        staging,
        "contact",
        {f"email:{n}@x.example": {"email": f"{n}@x.example"} for n in range(45)},
        depends_on={f"email:{n}@x.example": "acme-co" for n in range(30)},  # 15 belong to no company
    )
    tags = staged(staging, "conversation_tags", {"21": {"tags": ["billing", "vip", "refunds"]}})

    planned = plan(
        staging, ledger, TransformManifest({"contact": contacts, "conversation_tags": tags}), 60, 5_000
    )

    # create or update, then the link to its company if it has one; one call per tag
    assert planned["requests"] == 30 * 2 + 15 + 3
    assert planned["eta_minutes"] == 1.3
    assert planned["requests_per_minute"] == 60


def test_a_contact_is_linked_only_to_a_company_this_run_or_an_earlier_one_migrates(area):
    staging, ledger = area
    companies = staged(staging, "company", {"acme-co": {"company_id": "acme-co"}})
    contacts = staged(
        staging,
        "contact",
        {"email:a@x.example": {}, "email:b@x.example": {}},
        depends_on={"email:a@x.example": "acme-co", "email:b@x.example": "quarantined-co"},
    )

    planned = plan(staging, ledger, TransformManifest({"company": companies, "contact": contacts}), 60, 5_000)

    # a@ is created then linked to Acme; b@'s company was left out by the transform, so it is not linked
    assert planned["objects"]["contact"]["requests"] == 2 + 1


def test_unchanged_records_cost_no_requests(area):
    staging, ledger = area
    payload = thread(3, assignee="admin-7", state="closed")
    loaded(ledger, "conversation", "21", payload)
    manifest = staged(staging, "conversation", {"21": payload})

    planned = plan(staging, ledger, TransformManifest({"conversation": manifest}), 60, 5_000)

    assert (planned["objects"]["conversation"]["unchanged"], planned["requests"]) == (1, 0)


def test_the_plan_splits_each_step_into_batches_that_hold_every_record(area):
    staging, ledger = area
    contacts = staged(
        staging, "contact", {f"email:{n}@x.example": {"email": f"{n}@x.example"} for n in range(45)}
    )

    batches = plan(staging, ledger, TransformManifest({"contact": contacts}), 60, 10)["objects"]["contact"][
        "batches"
    ]

    assert [batch["label"] for batch in batches] == [f"{n} of 5" for n in range(1, 6)]
    assert sum(batch["records"] for batch in batches) == 45


def test_the_plan_says_how_far_it_has_read_each_object(area, caplog):
    """At two million conversations the plan reads for minutes: its lines say done of total, as the load's."""
    staging, ledger = area
    manifest = staged(staging, "conversation", {"21": thread(2), "22": thread(0)})
    caplog.set_level(logging.INFO, logger="asapp_intercom.pipeline.plan")

    plan(staging, ledger, TransformManifest({"conversation": manifest}), 60, 5_000)

    said = [record.getMessage() for record in caplog.records if record.name == "asapp_intercom.pipeline.plan"]
    assert [line.split(", ")[0] for line in said] == ["plan conversation: 2 of 2 records (100.0 %)"]
