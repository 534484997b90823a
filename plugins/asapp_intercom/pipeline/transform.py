"""From staged feed rows to the payloads a run will send, one Parquet file per Intercom object.

DuckDB does the relational work over the staged Parquet: it keeps the latest version of every row
(ASAPP restates rows in later partitions), picks the run's scope (everything, a delta window, or
a sample) and joins each conversation with its messages, survey answers, parameters and
structured data. Python turns each joined row into a payload (payloads.py) and writes it with a
content hash; the loader compares that hash with the ledger to know what changed.
"""

from __future__ import annotations

import json
import logging
import tempfile
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from asapp_intercom.domain.feeds import FEEDS, Partition
from asapp_intercom.domain.manifests import ObjectManifest, TransformManifest
from asapp_intercom.domain.mapping import custom_attributes
from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.domain.payloads import (
    EMAIL_PATTERN,
    Agent,
    ConversationContext,
    FieldIssue,
    Unloadable,
    agents_without_admin,
    attachment_payload,
    company_payload,
    contact_payload,
    conversation_payload,
    primary_member,
    raw_keys,
    spoken_messages,
)
from asapp_intercom.domain.run_form import RunMode, Scope
from asapp_intercom.domain.staged import FILE, LINE, PARTITION, RAW, REALTIME_FILE, latest_rows
from asapp_intercom.domain.times import instant
from asapp_intercom.ledger import Ledger
from asapp_intercom.ledger.state import DeltaMark, PayloadHashing
from asapp_intercom.pipeline.progress import Heartbeat, Progress
from asapp_intercom.pipeline.staging import (
    BATCH_ROWS,
    PayloadWriter,
    Staging,
    release_freed_memory,
    sql_literal,
)

log = logging.getLogger(__name__)


FIRST_SEEN = "floor(coalesce(epoch(first_seen_ts), 0))::BIGINT"
"""When a customer was first seen, in whole seconds: among the customers sharing an email, the earliest seen
(then the lowest id) speaks for the contact (payloads.primary_member)."""

ENTITY_TABLES = f"""
CREATE OR REPLACE TEMP VIEW customer_entities AS {latest_rows("delivered_customers", ["customer_id"])};
CREATE OR REPLACE TEMP VIEW company_entities AS {latest_rows("delivered_companies", ["company_external_id"])};
CREATE OR REPLACE TEMP TABLE customer_keys AS
    SELECT customer_id, company_external_id, external_customer_id,
        {FIRST_SEEN} AS first_seen,
        CASE WHEN regexp_full_match(lower(trim(coalesce(email_address, ''))), {sql_literal(EMAIL_PATTERN)})
             THEN 'email:' || lower(trim(email_address)) ELSE 'customer:' || customer_id END AS contact_key
    FROM customer_entities;
CREATE OR REPLACE TEMP TABLE contact_owners AS
    WITH primaries AS (
        SELECT contact_key, external_customer_id, first_seen, customer_id FROM customer_keys
        QUALIFY row_number() OVER (PARTITION BY contact_key ORDER BY first_seen, customer_id) = 1),
    owners AS (
        SELECT contact_key, first_value(contact_key) OVER (
            PARTITION BY external_customer_id ORDER BY first_seen, customer_id) AS owner
        FROM primaries WHERE coalesce(external_customer_id, '') <> '')
    SELECT contact_key, owner FROM owners WHERE owner <> contact_key;
CREATE OR REPLACE TEMP TABLE known_issues AS
    SELECT issue_id FROM delivered_convos_metadata UNION SELECT issue_id FROM delivered_utterances;
"""
"""Read once, narrow, as tables: every customer's contact key (and what picks a contact's primary member),
who owns each contact's external id when another contact does, and every issue id the conversation feeds
know. Later statements join these rather than the feed views, each of which de-duplicates its whole feed:
at two million conversations a statement nesting several of them overran DuckDB's memory limit. Customers
and companies are de-duplicated in one pass over every delivered version: their feeds have no logical time
(`latest_by`), so an id's latest delivery is the latest of its daily rows' latest deliveries: the row that
de-duplicating the feed view again by id would choose.
"""


def _changed(scope: Scope, feed: str) -> str:
    """A delta run's test for a feed row: in the window, or arrived since the last complete run."""
    if not scope.windowed:
        return "true"
    starts = Partition.start_sql(PARTITION)
    return (
        f"(({starts} >= {sql_literal(scope.since.isoformat())}::TIMESTAMPTZ AND "
        f"{starts} < {sql_literal(scope.until.isoformat())}::TIMESTAMPTZ) "
        f"OR ({PARTITION}, {FILE}) IN (SELECT partition, file FROM fresh_files WHERE feed = "
        f"{sql_literal(feed)}) "
        f"OR ({FILE} = {sql_literal(REALTIME_FILE)} AND {LINE} > {int(scope.events_after)}))"
    )


