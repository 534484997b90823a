"""The validation task: read every record the run loaded back from Intercom and compare each migrated
field."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from asapp_intercom.domain.manifests import ObjectManifest
from asapp_intercom.operators.base import MigrationOperator


class ValidateOperator(MigrationOperator):
    template_fields = ("transformed", "loads")

    def __init__(self, *, transformed: Any, loads: Any, **kwargs):
        super().__init__(**kwargs)
        self.transformed = transformed
        self.loads = loads

    def execute(self, context: Context) -> dict:
        from asapp_intercom.ledger.state import DeltaMark
        from asapp_intercom.pipeline.validate import validate

        # A cutover reads back what changed since the last read-back, not the whole migration again.
        cutover = self.form(context).cutover_at is not None
        results = {}
        for load in self.loads:
            if load.get("skipped"):
                continue
            object_type = load["object_type"]
            manifest = validate(
                self.intercom_hook,
                self.ledger,
                self.staging,
                ObjectManifest.from_dict(self.transformed["objects"][object_type]),
                self.migration.intercom.concurrency,
                only_changed_since_read_back=cutover,
            )
            results[object_type] = manifest.as_dict()
            self.log.info(
                "%s: %d read back, %d match, %d differ, %d as an earlier read-back found them",
                object_type,
                manifest.checked,
                manifest.matching,
                manifest.mismatched,
                manifest.unchanged_since_read_back,
            )
        differing = {name: result["mismatched"] for name, result in results.items() if result["mismatched"]}
        if differing:
            context["ti"].xcom_push(key="return_value", value=results)
            raise AirflowFailException(f"Read-back found differences {differing}; the report lists them")
        if self.covers_everything(
            context
        ):  # what arrived up to here is migrated: later delta runs start from it
            self.ledger.save(DeltaMark.model_validate(self.transformed["delta_mark"]))
        return results
