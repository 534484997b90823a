"""Intercom's side of the domain: the bodies the migration sends and how it recognises what Intercom
stored."""

import html

import pytest
from asapp_intercom.domain.intercom import find_part, html_body, same_part, same_text


def test_html_body_escapes_markup_and_keeps_the_text():
    text = 'Try <script>alert("hi")</script> & <b>bold</b>\nsecond line'

    body = html_body(text)

    assert "<script>" not in body and "<b>" not in body
    assert "&lt;script&gt;" in body and "&amp;" in body
    assert body.count("<br>") == 1
    assert html.unescape(body.replace("<br>", "\n")) == text


TEXTS = {
    "padded with spaces": "  I want to pay my bill  ",
    "tabs and a trailing newline": "\tHello\t\n",
    "non-breaking spaces": "\u00a0Merci\u00a0beaucoup\u00a0",
    "several lines": "line one\nline two\n\nline four",
    "markup and entities": 'Use <b>bold</b> & "quotes" &amp; &lt;tags&gt;',
    "right to left": "שלום, אני צריך עזרה עם החשבון",
    "arabic with digits": "مرحبا، رقم الطلب 12345",
    "chinese and japanese": "我的账单有问题。請求書について",
    "emoji and combining marks": "Thanks 👍🏽 — café, naïve, e\u0301",
    "long": "word " * 12_000,
}


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_a_text_reads_the_same_however_intercom_stores_what_was_sent(text):
    sent = html_body(text)
    for stored in (sent, f"<p>{sent}</p>", sent.replace("<br>", "<br/>"), f"<p>{sent.strip()}</p>"):
        assert same_text(stored, text)
    assert same_text(text, text)  # a contact's first message, sent as plain text and stored as it came


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_a_part_with_another_text_or_time_is_not_the_same(text):
    part = {"created_at": 100, "text": text}
    assert not same_part({"created_at": 100, "body": html_body(text + " (edited)")}, part)
    assert not same_part({"created_at": 101, "body": html_body(text)}, part)


def test_the_part_a_dead_try_posted_is_found_and_identical_parts_are_told_apart():
    text = "  same words, twice  "
    conversation = {
        "conversation_parts": {
            "conversation_parts": [
                {"id": "1", "created_at": 100, "body": f"<p>{html_body(text)}</p>"},
                {"id": "2", "created_at": 100, "body": html_body(text)},
            ]
        }
    }
    part = {"created_at": 100, "text": text}

    first = find_part(conversation, part)
    second = find_part(conversation, part, taken={str(first["id"])})

    assert (first["id"], second["id"]) == ("1", "2")
    assert find_part(conversation, part, taken={"1", "2"}) is None
