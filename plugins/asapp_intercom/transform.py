"""From staged feed rows to the payloads a run will send, one Parquet file per Intercom object.

DuckDB does the relational work over the staged Parquet: it keeps the latest version of every row
(ASAPP restates rows in later partitions), picks the run's scope (everything, a delta window, or
a sample) and joins each conversation with its messages, survey answers, parameters and
structured data. Python turns each joined row into a payload (payloads.py) and writes it with a
content hash; the loader compares that hash with the ledger to know what changed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from asapp_intercom.config import RunMode
from asapp_intercom.feeds import FEEDS
from asapp_intercom.ledger import Ledger
from asapp_intercom.mapping import custom_attributes
from asapp_intercom.payloads import (
    Agent,
    ConversationContext,
    Unloadable,
    attachment_payload,
    company_payload,
    contact_payload,
    conversation_payload,
    payload_hash,
    primary_member,
)
from asapp_intercom.staging import Staging, run_key, sql_literal
from asapp_intercom.times import instant

log = logging.getLogger(__name__)

PAYLOAD_SCHEMA = pa.schema([
    ("source_id", pa.string()),
    ("depends_on", pa.string()),
    ("payload", pa.string()),
    ("hash", pa.string()),
])
BATCH_ROWS = 2_000

DELTA_MARK = "delta.migrated_through"
"""Ledger state: the newest staged file and logged event that a complete, successful run migrated."""

REALTIME_FILE = "realtime-events"
"""The `_file` of feed rows made from real-time events; their `_line` is the event's seq in the log."""


@dataclass
class Scope:
    """Which records a run considers: all, a sample, or for a delta run those touched in [since, until)
    plus whatever arrived since the last complete run (a partition completes hours after its window)."""

    mode: RunMode = RunMode.full
    sample_size: int = 100
    since: datetime | None = None
    until: datetime | None = None
    staged_after: datetime | None = None
    events_after: int = 0

    @property
    def windowed(self) -> bool:
        return self.since is not None and self.until is not None


@dataclass
class ObjectManifest:
    object_type: str
    path: str
    source_count: int = 0
    payloads: int = 0
    quarantined: int = 0
    checksum: str = ""


@dataclass
class TransformManifest:
    objects: dict[str, ObjectManifest] = field(default_factory=dict)
    unmatched_agents: list[dict] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)
    delta_mark: dict = field(default_factory=dict)
    """What this run saw (newest staged file, newest event): the mark a complete run moves forward to."""

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TransformManifest:
        return cls(objects={name: ObjectManifest(**item) for name, item in data["objects"].items()},
                   unmatched_agents=data.get("unmatched_agents", []), tag_names=data.get("tag_names", []),
                   delta_mark=data.get("delta_mark", {}))


def partition_start(column: str = "_partition") -> str:
    return (f"strptime(replace(replace(replace({column}, 'dt=', ''), '/hr=', ' '), '/mi=', ':'), "
            "'%Y-%m-%d %H:%M')::TIMESTAMPTZ")


def latest_rows(source: str, partition_by: str, latest_by: str | None = None) -> str:
    """ASAPP's rule: per key, the latest logical time wins, then the latest delivery (partition, file, line)."""
    first = f'"{latest_by}" DESC NULLS LAST, ' if latest_by else ""
    return (f"SELECT * FROM {source} QUALIFY row_number() OVER "
            f"(PARTITION BY {partition_by} ORDER BY {first}_partition DESC, _file DESC, _line DESC) = 1")


def create_feed_views(connection: duckdb.DuckDBPyConnection, staging: Staging) -> None:
    """A `<feed>` view of de-duplicated rows for every feed (an empty one when nothing is staged)."""
    for feed in FEEDS.values():
        directory = staging.raw_feed(feed.name)
        if staging.has_parquet(directory):
            source = f"read_parquet({sql_literal(staging.ref(directory) + '/**/*.parquet')}, union_by_name = true)"
        else:
            columns = ", ".join(f'NULL::{sql_type} AS "{name}"' for name, sql_type in feed.types.items())
            source = (f"(SELECT {columns}, NULL::VARCHAR AS _raw, NULL::BIGINT AS _line, "
                      "NULL::VARCHAR AS _partition, NULL::VARCHAR AS _file WHERE false)")
        keys = ", ".join(f'"{column}"' for column in feed.unique_key)
        connection.execute(f'CREATE OR REPLACE VIEW "{feed.name}" AS {latest_rows(source, keys, feed.latest_by)}')


