"""Companies: POST /companies creates or updates by company_id, so a retry is always safe."""

from __future__ import annotations

from asapp_intercom.domain.intercom import COMPANY_FIELDS, previous_state
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.pipeline.load.base import Loader, Outcome


class CompanyLoader(Loader):
    object_type = ObjectType.COMPANY

    def load(self, row: dict) -> Outcome:
        record = self.ledger.record(self.object_type, row["source_id"])
        if record is None or record.origin is None:
            found = self.hook.find_company(row["payload"]["company_id"])
            self.ledger.begin(
                self.object_type,
                row["source_id"],
                self.run_id,
                origin="existing" if found else "created",
                previous_state=previous_state(found, COMPANY_FIELDS) if found else None,
            )
            record = self.ledger.record(self.object_type, row["source_id"])
        else:
            self.ledger.begin(self.object_type, row["source_id"], self.run_id)
        company = self.hook.upsert_company(row["payload"])
        action = "created" if record.origin == "created" and record.intercom_id is None else "updated"
        self.ledger.complete(
            self.object_type,
            row["source_id"],
            intercom_id=company["id"],
            action=action,
            payload_hash=row["hash"],
            run_id=self.run_id,
        )
        return Outcome(action, company["id"])
