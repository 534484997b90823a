"""Upserts into Intercom, in dependency order, that a retry or a re-run can never duplicate.

Each record follows the same protocol against the ledger: unchanged payload hash → nothing sent;
otherwise write the intent, call Intercom, record the outcome. When a try died between the call
and the record, the intent is still pending and the next try first looks for what the call
created: a 409 tells a contact's id, a company upsert is idempotent by company_id, a conversation
is found by its contact and opening time (once Intercom's search has caught up), and a part,
assignment or state change is checked on the conversation itself, which reads consistently.
Records Intercom refuses go to the quarantine with its answer; the run goes on.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.intercom import IntercomHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.payloads import Unloadable, html_body, payload_hash
from asapp_intercom.staging import Staging
from asapp_intercom.transform import ObjectManifest, read_payloads

log = logging.getLogger(__name__)

EXISTING_ID = re.compile(r"id=(\w+)")


@dataclass
class LoadManifest:
    """One load step's account: every record in scope is created, updated, unchanged or quarantined."""

    object_type: str
    source_count: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0
    rate_wait_seconds: float = 0.0
    """Time workers spent waiting for Intercom's rate windows, summed over the workers."""
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    checksum: str = ""

    @property
    def balanced(self) -> bool:
        return self.source_count == self.created + self.updated + self.unchanged + self.quarantined

    def as_dict(self) -> dict:
        return asdict(self) | {"balanced": self.balanced}


@dataclass(frozen=True)
class Outcome:
    action: str  # created | updated | unchanged
    intercom_id: str | None = None


@dataclass
class LoadSettings:
    default_admin_id: str
    search_consistency_seconds: float = 180.0
    concurrency: int = 8
    fetch_attachment: Callable[[str], bytes] | None = None
    """file_upload_event_id → the file's bytes, from ASAPP's File Exporter."""


class Loader:
    """Loads one Intercom object type; subclasses say how one record is written."""

    object_type: str
    depends_on_type: str | None = None

    def __init__(self, hook: IntercomHook, ledger: Ledger, run_id: str, settings: LoadSettings):
        self.hook = hook
        self.ledger = ledger
        self.run_id = run_id
        self.settings = settings
        self._notes: dict[str, int] = {}
        self._notes_lock = threading.Lock()

    def note(self, what: str) -> None:
        with self._notes_lock:
            self._notes[what] = self._notes.get(what, 0) + 1

    def parent_id(self, row: dict) -> str | None:
        """The Intercom id of the record this one depends on (its company, contact, conversation)."""
        if not row["depends_on"] or not self.depends_on_type:
            return None
        parent = self.ledger.record(self.depends_on_type, row["depends_on"])
        return parent.intercom_id if parent is not None and parent.state == "done" else None

    def load(self, row: dict) -> Outcome:
        raise NotImplementedError

    def finish(self) -> None:
        """Work owed once every record of the step is loaded."""

    def unchanged(self, row: dict, record) -> bool:
        return record is not None and record.state == "done" and record.payload_hash == row["hash"]

    def run(self, staging: Staging, payloads: ObjectManifest) -> LoadManifest:
        manifest = LoadManifest(self.object_type, source_count=payloads.source_count,
                                quarantined=payloads.quarantined)
        started = time.monotonic()
        calls_before, retries_before = self.hook.api.calls, self.hook.api.retries
        waited_before = self.hook.limiter.waited_seconds
        quarantined_before = self.ledger.quarantined_ids(self.object_type)
        loaded: list[tuple[str, str]] = []
        lock = threading.Lock()

        def settle(row: dict, outcome: Outcome | None, reason: str | None) -> None:
            with lock:
                if outcome is None:
                    manifest.quarantined += 1
                    self.ledger.quarantine(self.object_type, row["source_id"], reason, self.run_id,
                                           {"payload_hash": row["hash"]})
                    return
                setattr(manifest, outcome.action, getattr(manifest, outcome.action) + 1)
                loaded.append((row["source_id"], outcome.intercom_id or ""))
                if row["source_id"] in quarantined_before:
                    self.ledger.resolve_quarantine(self.object_type, row["source_id"])

        def attempt(row: dict) -> None:
            try:
                outcome = self.load(row)
            except Unloadable as error:
                settle(row, None, str(error))
            except ApiError as error:
                if error.status in {0, 401, 403, 429} or error.status >= 500:
                    raise  # Intercom is unwell or refuses us: fail the task; the ledger makes its retry safe
                settle(row, None, f"Intercom answered {error.status} {error.code}: {error.message}")
            else:
                settle(row, outcome, None)

        for row, outcome in self._skip_unchanged(staging, payloads.path, attempt):
            settle(row, outcome, None)
        self.finish()
        manifest.requests = self.hook.api.calls - calls_before
        manifest.retries = self.hook.api.retries - retries_before
        manifest.rate_wait_seconds = round(self.hook.limiter.waited_seconds - waited_before, 3)
        manifest.seconds = round(time.monotonic() - started, 3)
        manifest.notes = dict(self._notes)
        manifest.checksum = _checksum(loaded)
        return manifest

    def _skip_unchanged(self, staging: Staging, path: str, attempt: Callable[[dict], None]) -> Iterator[tuple]:
        """Yield unchanged rows at once; run the rest on a bounded pool of workers."""
        window = self.settings.concurrency * 4
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix=f"load-{self.object_type}") as pool:
            running: set[Future] = set()
            batch: list[dict] = []

            def flush() -> Iterator[tuple]:
                known = self.ledger.records_for(self.object_type, [row["source_id"] for row in batch])
                for row in batch:
                    record = known.get(row["source_id"])
                    if self.unchanged(row, record):
                        self.ledger.mark_unchanged(self.object_type, row["source_id"], self.run_id)
                        yield row, Outcome("unchanged", record.intercom_id)
                        continue
                    while len(running) >= window:
                        done, _ = wait(running, return_when=FIRST_COMPLETED)
                        for future in done:
                            running.discard(future)
                            future.result()
                    running.add(pool.submit(attempt, row))
                batch.clear()

            for row in read_payloads(staging, path):
                batch.append(row)
                if len(batch) >= 500:
                    yield from flush()
            yield from flush()
            for future in running:
                future.result()


