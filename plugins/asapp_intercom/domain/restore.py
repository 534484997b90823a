"""What a record that was in Intercom before the migration is put back to, and what cannot be put back.

The ledger keeps an existing contact's or company's state from before the migration first changed it
(`previous_state`, as Intercom answered it then). A rollback compares that with what Intercom holds now
and sends only what differs, so a field the migration did not change costs nothing and is never
rewritten. Intercom's API cannot clear some fields (a contact's external_id, a company's website or
custom attributes take only strings): those are named, with the value left, instead of being skipped
quietly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONTACT_RESTORED = (
    "role",
    "email",
    "external_id",
    "name",
    "phone",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
)
CONTACT_NOT_CLEARABLE = {"role", "external_id"}
"""PUT /contacts takes a string or nothing for these; `email` is cleared with "" (a contact without one
answers email: "")."""
COMPANY_RESTORED = ("name", "website", "industry", "size", "plan", "remote_created_at", "monthly_spend")
"""POST /companies (the upsert by company_id) takes every one of these; none of them may be null."""


@dataclass
class Restoration:
    """The requests that put a record back: a body to write, company links to remove and to add."""

    body: dict = field(default_factory=dict)
    detach: list[str] = field(default_factory=list)
    attach: list[str] = field(default_factory=list)
    not_restorable: list[dict] = field(default_factory=list)
    """{field, now, before, why} for each difference Intercom's API cannot undo."""

    @property
    def writes(self) -> int:
        return (1 if self.body else 0) + len(self.detach) + len(self.attach)


def _plain(name: str, value: Any) -> Any:
    if name == "plan":
        return value.get("name") if isinstance(value, dict) else value
    if name == "owner_id" and value is not None:
        return str(value)
    return value


def _unrestorable(name: str, now: Any, before: Any, why: str) -> dict:
    return {"field": name, "now": now, "before": before, "why": why}


def company_ids_of(contact: dict) -> list[str]:
    """The companies a contact belongs to, as GET /contacts/{id} lists them."""
    return [str(item["id"]) for item in ((contact.get("companies") or {}).get("data") or [])]


def restore_contact(
    previous: dict, current: dict, *, gone_companies: frozenset[str] = frozenset()
) -> Restoration:
    """`gone_companies`: companies this rollback deletes (Intercom detaches their contacts itself)."""
    restoration = Restoration()
    for name in CONTACT_RESTORED:
        if name not in previous:
            continue
        before, now = _plain(name, previous[name]), _plain(name, current.get(name))
        if before == now or (name == "email" and not before and not now):
            continue
        if before is None and name in CONTACT_NOT_CLEARABLE:
            restoration.not_restorable.append(
                _unrestorable(name, now, before, f"Intercom's API cannot clear a contact's {name}")
            )
            continue
        restoration.body[name] = "" if name == "email" and before is None else before
    before_attributes = previous.get("custom_attributes") or {}
    now_attributes = current.get("custom_attributes") or {}
    changed = {
        name: before_attributes.get(name)  # None clears one the migration added
        for name in sorted(set(before_attributes) | set(now_attributes))
        if before_attributes.get(name) != now_attributes.get(name)
    }
    if changed:
        restoration.body["custom_attributes"] = changed
    if "company_ids" in previous:  # ledgers before 0.3 did not keep a contact's companies
        before_links, now_links = set(previous["company_ids"]), set(company_ids_of(current))
        restoration.detach = sorted(now_links - before_links - gone_companies)
        restoration.attach = sorted(before_links - now_links)
    return restoration


def restore_company(
    previous: dict, current: dict, *, archived_attributes: frozenset[str] = frozenset()
) -> Restoration:
    """`archived_attributes`: attributes (by name) this rollback archives, which hides their values."""
    restoration = Restoration()
    for name in COMPANY_RESTORED:
        before, now = _plain(name, previous.get(name)), _plain(name, current.get(name))
        if before == now or (name == "plan" and not before and not now):
            continue
        if before is None or before == "":
            restoration.not_restorable.append(
                _unrestorable(name, now, before, f"Intercom's API cannot clear a company's {name}")
            )
            continue
        restoration.body[name] = before
    before_attributes = previous.get("custom_attributes") or {}
    now_attributes = current.get("custom_attributes") or {}
    for name in sorted(set(before_attributes) | set(now_attributes)):
        before, now = before_attributes.get(name), now_attributes.get(name)
        if before == now:
            continue
        if before is None:
            why = (
                "hidden: the migration's attribute is archived by this rollback"
                if name in archived_attributes
                else "Intercom's API takes only text for a company attribute: it cannot clear one"
            )
            restoration.not_restorable.append(_unrestorable(f"custom_attributes.{name}", now, None, why))
            continue
        restoration.body.setdefault("custom_attributes", {})[name] = before
    if restoration.body:
        restoration.body = {"company_id": previous["company_id"], **restoration.body}
    return restoration
