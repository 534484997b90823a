"""Attachments: each ASAPP file re-hosted in Intercom as a part of its conversation, by its sender, at
its original time: one reply per file. A conversation that gets files in the run it is migrated in
waits open for them (conversations.STATE_AFTER_FILES) and gets its state here, after its files; one
migrated before is reopened by a contact's file, and the state it had is put back. What a conversation's
state is after a reply, the reply's answer says."""

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
from asapp_intercom.pipeline.load.conversations import STATE_AFTER_FILES, Thread


class AttachmentLoader(Loader):
    """Each ASAPP file becomes a part of its conversation, by its sender, at its original time."""

    object_type = ObjectType.ATTACHMENT
    depends_on_type = ObjectType.CONVERSATION

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._restore_lock = threading.Lock()
        self._conversations: set[str] = set()
        self._threads: dict[str, Thread] = {}

    def unchanged(self, row: dict, record) -> bool:
        """Every row passes here, posted before or not: its conversation may still wait for its state."""
        self._conversations.add(row["depends_on"])
        return super().unchanged(row, record)

    def _thread(self, conversation_id: str) -> Thread:
        """The conversation as this try's last reply to it left it (read only when no reply was sent)."""
        return self._threads.setdefault(conversation_id, Thread(self.hook, conversation_id))

    def _owe_state(self, conversation_id: str, state: str) -> None:
        with self._restore_lock:
            owed = (self.ledger.load(StatesToRestore) or StatesToRestore()).conversations
            if owed.get(conversation_id) != state:
                self.ledger.save(StatesToRestore(conversations=owed | {conversation_id: state}))

    def finish(self) -> None:
        """Set the state of the conversations that waited for their files, then put back the state of
        those a contact's file reopened."""
        waiting = self.ledger.records_for(ObjectType.CONVERSATION, sorted(self._conversations))
        for source_id, record in sorted(waiting.items()):
            progress = dict(record.progress or {})
            if record.intercom_id and STATE_AFTER_FILES in progress:
                wanted = progress.pop(STATE_AFTER_FILES)
                self._set_state(self._thread(record.intercom_id), wanted)
                progress["state"] = wanted
                self.ledger.save_progress(ObjectType.CONVERSATION, source_id, progress=progress)
        owed = (self.ledger.load(StatesToRestore) or StatesToRestore()).conversations
        for conversation_id, wanted in sorted(owed.items()):
            if self._set_state(self._thread(conversation_id), wanted):
                self.note("conversations closed again after an attachment reopened them")
        if owed:
            self.ledger.save(StatesToRestore())

    def _set_state(self, thread: Thread, wanted: str) -> bool:
        """Whether it took a state change (an earlier try may have made it and died before noting it)."""
        changed = thread.get().get("state") != wanted
        if changed:
            thread.update(
                self.write_once(
                    lambda: self.hook.set_conversation_state(
                        thread.id, wanted, self.settings.default_admin_id
                    ),
                    lambda: thread.latest_if(lambda seen: seen.get("state") == wanted),
                    "a state change",
                )
            )
        self.ledger.note_written(ObjectType.CONVERSATION, intercom_id=thread.id)
        return changed

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
        if state is not None and (found := find_part(self._thread(conversation_id).refresh(), part)):
            part_id = str(found["id"])
            self.ledger.complete_part(row["depends_on"], key, part_id, self.run_id)
        else:
            conversation = self.ledger.record(ObjectType.CONVERSATION, row["depends_on"])
            if STATE_AFTER_FILES not in (conversation.progress or {}):
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
        thread = self._thread(conversation_id)
        answer = self.write_once(
            lambda: self.hook.reply(conversation_id, body),
            lambda: thread.latest_if(lambda seen: find_part(seen, part) is not None),
            "an attachment",
        )
        thread.update(answer)
        made = find_part(answer, part)
        part_id = str(made["id"]) if made else ""
        self.ledger.complete_part(row["depends_on"], key, part_id, self.run_id)
        return part_id
