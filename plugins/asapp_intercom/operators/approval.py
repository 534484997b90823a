"""A person's decision in Airflow's Required Actions that is never lost.

Airflow 3.3.2 can lose an answer given seconds after the question (its try fails "changed externally"
and the retry asks again). The plugin keeps every answer in the migration's ledger the moment the API
server accepts it (web/answers.py); a try that finds one there, given to an earlier try, uses it instead
of asking again. The field map's approval and a rollback's approval are both asked this way.
"""

from __future__ import annotations

from datetime import UTC

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Context

from asapp_intercom.operators.base import MigrationOperator


class RecordedAnswerApproval(MigrationOperator, HITLOperator):
    """A HITL question whose answer, once given, is taken from the ledger by any later try."""

    def execute(self, context: Context):
        given = self.ledger.answer(context["run_id"], self.task_id)
        if given is None:
            return super().execute(context)
        self.log.warning(
            "%s answered this at %s, and that answer did not reach the earlier try; using it instead "
            "of asking again",
            given.responded_by,
            given.responded_at,
        )
        responded_at = (
            given.responded_at if given.responded_at.tzinfo else given.responded_at.replace(tzinfo=UTC)
        )
        return self.execute_complete(
            context,
            {
                "chosen_options": given.chosen_options,
                "params_input": given.params_input or {},
                "responded_at": responded_at,
                "responded_by_user": {"id": given.responded_by, "name": given.responded_by},
            },
        )
