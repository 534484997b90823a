"""One Intercom rate budget, shared by every process that calls a workspace.

Intercom limits each private app (access token) to 10,000 calls a minute and the workspace, all its
apps together, to 25,000, each spread over fixed 10-second windows. Tasks, Celery workers and
migrations aimed at one workspace count their calls in a store they can all reach (Redis, or a SQL
database: PostgreSQL, or SQLite on one machine), per window, against three limits at once: the
token's app, the workspace, and the migration's own share (`intercom.requests_per_minute`).

A process leases a few calls at a time, so the store sees one round trip per block, not per call.
Calls leased but not started before their window ends are not used: the store never gives a window
more than its limits, whoever asks.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import requests

from asapp_intercom.hooks.api import Permit, RateLimiter

WINDOW_SECONDS = 10
WINDOWS_PER_MINUTE = 60 // WINDOW_SECONDS
KEPT_WINDOWS = 60
"""Windows a store keeps (ten minutes): enough for any late answer, small enough to stay tiny."""


def window_budget(per_minute: int) -> int:
    """Calls allowed in one 10-second window for a per-minute limit (Intercom: 10,000/min is 1,666)."""
    return max(1, per_minute // WINDOWS_PER_MINUTE)


def fingerprint(token: str) -> str:
    """Names an app in the store without revealing its token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Counter:
    """One limit in one window: `key` names what is counted (an app, the workspace, a share)."""

    key: str
    limit: int


class BudgetStore(Protocol):
    def lease(self, window: int, counters: Sequence[Counter], wanted: int) -> int:
        """Add the same n ≤ `wanted` calls to every counter of `window`, as many as all their limits
        allow, atomically for every process using the store; return n (0: one of them is full)."""

    def fill(self, window: int, key: str, used: int) -> None:
        """The server counted at least `used` calls on `key` in `window` (other apps, other tools)."""


class MemoryStore:
    """Counters of one process: the budget of a task run alone (tests, benchmarks, a single worker)."""

    def __init__(self) -> None:
        self._used: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def lease(self, window: int, counters: Sequence[Counter], wanted: int) -> int:
        with self._lock:
            grant = min([wanted] + [c.limit - self._used.get((c.key, window), 0) for c in counters])
            if grant <= 0:
                return 0
            for counter in counters:
                self._used[(counter.key, window)] = self._used.get((counter.key, window), 0) + grant
            self._forget_before(window - KEPT_WINDOWS)
            return grant

    def fill(self, window: int, key: str, used: int) -> None:
        with self._lock:
            self._used[(key, window)] = max(self._used.get((key, window), 0), used)

    def _forget_before(self, window: int) -> None:
        if len(self._used) > 4 * KEPT_WINDOWS:
            self._used = {slot: used for slot, used in self._used.items() if slot[1] >= window}


TABLE_LOCK = 0x4A51_B0D6
"""PostgreSQL advisory lock that serialises the budget table's creation: two CREATE TABLE IF NOT EXISTS
at once can both pass the check and one fails on pg_type's unique index."""


