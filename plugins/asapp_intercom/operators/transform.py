"""Transform tasks: the run's payloads from the staged feeds and the approved map, then the plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from asapp_intercom.domain.manifests import TransformManifest
from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.payloads import ConversationContext
from asapp_intercom.operators.base import MigrationOperator

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


def segment_tags_by_field(asapp: dict) -> dict[str, list[str]]:
    """Structured-data field → names of the ASAPP segments it belongs to (not the catch-all TRUE one)."""
    tags: dict[str, list[str]] = {}
    for segment in asapp.get("segments", []):
        if (segment.get("query") or "").strip().upper() == "TRUE":
            continue
        for field_id in segment.get("field_ids", []):
            tags.setdefault(field_id, []).append(segment["name"])
    return tags


def bot_admin_id(workspace: dict, email: str | None) -> str:
    """The admin who authors ASAPP bot messages: the configured one, else the token's owner."""
    for admin in workspace["admins"]:
        if email and (admin.get("email") or "").lower() == email.lower():
            return admin["id"]
    return workspace["me"]["id"]


class TransformOperator(MigrationOperator):
    template_fields = ("field_map", "intercom", "asapp")

    def __init__(self, *, field_map: Any, intercom: Any, asapp: Any, **kwargs):
        super().__init__(**kwargs)
        self.field_map = field_map
        self.intercom = intercom
        self.asapp = asapp

    def execute(self, context: Context) -> dict:
        from asapp_intercom.pipeline.transform import transform

        form, scope = self.form(context), self.scope(context)
        self.log.info(
            "Scope: %s%s",
            scope.mode.value,
            f" of the window [{scope.since}, {scope.until})"
            if scope.windowed
            else f" ({scope.sample_size} conversations)"
            if scope.mode.value == "sample"
            else "",
        )
        conversation_context = ConversationContext(
            entries=[FieldMapping.model_validate(entry) for entry in self.field_map["entries"]],
            agents={},
            default_admin_id=self.intercom["me"]["id"],
            bot_admin_id=bot_admin_id(self.intercom, self.migration.intercom.bot_admin_email),
            thread_mode=form.thread_mode,
            segment_tags_by_field=segment_tags_by_field(self.asapp),
        )
        manifest = transform(
            self.staging, self.ledger, context["run_id"], scope, conversation_context, self.intercom["admins"]
        )
        self.written = manifest
        return manifest.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance) -> OperatorLineage:
        """The staged feeds the tenant has, and the payloads written per object (operators/lineage.py)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from asapp_intercom.operators import lineage

        feeds = sorted(name for name, audit in self.asapp["feeds"].items() if audit["available"])
        manifest = getattr(self, "written", None)
        return OperatorLineage(
            inputs=[lineage.read(lineage.staged_feed(self.staging, feed)) for feed in feeds],
            outputs=[
                lineage.written(lineage.payloads(self.staging, name), payloads.payloads)
                for name, payloads in (manifest.objects.items() if manifest else ())
            ],
        )


class PlanOperator(MigrationOperator):
    """The exact plan of the load: creates, updates, unchanged, requests and ETA under the rate budget."""

    template_fields = ("transformed",)

    def __init__(self, *, transformed: Any, **kwargs):
        super().__init__(**kwargs)
        self.transformed = transformed

    def execute(self, context: Context) -> dict:
        from asapp_intercom.pipeline.plan import plan

        target = self.migration.intercom
        planned = plan(
            self.staging,
            self.ledger,
            TransformManifest.from_dict(self.transformed),
            target.requests_per_minute,
            target.batch_size,
            self.form(context).objects,
        )
        for object_type, counts in planned["objects"].items():
            self.log.info(
                "%-18s create %6d  update %6d  unchanged %6d  quarantined %5d  requests %7d  batches %d",
                object_type,
                counts["create"],
                counts["update"],
                counts["unchanged"],
                counts["quarantined"],
                counts["requests"],
                len(counts["batches"]),
            )
        self.log.info(
            "%d requests: about %.1f minutes at %d requests/minute%s",
            planned["requests"],
            planned["eta_minutes"],
            planned["requests_per_minute"],
            " (dry run: nothing will be sent)" if self.form(context).dry_run else "",
        )
        return planned