def _checksum(loaded: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for source_id, intercom_id in sorted(loaded):
        digest.update(f"{source_id}:{intercom_id}\n".encode())
    return digest.hexdigest()


def _trim(record: dict, keys: tuple[str, ...]) -> dict:
    return {key: record.get(key) for key in keys if key in record}


# Companies ---------------------------------------------------------------------------------
COMPANY_FIELDS = ("id", "company_id", "name", "website", "industry", "size", "plan", "remote_created_at",
                  "monthly_spend", "custom_attributes")


class CompanyLoader(Loader):
    object_type = "company"

    def load(self, row: dict) -> Outcome:
        record = self.ledger.record(self.object_type, row["source_id"])
        if record is None or record.origin is None:
            found = self._find(row["payload"]["company_id"])
            self.ledger.begin(self.object_type, row["source_id"], self.run_id,
                              origin="existing" if found else "created",
                              previous_state=_trim(found, COMPANY_FIELDS) if found else None)
            record = self.ledger.record(self.object_type, row["source_id"])
        else:
            self.ledger.begin(self.object_type, row["source_id"], self.run_id)
        company = self.hook.call("POST", "/companies", row["payload"])
        action = "created" if record.origin == "created" and record.intercom_id is None else "updated"
        self.ledger.complete(self.object_type, row["source_id"], intercom_id=company["id"], action=action,
                             payload_hash=row["hash"], run_id=self.run_id)
        return Outcome(action, company["id"])

    def _find(self, company_id: str) -> dict | None:
        try:
            return self.hook.call("GET", "/companies", params={"company_id": company_id})
        except ApiError as error:
            if error.status == 404:
                return None
            raise


# Contacts ----------------------------------------------------------------------------------
CONTACT_FIELDS = ("id", "role", "email", "external_id", "name", "phone", "signed_up_at", "last_seen_at",
                  "owner_id", "unsubscribed_from_emails", "custom_attributes", "created_at")


class ContactLoader(Loader):
    object_type = "contact"
    depends_on_type = "company"

    def unchanged(self, row: dict, record) -> bool:
        """Unchanged only once linked to its company as it stands (it may have been migrated since)."""
        return super().unchanged(row, record) and (record.progress or {}).get("company") == self.parent_id(row)

    def load(self, row: dict) -> Outcome:
        payload = row["payload"]
        record = self.ledger.record(self.object_type, row["source_id"])
        if record is not None and record.state == "done" and record.intercom_id:
            try:
                self.hook.call("PUT", f"/contacts/{record.intercom_id}", payload)
            except ApiError as error:
                if error.status != 404:
                    raise
                self.ledger.forget(self.object_type, row["source_id"])  # deleted in Intercom: create it again
                return self.load(row)
            contact_id, action = record.intercom_id, "updated"
            self.ledger.complete(self.object_type, row["source_id"], intercom_id=contact_id, action=action,
                                 payload_hash=row["hash"], run_id=self.run_id)
        else:
            contact_id, action = self._create(row, payload)
        self._link_company(row, contact_id, record.progress if record is not None else None)
        return Outcome(action, contact_id)

    def _create(self, row: dict, payload: dict) -> tuple[str, str]:
        intent_at = self.ledger.begin(self.object_type, row["source_id"], self.run_id)
        try:
            contact = self.hook.call("POST", "/contacts", payload)
        except ApiError as error:
            if error.status != 409:
                raise
            return self._adopt(row, payload, error, intent_at)
        self.ledger.complete(self.object_type, row["source_id"], intercom_id=contact["id"], action="created",
                             origin="created", payload_hash=row["hash"], run_id=self.run_id)
        return contact["id"], "created"

    def _adopt(self, row: dict, payload: dict, conflict: ApiError, intent_at: datetime) -> tuple[str, str]:
        """A 409: the contact exists. Ours from a try that died, or one the workspace already had."""
        match = EXISTING_ID.search(conflict.message)
        if not match or "archived" in conflict.message.lower():
            raise Unloadable(f"Intercom refused the contact: {conflict.message}")
        existing = self.hook.call("GET", f"/contacts/{match[1]}")
        if payload.get("email"):  # the same person means the same email, whatever the external id says
            same = (existing.get("email") or "").lower() == payload["email"].lower()
        else:
            same = bool(existing.get("external_id")) and existing.get("external_id") == payload.get("external_id")
        if not same:
            raise Unloadable(f"contact {match[1]} already holds external_id {payload.get('external_id')!r} "
                             f"with a different email ({existing.get('email')!r})")
        ours = existing.get("created_at", 0) >= intent_at.timestamp() - 5
        if not ours:
            self.note("adopted existing contacts")
        first_seen = self.ledger.record(self.object_type, row["source_id"]).previous_state is None
        self.ledger.begin(self.object_type, row["source_id"], self.run_id, origin="created" if ours else "existing",
                          previous_state=_trim(existing, CONTACT_FIELDS) if not ours and first_seen else None)
        self.hook.call("PUT", f"/contacts/{existing['id']}", payload)
        action = "created" if ours else "updated"
        self.ledger.complete(self.object_type, row["source_id"], intercom_id=existing["id"], action=action,
                             payload_hash=row["hash"], run_id=self.run_id)
        return existing["id"], action

    def _link_company(self, row: dict, contact_id: str, progress: dict | None) -> None:
        if not row["depends_on"]:
            return
        company_id = self.parent_id(row)
        if company_id is None:
            self.note("contacts whose company is not migrated")
            return
        if (progress or {}).get("company") == company_id:
            return
        self.hook.call("POST", f"/contacts/{contact_id}/companies", {"id": company_id})
        self.ledger.save_progress(self.object_type, row["source_id"], progress={"company": company_id})


# Conversations -----------------------------------------------------------------------------
def same_text(body: str | None, text: str) -> bool:
    """Intercom may wrap a body in <p>; compare what a reader sees."""
    seen = re.sub(r"^<p>(.*)</p>$", r"\1", (body or "").strip(), flags=re.S)
    seen = html.unescape(seen.replace("<br>", "\n"))
    return seen == text


def same_part(candidate: dict, part: dict) -> bool:
    """Whether a conversation part is what a payload part became: same time, same text."""
    return candidate.get("created_at") == part["created_at"] and same_text(candidate.get("body"), part["text"])


def find_part(conversation: dict, part: dict, taken: set[str] = frozenset()) -> dict | None:
    """The part a payload part became, skipping parts already matched to other payload parts
    (two identical messages in one second are two parts)."""
    for candidate in (conversation.get("conversation_parts") or {}).get("conversation_parts", []):
        if str(candidate.get("id")) not in taken and same_part(candidate, part):
            return candidate
    return None


def state_change(wanted: str, admin_id: str) -> dict:
    return {"message_type": "close" if wanted == "closed" else "open", "type": "admin", "admin_id": admin_id}


class ConversationLoader(Loader):
    object_type = "conversation"
    depends_on_type = "contact"

    def unchanged(self, row: dict, record) -> bool:
        return super().unchanged(row, record) and (record.progress or {}).get("settled") is True

    def load(self, row: dict) -> Outcome:
        payload, source_id = row["payload"], row["source_id"]
        contact_id = self.parent_id(row)
        if contact_id is None:
            raise Unloadable(f"its contact ({row['depends_on']}) is not migrated (quarantined or not selected)")
        record = self.ledger.record(self.object_type, source_id)
        progress = dict(record.progress or {}) if record is not None else {}
        progress.pop("settled", None)
        conversation_id = record.intercom_id if record is not None else None
        created = record is None or record.state != "done"  # opened by this run, or by a try of it that died
        if conversation_id is None:
            intent_at = self.ledger.begin(self.object_type, source_id, self.run_id, origin="created")
            if record is not None:  # a try died after asking Intercom to open it
                conversation_id = self._find_opened(contact_id, payload["opener"], intent_at)
            if conversation_id is None:
                conversation_id = self._open(contact_id, payload["opener"])
            self.ledger.save_progress(self.object_type, source_id, intercom_id=conversation_id)
            self.ledger.complete_part(source_id, payload["opener"]["key"], None, self.run_id)

        thread = Thread(self.hook, conversation_id)
        parts = payload["parts"]
        if not created and payload["opener"]["key"] not in self.ledger.part_states(source_id):
            parts = [payload["opener"], *parts]  # an earlier message came to light after the conversation opened
        self._append_parts(source_id, contact_id, parts, thread, progress)
        self._settle(source_id, payload, progress, thread)
        progress["settled"] = True
        self.ledger.complete(self.object_type, source_id, intercom_id=conversation_id,
                             action="created" if created else "updated", payload_hash=row["hash"],
                             run_id=self.run_id, progress=progress)
        return Outcome("created" if created else "updated", conversation_id)

    def _open(self, contact_id: str, opener: dict) -> str:
        if opener["author"] == "contact":
            message = self.hook.call("POST", "/conversations", {
                "from": {"type": "user", "id": contact_id}, "body": opener["text"],
                "created_at": opener["created_at"]}, resend=False)
        else:
            message = self.hook.call("POST", "/messages", {  # the spec: "in_app", and the admin's id as an integer
                "message_type": "in_app", "from": {"type": "admin", "id": int(opener["admin_id"])},
                "to": {"type": "user", "id": contact_id}, "body": html_body(opener["text"]),
                "created_at": opener["created_at"], "create_conversation_without_contact_reply": True}, resend=False)
        return str(message["conversation_id"])

    def _find_opened(self, contact_id: str, opener: dict, intent_at: datetime) -> str | None:
        """Search for the conversation a dead try opened, once search is sure to show it."""
        ready_at = intent_at.timestamp() + self.settings.search_consistency_seconds
        if (delay := ready_at - datetime.now(UTC).timestamp()) > 0:
            log.info("Waiting %.0f s for Intercom search to catch up before looking for a half-opened "
                     "conversation", delay)
            time.sleep(delay)
        # Only by contact: Intercom's date filters may round to the day; time and text are compared here.
        query = {"field": "contact_ids", "operator": "=", "value": contact_id}
        for candidate in self.hook.search("conversations", query):
            source = candidate.get("source") or {}
            if candidate.get("created_at") == opener["created_at"] and same_text(source.get("body"), opener["text"]):
                self.note("conversations recovered after an interrupted try")
                return str(candidate["id"])
        return None

    def _append_parts(self, source_id: str, contact_id: str, parts: list[dict], thread: Thread,
                      progress: dict) -> None:
        states = self.ledger.part_states(source_id)
        taken = {state.intercom_part_id for state in states.values() if state.intercom_part_id}
        for part in sorted(parts, key=lambda item: item["created_at"]):  # stable: same-second messages keep order
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
            conversation = self.hook.call("POST", f"/conversations/{thread.id}/reply",
                                          reply_body(part, contact_id), resend=False)
            thread.update(conversation)
            made = find_part(conversation, part, taken)
            if made:
                taken.add(str(made["id"]))
            self.ledger.complete_part(source_id, part["key"], str(made["id"]) if made else None, self.run_id)

    def _settle(self, source_id: str, payload: dict, progress: dict, thread: Thread) -> None:
        """Attributes, assignee and state, each recorded as intended before it is done."""
        attributes_hash = payload_hash(payload["custom_attributes"])
        if progress.get("attributes") != attributes_hash:
            self.hook.call("PUT", f"/conversations/{thread.id}", {"custom_attributes": payload["custom_attributes"]})
            progress["attributes"] = attributes_hash
            self.ledger.save_progress(self.object_type, source_id, progress=progress)

        assignee = payload["assignee_admin_id"]
        if assignee and progress.get("assignee") != assignee:
            intended = progress.get("assigning") == assignee
            if not (intended and str(thread.get().get("admin_assignee_id")) == str(assignee)):
                progress["assigning"] = assignee
                self.ledger.save_progress(self.object_type, source_id, progress=progress)
                thread.update(self.hook.call("POST", f"/conversations/{thread.id}/parts", {
                    "message_type": "assignment", "type": "admin", "admin_id": self.settings.default_admin_id,
                    "assignee_id": assignee}, resend=False))
            progress["assignee"] = assignee
            progress.pop("assigning", None)
            self.ledger.save_progress(self.object_type, source_id, progress=progress)

        wanted = payload["state"]
        if progress.get("state") != wanted:
            current = thread.get().get("state")
            if current != wanted:
                thread.update(self.hook.call("POST", f"/conversations/{thread.id}/parts",
                                             state_change(wanted, assignee or self.settings.default_admin_id),
                                             resend=False))
            progress["state"] = wanted
            self.ledger.save_progress(self.object_type, source_id, progress=progress)


def reply_body(part: dict, contact_id: str) -> dict:
    if part["author"] == "contact":
        return {"message_type": "comment", "type": "user", "intercom_user_id": contact_id,
                "body": html_body(part["text"]), "created_at": part["created_at"]}
    return {"message_type": part["message_type"], "type": "admin", "admin_id": part["admin_id"],
            "body": html_body(part["text"]), "created_at": part["created_at"], "skip_notifications": True}


class Thread:
    """A conversation read at most once per need: reply answers refresh it for free."""

    def __init__(self, hook: IntercomHook, conversation_id: str):
        self.hook = hook
        self.id = conversation_id
        self._latest: dict | None = None

    def get(self) -> dict:
        if self._latest is None:
            self._latest = self.hook.call("GET", f"/conversations/{self.id}")
        return self._latest

    def update(self, conversation: dict) -> None:
        if conversation and conversation.get("type") == "conversation":
            self._latest = conversation


# Attachments -------------------------------------------------------------------------------
class AttachmentLoader(Loader):
    """Each ASAPP file becomes a part of its conversation, by its sender, at its original time."""

    object_type = "attachment"
    depends_on_type = "conversation"

    RESTORE_KEY = "attachments.states_to_restore"
    """Conversations an attachment reply may have reopened, kept in the ledger so that a run that
    dies before restoring them leaves the promise to the next run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._restore_lock = threading.Lock()

    def _owe_state(self, conversation_id: str, state: str) -> None:
        with self._restore_lock:
            owed = self.ledger.get_state(self.RESTORE_KEY, {})
            if owed.get(conversation_id) != state:
                self.ledger.set_state(self.RESTORE_KEY, owed | {conversation_id: state})

    def finish(self) -> None:
        """A contact's reply reopens a closed conversation: put back the state each conversation had."""
        owed = self.ledger.get_state(self.RESTORE_KEY, {})
        for conversation_id, wanted in sorted(owed.items()):
            if Thread(self.hook, conversation_id).get().get("state") != wanted:
                self.hook.call("POST", f"/conversations/{conversation_id}/parts",
                               state_change(wanted, self.settings.default_admin_id), resend=False)
                self.note("conversations closed again after an attachment reopened them")
        if owed:
            self.ledger.set_state(self.RESTORE_KEY, {})

    def load(self, row: dict) -> Outcome:
        payload, upload_id = row["payload"], row["source_id"]
        conversation_id = self.parent_id(row)
        if conversation_id is None:
            raise Unloadable(f"its conversation ({row['depends_on']}) is not migrated")
        key = f"file:{upload_id}"
        part = {"created_at": payload["created_at"], "text": payload["text"]}
        state = self.ledger.part_states(row["depends_on"]).get(key)
        if state is not None and state.state == "done":  # posted before; Intercom cannot edit an attachment
            record = self.ledger.record(self.object_type, upload_id)
            action = "unchanged" if record is not None and record.state == "done" else "created"
            self.ledger.complete(self.object_type, upload_id, intercom_id=state.intercom_part_id or "",
                                 action=action, origin="created", payload_hash=row["hash"], run_id=self.run_id)
            return Outcome(action, state.intercom_part_id)
        if state is not None and (found := find_part(Thread(self.hook, conversation_id).get(), part)):
            part_id = str(found["id"])
            self.ledger.complete_part(row["depends_on"], key, part_id, self.run_id)
        else:
            self._owe_state(conversation_id, row["payload"]["conversation_state"])
            part_id = self._send(row, conversation_id, key, part)
        self.ledger.complete(self.object_type, upload_id, intercom_id=part_id or "", action="created",
                             origin="created", payload_hash=row["hash"], run_id=self.run_id)
        return Outcome("created", part_id)

    def _send(self, row: dict, conversation_id: str, key: str, part: dict) -> str:
        payload = row["payload"]
        try:
            data = self.settings.fetch_attachment(row["source_id"])
        except ApiError as error:  # ASAPP's answer, not Intercom's: say so, and stop on what is not about this file
            if error.status in {0, 401, 429} or error.status >= 500 or error.code in {"401-02", "429-02"}:
                raise
            raise Unloadable(f"ASAPP could not provide the file: {error.status} {error.code} {error.message}") from None
        body = {  # name and type as ASAPP's upload record states them; the download only gives the bytes
            "body": html_body(payload["text"]), "created_at": payload["created_at"],
            "attachment_files": [{"content_type": payload["content_type"], "data": base64.b64encode(data).decode(),
                                  "name": payload["file_name"]}],
        }
        contact = self.ledger.record("contact", payload["contact"]) if payload.get("contact") else None
        if payload["author"] == "contact" and contact is not None and contact.intercom_id:
            body |= {"message_type": "comment", "type": "user", "intercom_user_id": contact.intercom_id}
        else:
            body |= {"message_type": "comment", "type": "admin", "skip_notifications": True,
                     "admin_id": payload.get("admin_id") or self.settings.default_admin_id}
        self.ledger.begin_part(row["depends_on"], key, self.run_id)
        made = find_part(self.hook.call("POST", f"/conversations/{conversation_id}/reply", body, resend=False), part)
        part_id = str(made["id"]) if made else ""
        self.ledger.complete_part(row["depends_on"], key, part_id, self.run_id)
        return part_id


# Tags --------------------------------------------------------------------------------------
class ConversationTagLoader(Loader):
    """Tags a migrated conversation with its segments; tagging twice is a no-op in Intercom."""

    object_type = "conversation_tags"
    depends_on_type = "conversation"

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
            self.hook.call("POST", f"/conversations/{conversation_id}/tags",
                           {"id": tag_id, "admin_id": self.settings.default_admin_id})
            applied.add(name)
        action = "created" if record is None or record.intercom_id is None else "updated"
        self.ledger.complete(self.object_type, row["source_id"], intercom_id=conversation_id, action=action,
                             origin="created", payload_hash=row["hash"], run_id=self.run_id,
                             progress={"applied": sorted(applied)})
        return Outcome(action, conversation_id)


LOADERS: dict[str, type[Loader]] = {
    "companies": CompanyLoader,
    "contacts": ContactLoader,
    "conversations": ConversationLoader,
    "attachments": AttachmentLoader,
    "tags": ConversationTagLoader,
}
"""Load steps by the name users pick in the run form (config.OBJECTS), in dependency order."""

OBJECT_TYPES = {name: loader.object_type for name, loader in LOADERS.items()}
"""Run-form name → the object type the ledger, manifests and report use."""
