"""Progress of a long task: in its log (done of total, the rate, when it will end) and in the ledger (the
requests it has spent).

A migration of millions of records runs for days at Intercom's rate limit; an operator reading a
task's log should never wait more than `every` seconds for a line saying where it stands, and the
run's report counts the requests of a try that was killed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asapp_intercom.hooks.api import ApiSession
    from asapp_intercom.ledger import Ledger

SPEND_EVERY_SECONDS = 5.0


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


class Heartbeat:
    """Lines in the log while a step with no records to count runs, such as DuckDB sorting tens of millions
    of messages (at two million conversations, transform's sorts ran over two minutes without a line):
    `what: step, for 1 min (45 % of its current statement)` every `every` seconds, from a thread of its own,
    and `what: step, done in 2 min` at its end.
    `estimate`: how far the current statement is, in percent (DuckDB's: negative or 0 when it cannot tell;
    its sorts of the feeds at 2M conversations said 0 throughout)."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        every: float = 30.0,
        estimate: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.log, self.what, self.every, self.estimate, self.clock = log, what, every, estimate, clock

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started, stop = self.clock(), threading.Event()

        def beat() -> None:
            while not stop.wait(self.every):
                self.log.info("%s", self.line(name, self.clock() - started))

        thread = threading.Thread(target=beat, name=f"heartbeat of {self.what}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        # the line the next one follows: a Progress starting now says where it stands within `every`
        self.log.info("%s: %s, done in %s", self.what, name, _duration(self.clock() - started))

    def line(self, name: str, elapsed: float) -> str:
        done = self.estimate() if self.estimate else -1.0
        known = f" ({done:.0f} % of its current statement)" if done > 0 else ""
        return f"{self.what}: {name}, for {_duration(elapsed)}{known}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


@dataclass(frozen=True)
class TaskTry:
    """The task try work runs in: what it spends is written to the ledger under it as it goes."""

    task_id: str
    map_index: int = -1
    try_number: int = 1


class Spend:
    """Writes the requests a try has sent to the ledger every few seconds, so that the run's report counts
    them even when the try is killed: its total, and what it sent in each minute (the rate over time that
    the report page draws against the budget). Requests since the last write count in the current minute."""

    def __init__(self, ledger: Ledger, run_id: str, task: TaskTry | None, api: ApiSession):
        self.ledger, self.run_id, self.task, self.api = ledger, run_id, task, api
        self.calls_before, self.retries_before = api.calls, api.retries
        self.last = time.monotonic()
        self.minute, self.calls_at_minute, self.last_calls = _minute(), api.calls, api.calls
        self._lock = threading.Lock()

    def maybe_write(self) -> None:
        if time.monotonic() - self.last >= SPEND_EVERY_SECONDS:
            self.write()

    def write(self) -> None:
        if self.task is None:
            return
        with self._lock:
            self.last = time.monotonic()
            calls = self.api.calls
            self.ledger.note_spend(
                self.run_id,
                self.task.task_id,
                self.task.map_index,
                self.task.try_number,
                calls - self.calls_before,
                self.api.retries - self.retries_before,
            )
            minute = _minute()
            if minute != self.minute:
                self.minute, self.calls_at_minute = minute, self.last_calls
            if calls > self.calls_at_minute:
                self.ledger.note_spend_in_minute(
                    self.run_id,
                    self.task.task_id,
                    self.task.map_index,
                    self.task.try_number,
                    minute,
                    calls - self.calls_at_minute,
                )
            self.last_calls = calls


def _minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)
