"""Contacts: created, or on a 409 adopted (ours from a try that died, or the workspace's own), then
linked to their company. Customers whose emails differ only in case are one contact."""

from __future__ import annotations

from datetime import datetime

from asapp_intercom.domain.intercom import CONTACT_FIELDS, existing_id, previous_state
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.domain.payloads import Unloadable
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.pipeline.load.base import Loader, Outcome


class ContactLoader(Loader):
    object_type = ObjectType.CONTACT
    depends_on_type = ObjectType.COMPANY

    def unchanged(self, row: dict, record) -> bool:
        """Unchanged only once linked to its company as it stands (it may have been migrated since)."""
        return super().unchanged(row, record) and (record.progress or {}).get("company") == self.parent_id(
            row
        )

    def load(self, row: dict) -> Outcome:
        payload = row["payload"]
        record = self.ledger.record(self.object_type, row["source_id"])
        if record is not None and record.state == "done" and record.intercom_id:
            if record.payload_hash != row["hash"]:  # else only its company link is owed
                try:
                    self.hook.update_contact(record.intercom_id, payload)
                except ApiError as error:
                    if error.status != 404:
                        raise
                    self.ledger.forget(
                        self.object_type, row["source_id"]
                    )  # deleted in Intercom: create it again
                    return self.load(row)
            contact_id, action = record.intercom_id, self.done_earlier_in_run(record) or "updated"
            self.ledger.complete(
                self.object_type,
                row["source_id"],
                intercom_id=contact_id,
                action=action,
                payload_hash=row["hash"],
                run_id=self.run_id,
            )
        else:
            contact_id, action = self._create(row, payload)
        self._link_company(row, contact_id, record.progress if record is not None else None)
        return Outcome(action, contact_id)

    def _create(self, row: dict, payload: dict) -> tuple[str, str]:
        intent_at = self.ledger.begin(self.object_type, row["source_id"], self.run_id)
        try:
            contact = self.hook.create_contact(payload)
        except ApiError as error:
            if error.status != 409:
                raise
            return self._adopt(row, payload, error, intent_at)
        self.ledger.complete(
            self.object_type,
            row["source_id"],
            intercom_id=contact["id"],
            action="created",
            origin="created",
            payload_hash=row["hash"],
            run_id=self.run_id,
        )
        return contact["id"], "created"

    def _adopt(self, row: dict, payload: dict, conflict: ApiError, intent_at: datetime) -> tuple[str, str]:
        """A 409: the contact exists. Ours from a try that died, or one the workspace already had."""
        found = existing_id(conflict.message)
        if not found or "archived" in conflict.message.lower():
            raise Unloadable(f"Intercom refused the contact: {conflict.message}")
        existing = self.hook.get_contact(found)
        if payload.get("email"):  # the same person means the same email, whatever the external id says
            same = (existing.get("email") or "").lower() == payload["email"].lower()
        else:
            same = bool(existing.get("external_id")) and existing.get("external_id") == payload.get(
                "external_id"
            )
        if not same:
            raise Unloadable(
                f"contact {found} already holds external_id {payload.get('external_id')!r} "
                f"with a different email ({existing.get('email')!r})"
            )
        ours = existing.get("created_at", 0) >= intent_at.timestamp() - 5
        if not ours:
            self.note("adopted existing contacts")
        first_seen = self.ledger.record(self.object_type, row["source_id"]).previous_state is None
        before = None
        if not ours and first_seen:  # what a rollback puts back: its fields and the companies it belonged to
            companies = self.hook.list_contact_companies(existing["id"])
            before = previous_state(existing, CONTACT_FIELDS) | {
                "company_ids": [str(company["id"]) for company in companies]
            }
        self.ledger.begin(
            self.object_type,
            row["source_id"],
            self.run_id,
            origin="created" if ours else "existing",
            previous_state=before,
        )
        self.hook.update_contact(existing["id"], payload)
        action = "created" if ours else "updated"
        self.ledger.complete(
            self.object_type,
            row["source_id"],
            intercom_id=existing["id"],
            action=action,
            payload_hash=row["hash"],
            run_id=self.run_id,
        )
        return existing["id"], action

    def _link_company(self, row: dict, contact_id: str, progress: dict | None) -> None:
        if not row["depends_on"]:
            return
        company_id = self.parent_id(row)
        if company_id is None:
            self.note("contacts whose company is not migrated")
            return
        if (progress or {}).get("company") == company_id:
            return
        self.hook.attach_company(contact_id, company_id)
        self.ledger.save_progress(self.object_type, row["source_id"], progress={"company": company_id})
        self.ledger.note_written(self.object_type, source_id=row["source_id"])
