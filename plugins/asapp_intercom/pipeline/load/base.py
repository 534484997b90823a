"""What every load step shares: the ledger protocol, the worker pool and the step's account.

Each record follows the same protocol against the ledger: unchanged payload hash → nothing sent;
otherwise write the intent, call Intercom, record the outcome. When a try died between the call
and the record, the intent is still pending and the next try first looks for what the call
created: a 409 tells a contact's id, a company upsert is idempotent by company_id, a conversation
is found by its contact and opening time (once Intercom's search has caught up), and a part,
assignment or state change is checked on the conversation itself, which reads consistently.
Records Intercom refuses go to the quarantine with its answer; the run goes on.

An unclear answer within a try (a 5xx, a dropped connection) is recovered the same way at once: the
conversation, which reads consistently, shows whether a reply or a state change landed, and it is
sent again only if it did not. An unclear answer to opening a conversation can only be settled by
search, which lags: that record waits until the step's other records are done, then is looked for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from asapp_intercom.domain.batches import Batch
from asapp_intercom.domain.manifests import LoadManifest, ObjectManifest, load_checksum
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.domain.payloads import Unloadable
from asapp_intercom.hooks.api import AmbiguousWrite, ApiError
from asapp_intercom.hooks.intercom import IntercomHook, refuses_the_record
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.progress import Progress, Spend, TaskTry
from asapp_intercom.pipeline.staging import Staging

log = logging.getLogger(__name__)

T = TypeVar("T")
WRITE_ATTEMPTS = 4
"""How often a write Intercom cannot de-duplicate is sent after unclear answers, looking each time first."""
LATER_ROUNDS = 3
"""How often records whose outcome only eventually consistent search can tell are taken up again."""


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
    task: TaskTry | None = None
    files_to_come: frozenset[str] = frozenset()
    """Conversations (source ids) this run's attachments step posts files to: their state is set after the
    files, since a contact's file reopens a closed conversation (a close now would cost a second one)."""


class TryLater(Exception):  # noqa: N818 - a signal to come back, not an error
    """What became of this record's write can be told only later (once Intercom's search has caught up)."""

    def __init__(self, reason: str, ready_at: datetime):
        super().__init__(reason)
        self.ready_at = ready_at


