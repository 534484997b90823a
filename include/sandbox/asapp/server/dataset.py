"""The dataset directory being served, indexed once at start.

Layout (the contract with the generator, though any directory in this shape works):
    {feed}/version=V/format=F/dt=YYYY-MM-DD/hr=HH/mi=MM/{files} (+ empty _SUCCESS)
    _realtime/events.jsonl, _config/segments.json, _attachments/{file_upload_event_id}, _manifest.json
    _redeliveries/{relative path of a partition file}: its corrected copy, published in its place later

Every file of a partition is published as it is (stray .tmp or .crc files included: ASAPP's delivery
is what it is). The server's own readers (attachment names, configuration, AutoSummary) take only the
feed's data files and skip what is not a row, as a careful consumer would.
"""

import gzip
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from .clock import parse_instant

log = logging.getLogger(__name__)

SUCCESS_MARKER = "_SUCCESS"
DAILY_DELAY = timedelta(days=1, hours=2)  # ASAPP refreshes File Exporter data at 02:00 UTC the next day
DEFAULT_COMPANY = "acme"
REDELIVERIES = "_redeliveries"
DEFAULT_REDELIVERY_DELAY = timedelta(days=1)
"""A re-delivered file the manifest gives no time for replaces the original this long after it appeared."""
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Partition:
    feed: str
    version: str
    format: str
    date: str
    hour: str
    minute: str
    directory: Path
    data_files: tuple[str, ...]
    has_success: bool
    visible_at: float

    @property
    def prefix(self) -> str:
        """The S3 key prefix, identical to the relative path on disk."""
        return (
            f"{self.feed}/version={self.version}/format={self.format}"
            f"/dt={self.date}/hr={self.hour}/mi={self.minute}"
        )

    @property
    def interval(self) -> str:
        return f"hr={self.hour}/mi={self.minute}"

    @property
    def feed_files(self) -> tuple[str, ...]:
        """The feed's own data files ({feed}.jsonl, {feed}.jsonl.NN.gz), not whatever else lies beside
        them."""
        return tuple(name for name in self.data_files if is_feed_file(self.feed, name))


@dataclass(frozen=True)
class Redelivery:
    """A corrected copy of a published file that replaces it (same key, new bytes) from `at` on."""

    key: str
    path: Path
    at: float


def is_feed_file(feed: str, name: str) -> bool:
    return re.fullmatch(rf"{re.escape(feed)}\.[a-z]+(\.\d+)?(\.gz)?", name) is not None


@dataclass(frozen=True)
class _Found:
    feed: str
    version: str
    format: str
    date: str
    hour: str
    minute: str
    directory: Path
    data_files: tuple[str, ...]
    has_success: bool


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines file, gzip-compressed or not. Whatever is not a JSON object on a line of its
    own (a BOM, blank or broken lines, a cut-off gzip stream) is skipped: these readers only look things
    up."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as lines:
            for number, line in enumerate(lines):
                if number == 0 and line.startswith(BOM):
                    line = line[len(BOM) :]
                try:
                    row = orjson.loads(line) if line.strip() else None
                except orjson.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    yield row
    except (EOFError, OSError, zlib.error) as error:
        log.warning("%s: stopped reading: %s", path, error)


