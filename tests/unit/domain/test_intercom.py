"""Intercom's side of the domain: the bodies the migration sends and how it recognises what Intercom stored."""

import html

from asapp_intercom.domain.intercom import html_body


def test_html_body_escapes_markup_and_keeps_the_text():
    text = 'Try <script>alert("hi")</script> & <b>bold</b>\nsecond line'

    body = html_body(text)

    assert "<script>" not in body and "<b>" not in body
    assert "&lt;script&gt;" in body and "&amp;" in body
    assert body.count("<br>") == 1
    assert html.unescape(body.replace("<br>", "\n")) == text
