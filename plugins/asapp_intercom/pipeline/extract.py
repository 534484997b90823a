"""Stage feed files as typed Parquet, quarantining the lines that cannot be read.

Each file of a complete partition is streamed once (memory stays flat whatever its size), its
lines numbered, and DuckDB types the known columns. A line that is not JSON, not an object, has a
value of the wrong type or lacks part of its unique key goes to the quarantine with its reason
and raw text; the rest of the file is staged. The staged Parquet keeps every row's raw JSON, so
columns ASAPP adds later are not lost. A file whose tag (ETag) has not changed since it was
staged is not read again: re-running a window costs a listing, not a download.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import IO

import duckdb
import pyarrow as pa

from asapp_intercom.domain.feeds import SQL_TYPES, VARCHAR, Feed, FeedFile
from asapp_intercom.domain.manifests import FeedManifest
from asapp_intercom.domain.staged import FILE, LINE, PARTITION, RAW
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.sources import FeedSource
from asapp_intercom.pipeline.staging import Staging, sql_literal

log = logging.getLogger(__name__)

LINE_BATCH = 50_000
LINE_SCHEMA = pa.schema([(LINE, pa.int64()), (RAW, pa.string())])


def iter_lines(stream: IO[bytes], chunk_size: int = 1 << 20) -> Iterator[bytes]:
    pending = b""
    while chunk := stream.read(chunk_size):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def _line_batches(stream: IO[bytes], undecodable: list[tuple[int, str]]) -> Iterator[pa.RecordBatch]:
    numbers: list[int] = []
    texts: list[str] = []
    for number, raw in enumerate(iter_lines(stream), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            undecodable.append((number, f"not valid UTF-8 ({error.reason} at byte {error.start})"))
            continue
        numbers.append(number)
        if len(numbers) == LINE_BATCH:
            yield pa.record_batch([numbers, texts], schema=LINE_SCHEMA)
            numbers, texts = [], []
    yield pa.record_batch([numbers, texts], schema=LINE_SCHEMA)


def typed_rows_sql(feed: Feed) -> str:
    """SELECT that types the feed's known columns from `lines` and explains every unusable line."""
    keys = ", ".join(sql_literal(name) for name in feed.typed_columns)
    columns, problems = [], []
    for index, (name, sql_type) in enumerate(feed.types.items(), start=1):
        raw = f"_vals[{index}]"
        value = raw if sql_type == VARCHAR else f"TRY_CAST({raw} AS {sql_type})"
        columns.append(f'{value} AS "{name}"')
        if sql_type != VARCHAR:
            problems.append(
                f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL "
                f"THEN '{name}: ' || left({raw}, 60) || ' is not {SQL_TYPES[sql_type][0]}' END")
        if name in feed.unique_key and name not in feed.nullable_key:
            problems.append(f"CASE WHEN {raw} IS NULL THEN '{name}: missing (part of the unique key)' END")
    return f"""
        WITH parsed AS (
            SELECT {LINE}, {RAW}, CASE WHEN json_valid({RAW}) THEN json_type({RAW}) END AS _kind FROM lines
        ), vals AS (
            SELECT *, CASE WHEN _kind = 'OBJECT' THEN json_extract_string({RAW}, [{keys}]) END AS _vals FROM parsed
        )
        SELECT {", ".join(columns)}, {RAW}, {LINE},
            CASE WHEN _kind IS NULL THEN 'not valid JSON'
                 WHEN _kind <> 'OBJECT' THEN 'not a JSON object'
                 ELSE NULLIF(concat_ws('; ', {", ".join(problems)}), '') END AS _problem
        FROM vals
    """


COLUMN_PROFILE_ROWS = 1_000

COLUMNS_SQL = f"""
    SELECT key, mode(json_type({RAW}, key)) FILTER (WHERE json_type({RAW}, key) <> 'NULL') AS kind
    FROM (SELECT {RAW}, unnest(json_keys({RAW})) AS key FROM staged WHERE _problem IS NULL
          ORDER BY {LINE} LIMIT {COLUMN_PROFILE_ROWS})
    GROUP BY key ORDER BY key
"""