class SqlStore:
    """Counters in a table of a SQL database every worker reaches (PostgreSQL; SQLite on one machine).

    A lease is one transaction: insert the window's rows if missing, lock them in key order (so two
    leases never deadlock), read, add the grant to each. On SQLite the first insert takes the
    database's write lock, which serialises leases the same way.
    """

    def __init__(self, url: str):
        import sqlalchemy as sa

        from asapp_intercom.ledger import INSERT_IF_ABSENT, sql_engine

        self.sa = sa
        self.engine = sql_engine(url)
        self.table = sa.Table(
            "intercom_budget",
            sa.MetaData(),
            sa.Column("counter", sa.String(200), primary_key=True),
            sa.Column("window_index", sa.BigInteger, primary_key=True),
            sa.Column("used", sa.Integer, nullable=False),
        )
        with self.engine.begin() as db:  # workers may meet here at once
            if self.engine.dialect.name == "postgresql":  # where IF NOT EXISTS alone can still collide
                db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": TABLE_LOCK})
            db.execute(sa.schema.CreateTable(self.table, if_not_exists=True))
        self._insert = INSERT_IF_ABSENT[self.engine.dialect.name]

    def lease(self, window: int, counters: Sequence[Counter], wanted: int) -> int:
        sa, table = self.sa, self.table
        counters = sorted(counters, key=lambda c: c.key)
        keys = [c.key for c in counters]
        with self.engine.begin() as db:
            db.execute(
                self._insert(table)
                .values([{"counter": key, "window_index": window, "used": 0} for key in keys])
                .on_conflict_do_nothing()
            )
            rows = db.execute(
                sa.select(table.c.counter, table.c.used)
                .where(table.c.window_index == window, table.c.counter.in_(keys))
                .order_by(table.c.counter)
                .with_for_update()
            )
            used = dict(rows.all())
            grant = min([wanted] + [c.limit - used[c.key] for c in counters])
            if grant <= 0:
                return 0
            db.execute(
                table.update()
                .where(table.c.window_index == window, table.c.counter.in_(keys))
                .values(used=table.c.used + grant)
            )
            if window % WINDOWS_PER_MINUTE == 0:
                db.execute(table.delete().where(table.c.window_index < window - KEPT_WINDOWS))
            return grant

    def fill(self, window: int, key: str, used: int) -> None:
        table = self.table
        with self.engine.begin() as db:
            db.execute(
                self._insert(table)
                .values(counter=key, window_index=window, used=used)
                .on_conflict_do_nothing()
            )
            db.execute(
                table.update()
                .where(table.c.counter == key, table.c.window_index == window, table.c.used < used)
                .values(used=used)
            )


_LEASE = """
local wanted = tonumber(ARGV[1])
local grant = wanted
for i, key in ipairs(KEYS) do
  local room = tonumber(ARGV[i + 2]) - tonumber(redis.call('GET', key) or '0')
  if room < grant then grant = room end
end
if grant <= 0 then return 0 end
for _, key in ipairs(KEYS) do
  redis.call('INCRBY', key, grant)
  redis.call('EXPIRE', key, tonumber(ARGV[2]))
end
return grant
"""