def _scope_sql(scope: Scope) -> str:
    """Temp tables scope_issues, scope_contacts, scope_companies and scope_uploads for the run. A delta or a
    sample picks its records by every delivered version of their rows, not only the latest: a record a
    superseded version brings in is transformed again to the same payload, which the load leaves alone.
    Uploads whose conversation is in no feed, or that name none, are in scope (but not in a sample's), to
    be quarantined with that reason."""
    if scope.mode is RunMode.sample:
        issues = (
            "SELECT issue_id FROM known_issues ORDER BY md5(issue_id::VARCHAR) "
            f"LIMIT {int(scope.sample_size)}"
        )
    elif scope.windowed:
        issues = " UNION ".join(
            f"SELECT {column} FROM delivered_{feed} WHERE {_changed(scope, feed)}"
            for feed, column in (
                ("convos_metadata", "issue_id"),
                ("utterances", "issue_id"),
                ("customer_feedback", "issue_id"),
                ("customer_params", "issue_id"),
                ("file_uploads", "issue_id"),
                ("autosummary_structured_data", "TRY_CAST(external_conversation_id AS BIGINT)"),
            )
        )
    else:
        issues = "SELECT issue_id FROM known_issues"
    issue_customers = """
        SELECT customer_id FROM delivered_convos_metadata
        WHERE issue_id IN (SELECT issue_id FROM scope_issues)
        UNION SELECT sender_id FROM delivered_utterances
        WHERE sender_type = 'customer' AND issue_id IN (SELECT issue_id FROM scope_issues)"""
    if scope.mode is RunMode.sample:
        customers = issue_customers
    elif scope.windowed:
        customers = (
            f"{issue_customers} UNION SELECT customer_id FROM delivered_customers "
            f"WHERE {_changed(scope, 'customers')}"
        )
    else:
        customers = None
    contact_companies = """SELECT company_external_id FROM customer_keys
                           WHERE contact_key IN (SELECT contact_key FROM scope_contacts)"""
    if scope.mode is RunMode.sample:
        companies = contact_companies
    elif scope.windowed:
        companies = (
            f"{contact_companies} UNION SELECT company_external_id FROM delivered_companies "
            f"WHERE {_changed(scope, 'companies')}"
        )
    else:
        companies = "SELECT company_external_id FROM company_entities"
    orphans = "false" if scope.mode is RunMode.sample else _changed(scope, "file_uploads")
    return f"""
        CREATE OR REPLACE TEMP TABLE scope_issues AS SELECT DISTINCT issue_id FROM ({issues}) t(issue_id)
            WHERE issue_id IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE scope_contacts AS SELECT DISTINCT contact_key FROM customer_keys
            WHERE {f"customer_id IN ({customers})" if customers else "true"};
        CREATE OR REPLACE TEMP TABLE scope_companies AS SELECT DISTINCT company_external_id
            FROM ({companies}) t(company_external_id) WHERE company_external_id IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE scope_uploads AS
            SELECT f.*, k.issue_id IS NOT NULL AS issue_known FROM file_uploads f
            LEFT JOIN known_issues k ON k.issue_id = f.issue_id
            WHERE f.issue_id IN (SELECT issue_id FROM scope_issues) OR (k.issue_id IS NULL AND {orphans});
    """


BY_ISSUE = {
    "convos_metadata": ("issue_id", ("*",)),
    "utterances": ("issue_id", ("event_uuid", "created_ts", "sender_type", "sender_id", "utterance")),
    "customer_feedback": ("issue_id", ("question", "answer", "instance_ts")),
    "customer_params": ("issue_id", ("param_key", "param_value", "event_ts")),
    "autosummary_structured_data": (
        "TRY_CAST(external_conversation_id AS BIGINT)",
        ("structured_data_field_id", "structured_data_field_value", "structured_data_ts"),
    ),
}
"""The feeds a conversation is joined from: the issue id each row belongs to, and the columns the
conversation takes from it (every column of its metadata, whose raw JSON the map reads; only the listed
columns of the others, whose raw JSON would be sorted for nothing: millions of messages)."""