def stage_file(connection: duckdb.DuckDBPyConnection, source: FeedSource, file: FeedFile, feed: Feed,
               staging: Staging, ledger: Ledger, run_id: str) -> tuple[int, int, dict[str, str]]:
    """Stage one file; returns (rows staged, rows quarantined, {column: JSON type} seen in it)."""
    undecodable: list[tuple[int, str]] = []
    with source.open(file) as stream:
        lines = pa.RecordBatchReader.from_batches(LINE_SCHEMA, _line_batches(stream, undecodable))
        connection.register("lines", lines)
        connection.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {typed_rows_sql(feed)}")
        connection.unregister("lines")
    with staging.publish(staging.raw_file(file)) as local:
        connection.execute(f"""
            COPY (SELECT * EXCLUDE (_problem), {sql_literal(file.partition.path)} AS {PARTITION},
                         {sql_literal(file.name)} AS {FILE}
                  FROM staged WHERE _problem IS NULL ORDER BY {LINE})
            TO {sql_literal(str(local))} (FORMAT parquet, COMPRESSION zstd)""")
    rows = connection.execute("SELECT count(*) FROM staged WHERE _problem IS NULL").fetchone()[0]
    bad = connection.execute(f"SELECT {LINE}, {RAW}, _problem FROM staged WHERE _problem IS NOT NULL").fetchall()
    columns = {key: (kind or "NULL") for key, kind in connection.execute(COLUMNS_SQL).fetchall()}
    connection.execute("DROP TABLE staged")
    where = f"{feed.name}/{file.partition.path}/{file.name}"
    problems = [(line, raw, problem) for line, raw, problem in bad]
    problems += [(line, None, reason) for line, reason in undecodable]
    for line, raw, problem in problems:
        ledger.quarantine(f"feed:{feed.name}", f"{where}:{line}", problem, run_id,
                          {"file": where, "line": line, "raw": raw})
    return rows, len(problems), columns


def extract_feed(source: FeedSource, feed: Feed, staging: Staging, ledger: Ledger, run_id: str) -> FeedManifest:
    """Stage every new or changed file of the feed's complete partitions, whatever their window: a
    partition completes hours after its window ends, and a delta run picks up what arrived since."""
    manifest = FeedManifest(feed.name, source.channel)
    listing = source.list(feed.name)
    manifest.partitions_complete = len(listing.partitions)
    manifest.partitions_waiting = [partition.path for partition in listing.incomplete]
    manifest.files_listed = len(listing.files)
    already = ledger.staged_tags(feed.name)
    digest = hashlib.sha256()
    connection = staging.connect()  # one for the feed: opening one per file cost a third of a small file's time
    try:
        for file in listing.files:
            digest.update(f"{file.partition.path}/{file.name}:{file.tag}\n".encode())
            if already.get((file.partition.path, file.name)) == file.tag and staging.exists(staging.raw_file(file)):
                manifest.files_unchanged += 1
                continue
            rows, bad, columns = stage_file(connection, source, file, feed, staging, ledger, run_id)
            ledger.note_staged(feed.name, file.partition.path, file.name, tag=file.tag, rows=rows,
                               quarantined=bad, channel=source.channel, columns=columns)
            manifest.files_staged += 1
            manifest.rows_staged += rows
            manifest.rows_quarantined += bad
    finally:
        connection.close()
    manifest.checksum = digest.hexdigest()
    if manifest.partitions_waiting:
        log.warning("%s: %d partition(s) have no _SUCCESS yet and were left for a later run: %s", feed.name,
                    len(manifest.partitions_waiting), ", ".join(manifest.partitions_waiting[:10]))
    log.info("%s via %s: %d files listed, %d staged (%d rows, %d quarantined), %d unchanged", feed.name,
             source.channel, manifest.files_listed, manifest.files_staged, manifest.rows_staged,
             manifest.rows_quarantined, manifest.files_unchanged)
    return manifest