ENTITY_VIEWS = f"""
CREATE OR REPLACE TEMP VIEW customer_entities AS {latest_rows("customers", "customer_id")};
CREATE OR REPLACE TEMP VIEW company_entities AS {latest_rows("companies", "company_external_id")};
CREATE OR REPLACE TEMP VIEW customer_keys AS
    SELECT customer_id, company_external_id,
        CASE WHEN trim(coalesce(email_address, '')) <> '' THEN 'email:' || lower(trim(email_address))
             ELSE 'customer:' || customer_id END AS contact_key
    FROM customer_entities;
"""


def _changed(scope: Scope, feed: str) -> str:
    """A delta run's test for a feed row: in the window, or arrived since the last complete run."""
    if not scope.windowed:
        return "true"
    return (f"(({partition_start()} >= {sql_literal(scope.since.isoformat())}::TIMESTAMPTZ AND "
            f"{partition_start()} < {sql_literal(scope.until.isoformat())}::TIMESTAMPTZ) "
            f"OR (_partition, _file) IN (SELECT partition, file FROM fresh_files WHERE feed = {sql_literal(feed)}) "
            f"OR (_file = {sql_literal(REALTIME_FILE)} AND _line > {int(scope.events_after)}))")


def _scope_sql(scope: Scope) -> str:
    """Temp tables scope_issues, scope_contacts, scope_companies for the run."""
    all_issues = """SELECT issue_id FROM convos_metadata UNION SELECT issue_id FROM utterances"""
    if scope.mode is RunMode.sample:
        issues = (f"SELECT issue_id FROM ({all_issues}) ORDER BY md5(issue_id::VARCHAR) "
                  f"LIMIT {int(scope.sample_size)}")
    elif scope.windowed:
        issues = " UNION ".join(f"SELECT {column} FROM {feed} WHERE {_changed(scope, feed)}" for feed, column in (
            ("convos_metadata", "issue_id"), ("utterances", "issue_id"), ("customer_feedback", "issue_id"),
            ("customer_params", "issue_id"), ("file_uploads", "issue_id"),
            ("autosummary_structured_data", "TRY_CAST(external_conversation_id AS BIGINT)")))
    else:
        issues = all_issues
    issue_customers = """SELECT customer_id FROM convos_metadata WHERE issue_id IN (SELECT issue_id FROM scope_issues)
                         UNION SELECT sender_id FROM utterances
                         WHERE sender_type = 'customer' AND issue_id IN (SELECT issue_id FROM scope_issues)"""
    if scope.mode is RunMode.sample:
        customers = issue_customers
    elif scope.windowed:
        customers = f"{issue_customers} UNION SELECT customer_id FROM customers WHERE {_changed(scope, 'customers')}"
    else:
        customers = "SELECT customer_id FROM customer_entities"
    contact_companies = """SELECT company_external_id FROM customer_keys
                           WHERE contact_key IN (SELECT contact_key FROM scope_contacts)"""
    if scope.mode is RunMode.sample:
        companies = contact_companies
    elif scope.windowed:
        companies = (f"{contact_companies} UNION SELECT company_external_id FROM companies "
                     f"WHERE {_changed(scope, 'companies')}")
    else:
        companies = "SELECT company_external_id FROM company_entities"
    return f"""
        CREATE OR REPLACE TEMP TABLE scope_issues AS SELECT DISTINCT issue_id FROM ({issues}) t(issue_id)
            WHERE issue_id IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE scope_contacts AS SELECT DISTINCT contact_key FROM customer_keys
            WHERE customer_id IN ({customers});
        CREATE OR REPLACE TEMP TABLE scope_companies AS SELECT DISTINCT company_external_id
            FROM ({companies}) t(company_external_id) WHERE company_external_id IS NOT NULL;
    """


CONVERSATIONS_SQL = """
WITH msgs AS (
    SELECT issue_id, list(struct_pack(
            key := coalesce(event_uuid, concat(strftime(created_ts, '%Y-%m-%dT%H:%M:%S.%f'), '/', sender_type, '/',
                                               sender_id)),
            created_ts := created_ts, sender_type := sender_type, sender_id := sender_id::VARCHAR,
            utterance := utterance) ORDER BY created_ts, event_uuid) AS messages
    FROM utterances WHERE issue_id IN (SELECT issue_id FROM scope_issues) GROUP BY issue_id
), feedback_lists AS (
    SELECT issue_id, list(struct_pack(question := question, answer := answer) ORDER BY instance_ts) AS feedback
    FROM customer_feedback WHERE issue_id IN (SELECT issue_id FROM scope_issues) GROUP BY issue_id
), params_lists AS (
    SELECT issue_id, list(struct_pack(param_key := param_key, param_value := param_value) ORDER BY event_ts) AS params
    FROM customer_params WHERE issue_id IN (SELECT issue_id FROM scope_issues) GROUP BY issue_id
), structured_lists AS (
    SELECT TRY_CAST(external_conversation_id AS BIGINT) AS issue_id,
        list(struct_pack(field_id := structured_data_field_id, value := structured_data_field_value)
             ORDER BY structured_data_ts) AS structured
    FROM autosummary_structured_data
    WHERE TRY_CAST(external_conversation_id AS BIGINT) IN (SELECT issue_id FROM scope_issues) GROUP BY 1
)
SELECT s.issue_id, m.* EXCLUDE (issue_id), msgs.messages, feedback_lists.feedback, params_lists.params,
    structured_lists.structured,
    k.contact_key
FROM scope_issues s
LEFT JOIN convos_metadata m USING (issue_id)
LEFT JOIN msgs USING (issue_id)
LEFT JOIN feedback_lists USING (issue_id)
LEFT JOIN params_lists USING (issue_id)
LEFT JOIN structured_lists USING (issue_id)
LEFT JOIN customer_keys k ON k.customer_id = coalesce(m.customer_id,
    TRY_CAST(list_filter(msgs.messages, lambda x: x.sender_type = 'customer')[1].sender_id AS BIGINT))
ORDER BY s.issue_id
"""

