"""Stage feed files as typed Parquet, quarantining what cannot be read, never stopping at it.

Files are staged in batches: the lines of many files stream through one DuckDB statement into one
Parquet file (memory stays flat whatever the sizes; a statement's fixed cost is paid per batch, not
per file), and the next files are opened and read ahead in background threads while one is staged
(`ReadAhead`). Each line is numbered, split and decoded a block at a time, and DuckDB parses its JSON
once to type the known columns. A line that is not UTF-8, not JSON, not an object, or lacks part of
its unique key (or has it of the wrong type) is quarantined with its reason and raw text; any other
typed value of the wrong type is set aside and reported; the rest of the file is staged. A file that
cannot be read to its end (a truncated or corrupt gzip) is quarantined with the number of lines read
before the break, and those lines are staged; a corrected re-delivery (a new tag) is staged again in
full and lifts the quarantine. A leading byte-order mark and CRLF line ends are tolerated. The
staged Parquet keeps every row's raw JSON, so columns ASAPP adds later are not lost. A file whose
tag has not changed since it was staged is not read again: re-running a window costs a listing.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from asapp_intercom.domain.feeds import SQL_TYPES, VARCHAR, Feed, FeedFile, column_types
from asapp_intercom.domain.manifests import FeedManifest
from asapp_intercom.domain.staged import BAD_VALUES, FILE, LINE, PARTITION, PROBLEM, QUARANTINED_RAW, RAW
from asapp_intercom.ledger import Ledger, StagedFile
from asapp_intercom.pipeline.progress import Progress
from asapp_intercom.pipeline.sources import FeedSource, FeedUnavailable, ReadAhead, RequiredFeedMissing
from asapp_intercom.pipeline.staging import Staging, sql_literal

log = logging.getLogger(__name__)

CHUNK = 1 << 20
BATCH_BYTES = 512 << 20
"""Uncompressed input per staged Parquet file; a file is never split between two."""
BATCH_FILES = 5_000
ROW_GROUP_ROWS = 20_000
"""Rows carry their raw JSON (up to a few KB): DuckDB's default row group (122,880 rows) would hold
hundreds of MB per writer thread before it reaches the disk. The raw JSON is compressed with zstd's level 1,
not DuckDB's default 3: `utterances` stage about 13% faster at 200k conversations, files no larger."""
DICTIONARY_BYTES = 64 << 10
"""A string column's dictionary in a row group is given up beyond this (DuckDB's default is larger): the raw
JSON and free text never fit one, and building it before dropping it cost `convos_metadata`'s statement
about a tenth of its CPU at 200k conversations; partitions, file names and codes still fit theirs."""
STREAM_ROWS = 2_048
STREAM_BYTES = 256 << 10
"""DuckDB reads the lines' Arrow stream a batch at a time, at a fixed cost per batch: the lines of small
files (`file_uploads`: thousands of files of a few lines) are joined into batches of STREAM_ROWS rows (one
vector of DuckDB's) or STREAM_BYTES, whichever comes first: `file_uploads` stage 10-12% faster at 200k
conversations. A wide feed's files are not joined: copying kilobyte lines cost more than it saved."""
PROFILE_LINES = 30
PROFILE_CHARACTERS = 16_000
"""The first lines of each file whose keys and JSON types profile the feed's schema, up to PROFILE_LINES
lines or PROFILE_CHARACTERS characters (at least one line): a sample of every file (a column ASAPP adds
shows up in the first file that has it, in every line of it), small enough that profiling a wide feed's
thousands of small files costs less than staging them. Its cost is in the characters parsed: thirty lines
of `convos_metadata` (2.4 KB each) took a fifth of its extract at 200k conversations, on the task's
critical path; six of them found the same schema (every feed's columns and their types, as discovery reads
them, were unchanged at 200k)."""
LINE_SCHEMA = pa.schema(
    [(PARTITION, pa.string()), (FILE, pa.string()), (LINE, pa.int64()), (RAW, pa.string())]
)
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
WHITESPACE = " \t\n\r\x0b\x0c"
"""What JSON allows around a value, and what makes a line blank (blank lines are skipped)."""
NOT_BLANK = sql_literal(f"[^{WHITESPACE}]")
"""A regular expression found in every line that is not blank: the search stops at the line's first
character, where trim() would copy the whole line (a wide feed's lines are kilobytes)."""
OPENS_OBJECT = sql_literal(f"^[{WHITESPACE}]*\\{{")
"""A regular expression that matches a line whose JSON opens an object, likewise without a copy (ltrim()
then starts_with() took 0.13 s over `convos_metadata` at 200k conversations, this 0.02 s)."""
UNREADABLE = (EOFError, zlib.error)
"""What a file that cannot be read to its end raises (a lost connection is not one of them: that is
retried)."""


