"""The transform of staged feeds into payloads, on a ledger and staging area on local disk."""

import logging
from collections.abc import Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.payloads import ConversationContext
from asapp_intercom.domain.run_form import Scope
from asapp_intercom.pipeline import transform as transform_module
from asapp_intercom.pipeline.extract import extract_feed
from asapp_intercom.pipeline.transform import transform

from tests.support.feed_files import MemoryFeedSource

RUN = "manual__2026-01-08T10:00:00+00:00"
DAY = "dt=2026-01-07/hr=00/mi=00"
LATER = "dt=2026-01-07/hr=01/mi=00"


def customer(customer_id: int, email: str) -> dict:
    return {
        "customer_id": customer_id,
        "email_address": email,
        "name": f"Customer {customer_id}",
        "first_seen_ts": "2026-01-05T01:00:00+00:00",
        "company_name": "acme",
        "dt": "2026-01-07",
    }


def message(issue_id: int, at: str, sender_type: str, sender_id: int, text: str, uuid: str) -> dict:
    return {
        "instance_ts": "2026-01-07T00:00:00+00:00",
        "created_ts": f"2026-01-07T{at}+00:00",
        "issue_id": issue_id,
        "sender_type": sender_type,
        "sender_id": sender_id,
        "utterance": text,
        "event_uuid": uuid,
    }


def upload(upload_id: str, issue_id: int | None) -> dict:
    return {
        "file_upload_event_id": upload_id,
        "file_upload_ts": "2026-01-07T00:05:00+00:00",
        "issue_id": issue_id,
        "customer_id": 1,
        "sender_type": "customer",
        "file_name": "receipt.pdf",
        "file_mime_type": "application/pdf",
        "instance_ts": "2026-01-07T00:00:00+00:00",
    }


def one_conversation() -> MemoryFeedSource:
    """Ada's conversation 10, with one message of hers."""
    source = MemoryFeedSource()
    source.add("customers", DAY, "customers.jsonl", [customer(1, "ada@example.com")])
    source.add(
        "convos_metadata",
        DAY,
        "convos_metadata.jsonl",
        [{"issue_id": 10, "instance_ts": "2026-01-07T00:00:00+00:00", "customer_id": 1}],
    )
    source.add("utterances", DAY, "utterances.jsonl", [message(10, "00:01:00", "customer", 1, "hi", "u1")])
    return source


def run_transform(area, source: MemoryFeedSource, entries: Iterable[FieldMapping] = (), run: str = RUN):
    staging, ledger = area
    for feed in ("customers", "convos_metadata", "utterances", "file_uploads"):
        extract_feed(source, FEEDS[feed], staging, ledger, run)
    context = ConversationContext(entries=list(entries), agents={}, default_admin_id="1", bot_admin_id="2")
    result = transform(staging, ledger, run, Scope(), context, admins=[])
    payloads = {
        object_type: {row["source_id"]: row for row in staging.read_payloads(manifest.path)}
        for object_type, manifest in result.objects.items()
    }
    held = {(row.object_type, row.source_id): row.reason for row in ledger.open_quarantine()}
    return payloads, held


