"""From joined ASAPP rows to Intercom payloads: values, contacts, companies and conversation threads."""

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.payloads import (
    Agent,
    ConversationContext,
    FieldIssue,
    HashScheme,
    Unloadable,
    agents_without_admin,
    attachment_payload,
    company_payload,
    contact_payload,
    conversation_payload,
    convert,
    parse_segments,
    payload_hash,
    raw_keys,
)
from asapp_intercom.domain.run_form import ThreadMode

START = datetime(2026, 1, 5, 14, 2, 12, tzinfo=UTC)
DANA = Agent("101", "Dana Reyes", "dana@acme.example", "admin-dana")
SAM = Agent("102", "Sam Okafor", "sam@acme.example", None)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def unix(seconds: float = 0) -> int:
    return int(at(seconds).timestamp())


def attribute(source: str, target_object: str, name: str, data_type: str = "string") -> FieldMapping:
    return FieldMapping(
        source=source,
        source_type="string",
        target_object=target_object,
        target=f"custom_attributes.{name}",
        data_type=data_type,
        confidence=1.0,
    )


def message(key: str, seconds: float, sender_type: str, sender_id: str | None, text: str) -> dict:
    return {
        "key": key,
        "created_ts": at(seconds),
        "sender_type": sender_type,
        "sender_id": sender_id,
        "utterance": text,
    }


def conversation(*messages: dict, **columns) -> dict:
    return {"issue_id": 21352352, "messages": list(messages), **columns}


def context(**changes) -> ConversationContext:
    values = {
        "entries": [],
        "agents": {"101": DANA, "102": SAM},
        "default_admin_id": "admin-migration",
        "bot_admin_id": "admin-bot",
    }
    return ConversationContext(**(values | changes))


def parts_of(payload: dict) -> list[dict]:
    return [payload["opener"], *payload["parts"]]


