"""Contacts: identity rules (409s), custom attribute checks, lifecycle (archive, delete, merge), list,
search."""

from __future__ import annotations

import itertools

import pytest

_unique = itertools.count()


def unique_email(prefix: str = "person") -> str:
    return f"{prefix}.{next(_unique)}@example.com"


@pytest.fixture(scope="module", autouse=True)
def attributes(module_api):
    for name, data_type in (
        ("plan_level", "integer"),
        ("vip", "boolean"),
        ("segment", "string"),
        ("renewal", "date"),
    ):
        response = module_api.post(
            "/data_attributes", json={"name": name, "model": "contact", "data_type": data_type}
        )
        assert response.status_code == 200, response.text


def create(api, **fields):
    response = api.post("/contacts", json={"role": "user", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response) -> dict:
    body = response.json()
    assert body["type"] == "error.list"
    return body["errors"][0]


def test_duplicate_email_in_any_case_is_a_conflict_naming_the_existing_contact(api):
    email = unique_email()
    first = create(api, email=email)
    response = api.post("/contacts", json={"role": "user", "email": email.upper()})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert error["message"] == f"A contact matching those details already exists with id={first['id']}"


def test_duplicate_external_id_of_an_archived_contact_uses_the_archived_message(api):
    archived = create(api, external_id=f"ext-{next(_unique)}")
    assert api.post(f"/contacts/{archived['id']}/archive").json()["archived"] is True
    response = api.post("/contacts", json={"external_id": archived["external_id"]})
    assert response.status_code == 409
    assert error_of(response)["message"] == (
        f"An archived contact matching those details already exists with id={archived['id']}"
    )


def test_leads_may_share_an_email_with_a_user(api):
    email = unique_email("lead")
    create(api, email=email)
    lead = api.post("/contacts", json={"role": "lead", "email": email})
    assert lead.status_code == 200
    assert lead.json()["role"] == "lead"


def test_update_cannot_take_another_users_email(api):
    taken = create(api, email=unique_email())
    other = create(api, email=unique_email())
    response = api.put(f"/contacts/{other['id']}", json={"email": taken["email"].title()})
    assert response.status_code == 409
    assert taken["id"] in error_of(response)["message"]


def test_unknown_custom_attribute_is_rejected(api):
    response = api.post(
        "/contacts", json={"email": unique_email(), "custom_attributes": {"favourite_colour": "blue"}}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parameter_invalid"
    assert error["message"] == "Custom attribute 'favourite_colour' does not exist"
    assert error["field"] == "custom_attributes.favourite_colour"


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("plan_level", "three"),
        ("plan_level", True),
        ("vip", "yes"),
        ("segment", 5),
        ("renewal", "2024-01-01"),
    ],
)
def test_custom_attribute_of_the_wrong_type_is_rejected(api, attribute, value):
    response = api.post("/contacts", json={"email": unique_email(), "custom_attributes": {attribute: value}})
    assert response.status_code == 400
    assert error_of(response)["field"] == f"custom_attributes.{attribute}"
    assert f"'{attribute}'" in error_of(response)["message"]


def test_custom_attributes_of_the_right_type_are_stored_and_merged_on_update(api):
    contact = create(api, email=unique_email(), custom_attributes={"plan_level": 3, "vip": True})
    updated = api.put(
        f"/contacts/{contact['id']}", json={"custom_attributes": {"segment": "smb", "vip": None}}
    ).json()
    assert updated["custom_attributes"] == {"plan_level": 3, "segment": "smb"}
    assert api.get(f"/contacts/{contact['id']}").json()["custom_attributes"] == {
        "plan_level": 3,
        "segment": "smb",
    }


