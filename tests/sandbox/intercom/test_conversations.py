"""Conversations: importing history (created_at, part order, the 500-part cap), replies, state, tags,
files."""

from __future__ import annotations

import base64
import itertools
import socket

import httpx
import pytest

_unique = itertools.count()
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
LONG_AGO = 1_600_000_000


@pytest.fixture(scope="module")
def admin_id(module_api) -> str:
    return module_api.get("/me").json()["id"]


@pytest.fixture
def contact(api) -> dict:
    response = api.post("/contacts", json={"email": f"talker.{next(_unique)}@example.com", "name": "Talker"})
    return response.json()


def start(api, contact, created_at=LONG_AGO, body="My order never arrived") -> str:
    response = api.post(
        "/conversations",
        json={"from": {"type": "user", "id": contact["id"]}, "body": body, "created_at": created_at},
    )
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["type"] == "user_message" and message["created_at"] == created_at
    return message["conversation_id"]


def reply_as_admin(api, conversation_id, admin_id, body, created_at=None, **extra):
    payload = {"type": "admin", "message_type": "comment", "admin_id": admin_id, "body": body, **extra}
    if created_at is not None:
        payload["created_at"] = created_at
    return api.post(f"/conversations/{conversation_id}/reply", json=payload)


def error_of(response) -> dict:
    return response.json()["errors"][0]


def test_imported_history_keeps_timestamps_and_reads_in_original_order(api, contact, admin_id):
    conversation_id = start(api, contact)
    reply_as_admin(api, conversation_id, admin_id, "Sorry! Checking.", created_at=LONG_AGO + 60)
    contact_reply = {
        "type": "user",
        "message_type": "comment",
        "intercom_user_id": contact["id"],
        "body": "Thanks",
    }
    api.post(f"/conversations/{conversation_id}/reply", json={**contact_reply, "created_at": LONG_AGO + 120})
    # a part imported late, with an earlier original timestamp, takes its place in the thread
    reply_as_admin(
        api,
        conversation_id,
        admin_id,
        "Internal: carrier delay",
        created_at=LONG_AGO + 30,
        message_type="note",
    )
    conversation = api.get(f"/conversations/{conversation_id}").json()
    assert conversation["created_at"] == LONG_AGO
    assert conversation["source"]["body"] == "My order never arrived"
    assert conversation["source"]["author"] == {
        "type": "user",
        "id": contact["id"],
        "name": "Talker",
        "email": contact["email"],
    }
    parts = conversation["conversation_parts"]["conversation_parts"]
    assert [(part["created_at"], part["part_type"], part["body"]) for part in parts] == [
        (LONG_AGO + 30, "note", "Internal: carrier delay"),
        (LONG_AGO + 60, "comment", "Sorry! Checking."),
        (LONG_AGO + 120, "comment", "Thanks"),
    ]
    assert parts[2]["author"]["type"] == "user" and parts[1]["author"]["id"] == admin_id
    assert conversation["statistics"]["count_conversation_parts"] == 3


def test_unknown_contact_cannot_start_a_conversation(api):
    response = api.post("/conversations", json={"from": {"type": "user", "id": "0" * 24}, "body": "hi"})
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "User Not Found"}


def test_retrieving_returns_the_500_newest_parts_but_counts_them_all(sandbox, api, contact, admin_id):
    conversation_id = start(api, contact)
    author = {"type": "admin", "id": admin_id, "name": "Owner", "email": "owner@example.com"}
    conversation = next(item for item in sandbox.export()["conversations"] if item["id"] == conversation_id)
    conversation["parts"] = [
        {
            "id": str(9_000_000_000 + index),
            "part_type": "comment",
            "body": f"part {index}",
            "created_at": LONG_AGO + index,
            "updated_at": LONG_AGO + index,
            "author": author,
            "attachment_ids": [],
            "assigned_to": None,
        }
        for index in range(620)
    ]
    sandbox.seed({"conversations": [conversation]})
    read = api.get(f"/conversations/{conversation_id}").json()
    parts = read["conversation_parts"]["conversation_parts"]
    assert len(parts) == 500
    assert read["conversation_parts"]["total_count"] == 620
    assert read["statistics"]["count_conversation_parts"] == 620
    assert parts[0]["body"] == "part 120" and parts[-1]["body"] == "part 619"
    new_part = reply_as_admin(api, conversation_id, admin_id, "newest").json()
    assert new_part["conversation_parts"]["conversation_parts"][-1]["body"] == "newest"
    assert new_part["conversation_parts"]["total_count"] == 621


