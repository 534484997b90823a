"""The sensor that lets one run of a migration work at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import BaseSensorOperator, Context

from asapp_intercom.operators.base import MigrationOperator

if TYPE_CHECKING:
    from asapp_intercom.ledger.state import ActiveRun

ACTIVE_STATES = {"queued", "running"}


class OneRunAtATimeSensor(MigrationOperator, BaseSensorOperator):
    """Waits, holding no worker, until no other run of the migration is active, then claims it.

    Airflow keeps a DAG's `max_active_runs` apart from a backfill's, so a scheduled delta and a backfill
    (or a rollback) could otherwise load the same records at once. The claim lives in the ledger, so it
    holds across schedulers and workers; a run that ended in any way gives it up.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", timedelta(seconds=15))
        super().__init__(**kwargs)

    def poke(self, context: Context) -> bool:
        from asapp_intercom.ledger.state import ActiveRun

        holder = self.ledger.claim_run(
            ActiveRun(dag_id=self.dag_id, run_id=context["run_id"]), self._still_active
        )
        if holder is not None:
            self.log.info(
                "Waiting for run %s of %s to end: one run works on a migration at a time",
                holder.run_id,
                holder.dag_id,
            )
        return holder is None

    @staticmethod
    def _still_active(holder: ActiveRun) -> bool:
        from airflow.sdk.exceptions import AirflowRuntimeError
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        try:
            return RuntimeTaskInstance.get_dagrun_state(holder.dag_id, holder.run_id) in ACTIVE_STATES
        except AirflowRuntimeError:  # the run was deleted
            return False
