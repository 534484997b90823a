"""The field map a person approves: what is proposed from discovery, and which edits are accepted."""

import json

import pytest
import yaml
from asapp_intercom.domain.mapping import (
    CUSTOM_TYPES,
    DiscoveredSchema,
    FieldMapError,
    apply_overrides,
    custom_attributes,
    map_hash,
    propose,
    to_markdown,
)

from tests.conftest import SHARED_REFERENCE

FIRST = "dt=2026-01-05/hr=00/mi=00"
LATER = "dt=2026-01-06/hr=03/mi=00"

COLUMNS = {
    "companies": {
        "company_external_id": "VARCHAR",
        "name": "VARCHAR",
        "domain": "VARCHAR",
        "company_name": "VARCHAR",
        "attributes": "ARRAY",
        "dt": "VARCHAR",
    },
    "customers": {
        "customer_id": "BIGINT",
        "email_address": "VARCHAR",
        "address_country": "VARCHAR",
        "status": "VARCHAR",
        "attributes": "ARRAY",
        "dt": "VARCHAR",
    },
    "convos_metadata": {
        "issue_id": "BIGINT",
        "csat_rating": "BIGINT",
        "platform": "VARCHAR",
        "conversation_end_ts": "VARCHAR",
        "instance_ts": "VARCHAR",
        "escalation_level": "UBIGINT",
        "loyalty_payload": "OBJECT",
    },
    "customer_params": {
        "event_id": "VARCHAR",
        "issue_id": "BIGINT",
        "param_key": "VARCHAR",
        "param_value": "VARCHAR",
    },
    "customer_feedback": {"issue_id": "BIGINT", "question": "VARCHAR", "answer": "VARCHAR"},
    "autosummary_structured_data": {
        "conversation_id": "VARCHAR",
        "structured_data_field_id": "VARCHAR",
        "structured_data_field_value": "VARCHAR",
    },
}
KEYED = {
    "param_keys": ["channel", "Order ID"],
    "customer_attributes": ["Loyalty Tier"],
    "company_attributes": ["Region"],
    "feedback_questions": ["How satisfied were you?"],
    "structured_fields": [
        {"id": "sd-2", "name": "Product", "type": "ENTITY"},
        {"id": "sd-1", "name": "Refund requested", "type": "QUESTION"},
    ],
}


def discovered(**changes) -> DiscoveredSchema:
    """Discovery's view of a tenant whose convos_metadata gained `loyalty_payload` a day after the first
    export."""
    first_seen = {feed: dict.fromkeys(columns, FIRST) for feed, columns in COLUMNS.items()}
    first_seen["convos_metadata"]["loyalty_payload"] = LATER
    return DiscoveredSchema(**({"columns": COLUMNS, "first_seen": first_seen, **KEYED} | changes))


@pytest.fixture(scope="module")
def proposal():
    return propose(discovered())


def by_source(entries):
    return {entry.source: entry for entry in entries}


@pytest.fixture(scope="module")
def spec_value_types() -> dict[str, set[str]]:
    """Custom attribute value types Intercom's REST 2.16 request schemas accept, per object."""
    with (SHARED_REFERENCE / "intercom" / "api.intercom.io.yaml").open(encoding="utf-8") as spec:
        schemas = yaml.load(spec, Loader=yaml.CSafeLoader)["components"]["schemas"]
    company = schemas["create_or_update_company_request"]["properties"]["custom_attributes"][
        "additionalProperties"
    ]
    conversation = schemas["custom_attributes"]["additionalProperties"]["anyOf"]
    return {
        "company": {company["type"]},
        "conversation": {option.get("type") or option["$ref"].rsplit("/", 1)[1] for option in conversation}
        - {"custom_object_instance_list"},
    }


# Proposal -------------------------------------------------------------------------------------
def test_every_discovered_column_gets_one_entry_and_key_value_columns_one_per_key(proposal):
    sources = [entry.source for entry in proposal]
    key_value_columns = {
        "companies.attributes",
        "customers.attributes",
        "customer_params.param_key",
        "customer_params.param_value",
        "customer_feedback.answer",
        "autosummary_structured_data.structured_data_field_value",
    }
    columns = {f"{feed}.{column}" for feed, names in COLUMNS.items() for column in names} - key_value_columns
    keyed = {
        "companies.attributes[Region]",
        "customers.attributes[Loyalty Tier]",
        "customer_params.param_value[Order ID]",
        "customer_params.param_value[channel]",
        "customer_feedback.answer[How satisfied were you?]",
        "autosummary_structured_data.structured_data_field_value[sd-1]",
        "autosummary_structured_data.structured_data_field_value[sd-2]",
    }

    assert len(sources) == len(set(sources))
    assert set(sources) == columns | keyed