CONTACTS_SQL = """
SELECT k.contact_key, list(c ORDER BY c.customer_id) AS members
FROM customer_entities c JOIN customer_keys k USING (customer_id)
WHERE k.contact_key IN (SELECT contact_key FROM scope_contacts)
GROUP BY k.contact_key ORDER BY k.contact_key
"""

COMPANIES_SQL = """
SELECT * FROM company_entities WHERE company_external_id IN (SELECT company_external_id FROM scope_companies)
ORDER BY company_external_id
"""

ATTACHMENTS_SQL = """
SELECT f.*, u.sender_id, k.contact_key,
    CASE WHEN m.conversation_end_ts IS NULL THEN 'open' ELSE 'closed' END AS conversation_state
FROM file_uploads f
LEFT JOIN utterances u ON u.event_uuid = f.event_uuid AND u.issue_id = f.issue_id
LEFT JOIN convos_metadata m ON m.issue_id = f.issue_id
LEFT JOIN customer_keys k ON k.customer_id = coalesce(m.customer_id, f.customer_id)
WHERE f.issue_id IN (SELECT issue_id FROM scope_issues) ORDER BY f.issue_id, f.file_upload_ts, f.file_upload_event_id
"""

AGENTS_SQL = """
SELECT r.rep_id, r.name, e.attribute_value AS email FROM reps r
LEFT JOIN (SELECT rep_id, attribute_value FROM rep_attributes WHERE lower(attribute_name) = 'email'
           QUALIFY row_number() OVER (PARTITION BY rep_id ORDER BY created_ts DESC, _partition DESC) = 1) e
USING (rep_id)
"""


def _register_fresh_files(connection: duckdb.DuckDBPyConnection, ledger: Ledger, scope: Scope) -> dict:
    """Register the files staged since the last complete run; return the mark this run could move to."""
    fresh, newest = [], None
    for feed in FEEDS:
        for row in ledger.staged(feed):
            staged_at = instant(row.staged_at)
            newest = max(newest, staged_at) if newest else staged_at
            if scope.staged_after is None or staged_at > scope.staged_after:
                fresh.append((feed, row.partition, row.file_name))
    connection.register("fresh_files", pa.table(
        {name: [item[index] for item in fresh] for index, name in enumerate(("feed", "partition", "file"))},
        schema=pa.schema([("feed", pa.string()), ("partition", pa.string()), ("file", pa.string())])))
    return {"staged_at": newest.isoformat() if newest else None, "event_seq": ledger.event_summary()[1]}


def agents_directory(connection: duckdb.DuckDBPyConnection, admins: list[dict]) -> dict[str, Agent]:
    """Every ASAPP agent with the Intercom admin whose email matches theirs, if any."""
    by_email = {(admin.get("email") or "").lower(): str(admin["id"]) for admin in admins if admin.get("email")}
    agents = {}
    for rep_id, name, email in connection.execute(AGENTS_SQL).fetchall():
        agents[str(rep_id)] = Agent(str(rep_id), name, email, by_email.get((email or "").lower()) if email else None)
    return agents