@contextmanager
def _settings(connection: duckdb.DuckDBPyConnection, **values: object) -> Iterator[None]:
    """DuckDB settings for the statements of the block, reset to the connection's after it. `threads=1` is
    for the statements that read whole rows: each thread reads its own row groups of raw JSON (tens of
    megabytes) and keeps its own sort run, and two of them overran DuckDB's share of the default memory
    limit at 200k conversations, where one keeps well within it."""
    for name, value in values.items():
        connection.execute(f"SET {name} = {sql_literal(str(value))}")
    try:
        yield
    finally:
        for name in values:
            connection.execute(f"RESET {name}")


def _narrowed(source: str, keys: list[str]) -> str:
    """The rows of `source` with their raw JSON cut down to `keys`, the ones the map reads: the whole of it
    (kilobytes a row) would be sorted and read back for nothing. The document is parsed once for all keys
    (one `json_extract` a key would parse it again each time, and held hundreds of megabytes at 200k
    conversations), and the object written again with `json_object` (a third cheaper than a map's
    `to_json`)."""
    listed = "[" + ", ".join(sql_literal(key) for key in keys) + "]"
    pairs = ", ".join(f"{sql_literal(key)}, _narrowed[{index}]" for index, key in enumerate(keys, 1))
    return (
        f"(SELECT * EXCLUDE (_narrowed) REPLACE (json_object({pairs}) AS {RAW}) FROM "
        f"(SELECT *, json_extract({RAW}, {listed}::VARCHAR[]) AS _narrowed FROM {source}))"
    )


def _versions_share_issue(feed: str) -> bool:
    """Whether every version of a row of this feed belongs to one conversation (its unique key holds the
    issue id): then the latest version is chosen among a chunk's rows, not over the whole feed at once."""
    return BY_ISSUE[feed][0] in FEEDS[feed].unique_key


def _scoped(feed: str, where: str) -> str:
    """The rows of `scoped_<feed>` that satisfy `where`, the latest version of each."""
    rows = f'(SELECT * FROM "scoped_{feed}" WHERE {where})'
    if not _versions_share_issue(feed):
        return rows  # de-duplicated when sorted
    spec = FEEDS[feed]
    return f"({latest_rows(rows, spec.unique_key, spec.latest_by)})"


SORTED_ROW_GROUP = 100_000
"""Rows per row group of the sorted files. A chunk's query reads the footer of each file it filters: with
row groups of 2,000 rows (27 million messages: 13,000 of them) that read took most of a chunk's time at 2M
conversations and held 800 MB outside DuckDB's memory limit; with 100,000, a chunk reads a few groups and
the footers are small."""

CHUNK_ISSUES = 20_000
"""Conversations joined at a time: DuckDB holds one chunk's lists of messages, whatever the tenant's size."""
CHUNK_CONTACTS = 20_000
"""Contacts gathered at a time, likewise."""


def _chunks(connection: duckdb.DuckDBPyConnection, table: str, key: str, size: int) -> list[tuple]:
    """The keys of `table`, in order, cut into chunks of `size`: each chunk's (first, last)."""
    return connection.execute(
        f"""SELECT min({key}), max({key}) FROM (
                SELECT {key}, (row_number() OVER (ORDER BY {key}) - 1) // {size} AS chunk FROM {table})
            GROUP BY chunk ORDER BY chunk"""
    ).fetchall()


MAX_READ_AMPLIFICATION = 2.0
"""A conversation feed is read in place, a chunk at a time, when that reads at most this many rows per row it
holds; else it is sorted first. ASAPP delivers a feed by time and numbers conversations as they begin, so a
chunk's rows are in a few row groups (`utterances` at 200k conversations: 1.2 rows read per row), and
sorting millions of messages only to read them back took 4.9 s of the transform's 40 s of CPU there."""


def _read_amplification(
    connection: duckdb.DuckDBPyConnection, feed: str, column: str, chunks: list[tuple[int, int]]
) -> float:
    """How many rows reading the feed's delivered files a chunk at a time would read per row they hold: a
    chunk reads each row group whose range of `column` (its Parquet statistics) meets the chunk's."""
    paths = [
        path
        for (path,) in connection.execute(
            "SELECT path FROM delivered_files WHERE feed = ?", [feed]
        ).fetchall()
    ]
    if not paths:
        return 0.0
    listed = ", ".join(sql_literal(path) for path in paths)
    groups = connection.execute(
        f"""SELECT row_group_num_rows, TRY_CAST(stats_min_value AS BIGINT),
                TRY_CAST(stats_max_value AS BIGINT) FROM parquet_metadata([{listed}])
            WHERE path_in_schema = {sql_literal(column)}"""
    ).fetchall()
    firsts, lasts = [first for first, _ in chunks], [last for _, last in chunks]
    held = read = 0
    for rows, low, high in groups:
        held += rows
        if low is None or high is None:  # no statistics: every chunk reads the group
            read += rows * len(chunks)
        else:
            read += rows * max(0, bisect_right(firsts, high) - bisect_left(lasts, low))
    return read / held if held else 0.0


