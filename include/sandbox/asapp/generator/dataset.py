"""One generation run: the batch window hour by hour, then the real-time window, then the manifest.

Conversations are simulated in start order; before each hour, every partition that hour can no
longer receive rows is completed, so the tree is written in time order and only a few hours of
partitions are ever open.
"""

import dataclasses
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from . import autosummary, clock
from .conversations import ISSUE_ID_BASE, Conversation, Opening, Upload, build, orphan_upload
from .entities import derive_company, invalid_website
from .feeds import FEEDS
from .filemess import FileMess
from .manifest import SpillList, write_json
from .mess import Mess
from .options import Options
from .randomness import stream
from .realtime import ACTIVITY, JOURNEY, RealtimeLog
from .rows import Row, RowFactory
from .world import World
from .writer import PartitionWriter, partition_path

MANIFEST = "_manifest.json"
SCRATCH = ".generator-scratch"
REALTIME_LOG = Path("_realtime") / "events.jsonl"
SEGMENTS = Path("_config") / "segments.json"
ATTACHMENTS = "_attachments"
CONVERSATION_MESS = (
    Mess.RESTATED_CONVERSATIONS,
    Mess.LATE_CSAT,
    Mess.RESUMED_CONVERSATIONS,
    Mess.MULTIPLE_COMPANY_SEGMENTS,
    Mess.ALTERNATE_TIMESTAMPS,
    Mess.LONG_CONVERSATIONS,
    Mess.NUMBERS_AS_STRINGS,
    Mess.OVERLONG_VALUES,
    Mess.BAD_ATTRIBUTE_VALUES,
)
UNPUBLISHED_ISSUE_ID = 29_100_001
"""issue_id of the phantom conversation in the partition ASAPP never finished (unpublished_partitions)."""
UNPUBLISHED_FEEDS = ("convos_metadata", "utterances")
RECORDED_IN = {
    Mess.RESTATED_CONVERSATIONS: "convos_metadata",
    Mess.LATE_CSAT: "customer_feedback",
    Mess.RESUMED_CONVERSATIONS: "utterances",
    Mess.MULTIPLE_COMPANY_SEGMENTS: "convos_metadata",
    Mess.ALTERNATE_TIMESTAMPS: "convos_metadata",
    Mess.LONG_CONVERSATIONS: "utterances",
    Mess.UNICODE_TEXT: "utterances",
    Mess.HTML_LIKE_TEXT: "utterances",
    Mess.UNUSUAL_ATTACHMENTS: "file_uploads",
    Mess.RESTATED_CUSTOMERS: "customers",
    Mess.EMAIL_CASE_DUPLICATES: "customers",
    Mess.AGENTS_WITHOUT_EMAIL: "rep_attributes",
    Mess.CHANGED_REPS: "reps",
    Mess.SCHEMA_DRIFT: "utterances",
    Mess.NUMBERS_AS_STRINGS: "convos_metadata",
    Mess.INVALID_EMAILS: "customers",
    Mess.INVALID_WEBSITES: "companies",
    Mess.COLLIDING_EXTERNAL_IDS: "customers",
    Mess.OVERLONG_VALUES: "convos_metadata",
    Mess.BAD_ATTRIBUTE_VALUES: "convos_metadata",
    Mess.DANGLING_CUSTOMERS: "convos_metadata",
    Mess.DANGLING_COMPANIES: "customers",
    Mess.ORPHAN_UPLOADS: "file_uploads",
    Mess.MISSING_ATTACHMENT_BINARIES: "file_uploads",
    Mess.EMPTY_MESSAGES: "utterances",
    Mess.PADDED_TEXT: "utterances",
    Mess.VERY_LONG_MESSAGES: "utterances",
    Mess.UNKNOWN_SENDER_TYPES: "utterances",
    Mess.UNKNOWN_AGENTS: "utterances",
}
"""The feed a record-level case shows in: with --without-feed that feed, the case is not listed."""