@pytest.fixture
def new_york_time():
    """The worker's local time zone is not UTC (a laptop, a VM left on its region's default)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


# Values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "data_type", "expected"),
    [
        ("Gold", "string", "Gold"),
        (42, "string", "42"),
        ({"tier": "Gold", "since": 2019}, "string", '{"tier": "Gold", "since": 2019}'),
        (["a", "é"], "string", '["a", "é"]'),
        ("42", "integer", 42),
        (4.0, "integer", 4),
        ("4.5", "float", 4.5),
        (3, "float", 3.0),
        ("Yes", "boolean", True),
        ("TRUE", "boolean", True),
        (" y ", "boolean", True),
        (1, "boolean", True),
        ("no", "boolean", False),
        ("False", "boolean", False),
        (0, "boolean", False),
        ("2026-01-05T14:02:12.123000+00:00", "datetime", unix()),
        ("2026-01-05T14:02:12.123Z", "datetime", unix()),
        ("2026-01-05T09:02:12-05:00", "datetime", unix()),
        (START, "datetime", unix()),
        (unix(), "datetime", unix()),
        ("2026-01-05T14:02:12+00:00", "date", "2026-01-05"),
        ("2026-01-05", "date", "2026-01-05"),
        (START, "date", "2026-01-05"),
    ],
)
def test_values_convert_to_the_attribute_type(value, data_type, expected):
    converted = convert(value, data_type, "feed.column")
    assert converted == expected
    assert type(converted) is type(expected)


@pytest.mark.parametrize("data_type", ["string", "integer", "float", "boolean", "datetime", "date"])
@pytest.mark.parametrize("value", [None, ""], ids=["null", "empty"])
def test_missing_values_are_left_out_whatever_the_type(value, data_type):
    assert convert(value, data_type, "feed.column") is None


@pytest.mark.parametrize(
    ("value", "data_type"),
    [
        (4.5, "integer"),
        ("4.5", "integer"),
        ("four", "integer"),
        ("123456789012345678901234", "integer"),
        ("lots", "float"),
        ("NaN", "float"),
        ("-Infinity", "float"),
        ("maybe", "boolean"),
        ("yesterday", "datetime"),
        ("05/01/2026", "date"),
        ("x", "relation"),
    ],
)
def test_a_value_that_is_not_of_the_type_is_refused_with_a_way_out(value, data_type):
    with pytest.raises(Unloadable) as raised:
        convert(value, data_type, "convos_metadata.csat_rating")
    assert str(raised.value) == (
        f"convos_metadata.csat_rating: {str(value)!r} is not a {data_type}; "
        "change the field's type in the map"
    )


def test_a_refused_long_value_is_quoted_short():
    with pytest.raises(Unloadable) as raised:
        convert("x" * 500, "integer", "customers.notes")
    assert "x" * 60 + "'" in str(raised.value) and "x" * 61 not in str(raised.value)


def test_a_timestamp_without_zone_is_read_as_utc_on_any_worker(new_york_time):
    assert convert("2026-01-05T14:02:12", "datetime", "customers.loyalty_since") == unix()


@pytest.mark.parametrize("scheme", list(HashScheme))
def test_payload_hash_ignores_key_order_and_sees_value_changes(scheme):
    assert payload_hash({"a": 1, "b": [1, 2]}, scheme) == payload_hash({"b": [1, 2], "a": 1}, scheme)
    assert payload_hash({"a": 1, "b": [1, 2]}, scheme) != payload_hash({"a": 1, "b": [2, 1]}, scheme)


PAYLOAD = {"text": "Grüße, 👋", "custom_attributes": {"score": 2.5e-05, "seen": True}, "parts": [1, None]}


@pytest.mark.parametrize(
    "scheme, digest",
    [
        # what every hash of a ledger begun before schemes is: its migration's records stay unchanged
        (HashScheme.STDLIB_JSON, "90ce0694ea40330c4e73fbeacefed67f175ae9780dfce1981504db58bf1f65e0"),
        (HashScheme.SORTED_ORJSON, "1b4caef219da066c8653b4b6a627d1d40733e225bbfb09d995ca2282adac4be2"),
    ],
)
def test_a_scheme_hashes_a_payload_as_it_always_has(scheme, digest):
    assert payload_hash(PAYLOAD, scheme) == digest


# Contacts -------------------------------------------------------------------------------------
def customer(customer_id: int, email: str | None, first_seen: float, **columns) -> dict:
    return {"customer_id": customer_id, "email_address": email, "first_seen_ts": at(first_seen), **columns}


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "jane.doe@",
        "jane doe@example.com",
        "jane@@example.com",
        "@example.com",
        "jane@example",
        "jane@exa mple.com",
    ],
)
def test_an_email_intercom_would_refuse_is_left_out_and_reported_and_the_contact_keeps_its_external_id(email):
    issues: list[FieldIssue] = []

    payload = contact_payload([customer(1, email, 0, external_customer_id="CRM-1")], [], issues)

    assert "email" not in payload and payload["external_id"] == "CRM-1"
    assert issues == [
        FieldIssue("email", email, "not an email address Intercom accepts; the contact keeps its external id")
    ]


@pytest.mark.parametrize("email", ["ann@example.com", "Ann.Lee+care@Mail.Example.CO.UK", "o'neil@example.ie"])
def test_a_valid_email_is_sent_as_is(email):
    issues: list[FieldIssue] = []
    assert contact_payload([customer(1, email, 0)], [], issues)["email"] == email
    assert issues == []


def test_an_external_id_an_earlier_seen_customer_holds_is_left_out_for_asapps_id_and_reported():
    issues: list[FieldIssue] = []

    payload = contact_payload(
        [customer(2, "bo@example.com", 0, external_customer_id="CRM-1")],
        [],
        issues,
        external_id_owner="email:ann@example.com",
    )

    assert payload["external_id"] == "asapp-customer-2"
    assert [(issue.field, issue.value) for issue in issues] == [("external_id", "CRM-1")]
    assert "email:ann@example.com" in issues[0].reason


def test_the_earliest_seen_customer_speaks_for_the_contact_and_every_id_is_kept():
    members = [
        customer(
            5,
            "ANN@example.com",
            3600,
            name="Ann (second account)",
            external_customer_id="crm-5",
            last_seen_ts=at(90_000),
        ),
        customer(
            12,
            "ann@example.com",
            0,
            name="Ann Lee",
            external_customer_id="crm-12",
            phone_number="+1 555 0100",
            last_seen_ts=at(7200),
        ),
    ]

    payload = contact_payload(members, [])

    assert payload["email"] == "ann@example.com"
    assert (payload["name"], payload["external_id"], payload["phone"]) == ("Ann Lee", "crm-12", "+1 555 0100")
    assert payload["signed_up_at"] == unix(0)
    assert payload["last_seen_at"] == unix(90_000)
    assert payload["custom_attributes"]["asapp_customer_id"] == "5,12"
    assert payload["role"] == "user"


def test_equally_old_customers_are_settled_by_the_lowest_id():
    payload = contact_payload(
        [customer(9, "a@x.example", 0, name="Nine"), customer(3, "A@x.example", 0, name="Three")], []
    )
    assert payload["name"] == "Three"


def test_a_contact_without_crm_id_gets_an_external_id_from_asapp_and_no_empty_fields():
    payload = contact_payload([customer(77, None, 0)], [])
    assert payload["external_id"] == "asapp-customer-77"
    assert "email" not in payload and "phone" not in payload and "last_seen_at" not in payload


def test_contact_attributes_come_from_the_primary_customer_columns_and_metadata():
    entries = [
        attribute("customers.address_country", "contact", "asapp_address_country"),
        attribute("customers.attributes[Loyalty Tier]", "contact", "loyalty_tier"),
        attribute("customers.attributes[Visits]", "contact", "visits", "integer"),
    ]
    primary = customer(
        1,
        "a@x.example",
        0,
        address_country="PT",
        attributes=json.dumps([{"name": "Loyalty Tier", "value": "Gold"}, {"name": "Visits", "value": "7"}]),
    )
    other = customer(
        2, "A@x.example", 60, address_country="ES", attributes=[{"name": "Loyalty Tier", "value": "Tin"}]
    )

    attributes = contact_payload([other, primary], entries)["custom_attributes"]

    assert attributes == {
        "asapp_customer_id": "1,2",
        "asapp_address_country": "PT",
        "loyalty_tier": "Gold",
        "visits": 7,
    }


def test_a_raw_json_column_can_be_mapped():
    row = customer(
        1, "a@x.example", 0, _raw=json.dumps({"customer_id": 1, "vip_since": "2024-03-01T00:00:00Z"})
    )
    entries = [attribute("customers.vip_since", "contact", "vip_since", "datetime")]
    expected = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
    assert contact_payload([row], entries)["custom_attributes"]["vip_since"] == expected


# Companies ------------------------------------------------------------------------------------
def test_a_company_without_website_gets_one_from_its_domain():
    payload = company_payload(
        {"company_external_id": "acme-eu", "name": "Acme EU", "domain": "acme.example"}, []
    )
    assert payload["website"] == "https://acme.example"


@pytest.mark.parametrize("website", ["htp:/bad site", "www example com", "https://", "acme.example"])
def test_a_website_intercom_cannot_link_to_is_replaced_by_the_domains_and_reported(website):
    issues: list[FieldIssue] = []

    payload = company_payload(
        {"company_external_id": "acme", "website": website, "domain": "acme.example"}, [], issues
    )

    assert payload["website"] == "https://acme.example"
    assert [(issue.field, issue.value) for issue in issues] == [("website", website)]


def test_a_company_website_is_kept_over_its_domain():
    row = {
        "company_external_id": "acme-eu",
        "website": "https://www.acme.example/eu",
        "domain": "acme.example",
    }
    assert company_payload(row, [])["website"] == "https://www.acme.example/eu"


def test_a_company_payload_carries_its_fields_and_drops_empty_ones():
    row = {
        "company_external_id": "acme-eu",
        "name": None,
        "industry": "Retail",
        "size": 120,
        "plan": None,
        "created_ts": at(0),
        "website": None,
        "domain": None,
    }

    payload = company_payload(row, [])

    assert payload == {
        "company_id": "acme-eu",
        "name": "acme-eu",
        "industry": "Retail",
        "size": 120,
        "remote_created_at": unix(0),
    }


def test_company_metadata_attributes_are_mapped_as_strings():
    row = {
        "company_external_id": "acme-eu",
        "attributes": [{"name": "Region", "value": "EMEA"}, {"value": "nameless"}],
    }
    payload = company_payload(row, [attribute("companies.attributes[Region]", "company", "region")])
    assert payload["custom_attributes"] == {"region": "EMEA"}


# Conversations: who says what -----------------------------------------------------------------
def test_a_customer_message_is_a_comment_by_the_contact():
    opener = conversation_payload(
        conversation(message("m1", 0, "customer", "900", "I want to pay my bill")), context()
    )["opener"]
    assert opener == {
        "key": "m1",
        "created_at": unix(0),
        "author": "contact",
        "message_type": "comment",
        "text": "I want to pay my bill",
    }


def test_a_bot_message_is_a_comment_by_the_bot_admin():
    payload = conversation_payload(
        conversation(message("m1", 0, "bot", None, "Hi! How can I help?")), context()
    )
    assert (payload["opener"]["author"], payload["opener"]["admin_id"]) == ("admin", "admin-bot")
    assert payload["opener"]["text"] == "Hi! How can I help?"


def test_an_agent_with_an_intercom_admin_speaks_as_that_admin():
    payload = conversation_payload(
        conversation(
            message("m1", 0, "customer", "900", "Hello"), message("m2", 5, "rep", "101", "Hi, Dana here")
        ),
        context(),
    )
    reply = payload["parts"][0]
    assert (reply["author"], reply["admin_id"], reply["message_type"], reply["text"]) == (
        "admin",
        "admin-dana",
        "comment",
        "Hi, Dana here",
    )


def test_an_agent_without_an_intercom_admin_is_named_in_a_comment_by_the_default_admin():
    payload = conversation_payload(
        conversation(
            message("m1", 0, "customer", "900", "Hello"), message("m2", 5, "rep", "102", "Sam here")
        ),
        context(),
    )
    reply = payload["parts"][0]
    assert (reply["admin_id"], reply["message_type"], reply["text"]) == (
        "admin-migration",
        "comment",
        "[Sam Okafor] Sam here",
    )


def test_an_agent_missing_from_the_directory_is_named_by_id():
    payload = conversation_payload(
        conversation(message("m1", 0, "customer", "900", "Hello"), message("m2", 5, "rep", "555", "Hi")),
        context(),
    )
    assert payload["parts"][0]["text"] == "[ASAPP agent 555] Hi"


@pytest.mark.parametrize("sender_type", ["rep_note", "rep_whisper"])
def test_agent_notes_and_whispers_stay_internal_notes(sender_type):
    payload = conversation_payload(
        conversation(
            message("m1", 0, "customer", "900", "Hello"),
            message("m2", 5, sender_type, "101", "VIP, be nice"),
            message("m3", 6, sender_type, "102", "agreed"),
        ),
        context(),
    )
    dana, sam = payload["parts"]
    assert (dana["message_type"], dana["admin_id"], dana["text"]) == ("note", "admin-dana", "VIP, be nice")
    assert (sam["message_type"], sam["admin_id"], sam["text"]) == (
        "note",
        "admin-migration",
        "[Sam Okafor] agreed",
    )


def test_an_unknown_sender_type_is_kept_as_an_internal_note():
    payload = conversation_payload(
        conversation(
            message("m1", 0, "customer", "900", "Hello"),
            message("m2", 5, "supervisor", "101", "taking over"),
            message("m3", 6, "supervisor", "102", "noted"),
        ),
        context(),
    )
    dana, sam = payload["parts"]
    assert (dana["message_type"], dana["admin_id"], dana["text"]) == ("note", "admin-dana", "taking over")
    assert (sam["message_type"], sam["admin_id"], sam["text"]) == (
        "note",
        "admin-migration",
        "[Sam Okafor, supervisor] noted",
    )


# Conversations: the thread ----------------------------------------------------------------------
def test_the_first_visible_comment_opens_the_conversation_even_after_notes():
    payload = conversation_payload(
        conversation(
            message("n1", 0, "rep_note", "101", "customer called first"),
            message("m1", 5, "customer", "900", "Hello"),
            message("m2", 9, "rep", "101", "Hi"),
        ),
        context(),
    )
    assert payload["opener"]["key"] == "m1"
    assert [part["key"] for part in payload["parts"]] == ["n1", "m2"]


def test_a_conversation_with_only_notes_cannot_be_loaded():
    with pytest.raises(Unloadable, match="only internal notes"):
        conversation_payload(
            conversation(
                message("n1", 0, "rep_note", "101", "a"), message("n2", 1, "rep_whisper", "101", "b")
            ),
            context(),
        )


@pytest.mark.parametrize(
    "messages",
    [None, [], [message("m1", 0, "customer", "900", "  \n ")]],
    ids=["no list", "empty list", "only blank text"],
)
def test_a_conversation_without_messages_cannot_be_loaded(messages):
    with pytest.raises(Unloadable, match="no messages"):
        conversation_payload({"issue_id": 1, "messages": messages}, context())


def test_blank_messages_are_skipped():
    payload = conversation_payload(
        conversation(
            message("m1", 0, "customer", "900", "Hello"),
            message("m2", 1, "customer", "900", ""),
            message("m3", 2, "rep", "101", "   "),
            message("m4", 3, "rep", "101", "Hi"),
        ),
        context(),
    )
    assert [part["key"] for part in parts_of(payload)] == ["m1", "m4"]


def test_transcript_mode_posts_the_whole_exchange_as_one_note_at_the_last_message():
    messages = [
        message("m1", 0, "customer", "900", "Hello"),
        message("m2", 30, "bot", None, "Let me find someone"),
        message("n1", 40, "rep_note", "102", "VIP"),
        message("m3", 65, "rep", "101", "Dana here"),
    ]

    payload = conversation_payload(conversation(*messages), context(thread_mode=ThreadMode.transcript))

    assert payload["opener"]["key"] == "m1"
    [transcript] = payload["parts"]
    assert (transcript["message_type"], transcript["author"], transcript["admin_id"]) == (
        "note",
        "admin",
        "admin-migration",
    )
    assert transcript["created_at"] == unix(65)
    assert transcript["text"].splitlines() == [
        "ASAPP transcript",
        "[2026-01-05 14:02:12 UTC] Customer: Hello",
        "[2026-01-05 14:02:42 UTC] Bot: Let me find someone",
        "[2026-01-05 14:02:52 UTC] Agent note Sam Okafor: VIP",
        "[2026-01-05 14:03:17 UTC] Agent Dana Reyes: Dana here",
    ]


def test_transcript_mode_with_a_single_message_posts_only_the_opener():
    payload = conversation_payload(
        conversation(message("m1", 0, "customer", "900", "Hello")), context(thread_mode=ThreadMode.transcript)
    )
    assert (payload["opener"]["key"], payload["parts"]) == ("m1", [])


def test_transcript_times_are_utc_on_any_worker(new_york_time):
    payload = conversation_payload(
        conversation(message("m1", 0, "customer", "900", "Hello"), message("m2", 5, "rep", "101", "Hi")),
        context(thread_mode=ThreadMode.transcript),
    )
    assert "[2026-01-05 14:02:12 UTC] Customer: Hello" in payload["parts"][0]["text"]


# Conversations: attributes, assignee, state, tags -----------------------------------------------
def test_conversation_attributes_come_from_columns_parameters_answers_and_structured_data():
    entries = [
        attribute("convos_metadata.platform", "conversation", "asapp_platform"),
        attribute("convos_metadata.csat_rating", "conversation", "asapp_csat_rating", "integer"),
        attribute("customer_params.param_value[Order ID]", "conversation", "asapp_param_order_id"),
        attribute("customer_feedback.answer[Satisfied?]", "conversation", "asapp_feedback_satisfied"),
        attribute(
            "autosummary_structured_data.structured_data_field_value[sd-1]", "conversation", "asapp_sd_1"
        ),
        attribute("customers.address_country", "contact", "asapp_address_country"),
    ]
    row = conversation(
        message("m1", 0, "customer", "900", "Hello"),
        platform="ios",
        csat_rating=4.0,
        params=[{"param_key": "Order ID", "param_value": "A-77"}],
        feedback=[{"question": "Satisfied?", "answer": "no"}, {"question": "Satisfied?", "answer": "yes"}],
        structured=[{"field_id": "sd-1", "value": "refund"}],
    )

    attributes = conversation_payload(row, context(entries=entries))["custom_attributes"]

    assert attributes == {
        "asapp_issue_id": "21352352",
        "asapp_platform": "ios",
        "asapp_csat_rating": 4,
        "asapp_param_order_id": "A-77",
        "asapp_feedback_satisfied": "yes",
        "asapp_sd_1": "refund",
    }


def test_a_transform_carries_only_the_raw_keys_the_map_reads_from_that_feed():
    entries = [
        attribute("convos_metadata.platform", "conversation", "asapp_platform"),
        attribute("convos_metadata.csat_rating", "conversation", "asapp_csat_rating", "integer"),
        attribute("customer_params.param_value[Order ID]", "conversation", "asapp_param_order_id"),
        attribute("customer_feedback.answer[Satisfied?]", "conversation", "asapp_feedback_satisfied"),
        attribute("customers.attributes[tier]", "contact", "asapp_tier"),
        attribute("customers.address_country", "contact", "asapp_address_country"),
        attribute("customers.email_address", "contact", "asapp_email"),
    ]

    # csat_rating and email_address are typed columns; the parameter and the answer come with their own rows
    assert raw_keys(entries, FEEDS["convos_metadata"]) == ["platform"]
    assert raw_keys(entries, FEEDS["customers"]) == ["address_country", "attributes"]


def test_a_fractional_rating_is_left_out_of_the_conversation_and_reported():
    entries = [attribute("convos_metadata.csat_rating", "conversation", "asapp_csat_rating", "integer")]
    issues: list[FieldIssue] = []

    payload = conversation_payload(
        conversation(message("m1", 0, "customer", "900", "Hello"), csat_rating=4.5),
        context(entries=entries),
        issues,
    )

    assert "asapp_csat_rating" not in payload["custom_attributes"]
    (issue,) = issues
    assert (issue.field, issue.value) == ("custom_attributes.asapp_csat_rating", 4.5)
    assert "convos_metadata.csat_rating: '4.5' is not a integer" in issue.reason


def test_a_string_attribute_over_255_characters_is_left_out_and_reported_with_the_whole_value():
    entries = [attribute("convos_metadata.disposition_notes", "conversation", "asapp_disposition_notes")]
    issues: list[FieldIssue] = []
    notes = "Customer called about the bill. " * 12

    payload = conversation_payload(
        conversation(message("m1", 0, "customer", "900", "Hello"), disposition_notes=notes),
        context(entries=entries),
        issues,
    )

    assert "asapp_disposition_notes" not in payload["custom_attributes"]
    assert [(issue.field, issue.value) for issue in issues] == [
        ("custom_attributes.asapp_disposition_notes", notes)
    ]
    assert "at most 255" in issues[0].reason


def test_the_last_agent_with_an_admin_is_the_assignee():
    row = conversation(message("m1", 0, "customer", "900", "Hello"), last_rep_id="101")
    assert conversation_payload(row, context())["assignee_admin_id"] == "admin-dana"
    assert agents_without_admin(row, context()) == []


def test_the_last_agent_without_an_admin_leaves_it_unassigned_and_is_reported():
    row = conversation(message("m1", 0, "customer", "900", "Hello"), last_rep_id="102")
    assert conversation_payload(row, context())["assignee_admin_id"] is None
    assert agents_without_admin(row, context()) == [
        {"rep_id": "102", "name": "Sam Okafor", "email": "sam@acme.example"}
    ]


def test_an_agent_missing_from_the_reps_feed_who_wrote_is_reported_by_id():
    row = conversation(message("m1", 0, "customer", "900", "Hello"), message("m2", 5, "rep", "555", "Hi"))
    assert agents_without_admin(row, context()) == [{"rep_id": "555", "name": None, "email": None}]


def test_a_conversation_no_agent_handled_is_unassigned_without_a_report():
    row = conversation(message("m1", 0, "customer", "900", "Hello"))
    assert (
        conversation_payload(row, context())["assignee_admin_id"],
        agents_without_admin(row, context()),
    ) == (None, [])


def test_an_ended_issue_is_closed_and_an_ongoing_one_open():
    ended = conversation(message("m1", 0, "customer", "900", "Hello"), conversation_end_ts=at(600))
    ongoing = conversation(message("m1", 0, "customer", "900", "Hello"), conversation_end_ts=None)
    assert conversation_payload(ended, context())["state"] == "closed"
    assert conversation_payload(ongoing, context())["state"] == "open"


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("[marketing,promotions]", ["marketing", "promotions"]),
        ("[ marketing , promotions ]", ["marketing", "promotions"]),
        ("billing", ["billing"]),
        ("[]", []),
        ("", []),
        (None, []),
    ],
)
def test_company_segments_are_read_with_or_without_brackets(raw, segments):
    assert parse_segments(raw) == segments


def test_tags_are_the_segments_plus_the_segments_of_its_structured_data_fields():
    row = conversation(
        message("m1", 0, "customer", "900", "Hello"),
        company_segments="[promotions,billing]",
        structured=[{"field_id": "sd-1", "value": "yes"}, {"field_id": "sd-3", "value": "x"}],
    )
    tags_by_field = {"sd-1": ["Refunds", "billing"], "sd-2": ["Never seen"]}

    payload = conversation_payload(row, context(segment_tags_by_field=tags_by_field))

    assert payload["tags"] == ["Refunds", "billing", "promotions"]


# Attachments ------------------------------------------------------------------------------------
def test_a_customer_upload_is_posted_by_the_contact_with_a_fallback_content_type():
    row = {
        "sender_type": "customer",
        "sender_id": "900",
        "file_upload_ts": at(30),
        "file_name": "bill.pdf",
        "file_mime_type": None,
        "conversation_state": None,
    }
    payload = attachment_payload(row, "contact-1", context())
    assert payload == {
        "contact": "contact-1",
        "conversation_state": "open",
        "created_at": unix(30),
        "author": "contact",
        "file_name": "bill.pdf",
        "text": "bill.pdf",
        "content_type": "application/octet-stream",
    }


def test_an_agent_upload_is_posted_by_the_agents_admin():
    row = {
        "sender_type": "rep",
        "sender_id": "101",
        "file_upload_ts": at(30),
        "file_name": "label.png",
        "file_mime_type": "image/png",
        "conversation_state": "closed",
    }
    payload = attachment_payload(row, "contact-1", context())
    assert (payload["author"], payload["admin_id"], payload["conversation_state"]) == (
        "admin",
        "admin-dana",
        "closed",
    )


def test_an_upload_by_an_agent_without_an_admin_names_the_agent():
    row = {
        "sender_type": "rep",
        "sender_id": "102",
        "file_upload_ts": at(30),
        "file_name": "label.png",
        "file_mime_type": "image/png",
        "conversation_state": "open",
    }
    payload = attachment_payload(row, "contact-1", context())
    assert (payload["admin_id"], payload["text"]) == ("admin-migration", "[Sam Okafor] label.png")