def _feeds_by_issue(
    connection: duckdb.DuckDBPyConnection,
    scratch: Path,
    raw_keys: list[str],
    every_issue: bool,
    local: bool,
) -> list[tuple[int, int]]:
    """View the scope's rows of each conversation feed as `scoped_<feed>`, for a chunk's query to read only
    the row groups that hold its issues: every delivered version of each row where they share a
    conversation (`_scoped` picks the latest, a chunk at a time), else the latest only (the feed's view
    de-duplicates it whole). A feed whose staged rows are already together by conversation (on `local`
    disk, MAX_READ_AMPLIFICATION) is read in place; the others are written sorted by issue id into a local
    Parquet file first (DuckDB sorts out of core, within its memory limit). The metadata's raw JSON keeps
    `raw_keys`. When the scope is `every_issue` the feeds are written whole: testing millions of rows
    against millions of scope ids overran DuckDB's memory at 2M conversations (rows of no conversation are
    never joined). Returns the scope's issue ids cut into chunks (first, last)."""
    chunks = _chunks(connection, "scope_issues", "issue_id", CHUNK_ISSUES)
    # DuckDB underestimates a feed view (many Parquet files, filtered by the ledger's list) and would build
    # its hash table from the feed's whole rows, raw JSON included, rather than from the scope's issue
    # ids: at 200k conversations that alone overran the memory limit. Here the scope is the build side.
    with _settings(connection, disabled_optimizers="build_side_probe_side"):
        for feed, (issue, columns) in BY_ISSUE.items():
            spec, versions_share_issue = FEEDS[feed], _versions_share_issue(feed)
            path = sql_literal(str(scratch / f"{feed}.parquet"))
            source = f'"{feed}"'
            if versions_share_issue:
                source = f'"delivered_{feed}"'
                latest_by = (spec.latest_by,) if spec.latest_by else ()
                versions = (*spec.unique_key, *latest_by, PARTITION, FILE, LINE)
                columns = columns if columns == ("*",) else tuple(dict.fromkeys(columns + versions))
            whole_rows = columns == ("*",)
            if whole_rows:
                source = _narrowed(source, raw_keys)
            in_scope = "true" if every_issue else f"{issue} IN (SELECT issue_id FROM scope_issues)"
            rows = f"SELECT {', '.join(columns)}, {issue} AS _issue FROM {source} WHERE {in_scope}"
            # whole rows are narrowed once, in their sort (in place, every chunk would parse its raw JSON);
            # an issue key that is an expression has no statistics to skip row groups by
            if local and versions_share_issue and not whole_rows and issue in spec.types:
                read = _read_amplification(connection, feed, issue, chunks)
                if read <= MAX_READ_AMPLIFICATION:
                    log.info(
                        "%s: read in place, %.2f rows read per row (its conversations are together)",
                        feed,
                        read,
                    )
                    connection.execute(f'CREATE OR REPLACE TEMP VIEW "scoped_{feed}" AS {rows}')
                    continue
                log.info(
                    "%s: sorted by conversation first (read in place: %.1f rows read per row)", feed, read
                )
            with _settings(connection, threads=1) if whole_rows else nullcontext():
                connection.execute(
                    f"COPY ({rows} ORDER BY _issue) TO {path} "
                    f"(FORMAT parquet, ROW_GROUP_SIZE {SORTED_ROW_GROUP})"
                )
            connection.execute(
                f'CREATE OR REPLACE TEMP VIEW "scoped_{feed}" AS SELECT * FROM read_parquet({path})'
            )
    return chunks


def _in_chunk(first: int, last: int) -> str:
    return f"_issue BETWEEN {int(first)} AND {int(last)}"


def chunk_messages_sql(first: int, last: int) -> str:
    """The messages of scope issues first..last (the latest version of each) as the temp table
    `chunk_messages`: read once for both the conversations' contacts (their first customer message) and
    their parts."""
    return f"""
CREATE OR REPLACE TEMP TABLE chunk_messages AS
SELECT _issue AS issue_id, created_ts AS _at, event_uuid AS _uuid,
    coalesce(event_uuid,
             concat(strftime(created_ts, '%Y-%m-%dT%H:%M:%S.%f'), '/', sender_type, '/', sender_id)) AS key,
    trunc(epoch(created_ts))::BIGINT AS created_ts,  -- epoch seconds, as a part's created_at
    sender_type, sender_id, utterance
FROM {_scoped("utterances", _in_chunk(first, last))}
"""


