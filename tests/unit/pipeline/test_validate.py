"""What read-back expects of a conversation: what the loader could make Intercom hold."""

from __future__ import annotations

from asapp_intercom.pipeline.validate import thread_of


def message(key: str, at: int) -> dict:
    return {"key": key, "created_at": at, "text": key, "author": "contact"}


def test_a_conversation_is_its_first_message_and_the_others_in_time_order():
    payload = {"opener": message("m1", 100), "parts": [message("m3", 300), message("m2", 200)]}

    opener, parts = thread_of(payload, "m1")

    assert opener["key"] == "m1" and [part["key"] for part in parts] == ["m2", "m3"]


def test_messages_that_came_to_light_later_are_parts_and_the_source_stays():
    # m3 opened the conversation; m1 and m2 (earlier) were in a file ASAPP delivered again
    payload = {
        "opener": message("m1", 100),
        "parts": [message("m2", 200), message("m3", 300), message("m4", 400)],
    }

    opener, parts = thread_of(payload, "m3")

    assert opener["key"] == "m3"
    assert [part["key"] for part in parts] == ["m1", "m2", "m4"]
