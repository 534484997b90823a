"""What a workspace synced from a CRM holds before a migration: records the migration finds there (origin =
existing), updates, and a rollback must put back as they were rather than delete."""

from __future__ import annotations

import httpx

from include.sandbox.intercom.server.launcher import IntercomSandbox

ATTRIBUTE_VALUES = {
    "string": "was here",
    "integer": "7",
    "float": "1.5",
    "boolean": "true",
    "date": "1500000000",
}


def seed_existing(
    intercom: IntercomSandbox,
    contacts: dict[str, str | None],
    company_attributes: dict[str, str],
    *,
    strangers: bool = True,
) -> dict:
    """One of the tenant's companies (with a value for each company attribute the migration writes: created
    here, so that the migration finds them), two of its contacts with other names and ids (the first in a
    company of its own, or in none without strangers; the second in a company the migration creates); with
    `strangers`, a contact and a company the tenant's data does not have. Written through Intercom's API.

    `contacts`: contact key (as the oracle spells it) → its company id, or None."""
    api = httpx.Client(base_url=intercom.url, headers=intercom.headers, timeout=30)

    def post(path: str, body: dict) -> dict:
        response = api.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    for name, data_type in company_attributes.items():
        post("/data_attributes", {"name": name, "model": "company", "data_type": data_type})
    companies = sorted({company for company in contacts.values() if company})[:1]
    for index, company_id in enumerate(companies):
        post(
            "/companies",
            {
                "company_id": company_id,
                "name": f"CRM name {index}",
                "website": f"https://crm-{index}.example",
                "industry": "Crm industry",
                "size": 7 + index,
                "plan": "Legacy",
                "remote_created_at": 1_500_000_000 + index,
                "custom_attributes": {
                    name: ATTRIBUTE_VALUES[data_type] for name, data_type in company_attributes.items()
                },
            },
        )
    emails = [
        next(key for key, company in sorted(contacts.items()) if key.startswith("email:") and test(company))
        for test in (
            lambda company: company in companies,
            lambda company: company and company not in companies,
        )
    ]
    people = [
        post(
            "/contacts",
            {
                "email": key.removeprefix("email:"),
                "external_id": f"crm-contact-{index}",
                "name": f"CRM person {index}",
                "phone": f"+1555010{index}",
                "signed_up_at": 1_400_000_000,
                "last_seen_at": 1_450_000_000,
            },
        )
        for index, key in enumerate(emails)
    ]
    if strangers:
        elsewhere = post("/companies", {"company_id": "crm-only-company", "name": "Not in ASAPP"})
        post(f"/contacts/{people[0]['id']}/companies", {"id": elsewhere["id"]})
        post("/contacts", {"email": "only-in-intercom@example.com", "name": "Not in ASAPP"})
    return {"companies": companies, "emails": emails}