class Dataset:
    def __init__(self, root: Path, hourly_lag: timedelta) -> None:
        self.root = root
        self.manifest = self._read_json(root / "_manifest.json", default={})
        found = list(self._scan_partitions())
        self.hourly_feeds = self._hourly_feeds(found)
        self.partitions = sorted(
            (self._partition(item, hourly_lag) for item in found), key=lambda p: (p.visible_at, p.prefix)
        )
        self.tree: dict[str, dict[str, dict[str, dict[str, list[Partition]]]]] = {}
        for partition in sorted(self.partitions, key=lambda p: p.prefix):
            by_version = self.tree.setdefault(partition.feed, {})
            by_format = by_version.setdefault(partition.version, {})
            by_format.setdefault(partition.format, {}).setdefault(partition.date, []).append(partition)
        self.company = self._company()
        self.redeliveries = self._redeliveries()

    @property
    def feeds(self) -> list[str]:
        return sorted(self.tree)

    def rows(self, feed: str, partitions: list[Partition] | None = None) -> Iterator[dict[str, Any]]:
        """The feed's rows (re-delivered files read from their corrected copy)."""
        for partition in partitions if partitions is not None else self.partitions:
            if partition.feed == feed:
                for name in partition.feed_files:
                    key = f"{partition.prefix}/{name}"
                    fixed = self.redeliveries.get(key)
                    yield from iter_rows(fixed.path if fixed else partition.directory / name)

    def latest_rows(self, feed: str) -> list[dict[str, Any]]:
        """Rows of a snapshot feed's most recent date: the current state of what it describes."""
        dates = [
            d for formats in self.tree.get(feed, {}).values() for by_date in formats.values() for d in by_date
        ]
        if not dates:
            return []
        latest = max(dates)
        return list(self.rows(feed, [p for p in self.partitions if p.feed == feed and p.date == latest]))

    def segments(self) -> list[dict[str, Any]]:
        return self._read_json(self.root / "_config" / "segments.json", default=[])

    def realtime_log(self) -> Path:
        return self.root / "_realtime" / "events.jsonl"

    def attachment(self, file_upload_event_id: str) -> Path | None:
        path = self.root / "_attachments" / file_upload_event_id
        inside = path.resolve().parent == (self.root / "_attachments").resolve()
        return path if inside and path.is_file() else None

    def _redeliveries(self) -> dict[str, Redelivery]:
        """_redeliveries/{key}: when each replaces the published file (manifest's mess.truncated_gzip
        redelivered_at, else a day after the original appeared)."""
        folder = self.root / REDELIVERIES
        if not folder.is_dir():
            return {}
        stated: dict[str, float] = {}
        mess = self.manifest.get("mess") if isinstance(self.manifest, dict) else None
        for case in (mess or {}).get("truncated_gzip", []) if isinstance(mess, dict) else []:
            try:
                stated[case["path"]] = parse_instant(case["redelivered_at"]).timestamp()
            except (KeyError, TypeError, ValueError):
                continue
        appears = {f"{p.prefix}/{name}": p.visible_at for p in self.partitions for name in p.data_files}
        found = {}
        for path in sorted(folder.rglob("*")):
            key = path.relative_to(folder).as_posix()
            if path.is_file() and key in appears:
                at = stated.get(key, appears[key] + DEFAULT_REDELIVERY_DELAY.total_seconds())
                found[key] = Redelivery(key, path, max(at, appears[key]))
        return found

    def _scan_partitions(self) -> Iterator[_Found]:
        for feed_dir in _subdirs(self.root):
            if feed_dir.name.startswith("_"):
                continue
            for version_dir in _subdirs(feed_dir, "version="):
                for format_dir in _subdirs(version_dir, "format="):
                    for date_dir in _subdirs(format_dir, "dt="):
                        for hour_dir in _subdirs(date_dir, "hr="):
                            for minute_dir in _subdirs(hour_dir, "mi="):
                                names = sorted(e.name for e in os.scandir(minute_dir) if e.is_file())
                                yield _Found(
                                    feed=feed_dir.name,
                                    version=_value(version_dir),
                                    format=_value(format_dir),
                                    date=_value(date_dir),
                                    hour=_value(hour_dir),
                                    minute=_value(minute_dir),
                                    directory=minute_dir,
                                    data_files=tuple(n for n in names if n != SUCCESS_MARKER),
                                    has_success=SUCCESS_MARKER in names,
                                )

    def _hourly_feeds(self, found: list[_Found]) -> set[str]:
        """A feed is hourly when the manifest says so or when any of its partitions is not hr=00/mi=00."""
        hourly = {item.feed for item in found if (item.hour, item.minute) != ("00", "00")}
        declared = self.manifest.get("feeds") if isinstance(self.manifest, dict) else None
        if isinstance(declared, dict):
            for feed, info in declared.items():
                sync = info.get("sync_time") if isinstance(info, dict) else info
                if sync == "1h":
                    hourly.add(feed)
                elif sync == "1d":
                    hourly.discard(feed)
        return hourly

    def _partition(self, item: _Found, hourly_lag: timedelta) -> Partition:
        day = datetime.strptime(item.date, "%Y-%m-%d").replace(tzinfo=UTC)
        if item.feed in self.hourly_feeds:
            visible = day + timedelta(hours=int(item.hour) + 1) + hourly_lag
        else:
            visible = day + DAILY_DELAY
        return Partition(**vars(item), visible_at=visible.timestamp())

    def _company(self) -> str:
        """The tenant short name: from the manifest, else from any row's company column, else "acme"."""
        if isinstance(self.manifest, dict):
            for key in ("company_name", "company_marker", "company"):
                if isinstance(self.manifest.get(key), str) and self.manifest[key]:
                    return self.manifest[key]
        for partition in self.partitions:
            for name in partition.feed_files:
                first_row = next(iter_rows(partition.directory / name), {})
                company = first_row.get("company_name") or first_row.get("company_marker")
                if isinstance(company, str) and company:
                    return company
        return DEFAULT_COMPANY

    @staticmethod
    def _read_json(path: Path, default: Any) -> Any:
        return orjson.loads(path.read_bytes()) if path.is_file() else default


def _subdirs(directory: Path, prefix: str = "") -> list[Path]:
    return sorted(
        Path(entry.path)
        for entry in os.scandir(directory)
        if entry.is_dir() and entry.name.startswith(prefix)
    )


def _value(directory: Path) -> str:
    return directory.name.split("=", 1)[1]
