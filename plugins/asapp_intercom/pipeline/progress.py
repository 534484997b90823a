"""Progress of a long task in its log: done of total, the rate, and when it will end.

A migration of millions of records runs for days at Intercom's rate limit; an operator reading a
task's log should never wait more than `every` seconds for a line saying where it stands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Progress:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        total: int | None,
        *,
        unit: str = "records",
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log, self.what, self.total, self.unit, self.every, self.clock = (
            log,
            what,
            total,
            unit,
            every,
            clock,
        )
        self.done = 0
        self.started = self.last = clock()
        self._lock = threading.Lock()

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            now = self.clock()
            if now - self.last < self.every:
                return
            self.last = now
        self.log.info("%s", self.line())

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = f", about {_duration(left / rate)} left" if rate > 0 else ""
            return (
                f"{self.what}: {self.done:,} of {self.total:,} {self.unit} "
                f"({100 * self.done / self.total:.1f} %), "
                f"{rate:,.1f}/s{eta}"
            )
        return f"{self.what}: {self.done:,} {self.unit}, {rate:,.1f}/s"

    def finish(self) -> None:
        self.log.info("%s (done in %s)", self.line(), _duration(self.clock() - self.started))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
