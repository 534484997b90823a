"""Partition release on the sandbox clock, shared by the S3 bucket and the File Exporter API.

A partition is released when the clock passes its time: its files are put on S3, then its
_SUCCESS marker (only if the dataset has one: a partition ASAPP never finished stays without). What
is released is a function of the clock (moving the clock back withdraws partitions again), so a test
can start a server first and pick the moment to look at afterwards. While the partial_partitions
fault is on, newly released partitions keep their _SUCCESS back. A re-delivered file replaces the
published object (same key, new bytes, new ETag) once the clock reaches its time.
"""

import logging
import threading
from bisect import bisect_right

import anyio.to_thread

from .dataset import SUCCESS_MARKER, Partition, Redelivery
from .s3 import SandboxS3

log = logging.getLogger(__name__)


class PartitionPublisher:
    def __init__(
        self, partitions: list[Partition], s3: SandboxS3, redeliveries: dict[str, Redelivery] | None = None
    ) -> None:
        self._partitions = partitions  # sorted by visible_at
        self._times = [p.visible_at for p in partitions]
        self._rank = {p.prefix: rank for rank, p in enumerate(partitions)}
        self._released = 0
        self._withheld: set[str] = set()
        self._s3 = s3
        self._lock = threading.Lock()
        self._redeliveries = sorted((redeliveries or {}).values(), key=lambda r: r.key)
        self._redelivery_rank = {r.key: self._rank[r.key.rsplit("/", 1)[0]] for r in self._redeliveries}
        self._replaced: set[str] = set()

    def is_visible(self, partition: Partition) -> bool:
        return self._rank[partition.prefix] < self._released

    def is_complete(self, partition: Partition) -> bool:
        return self.is_visible(partition) and partition.has_success and partition.prefix not in self._withheld

    def is_due(self, now: float, partial: bool) -> bool:
        return (
            bisect_right(self._times, now) != self._released
            or (bool(self._withheld) and not partial)
            or any(self._replaces(r, now) != (r.key in self._replaced) for r in self._redeliveries)
        )

    def _replaces(self, redelivery: Redelivery, now: float) -> bool:
        return self._redelivery_rank[redelivery.key] < self._released and now >= redelivery.at

    async def sync(self, now: float, partial: bool) -> None:
        """Catch up with the clock off the event loop; a no-op unless something changed."""
        if self.is_due(now, partial):
            await anyio.to_thread.run_sync(self.reconcile, now, partial)

    def reconcile(self, now: float, partial: bool) -> None:
        # Readers never lock: a partition counts as released only after its objects are on S3,
        # and stops counting before they are removed.
        with self._lock:
            target = bisect_right(self._times, now)
            before = self._released
            while self._released < target:
                self._release(self._partitions[self._released], partial)
                self._released += 1
            while self._released > target:
                self._released -= 1
                self._withdraw(self._partitions[self._released])
            if not partial:
                for prefix in sorted(self._withheld):
                    self._s3.put(f"{prefix}/{SUCCESS_MARKER}", b"")
                    self._withheld.discard(prefix)
            if self._released != before:
                log.info("partitions released: %d of %d", self._released, len(self._partitions))
            self._redeliver(now)

    def _redeliver(self, now: float) -> None:
        """Replace released files whose corrected copy is due, and put the originals back if the clock went
        back."""
        for redelivery in self._redeliveries:
            due = self._replaces(redelivery, now)
            if due and redelivery.key not in self._replaced:
                self._s3.put(redelivery.key, redelivery.path.read_bytes())
                self._replaced.add(redelivery.key)
                log.info("re-delivered %s", redelivery.key)
            elif not due and redelivery.key in self._replaced:
                if self._redelivery_rank[redelivery.key] < self._released:
                    partition = self._partitions[self._redelivery_rank[redelivery.key]]
                    name = redelivery.key.rsplit("/", 1)[1]
                    self._s3.put(redelivery.key, (partition.directory / name).read_bytes())
                self._replaced.discard(redelivery.key)

    def _release(self, partition: Partition, partial: bool) -> None:
        for name in partition.data_files:
            self._s3.put(f"{partition.prefix}/{name}", (partition.directory / name).read_bytes())
        if partition.has_success:
            if partial:
                self._withheld.add(partition.prefix)
            else:
                self._s3.put(f"{partition.prefix}/{SUCCESS_MARKER}", b"")

    def _withdraw(self, partition: Partition) -> None:
        if partition.has_success and partition.prefix not in self._withheld:
            self._s3.delete(f"{partition.prefix}/{SUCCESS_MARKER}")
        self._withheld.discard(partition.prefix)
        for name in partition.data_files:
            self._s3.delete(f"{partition.prefix}/{name}")
