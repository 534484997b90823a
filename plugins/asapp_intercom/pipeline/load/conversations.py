"""Conversations: opened by their first visible message, then every other message a part at its original
time and by its speaker, then attributes, assignee and state; each step an intent in the ledger first."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asapp_intercom.domain.intercom import admin_message, contact_message, find_part, reply_body, same_text
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.domain.payloads import HashScheme, Unloadable, payload_hash
from asapp_intercom.domain.times import instant
from asapp_intercom.hooks.api import AmbiguousWrite
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger.state import PayloadHashing
from asapp_intercom.pipeline.load.base import Loader, Outcome, TryLater

log = logging.getLogger(__name__)

STATE_AFTER_FILES = "state_after_files"
"""In a conversation's progress: the state the attachments step sets once it has posted the files."""


class ConversationLoader(Loader):
    object_type = ObjectType.CONVERSATION
    depends_on_type = ObjectType.CONTACT

    @functools.cached_property
    def hash_scheme(self) -> HashScheme:
        """The migration's hash scheme, which the attributes' hash in a conversation's progress is in."""
        return (self.ledger.load(PayloadHashing) or PayloadHashing()).scheme

    def unchanged(self, row: dict, record) -> bool:
        """Unchanged once settled, unless its state still waits for files a run no longer posts."""
        if not super().unchanged(row, record) or (record.progress or {}).get("settled") is not True:
            return False
        return STATE_AFTER_FILES not in record.progress or row["source_id"] in self.settings.files_to_come

    def load(self, row: dict) -> Outcome:
        payload, source_id = row["payload"], row["source_id"]
        contact_id = self.parent_id(row)
        if contact_id is None:
            raise Unloadable(
                f"its contact ({row['depends_on']}) is not migrated (quarantined or not selected)"
            )
        record = self.ledger.record(self.object_type, source_id)
        progress = dict(record.progress or {}) if record is not None else {}
        progress.pop("settled", None)
        conversation_id = record.intercom_id if record is not None else None
        created = record is None or record.state != "done"  # opened by this run, or by a try of it that died
        if conversation_id is None:
            self.ledger.begin(self.object_type, source_id, self.run_id, origin="created")
            if (opening_at := instant(progress.get("opening_at"))) is not None:
                # Intercom was asked to open it (by a try that died, or an answer that was lost): only its
                # search can tell whether it did, and only once it has caught up with that moment.
                ready_at = opening_at + timedelta(seconds=self.settings.search_consistency_seconds)
                if datetime.now(UTC) < ready_at:
                    raise TryLater("Intercom was asked to open it and did not say whether it did", ready_at)
                conversation_id = self._find_opened(contact_id, payload["opener"])
            if conversation_id is None:
                progress["opening_at"] = datetime.now(UTC).isoformat()
                self.ledger.save_progress(self.object_type, source_id, progress=progress)
                try:
                    conversation_id = self._open(contact_id, payload["opener"])
                except AmbiguousWrite as unclear:
                    raise TryLater(
                        f"opening it got an unclear answer ({unclear})",
                        datetime.now(UTC) + timedelta(seconds=self.settings.search_consistency_seconds),
                    ) from None
            progress.pop("opening_at", None)
            progress["opened_with"] = payload["opener"][
                "key"
            ]  # its source for good, whatever comes to light later
            self.ledger.save_progress(
                self.object_type, source_id, intercom_id=conversation_id, progress=progress
            )
            self.ledger.complete_part(source_id, payload["opener"]["key"], None, self.run_id)

        thread = Thread(self.hook, conversation_id)
        parts = payload["parts"]
        if not created and payload["opener"]["key"] not in self.ledger.part_states(source_id):
            parts = [
                payload["opener"],
                *parts,
            ]  # an earlier message came to light after the conversation opened
        self._append_parts(source_id, contact_id, parts, thread, progress)
        self._settle(source_id, payload, progress, thread)
        progress["settled"] = True
        self.ledger.complete(
            self.object_type,
            source_id,
            intercom_id=conversation_id,
            action="created" if created else "updated",
            payload_hash=row["hash"],
            run_id=self.run_id,
            progress=progress,
        )
        return Outcome("created" if created else "updated", conversation_id)

    def _open(self, contact_id: str, opener: dict) -> str:
        if opener["author"] == "contact":
            return self.hook.open_conversation(contact_message(contact_id, opener))
        return self.hook.open_admin_conversation(admin_message(contact_id, opener))

    def _find_opened(self, contact_id: str, opener: dict) -> str | None:
        """Search for the conversation Intercom was asked to open (search has caught up with the asking)."""
        # Only by contact: Intercom's date filters may round to the day; time and text are compared here.
        query = {"field": "contact_ids", "operator": "=", "value": contact_id}
        for candidate in self.hook.search_conversations(query):
            source = candidate.get("source") or {}
            if candidate.get("created_at") == opener["created_at"] and same_text(
                source.get("body"), opener["text"]
            ):
                self.note("conversations recovered after an interrupted try")
                return str(candidate["id"])
        return None

    def _append_parts(
        self, source_id: str, contact_id: str, parts: list[dict], thread: Thread, progress: dict
    ) -> None:
        states = self.ledger.part_states(source_id)
        taken = {state.intercom_part_id for state in states.values() if state.intercom_part_id}
        for part in sorted(
            parts, key=lambda item: item["created_at"]
        ):  # stable: same-second messages keep order
            state = states.get(part["key"])
            if state is not None and state.state == "done":
                continue
            if state is not None and (found := find_part(thread.get(), part, taken)):
                self.ledger.complete_part(source_id, part["key"], str(found.get("id")), self.run_id)
                taken.add(str(found.get("id")))
                self.note("parts recovered after an interrupted try")
                continue
            if progress.pop("state", None) is not None:
                # A contact's reply reopens a closed conversation: once a part may land, the state
                # on record is no longer known, and a try that dies here leaves it to be checked.
                self.ledger.save_progress(self.object_type, source_id, progress=progress)
            self.ledger.begin_part(source_id, part["key"], self.run_id)
            conversation = self._reply(thread, reply_body(part, contact_id), part, taken)
            thread.update(conversation)
            made = find_part(conversation, part, taken)
            if made:
                taken.add(str(made["id"]))
            self.ledger.complete_part(source_id, part["key"], str(made["id"]) if made else None, self.run_id)

    def _reply(self, thread: Thread, body: dict, part: dict, taken: set[str]) -> dict:
        return self.write_once(
            lambda: self.hook.reply(thread.id, body),
            lambda: thread.latest_if(lambda seen: find_part(seen, part, taken) is not None),
            "a reply",
        )

    def _settle(self, source_id: str, payload: dict, progress: dict, thread: Thread) -> None:
        """Attributes, assignee and state, each recorded as intended before it is done."""
        attributes_hash = payload_hash(payload["custom_attributes"], self.hash_scheme)
        if progress.get("attributes") != attributes_hash:
            self.hook.update_conversation(thread.id, {"custom_attributes": payload["custom_attributes"]})
            progress["attributes"] = attributes_hash
            self.ledger.save_progress(self.object_type, source_id, progress=progress)

        assignee = payload["assignee_admin_id"]
        if assignee and progress.get("assignee") != assignee:
            intended = progress.get("assigning") == assignee
            if not (intended and str(thread.get().get("admin_assignee_id")) == str(assignee)):
                progress["assigning"] = assignee
                self.ledger.save_progress(self.object_type, source_id, progress=progress)
                thread.update(
                    self.write_once(
                        lambda: self.hook.assign_conversation(
                            thread.id, self.settings.default_admin_id, assignee
                        ),
                        lambda: thread.latest_if(
                            lambda seen: str(seen.get("admin_assignee_id")) == str(assignee)
                        ),
                        "an assignment",
                    )
                )
            progress["assignee"] = assignee
            progress.pop("assigning", None)
            self.ledger.save_progress(self.object_type, source_id, progress=progress)

        wanted = payload["state"]
        if progress.get("state") != wanted and source_id in self.settings.files_to_come:
            progress[STATE_AFTER_FILES] = wanted  # the attachments step sets it, once its files are in
            self.ledger.save_progress(self.object_type, source_id, progress=progress)
        elif progress.get("state") != wanted:
            current = thread.get().get("state")
            if current != wanted:
                thread.update(
                    self.write_once(
                        lambda: self.hook.set_conversation_state(
                            thread.id, wanted, assignee or self.settings.default_admin_id
                        ),
                        lambda: thread.latest_if(lambda seen: seen.get("state") == wanted),
                        "a state change",
                    )
                )
            progress["state"] = wanted
            progress.pop(STATE_AFTER_FILES, None)
            self.ledger.save_progress(self.object_type, source_id, progress=progress)


class Thread:
    """A conversation read at most once per need: reply answers refresh it for free."""

    def __init__(self, hook: IntercomHook, conversation_id: str):
        self.hook = hook
        self.id = conversation_id
        self._latest: dict | None = None

    def get(self) -> dict:
        if self._latest is None:
            self._latest = self.hook.get_conversation(self.id)
        return self._latest

    def refresh(self) -> dict:
        """Read it again (after an unclear answer, the cached copy may not show what happened)."""
        self._latest = None
        return self.get()

    def latest_if(self, holds: Callable[[dict], bool]) -> dict | None:
        """The conversation as Intercom has it now, if it shows what `holds` looks for."""
        latest = self.refresh()
        return latest if holds(latest) else None

    def update(self, conversation: dict) -> None:
        if conversation and conversation.get("type") == "conversation":
            self._latest = conversation