def generate(options: Options) -> dict:
    """Write the dataset to options.out and return its manifest summary (without the long lists)."""
    _prepare(options.out, options.overwrite)
    run = _Run(options)
    run.batch()
    run.realtime_window()
    return run.finish()


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        generated_before = (out / MANIFEST).exists() or (out / SCRATCH).exists()
        if not (overwrite and generated_before):
            raise FileExistsError(
                f"{out} is not empty; pass --overwrite to replace a dataset generated before"
                if generated_before
                else f"{out} is not empty and holds no generated dataset; choose another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


class _Run:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.out = options.out
        self.world = world = World(options)
        self.feeds = {name: spec for name, spec in FEEDS.items() if name not in options.without_feeds}
        scratch = self.out / SCRATCH
        scratch.mkdir()
        self.mess_ids = {kind: SpillList(scratch / f"mess-{kind}.jsonl") for kind in Mess}
        self.files = {feed: SpillList(scratch / f"files-{feed}.jsonl") for feed in self.feeds}
        self.continued = SpillList(scratch / "continued.jsonl")
        self.openings = {
            kind: SpillList(scratch / f"opening-{kind}.jsonl")
            for kind in Opening
            if kind is not Opening.CUSTOMER
        }
        self.rows_written: Counter[str] = Counter()
        self.attachment_files = self.attachment_bytes = 0
        window = (world.batch_start, world.batch_end)
        dresser = FileMess(
            world.mess,
            world.seed,
            self.out,
            self.feeds,
            window,
            options.max_rows_per_file,
            world.outages,
            world.realtime_end,
            self.note,
        )
        self.writer = PartitionWriter(
            self.out, self.feeds, window, options.max_rows_per_file, self._file_written, dresser
        )
        self.rows = RowFactory(world)
        self.realtime = RealtimeLog(world)
        self.realtime_lines = 0
        if world.drift:
            self.note(
                Mess.SCHEMA_DRIFT,
                {
                    "feed": world.drift.feed,
                    "column": world.drift.column,
                    "first_partition": partition_path(world.drift.feed, world.drift.starts_at),
                },
            )
        for outage in world.outages:
            for feed, spec in self.feeds.items():
                if spec.sync == "1h":
                    self.mess_ids[Mess.EMPTY_PARTITIONS].append(partition_path(feed, outage))

    def note(self, kind: Mess, case: Any) -> None:
        """List a mess case in the manifest, unless it would show only in a feed the dataset does not have."""
        if RECORDED_IN.get(kind, "") not in self.options.without_feeds:
            self.mess_ids[kind].append(case)

    def _file_written(self, feed: str, path: str, rows: int) -> None:
        self.files[feed].append({"path": path, "rows": rows})
        self.rows_written[feed] += rows

    def emit(self, row: Row, drift_value: str | None = None) -> None:
        """Write a row unless it falls in the real-time window (the batch holds nothing from there)."""
        feed, at, values = row
        if at >= self.world.batch_end or feed not in self.feeds:
            return
        drift = self.world.drift
        if drift and feed == drift.feed and at >= drift.starts_at:
            values[drift.column] = drift_value
        self.writer.write(feed, at, orjson.dumps(values) + b"\n")

    # -- batch window ---------------------------------------------------------------------------

    def batch(self) -> None:
        world = self.world
        starts = world.batch_starts()
        pending = next(starts, None)
        for hour in range(world.days * 24):
            now = world.batch_start + hour * clock.HOUR
            self.writer.complete_before(now)
            if hour % 24 == 0:
                self._day(now)
            while pending is not None and pending.at < now + clock.HOUR:
                self._conversation(build(world, pending.index, pending.at, pending.open_at_boundary))
                pending = next(starts, None)
        self.writer.complete_before(world.batch_end)
        self.unpublished()

    def _day(self, day: int) -> None:
        """The daily snapshots: reps (and their attributes when new or changed), config, companies."""
        world, first_day = self.world, day == self.world.batch_start
        for rep in world.roster:
            self.emit(self.rows.rep_snapshot(rep, day))
            if first_day:
                for row in self.rows.rep_attributes(rep, day):
                    self.emit(row)
                if not rep.has_email:
                    self.note(Mess.AGENTS_WITHOUT_EMAIL, rep.rep_id)
            elif rep.change and rep.change.at == day:
                for row in self.rows.rep_attributes(rep, day, names=("companygroup",)):
                    self.emit(row)
                self.note(Mess.CHANGED_REPS, rep.rep_id)
        for row in self.rows.structured_data_config(day):
            self.emit(row)
        if first_day:
            for index in range(world.company_count):
                company = derive_company(world.seed, index, world.batch_start)
                if world.mess.picks(Mess.INVALID_WEBSITES, index, world.company_count):
                    website = invalid_website(stream(world.seed, "invalid-website", index), company)
                    company = dataclasses.replace(company, website=website)
                    self.note(Mess.INVALID_WEBSITES, company.external_id)
                self.emit(self.rows.company_row(company, day))

    def _conversation(self, c: Conversation) -> None:
        for row in self.rows.conversation_rows(c):
            self.emit(row, drift_value=c.language)
        if c.new_customer:
            self._new_customer(c)
        self._attachments(c)
        self._opening(c)
        batch_end = self.world.batch_end
        for kind in CONVERSATION_MESS:
            if kind in c.mess:
                self.note(kind, c.issue_id)
        for message in c.messages:
            if message.mess and message.at < batch_end:
                self.note(message.mess, message.event_uuid)
            if message.upload and message.upload.unusual and message.at < batch_end:
                self.note(Mess.UNUSUAL_ATTACHMENTS, message.upload.event_id)
        if c.unknown_agent is not None and c.assignments and c.assignments[0].at < batch_end:
            self.note(Mess.UNKNOWN_AGENTS, c.unknown_agent.rep_id)
        if Mess.ORPHAN_UPLOADS in c.mess:
            issue_id, upload, event_uuid = orphan_upload(self.world, c, c.issue_id - ISSUE_ID_BASE)
            self.emit(self.rows.orphan_upload_row(issue_id, c.customer.customer_id, upload, event_uuid))
            self._binary(upload)
            self.note(Mess.ORPHAN_UPLOADS, upload.event_id)
        if self.realtime.add_conversation(c):
            self.continued.append(c.issue_id)

    def _new_customer(self, c: Conversation) -> None:
        world, customer, customers = self.world, c.customer, self.world.customers
        if customers.is_dangling(customer.index):
            self.note(Mess.DANGLING_CUSTOMERS, c.issue_id)  # the conversation's customer is never exported
            return
        self.emit(self.rows.customer_row(customer, c.start, first_seen=c.start))
        if customers.is_email_twin(customer.index):
            self.note(Mess.EMAIL_CASE_DUPLICATES, [customer.customer_id - 1, customer.customer_id])
        if customers.is_collider(customer.index):
            self.note(Mess.COLLIDING_EXTERNAL_IDS, [customer.customer_id - 1, customer.customer_id])
        for kind in customers.kinds(customer.index) & {Mess.INVALID_EMAILS, Mess.DANGLING_COMPANIES}:
            self.note(kind, customer.customer_id)
        if world.mess.picks(Mess.RESTATED_CUSTOMERS, customer.index, world.customers.count):
            rng = stream(world.seed, "customer-restated-day", customer.index)
            later = clock.floor(c.start, clock.DAY) + rng.randint(1, 2) * clock.DAY + rng.randrange(clock.DAY)
            if later >= world.batch_end:
                later -= clock.DAY
            if clock.floor(later, clock.DAY) > clock.floor(c.start, clock.DAY) and later < world.batch_end:
                self.emit(self.rows.customer_row(customer, later, first_seen=c.start, restated=True))
                self.note(Mess.RESTATED_CUSTOMERS, customer.customer_id)

    def _opening(self, c: Conversation) -> None:
        if c.opening is not Opening.CUSTOMER:
            self.openings[c.opening].append(c.issue_id)

    def _attachments(self, c: Conversation) -> None:
        """Binaries of every upload a batch row or a real-time event mentions (missing_attachment_binaries
        aside)."""
        for message in c.messages:
            upload = message.upload
            if upload is None or upload.at >= self.world.realtime_end:
                continue
            if upload.missing and upload.at < self.world.batch_end:
                self.note(Mess.MISSING_ATTACHMENT_BINARIES, upload.event_id)
            else:
                self._binary(upload)

    def _binary(self, upload: Upload) -> None:
        folder = self.out / ATTACHMENTS
        folder.mkdir(exist_ok=True)
        with open(folder / upload.event_id, "wb") as binary:
            binary.writelines(upload.attachment.parts)
        self.attachment_files += 1
        self.attachment_bytes += upload.attachment.size

    def unpublished(self) -> None:
        """The last day's 23:30 delivery that ASAPP never finished: a phantom conversation and no _SUCCESS."""
        world = self.world
        feeds = [feed for feed in UNPUBLISHED_FEEDS if feed in self.feeds]
        if not world.mess.enabled or not feeds:
            return
        half_hour = world.batch_end - 30 * clock.MINUTE
        at = half_hour + stream(world.seed, "unpublished").randint(60, 600) * clock.SECOND
        phantom = build(
            world,
            world.conversations + world.realtime_only_count,
            at,
            realtime_only=True,
            issue_id=UNPUBLISHED_ISSUE_ID,
        )
        lines: dict[str, list[bytes]] = {feed: [] for feed in feeds}
        drift = world.drift
        for feed, moment, values in self.rows.conversation_rows(phantom):
            if feed in lines and half_hour <= moment < world.batch_end:
                if drift and feed == drift.feed and moment >= drift.starts_at:
                    values[drift.column] = phantom.language
                lines[feed].append(orjson.dumps(values) + b"\n")
        for feed, content in lines.items():
            relative = partition_path(feed, half_hour).removesuffix("/mi=00") + "/mi=30"
            folder = self.out / relative
            folder.mkdir(parents=True)
            (folder / f"{feed}.jsonl").write_bytes(b"".join(content))
            self.note(Mess.UNPUBLISHED_PARTITIONS, relative)

    # -- real-time window -----------------------------------------------------------------------

    def realtime_window(self) -> None:
        world = self.world
        for number, at in enumerate(world.realtime_starts()):
            # the first one always sends a file, so the window always shows FILE_UPLOAD_DETECTED
            c = build(world, world.conversations + number, at, realtime_only=True, sends_file=number == 0)
            self.realtime.add_conversation(c)
            self._attachments(c)
            self._opening(c)
            self.note(Mess.REALTIME_ONLY_CONVERSATIONS, c.issue_id)
        for rep in world.roster:
            self.realtime.add_activity(rep)
        self.realtime_lines = self.realtime.write(
            self.out / REALTIME_LOG,
            duplicated=self.mess_ids[Mess.DUPLICATE_DELIVERIES].append,
            malformed=self.mess_ids[Mess.MALFORMED_EVENTS].append,
        )

    # -- manifest -------------------------------------------------------------------------------

    def finish(self) -> dict:
        world = self.world
        segments_path = self.out / SEGMENTS
        segments_path.parent.mkdir(exist_ok=True)
        segments_path.write_bytes(
            orjson.dumps(
                [s.as_config() for s in autosummary.segments(world.company)], option=orjson.OPT_INDENT_2
            )
        )
        counts = self.realtime.counts
        summary = {
            "generator": "include.sandbox.asapp.generator",
            "arguments": self.options.as_manifest(),
            "company": world.company,
            "batch_window": {
                "start": clock.feed_ts(world.batch_start),
                "end": clock.feed_ts(world.batch_end),
            },
            "realtime_window": {
                "start": clock.feed_ts(world.batch_end),
                "end": clock.feed_ts(world.realtime_end),
            },
            "entities": {
                "conversations": world.conversations,
                "realtime_only_conversations": world.realtime_only_count,
                "customers": world.customers.count,
                "companies": world.company_count,
                "reps": len(world.roster),
                "utterances": self.rows_written["utterances"],
                "file_uploads": self.rows_written["file_uploads"],
                "attachments": self.attachment_files,
            },
            "attachments": {"files": self.attachment_files, "bytes": self.attachment_bytes},
            "realtime": {
                "path": str(REALTIME_LOG),
                "lines": self.realtime_lines,
                "events": len(self.realtime.events),
                "journey_events": counts[JOURNEY],
                "activity_events": counts[ACTIVITY],
                "text_messages": counts["TEXT_MESSAGE"],
            },
        }
        manifest = {
            **summary,
            "feeds": {
                name: {
                    "sync_time": spec.sync,
                    "documented": spec.documented,
                    "unique_key": list(spec.unique_key),
                    "rows": self.rows_written[name],
                    "partitions": world.days * (24 if spec.sync == "1h" else 1),
                    "files": self.files[name],
                }
                for name, spec in self.feeds.items()
            },
            "realtime_continued_issue_ids": self.continued,
            "openings": {kind.value: ids for kind, ids in self.openings.items()},
            "mess": {kind.value: self.mess_ids[kind] for kind in Mess},
        }
        write_json(self.out / MANIFEST, manifest)
        shutil.rmtree(self.out / SCRATCH)
        return {
            **summary,
            "rows": dict(sorted(self.rows_written.items())),
            "openings": {kind.value: ids.count for kind, ids in self.openings.items()},
            "mess": {kind.value: ids.count for kind, ids in self.mess_ids.items()},
        }
