"""The report phase's reading of the ledger: everything a run and the migration left there, as plain data
for the report (domain/report.py), which itself reads no database."""

from __future__ import annotations

from asapp_intercom.domain.report import LedgerView
from asapp_intercom.ledger import Ledger


def ledger_view(ledger: Ledger, run_id: str) -> LedgerView:
    return LedgerView(
        quarantined=[
            {
                "object": row.object_type,
                "source_id": row.source_id,
                "reason": row.reason,
                "run_id": row.run_id,
            }
            for row in ledger.open_quarantine()
        ],
        fields_left_out=[
            {
                "object": row.object_type,
                "source_id": row.source_id,
                "field": row.field,
                "value": row.value,
                "reason": row.reason,
                "run_id": row.run_id,
            }
            for row in ledger.open_field_issues()
        ],
        this_run=ledger.record_counts(run_id),
        migration=ledger.record_counts(),
        spent=ledger.spent(run_id),
        events=[
            {
                "task": row.task_id,
                "map_index": row.map_index,
                "try": row.try_number,
                "kind": row.kind,
                "message": row.message,
            }
            for row in ledger.task_events(run_id)
        ],
    )