def test_state_changes_are_stamped_now_and_ignore_created_at(api, contact, admin_id):
    conversation_id = start(api, contact)
    closed = api.post(
        f"/conversations/{conversation_id}/parts",
        json={"message_type": "close", "type": "admin", "admin_id": admin_id, "created_at": LONG_AGO},
    ).json()
    assert closed["state"] == "closed" and closed["open"] is False
    close_part = closed["conversation_parts"]["conversation_parts"][-1]
    assert close_part["part_type"] == "close" and close_part["created_at"] > LONG_AGO
    assigned = api.post(
        f"/conversations/{conversation_id}/parts",
        json={"message_type": "assignment", "type": "admin", "admin_id": admin_id, "assignee_id": admin_id},
    ).json()
    assert assigned["admin_assignee_id"] == int(admin_id)
    unassigned = api.post(
        f"/conversations/{conversation_id}/parts",
        json={"message_type": "assignment", "type": "admin", "admin_id": admin_id, "assignee_id": "0"},
    ).json()
    assert unassigned["admin_assignee_id"] == 0
    # a contact reply reopens a closed conversation
    reopened = api.post(
        f"/conversations/{conversation_id}/reply",
        json={
            "type": "user",
            "message_type": "comment",
            "email": contact["email"].upper(),
            "body": "Still waiting",
        },
    ).json()
    assert reopened["state"] == "open"


def test_reply_shapes_the_description_rejects_are_400(api, contact, admin_id):
    conversation_id = start(api, contact)
    no_identity = api.post(
        f"/conversations/{conversation_id}/reply",
        json={"type": "user", "message_type": "comment", "body": "x"},
    )
    assert no_identity.status_code == 400
    too_many = reply_as_admin(
        api,
        conversation_id,
        admin_id,
        "files",
        attachment_urls=[f"https://example.com/{index}.png" for index in range(11)],
    )
    assert too_many.status_code == 400
    assert error_of(too_many)["field"] == "attachment_urls"
    unknown_admin = reply_as_admin(api, conversation_id, "123", "hello")
    assert unknown_admin.status_code == 404
    assert error_of(unknown_admin)["code"] == "admin_not_found"


def test_attachment_files_are_hosted_and_urls_are_fetched_and_rehosted(api, contact, admin_id):
    conversation_id = start(api, contact)
    uploaded = reply_as_admin(
        api,
        conversation_id,
        admin_id,
        "Here is the label",
        attachment_files=[
            {"content_type": "image/png", "data": base64.b64encode(PNG_1X1).decode(), "name": "label.png"}
        ],
    ).json()
    attachment = uploaded["conversation_parts"]["conversation_parts"][-1]["attachments"][0]
    assert attachment["name"] == "label.png" and attachment["filesize"] == len(PNG_1X1)
    assert (attachment["width"], attachment["height"]) == (1, 1)
    served = httpx.get(attachment["url"])
    assert served.content == PNG_1X1 and served.headers["content-type"] == "image/png"
    rehosted = reply_as_admin(
        api, conversation_id, admin_id, "Copy", attachment_urls=[attachment["url"]]
    ).json()
    copy = rehosted["conversation_parts"]["conversation_parts"][-1]["attachments"][0]
    assert copy["url"] != attachment["url"]
    assert httpx.get(copy["url"]).content == PNG_1X1


def test_an_unfetchable_attachment_url_fails_the_whole_reply(api, contact, admin_id):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    conversation_id = start(api, contact)
    response = reply_as_admin(
        api,
        conversation_id,
        admin_id,
        "broken",
        attachment_urls=[f"http://127.0.0.1:{closed_port}/missing.png"],
    )
    assert response.status_code == 400
    assert (
        error_of(response)["code"] == "parameter_invalid" and error_of(response)["field"] == "attachment_urls"
    )
    assert api.get(f"/conversations/{conversation_id}").json()["conversation_parts"]["total_count"] == 0


def test_conversation_custom_attributes_must_exist_and_fit_their_type(api, contact):
    name = f"Order number {next(_unique)}"
    api.post("/conversations/attributes", json={"name": name, "data_type": "integer"})
    conversation_id = start(api, contact)
    unknown = api.put(f"/conversations/{conversation_id}", json={"custom_attributes": {"anything": "x"}})
    assert unknown.status_code == 400
    assert error_of(unknown)["message"] == "Conversation attribute 'anything' does not exist"
    wrong_type = api.put(f"/conversations/{conversation_id}", json={"custom_attributes": {name: "A-17"}})
    assert wrong_type.status_code == 400
    updated = api.put(
        f"/conversations/{conversation_id}", json={"custom_attributes": {name: 17}, "title": "Lost order"}
    )
    assert updated.json()["custom_attributes"] == {name: 17}
    assert updated.json()["title"] == "Lost order"


