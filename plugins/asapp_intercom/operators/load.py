"""The load tasks: one per object type, in dependency order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from asapp_intercom.domain.manifests import ObjectManifest
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.operators.base import MigrationOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


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
        )
        extra = {"tag_ids": self.schema["tag_ids"]} if object_type is ObjectType.CONVERSATION_TAGS else {}
        loader = LOADERS[object_type](self.intercom_hook, self.ledger, context["run_id"], settings, **extra)
        try:
            manifest = loader.run(
                self.staging, ObjectManifest.from_dict(self.transformed["objects"][object_type])
            )
        except DailyCapReached as cap:
            self.wait_for_cap_reset(context, cap)
        self.loaded = manifest
        result = manifest.as_dict()
        self.log.info(
            "%s: %d in scope = %d created + %d updated + %d unchanged + %d quarantined; %d requests "
            "(%d retried, %.1f s waiting for the rate limit) in %.1f s %s",
            self.objects,
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

    def get_openlineage_facets_on_complete(self, task_instance) -> OperatorLineage:
        """The run's payloads of the object, and the Intercom object with the records written (created +
        updated) this try (operators/lineage.py). A step not selected for the run read and wrote nothing."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from asapp_intercom.operators import lineage

        manifest = getattr(self, "loaded", None)
        if manifest is None:
            return OperatorLineage()
        object_type = ObjectType.of_step(self.objects)
        workspace = self.intercom["me"].get("workspace_id") or self.intercom["me"].get("workspace")
        return OperatorLineage(
            inputs=[lineage.read(lineage.payloads(self.staging, object_type))],
            outputs=[
                lineage.written(
                    lineage.intercom_object(workspace, self.objects), manifest.created + manifest.updated
                )
            ],
        )

    def _fetch_attachment(self, file_upload_event_id: str) -> bytes:
        return self.asapp_hook.download(self.asapp_hook.attachment_url(file_upload_event_id)["url"])
