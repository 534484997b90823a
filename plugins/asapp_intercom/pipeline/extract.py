"""Stage feed files as typed Parquet, quarantining what cannot be read, never stopping at it.

Each data file of a complete partition is streamed once (memory stays flat whatever its size),
its lines numbered, and DuckDB types the known columns. A line that is not UTF-8, not JSON, not an
object, has a value of the wrong type or lacks part of its unique key goes to the quarantine with
its reason and raw text; the rest of the file is staged. A file that cannot be read to its end (a
truncated or corrupt gzip) is quarantined with the number of lines read before the break, and
those lines are staged; a corrected re-delivery (a new ETag) is staged again in full and lifts the
quarantine. A leading byte-order mark and CRLF line ends are tolerated. The staged Parquet keeps
every row's raw JSON, so columns ASAPP adds later are not lost. A file whose tag has not changed
since it was staged is not read again: re-running a window costs a listing, not a download.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import duckdb
import pyarrow as pa

from asapp_intercom.domain.feeds import SQL_TYPES, VARCHAR, Feed, FeedFile
from asapp_intercom.domain.manifests import FeedManifest
from asapp_intercom.domain.staged import FILE, LINE, PARTITION, RAW
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.sources import FeedSource, FeedUnavailable, RequiredFeedMissing
from asapp_intercom.pipeline.staging import Staging, sql_literal

log = logging.getLogger(__name__)

LINE_BATCH = 50_000
LINE_SCHEMA = pa.schema([(LINE, pa.int64()), (RAW, pa.string())])
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
UNREADABLE = (EOFError, zlib.error)
"""What a file that cannot be read to its end raises (a lost connection is not one of them: that is
retried)."""


@dataclass
class Reading:
    """What reading one file met besides good lines."""

    undecodable: list[tuple[int, str]] = field(default_factory=list)
    broken: str | None = None
    """Why the file could not be read to its end, if it could not."""
    lines_read: int = 0


CHUNK = 1 << 20


def chunks(stream: IO[bytes], gzipped: bool) -> Iterator[bytes]:
    """The file's bytes, un-gzipped a piece at a time: all that can be read comes out before a break
    raises (gzip.GzipFile would give nothing of the chunk in which a truncated file ends)."""
    if not gzipped:
        while chunk := stream.read(CHUNK):
            yield chunk
        return
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    while compressed := stream.read(CHUNK):
        while compressed:
            yield decompressor.decompress(compressed)
            compressed = b""
            if decompressor.eof and decompressor.unused_data:  # gzip files may hold several members
                compressed = decompressor.unused_data
                decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    if not decompressor.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def iter_lines(pieces: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for piece in pieces:
        lines = (pending + piece).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def _line_batches(stream: IO[bytes], gzipped: bool, reading: Reading) -> Iterator[pa.RecordBatch]:
    numbers: list[int] = []
    texts: list[str] = []
    try:
        for number, raw in enumerate(iter_lines(chunks(stream, gzipped)), start=1):
            reading.lines_read = number
            if number == 1:
                raw = raw.removeprefix(BYTE_ORDER_MARK)
            raw = raw.rstrip(b"\r")
            if not raw.strip():
                continue
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as error:
                reading.undecodable.append(
                    (number, f"not valid UTF-8 ({error.reason} at byte {error.start})")
                )
                continue
            numbers.append(number)
            if len(numbers) == LINE_BATCH:
                yield pa.record_batch([numbers, texts], schema=LINE_SCHEMA)
                numbers, texts = [], []
    except UNREADABLE as error:  # the lines before the break are whole; a partial last line was never yielded
        reading.broken = f"{error.__class__.__name__}: {error}"
    yield pa.record_batch([numbers, texts], schema=LINE_SCHEMA)


def typed_rows_sql(feed: Feed) -> str:
    """SELECT that types the feed's known columns from `lines` and explains every line it cannot use.

    A line is unusable (`_problem`) when it is not a JSON object or its unique key is missing or of the
    wrong type: it cannot be placed. Any other typed value of the wrong type is set aside (`_bad_values`:
    the row is staged without it, and the value is reported) so that one bad rating does not cost a
    conversation its latest state.
    """
    keys = ", ".join(sql_literal(name) for name in feed.typed_columns)
    columns, problems, bad_values = [], [], []
    for index, (name, sql_type) in enumerate(feed.types.items(), start=1):
        raw = f"_vals[{index}]"
        value = raw if sql_type == VARCHAR else f"TRY_CAST({raw} AS {sql_type})"
        columns.append(f'{value} AS "{name}"')
        in_key = name in feed.unique_key
        if sql_type != VARCHAR:
            wrong = f"{raw} IS NOT NULL AND {value} IS NULL"
            reason = f"{sql_literal(name + ': ')} || left({raw}, 60) || ' is not {SQL_TYPES[sql_type][0]}'"
            if in_key:
                problems.append(f"CASE WHEN {wrong} THEN {reason} END")
            else:
                bad_values.append(
                    f"CASE WHEN {wrong} THEN struct_pack(field := {sql_literal(name)}, value := {raw}, "
                    f"reason := {reason}) END"
                )
        if in_key and name not in feed.nullable_key:
            problems.append(f"CASE WHEN {raw} IS NULL THEN '{name}: missing (part of the unique key)' END")
    set_aside = f"list_filter([{', '.join(bad_values)}], lambda x: x IS NOT NULL)" if bad_values else "[]"
    return f"""
        WITH parsed AS (
            SELECT {LINE}, {RAW}, CASE WHEN json_valid({RAW}) THEN json_type({RAW}) END AS _kind FROM lines
        ), vals AS (
            SELECT *, CASE WHEN _kind = 'OBJECT' THEN json_extract_string({RAW}, [{keys}]) END AS _vals
            FROM parsed
        )
        SELECT {", ".join(columns)}, {RAW}, {LINE},
            CASE WHEN _kind IS NULL THEN 'not valid JSON'
                 WHEN _kind <> 'OBJECT' THEN 'not a JSON object'
                 ELSE NULLIF(concat_ws('; ', {", ".join(problems)}), '') END AS _problem,
            CASE WHEN _kind = 'OBJECT' THEN {set_aside} END AS _bad_values
        FROM vals
    """


COLUMN_PROFILE_ROWS = 1_000

COLUMNS_SQL = f"""
    SELECT key, mode(json_type({RAW}, key)) FILTER (WHERE json_type({RAW}, key) <> 'NULL') AS kind
    FROM (SELECT {RAW}, unnest(json_keys({RAW})) AS key FROM staged WHERE _problem IS NULL
          ORDER BY {LINE} LIMIT {COLUMN_PROFILE_ROWS})
    GROUP BY key ORDER BY key
