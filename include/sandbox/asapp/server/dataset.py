"""The dataset directory being served, indexed once at start.

Layout (the contract with the generator, though any directory in this shape works):
    {feed}/version=V/format=F/dt=YYYY-MM-DD/hr=HH/mi=MM/{files} (+ empty _SUCCESS)
    _realtime/events.jsonl, _config/segments.json, _attachments/{file_upload_event_id}, _manifest.json
"""

import gzip
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

SUCCESS_MARKER = "_SUCCESS"
DAILY_DELAY = timedelta(days=1, hours=2)  # ASAPP refreshes File Exporter data at 02:00 UTC the next day
DEFAULT_COMPANY = "acme"


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
    """Rows of a JSON Lines file, gzip-compressed or not."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


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

    @property
    def feeds(self) -> list[str]:
        return sorted(self.tree)

    def rows(self, feed: str, partitions: list[Partition] | None = None) -> Iterator[dict[str, Any]]:
        for partition in partitions if partitions is not None else self.partitions:
            if partition.feed == feed:
                for name in partition.data_files:
                    yield from iter_rows(partition.directory / name)

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
                                    data_files=tuple(
                                        n for n in names if n != SUCCESS_MARKER and not n.startswith(".")
                                    ),
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
            for name in partition.data_files:
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