@dataclass
class Reading:
    """What reading one file met besides good lines."""

    file: FeedFile
    undecodable: list[tuple[int, str]] = field(default_factory=list)
    broken: str | None = None
    """Why the file could not be read to its end, if it could not."""
    lines_read: int = 0
    bytes_read: int = 0
    first_lines: list[str] = field(default_factory=list)
    """Its first lines, whose keys and JSON types profile the feed's schema."""

    def columns(self) -> dict[str, str]:
        rows = []
        for line in self.first_lines:
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return column_types(rows)


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


def _decode(block: bytes, first: int, reading: Reading) -> pa.StringArray:
    """The lines of a block of whole lines, split and checked as UTF-8 by Arrow (no Python string per
    line); an undecodable line is null and noted (the rest of its block is checked line by line, the slow
    way, only then). Arrays are made from buffers, as in _record_batch."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
    whole = pa.Array.from_buffers(pa.binary(), 1, [None, _offsets(1, len(block)), pa.py_buffer(block)])
    lines = pc.split_pattern(whole, b"\n").flatten()
    try:
        return lines.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    valid = np.ones(lines.offset + len(lines), dtype=bool)  # a validity bitmap counts from the buffers' start
    for index, raw in enumerate(lines.to_pylist()):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            reading.undecodable.append(
                (first + index, f"not valid UTF-8 ({error.reason} at byte {error.start})")
            )
            valid[lines.offset + index] = False
    _, offsets, data = lines.buffers()
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(lines), [bitmap, offsets, data], offset=lines.offset)


def _first_lines(lines: pa.StringArray) -> list[str]:
    sample, size = [], 0
    for line in lines[:PROFILE_LINES].to_pylist():
        if line and line.strip():
            if sample and size + len(line) > PROFILE_CHARACTERS:
                break
            sample.append(line)
            size += len(line)
    return sample


def line_batches(stream: IO[bytes], gzipped: bool, reading: Reading) -> Iterator[pa.RecordBatch]:
    """The file's numbered lines, a block at a time; a partial last line before a break is never given."""
    pending, first = b"", 1
    try:
        for piece in chunks(stream, gzipped):
            reading.bytes_read += len(piece)
            data = pending + piece if pending else piece
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                continue
            pending = data[cut + 1 :]
            block = data[:cut] if first > 1 else data[:cut].removeprefix(BYTE_ORDER_MARK)
            lines = _decode(block, first, reading)
            if first == 1:
                reading.first_lines = _first_lines(lines)
            yield _record_batch(reading.file, first, lines)
            first += len(lines)
    except UNREADABLE as error:
        reading.broken = f"{error.__class__.__name__}: {error}"
        pending = b""
    if pending:
        lines = _decode(pending if first > 1 else pending.removeprefix(BYTE_ORDER_MARK), first, reading)
        if first == 1:
            reading.first_lines = _first_lines(lines)
        yield _record_batch(reading.file, first, lines)
        first += len(lines)
    reading.lines_read = first - 1


def _offsets(count: int, size: int) -> pa.Buffer:
    """The offsets of `count` values of `size` bytes each, laid end to end."""
    return pa.py_buffer(np.arange(count + 1, dtype=np.int32) * size)


def _repeated(value: str, count: int) -> pa.StringArray:
    data = value.encode()
    return pa.Array.from_buffers(
        pa.string(), count, [None, _offsets(count, len(data)), pa.py_buffer(data * count)]
    )


def _record_batch(file: FeedFile, first: int, lines: pa.StringArray) -> pa.RecordBatch:
    """The lines with their file and numbers. Arrays are made from buffers: Arrow's constructors from Python
    objects (pa.array, pa.scalar, pa.record_batch) import pandas, 0.3-2 s in each extract task's process,
    which needs none."""
    count = len(lines)
    numbers = pa.Array.from_buffers(
        pa.int64(), count, [None, pa.py_buffer(np.arange(first, first + count, dtype=np.int64))]
    )
    return pa.RecordBatch.from_arrays(
        [_repeated(file.partition.path, count), _repeated(file.name, count), numbers, lines],
        schema=LINE_SCHEMA,
    )