"""


def stage_file(
    connection: duckdb.DuckDBPyConnection,
    source: FeedSource,
    file: FeedFile,
    feed: Feed,
    staging: Staging,
    ledger: Ledger,
    run_id: str,
) -> tuple[int, int, dict[str, str], bool]:
    """Stage one file; returns (rows staged, rows quarantined, {column: JSON type} seen in it, read whole)."""
    kind = f"feed:{feed.name}"
    if file.encrypted:
        ledger.quarantine(
            kind,
            file.path,
            "doubly encrypted (.enc): the migration does not hold the key; ask "
            "ASAPP to deliver this feed with encryption at rest only",
            run_id,
            {"file": file.path},
        )
        return 0, 0, {}, False
    reading = Reading()
    with source.open(file) as stream:
        lines = pa.RecordBatchReader.from_batches(LINE_SCHEMA, _line_batches(stream, file.gzipped, reading))
        connection.register("lines", lines)
        connection.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {typed_rows_sql(feed)}")
        connection.unregister("lines")
    with staging.publish(staging.raw_file(file)) as local:
        connection.execute(f"""
            COPY (SELECT * EXCLUDE (_problem, _bad_values), {sql_literal(file.partition.path)} AS {PARTITION},
                         {sql_literal(file.name)} AS {FILE}
                  FROM staged WHERE _problem IS NULL ORDER BY {LINE})
            TO {sql_literal(str(local))} (FORMAT parquet, COMPRESSION zstd)""")
    rows = connection.execute("SELECT count(*) FROM staged WHERE _problem IS NULL").fetchone()[0]
    bad = connection.execute(
        f"SELECT {LINE}, {RAW}, _problem FROM staged WHERE _problem IS NOT NULL"
    ).fetchall()
    columns = {key: (kind or "NULL") for key, kind in connection.execute(COLUMNS_SQL).fetchall()}
    set_aside = connection.execute(
        f"SELECT {LINE}, unnest(_bad_values) FROM staged WHERE _problem IS NULL AND len(_bad_values) > 0"
    ).fetchall()
    connection.execute("DROP TABLE staged")
    ledger.note_field_issues(
        kind,
        [
            (f"{file.path}:{line}", value["field"], value["value"], value["reason"])
            for line, value in set_aside
        ],
        run_id,
    )
    problems = [(line, raw, problem) for line, raw, problem in bad]
    problems += [(line, None, reason) for line, reason in reading.undecodable]
    for line, raw, problem in problems:
        ledger.quarantine(
            kind, f"{file.path}:{line}", problem, run_id, {"file": file.path, "line": line, "raw": raw}
        )
    if reading.broken:
        complete = reading.lines_read
        ledger.quarantine(
            kind,
            file.path,
            f"the file cannot be read to its end ({reading.broken}) after {complete} "
            "lines; those lines are staged, the rest waits for ASAPP to deliver the file again",
            run_id,
            {"file": file.path, "lines_read": complete},
        )
        log.warning(
            "%s: unreadable after %d lines (%s); staged what came before, quarantined the file",
            file.path,
            complete,
            reading.broken,
        )
    return rows, len(problems), columns, reading.broken is None


def extract_feed(
    source: FeedSource, feed: Feed, staging: Staging, ledger: Ledger, run_id: str, required: bool = False
) -> FeedManifest:
    """Stage every new or changed file of the feed's complete partitions, whatever their window: a
    partition completes hours after its window ends, and a delta run picks up what arrived since."""
    manifest = FeedManifest(feed.name, source.channel)
    try:
        listing = source.list(feed.name)
    except FeedUnavailable as missing:
        if required:
            raise RequiredFeedMissing(feed.name, missing) from None
        log.warning("%s is not available for this tenant (%s); going on without it", feed.name, missing)
        manifest.available, manifest.unavailable = False, str(missing)
        return manifest
    manifest.partitions_complete = len(listing.partitions)
    manifest.partitions_waiting = [partition.path for partition in listing.incomplete]
    manifest.files_listed = len(listing.files)
    manifest.files_ignored = listing.ignored
    already = ledger.staged_tags(feed.name)
    digest = hashlib.sha256()
    connection = (
        staging.connect()
    )  # one for the feed: opening one per file cost a third of a small file's time
    try:
        for file in listing.files:
            digest.update(f"{file.partition.path}/{file.name}:{file.tag}\n".encode())
            if already.get((file.partition.path, file.name)) == file.tag and staging.exists(
                staging.raw_file(file)
            ):
                manifest.files_unchanged += 1
                continue
            if (
                file.partition.path,
                file.name,
            ) in already:  # a re-delivery: the earlier version's problems go
                ledger.resolve_quarantine_of_file(f"feed:{feed.name}", file.path)
            rows, bad, columns, whole = stage_file(connection, source, file, feed, staging, ledger, run_id)
            ledger.note_staged(
                feed.name,
                file.partition.path,
                file.name,
                tag=file.tag,
                rows=rows,
                quarantined=bad,
                channel=source.channel,
                columns=columns,
            )
            manifest.files_staged += 1
            manifest.rows_staged += rows
            manifest.rows_quarantined += bad
            if not whole:
                manifest.files_broken.append(file.path)
    finally:
        connection.close()
    manifest.checksum = digest.hexdigest()
    if manifest.partitions_waiting:
        log.warning(
            "%s: %d partition(s) have no _SUCCESS yet and were left for a later run: %s",
            feed.name,
            len(manifest.partitions_waiting),
            ", ".join(manifest.partitions_waiting[:10]),
        )
    if manifest.files_ignored:
        log.info(
            "%s: %d file(s) that are not the feed's data were left alone: %s",
            feed.name,
            len(manifest.files_ignored),
            ", ".join(manifest.files_ignored[:10]),
        )
    log.info(
        "%s via %s: %d files listed, %d staged (%d rows, %d quarantined, %d broken), %d unchanged",
        feed.name,
        source.channel,
        manifest.files_listed,
        manifest.files_staged,
        manifest.rows_staged,
        manifest.rows_quarantined,
        len(manifest.files_broken),
        manifest.files_unchanged,
    )
    return manifest
