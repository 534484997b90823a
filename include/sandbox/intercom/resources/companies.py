"""Companies: create-or-update by company_id, look-ups, list, the single scroll, and contact links.

Reproduced: an unknown body parameter is `400 bad_request "bad 'x' parameter"`; company_id never
changes; listings show only companies with at least one contact ("Companies will be only visible in
Intercom when there is at least one associated user"); one scroll per workspace, expiring after
60 s idle; a contact can belong to at most 1,000 companies. `DELETE` answers at once and detaches the
contacts, but archives the company asynchronously: until then (the search delay, standing for
Intercom's background job) it is still found by id and by company_id, and an upsert updates it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from include.sandbox.intercom.resources import search
from include.sandbox.intercom.resources.attributes import check_custom_attributes
from include.sandbox.intercom.resources.contacts import live_contact, render_contact
from include.sandbox.intercom.server.errors import IntercomError, company_not_found, parameter_invalid
from include.sandbox.intercom.server.routing import Call
from include.sandbox.intercom.server.workspace import Workspace, now

CREATE_FIELDS = (
    "name",
    "company_id",
    "plan",
    "size",
    "website",
    "industry",
    "custom_attributes",
    "remote_created_at",
    "update_last_request_at",
    "monthly_spend",
)
UPDATE_FIELDS = ("name", "plan", "size", "website", "industry", "custom_attributes", "monthly_spend")
MAX_MONTHLY_SPEND = 2**31 - 1
MAX_COMPANIES_PER_CONTACT = 1000
SCROLL_IDLE_SECONDS = 60
SCROLL_PAGE_SIZE = 50
DEFAULT_LIST_PAGE_SIZE = 15


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_company(workspace: Workspace, company: dict) -> dict:
    """The description types company custom attribute values as strings, so they are sent as text."""
    rendered: dict[str, Any] = {
        "type": "company",
        "id": company["id"],
        "company_id": company["company_id"],
        "app_id": workspace.meta["workspace_id"],
        "created_at": company["created_at"],
        "updated_at": company["updated_at"],
        "monthly_spend": company.get("monthly_spend") or 0,
        "session_count": 0,
        "user_count": len(workspace.index("contacts", "company").ids(company["id"])),
        "plan": {"type": "plan", "id": company["plan_id"], "name": company["plan"]}
        if company.get("plan")
        else {},
        "custom_attributes": {
            name: _as_text(value)
            for name, value in company.get("custom_attributes", {}).items()
            if value is not None
        },
        "tags": {
            "type": "tag.list",
            "tags": [
                {"type": "tag", "id": tag_id, "name": workspace["tags"][tag_id]["name"]}
                for tag_id in company.get("tag_ids", [])
                if tag_id in workspace["tags"]
            ],
        },
        "segments": {"type": "segment.list", "segments": []},
    }
    for name in ("name", "website", "industry", "size", "remote_created_at", "last_request_at"):
        if company.get(name) is not None:
            rendered[name] = company[name]
    return rendered


def _company_list(workspace: Workspace, companies: list[dict], page: int, per_page: int) -> dict:
    total_pages = -(-len(companies) // per_page) if companies else 0
    chunk = companies[(page - 1) * per_page : page * per_page]
    return {
        "type": "list",
        "data": [render_company(workspace, company) for company in chunk],
        "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages},
        "total_count": len(companies),
    }


def archived(company: dict) -> bool:
    """Deleted, and Intercom's asynchronous archive has happened since."""
    return company.get("archives_at") is not None and company["archives_at"] <= time.time()


def live_company(workspace: Workspace, company_id: str) -> dict:
    company = workspace["companies"].get(company_id)
    if company is None or archived(company):
        raise company_not_found()
    return company


def company_by_company_id(workspace: Workspace, company_id: str) -> dict | None:
    candidates = [
        workspace["companies"][found] for found in workspace.index("companies", "company_id").ids(company_id)
    ]
    live = sorted(company["id"] for company in candidates if not archived(company))
    return workspace["companies"][live[0]] if live else None


def _visible_companies(workspace: Workspace) -> list[dict]:
    members = workspace.index("contacts", "company")
    return [
        company
        for company in workspace["companies"].values()
        if not company.get("deleted_at") and members.ids(company["id"])
    ]


def _reject_unknown_parameters(body: dict, allowed: tuple[str, ...]) -> None:
    for name in body:
        if name not in allowed:
            raise IntercomError(400, "bad_request", f"bad '{name}' parameter", name)


