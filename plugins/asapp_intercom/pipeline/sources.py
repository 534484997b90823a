"""Where feed files come from: ASAPP's S3 export bucket or the File Exporter API.

Both answer the same two questions — which files of complete partitions exist, and give me the
bytes of one — so extraction does not care which channel a feed arrives through. A partition
counts as complete only once its `_SUCCESS` marker exists, and only the feed's own data files are
read (a writer's `.tmp` or Hadoop's `.crc` beside them are listed as ignored). A feed the tenant
does not have at all is `FeedUnavailable`.
"""

from __future__ import annotations

import sys
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from asapp_intercom.domain.feeds import FeedFile, Partition, is_data_file
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import AsappHook

SUCCESS_MARKER = "_SUCCESS"


@dataclass
class Listing:
    """What a channel holds for one feed: files of complete partitions, and partitions still open."""

    files: list[FeedFile] = field(default_factory=list)
    incomplete: list[Partition] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Files of complete partitions that are not the feed's data (feed/partition/name)."""

    @property
    def partitions(self) -> list[Partition]:
        return sorted({file.partition for file in self.files})


class FeedUnavailable(LookupError):
    """The tenant has no such feed (ASAPP delivers only the feeds of the products a tenant uses)."""


class RequiredFeedMissing(RuntimeError):
    """A feed the migration cannot do without is not delivered for this tenant: the message says what to
    change."""

    def __init__(self, feed: str, missing: FeedUnavailable):
        super().__init__(
            f"feed {feed!r} is not available for this tenant ({missing}). The migration needs it "
            f"because asapp.required_feeds names it: ask ASAPP to deliver it, or remove it from "
            f"asapp.required_feeds in the migration's config if this tenant has no such feed."
        )


class FeedSource(Protocol):
    channel: str

    def list(self, feed: str) -> Listing: ...

    def open(self, file: FeedFile) -> IO[bytes]:
        """The file's bytes as stored (gzip stays gzip: extraction reads it, and knows where it breaks)."""

    def dataset(self, feed: str) -> tuple[str, str]:
        """Where the feed is read from, as OpenLineage names a dataset: (namespace, name)."""


def _listing(found: dict[Partition, dict[str, str]]) -> Listing:
    listing = Listing()
    for partition in sorted(found):
        names = found[partition]
        if SUCCESS_MARKER not in names:
            listing.incomplete.append(partition)
            continue
        for name, tag in sorted(names.items()):
            if is_data_file(partition.feed, name):
                listing.files.append(FeedFile(partition, name, tag))
            elif name != SUCCESS_MARKER:
                listing.ignored.append(f"{partition.feed}/{partition.path}/{name}")
    return listing


class S3FeedSource:
    """ASAPP's S3 delivery: s3://bucket/[prefix/]FEED/version=1/format=jsonl/dt=…/hr=…/mi=…/file."""

    channel = "s3"

    def __init__(self, hook: S3Hook, bucket: str, prefix: str = ""):
        self.hook = hook
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""

    def _feed_prefix(self, feed: str) -> str:
        return f"{self.prefix}{feed}/version=1/format=jsonl/"

    def dataset(self, feed: str) -> tuple[str, str]:
        return f"s3://{self.bucket}", self._feed_prefix(feed).rstrip("/")

    def list(self, feed: str) -> Listing:
        found: dict[Partition, dict[str, str]] = defaultdict(dict)
        paginator = self.hook.get_conn().get_paginator("list_objects_v2")
        objects = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._feed_prefix(feed)):
            for item in page.get("Contents", []):
                objects += 1
                partition = Partition.parse(feed, item["Key"])
                if partition is not None:
                    found[partition][item["Key"].rsplit("/", 1)[-1]] = item["ETag"].strip('"')
        if not objects:
            raise FeedUnavailable(f"nothing under s3://{self.bucket}/{self._feed_prefix(feed)}")
        return _listing(found)

    @contextmanager
    def open(self, file: FeedFile) -> Iterator[IO[bytes]]:
        key = f"{self._feed_prefix(file.partition.feed)}{file.partition.path}/{file.name}"
        # One GET on the hook's client: S3Hook.get_key would first build a boto3 resource and send a HEAD.
        body = self.hook.get_conn().get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield body
        finally:
            body.close()