def test_a_body_without_email_external_id_or_role_is_rejected(api):
    response = api.post("/contacts", json={"name": "Nobody"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "parameter_not_found"


def test_a_body_the_description_rejects_is_a_400(api):
    response = api.post("/contacts", json={"email": 42})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "parameter_invalid",
        "message": "email must be of type string",
        "field": "email",
    }


def test_deleted_contact_is_gone_and_frees_its_email(api):
    email = unique_email()
    contact = create(api, email=email)
    deleted = api.delete(f"/contacts/{contact['id']}").json()
    assert deleted == {"type": "contact", "id": contact["id"], "external_id": None, "deleted": True}
    assert api.get(f"/contacts/{contact['id']}").status_code == 404
    assert create(api, email=email)["id"] != contact["id"]


def test_merged_lead_answers_410_with_a_link_to_the_user(api):
    email = unique_email()
    user = create(api, email=email)
    lead = api.post("/contacts", json={"role": "lead", "email": email}).json()
    merged = api.post("/contacts/merge", json={"from": lead["id"], "into": user["id"]})
    assert merged.status_code == 200
    assert merged.json()["merge_history"][0]["source_contact_id"] == lead["id"]
    gone = api.get(f"/contacts/{lead['id']}")
    assert gone.status_code == 410
    assert error_of(gone)["code"] == "contact_merged"
    assert gone.headers["link"] == f'</contacts/{user["id"]}>; rel="canonical"'


def test_merging_contacts_that_are_not_duplicates_needs_the_override(api):
    user = create(api, email=unique_email())
    lead = api.post("/contacts", json={"role": "lead", "email": unique_email()}).json()
    refused = api.post("/contacts/merge", json={"from": lead["id"], "into": user["id"]})
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "invalid_merge"


def test_find_by_external_id(api):
    contact = create(api, external_id=f"lookup-{next(_unique)}", name="Ada")
    found = api.get(f"/contacts/find_by_external_id/{contact['external_id']}")
    assert found.json()["id"] == contact["id"]


def test_list_pages_with_a_cursor_and_refuses_more_than_150_per_page(api):
    for _ in range(3):
        create(api, email=unique_email("lister"))
    first = api.get("/contacts", params={"per_page": 2}).json()
    assert len(first["data"]) == 2
    second = api.get(
        "/contacts", params={"per_page": 2, "starting_after": first["pages"]["next"]["starting_after"]}
    ).json()
    assert {contact["id"] for contact in first["data"]}.isdisjoint(
        contact["id"] for contact in second["data"]
    )
    assert api.get("/contacts", params={"per_page": 151}).status_code == 400


def test_search_by_email_is_case_insensitive_and_pages(api):
    marker = f"searchable{next(_unique)}"
    ids = {create(api, email=f"{marker}.{index}@example.com")["id"] for index in range(3)}
    query = {
        "query": {"field": "email", "operator": "^", "value": marker.upper()},
        "pagination": {"per_page": 2},
    }
    first = api.post("/contacts/search", json=query).json()
    assert first["total_count"] == 3
    query["pagination"]["starting_after"] = first["pages"]["next"]["starting_after"]
    second = api.post("/contacts/search", json=query).json()
    assert {contact["id"] for contact in first["data"] + second["data"]} == ids


def test_search_combines_groups_and_custom_attributes(api):
    marker = f"combo{next(_unique)}"
    gold = create(api, email=f"{marker}.gold@example.com", custom_attributes={"plan_level": 5})
    create(api, email=f"{marker}.basic@example.com", custom_attributes={"plan_level": 1})
    query = {
        "query": {
            "operator": "AND",
            "value": [
                {"operator": "OR", "value": [{"field": "email", "operator": "~", "value": marker}]},
                {
                    "operator": "OR",
                    "value": [{"field": "custom_attributes.plan_level", "operator": ">", "value": 3}],
                },
            ],
        }
    }
    found = api.post("/contacts/search", json=query).json()
    assert [contact["id"] for contact in found["data"]] == [gold["id"]]


def test_search_dates_match_by_calendar_day(api):
    marker = f"dated{next(_unique)}"
    day_start = 1_704_067_200  # 2024-01-01T00:00:00Z
    late_evening = create(api, email=f"{marker}.a@example.com", signed_up_at=day_start + 23 * 3600)
    next_morning = create(api, email=f"{marker}.b@example.com", signed_up_at=day_start + 25 * 3600)

    def search(operator: str, value: int) -> set[str]:
        query = {
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "email", "operator": "^", "value": marker},
                    {"field": "signed_up_at", "operator": operator, "value": value},
                ],
            }
        }
        response = api.post("/contacts/search", json=query)
        assert response.status_code == 200, response.text
        return {contact["id"] for contact in response.json()["data"]}

    assert search("=", day_start + 9 * 3600) == {late_evening["id"]}
    assert search(">", day_start + 1) == {next_morning["id"]}  # ">" starts at the next day
    assert search("<", day_start + 25 * 3600 + 60) == {late_evening["id"]}
    refused = api.post(
        "/contacts/search", json={"query": {"field": "signed_up_at", "operator": ">=", "value": day_start}}
    )
    assert refused.status_code == 400


def test_search_refuses_too_deep_or_too_wide_queries_and_bad_sort_orders(api):
    leaf = {"field": "email", "operator": "=", "value": "x@example.com"}
    too_deep = {
        "operator": "AND",
        "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}],
    }
    assert api.post("/contacts/search", json={"query": too_deep}).status_code == 400
    too_wide = {"operator": "OR", "value": [leaf] * 16}
    assert api.post("/contacts/search", json={"query": too_wide}).status_code == 400
    bad_sort = api.post(
        "/contacts/search", json={"query": leaf, "sort": {"field": "created_at", "order": "desc"}}
    )
    assert bad_sort.status_code == 400
    assert error_of(bad_sort) == {
        "code": "invalid_sort_order",
        "message": "Invalid sort order 'desc'. Must be one of: ascending, descending",
    }
    too_many = api.post("/contacts/search", json={"query": leaf, "pagination": {"per_page": 151}})
    assert too_many.status_code == 400
