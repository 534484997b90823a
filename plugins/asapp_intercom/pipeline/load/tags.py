"""Tags: each migrated conversation tagged with its segments; tagging twice is a no-op in Intercom."""

from __future__ import annotations

from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.domain.payloads import Unloadable
from asapp_intercom.pipeline.load.base import Loader, Outcome


class ConversationTagLoader(Loader):
    """Tags a migrated conversation with its segments; tagging twice is a no-op in Intercom."""

    object_type = ObjectType.CONVERSATION_TAGS
    depends_on_type = ObjectType.CONVERSATION

    def __init__(self, *args, tag_ids: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.tag_ids = {name.lower(): tag_id for name, tag_id in tag_ids.items()}

    def load(self, row: dict) -> Outcome:
        conversation_id = self.parent_id(row)
        if conversation_id is None:
            raise Unloadable(f"its conversation ({row['depends_on']}) is not migrated")
        record = self.ledger.record(self.object_type, row["source_id"])
        applied = set((record.progress or {}).get("applied", [])) if record is not None else set()
        for name in row["payload"]["tags"]:
            if name in applied:
                continue
            tag_id = self.tag_ids.get(name.lower())
            if tag_id is None:
                raise Unloadable(f"tag {name!r} does not exist in Intercom (the schema phase creates it)")
            self.hook.tag_conversation(conversation_id, tag_id, self.settings.default_admin_id)
            self.ledger.note_written(ObjectType.CONVERSATION, source_id=row["depends_on"])
            applied.add(name)
        action = "created" if record is None or record.intercom_id is None else "updated"
        self.ledger.complete(
            self.object_type,
            row["source_id"],
            intercom_id=conversation_id,
            action=action,
            origin="created",
            payload_hash=row["hash"],
            run_id=self.run_id,
            progress={"applied": sorted(applied)},
        )
        return Outcome(action, conversation_id)