class FileExporterFeedSource:
    """ASAPP's File Exporter API: list dates, intervals and files, then download by signed URL."""

    channel = "file_exporter"

    def __init__(self, hook: AsappHook):
        self.hook = hook

    def dataset(self, feed: str) -> tuple[str, str]:
        return self.hook.api.base_url, f"file_exporter/{feed}"

    def list(self, feed: str) -> Listing:
        found: dict[Partition, dict[str, str]] = {}
        try:
            dates = self.hook.list_feed_dates(feed)
        except ApiError as error:
            if error.status == 404:
                raise FeedUnavailable(f"ASAPP's File Exporter answered {error}") from None
            raise
        for date in dates:
            date = date.removeprefix("dt=")
            for interval in self.hook.list_feed_intervals(feed, date):
                partition = Partition.parse(feed, f"dt={date}/{interval}")
                if partition is None:
                    continue
                names = self.hook.list_feed_files(feed, date, interval)
                # File Exporter files are immutable once listed with _SUCCESS: the name is the tag.
                found[partition] = {name: name for name in names}
        return _listing(found)

    @contextmanager
    def open(self, file: FeedFile) -> Iterator[IO[bytes]]:
        partition = file.partition
        url = self.hook.feed_file_url(
            partition.feed, partition.dt, f"hr={partition.hr}/mi={partition.mi}", file.name
        )
        with self.hook.open_url(url) as stream:
            yield stream


READ_AHEAD = 8
"""Files opened ahead of the one being read."""
HEAD_BYTES = 1 << 20
"""What is read of each file ahead of its turn: the whole of a small file."""


class _HeadFirst:
    """A file's stream whose first bytes were read ahead."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (a short read, not the end, while the head lasts)."""
        if not self._head:
            return self._rest.read(size)
        if size < 0:
            given, self._head = self._head, b""
            return given + self._rest.read()
        given, self._head = self._head[:size], self._head[size:]
        return given


class ReadAhead:
    """Opens a source's files in the order given, each READ_AHEAD files before its turn, and reads its first
    HEAD_BYTES in a background thread: over S3 or the File Exporter a file costs a round trip before its
    first byte (tens of milliseconds), from a cold disk a seek, and a feed is thousands of small files. A
    small file arrives whole; a large one's rest streams when its turn comes. What opening or reading ahead
    raised is raised at the file's turn, as if it had been read then. Memory: READ_AHEAD × HEAD_BYTES."""

    def __init__(self, source: FeedSource, files: Iterable[FeedFile], depth: int = READ_AHEAD):
        self.source = source
        self.channel = source.channel
        self._files = iter(files)
        self._pending: deque[tuple[FeedFile, Future]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="read-ahead")
        for _ in range(depth):
            self._schedule()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *failure: object) -> None:
        self.close()

    def _schedule(self) -> None:
        file = next(self._files, None)
        if file is not None:
            self._pending.append((file, self._pool.submit(self._fetch, file)))

    def _fetch(self, file: FeedFile) -> tuple[AbstractContextManager, IO[bytes], bytes]:
        opened = self.source.open(file)
        stream = opened.__enter__()
        try:
            return opened, stream, stream.read(HEAD_BYTES)
        except BaseException:
            opened.__exit__(*sys.exc_info())
            raise

    @contextmanager
    def open(self, file: FeedFile) -> Iterator[IO[bytes]]:
        """The next file's bytes as stored (files are taken in the order given)."""
        expected, fetched = self._pending.popleft()
        if expected != file:
            raise ValueError(f"{file.path} asked for while {expected.path} is the next file read ahead")
        self._schedule()
        opened, stream, head = fetched.result()
        with ExitStack() as closing:
            closing.push(opened)
            yield _HeadFirst(head, stream)

    def close(self) -> None:
        """Close what was read ahead and never taken (a batch that failed, a task that stops)."""
        self._files = iter(())
        while self._pending:
            _, fetched = self._pending.popleft()
            if fetched.cancel():
                continue
            try:
                opened, _, _ = fetched.result()
            except Exception:  # its turn never came: nothing to report
                continue
            opened.__exit__(None, None, None)
        self._pool.shutdown()
