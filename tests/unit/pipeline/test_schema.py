"""The schema phase against the Intercom sandbox: attributes made once, whatever became of the answers."""

from __future__ import annotations

import json

import pytest
from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.objects import SchemaObject
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.schema import SchemaClash, ensure_schema

ENTRIES = [
    FieldMapping(
        source=f"customers.attributes[{name}]",
        source_type="string",
        target_object="contact",
        target=f"custom_attributes.{name}",
        data_type="string",
        confidence=1.0,
    )
    for name in ("region", "tier", "segment")
]


@pytest.fixture
def hook(intercom, monkeypatch) -> IntercomHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_INTERCOM_SCHEMA",
        json.dumps({"conn_type": "intercom", "host": intercom.url, "password": intercom.token}),
    )
    return IntercomHook("intercom_schema")


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path}/ledger.db", "schema")


@pytest.mark.parametrize("fault", [{"error_next": 2, "error_status": 503}, {"drop_next": 2}])
def test_attributes_whose_creation_got_no_clear_answer_are_made_once(intercom, hook, ledger, fault):
    intercom.set_faults(**fault, phase="after")

    manifest = ensure_schema(hook, ledger, "run-1", ENTRIES, ["billing"])

    intercom.set_faults()
    names = [item["name"] for item in intercom.export()["data_attributes"]]
    assert sorted(names) == ["region", "segment", "tier"]
    assert sorted(manifest.created) == ["contact.region", "contact.segment", "contact.tier"]
    made = {record.source_id: record.origin for record in ledger.iter_records(SchemaObject.DATA_ATTRIBUTE)}
    assert made == dict.fromkeys(manifest.created, "created")  # a lost answer's attribute is ours too


def test_running_the_schema_again_matches_what_is_there(intercom, hook, ledger):
    ensure_schema(hook, ledger, "run-1", ENTRIES, [])

    again = ensure_schema(hook, ledger, "run-2", ENTRIES, [])

    assert (again.created, sorted(again.matched)) == (
        [],
        ["contact.region", "contact.segment", "contact.tier"],
    )


def test_an_attribute_of_another_type_stops_the_schema_with_what_to_change(intercom, hook, ledger):
    intercom.seed({"data_attributes": [{"name": "tier", "model": "contact", "data_type": "integer"}]})

    with pytest.raises(SchemaClash, match="contact.tier exists in Intercom as integer"):
        ensure_schema(hook, ledger, "run-1", ENTRIES, [])


def test_what_the_workspace_had_is_kept_apart_from_what_the_migration_made(intercom, hook, ledger):
    intercom.seed(
        {
            "data_attributes": [{"name": "tier", "model": "contact", "data_type": "string"}],
            "tags": [{"name": "Billing"}],
        }
    )

    manifest = ensure_schema(hook, ledger, "run-1", ENTRIES, ["billing", "Refunds"])

    attributes = {
        record.source_id: record.origin for record in ledger.iter_records(SchemaObject.DATA_ATTRIBUTE)
    }
    tags = {
        record.source_id: (record.origin, record.intercom_id)
        for record in ledger.iter_records(SchemaObject.TAG)
    }
    assert attributes == {
        "contact.region": "created",
        "contact.segment": "created",
        "contact.tier": "existing",
    }
    assert {name: origin for name, (origin, _) in tags.items()} == {
        "billing": "existing",
        "refunds": "created",
    }
    assert manifest.tag_ids == {name: tags[name.lower()][1] for name in ("billing", "Refunds")}
    assert {record.first_run_id for record in ledger.iter_records()} == {"run-1"}


def test_an_attribute_archived_by_another_hand_stops_the_schema(intercom, hook, ledger):
    intercom.seed(
        {"data_attributes": [{"name": "tier", "model": "contact", "data_type": "string", "archived": True}]}
    )

    with pytest.raises(SchemaClash, match="contact.tier exists in Intercom but is archived"):
        ensure_schema(hook, ledger, "run-1", ENTRIES, [])