def test_identity_and_thread_fields_are_core_and_certain(proposal):
    entries = by_source(proposal)
    email = entries["customers.email_address"]
    assert (email.target_object, email.target, email.core, email.confidence) == (
        "contact",
        "email",
        True,
        1.0,
    )
    lineage = entries["convos_metadata.issue_id"]
    assert (lineage.target_object, lineage.attribute, lineage.core) == (
        "conversation",
        "asapp_issue_id",
        True,
    )
    assert entries["companies.company_external_id"].target == "company_id"


def test_suggested_fields_become_custom_attributes_not_core(proposal):
    entries = by_source(proposal)
    country = entries["customers.address_country"]
    assert (country.target_object, country.attribute, country.core) == (
        "contact",
        "asapp_address_country",
        False,
    )
    assert country.confidence < 1.0
    platform = entries["convos_metadata.platform"]
    assert (platform.target_object, platform.attribute) == ("conversation", "asapp_platform")


def test_a_fractional_rating_is_flagged_lossy_because_conversation_attributes_hold_no_fractions(proposal):
    rating = by_source(proposal)["convos_metadata.csat_rating"]
    assert (rating.data_type, rating.lossy) == ("integer", True)
    assert "fraction" in rating.note


def test_the_map_only_allows_attribute_types_the_intercom_spec_accepts(spec_value_types):
    for target_object, accepted in spec_value_types.items():
        assert CUSTOM_TYPES[target_object] <= accepted, target_object


def test_every_proposed_attribute_has_a_type_its_object_can_hold(proposal, spec_value_types):
    for entry in proposal:
        if entry.attribute and not entry.core:
            assert entry.data_type in CUSTOM_TYPES[entry.target_object], entry.source
            assert entry.data_type in spec_value_types.get(entry.target_object, {entry.data_type}), (
                entry.source
            )


def test_a_column_first_seen_in_a_later_partition_is_flagged_and_not_migrated(proposal):
    drift = by_source(proposal)["convos_metadata.loyalty_payload"]
    assert drift.target is None
    assert drift.note == f"new column, first seen in {LATER}; not migrated unless you map it"
    assert drift.confidence < by_source(proposal)["convos_metadata.escalation_level"].confidence


def test_other_columns_are_listed_as_not_migrated_with_a_reason(proposal):
    entries = by_source(proposal)
    assert entries["convos_metadata.escalation_level"].target is None
    assert "map it to keep it" in entries["convos_metadata.escalation_level"].note
    assert entries["companies.dt"].note == "partition date"
    assert entries["companies.company_name"].note == "the ASAPP tenant, the same on every row"


def test_source_types_prefer_the_feed_catalog_over_what_json_showed(proposal):
    entries = by_source(proposal)
    assert (
        entries["convos_metadata.csat_rating"].source_type == "float"
    )  # catalog DOUBLE, seen as a whole number
    assert entries["convos_metadata.conversation_end_ts"].source_type == "timestamp"
    assert entries["convos_metadata.escalation_level"].source_type == "integer"
    assert entries["convos_metadata.loyalty_payload"].source_type == "json"


def test_key_value_fields_become_string_attributes_of_the_right_object(proposal):
    entries = by_source(proposal)
    expected = {
        "customers.attributes[Loyalty Tier]": ("contact", "loyalty_tier"),
        "companies.attributes[Region]": ("company", "region"),
        "customer_params.param_value[Order ID]": ("conversation", "asapp_param_order_id"),
        "customer_feedback.answer[How satisfied were you?]": (
            "conversation",
            "asapp_feedback_how_satisfied_were_you",
        ),
        "autosummary_structured_data.structured_data_field_value[sd-1]": ("conversation", "asapp_sd_sd_1"),
    }
    for source, (target_object, attribute) in expected.items():
        assert (entries[source].target_object, entries[source].attribute, entries[source].data_type) == (
            target_object,
            attribute,
            "string",
        ), source


def test_structured_data_notes_say_what_the_field_is(proposal):
    entries = by_source(proposal)
    question = entries["autosummary_structured_data.structured_data_field_value[sd-1]"]
    entity = entries["autosummary_structured_data.structured_data_field_value[sd-2]"]
    assert question.note == "AI Summary structured data, a Yes/No answer: Refund requested"
    assert entity.note == "AI Summary structured data, an extracted entity: Product"


