"""Attachments: each ASAPP file re-hosted in Intercom as a part of its conversation, by its sender, at
its original time. A contact's reply reopens a closed conversation; the state it had is put back."""

from __future__ import annotations

import base64
import threading

from asapp_intercom.domain.intercom import attachment_reply, find_part
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.domain.payloads import Unloadable
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import refuses_the_request
from asapp_intercom.ledger.state import StatesToRestore
from asapp_intercom.pipeline.load.base import Loader, Outcome
from asapp_intercom.pipeline.load.conversations import Thread


class AttachmentLoader(Loader):
    """Each ASAPP file becomes a part of its conversation, by its sender, at its original time."""

    object_type = ObjectType.ATTACHMENT
    depends_on_type = ObjectType.CONVERSATION

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._restore_lock = threading.Lock()

    def _owe_state(self, conversation_id: str, state: str) -> None:
        with self._restore_lock:
            owed = (self.ledger.load(StatesToRestore) or StatesToRestore()).conversations
            if owed.get(conversation_id) != state:
                self.ledger.save(StatesToRestore(conversations=owed | {conversation_id: state}))

    def finish(self) -> None:
        """A contact's reply reopens a closed conversation: put back the state each conversation had."""
        owed = (self.ledger.load(StatesToRestore) or StatesToRestore()).conversations
        for conversation_id, wanted in sorted(owed.items()):
            self._restore_state(Thread(self.hook, conversation_id), wanted)
        if owed:
            self.ledger.save(StatesToRestore())

    def _restore_state(self, thread: Thread, wanted: str) -> None:
        if thread.get().get("state") != wanted:
            self.write_once(
                lambda: self.hook.set_conversation_state(thread.id, wanted, self.settings.default_admin_id),
                lambda: thread.latest_if(lambda seen: seen.get("state") == wanted),
                "a state change",
            )
            self.note("conversations closed again after an attachment reopened them")
        # also when an earlier try made the change and died before noting it
        self.ledger.note_written(ObjectType.CONVERSATION, intercom_id=thread.id)

    def load(self, row: dict) -> Outcome:
        payload, upload_id = row["payload"], row["source_id"]
        conversation_id = self.parent_id(row)
        if conversation_id is None:
            raise Unloadable(f"its conversation ({row['depends_on']}) is not migrated")
        key = f"file:{upload_id}"
        part = {"created_at": payload["created_at"], "text": payload["text"]}
        state = self.ledger.part_states(row["depends_on"]).get(key)
        if state is not None and state.state == "done":  # posted before; Intercom cannot edit an attachment
            self.ledger.note_written(ObjectType.CONVERSATION, source_id=row["depends_on"])
            record = self.ledger.record(self.object_type, upload_id)
            done = record is not None and record.state == "done"
            action = (self.done_earlier_in_run(record) or "unchanged") if done else "created"
            self.ledger.complete(
                self.object_type,
                upload_id,
                intercom_id=state.intercom_part_id or "",
                action=action,
                origin="created",
                payload_hash=row["hash"],
                run_id=self.run_id,
            )
            return Outcome(action, state.intercom_part_id)
        if state is not None and (found := find_part(Thread(self.hook, conversation_id).get(), part)):
            part_id = str(found["id"])
            self.ledger.complete_part(row["depends_on"], key, part_id, self.run_id)
        else:
            self._owe_state(conversation_id, row["payload"]["conversation_state"])
            part_id = self._send(row, conversation_id, key, part)
        self.ledger.note_written(ObjectType.CONVERSATION, source_id=row["depends_on"])
        self.ledger.complete(
            self.object_type,
            upload_id,
            intercom_id=part_id or "",
            action="created",
            origin="created",
            payload_hash=row["hash"],
            run_id=self.run_id,
        )
        return Outcome("created", part_id)

    def _send(self, row: dict, conversation_id: str, key: str, part: dict) -> str:
        payload = row["payload"]
        try:
            data = self.settings.fetch_attachment(row["source_id"])
        except (
            ApiError
        ) as error:  # ASAPP's answer, not Intercom's: say so, and stop on what is not about this file
            if not refuses_the_request(error):
                raise
            raise Unloadable(
                f"ASAPP could not provide the file: {error.status} {error.code} {error.message}"
            ) from None
        contact = (
            self.ledger.record(ObjectType.CONTACT, payload["contact"]) if payload.get("contact") else None
        )
        body = attachment_reply(
            payload,
            base64.b64encode(data).decode(),
            contact.intercom_id if contact else None,
            self.settings.default_admin_id,
        )
        self.ledger.begin_part(row["depends_on"], key, self.run_id)
        thread = Thread(self.hook, conversation_id)
        made = find_part(
            self.write_once(
                lambda: self.hook.reply(conversation_id, body),
                lambda: thread.latest_if(lambda seen: find_part(seen, part) is not None),
                "an attachment",
            ),
            part,
        )
        part_id = str(made["id"]) if made else ""
        self.ledger.complete_part(row["depends_on"], key, part_id, self.run_id)
        return part_id