@pytest.mark.parametrize(
    ("read_amplification", "messages_are"),
    [(float("inf"), "read in place"), (0.0, "sorted by conversation first")],
)
def test_each_conversation_gets_its_latest_messages_in_time_order_across_chunks(
    area, monkeypatch, caplog, read_amplification, messages_are
):
    """Messages arrive out of order, across files, one restated later: each conversation's parts are
    its own messages' latest versions in time order, in whichever chunk it falls, whether the staged
    messages are read in place or sorted first; a conversation whose metadata names no customer belongs to
    the customer who wrote in it first, and one whose restated metadata names one, to that customer."""
    monkeypatch.setattr(transform_module, "CHUNK_ISSUES", 2)
    monkeypatch.setattr(transform_module, "MAX_READ_AMPLIFICATION", read_amplification)
    caplog.set_level(logging.INFO, logger="asapp_intercom.pipeline.transform")
    source = MemoryFeedSource()
    source.add(
        "customers", DAY, "customers.jsonl", [customer(1, "ada@example.com"), customer(2, "bo@example.com")]
    )
    source.add(
        "convos_metadata",
        DAY,
        "convos_metadata.jsonl",
        [
            {"issue_id": issue, "instance_ts": "2026-01-07T00:00:00+00:00", "customer_id": None}
            for issue in (10, 11, 12)
        ],
    )
    source.add(
        "utterances",
        DAY,
        "utterances.jsonl",
        [
            message(10, "00:03:00", "customer", 1, "third", "u3"),
            message(12, "00:01:00", "rep", 500, "hello from a rep", "w1"),
            message(10, "00:01:00", "bot", 900, "first", "u1"),
            message(11, "00:01:00", "customer", 2, "only", "v1"),
            message(12, "00:02:00", "customer", 2, "answer", "w2"),
            message(12, "00:03:00", "customer", 1, "another customer, later", "w3"),
        ],
    )
    source.add(  # ASAPP restates a conversation's metadata: the later delivery names its customer
        "convos_metadata",
        LATER,
        "convos_metadata.jsonl",
        [{"issue_id": 11, "instance_ts": "2026-01-07T00:00:00+00:00", "customer_id": 1}],
    )
    source.add(
        "utterances",
        LATER,
        "utterances.jsonl",
        [
            message(10, "00:02:00", "customer", 1, "second", "u2"),
            {
                **message(10, "00:03:00", "customer", 1, "third, restated", "u3"),
                "instance_ts": "2026-01-07T01:00:00+00:00",
            },
        ],
    )

    payloads, held = run_transform(area, source)

    def thread(issue: int) -> list[tuple[int, str, str]]:
        payload = payloads["conversation"][str(issue)]["payload"]
        return [
            (part["created_at"], part["author"], part["text"])
            for part in [payload["opener"], *payload["parts"]]
        ]

    at = 1767744000  # 2026-01-07T00:00:00Z
    assert thread(10) == [
        (at + 60, "admin", "first"),
        (at + 120, "contact", "second"),
        (at + 180, "contact", "third, restated"),
    ]
    assert thread(11) == [(at + 60, "contact", "only")]
    assert payloads["conversation"]["10"]["depends_on"] == "email:ada@example.com"
    assert payloads["conversation"]["11"]["depends_on"] == "email:ada@example.com"  # Bo wrote, Ada's it is
    assert payloads["conversation"]["12"]["depends_on"] == "email:bo@example.com"  # after a rep, before Ada
    assert not [key for key in held if key[0] == "conversation"]
    assert any(record.getMessage().startswith(f"utterances: {messages_are}") for record in caplog.records)


def test_customers_sharing_an_email_are_one_contact_in_whichever_chunk_it_falls(area, monkeypatch):
    """Customers whose emails differ in case are one contact, its members in customer id order and the
    earliest seen speaking for it, whichever chunk of contacts it falls in; a contact whose primary
    customer's external id an earlier-seen contact holds loads without it, and says so."""
    monkeypatch.setattr(transform_module, "CHUNK_CONTACTS", 2)
    early = "2026-01-04T01:00:00+00:00"
    source = MemoryFeedSource()
    source.add(
        "customers",
        DAY,
        "customers.jsonl",
        [
            {**customer(7, "Ada@Example.com"), "external_customer_id": "ext-ada"},
            {**customer(3, "ada@example.com"), "first_seen_ts": early, "external_customer_id": "ext-ada"},
            customer(5, "bo@example.com"),
            {**customer(9, "cy@example.com"), "first_seen_ts": early, "external_customer_id": "ext-cy"},
            {**customer(4, "dee@example.com"), "external_customer_id": "ext-cy"},
            customer(8, "not an email"),
        ],
    )

    payloads, _ = run_transform(area, source)

    contacts = {key: row["payload"] for key, row in payloads["contact"].items()}
    assert set(contacts) == {
        "email:ada@example.com",
        "email:bo@example.com",
        "email:cy@example.com",
        "email:dee@example.com",
        "customer:8",
    }
    ada = contacts["email:ada@example.com"]
    assert ada["custom_attributes"]["asapp_customer_id"] == "3,7"
    assert (ada["email"], ada["external_id"], ada["name"]) == ("ada@example.com", "ext-ada", "Customer 3")
    assert contacts["email:cy@example.com"]["external_id"] == "ext-cy"
    assert contacts["email:dee@example.com"]["external_id"] == "asapp-customer-4"  # Cy holds ext-cy
    assert contacts["customer:8"]["custom_attributes"]["asapp_customer_id"] == "8"
    assert "email" not in contacts["customer:8"]