def test_the_proposal_is_a_valid_map_as_it_stands(proposal):
    assert apply_overrides(proposal, {}) == proposal


def test_custom_attributes_lists_the_lineage_and_mapped_attributes_of_one_object(proposal):
    names = [entry.attribute for entry in custom_attributes(proposal, "contact")]
    assert "asapp_customer_id" in names and "asapp_address_country" in names and "loyalty_tier" in names
    assert all(entry.target_object == "contact" for entry in custom_attributes(proposal, "contact"))


# Edits ----------------------------------------------------------------------------------------
def test_an_edit_renames_an_attribute_and_marks_it_as_decided_by_a_person(proposal):
    edited = by_source(
        apply_overrides(proposal, {"convos_metadata.platform": {"target": "custom_attributes.channel"}})
    )
    platform = edited["convos_metadata.platform"]
    assert (platform.attribute, platform.target_object, platform.data_type) == (
        "channel",
        "conversation",
        "string",
    )
    assert platform.confidence == 1.0
    assert platform.note.endswith("(edited)")


def test_an_edit_retypes_an_attribute(proposal):
    edited = by_source(apply_overrides(proposal, {"customers.status": {"data_type": "boolean"}}))
    assert edited["customers.status"].data_type == "boolean"


def test_a_null_target_drops_the_field(proposal):
    edited = by_source(apply_overrides(proposal, {"customers.status": {"target": None}}))
    dropped = edited["customers.status"]
    assert (dropped.target, dropped.target_object, dropped.data_type) == (None, None, None)
    assert "customers.status" not in {entry.source for entry in custom_attributes(edited.values(), "contact")}


def test_a_column_the_proposal_left_out_can_be_mapped(proposal):
    change = {"target": "custom_attributes.loyalty", "target_object": "conversation", "data_type": "string"}
    edited = by_source(apply_overrides(proposal, {"convos_metadata.loyalty_payload": change}))
    assert edited["convos_metadata.loyalty_payload"].attribute == "loyalty"


def test_edits_leave_the_other_entries_and_their_order_alone(proposal):
    edited = apply_overrides(proposal, {"customers.status": {"target": None}})
    assert [entry.source for entry in edited] == [entry.source for entry in proposal]
    assert [entry for entry in edited if entry.source != "customers.status"] == [
        entry for entry in proposal if entry.source != "customers.status"
    ]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"customers.email_address": {"target": "custom_attributes.mail"}},
            "customers.email_address: a core field of the migration cannot be edited",
        ),
        ({"customers.shoe_size": {"target": None}}, "customers.shoe_size: no such field in the proposed map"),
        (
            {"customers.status": {"confidence": 0.1}},
            "customers.status: only target, data_type and target_object can be edited, not ['confidence']",
        ),
        (
            {"customers.status": {"target": "custom_attributes.status/code"}},
            "customers.status: attribute name 'status/code' may only hold",
        ),
        (
            {"customers.status": {"target": "custom_attributes."}},
            "customers.status: attribute name '' may only hold",
        ),
        ({"customers.status": {"target": "custom_attributes." + "x" * 191}}, "may only hold"),
        (
            {"customers.status": {"target": "email"}},
            "customers.status: target must be custom_attributes.<name> (or null to skip)",
        ),
        (
            {"convos_metadata.loyalty_payload": {"target": "custom_attributes.loyalty"}},
            "convos_metadata.loyalty_payload: target_object must be one of",
        ),
        (
            {"companies.attributes[Region]": {"data_type": "integer"}},
            "companies.attributes[Region]: company attributes cannot be of type 'integer' (allowed: string)",
        ),
        (
            {"convos_metadata.platform": {"data_type": "float"}},
            "convos_metadata.platform: conversation attributes cannot be of type 'float'",
        ),
        (
            {"convos_metadata.platform": {"data_type": "boolean"}},
            "conversation attributes cannot be of type 'boolean'",
        ),
        ({"customers.status": {"data_type": "json"}}, "contact attributes cannot be of type 'json'"),
    ],
    ids=[
        "core field",
        "unknown source",
        "unknown key",
        "slash in name",
        "empty name",
        "name too long",
        "built-in target",
        "no target object",
        "company integer",
        "conversation float",
        "conversation boolean",
        "unknown type",
    ],
)
def test_an_edit_intercom_would_refuse_is_refused_with_the_entry_and_reason(proposal, overrides, reason):
    with pytest.raises(FieldMapError) as raised:
        apply_overrides(proposal, overrides)
    assert reason in str(raised.value)


