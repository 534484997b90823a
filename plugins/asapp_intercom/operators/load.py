"""The load tasks: per object type, in dependency order, a mapped task over the step's batches (from the
plan), then the step's manifest, which must balance before the next step starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from asapp_intercom.domain.batches import Batch
from asapp_intercom.domain.manifests import LoadManifest, ObjectManifest, step_manifest
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.operators.base import MigrationOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


class BatchesOperator(BaseOperator):
    """What a load step is mapped over: its batches from the plan (Airflow maps only over a task's return
    value). A step with nothing to load still gets one, empty, batch, which accounts for it."""

    template_fields = ("plan",)

    def __init__(self, *, objects: str, plan: Any, **kwargs):
        super().__init__(**kwargs)
        self.objects = objects
        self.plan = plan

    def execute(self, context: Context) -> list[dict]:
        object_type = ObjectType.of_step(self.objects)
        return (self.plan["objects"].get(object_type) or {}).get("batches") or [Batch().as_dict()]


class LoadOperator(MigrationOperator):
    """One batch of a load step (domain/batches.py). It fails when the batch's account does not balance."""

    template_fields = ("transformed", "schema", "intercom", "batch")

    def __init__(self, *, objects: str, transformed: Any, schema: Any, intercom: Any, batch: Any, **kwargs):
        super().__init__(**kwargs)
        self.objects = objects
        self.transformed = transformed
        self.schema = schema
        self.intercom = intercom
        self.batch = batch

    def execute(self, context: Context, event: dict | None = None) -> dict:
        from asapp_intercom.hooks.asapp import DailyCapReached
        from asapp_intercom.pipeline.load import LOADERS, LoadSettings, TaskTry

        object_type = ObjectType.of_step(self.objects)
        if not self.selected(context, self.objects):
            self.log.info("%s not selected for this run", self.objects)
            return {"object_type": str(object_type), "skipped": "not selected", "balanced": True}
        target = self.migration.intercom
        ti = context["ti"]
        settings = LoadSettings(
            default_admin_id=self.intercom["me"]["id"],
            search_consistency_seconds=target.search_consistency_seconds,
            concurrency=target.concurrency,
            fetch_attachment=self._fetch_attachment,
            task=TaskTry(ti.task_id, ti.map_index if ti.map_index is not None else -1, ti.try_number),
            files_to_come=self._files_to_come(context)
            if object_type is ObjectType.CONVERSATION
            else frozenset(),
        )
        extra = {"tag_ids": self.schema["tag_ids"]} if object_type is ObjectType.CONVERSATION_TAGS else {}
        loader = LOADERS[object_type](self.intercom_hook, self.ledger, context["run_id"], settings, **extra)
        batch = Batch.from_dict(self.batch)
        try:
            manifest = loader.run(
                self.staging, ObjectManifest.from_dict(self.transformed["objects"][object_type]), batch
            )
        except DailyCapReached as cap:
            self.wait_for_cap_reset(context, cap)
        result = manifest.as_dict()
        self.log.info(
            "%s batch %s: %d in scope = %d created + %d updated + %d unchanged + %d quarantined; %d requests "
            "(%d retried, %.1f s waiting for the rate limit) in %.1f s %s",
            self.objects,
            batch.label,
            manifest.source_count,
            manifest.created,
            manifest.updated,
            manifest.unchanged,
            manifest.quarantined,
            manifest.requests,
            manifest.retries,
            manifest.rate_wait_seconds,
            manifest.seconds,
            manifest.notes or "",
        )
        if not manifest.balanced:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowFailException(f"{self.objects} does not balance: {result}")
        return result

    def _files_to_come(self, context: Context) -> frozenset[str]:
        """The conversations this run's attachments step posts files to (none when it is not selected)."""
        attachments = self.transformed["objects"].get(ObjectType.ATTACHMENT)
        if attachments is None or not self.selected(context, ObjectType.ATTACHMENT.step):
            return frozenset()
        return frozenset(self.staging.payload_ids(attachments["path"], "depends_on"))

    def _fetch_attachment(self, file_upload_event_id: str) -> bytes:
        return self.asapp_hook.download(self.asapp_hook.attachment_url(file_upload_event_id)["url"])


class StepManifestOperator(MigrationOperator):
    """A load step's manifest, summed over its batches. It fails when the step does not balance (a batch
    missing or short), so the next step never starts; validation, the report and the lineage read it."""

    template_fields = ("transformed", "batches", "intercom")

    def __init__(self, *, objects: str, transformed: Any, batches: Any, intercom: Any, **kwargs):
        super().__init__(**kwargs)
        self.objects = objects
        self.transformed = transformed
        self.batches = batches
        self.intercom = intercom

    def execute(self, context: Context) -> dict:
        object_type = ObjectType.of_step(self.objects)
        accounts = [batch for batch in self.batches or [] if batch]
        if accounts and all(batch.get("skipped") for batch in accounts):
            return accounts[0]
        payloads = ObjectManifest.from_dict(self.transformed["objects"][object_type])
        step = step_manifest(payloads, [LoadManifest.from_dict(batch) for batch in accounts])
        self.loaded = step
        result = step.as_dict()
        self.log.info(
            "%s over %d batch(es): %d in scope = %d created + %d updated + %d unchanged + %d quarantined; "
            "%d requests",
            self.objects,
            len(accounts),
            step.source_count,
            step.created,
            step.updated,
            step.unchanged,
            step.quarantined,
            step.requests,
        )
        if not step.balanced:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowFailException(f"{self.objects} does not balance over its batches: {result}")
        return result

    def get_openlineage_facets_on_complete(self, task_instance) -> OperatorLineage:
        """The run's payloads of the object, and the Intercom object with the records the step's batches
        wrote (created + updated; operators/lineage.py). A step not selected for the run read and wrote
        nothing."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from asapp_intercom.operators import lineage

        step = getattr(self, "loaded", None)
        if step is None:
            return OperatorLineage()
        object_type = ObjectType.of_step(self.objects)
        workspace = self.intercom["me"].get("workspace_id") or self.intercom["me"].get("workspace")
        return OperatorLineage(
            inputs=[lineage.read(lineage.payloads(self.staging, object_type))],
            outputs=[
                lineage.written(lineage.intercom_object(workspace, self.objects), step.created + step.updated)
            ],
        )
