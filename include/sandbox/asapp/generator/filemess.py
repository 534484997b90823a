"""File- and line-level mess: what a partition's files look like when a delivery goes wrong.

The PartitionWriter hands every partition it completes to FileMess first. Each (kind, feed) pair
has its own evenly spread case stream over that feed's partitions (MessPlan.picks_at: one case in
about every four days of partitions, picked early in its block); a picked case waits for the next
partition that can take it (one with rows, not split into parts, not an outage hour, not already
carrying a case), so every kind shows up from small datasets on and counts grow with the window.
A partition carries at most one kind. No good row is ever lost: line-level kinds add lines beside
the rows they imitate, and the truncated file's complete copy waits in _redeliveries/.
"""

import gzip
import shutil
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from . import clock
from .feeds import FeedSpec
from .mess import PER_PARTITION_RATE, Mess, MessPlan
from .randomness import stream, uuid4

REDELIVERIES = "_redeliveries"
TMP_ISSUE_ID_BASE = 29_000_001
"""issue_id of the phantom conversations in half-written .tmp files (non_data_files)."""
TRUNCATED_FEED = "utterances"
TRUNCATED_MIN_ROWS = 20
TRUNCATED_SHARE = 0.6
"""The truncated gzip part keeps about this share of its compressed bytes."""
REDELIVERY_DELAY = 2 * clock.HOUR
"""The corrected file is published this long after the real-time window ends."""
BOM = b"\xef\xbb\xbf"
HADOOP_CRC_CHUNK = 512

FILE_KINDS: dict[Mess, tuple[str, ...]] = {
    # in this order a partition with several waiting cases takes one
    Mess.EMPTY_DATA_FILES: ("file_uploads",),
    Mess.INVALID_UTF8_LINES: ("utterances",),
    Mess.WRONG_TYPE_VALUES: ("utterances", "convos_metadata"),
    Mess.MISSING_KEY_VALUES: ("utterances", "convos_metadata"),
    Mess.BROKEN_JSON_LINES: ("utterances", "convos_metadata"),
    Mess.NON_OBJECT_LINES: ("utterances",),
    Mess.DUPLICATE_ROWS: ("utterances", "convos_metadata"),
    Mess.NON_DATA_FILES: ("convos_metadata", "utterances"),
    Mess.BLANK_LINES: ("utterances", "customer_feedback"),
    Mess.UTF8_BOM: ("utterances", "customers"),
    Mess.CRLF_LINE_ENDINGS: ("convos_metadata", "reps"),
}
"""Which feeds each file- or line-level kind is delivered in (a case stream per pair)."""

LINE_KINDS = {
    Mess.BROKEN_JSON_LINES,
    Mess.NON_OBJECT_LINES,
    Mess.INVALID_UTF8_LINES,
    Mess.WRONG_TYPE_VALUES,
    Mess.MISSING_KEY_VALUES,
    Mess.DUPLICATE_ROWS,
}
WRONG_TYPE = {"utterances": ("created_ts", "yesterday"), "convos_metadata": ("issue_id", "n/a")}
"""A unique-key column and the wrongly typed value a broken writer puts there."""
MISSING_KEY = {"utterances": "created_ts", "convos_metadata": "issue_id"}

Written = list[tuple[str, int]]
"""(file name, good rows) of the data files a partition ends up with."""


