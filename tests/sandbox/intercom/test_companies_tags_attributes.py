"""Data attributes, companies (create-or-update, scroll, contacts) and tags (find-or-create, bulk tagging)."""

from __future__ import annotations

import itertools

import pytest

_unique = itertools.count()


def error_of(response) -> dict:
    return response.json()["errors"][0]


def new_contact(api) -> dict:
    response = api.post("/contacts", json={"email": f"member.{next(_unique)}@example.com"})
    assert response.status_code == 200, response.text
    return response.json()


def new_company(api, **fields) -> dict:
    response = api.post("/companies", json={"company_id": f"acme-{next(_unique)}", "name": "Acme", **fields})
    assert response.status_code == 200, response.text
    return response.json()


# --- data attributes ------------------------------------------------------------------------------


def test_data_attribute_names_are_unique_across_models_with_intercoms_message(api):
    name = f"Ring {next(_unique)}"
    created = api.post("/data_attributes", json={"name": name, "model": "company", "data_type": "string"})
    assert created.status_code == 200
    assert created.json()["full_name"] == f"custom_attributes.{name}"
    again = api.post("/data_attributes", json={"name": name, "model": "contact", "data_type": "integer"})
    assert again.status_code == 400
    assert error_of(again)["message"] == (
        f"You already have '{name}' in your company data. "
        "To save this as new people data, use a different name."
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "!nv@l!d n@me", "model": "company", "data_type": "string"},
            "Your name for this attribute must only contain alphanumeric characters, "
            "currency symbols, and hyphens",
        ),
        ({"name": "Mithril", "model": "company", "data_type": "mithril"}, "Data Type isn't an option"),
        (
            {"name": "Mithril", "model": "conversation", "data_type": "string"},
            "The Data Attribute model field must be either contact or company",
        ),
    ],
)
def test_invalid_data_attributes_get_intercoms_messages(api, body, message):
    response = api.post("/data_attributes", json=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "parameter_invalid"
    assert error_of(response)["message"] == message


def test_attribute_names_allow_spaces_underscores_hyphens_and_currency_symbols(api):
    name = f"Price in € and $ {next(_unique)}_net-total"
    assert (
        api.post(
            "/data_attributes", json={"name": name, "model": "contact", "data_type": "float"}
        ).status_code
        == 200
    )


def test_listing_attributes_by_model_and_refusing_the_conversation_model(api):
    name = f"tier_{next(_unique)}"
    api.post(
        "/data_attributes",
        json={
            "name": name,
            "model": "contact",
            "data_type": "options",
            "options": [{"value": "a"}, {"value": "b"}],
        },
    )
    listed = api.get("/data_attributes", params={"model": "contact"}).json()["data"]
    ours = next(attribute for attribute in listed if attribute["name"] == name)
    assert ours["custom"] is True and ours["options"] == ["a", "b"]
    assert all(attribute["model"] == "contact" for attribute in listed)
    assert api.get("/data_attributes", params={"model": "conversation"}).status_code == 422


def test_options_attribute_accepts_only_its_options_and_its_type_cannot_change(api):
    name = f"size_{next(_unique)}"
    attribute = api.post(
        "/data_attributes",
        json={
            "name": name,
            "model": "contact",
            "data_type": "options",
            "options": [{"value": "S"}, {"value": "M"}],
        },
    ).json()
    ok = api.post(
        "/contacts", json={"email": f"o{next(_unique)}@example.com", "custom_attributes": {name: "M"}}
    )
    assert ok.status_code == 200
    bad = api.post(
        "/contacts", json={"email": f"o{next(_unique)}@example.com", "custom_attributes": {name: "XL"}}
    )
    assert bad.status_code == 400
    retyped = api.put(f"/data_attributes/{attribute['id']}", json={"data_type": "integer"})
    assert retyped.status_code == 400
    archived = api.put(f"/data_attributes/{attribute['id']}", json={"archived": True})
    assert archived.json()["archived"] is True
    after = api.post(
        "/contacts", json={"email": f"o{next(_unique)}@example.com", "custom_attributes": {name: "M"}}
    )
    assert after.status_code == 400  # archived attributes can't be written


def test_conversation_attributes_with_an_invalid_type_are_a_422(api):
    response = api.post("/conversations/attributes", json={"name": "Bad", "data_type": "invalid_type"})
    assert response.status_code == 422
    assert error_of(response)["message"].startswith("data_type 'invalid_type' is not valid.")
    created = api.post(
        "/conversations/attributes", json={"name": f"Channel {next(_unique)}", "data_type": "string"}
    )
    assert created.status_code == 200
    assert created.json()["type"] == "conversation_attribute"


# --- companies ------------------------------------------------------------------------------------


def test_post_companies_creates_then_updates_by_company_id(api):
    company = new_company(api, plan="Gold", size=10)
    updated = api.post(
        "/companies", json={"company_id": company["company_id"], "name": "Acme Ltd", "monthly_spend": 99}
    )
    assert updated.json()["id"] == company["id"]
    assert updated.json()["name"] == "Acme Ltd"
    assert updated.json()["plan"]["name"] == "Gold"
    assert updated.json()["monthly_spend"] == 99


def test_an_unknown_company_parameter_is_a_bad_request(api):
    response = api.post("/companies", json={"company_id": "x", "test": "invalid"})
    assert response.status_code == 400
    assert error_of(response) == {"code": "bad_request", "message": "bad 'test' parameter", "field": "test"}


def test_company_custom_attributes_are_text_that_must_read_as_the_attribute_type(api):
    api.post("/data_attributes", json={"name": "seats", "model": "company", "data_type": "integer"})
    assert (
        api.post(
            "/companies", json={"company_id": "c-seats", "custom_attributes": {"seats": "many"}}
        ).status_code
        == 400
    )
    assert (
        api.post(
            "/companies", json={"company_id": "c-seats", "custom_attributes": {"unknown": 1}}
        ).status_code
        == 400
    )
    company = api.post(
        "/companies", json={"company_id": "c-seats", "custom_attributes": {"seats": "12"}}
    ).json()
    assert company["custom_attributes"] == {"seats": "12"}


def test_attaching_contacts_makes_a_company_visible_in_listings(api):
    company = new_company(api)
    listed = {item["id"] for item in api.get("/companies", params={"per_page": 150}).json()["data"]}
    assert company["id"] not in listed  # no contact yet: Intercom hides it
    contact = new_contact(api)
    attached = api.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    assert attached.json()["user_count"] == 1
    listed = {item["id"] for item in api.get("/companies", params={"per_page": 150}).json()["data"]}
    assert company["id"] in listed
    members = api.get(f"/companies/{company['id']}/contacts").json()
    assert [member["id"] for member in members["data"]] == [contact["id"]]
    assert [item["id"] for item in api.get(f"/contacts/{contact['id']}/companies").json()["companies"]] == [
        company["id"]
    ]
    by_company_id = api.get("/companies", params={"company_id": company["company_id"]}).json()
    assert by_company_id["data"][0]["id"] == company["id"]
    detached = api.delete(f"/contacts/{contact['id']}/companies/{company['id']}")
    assert detached.json()["user_count"] == 0


def test_attaching_an_unknown_company_is_company_not_found(api):
    contact = new_contact(api)
    response = api.post(f"/contacts/{contact['id']}/companies", json={"id": "000000000000000000000000"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "company_not_found"
    missing = api.post(f"/contacts/{contact['id']}/companies", json={})
    assert missing.status_code == 400
    assert error_of(missing) == {
        "code": "parameter_not_found",
        "message": "company not specified",
        "field": "id",
    }


def test_deleting_a_company_detaches_its_contacts(api):
    company = new_company(api)
    contact = new_contact(api)
    api.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    assert api.delete(f"/companies/{company['id']}").json() == {
        "id": company["id"],
        "object": "company",
        "deleted": True,
    }
    assert api.get(f"/companies/{company['id']}").status_code == 404
    assert api.get(f"/contacts/{contact['id']}").json()["companies"]["total_count"] == 0


def test_only_one_company_scroll_may_be_open(api):
    contact = new_contact(api)
    for _ in range(2):
        api.post(f"/contacts/{contact['id']}/companies", json={"id": new_company(api)["id"]})
    first = api.get("/companies/scroll")
    assert first.status_code == 200
    assert api.get("/companies/scroll").status_code == 400  # a second scroll while one is open
    param = first.json()["scroll_param"]
    seen = [company["id"] for company in first.json()["data"]]
    while True:
        page = api.get("/companies/scroll", params={"scroll_param": param}).json()
        if not page["data"]:
            break
        seen += [company["id"] for company in page["data"]]
    assert len(seen) == len(set(seen)) >= 2
    assert api.get("/companies/scroll").status_code == 200  # the finished scroll freed the slot
    assert api.get("/companies/scroll", params={"scroll_param": "not-a-scroll"}).status_code == 400


# --- tags -----------------------------------------------------------------------------------------


def test_tags_are_found_or_created_case_insensitively_and_renamed_by_id(api):
    name = f"VIP {next(_unique)}"
    tag = api.post("/tags", json={"name": name}).json()
    assert api.post("/tags", json={"name": name.lower()}).json()["id"] == tag["id"]
    renamed = api.post("/tags", json={"id": tag["id"], "name": f"{name} renamed"}).json()
    assert renamed == {"type": "tag", "id": tag["id"], "name": f"{name} renamed"}
    assert api.get(f"/tags/{tag['id']}").json()["name"] == f"{name} renamed"


def test_bulk_tagging_and_untagging_companies_and_contacts(api):
    company = new_company(api)
    contact = new_contact(api)
    name = f"Churn risk {next(_unique)}"
    tagged = api.post(
        "/tags", json={"name": name, "companies": [{"company_id": company["company_id"]}]}
    ).json()
    assert tagged["companies"] == [{"id": company["id"], "tagged": True}]
    assert api.get(f"/companies/{company['id']}").json()["tags"]["tags"][0]["name"] == name
    users = api.post("/tags", json={"name": name, "users": [{"id": contact["id"]}]}).json()
    assert users["users"] == [{"id": contact["id"], "tagged": True}]
    assert [tag["id"] for tag in api.get(f"/contacts/{contact['id']}/tags").json()["data"]] == [tagged["id"]]
    untagged = api.post(
        "/tags", json={"name": name, "companies": [{"id": company["id"], "untag": True}]}
    ).json()
    assert untagged["companies"] == [{"id": company["id"], "tagged": False}]
    assert api.get(f"/companies/{company['id']}").json()["tags"]["tags"] == []


def test_invalid_tag_bodies_and_unknown_companies(api):
    invalid = api.post("/tags", json={"test": "invalid"})
    assert invalid.status_code == 400
    assert error_of(invalid) == {"code": "parameter_invalid", "message": "invalid tag parameters"}
    unknown = api.post("/tags", json={"name": "x", "companies": [{"company_id": "no-such-company"}]})
    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "company_not_found"


def test_contact_tags_and_deleting_a_tag_untags_everything(api):
    contact = new_contact(api)
    tag = api.post("/tags", json={"name": f"Temp {next(_unique)}"}).json()
    assert api.post(f"/contacts/{contact['id']}/tags", json={"id": tag["id"]}).json()["id"] == tag["id"]
    assert api.post(f"/contacts/{contact['id']}/tags", json={"id": "999"}).status_code == 404
    assert api.delete(f"/tags/{tag['id']}").status_code == 200
    assert api.get(f"/contacts/{contact['id']}").json()["tags"]["total_count"] == 0
    assert api.get(f"/tags/{tag['id']}").status_code == 404