CHUNK_MESSAGES_SQL = """
SELECT issue_id, key, created_ts, sender_type, sender_id::VARCHAR AS sender_id, utterance
FROM chunk_messages ORDER BY issue_id, _at, _uuid
"""
"""A chunk's messages flat, each conversation's in order: grouped in Python as they are read (DuckDB's
ordered list aggregate cost a third of the chunk's whole query), their flat columns converted by Arrow. A
message's `created_ts` comes as epoch seconds (millions of them: DuckDB converts them faster than Python
parses them)."""


def conversations_sql(first: int, last: int) -> str:
    """The conversations of scope issues first..last, each with its survey answers, parameters, structured
    data and contact key, in issue order (from the `scoped_<feed>` files and `chunk_messages`)."""
    chunk = _in_chunk(first, last)
    return f"""
WITH first_customer AS (
    SELECT issue_id, sender_id FROM chunk_messages WHERE sender_type = 'customer'
    QUALIFY row_number() OVER (PARTITION BY issue_id ORDER BY _at, _uuid) = 1
), feedback_lists AS (
    SELECT _issue AS issue_id,
           list(struct_pack(question := question, answer := answer) ORDER BY instance_ts) AS feedback
    FROM {_scoped("customer_feedback", chunk)} GROUP BY 1
), params_lists AS (
    SELECT _issue AS issue_id,
           list(struct_pack(param_key := param_key, param_value := param_value) ORDER BY event_ts) AS params
    FROM {_scoped("customer_params", chunk)} GROUP BY 1
), structured_lists AS (
    SELECT _issue AS issue_id,
        list(struct_pack(field_id := structured_data_field_id, value := structured_data_field_value)
             ORDER BY structured_data_ts) AS structured
    FROM {_scoped("autosummary_structured_data", chunk)} GROUP BY 1
), metadata AS (
    SELECT * EXCLUDE (_issue) FROM {_scoped("convos_metadata", chunk)}
)
SELECT s.issue_id, m.* EXCLUDE (issue_id), feedback_lists.feedback, params_lists.params,
    structured_lists.structured,
    k.contact_key
FROM scope_issues s
LEFT JOIN metadata m USING (issue_id)
LEFT JOIN first_customer c USING (issue_id)
LEFT JOIN feedback_lists USING (issue_id)
LEFT JOIN params_lists USING (issue_id)
LEFT JOIN structured_lists USING (issue_id)
LEFT JOIN customer_keys k ON k.customer_id = coalesce(m.customer_id, c.sender_id)
WHERE s.issue_id BETWEEN {int(first)} AND {int(last)}
ORDER BY s.issue_id
"""


def _messages_by_issue(messages: pa.Table) -> Iterator[tuple[int, list[dict]]]:
    """Each conversation's messages (issue id, list) from a chunk's flat messages sorted by issue, converted
    to Python a batch at a time. A dict display, not `dict(zip())`: the grouping of 600,000 messages took
    0.73 s of CPU instead of 1.24 s."""
    issue, group = None, []
    for batch in messages.to_batches(BATCH_ROWS):
        columns = [column.to_pylist() for column in batch.columns]  # in CHUNK_MESSAGES_SQL's order
        for issue_id, key, created_ts, sender_type, sender_id, utterance in zip(*columns, strict=True):
            if issue_id != issue:
                if group:
                    yield issue, group
                issue, group = issue_id, []
            group.append(
                {
                    "key": key,
                    "created_ts": created_ts,
                    "sender_type": sender_type,
                    "sender_id": sender_id,
                    "utterance": utterance,
                }
            )
    if group:
        yield issue, group


def _conversations(connection: duckdb.DuckDBPyConnection, chunks: list[tuple[int, int]]) -> Iterator[dict]:
    """The scope's conversations in issue order, each row with its `messages` (None when it has none)."""
    for first, last in chunks:
        connection.execute(chunk_messages_sql(first, last))
        # whole before the conversations are read: a connection streams one result at a time
        grouped = _messages_by_issue(connection.sql(CHUNK_MESSAGES_SQL).to_arrow_table())
        pending = next(grouped, None)
        for row in _stream(connection, conversations_sql(first, last)):
            while pending is not None and pending[0] < row["issue_id"]:
                pending = next(grouped, None)  # messages of no scope conversation
            row["messages"] = None
            if pending is not None and pending[0] == row["issue_id"]:
                row["messages"], pending = pending[1], next(grouped, None)
            yield row
    connection.execute("DROP TABLE IF EXISTS chunk_messages")  # a chunk's messages: not the next step's