_FILL = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
end
"""


class RedisStore:
    """Counters in Redis (Celery's broker, when it is Redis): a lease is one Lua script, atomic by
    Redis's design, and counters expire on their own."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self._lease = self.client.register_script(_LEASE)
        self._fill = self.client.register_script(_FILL)
        self.ttl = KEPT_WINDOWS * WINDOW_SECONDS

    @staticmethod
    def _key(counter: str, window: int) -> str:
        workspace = counter.split("/", 1)[0]
        return f"intercom-budget:{{{workspace}}}:{counter}:{window}"  # one hash slot per workspace

    def lease(self, window: int, counters: Sequence[Counter], wanted: int) -> int:
        keys = [self._key(c.key, window) for c in counters]
        return int(self._lease(keys=keys, args=[wanted, self.ttl, *[c.limit for c in counters]]))

    def fill(self, window: int, key: str, used: int) -> None:
        self._fill(keys=[self._key(key, window)], args=[used, self.ttl])


def open_store(url: str | None) -> BudgetStore:
    """`redis://…` or `rediss://…`: Redis; any other URL: that SQL database; None: this process only."""
    if not url:
        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    return SqlStore(url)


@dataclass(frozen=True)
class Limits:
    """Intercom's limits per minute, and the part of them this migration may spend."""

    share_per_minute: int = 10_000
    app_per_minute: int = 10_000
    workspace_per_minute: int = 25_000
    share: str = "default"
    """Names the share (the migration id): every task of the migration draws on the same one."""


@dataclass
class _Lease:
    window: int = -1
    left: int = 0
    leased: int = 0


@dataclass
class _App:
    token: str
    key: str
    limit: int
    lease: _Lease = field(default_factory=_Lease)
    filled_window: int = -1


class SharedBudget(RateLimiter):
    """Starts a call only when the store grants it in the current window, on one of the pool's tokens.

    Calls are spread over the tokens (one private app each) in turn, so a pool of three can use the
    workspace's 25,000/min where one app is held to 10,000. The windows follow the server's: their
    phase is learned from X-RateLimit-Reset. What the headers teach goes back to the store: the app's
    limit (X-RateLimit-Limit, when lower than configured), calls other tools made (Limit - Remaining),
    and a 429 closes the window for that app. Calls still in flight when a window ends are charged to
    the next one, where the server counts them.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        store: BudgetStore,
        limits: Limits = Limits(),
        workspace: str | Callable[[], str] = "workspace",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not tokens:
            raise ValueError("the budget needs at least one access token")
        self.store = store
        self.limits = limits
        self._workspace = workspace
        self.clock = clock
        self.sleep = sleep
        self.apps = [
            _App(token, fingerprint(token), window_budget(limits.app_per_minute)) for token in tokens
        ]
        self.phase = 0.0
        self.waited_seconds = 0.0
        self._next_app = 0
        self._window = -1
        self._in_flight = 0
        self._carried = 0
        self._lock = threading.Lock()

    @property
    def block(self) -> int:
        """Calls leased per round trip: about 1 % of the tightest window budget."""
        limits = self.limits
        tightest = min(
            min(app.limit for app in self.apps),
            window_budget(limits.workspace_per_minute),
            window_budget(limits.share_per_minute),
        )
        return max(1, tightest // 100)

    @property
    def workspace(self) -> str:
        if callable(self._workspace):
            self._workspace = str(self._workspace())
            self._carried += 1  # the call that named the workspace counts in this window too
        return self._workspace

    def window_of(self, moment: float) -> int:
        return int((moment - self.phase) // WINDOW_SECONDS)

    def window_end(self, window: int) -> float:
        return (window + 1) * WINDOW_SECONDS + self.phase

    def _app_counter(self, app: _App) -> str:
        return f"{self.workspace}/app/{app.key}"

    def _counters(self, app: _App) -> list[Counter]:
        workspace, limits = self.workspace, self.limits
        return [
            Counter(self._app_counter(app), app.limit),
            Counter(f"{workspace}/workspace", window_budget(limits.workspace_per_minute)),
            Counter(f"{workspace}/share/{limits.share}", window_budget(limits.share_per_minute)),
        ]

    def acquire(self) -> Permit:
        while True:
            with self._lock:
                now = self.clock()
                window = self.window_of(now)
                if window != self._window:
                    # Our calls still in flight from the last window land in this one on the server.
                    self._window, self._carried = window, self._in_flight
                for turn in range(len(self.apps)):
                    position = (self._next_app + turn) % len(self.apps)
                    if self._take(self.apps[position], window):
                        self._next_app = (position + 1) % len(self.apps)
                        self._in_flight += 1
                        return Permit(position, {"Authorization": f"Bearer {self.apps[position].token}"})
                wait = self.window_end(window) - now
            self.waited_seconds += wait
            self.sleep(wait)

    def _take(self, app: _App, window: int) -> bool:
        lease = app.lease
        if lease.window != window:
            app.lease = lease = _Lease(window)
        if lease.left == 0:
            counters = self._counters(app)  # names the workspace first, which may take a call
            granted = self.store.lease(window, counters, self.block + self._carried)
            kept = max(0, granted - self._carried)
            self._carried = max(0, self._carried - granted)
            lease.left, lease.leased = kept, lease.leased + granted
        if lease.left == 0:
            return False
        lease.left -= 1
        return True

    def release(self, permit: Permit) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def observe(self, permit: Permit, response: requests.Response) -> float | None:
        self.release(permit)
        headers = response.headers
        try:
            limit = int(headers["X-RateLimit-Limit"])
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers["X-RateLimit-Reset"])
        except (KeyError, ValueError):
            return None
        app = self.apps[permit.app]
        with self._lock:
            self.phase = reset % WINDOW_SECONDS
            window = self.window_of(reset - WINDOW_SECONDS / 2)
            app.limit = min(window_budget(self.limits.app_per_minute), limit)
            used = limit if response.status_code == 429 else limit - remaining
            lease = app.lease
            others = used > (lease.leased if lease.window == window else 0)
            must_fill = (others or response.status_code == 429) and app.filled_window != window
            if must_fill:
                app.filled_window = window
                if lease.window == window:
                    lease.left = 0 if response.status_code == 429 else min(lease.left, remaining)
        if must_fill:
            self.store.fill(window, self._app_counter(app), used)
        if response.status_code == 429:
            return max(0.0, reset - self.clock()) + 0.05
        return None