def _apply_fields(workspace: Workspace, company: dict, body: dict) -> None:
    if body.get("monthly_spend") is not None and not 0 <= body["monthly_spend"] <= MAX_MONTHLY_SPEND:
        raise parameter_invalid(f"monthly_spend must be between 0 and {MAX_MONTHLY_SPEND}", "monthly_spend")
    custom_attributes = check_custom_attributes(workspace, "company", body.get("custom_attributes"))
    for name in ("name", "size", "website", "industry", "monthly_spend", "remote_created_at"):
        if name in body:
            company[name] = body[name]
    if "plan" in body:
        company["plan"] = body["plan"]
        company["plan_id"] = _plan_id(workspace, body["plan"]) if body["plan"] else None
    if body.get("update_last_request_at"):
        company["last_request_at"] = now()
    merged = {**company.get("custom_attributes", {}), **custom_attributes}
    company["custom_attributes"] = {name: value for name, value in merged.items() if value is not None}
    company["updated_at"] = now()


def _plan_id(workspace: Workspace, name: str) -> str:
    """Plans are workspace objects named by the companies that use them: one id per plan name."""
    plans = workspace.meta.setdefault("plans", {})
    if name not in plans:
        plans[name] = workspace.next_id("plans")
        workspace.meta_dirty = True
    return plans[name]


