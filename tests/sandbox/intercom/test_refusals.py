"""What Intercom refuses, the sandbox refuses too: malformed contact emails, string custom attribute
values over 255 characters (contacts, companies, conversations); and what it documents as not validated
(a company's website) it keeps accepting."""

from __future__ import annotations

import itertools

import pytest

_unique = itertools.count()
MALFORMED_EMAILS = ["not-an-email", "jane.doe@", "jane doe@example.com", "jane@@example.com"]


def error_of(response) -> dict:
    body = response.json()
    assert body["type"] == "error.list"
    return body["errors"][0]


@pytest.fixture(scope="module", autouse=True)
def attributes(module_api) -> None:
    for body in (
        {"name": "nickname", "model": "contact", "data_type": "string"},
        {"name": "motto", "model": "company", "data_type": "string"},
    ):
        response = module_api.post("/data_attributes", json=body)
        assert response.status_code == 200, response.text
    response = module_api.post("/conversations/attributes", json={"name": "Summary", "data_type": "string"})
    assert response.status_code == 200, response.text


@pytest.fixture
def contact(api) -> dict:
    response = api.post("/contacts", json={"email": f"refusals.{next(_unique)}@example.com"})
    assert response.status_code == 200, response.text
    return response.json()


# --- email ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", MALFORMED_EMAILS)
def test_creating_a_contact_with_a_malformed_email_is_refused(api, email):
    response = api.post("/contacts", json={"role": "user", "email": email})
    assert response.status_code == 400, response.text
    assert error_of(response) == {
        "code": "parameter_invalid",
        "message": f"'{email}' is not a valid email address",
        "field": "email",
    }


@pytest.mark.parametrize("email", MALFORMED_EMAILS)
def test_updating_a_contact_to_a_malformed_email_is_refused_and_changes_nothing(api, contact, email):
    response = api.put(f"/contacts/{contact['id']}", json={"email": email})
    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == "email"
    assert api.get(f"/contacts/{contact['id']}").json()["email"] == contact["email"]


@pytest.mark.parametrize("email", ["Jane.Doe+tag@mail.example.co.uk", "o'brien@example.ie", "x@ex-ample.io"])
def test_ordinary_emails_are_accepted(api, email):
    response = api.post("/contacts", json={"role": "lead", "email": email})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == email


def test_an_empty_email_clears_it(api, contact):
    """The description puts no format on `email`, and a contact without one answers `email: ""`."""
    response = api.put(f"/contacts/{contact['id']}", json={"email": ""})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == ""
    # the old address is free again
    again = api.post("/contacts", json={"role": "user", "email": contact["email"]})
    assert again.status_code == 200, again.text


def test_an_empty_email_on_creation_is_a_contact_without_email(api):
    response = api.post("/contacts", json={"role": "lead", "email": ""})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == ""


# --- 255 characters -------------------------------------------------------------------------------


def _too_long(response, name: str) -> None:
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "parameter_invalid"
    assert error["field"] == f"custom_attributes.{name}"
    assert f"'{name}'" in error["message"] and "255" in error["message"]


def test_contact_string_attributes_hold_at_most_255_characters(api, contact):
    fits = api.put(f"/contacts/{contact['id']}", json={"custom_attributes": {"nickname": "é" * 255}})
    assert fits.status_code == 200, fits.text
    assert fits.json()["custom_attributes"]["nickname"] == "é" * 255
    _too_long(
        api.put(f"/contacts/{contact['id']}", json={"custom_attributes": {"nickname": "x" * 256}}), "nickname"
    )
    _too_long(
        api.post(
            "/contacts",
            json={"email": f"long.{next(_unique)}@example.com", "custom_attributes": {"nickname": "x" * 300}},
        ),
        "nickname",
    )


def test_company_string_attributes_hold_at_most_255_characters(api):
    company_id = f"long-{next(_unique)}"
    fits = api.post("/companies", json={"company_id": company_id, "custom_attributes": {"motto": "y" * 255}})
    assert fits.status_code == 200, fits.text
    _too_long(
        api.post("/companies", json={"company_id": company_id, "custom_attributes": {"motto": "y" * 256}}),
        "motto",
    )
    _too_long(
        api.put(f"/companies/{fits.json()['id']}", json={"custom_attributes": {"motto": "y" * 256}}), "motto"
    )


def test_conversation_string_attributes_hold_at_most_255_characters(api, contact):
    conversation_id = api.post(
        "/conversations", json={"from": {"type": "user", "id": contact["id"]}, "body": "hello"}
    ).json()["conversation_id"]
    fits = api.put(f"/conversations/{conversation_id}", json={"custom_attributes": {"Summary": "z" * 255}})
    assert fits.status_code == 200, fits.text
    assert fits.json()["custom_attributes"]["Summary"] == "z" * 255
    too_long = api.put(
        f"/conversations/{conversation_id}", json={"custom_attributes": {"Summary": "z" * 256}}
    )
    _too_long(too_long, "Summary")
    kept = api.get(f"/conversations/{conversation_id}").json()
    assert kept["custom_attributes"]["Summary"] == "z" * 255


# --- website --------------------------------------------------------------------------------------


@pytest.mark.parametrize("website", ["not a url", "www.example", "ftp://example.com", ""])
def test_a_company_website_is_not_validated_as_intercom_documents(api, website):
    """Intercom: "The URL for this company's website. Please note that the value specified here is not
    validated. Accepts any string." The pipeline validates websites itself."""
    response = api.post("/companies", json={"company_id": f"web-{next(_unique)}", "website": website})
    assert response.status_code == 200, response.text
    assert response.json()["website"] == website