class PayloadWriter:
    """Streams payload rows into one Parquet file of the run, a batch at a time (memory stays flat however
    many records there are), with a checksum of what it holds. The file is published only when complete."""

    def __init__(self, staging: Staging, manifest: ObjectManifest):
        self.staging = staging
        self.manifest = manifest
        self.pending: list[tuple[str, str | None, str, str]] = []
        self.digest = hashlib.sha256()
        self._open = ExitStack()

    def __enter__(self) -> PayloadWriter:
        local = self._open.enter_context(self.staging.publish(self.staging.root / self.manifest.path))
        self._file = self._open.enter_context(pq.ParquetWriter(local, PAYLOAD_SCHEMA, compression="zstd"))
        return self

    def add(self, source_id: str, depends_on: str | None, payload: dict) -> None:
        digest = payload_hash(payload)
        self.pending.append((source_id, depends_on, orjson.dumps(payload).decode(), digest))
        self.digest.update(f"{source_id}:{digest}\n".encode())
        self.manifest.payloads += 1
        if len(self.pending) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            columns = [list(column) for column in zip(*self.pending, strict=True)]
            self._file.write_batch(pa.record_batch(columns, schema=PAYLOAD_SCHEMA))
            self.pending = []

    def __exit__(self, *failure) -> None:
        if failure[0] is None:
            self._flush()
            self.manifest.checksum = self.digest.hexdigest()
            log.info("%s: %d in scope, %d payloads, %d quarantined", self.manifest.object_type,
                     self.manifest.source_count, self.manifest.payloads, self.manifest.quarantined)
        self._open.__exit__(*failure)


def read_payloads(staging: Staging, path: str) -> Iterator[dict]:
    """The payload rows of one object (path relative to the staging root), batch by batch, decoded."""
    with (staging.root / path).open("rb") as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS):
            for row in batch.to_pylist():
                row["payload"] = orjson.loads(row["payload"])
                yield row


def _stream(connection: duckdb.DuckDBPyConnection, sql: str) -> Iterator[dict]:
    reader = connection.sql(sql).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        yield from batch.to_pylist()


def _build(rows: Iterator[dict], writer: PayloadWriter, ledger: Ledger, run_id: str, object_type: str,
           source_id: Callable[[dict], str], build: Callable[[dict], tuple[str | None, dict]]) -> None:
    manifest = writer.manifest
    for row in rows:
        manifest.source_count += 1
        identity = source_id(row)
        try:
            depends_on, payload = build(row)
        except Unloadable as error:
            manifest.quarantined += 1
            ledger.quarantine(object_type, identity, str(error), run_id)
            continue
        writer.add(identity, depends_on, payload)


def transform(staging: Staging, ledger: Ledger, run_id: str, scope: Scope, context: ConversationContext,
              admins: list[dict]) -> TransformManifest:
    """Write companies, contacts, conversations and attachments payloads for the run's scope."""
    payloads_dir = f"runs/{run_key(run_id)}/payloads"
    result = TransformManifest()
    connection = staging.connect()
    try:
        create_feed_views(connection, staging)
        connection.execute(ENTITY_VIEWS)
        result.delta_mark = _register_fresh_files(connection, ledger, scope)
        connection.execute(_scope_sql(scope))
        context.agents = agents_directory(connection, admins)

        def writer(object_type: str) -> PayloadWriter:
            manifest = ObjectManifest(object_type, f"{payloads_dir}/{object_type}.parquet")
            result.objects[object_type] = manifest
            return PayloadWriter(staging, manifest)

        def write(object_type: str, sql: str, source_id, build) -> None:
            with writer(object_type) as payloads:
                _build(_stream(connection, sql), payloads, ledger, run_id, object_type, source_id, build)

        company_entries = custom_attributes(context.entries, "company")
        contact_entries = custom_attributes(context.entries, "contact")
        write("company", COMPANIES_SQL, lambda row: row["company_external_id"],
              lambda row: (None, company_payload(row, company_entries)))
        write("contact", CONTACTS_SQL, lambda row: row["contact_key"],
              lambda row: (primary_member(row["members"]).get("company_external_id"),
                           contact_payload(row["members"], contact_entries)))

        tag_names: set[str] = set()

        def conversation(row: dict) -> tuple[str | None, dict]:
            if row.get("contact_key") is None:
                raise Unloadable(f"its customer ({row.get('customer_id')}) is not in the customers feed")
            payload = conversation_payload(row, context)
            if payload["unmatched_agent"]:
                result.unmatched_agents.append(payload["unmatched_agent"])
            if payload["tags"]:
                tags.manifest.source_count += 1
                tags.add(str(row["issue_id"]), str(row["issue_id"]), {"tags": payload["tags"]})
                tag_names.update(payload["tags"])
            return row["contact_key"], payload

        with writer("conversation") as conversations, writer("conversation_tags") as tags:
            _build(_stream(connection, CONVERSATIONS_SQL), conversations, ledger, run_id, "conversation",
                   lambda row: str(row["issue_id"]), conversation)
        write("attachment", ATTACHMENTS_SQL, lambda row: row["file_upload_event_id"],
              lambda row: (str(row["issue_id"]), attachment_payload(row, row.get("contact_key"), context)))
        result.tag_names = sorted(tag_names)
    finally:
        connection.close()
    result.unmatched_agents = sorted({agent["rep_id"]: agent for agent in result.unmatched_agents}.values(),
                                     key=lambda agent: agent["rep_id"])
    return result