class FileMess:
    def __init__(
        self,
        plan: MessPlan,
        seed: int,
        root: Path,
        feeds: dict[str, FeedSpec],
        window: tuple[int, int],
        max_rows_per_file: int,
        outages: list[int],
        realtime_end: int,
        note: Callable[[Mess, Any], None],
    ) -> None:
        self.plan, self.seed, self.root, self.note = plan, seed, root, note
        self.max_rows_per_file = max_rows_per_file
        self.outages = set(outages)
        start, end = window
        self.population = {
            name: (end - start) // (clock.HOUR if spec.sync == "1h" else clock.DAY)
            for name, spec in feeds.items()
        }
        self.hourly = {name for name, spec in feeds.items() if spec.sync == "1h"}
        self.truncate_from = clock.floor(start + (end - start) // 2, clock.HOUR)
        self.truncated = not plan.enabled or TRUNCATED_FEED not in feeds
        self.redelivered_at = realtime_end + REDELIVERY_DELAY
        self.ordinal: Counter[str] = Counter()
        self.waiting: Counter[tuple[Mess, str]] = Counter()
        self.phantoms = 0

    def complete(
        self, feed: str, starts_at: int, partial: Path | None, rows: int, folder: Path, relative: str
    ) -> Written | None:
        """Write the partition's files if a case lands here and return them; None: write it plainly."""
        ordinal = self.ordinal[feed]
        self.ordinal[feed] += 1
        for kind, feeds in FILE_KINDS.items():
            if feed in feeds and self.plan.picks_at(
                f"{kind}:{feed}",
                PER_PARTITION_RATE["1h" if feed in self.hourly else "1d"],
                ordinal,
                self.population[feed],
                early=True,
            ):
                self.waiting[(kind, feed)] += 1
        if (feed in self.hourly and starts_at in self.outages) or rows > self.max_rows_per_file:
            return None  # outage hours stay empty; split partitions keep their exact parts
        if (
            not self.truncated
            and feed == TRUNCATED_FEED
            and starts_at >= self.truncate_from
            and rows >= TRUNCATED_MIN_ROWS
        ):
            self.truncated = True
            return self._truncated_gzip(feed, partial, rows, folder, relative)
        for kind in FILE_KINDS:
            if self.waiting[(kind, feed)] and self._can_take(kind, partial, rows):
                self.waiting[(kind, feed)] -= 1
                return self._apply(kind, feed, partial, rows, folder, relative)
        return None

    # -- which partition can take a case -----------------------------------------------------------

    @staticmethod
    def _can_take(kind: Mess, partial: Path | None, rows: int) -> bool:
        if kind is Mess.EMPTY_DATA_FILES:
            return rows == 0
        if kind is Mess.BLANK_LINES:
            return rows >= 2
        if kind is Mess.INVALID_UTF8_LINES:
            return rows >= 1 and next(_latin1_rows(partial), None) is not None
        return rows >= 1

    def _apply(
        self, kind: Mess, feed: str, partial: Path | None, rows: int, folder: Path, relative: str
    ) -> Written:
        name = f"{feed}.jsonl"
        path = f"{relative}/{name}"
        rng = stream(self.seed, "file-mess", kind, path)
        target = folder / name
        if kind is Mess.EMPTY_DATA_FILES:
            target.write_bytes(b"")
            self.note(kind, path)
            return [(name, 0)]
        if kind in LINE_KINDS:
            for line in self._with_extra_lines(kind, feed, partial, rows, target, rng):
                self.note(kind, {"path": path, "line": line})
        elif kind is Mess.NON_DATA_FILES:
            partial.replace(target)
            for extra in self._non_data_files(feed, target, folder, rng):
                self.note(kind, f"{relative}/{extra}")
        else:
            _reformat(kind, partial, target, rows, rng)
            self.note(kind, path)
        return [(name, rows)]

    # -- line-level kinds --------------------------------------------------------------------------

    def _with_extra_lines(
        self, kind: Mess, feed: str, partial: Path, rows: int, target: Path, rng
    ) -> list[int]:
        """Copy the rows, adding the kind's lines after one of them; returns their 1-based line numbers."""
        candidates = list(_latin1_rows(partial)) if kind is Mess.INVALID_UTF8_LINES else range(rows)
        source = rng.choice(candidates)
        after = min(rows - 1, source + rng.randint(1, 5)) if kind is Mess.DUPLICATE_ROWS else source
        extras: list[bytes] = []
        numbers: list[int] = []
        written = 0
        with open(partial, "rb") as lines, open(target, "wb") as out:
            for position, line in enumerate(lines):
                out.write(line)
                written += 1
                if position == source:
                    extras = _extra_lines(kind, feed, line, rng)
                if position == after:
                    for extra in extras:
                        out.write(extra)
                        written += 1
                        numbers.append(written)
        partial.unlink()
        return numbers

    # -- file-level kinds --------------------------------------------------------------------------

    def _non_data_files(self, feed: str, data: Path, folder: Path, rng) -> list[str]:
        """A half-written .tmp of a phantom conversation, the data file's Hadoop .crc and _SUCCESS.crc."""
        phantom = TMP_ISSUE_ID_BASE + self.phantoms
        self.phantoms += 1
        rows = []
        with open(data, "rb") as lines:
            for line in lines:
                row = orjson.loads(line)
                row["issue_id"] = phantom
                if "event_uuid" in row:
                    row["event_uuid"] = uuid4(rng)
                rows.append(orjson.dumps(row) + b"\n")
                if len(rows) == 3:
                    break
        half = rows[-1][: len(rows[-1]) // 2]
        tmp, crc = f"{feed}.jsonl.tmp", f".{feed}.jsonl.crc"
        (folder / tmp).write_bytes(b"".join(rows[:-1]) + half)
        (folder / crc).write_bytes(hadoop_crc(data.read_bytes()))
        (folder / "_SUCCESS.crc").write_bytes(hadoop_crc(b""))
        return [tmp, crc, "_SUCCESS.crc"]

    def _truncated_gzip(self, feed: str, partial: Path, rows: int, folder: Path, relative: str) -> Written:
        """One gzip part cut at about 60 %; the complete part goes to _redeliveries/ (same relative path)."""
        name = f"{feed}.jsonl.00.gz"
        complete = self.root / REDELIVERIES / relative / name
        complete.parent.mkdir(parents=True, exist_ok=True)
        with (
            open(partial, "rb") as source,
            open(complete, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as target,
        ):
            shutil.copyfileobj(source, target)
        cut = round(complete.stat().st_size * TRUNCATED_SHARE)
        with open(complete, "rb") as whole:
            head = whole.read(cut)
        (folder / name).write_bytes(head)
        readable = _readable_lines(head)
        with open(partial, "rb") as lines:
            unreadable = [
                orjson.loads(line)["event_uuid"]
                for position, line in enumerate(lines)
                if position >= readable
            ]
        partial.unlink()
        self.note(
            Mess.TRUNCATED_GZIP,
            {
                "path": f"{relative}/{name}",
                "rows": rows,
                "rows_readable": readable,
                "unreadable_event_uuids": unreadable,
                "redelivered_at": clock.feed_ts(self.redelivered_at),
            },
        )
        return [(name, rows)]


def _reformat(kind: Mess, partial: Path, target: Path, rows: int, rng) -> None:
    """utf8_bom, crlf_line_endings, blank_lines: the same rows, differently laid out."""
    blank_after = sorted(rng.sample(range(rows - 1), 2)) if rows > 2 else [0, 0]
    with open(partial, "rb") as lines, open(target, "wb") as out:
        if kind is Mess.UTF8_BOM:
            out.write(BOM)
        for position, line in enumerate(lines):
            if kind is Mess.CRLF_LINE_ENDINGS:
                line = line[:-1] + b"\r\n"
            elif kind is Mess.BLANK_LINES:
                if position == rows - 1:
                    line = line[:-1]  # the last line has no final newline
                for number, after in enumerate(blank_after):
                    if after == position:
                        line += b"\n" if number == 0 else b" \t  \n"
            out.write(line)
    partial.unlink()


def _extra_lines(kind: Mess, feed: str, line: bytes, rng) -> list[bytes]:
    """The lines a kind adds beside a real row (`line`, newline included)."""
    if kind is Mess.DUPLICATE_ROWS:
        return [line]
    if kind is Mess.INVALID_UTF8_LINES:
        return [line.decode().encode("latin-1")]
    text = line.decode().rstrip("\n")
    if kind is Mess.BROKEN_JSON_LINES:  # a crashed writer's cut-off row, cut between characters
        return [text[: rng.randint(len(text) // 5, len(text) * 4 // 5)].encode() + b"\n"]
    row = orjson.loads(line)
    if kind is Mess.NON_OBJECT_LINES:
        number = row.get("issue_id")
        return [
            orjson.dumps(list(row.values())) + b"\n",  # an array
            orjson.dumps(text) + b"\n",  # the row as a JSON string
            orjson.dumps(int(number) if str(number).isdigit() else 0) + b"\n",
            b"null\n",
        ]
    if kind is Mess.WRONG_TYPE_VALUES:
        column, value = WRONG_TYPE[feed]
        row[column] = value
    else:  # MISSING_KEY_VALUES: the column absent or null
        column = MISSING_KEY[feed]
        if rng.random() < 0.5:
            del row[column]
        else:
            row[column] = None
    return [orjson.dumps(row) + b"\n"]


def _latin1_rows(partial: Path | None) -> Iterator[int]:
    """Rows holding accented text that Latin-1 can encode, and whose Latin-1 bytes are not valid UTF-8."""
    if partial is None:
        return
    with open(partial, "rb") as lines:
        for position, line in enumerate(lines):
            if line.isascii():
                continue
            try:
                latin1 = line.decode().encode("latin-1")
                latin1.decode()
            except UnicodeEncodeError:
                continue  # emoji, Arabic, …: not Latin-1
            except UnicodeDecodeError:
                yield position
                continue


def _readable_lines(head: bytes) -> int:
    """Complete lines in the longest prefix zlib can decompress from a cut gzip file."""
    decompressor = zlib.decompressobj(wbits=31)
    lines = 0
    for start in range(0, len(head), 1 << 16):
        lines += decompressor.decompress(head[start : start + (1 << 16)]).count(b"\n")
    return lines


def hadoop_crc(data: bytes) -> bytes:
    """A Hadoop ChecksumFileSystem .crc file: magic, bytes per checksum, a CRC-32 per 512-byte chunk."""
    sums = b"".join(
        struct.pack(">I", zlib.crc32(data[start : start + HADOOP_CRC_CHUNK]))
        for start in range(0, len(data), HADOOP_CRC_CHUNK)
    )
    return b"crc\x00" + struct.pack(">i", HADOOP_CRC_CHUNK) + sums
