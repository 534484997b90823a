"""The schema task: data attributes for the approved map and tags for segments, before the first record."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from asapp_intercom.domain.mapping import FieldMapping
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.operators.base import MigrationOperator


class EnsureSchemaOperator(MigrationOperator):
    template_fields = ("field_map", "transformed", "asapp")

    def __init__(self, *, field_map: Any, transformed: Any, asapp: Any, **kwargs):
        super().__init__(**kwargs)
        self.field_map = field_map
        self.transformed = transformed
        self.asapp = asapp

    def execute(self, context: Context) -> dict:
        from asapp_intercom.pipeline.schema import SchemaClash, ensure_schema

        if self.form(context).dry_run:
            raise AirflowSkipException("Dry run: nothing is written to Intercom")
        entries = [FieldMapping.model_validate(entry) for entry in self.field_map["entries"]]
        tags = self.transformed["tag_names"] + [segment["name"] for segment in self.asapp.get("segments", [])]
        if not self.selected(context, ObjectType.CONVERSATION_TAGS.step):
            tags = []
        try:
            manifest = ensure_schema(self.intercom_hook, self.ledger, context["run_id"], entries, tags)
        except SchemaClash as clash:
            raise AirflowFailException(str(clash)) from None
        self.log.info(
            "Attributes created: %s; matched existing: %s; %d tags ready",
            manifest.created or "none",
            manifest.matched or "none",
            len(manifest.tag_ids),
        )
        return manifest.as_dict()