def test_a_feed_is_read_in_place_when_a_chunk_reads_few_row_groups(tmp_path):
    """Reading in place, each chunk of conversations reads the row groups whose issue ids meet its range: one
    read per row when a feed's conversations are together, one per chunk when each row group holds them all
    (then the feed is sorted first)."""
    issues = list(range(1000))
    together, scattered = tmp_path / "together.parquet", tmp_path / "scattered.parquet"
    pq.write_table(pa.table({"issue_id": issues}), together, row_group_size=100)
    mixed = [issue for start in range(100) for issue in issues[start::100]]  # 0, 100, …, 900, 1, 101, …
    pq.write_table(pa.table({"issue_id": mixed}), scattered, row_group_size=100)
    connection = duckdb.connect()
    connection.register(
        "delivered_files",
        pa.table({"feed": ["utterances", "customer_feedback"], "path": [str(together), str(scattered)]}),
    )
    chunks = [(first, first + 99) for first in range(0, 1000, 100)]

    def read(feed: str) -> float:
        return transform_module._read_amplification(connection, feed, "issue_id", chunks)

    assert read("utterances") == 1.0
    assert read("customer_feedback") == 10.0
    assert transform_module._read_amplification(connection, "utterances", "issue_id", chunks[:5]) == 0.5
    assert read("customer_params") == 0.0  # nothing staged


def test_an_upload_is_quarantined_with_why_its_conversation_cannot_be_found(area):
    source = one_conversation()
    source.add(
        "file_uploads",
        DAY,
        "file_uploads.jsonl",
        [upload("f-known", 10), upload("f-unknown", 99), upload("f-none", None)],
    )

    payloads, held = run_transform(area, source)

    assert list(payloads["attachment"]) == ["f-known"]
    assert held[("attachment", "f-unknown")] == "its conversation (99) is in no feed"
    assert held[("attachment", "f-none")] == "it names no conversation (its issue_id is empty)"


def test_a_field_left_out_is_noted_and_lifted_once_a_later_delivery_corrects_it(area):
    """Two conversations' sentiment score is not a number: each is loaded without it, and says so. A later
    delivery corrects one: the next transform carries its score and lifts its issue, the other's stays."""
    staging, ledger = area
    score = FieldMapping(
        source="convos_metadata.sentiment_score",
        source_type="string",
        target_object="conversation",
        target="custom_attributes.asapp_sentiment_score",
        data_type="integer",
        confidence=1.0,
    )
    source = MemoryFeedSource()
    source.add("customers", DAY, "customers.jsonl", [customer(1, "ada@example.com")])
    source.add(
        "convos_metadata",
        DAY,
        "convos_metadata.jsonl",
        [
            {
                "issue_id": issue,
                "instance_ts": "2026-01-07T00:00:00+00:00",
                "customer_id": 1,
                "sentiment_score": "high",
            }
            for issue in (20, 21)
        ],
    )
    source.add(
        "utterances",
        DAY,
        "utterances.jsonl",
        [message(issue, "00:01:00", "customer", 1, "hi", f"u{issue}") for issue in (20, 21)],
    )

    payloads, _ = run_transform(area, source, [score])

    assert "asapp_sentiment_score" not in payloads["conversation"]["20"]["payload"]["custom_attributes"]
    assert [(row.source_id, row.value) for row in ledger.open_field_issues("conversation")] == [
        ("20", "high"),
        ("21", "high"),
    ]

    source.add(
        "convos_metadata",
        LATER,
        "convos_metadata.jsonl",
        [
            {
                "issue_id": 20,
                "instance_ts": "2026-01-07T01:00:00+00:00",
                "customer_id": 1,
                "sentiment_score": 4,
            }
        ],
    )
    payloads, _ = run_transform(area, source, [score], run="manual__2026-01-09T10:00:00+00:00")

    assert payloads["conversation"]["20"]["payload"]["custom_attributes"]["asapp_sentiment_score"] == 4
    assert [row.source_id for row in ledger.open_field_issues("conversation")] == ["21"]


def test_a_transform_says_when_each_step_without_records_to_count_is_done(area, caplog):
    """Its sorts run for minutes at 2M conversations: each says when it is done (and, while it runs, every 30
    seconds that it still is), so that the log never goes quiet for long."""
    source = one_conversation()
    caplog.set_level(logging.INFO, logger="asapp_intercom.pipeline.transform")

    run_transform(area, source)

    said = [
        record.getMessage() for record in caplog.records if record.name == "asapp_intercom.pipeline.transform"
    ]
    assert [line.split(", done in")[0] for line in said if ", done in" in line] == [
        "transform: reading the staged feeds and the run's scope",
        "transform: sorting the customers by contact",
        "transform: gathering the conversations' feeds by conversation",
    ]