def _sort_by_contact(
    connection: duckdb.DuckDBPyConnection, scratch: Path, raw_keys: list[str]
) -> list[tuple[str, str]]:
    """Write the scope's customers (whole rows, their raw JSON cut to `raw_keys`, as `_customer`) sorted by
    contact key, then customer id, into a local Parquet file viewed as `scoped_customers`. Returns the
    contact keys cut into chunks (first, last): a contact's members are gathered a chunk at a time, not all
    at once (at two million conversations, over a million customers and their raw JSON)."""
    path = sql_literal(str(scratch / "customers.parquet"))
    with _settings(connection, threads=1):
        connection.execute(
            f"""COPY (SELECT k.contact_key AS _contact, c AS _customer
                      FROM {_narrowed("customer_entities", raw_keys)} c
                      JOIN customer_keys k USING (customer_id)
                      WHERE k.contact_key IN (SELECT contact_key FROM scope_contacts)
                      ORDER BY _contact, c.customer_id)
                TO {path} (FORMAT parquet, ROW_GROUP_SIZE {SORTED_ROW_GROUP})"""
        )
    connection.execute(f"CREATE OR REPLACE TEMP VIEW scoped_customers AS SELECT * FROM read_parquet({path})")
    return _chunks(connection, "scope_contacts", "contact_key", CHUNK_CONTACTS)


def contact_members_sql(first: str, last: str) -> str:
    """The members of contacts first..last (the customers sharing each one's key), one row each, in order of
    contact, then customer id, with the contact that owns the contact's external id when another one does
    (`_owner`). Flat: aggregating each contact's members into an ordered list took DuckDB twice as long as
    reading and grouping them (1.5 s of CPU against 0.3 s at 200k conversations)."""
    return f"""
SELECT _contact, o.owner AS _owner, _customer.*
FROM scoped_customers LEFT JOIN contact_owners o ON o.contact_key = _contact
WHERE _contact BETWEEN {sql_literal(first)} AND {sql_literal(last)}
ORDER BY _contact, _customer.customer_id
"""


def _contacts(connection: duckdb.DuckDBPyConnection, chunks: list[tuple[str, str]]) -> Iterator[dict]:
    """The scope's contacts in key order, each with its `members` and `external_id_owner`."""
    for first, last in chunks:
        contact = None
        for member in _stream(connection, contact_members_sql(first, last)):
            key, owner = member.pop("_contact"), member.pop("_owner")
            if contact is None or contact["contact_key"] != key:
                if contact is not None:
                    yield contact
                contact = {"contact_key": key, "members": [], "external_id_owner": owner}
            contact["members"].append(member)
        if contact is not None:
            yield contact


COMPANIES_SQL = """
SELECT * FROM company_entities WHERE company_external_id IN (SELECT company_external_id FROM scope_companies)
ORDER BY company_external_id
"""


WITH_UPLOADS = "_issue IN (SELECT issue_id FROM scope_uploads)"

ATTACHMENTS_SQL = f"""
SELECT f.*, u.sender_id, k.contact_key,
    CASE WHEN m.conversation_end_ts IS NULL THEN 'open' ELSE 'closed' END AS conversation_state
FROM scope_uploads f
LEFT JOIN (SELECT _issue, event_uuid, sender_id FROM {_scoped("utterances", WITH_UPLOADS)}) u
    ON u.event_uuid = f.event_uuid AND u._issue = f.issue_id
LEFT JOIN (SELECT _issue, customer_id, conversation_end_ts FROM {_scoped("convos_metadata", WITH_UPLOADS)}) m
    ON m._issue = f.issue_id
LEFT JOIN customer_keys k ON k.customer_id = coalesce(m.customer_id, f.customer_id)
ORDER BY f.issue_id, f.file_upload_ts, f.file_upload_event_id
"""
"""The scope's uploads with their message's sender, their conversation's state and their contact, from the
scope's `scoped_<feed>` views (`_feeds_by_issue`): only the messages and metadata of conversations with an
upload are read and de-duplicated (joining every conversation's overran DuckDB's memory at 2M
conversations)."""


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
    connection.register(
        "fresh_files",
        pa.table(
            {
                name: [item[index] for item in fresh]
                for index, name in enumerate(("feed", "partition", "file"))
            },
            schema=pa.schema([("feed", pa.string()), ("partition", pa.string()), ("file", pa.string())]),
        ),
    )
    return DeltaMark(staged_at=newest, event_seq=ledger.event_summary()[1]).model_dump(mode="json")