def create_or_update_company(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    _reject_unknown_parameters(body, CREATE_FIELDS)
    if not body.get("company_id"):
        raise IntercomError(400, "parameter_not_found", "company_id not specified", "company_id")
    company = company_by_company_id(workspace, body["company_id"])
    if company is None:
        created = now()
        company = {
            "id": workspace.object_id(),
            "company_id": body["company_id"],
            "created_at": created,
            "custom_attributes": {},
            "tag_ids": [],
        }
    _apply_fields(workspace, company, body)
    workspace.put("companies", company)
    return render_company(workspace, company)


def update_company(call: Call) -> dict:
    workspace, body = call.workspace, call.body
    company = live_company(workspace, call.params["company_id"])
    _reject_unknown_parameters(body, UPDATE_FIELDS)
    _apply_fields(workspace, company, body)
    workspace.changed("companies", company["id"])
    return render_company(workspace, company)


def show_company(call: Call) -> dict:
    return render_company(call.workspace, live_company(call.workspace, call.params["company_id"]))


def delete_company(call: Call) -> dict:
    """Detaches the contacts at once and archives the company a little later (asynchronously, as Intercom
    does); its company_id is then free again. Asked again before the archive, it answers the same."""
    workspace = call.workspace
    company = live_company(workspace, call.params["company_id"])
    if company.get("deleted_at") is None:
        for contact_id in list(workspace.index("contacts", "company").ids(company["id"])):
            contact = workspace["contacts"][contact_id]
            contact["company_ids"] = [linked for linked in contact["company_ids"] if linked != company["id"]]
            workspace.changed("contacts", contact_id)
        company["deleted_at"] = now()
        company["archives_at"] = time.time() + call.sandbox.search_index.delay_seconds
        workspace.changed("companies", company["id"])
    return {"id": company["id"], "object": "company", "deleted": True}


def retrieve_companies(call: Call) -> dict:
    """GET /companies: one company by company_id or name, or all (filtered by tag), page-numbered."""
    workspace, query = call.workspace, call.query
    page = query.get("page", 1)
    per_page = search.page_size(query.get("per_page"), default=DEFAULT_LIST_PAGE_SIZE)
    if "company_id" in query:
        company = company_by_company_id(workspace, query["company_id"])
        if company is None:
            raise company_not_found()
        return _company_list(workspace, [company], 1, per_page)
    if "name" in query:
        named = [
            company
            for company in workspace["companies"].values()
            if not archived(company) and company.get("name") == query["name"]
        ]
        if not named:
            raise company_not_found()
        return _company_list(workspace, named, page, per_page)
    companies = _visible_companies(workspace)
    if "tag_id" in query:
        companies = [company for company in companies if query["tag_id"] in company.get("tag_ids", [])]
    if "segment_id" in query:
        companies = []  # the sandbox has no segments
    return _company_list(workspace, companies, page, per_page)


def list_all_companies(call: Call) -> dict:
    page = call.query.get("page", 1)
    per_page = search.page_size(call.query.get("per_page"), default=DEFAULT_LIST_PAGE_SIZE)
    companies = _visible_companies(call.workspace)
    companies.sort(
        key=lambda company: company["created_at"], reverse=call.query.get("order", "desc") == "desc"
    )
    return _company_list(call.workspace, companies, page, per_page)


class CompanyScroll:
    """The workspace's one open scroll: a snapshot of company ids walked page by page."""

    def __init__(self):
        self.param: str | None = None
        self.remaining: list[str] = []
        self.last_used = 0.0

    def is_open(self) -> bool:
        return self.param is not None and time.monotonic() - self.last_used < SCROLL_IDLE_SECONDS

    def next_page(self, call: Call) -> dict:
        param = call.query.get("scroll_param")
        if param is None:
            if self.is_open():
                raise parameter_invalid(
                    "Only one scroll can be open at a time; finish it or let it expire (1 minute idle)",
                    "scroll_param",
                )
            self.param = str(uuid.uuid4())
            self.remaining = [company["id"] for company in _visible_companies(call.workspace)]
        elif param != self.param or not self.is_open():
            raise parameter_invalid(
                "scroll_param is invalid or has expired; restart the scroll", "scroll_param"
            )
        self.last_used = time.monotonic()
        page, self.remaining = self.remaining[:SCROLL_PAGE_SIZE], self.remaining[SCROLL_PAGE_SIZE:]
        companies = [
            call.workspace["companies"][company_id]
            for company_id in page
            if company_id in call.workspace["companies"]
        ]
        answer = {
            "type": "list",
            "data": [render_company(call.workspace, company) for company in companies],
            "pages": None,
            "total_count": None,
            "scroll_param": self.param,
        }
        if not page:
            self.param = None  # an empty page ends the scroll
        return answer


def scroll_companies(call: Call) -> dict:
    return call.sandbox.company_scroll.next_page(call)


def list_company_contacts(call: Call) -> dict:
    workspace = call.workspace
    company = live_company(workspace, call.params["company_id"])
    contacts = [
        workspace["contacts"][contact_id]
        for contact_id in sorted(workspace.index("contacts", "company").ids(company["id"]))
    ]
    return {
        "type": "list",
        "data": [render_contact(workspace, contact) for contact in contacts],
        "total_count": len(contacts),
        "pages": {
            "type": "pages",
            "page": 1,
            "per_page": max(1, len(contacts)),
            "total_pages": 1 if contacts else 0,
        },
    }


# --- a contact's companies ------------------------------------------------------------------------


def attach_contact_to_company(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    company = live_company(workspace, call.body["id"])
    if company["id"] not in contact["company_ids"]:
        if len(contact["company_ids"]) >= MAX_COMPANIES_PER_CONTACT:
            raise IntercomError(
                400,
                "contact_company_limit_exceeded",
                "Contact has reached the maximum of 1000 company associations",
            )
        contact["company_ids"].append(company["id"])
        contact["updated_at"] = now()
        workspace.changed("contacts", contact["id"])
    return render_company(workspace, company)


def detach_contact_from_company(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    company = workspace["companies"].get(call.params["company_id"])
    if company is None or company["id"] not in contact["company_ids"]:
        raise company_not_found()
    contact["company_ids"].remove(company["id"])
    contact["updated_at"] = now()
    workspace.changed("contacts", contact["id"])
    return render_company(workspace, company)


def list_contact_companies(call: Call) -> dict:
    workspace = call.workspace
    contact = live_contact(workspace, call.params["contact_id"])
    companies = [workspace["companies"][company_id] for company_id in contact["company_ids"]]
    return {
        "type": "list",
        "companies": [render_company(workspace, company) for company in companies],
        "total_count": len(companies),
        "pages": {
            "type": "pages",
            "page": 1,
            "per_page": max(1, len(companies)),
            "total_pages": 1,
            "next": None,
        },
    }


ROUTES = [
    ("POST", "/companies", "createOrUpdateCompany", create_or_update_company),
    ("GET", "/companies", "retrieveCompany", retrieve_companies),
    ("POST", "/companies/list", "listAllCompanies", list_all_companies),
    ("GET", "/companies/scroll", "scrollOverAllCompanies", scroll_companies),
    ("GET", "/companies/{company_id}", "RetrieveACompanyById", show_company),
    ("PUT", "/companies/{company_id}", "UpdateCompany", update_company),
    ("DELETE", "/companies/{company_id}", "deleteCompany", delete_company),
    ("GET", "/companies/{company_id}/contacts", "ListAttachedContacts", list_company_contacts),
    (
        "POST",
        "/contacts/{contact_id}/companies",
        "attachContactToACompany",
        attach_contact_to_company,
        {"id": ("parameter_not_found", "company not specified")},
    ),
    ("GET", "/contacts/{contact_id}/companies", "listCompaniesForAContact", list_contact_companies),
    (
        "DELETE",
        "/contacts/{contact_id}/companies/{company_id}",
        "detachContactFromACompany",
        detach_contact_from_company,
    ),
]