def test_tagging_a_conversation_needs_an_admin_and_records_who_applied_it(api, contact, admin_id):
    conversation_id = start(api, contact)
    tag = api.post("/tags", json={"name": f"imported-{next(_unique)}"}).json()
    assert api.post(f"/conversations/{conversation_id}/tags", json={"id": tag["id"]}).status_code == 400
    applied = api.post(
        f"/conversations/{conversation_id}/tags", json={"id": tag["id"], "admin_id": admin_id}
    ).json()
    assert applied["applied_by"] == {"type": "admin", "id": admin_id}
    assert api.get(f"/conversations/{conversation_id}").json()["tags"]["tags"][0]["id"] == tag["id"]
    removed = api.request(
        "DELETE", f"/conversations/{conversation_id}/tags/{tag['id']}", json={"admin_id": admin_id}
    )
    assert removed.status_code == 200
    assert api.get(f"/conversations/{conversation_id}").json()["tags"]["tags"] == []


def test_admin_message_becomes_a_conversation_only_when_asked_or_when_the_contact_replies(
    api, contact, admin_id
):
    base = {
        "message_type": "in_app",
        "body": "Your refund is on its way",
        "from": {"type": "admin", "id": int(admin_id)},
    }
    to = {"type": "user", "id": contact["id"]}
    immediate = api.post(
        "/messages", json={**base, "to": to, "create_conversation_without_contact_reply": True}
    ).json()
    assert immediate["conversation_id"]
    waiting = api.post("/messages", json={**base, "to": to, "created_at": LONG_AGO + 10**8}).json()
    assert "conversation_id" not in waiting
    replied = api.post(
        "/conversations/last/reply",
        json={
            "type": "user",
            "message_type": "comment",
            "intercom_user_id": contact["id"],
            "body": "Great, thanks",
        },
    ).json()
    assert replied["source"]["id"] == waiting["id"]
    assert replied["source"]["delivered_as"] == "admin_initiated"
    assert replied["conversation_parts"]["conversation_parts"][-1]["body"] == "Great, thanks"
    email_without_subject = api.post("/messages", json={**base, "message_type": "email", "to": to})
    assert email_without_subject.status_code == 422


def test_list_items_carry_no_parts_and_search_finds_by_contact_and_state(api, contact, admin_id):
    first = start(api, contact)
    second = start(api, contact, created_at=LONG_AGO + 500)
    api.post(
        f"/conversations/{second}/parts",
        json={"message_type": "close", "type": "admin", "admin_id": admin_id},
    )
    listed = api.get("/conversations", params={"per_page": 150}).json()
    assert all("conversation_parts" not in item for item in listed["conversations"])
    query = {
        "query": {
            "operator": "AND",
            "value": [
                {"field": "contact_ids", "operator": "=", "value": contact["id"]},
                {"field": "state", "operator": "=", "value": "open"},
            ],
        }
    }
    found = api.post("/conversations/search", json=query).json()
    assert [item["id"] for item in found["conversations"]] == [first]
    since = {"query": {"field": "created_at", "operator": ">", "value": LONG_AGO + 500}}
    assert second in [
        item["id"] for item in api.post("/conversations/search", json=since).json()["conversations"]
    ]


def test_deleting_a_conversation_is_irreversible(api, contact):
    conversation_id = start(api, contact)
    deleted = api.delete(f"/conversations/{conversation_id}").json()
    assert deleted == {"id": conversation_id, "object": "conversation", "deleted": True}
    assert api.get(f"/conversations/{conversation_id}").status_code == 404
    assert conversation_id in [
        item["id"] for item in api.get("/conversations/deleted").json()["conversations"]
    ]


def test_tickets_keep_their_created_at(api, contact):
    ticket_type = api.post("/ticket_types", json={"name": f"Refund {next(_unique)}"}).json()
    ticket = api.post(
        "/tickets",
        json={
            "ticket_type_id": ticket_type["id"],
            "contacts": [{"id": contact["id"]}],
            "ticket_attributes": {"_default_title_": "Refund", "_default_description_": "Parcel lost"},
            "created_at": LONG_AGO,
        },
    )
    assert ticket.status_code == 200, ticket.text
    read = api.get(f"/tickets/{ticket.json()['id']}").json()
    assert read["created_at"] == LONG_AGO
    assert read["ticket_attributes"]["_default_title_"] == "Refund"
    assert read["contacts"]["contacts"][0]["id"] == contact["id"]
    unknown_attribute = api.post(
        "/tickets",
        json={
            "ticket_type_id": ticket_type["id"],
            "contacts": [{"id": contact["id"]}],
            "ticket_attributes": {"x": 1},
        },
    )
    assert unknown_attribute.status_code == 400
