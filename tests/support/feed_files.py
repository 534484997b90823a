"""An in-memory feed channel for unit tests of extraction (the real channels are tested against the
sandbox)."""

from __future__ import annotations

import gzip
import io
import json
from contextlib import contextmanager

from asapp_intercom.domain.feeds import FeedFile, Partition
from asapp_intercom.pipeline.sources import FeedUnavailable, Listing, _listing


class MemoryFeedSource:
    channel = "memory"

    def __init__(self):
        self.files: dict[tuple[Partition, str], bytes] = {}
        self.complete: set[Partition] = set()
        self.opened: list[str] = []
        self.missing: set[str] = set()
        """Feeds the tenant does not have."""

    def add(self, feed: str, partition_path: str, name: str, lines: list, *, complete: bool = True) -> None:
        partition = Partition.parse(feed, partition_path)
        text = (
            "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode() + b"\n"
        )
        self.files[(partition, name)] = gzip.compress(text, mtime=0) if name.endswith(".gz") else text
        if complete:
            self.complete.add(partition)

    def list(self, feed) -> Listing:
        if feed in self.missing:
            raise FeedUnavailable(f"no such feed: {feed}")
        found: dict = {}
        for (partition, name), data in self.files.items():
            if partition.feed == feed:
                found.setdefault(partition, {})[name] = str(len(data))
                if partition in self.complete:
                    found[partition]["_SUCCESS"] = "0"
        return _listing(found)

    @contextmanager
    def open(self, file: FeedFile):
        self.opened.append(file.name)
        data = self.files[(file.partition, file.name)]
        yield io.BytesIO(data)
