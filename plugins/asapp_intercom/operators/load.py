"""Tasks that write to Intercom (schema, load steps) and the one that reads everything back."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from asapp_intercom.hooks.asapp import DailyCapReached
from asapp_intercom.load import LOADERS, OBJECT_TYPES, ConversationTagLoader, LoadSettings
from asapp_intercom.mapping import FieldMapping
from asapp_intercom.operators.base import MigrationOperator
from asapp_intercom.schema import SchemaClash, ensure_schema
from asapp_intercom.transform import DELTA_MARK, ObjectManifest
from asapp_intercom.validate import validate


class EnsureSchemaOperator(MigrationOperator):
    """Data attributes for the approved map and tags for segments, before the first record."""

    template_fields = ("field_map", "transformed", "asapp")

    def __init__(self, *, field_map: Any, transformed: Any, asapp: Any, **kwargs):
        super().__init__(**kwargs)
        self.field_map = field_map
        self.transformed = transformed
        self.asapp = asapp

    def execute(self, context: Context) -> dict:
        if self.params_of(context).dry_run:
            raise AirflowSkipException("Dry run: nothing is written to Intercom")
        entries = [FieldMapping.model_validate(entry) for entry in self.field_map["entries"]]
        tags = self.transformed["tag_names"] + [segment["name"] for segment in self.asapp.get("segments", [])]
        if not self.selected(context, "tags"):
            tags = []
        try:
            manifest = ensure_schema(self.intercom_hook, entries, tags)
        except SchemaClash as clash:
            raise AirflowFailException(str(clash)) from None
        self.log.info("Attributes created: %s; matched existing: %s; %d tags ready", manifest.created or "none",
                      manifest.matched or "none", len(manifest.tag_ids))
        return manifest.as_dict()


class LoadOperator(MigrationOperator):
    """One load step. It fails when its manifest does not balance, so the next step never starts."""

    template_fields = ("transformed", "schema", "intercom")

    def __init__(self, *, objects: str, transformed: Any, schema: Any, intercom: Any, **kwargs):
        super().__init__(**kwargs)
        self.objects = objects
        self.transformed = transformed
        self.schema = schema
        self.intercom = intercom

    def execute(self, context: Context, event: dict | None = None) -> dict:
        object_type = OBJECT_TYPES[self.objects]
        if not self.selected(context, self.objects):
            self.log.info("%s not selected for this run", self.objects)
            return {"object_type": object_type, "skipped": "not selected", "balanced": True}
        target = self.migration.intercom
        settings = LoadSettings(default_admin_id=self.intercom["me"]["id"],
                                search_consistency_seconds=target.search_consistency_seconds,
                                concurrency=target.concurrency, fetch_attachment=self._fetch_attachment)
        loader_class = LOADERS[self.objects]
        extra = {"tag_ids": self.schema["tag_ids"]} if loader_class is ConversationTagLoader else {}
        loader = loader_class(self.intercom_hook, self.ledger, context["run_id"], settings, **extra)
        try:
            manifest = loader.run(self.staging, ObjectManifest(**self.transformed["objects"][object_type]))
        except DailyCapReached as cap:
            self.wait_for_cap_reset(cap)
        result = manifest.as_dict()
        self.log.info("%s: %d in scope = %d created + %d updated + %d unchanged + %d quarantined; %d requests "
                      "(%d retried, %.1f s waiting for the rate limit) in %.1f s %s", self.objects,
                      manifest.source_count, manifest.created, manifest.updated, manifest.unchanged,
                      manifest.quarantined, manifest.requests, manifest.retries, manifest.rate_wait_seconds,
                      manifest.seconds, manifest.notes or "")
        if not manifest.balanced:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowFailException(f"{self.objects} does not balance: {result}")
        return result

    def _fetch_attachment(self, file_upload_event_id: str) -> bytes:
        return self.asapp_hook.download(self.asapp_hook.attachment_url(file_upload_event_id)["url"])


class ValidateOperator(MigrationOperator):
    """Read every record the run loaded back from Intercom and compare each migrated field."""

    template_fields = ("transformed", "loads")

    def __init__(self, *, transformed: Any, loads: Any, **kwargs):
        super().__init__(**kwargs)
        self.transformed = transformed
        self.loads = loads

    def execute(self, context: Context) -> dict:
        results = {}
        for load in self.loads:
            if load.get("skipped"):
                continue
            object_type = load["object_type"]
            manifest = validate(self.intercom_hook, self.ledger, self.staging,
                                ObjectManifest(**self.transformed["objects"][object_type]),
                                self.migration.intercom.concurrency)
            results[object_type] = manifest.as_dict()
            self.log.info("%s: %d read back, %d match, %d differ", object_type, manifest.checked,
                          manifest.matching, manifest.mismatched)
        differing = {name: result["mismatched"] for name, result in results.items() if result["mismatched"]}
        if differing:
            context["ti"].xcom_push(key="return_value", value=results)
            raise AirflowFailException(f"Read-back found differences {differing}; the report lists them")
        if self.covers_everything(context):  # what arrived up to here is migrated: later delta runs start from it
            self.ledger.set_state(DELTA_MARK, self.transformed["delta_mark"])
        return results