def typed_rows_sql(feed: Feed) -> str:
    """SELECT that types the feed's known columns from `lines` and explains every line it cannot use.

    The JSON is parsed once per line (the extraction of every known key); only a line that fails it is
    looked at again, to say why. A line is unusable (`_problem`) when it is not a JSON object or its
    unique key is missing or of the wrong type: it cannot be placed. Any other typed value of the
    wrong type is set aside (`_bad_values`: the row is staged without it, and the value is reported)
    so that one bad rating does not cost a conversation its latest state. An unusable line's raw JSON is
    also kept apart (`_quarantined_raw`), for the quarantine.
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
        WITH vals AS (
            SELECT {PARTITION}, {FILE}, {LINE}, {RAW}, try(json_extract_string({RAW}, [{keys}])) AS _vals,
                   regexp_matches({RAW}, {OPENS_OBJECT}) AS _object
            FROM lines WHERE {RAW} IS NOT NULL AND regexp_matches({RAW}, {NOT_BLANK})
        ), explained AS (
            SELECT {", ".join(columns)}, {RAW}, {LINE}, {PARTITION}, {FILE},
                CASE WHEN _vals IS NULL OR NOT _object THEN
                        CASE WHEN NOT json_valid({RAW}) THEN 'not valid JSON' ELSE 'not a JSON object' END
                     ELSE NULLIF(concat_ws('; ', {", ".join(problems)}), '') END AS {PROBLEM},
                CASE WHEN _vals IS NOT NULL AND _object THEN {set_aside} ELSE [] END AS {BAD_VALUES}
            FROM vals
        )
        SELECT *, CASE WHEN {PROBLEM} IS NOT NULL THEN {RAW} END AS {QUARANTINED_RAW} FROM explained
    """