def agents_directory(connection: duckdb.DuckDBPyConnection, admins: list[dict]) -> dict[str, Agent]:
    """Every ASAPP agent with the Intercom admin whose email matches theirs, if any."""
    by_email = {
        (admin.get("email") or "").lower(): str(admin["id"]) for admin in admins if admin.get("email")
    }
    agents = {}
    for rep_id, name, email in connection.execute(AGENTS_SQL).fetchall():
        agents[str(rep_id)] = Agent(
            str(rep_id), name, email, by_email.get((email or "").lower()) if email else None
        )
    return agents


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _stream(connection: duckdb.DuckDBPyConnection, sql: str) -> Iterator[dict]:
    """The query's rows, in its order, as dicts. DuckDB writes each row as JSON and orjson reads it: a few
    times faster than Arrow's conversion of nested lists to Python (a conversation is one row holding its
    survey answers, parameters and structured data). Timestamps come as ISO-8601 text, which `epoch()`
    reads."""
    reader = connection.sql(f"SELECT to_json(_row)::VARCHAR FROM ({sql}) _row").to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        for text in batch.column(0).to_pylist():
            try:
                yield orjson.loads(text)
            except orjson.JSONDecodeError:  # a NaN or an infinity, which JSON has no word for
                yield json.loads(text)


class IssueBook:
    """The fields each record of a batch is loaded without, written to the ledger a batch at a time; a
    record's issues that its latest version no longer has are lifted. Records that cannot be loaded are
    quarantined likewise, a batch at a time (a transaction each cost over half a millisecond)."""

    def __init__(self, ledger: Ledger, object_type: str, run_id: str):
        self.ledger, self.object_type, self.run_id = ledger, object_type, run_id
        # none open (a first transform): nothing to lift, and no need to ask, 500 records at a time
        self.lifting = ledger.has_open_field_issues(object_type)
        self.quarantined: list[tuple[str, str, None]] = []
        self.seen: list[str] = []
        self.issues: list[tuple[str, str, object, str]] = []
        self.total = 0

    def add(self, source_id: str, issues: list[FieldIssue]) -> None:
        self.seen.append(source_id)
        self.issues += [(source_id, issue.field, issue.value, issue.reason) for issue in issues]
        self.total += len(issues)
        if len(self.seen) >= BATCH_ROWS:
            self.flush()

    def quarantine(self, source_id: str, reason: str) -> None:
        self.quarantined.append((source_id, reason, None))
        if len(self.quarantined) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.lifting:
            self.ledger.resolve_field_issues(
                self.object_type, self.seen, {(item[0], item[1]) for item in self.issues}
            )
        self.ledger.note_field_issues(self.object_type, self.issues, self.run_id)
        self.ledger.quarantine_many(self.object_type, self.quarantined, self.run_id)
        self.seen, self.issues, self.quarantined = [], [], []


def _build(
    rows: Iterator[dict],
    writer: PayloadWriter,
    ledger: Ledger,
    run_id: str,
    object_type: str,
    source_id: Callable[[dict], str],
    build: Callable[[dict, list[FieldIssue]], tuple[str | None, dict]],
    in_scope: int | None = None,
) -> None:
    """Write the payload of each row; `in_scope`: how many rows to expect, for the progress lines."""
    manifest = writer.manifest
    book = IssueBook(ledger, object_type, run_id)
    progress = Progress(log, f"transform {object_type}", in_scope)
    for row in rows:
        progress.advance()
        manifest.source_count += 1
        identity = source_id(row)
        issues: list[FieldIssue] = []
        try:
            depends_on, payload = build(row, issues)
        except Unloadable as error:
            manifest.quarantined += 1
            book.quarantine(identity, str(error))
            continue
        writer.add(identity, depends_on, payload)
        book.add(identity, issues)
    book.flush()
    manifest.fields_left_out = book.total
    progress.finish()
    release_freed_memory()


