"""Every call a rollback makes, as Intercom answers it: deletes (and deleting twice), detaching, untagging,
archiving attributes, and the refusals Intercom documents for things other objects still depend on."""

from __future__ import annotations

import itertools
import time

import pytest

_unique = itertools.count()
LONG_AGO = 1_600_000_000


def error_of(response) -> dict:
    return response.json()["errors"][0]


def new_contact(api, **fields) -> dict:
    response = api.post("/contacts", json={"email": f"undo.{next(_unique)}@example.com", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def new_company(api, **fields) -> dict:
    response = api.post("/companies", json={"company_id": f"undo-{next(_unique)}", "name": "Acme", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def new_conversation(api, contact: dict) -> str:
    response = api.post(
        "/conversations",
        json={"from": {"type": "user", "id": contact["id"]}, "body": "Hello", "created_at": LONG_AGO},
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation_id"]


@pytest.fixture
def archive_delay(sandbox):
    """Intercom archives a deleted company in the background: here, after the search delay."""
    sandbox.configure(search_delay_seconds=1.0)
    yield 1.0
    sandbox.configure(search_delay_seconds=0)


def test_a_deleted_company_is_detached_at_once_and_archived_a_little_later(api, archive_delay):
    company = new_company(api)
    contact = new_contact(api)
    api.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})

    answer = api.delete(f"/companies/{company['id']}")

    assert answer.json() == {"id": company["id"], "object": "company", "deleted": True}
    assert api.get(f"/contacts/{contact['id']}").json()["companies"]["total_count"] == 0
    assert api.get(f"/companies/{company['id']}").status_code == 200  # not archived yet
    assert api.delete(f"/companies/{company['id']}").json()["deleted"] is True  # asked again: the same
    time.sleep(archive_delay + 0.2)
    assert error_of(api.get(f"/companies/{company['id']}")) == {
        "code": "company_not_found",
        "message": "Company Not Found",
    }
    assert api.get("/companies", params={"company_id": company["company_id"]}).status_code == 404
    assert api.delete(f"/companies/{company['id']}").status_code == 404
    again = new_company(api, company_id=company["company_id"])  # its company_id is free again
    assert again["id"] != company["id"]


def test_deleting_a_contact_twice_is_a_404_and_its_email_is_free(api):
    contact = new_contact(api)

    assert api.delete(f"/contacts/{contact['id']}").json()["deleted"] is True

    again = api.delete(f"/contacts/{contact['id']}")
    assert again.status_code == 404 and error_of(again)["code"] == "not_found"
    assert new_contact(api, email=contact["email"])["id"] != contact["id"]


def test_a_contact_is_put_back_field_by_field_and_nulls_clear(api):
    contact = new_contact(api, name="Ada", phone="+15550100", external_id=f"crm-{next(_unique)}")
    api.put(f"/contacts/{contact['id']}", json={"name": "Ada L.", "phone": "+15550199", "last_seen_at": 5})

    restored = api.put(
        f"/contacts/{contact['id']}",
        json={"name": "Ada", "phone": None, "last_seen_at": None, "external_id": contact["external_id"]},
    ).json()

    assert (restored["name"], restored["phone"], restored["last_seen_at"]) == ("Ada", None, None)
    assert restored["external_id"] == contact["external_id"]


def test_detaching_a_contact_from_a_company_twice_is_company_not_found(api):
    company, contact = new_company(api), new_contact(api)
    api.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})

    assert api.delete(f"/contacts/{contact['id']}/companies/{company['id']}").json()["id"] == company["id"]

    again = api.delete(f"/contacts/{contact['id']}/companies/{company['id']}")
    assert again.status_code == 404 and error_of(again)["code"] == "company_not_found"


def test_a_tag_is_taken_off_a_conversation_once_then_tag_not_found(api):
    contact = new_contact(api)
    conversation_id = new_conversation(api, contact)
    admin_id = api.get("/me").json()["id"]
    tag = api.post("/tags", json={"name": f"Undo {next(_unique)}"}).json()
    api.post(f"/conversations/{conversation_id}/tags", json={"id": tag["id"], "admin_id": admin_id})

    removed = api.request(
        "DELETE", f"/conversations/{conversation_id}/tags/{tag['id']}", json={"admin_id": admin_id}
    )

    assert removed.status_code == 200 and removed.json()["id"] == tag["id"]
    assert api.get(f"/conversations/{conversation_id}").json()["tags"]["tags"] == []
    again = api.request(
        "DELETE", f"/conversations/{conversation_id}/tags/{tag['id']}", json={"admin_id": admin_id}
    )
    assert again.status_code == 404 and error_of(again) == {
        "code": "tag_not_found",
        "message": "Tag not found",
    }
    gone = api.request("DELETE", f"/conversations/999999/tags/{tag['id']}", json={"admin_id": admin_id})
    assert gone.status_code == 404 and error_of(gone)["code"] == "not_found"


def test_a_deleted_conversation_is_a_404_when_deleted_again(api):
    conversation_id = new_conversation(api, new_contact(api))

    assert api.delete(f"/conversations/{conversation_id}").json()["deleted"] is True
    assert api.delete(f"/conversations/{conversation_id}").status_code == 404


def test_a_tag_a_segment_uses_cannot_be_deleted(api, sandbox):
    tag = api.post("/tags", json={"name": f"VIP {next(_unique)}"}).json()
    sandbox.seed({"segments": [{"name": "Big spenders", "tag_ids": [tag["id"]]}]})

    refused = api.delete(f"/tags/{tag['id']}")

    assert refused.status_code == 400
    assert error_of(refused) == {
        "code": "tag_has_dependent_objects",
        "message": "Unable to delete Tag with dependent objects. Segments: Big spenders.",
    }
    assert api.get(f"/tags/{tag['id']}").status_code == 200
    free = api.post("/tags", json={"name": f"Free {next(_unique)}"}).json()
    assert api.delete(f"/tags/{free['id']}").status_code == 200
    assert error_of(api.delete(f"/tags/{free['id']}"))["code"] == "not_found"


def test_an_archived_attribute_takes_no_values_and_can_be_unarchived(api, sandbox):
    name = f"undo_tier_{next(_unique)}"
    attribute = api.post(
        "/data_attributes", json={"name": name, "model": "contact", "data_type": "string"}
    ).json()

    archived = api.put(f"/data_attributes/{attribute['id']}", json={"archived": True}).json()

    assert archived["archived"] is True
    refused = api.post(
        "/contacts", json={"email": f"a{next(_unique)}@example.com", "custom_attributes": {name: "x"}}
    )
    assert refused.status_code == 400
    assert (
        api.put(f"/data_attributes/{attribute['id']}", json={"archived": False}).json()["archived"] is False
    )
    sandbox.seed({"segments": [{"name": "Tiered", "data_attribute_ids": [str(attribute["id"])]}]})
    depended_on = api.put(f"/data_attributes/{attribute['id']}", json={"archived": True})
    assert depended_on.status_code == 422
    assert error_of(depended_on) == {
        "code": "data_invalid",
        "message": "The Data Attribute you are trying to archive has a dependant object",
    }
    unknown = api.put("/data_attributes/999999", json={"archived": True})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "field_not_found"


def test_a_conversation_attribute_renamed_then_archived_frees_its_name(api):
    name = f"undo_topic_{next(_unique)}"
    attribute = api.post("/conversations/attributes", json={"name": name, "data_type": "string"}).json()

    renamed = api.put(f"/conversations/attributes/{attribute['id']}", json={"name": f"{name}_rolled_back"})
    archived = api.delete(f"/conversations/attributes/{attribute['id']}")

    assert renamed.json()["name"] == f"{name}_rolled_back"
    assert archived.json()["archived"] is True
    fresh = api.post("/conversations/attributes", json={"name": name, "data_type": "string"})
    assert fresh.status_code == 200 and fresh.json()["id"] != attribute["id"]