def joined(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches in order, small ones joined with the next until they hold STREAM_ROWS or STREAM_BYTES."""
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in batches:
        if not pending and (batch.num_rows >= STREAM_ROWS or batch.nbytes >= STREAM_BYTES):
            yield batch
            continue
        pending.append(batch)
        rows, size = rows + batch.num_rows, size + batch.nbytes
        if rows >= STREAM_ROWS or size >= STREAM_BYTES:
            yield pa.concat_batches(pending)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.concat_batches(pending)


@dataclass
class Batch:
    """Files staged together into one Parquet file, and what reading them met."""

    feed: Feed
    parquet: str
    readings: list[Reading] = field(default_factory=list)

    def stream(self, reader: ReadAhead, files: Iterator[FeedFile]) -> Iterator[pa.RecordBatch]:
        """The lines of files taken from `files` until the batch holds BATCH_BYTES (whole files)."""
        read = 0
        for file in files:
            reading = Reading(file)
            self.readings.append(reading)
            with reader.open(file) as stream:
                yield from line_batches(stream, file.gzipped, reading)
            read += reading.bytes_read
            if read >= BATCH_BYTES or len(self.readings) >= BATCH_FILES:
                return


def stage_batch(
    connection: duckdb.DuckDBPyConnection,
    reader: ReadAhead,
    files: list[FeedFile],
    feed: Feed,
    staging: Staging,
    ledger: Ledger,
    run_id: str,
) -> tuple[list[StagedFile], list[str]]:
    """Stage files from the head of `files` (as many as one batch takes; they are removed from the list)
    into one Parquet file, quarantine what cannot be used, and record them in the ledger. Returns the
    staged files and those that could not be read to their end."""
    batch = Batch(feed, staging.new_batch(feed.name))
    pending = iter(list(files))
    kind = f"feed:{feed.name}"
    with staging.publish(staging.root / batch.parquet) as local:
        connection.register(
            "lines", pa.RecordBatchReader.from_batches(LINE_SCHEMA, joined(batch.stream(reader, pending)))
        )
        options = (
            f"FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
            f"STRING_DICTIONARY_PAGE_SIZE_LIMIT {DICTIONARY_BYTES}"
        )
        connection.execute(f"COPY ({typed_rows_sql(feed)}) TO {sql_literal(str(local))} ({options})")
        connection.unregister("lines")
        del files[: len(batch.readings)]
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW batch AS SELECT * FROM read_parquet({sql_literal(str(local))})"
        )
        counts = {
            (partition, name): (good, bad)
            for partition, name, good, bad in connection.execute(
                f"SELECT {PARTITION}, {FILE}, count(*) FILTER ({PROBLEM} IS NULL), count({PROBLEM}) "
                "FROM batch GROUP BY ALL"
            ).fetchall()
        }
        problems = connection.execute(
            f"SELECT {PARTITION}, {FILE}, {LINE}, {QUARANTINED_RAW}, {PROBLEM} FROM batch "
            f"WHERE {PROBLEM} IS NOT NULL"
        ).fetchall()
        set_aside = connection.execute(
            f"SELECT {PARTITION}, {FILE}, {LINE}, unnest({BAD_VALUES}) FROM batch "
            f"WHERE {PROBLEM} IS NULL AND len({BAD_VALUES}) > 0"
        ).fetchall()
        connection.execute("DROP VIEW batch")
    quarantined = [
        (
            f"{feed.name}/{partition}/{name}:{line}",
            problem,
            {"file": f"{feed.name}/{partition}/{name}", "line": line, "raw": raw},
        )
        for partition, name, line, raw, problem in problems
    ]
    staged = []
    for reading in batch.readings:
        file = reading.file
        key = (file.partition.path, file.name)
        good, bad = counts.get(key, (0, 0))
        quarantined += [
            (f"{file.path}:{line}", reason, {"file": file.path, "line": line, "raw": None})
            for line, reason in reading.undecodable
        ]
        if reading.broken:
            quarantined.append(
                (
                    file.path,
                    f"the file cannot be read to its end ({reading.broken}) after {reading.lines_read} "
                    "lines; those lines are staged, the rest waits for ASAPP to deliver the file again",
                    {"file": file.path, "lines_read": reading.lines_read},
                )
            )
            log.warning(
                "%s: unreadable after %d lines (%s); staged what came before, quarantined the file",
                file.path,
                reading.lines_read,
                reading.broken,
            )
        staged.append(
            StagedFile(
                partition=file.partition.path,
                file_name=file.name,
                tag=file.tag,
                rows=good,
                quarantined=bad + len(reading.undecodable),
                channel=reader.channel,
                columns=reading.columns(),
                parquet=batch.parquet,
            )
        )
    ledger.quarantine_many(kind, quarantined, run_id)
    ledger.note_field_issues(
        kind,
        [
            (f"{feed.name}/{partition}/{name}:{line}", value["field"], value["value"], value["reason"])
            for partition, name, line, value in set_aside
        ],
        run_id,
    )
    ledger.note_staged(feed.name, staged)
    return staged, [reading.file.path for reading in batch.readings if reading.broken]


def _quarantine_encrypted(file: FeedFile, ledger: Ledger, run_id: str) -> None:
    ledger.quarantine(
        f"feed:{file.partition.feed}",
        file.path,
        "doubly encrypted (.enc): the migration does not hold the key; ask "
        "ASAPP to deliver this feed with encryption at rest only",
        run_id,
        {"file": file.path},
    )


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
    already = {(row.partition, row.file_name): row for row in ledger.staged(feed.name)}
    batches = staging.batches(feed.name)
    digest = hashlib.sha256()
    to_stage: list[FeedFile] = []
    for file in listing.files:
        digest.update(f"{file.partition.path}/{file.name}:{file.tag}\n".encode())
        staged = already.get((file.partition.path, file.name))
        if staged is not None and staged.tag == file.tag and staged.parquet in batches:
            manifest.files_unchanged += 1
        elif file.encrypted:
            _quarantine_encrypted(file, ledger, run_id)
        else:
            to_stage.append(file)
    # a re-delivery: what the earlier version had quarantined or set aside goes with it
    ledger.resolve_quarantine_of_files(
        f"feed:{feed.name}", [file.path for file in to_stage if (file.partition.path, file.name) in already]
    )
    progress = Progress(log, f"{feed.name}: staging", len(to_stage), unit="files")
    connection = staging.connect()  # one for the feed: its set-up is paid once
    connection.execute("SET preserve_insertion_order = false")  # a batch's rows need no order
    try:
        with ReadAhead(source, list(to_stage)) as reader:
            while to_stage:
                staged, broken = stage_batch(connection, reader, to_stage, feed, staging, ledger, run_id)
                manifest.files_staged += len(staged)
                manifest.rows_staged += sum(file.rows for file in staged)
                manifest.rows_quarantined += sum(file.quarantined for file in staged)
                manifest.files_broken += broken
                progress.advance(len(staged))
    finally:
        connection.close()
    progress.finish()
    manifest.checksum = digest.hexdigest()
    removed = staging.remove_batches(
        feed.name, {row.parquet for row in ledger.staged(feed.name) if row.parquet}
    )
    if removed:
        log.info("%s: removed %d staged batch(es) no file lives in any more", feed.name, removed)
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
