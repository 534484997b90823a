"""Requests Intercom's description rejects are rejected, with Intercom's error envelope and the field at fault.

(The `api` client also checks, on every exchange of every test, that a request the description
rejects got a 4xx and that each response matches the description.)
"""

from __future__ import annotations

import pytest


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
