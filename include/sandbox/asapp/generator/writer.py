"""Streams rows into ASAPP's partition tree and completes partitions in time order.

Rows go straight to a hidden `.partial` file in their partition's folder, so memory holds only the
open file buffers, however many rows there are. A partition is completed once nothing earlier than
its end can still arrive: its file is renamed (or split into gzip parts when it holds more than
max_rows_per_file rows) and the empty `_SUCCESS` marker written, also for partitions without data.
A dresser (FileMess) may write a partition's files itself, the way a faulty delivery would.
"""

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import clock
from .feeds import FeedSpec
from .filemess import FileMess

SUCCESS_MARKER = "_SUCCESS"
VERSION, FORMAT = "1", "jsonl"
_BUFFER = 1 << 16

FileListener = Callable[[str, str, int], None]
"""Called with (feed, path relative to the dataset root, rows) for every data file written."""


def partition_path(feed: str, starts_at: int) -> str:
    return (
        f"{feed}/version={VERSION}/format={FORMAT}/dt={clock.day_text(starts_at)}"
        f"/hr={clock.hour_text(starts_at)}/mi=00"
    )


def period(spec: FeedSpec) -> int:
    return clock.HOUR if spec.sync == "1h" else clock.DAY


class _OpenPartition:
    def __init__(self, folder: Path, feed: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f".{feed}.{FORMAT}.partial"
        self.file: BinaryIO = open(self.path, "wb", buffering=_BUFFER)  # closed when the partition completes
        self.rows = 0


class PartitionWriter:
    def __init__(
        self,
        root: Path,
        feeds: dict[str, FeedSpec],
        window: tuple[int, int],
        max_rows_per_file: int,
        on_file: FileListener,
        dresser: FileMess | None = None,
    ) -> None:
        self.root = root
        self.dresser = dresser
        self.feeds = feeds
        self.window_start, self.window_end = window
        self.max_rows_per_file = max_rows_per_file
        self.on_file = on_file
        self.next_to_complete = {name: self.window_start for name in feeds}
        self.open: dict[tuple[str, int], _OpenPartition] = {}

    def write(self, feed: str, at: int, line: bytes) -> None:
        """Append one serialized row (ending in a newline) to the partition holding time `at`."""
        starts_at = clock.floor(at, period(self.feeds[feed]))
        if not self.next_to_complete[feed] <= starts_at < self.window_end:
            raise ValueError(f"{feed} row at {clock.feed_ts(at)} is outside the open partitions")
        partition = self.open.get((feed, starts_at))
        if partition is None:
            partition = self.open[(feed, starts_at)] = _OpenPartition(
                self.root / partition_path(feed, starts_at), feed
            )
        partition.file.write(line)
        partition.rows += 1

    def complete_before(self, cutoff: int) -> None:
        """Complete every partition that ends at or before `cutoff`, oldest first."""
        for feed, spec in self.feeds.items():
            step = period(spec)
            while self.next_to_complete[feed] + step <= min(cutoff, self.window_end):
                self._complete(feed, self.next_to_complete[feed])
                self.next_to_complete[feed] += step

    def _complete(self, feed: str, starts_at: int) -> None:
        relative = partition_path(feed, starts_at)
        folder = self.root / relative
        folder.mkdir(parents=True, exist_ok=True)
        partition = self.open.pop((feed, starts_at), None)
        if partition is not None:
            partition.file.close()
        dressed = self.dresser and self.dresser.complete(
            feed,
            starts_at,
            partition and partition.path,
            partition.rows if partition else 0,
            folder,
            relative,
        )
        if dressed is not None:
            for name, rows in dressed:
                self.on_file(feed, f"{relative}/{name}", rows)
        elif partition is not None:
            if partition.rows <= self.max_rows_per_file:
                name = f"{feed}.{FORMAT}"
                os.replace(partition.path, folder / name)
                self.on_file(feed, f"{relative}/{name}", partition.rows)
            else:
                self._split(feed, relative, partition)
        (folder / SUCCESS_MARKER).touch()

    def _split(self, feed: str, relative: str, partition: _OpenPartition) -> None:
        """{feed}.jsonl.00.gz, .01.gz, …: max_rows_per_file rows each, gzip without name or time."""
        with open(partition.path, "rb") as source:
            number = 0
            while True:
                name = f"{feed}.{FORMAT}.{number:02d}.gz"
                rows = 0
                with (
                    open(self.root / relative / name, "wb") as raw,
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as target,
                ):
                    for line in source:
                        target.write(line)
                        rows += 1
                        if rows == self.max_rows_per_file:
                            break
                self.on_file(feed, f"{relative}/{name}", rows)
                if rows < self.max_rows_per_file or source.peek(1) == b"":
                    break
                number += 1
        partition.path.unlink()