def transform(
    staging: Staging,
    ledger: Ledger,
    run_id: str,
    scope: Scope,
    context: ConversationContext,
    admins: list[dict],
) -> TransformManifest:
    """Write companies, contacts, conversations and attachments payloads for the run's scope."""
    result = TransformManifest()
    connection = staging.connect()
    # the scope's contacts and conversations, sorted, for a chunk at a time to be gathered from them
    scratch = tempfile.TemporaryDirectory(prefix="asapp_intercom_transform_")
    try:
        # the sorts below run for minutes at two million conversations, with no record to count
        beat = Heartbeat(log, "transform", estimate=connection.query_progress)
        with beat.step("reading the staged feeds and the run's scope"):
            staging.create_feed_views(connection, ledger)
            connection.execute(ENTITY_TABLES)
            result.delta_mark = _register_fresh_files(connection, ledger, scope)
            connection.execute(_scope_sql(scope))
            context.agents = agents_directory(connection, admins)
        scheme = (ledger.load(PayloadHashing) or PayloadHashing()).scheme

        def writer(object_type: str) -> PayloadWriter:
            manifest = ObjectManifest(str(object_type), staging.payloads_path(run_id, object_type))
            result.objects[object_type] = manifest
            return staging.payload_writer(manifest, scheme)

        def write(
            object_type: str, rows: Iterator[dict], source_id, build, scope_table: str | None = None
        ) -> None:
            in_scope = _count(connection, scope_table) if scope_table else None
            with writer(object_type) as payloads:
                _build(rows, payloads, ledger, run_id, object_type, source_id, build, in_scope)

        company_entries = custom_attributes(context.entries, ObjectType.COMPANY)
        contact_entries = custom_attributes(context.entries, ObjectType.CONTACT)
        write(
            ObjectType.COMPANY,
            _stream(connection, COMPANIES_SQL),
            lambda row: row["company_external_id"],
            lambda row, issues: (None, company_payload(row, company_entries, issues)),
            "scope_companies",
        )
        with beat.step("sorting the customers by contact"):
            contact_chunks = _sort_by_contact(
                connection, Path(scratch.name), raw_keys(contact_entries, FEEDS["customers"])
            )
        write(
            ObjectType.CONTACT,
            _contacts(connection, contact_chunks),
            lambda row: row["contact_key"],
            lambda row, issues: (
                primary_member(row["members"]).get("company_external_id"),
                contact_payload(row["members"], contact_entries, issues, row["external_id_owner"]),
            ),
            "scope_contacts",
        )

        tag_names: set[str] = set()
        unmatched: dict[str, dict] = {}  # each agent once: most conversations name agents already seen

        def conversation(row: dict, issues: list[FieldIssue]) -> tuple[str | None, dict]:
            if row.get("contact_key") is None:
                raise Unloadable(f"its customer ({row.get('customer_id')}) is not in the customers feed")
            spoken = spoken_messages(row)
            payload = conversation_payload(row, context, issues, spoken)
            length = str(len(spoken))
            result.conversation_lengths[length] = result.conversation_lengths.get(length, 0) + 1
            unmatched.update((agent["rep_id"], agent) for agent in agents_without_admin(row, context))
            if payload["tags"]:
                tags.manifest.source_count += 1
                tags.add(str(row["issue_id"]), str(row["issue_id"]), {"tags": payload["tags"]})
                tag_names.update(payload["tags"])
            return row["contact_key"], payload

        with beat.step("gathering the conversations' feeds by conversation"):
            issue_chunks = _feeds_by_issue(
                connection,
                Path(scratch.name),
                raw_keys(context.conversation_entries, FEEDS["convos_metadata"]),
                every_issue=scope.mode is not RunMode.sample and not scope.windowed,
                local=staging.is_local,
            )
        with writer(ObjectType.CONVERSATION) as conversations, writer(ObjectType.CONVERSATION_TAGS) as tags:
            _build(
                _conversations(connection, issue_chunks),
                conversations,
                ledger,
                run_id,
                ObjectType.CONVERSATION,
                lambda row: str(row["issue_id"]),
                conversation,
                _count(connection, "scope_issues"),
            )

        def attachment(row: dict, issues: list[FieldIssue]) -> tuple[str | None, dict]:
            if row["issue_id"] is None:
                raise Unloadable("it names no conversation (its issue_id is empty)")
            if not row["issue_known"]:
                raise Unloadable(f"its conversation ({row['issue_id']}) is in no feed")
            return str(row["issue_id"]), attachment_payload(row, row.get("contact_key"), context)

        write(
            ObjectType.ATTACHMENT,
            _stream(connection, ATTACHMENTS_SQL),
            lambda row: row["file_upload_event_id"],
            attachment,
        )
        result.tag_names = sorted(tag_names)
        result.unmatched_agents = [unmatched[rep_id] for rep_id in sorted(unmatched)]
    finally:
        connection.close()
        scratch.cleanup()
    return result