class Loader:
    """Loads one Intercom object type; subclasses say how one record is written."""

    object_type: ObjectType
    depends_on_type: ObjectType | None = None

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

    def done_earlier_in_run(self, record) -> str | None:
        """What an earlier try of this run did to the record (created, updated), so a retry that finishes
        the record's work does not count it as something else."""
        if record is None or record.state != "done" or record.run_id != self.run_id:
            return None
        return record.action if record.action in {"created", "updated"} else None

    def write_once(self, send: Callable[[], T], landed: Callable[[], T | None], what: str) -> T:
        """Send a write Intercom cannot de-duplicate. After an unclear answer, `landed()` looks at what
        Intercom holds (None: the write did not happen) before it is sent again."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return send()
            except AmbiguousWrite as unclear:
                found = landed()
                if found is not None:
                    self.note(f"{what} found in Intercom after an unclear answer")
                    return found
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.info("%s: Intercom answered %s and it did not happen; sending it again", what, unclear)
        raise AssertionError("unreachable")

    def run(self, staging: Staging, payloads: ObjectManifest, batch: Batch | None = None) -> LoadManifest:
        """Load the step's payloads, or one batch of them: the account is the step's (with what the
        transform quarantined) or the batch's alone (step_manifest sums the batches)."""
        if batch is None:
            manifest = LoadManifest(
                self.object_type, source_count=payloads.source_count, quarantined=payloads.quarantined
            )
            rows = staging.read_payloads(payloads.path)
            total = payloads.payloads
        else:
            manifest = LoadManifest(self.object_type, source_count=batch.records)
            rows = (row for row in staging.read_payloads(payloads.path) if batch.holds(self.object_type, row))
            total = batch.records
        started = time.monotonic()
        calls_before, retries_before = self.hook.api.calls, self.hook.api.retries
        waited_before = self.hook.limiter.waited_seconds
        quarantined_before = self.ledger.quarantined_ids(self.object_type)
        label = f"load {self.object_type.step}" + (
            f" batch {batch.label}" if batch and batch.count > 1 else ""
        )
        progress = Progress(log, label, total)
        loaded: list[tuple[str, str]] = []
        later: list[tuple[dict, TryLater]] = []
        lock = threading.Lock()
        spend = Spend(self.ledger, self.run_id, self.settings.task, self.hook.api)
        spend.write()  # the try is on record from its start, killed or not

        def settle(row: dict, outcome: Outcome | None, reason: str | None) -> None:
            with lock:
                if outcome is None:
                    manifest.quarantined += 1
                    self.ledger.quarantine(
                        self.object_type, row["source_id"], reason, self.run_id, {"payload_hash": row["hash"]}
                    )
                else:
                    setattr(manifest, outcome.action, getattr(manifest, outcome.action) + 1)
                    loaded.append((row["source_id"], outcome.intercom_id or ""))
                    if row["source_id"] in quarantined_before:
                        self.ledger.resolve_quarantine(self.object_type, row["source_id"])
            progress.advance()
            spend.maybe_write()

        def attempt(row: dict) -> None:
            try:
                outcome = self.load(row)
            except TryLater as wait_for:
                with lock:
                    later.append((row, wait_for))
            except Unloadable as error:
                settle(row, None, str(error))
            except ApiError as error:
                if not refuses_the_record(error):
                    raise
                settle(row, None, f"Intercom answered {error.status} {error.code}: {error.message}")
            else:
                settle(row, outcome, None)

        try:
            for row, outcome in self._skip_unchanged(rows, attempt):
                settle(row, outcome, None)
            for round_number in range(1, LATER_ROUNDS + 1):
                if not later:
                    break
                waiting, later[:] = list(later), []
                ready_at = max(wait_for.ready_at for _, wait_for in waiting)
                delay = (ready_at - datetime.now(UTC)).total_seconds()
                log.info(
                    "%d record(s) wait until %s for Intercom's search to tell what became of them (%s); "
                    "round %d",
                    len(waiting),
                    ready_at,
                    waiting[0][1],
                    round_number,
                )
                if delay > 0:
                    time.sleep(delay)
                for row, outcome in self._skip_unchanged(iter(row for row, _ in waiting), attempt):
                    settle(row, outcome, None)
            if later:
                raise RuntimeError(
                    f"{len(later)} record(s) could not be settled: {later[0][1]}; the next try "
                    "finds them through the ledger"
                )
            self.finish()
        finally:
            spend.write()
        progress.finish()
        manifest.requests = self.hook.api.calls - calls_before
        manifest.retries = self.hook.api.retries - retries_before
        manifest.rate_wait_seconds = round(self.hook.limiter.waited_seconds - waited_before, 3)
        manifest.seconds = round(time.monotonic() - started, 3)
        manifest.notes = dict(self._notes)
        manifest.checksum = load_checksum(loaded)
        return manifest

    def _skip_unchanged(self, rows: Iterator[dict], attempt: Callable[[dict], None]) -> Iterator[tuple]:
        """Yield unchanged rows at once; run the rest on a bounded pool of workers."""
        window = self.settings.concurrency * 4
        with ThreadPoolExecutor(
            self.settings.concurrency, thread_name_prefix=f"load-{self.object_type}"
        ) as pool:
            running: set[Future] = set()
            batch: list[dict] = []

            def flush() -> Iterator[tuple]:
                known = self.ledger.records_for(self.object_type, [row["source_id"] for row in batch])
                unchanged = {
                    row["source_id"] for row in batch if self.unchanged(row, known.get(row["source_id"]))
                }
                self.ledger.mark_unchanged(self.object_type, sorted(unchanged), self.run_id)
                for row in batch:
                    if row["source_id"] in unchanged:
                        yield row, Outcome("unchanged", known[row["source_id"]].intercom_id)
                for row in batch:
                    if row["source_id"] in unchanged:
                        continue
                    while len(running) >= window:
                        done, _ = wait(running, return_when=FIRST_COMPLETED)
                        for future in done:
                            running.discard(future)
                            future.result()
                    running.add(pool.submit(attempt, row))
                batch.clear()

            for row in rows:
                batch.append(row)
                if len(batch) >= 500:
                    yield from flush()
            yield from flush()
            for future in running:
                future.result()
