"""The configuration inventory and the implementation guide: every item ASAPP's configuration API exposes
is listed, what ASAPP does not export is named, and each item says what it becomes in Intercom, what the
migration made for it and what a person must still build."""

from __future__ import annotations

import json

from asapp_intercom.domain.inventory import (
    NOT_EXPORTED,
    build_guide,
    build_inventory,
    guide_markdown,
    inventory_markdown,
)

CONFIGURATION = {
    "feeds": {"customers": {"available": True}},
    "structured_data_fields": [
        {
            "id": "q_issue_resolved",
            "name": "Issue resolved",
            "type": "QUESTION",
            "category": "OUTCOME",
            "active": True,
            "question": "Was the customer's issue resolved?",
            "entity": None,
            "segment_ids": ["GLOBAL"],
        },
        {
            "id": "e_account_number",
            "name": "Account number",
            "type": "ENTITY",
            "category": "CUSTOM",
            "active": False,
            "question": None,
            "entity": {"name": "Account number", "description": "The account", "examples": ["8999246118"]},
            "segment_ids": [],
        },
    ],
    "segments": [
        {"id": "GLOBAL", "name": "Global", "query": "TRUE", "field_ids": ["q_issue_resolved"]},
        {
            "id": "BILLING",
            "name": "Billing",
            "query": "intent_code = 'BILLING'",
            "field_ids": ["e_account_number"],
        },
    ],
    "redaction_entities": [
        {
            "id": "SSN",
            "description": "US Social Security numbers",
            "policies": {"customerImmediate": True, "agentImmediate": True, "voice": False},
        },
        {"id": "EMAIL_ADDRESS", "description": "Email addresses", "policies": {"customerImmediate": False}},
    ],
    "custom_vocabularies": [{"phrase": "IEEE", "sounds_like": ["I triple E"]}],
    "configuration_not_read": {},
}
FIELD_MAP = [
    {
        "source": "autosummary_structured_data.structured_data_field_value[q_issue_resolved]",
        "target_object": "conversation",
        "target": "custom_attributes.asapp_sd_q_issue_resolved",
    },
    {
        "source": "autosummary_structured_data.structured_data_field_value[e_account_number]",
        "target_object": "conversation",
        "target": None,
    },
]
SCHEMA = {
    ("data_attribute", "conversation.asapp_sd_q_issue_resolved"): "created",
    ("tag", "billing"): "existing",
}


def test_the_inventory_lists_every_item_the_configuration_api_exposes_and_names_what_is_not_exported():
    inventory = build_inventory("acme", "run-1", CONFIGURATION)

    assert [segment["id"] for segment in inventory["segments"]] == ["BILLING", "GLOBAL"]
    assert inventory["segments"][0]["query"] == "intent_code = 'BILLING'"
    fields = {item["id"]: item for item in inventory["structured_data_fields"]}
    assert fields["e_account_number"]["segment_ids"] == ["BILLING"]  # the segment names it, the field not
    assert fields["q_issue_resolved"]["validation"] == "Yes / No answer to the question"
    assert "8999246118" in fields["e_account_number"]["validation"]
    assert [item["id"] for item in inventory["redaction_entities"]] == ["EMAIL_ADDRESS", "SSN"]
    assert inventory["custom_vocabularies"] == [{"phrase": "IEEE", "sounds_like": ["I triple E"]}]
    named = " ".join(item["item"] for item in inventory["not_exported"]).lower()
    assert all(word in named for word in ("routing", "ai model", "intents", "workflows"))
    json.dumps(inventory)  # inventory.json

    text = inventory_markdown(inventory)
    assert "`intent_code = 'BILLING'`" in text
    assert "| SSN | US Social Security numbers | yes | no | yes | no | no |" in text
    assert "## What ASAPP does not export" in text


def test_the_guide_says_what_each_item_becomes_what_the_migration_made_and_what_is_left_to_build():
    inventory = build_inventory("acme", "run-1", CONFIGURATION)

    guide = {item["item"]: item for item in build_guide(inventory, FIELD_MAP, SCHEMA)}

    resolved = guide["q_issue_resolved (Issue resolved)"]
    assert resolved["created"] == [
        "conversation attribute `asapp_sd_q_issue_resolved` (created by the migration)"
    ]
    assert "Was the customer's issue resolved?" in resolved["to_build"]
    account = guide["e_account_number (Account number)"]
    assert account["created"] == ["nothing: the approved field map does not migrate it"]
    assert account["to_build"] == "Nothing: the field is inactive in ASAPP."
    assert guide["BILLING (Billing)"]["created"] == ["tag `Billing` (was already in Intercom)"]
    assert "intent_code = 'BILLING'" in guide["BILLING (Billing)"]["to_build"]
    assert guide["GLOBAL (Global)"]["created"][0].startswith("nothing yet")  # no run has written yet
    assert guide["SSN (US Social Security numbers)"]["to_build"] == (
        "Redact SSN as ASAPP did (for: agent, immediately; customer, immediately)."
    )
    assert guide["EMAIL_ADDRESS (Email addresses)"]["to_build"] == "Nothing: ASAPP does not redact it."
    assert {item["item"] for item in NOT_EXPORTED} <= set(guide)

    text = guide_markdown("acme", list(guide.values()))
    assert "## Segment" in text and "## Not exported by ASAPP" in text


def test_a_configuration_set_asapp_did_not_enable_is_named_as_not_read():
    configuration = {
        **CONFIGURATION,
        "redaction_entities": [],
        "configuration_not_read": {"redaction_entities": "ASAPP answered 403 (Forbidden)"},
    }

    text = inventory_markdown(build_inventory("acme", "run-1", configuration))

    assert "- redaction_entities: ASAPP answered 403 (Forbidden)" in text
