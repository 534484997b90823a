"""Requests Intercom's description rejects are rejected, with Intercom's error envelope and the field
at fault.

(The `api` client also checks, on every exchange of every test, that a request the description
rejects got a 4xx and that each response matches the description.)
"""

from __future__ import annotations

import itertools

import pytest

_unique = itertools.count()


@pytest.fixture(scope="module")
def conversation_id(module_api) -> str:
    contact = module_api.post("/contacts", json={"email": "contract@example.com"}).json()
    message = module_api.post(
        "/conversations", json={"from": {"type": "user", "id": contact["id"]}, "body": "hi"}
    )
    return message.json()["conversation_id"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/contacts", {"email": "a@example.com", "signed_up_at": "yesterday"}, "signed_up_at"),
        ("POST", "/companies", {"company_id": "c1", "size": "big"}, "size"),
        (
            "POST",
            "/companies",
            {"company_id": "c1", "custom_attributes": {"seats": 3}},
            "custom_attributes.seats",
        ),
        ("POST", "/data_attributes", {"model": "contact", "data_type": "string"}, "name"),
        ("POST", "/conversations", {"from": {"type": "visitor", "id": "0" * 24}, "body": "x"}, "from.type"),
        ("POST", "/conversations", {"from": {"type": "user", "id": "0" * 24}}, "body"),
        (
            "POST",
            "/messages",
            {
                "message_type": "in_app",
                "body": "x",
                "from": {"type": "admin", "id": "1"},
                "to": {"type": "user", "id": "x"},
            },
            "from.id",
        ),
        (
            "POST",
            "/conversations/{conversation}/parts",
            {"message_type": "close", "type": "admin"},
            "admin_id",
        ),
        ("POST", "/conversations/{conversation}/tags", {"id": "1"}, "admin_id"),
        (
            "PUT",
            "/conversations/{conversation}",
            {"custom_attributes": {"flag": True}},
            "custom_attributes.flag",
        ),
        ("POST", "/tickets", {"ticket_type_id": "1"}, "contacts"),
        (
            "POST",
            "/contacts/search",
            {"query": {"field": "email", "operator": "LIKE", "value": "x"}},
            "query.operator",
        ),
    ],
)
def test_bodies_the_description_rejects_are_400_with_the_field(
    api, conversation_id, method, path, body, field
):
    response = api.request(method, path.format(conversation=conversation_id), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] in ("parameter_invalid", "parameter_not_found")
    assert error["field"] == field


def test_query_parameters_are_checked_against_their_declared_types(api):
    assert api.get("/conversations", params={"per_page": "many"}).status_code == 400
    assert api.get("/conversations", params={"per_page": 151}).status_code == 400
    assert api.get("/companies", params={"page": 0}).status_code == 400


def test_a_body_that_is_not_json_is_a_bad_request(api):
    response = api.post("/contacts", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "bad_request"


def test_unknown_paths_are_404_for_an_authenticated_caller(api):
    response = api.get("/no/such/endpoint")
    assert response.status_code == 404
    assert response.json()["errors"][0] == {"code": "not_found", "message": "Resource Not Found"}


# --- drift the property-based run (test_schemathesis.py) found ------------------------------------


def test_a_null_body_is_refused_where_the_description_wants_an_object(api):
    attribute = api.post(
        "/data_attributes", json={"name": "null_body_check", "model": "contact", "data_type": "string"}
    ).json()
    response = api.put(
        f"/data_attributes/{attribute['id']}", content=b"null", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "parameter_invalid"


def test_a_null_body_where_the_description_allows_it_reads_as_no_fields(api):
    company = api.post("/companies", json={"company_id": "nullable-body", "name": "Kept"}).json()
    response = api.put(
        f"/companies/{company['id']}", content=b"null", headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Kept"


@pytest.mark.parametrize("options", ["1-10", {"value": "1-10"}, [1, 2]])
def test_data_attribute_options_that_are_no_list_of_values_are_refused(api, options):
    attribute = api.post(
        "/data_attributes",
        json={
            "name": f"sizes_{next(_unique)}",
            "model": "company",
            "data_type": "options",
            "options": [{"value": "1-10"}, {"value": "11-50"}],
        },
    ).json()
    response = api.put(f"/data_attributes/{attribute['id']}", json={"options": options})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "parameter_invalid"


@pytest.mark.parametrize("avatar", ["not a url", "ftp://example.com/a.png", "http://example.com/a.png"])
def test_a_contact_avatar_must_be_an_https_url(api, avatar):
    response = api.post("/contacts", json={"email": "avatar@example.com", "avatar": avatar})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0] == {
        "code": "parameter_invalid",
        "message": "avatar must be an https URL of an image",
        "field": "avatar",
    }


def test_a_contact_avatar_is_answered_as_its_image_url(api):
    url = "https://example.org/128Wash.jpg"
    contact = api.post("/contacts", json={"email": "with.avatar@example.com", "avatar": url}).json()
    assert contact["avatar"] == {"type": "avatar", "image_url": url}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bulk", "users": [True, 1.5, "x"]},
        {"name": "bulk", "users": "everyone"},
        {"name": "bulk", "companies": [{"id": 7}]},
        {"name": "bulk", "companies": [{"company_id": "c1", "untag": "yes"}]},
    ],
)
def test_tag_requests_whose_users_or_companies_are_no_references_are_refused(api, body):
    response = api.post("/tags", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"] == "invalid tag parameters"


def test_a_body_sent_as_another_media_type_is_refused(api):
    response = api.post(
        "/contacts", content=b'{"email": "plain@example.com"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "bad_request"


def test_a_missing_conversation_attribute_type_is_a_400_and_an_unknown_one_a_422(api):
    missing = api.post("/conversations/attributes", json={"name": "No type"})
    assert missing.status_code == 400, missing.text
    assert missing.json()["errors"][0]["code"] == "parameter_not_found"
    unknown = api.post("/conversations/attributes", json={"name": "Odd type", "data_type": "colour"})
    assert unknown.status_code == 422, unknown.text


def test_unsubscribed_from_emails_null_reads_as_false(api):
    contact = api.post(
        "/contacts", json={"email": "unsub.null@example.com", "unsubscribed_from_emails": None}
    ).json()
    assert contact["unsubscribed_from_emails"] is False