def test_two_fields_cannot_target_the_same_attribute_ignoring_case(proposal):
    overrides = {"customers.status": {"target": "custom_attributes.ASAPP_Address_Country"}}
    with pytest.raises(
        FieldMapError,
        match=r"attribute 'ASAPP_Address_Country' is also the target of "
        r"customers\.address_country",
    ):
        apply_overrides(proposal, overrides)


def test_the_same_attribute_name_on_different_objects_is_fine(proposal):
    edited = by_source(
        apply_overrides(proposal, {"convos_metadata.platform": {"target": "custom_attributes.region"}})
    )
    assert edited["convos_metadata.platform"].attribute == edited["companies.attributes[Region]"].attribute


def test_contacts_accept_the_richer_types(proposal):
    for data_type in ("integer", "float", "boolean", "datetime", "date"):
        edited = by_source(apply_overrides(proposal, {"customers.status": {"data_type": data_type}}))
        assert edited["customers.status"].data_type == data_type


def test_an_attribute_cannot_take_the_name_of_a_core_lineage_attribute(proposal):
    with pytest.raises(FieldMapError, match="asapp_issue_id"):
        apply_overrides(
            proposal, {"convos_metadata.platform": {"target": "custom_attributes.asapp_issue_id"}}
        )


def test_an_unknown_target_object_is_refused_as_a_field_map_error(proposal):
    with pytest.raises(FieldMapError, match="customers.status"):
        apply_overrides(proposal, {"customers.status": {"target_object": "ticket"}})


def test_keys_that_slug_alike_still_give_an_approvable_proposal():
    entries = propose(discovered(customer_attributes=["Plan Tier", "plan_tier"]))
    assert apply_overrides(entries, {}) == entries


# Hash and rendering -----------------------------------------------------------------------------
def test_the_map_hash_does_not_depend_on_discovery_order(proposal):
    reordered = discovered(
        columns={feed: dict(reversed(COLUMNS[feed].items())) for feed in reversed(COLUMNS)},
        param_keys=list(reversed(KEYED["param_keys"])),
        structured_fields=list(reversed(KEYED["structured_fields"])),
    )
    assert map_hash(propose(reordered)) == map_hash(proposal)


@pytest.mark.parametrize(
    "overrides",
    [
        {"customers.status": {"target": None}},
        {"customers.status": {"data_type": "boolean"}},
        {"customers.status": {"target": "custom_attributes.state"}},
    ],
    ids=["dropped", "retyped", "renamed"],
)
def test_the_map_hash_changes_when_an_entry_changes(proposal, overrides):
    assert map_hash(apply_overrides(proposal, overrides)) != map_hash(proposal)


def test_the_markdown_table_has_one_row_per_entry_with_its_target(proposal):
    rows = to_markdown(proposal).splitlines()[2:]
    assert len(rows) == len(proposal)
    for row, entry in zip(rows, proposal, strict=True):
        assert row.startswith(f"| `{entry.source}` ({entry.source_type}) | ")
        target = f"{entry.target_object}.{entry.target}" if entry.target else "*not migrated*"
        assert f"| {target} |" in row


def test_the_markdown_table_flags_core_and_lossy_entries(proposal):
    rows = {
        entry.source: row for entry, row in zip(proposal, to_markdown(proposal).splitlines()[2:], strict=True)
    }
    assert "| core " in rows["customers.email_address"]
    assert "| LOSSY " in rows["convos_metadata.csat_rating"]
    assert "core" not in rows["customers.status"] and "LOSSY" not in rows["customers.status"]


def test_a_pipe_in_a_note_does_not_break_the_table():
    fields = [{"id": "sd-9", "name": "Yes | No | Maybe", "type": "QUESTION"}]
    lines = to_markdown(propose(discovered(structured_fields=fields))).splitlines()
    columns = lines[0].count("|")
    assert all(line.count("|") == columns for line in lines)


def test_entries_survive_a_json_round_trip_unchanged(proposal):
    """The map travels through XCom and the ledger as JSON; its hash must survive the trip."""
    restored = [type(entry).model_validate(json.loads(entry.model_dump_json())) for entry in proposal]
    assert map_hash(restored) == map_hash(proposal)
