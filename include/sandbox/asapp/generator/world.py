"""Everything a run shares: the tenant, its reps and queues, the windows, the mess plan and the schedule.

The schedule spreads conversation starts over the batch window with a daily and weekly rhythm
(largest-remainder allocation, so the total is exact) and yields them in time order, which is the
order the writer needs to complete partitions as it goes.
"""

import bisect
import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from . import clock, entities
from .entities import Customers, Queue, Rep
from .mess import Drift, MessPlan
from .options import Options
from .randomness import Weighted, stream

HOUR_WEIGHTS = [3, 2, 2, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 11, 11, 11, 10, 9, 8, 7, 6, 5, 4]
"""Relative traffic per UTC hour of day (quiet nights, busy afternoons)."""
WEEKEND_FACTOR = 0.6
BOUNDARY_SPREAD = 14 * clock.MINUTE
"""Conversations still open at the batch boundary start in its last minutes and run past it."""
MAX_BOUNDARY, MAX_REALTIME_ONLY = 200, 500
"""Caps that keep the real-time window (sorted in memory) bounded whatever the size."""
RECENT_CUSTOMERS = 5000


@dataclass(frozen=True)
class Start:
    index: int
    at: int
    open_at_boundary: bool


class World:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.seed = options.seed
        self.company = options.company
        self.brand = options.company.capitalize()
        self.batch_start, self.batch_end = options.batch_start, options.batch_end
        self.realtime_end = options.realtime_end
        self.days = options.batch_days
        self.conversations = options.conversations
        self.mess = MessPlan(options.seed, options.mess_rate)
        self.queues = entities.queues(options.company)
        self.roster = entities.build_roster(
            options.seed,
            entities.rep_count(options.conversations),
            options.company,
            self.batch_start,
            self.days,
            self.mess,
        )
        self.company_count = entities.company_count(options.conversations)
        self.outages = sorted(self.mess.outage_hours(self.batch_start, self.days))
        self.drift: Drift | None = self.mess.drift(self.batch_start, self.batch_end)
        per_hour = options.conversations / (self.days * 24)
        self.boundary_count = (
            0
            if self.realtime_end == self.batch_end
            else min(options.conversations, MAX_BOUNDARY, max(1, round(per_hour / 4)))
        )
        self.customers = Customers(
            options.seed,
            entities.customer_count(options.conversations),
            self.company_count,
            self.mess,
            conversations=options.conversations,
            open_at_boundary=self.boundary_count,
        )
        self.supervisors = [rep for rep in self.roster if not rep.queue_ids]
        self._reps_by_queue = {
            q.queue_id: [rep for rep in self.roster if q.queue_id in rep.queue_ids] for q in self.queues
        }
        self._queue_choices = {
            language: Weighted({q: q.weight for q in self.queues if q.language == language})
            for language in {q.language for q in self.queues}
        }
        self.conversation_blocked = functools.lru_cache(maxsize=64)(self.conversation_blocked)
        self.realtime_only_count = (
            0
            if not self.mess.enabled or self.realtime_end == self.batch_end
            else min(
                MAX_REALTIME_ONLY, max(1, round(per_hour * options.realtime_hours / 4 * options.mess_rate))
            )
        )

    # -- people ---------------------------------------------------------------------------------

    def queue_choice(self, language: str) -> Weighted:
        return self._queue_choices[language]

    def reps_for(self, queue: Queue) -> list[Rep]:
        return self._reps_by_queue[queue.queue_id]

    def customer_for(self, index: int, rng: random.Random) -> tuple[int, bool]:
        """(customer index, first conversation?) of batch conversation `index`.

        Introductions are spread evenly (ceil arithmetic), so exactly `customers.count` customers
        appear over the batch, each first seen in the conversation that introduces it; the other
        conversations bring back one of the last few thousand customers.
        """
        introduced = self.introduces(index)
        if introduced is not None:
            return introduced, True
        introduced_before = -(-index * self.customers.count // self.conversations)
        return self.usable_customer(
            introduced_before - 1 - rng.randrange(min(introduced_before, RECENT_CUSTOMERS))
        ), False

    def introduces(self, index: int) -> int | None:
        """The customer batch conversation `index` brings in, if it is that customer's first conversation."""
        count, n = self.customers.count, self.conversations
        introduced_before = -(-index * count // n)
        return introduced_before if -(-(index + 1) * count // n) > introduced_before else None

    def usable_customer(self, index: int) -> int:
        """`index`, or the nearest earlier customer when it is a dangling one (used by its own conversation
        only)."""
        while index > 0 and self.customers.is_dangling(index):
            index -= 1
        return index

    def conversation_blocked(self, index: int) -> bool:
        """Batch conversation `index` takes no conversation mess: it is open at the boundary, or it is the one
        conversation of a dangling customer (quarantined as a whole, so nothing else about it would show)."""
        if not 0 <= index < self.conversations - self.boundary_count:
            return True
        introduced = self.introduces(index)
        return introduced is not None and self.customers.is_dangling(introduced)

    # -- time -----------------------------------------------------------------------------------

    def after(self, at: int, gap: int) -> int:
        """`gap` after `at`, pushed past any outage hour it lands in (nothing happens during one)."""
        moment = at + gap
        position = bisect.bisect_right(self.outages, moment) - 1
        if position >= 0 and moment < self.outages[position] + clock.HOUR:
            return self.outages[position] + clock.HOUR + moment % clock.MINUTE
        return moment

    def batch_starts(self) -> Iterator[Start]:
        """Conversation starts of the batch window, in time order, numbered from 0."""
        hours = self.days * 24
        regular = self.conversations - self.boundary_count
        weights = [self._hour_weight(h) for h in range(hours)]
        index = 0
        for hour, count in enumerate(_allocate(regular, weights)):
            hour_start = self.batch_start + hour * clock.HOUR
            last_hour = hour == hours - 1
            span = clock.HOUR - BOUNDARY_SPREAD if last_hour and self.boundary_count else clock.HOUR
            rng = stream(self.seed, "hour", hour)
            for offset in sorted(rng.randrange(span) for _ in range(count)):
                yield Start(index, hour_start + offset, open_at_boundary=False)
                index += 1
        rng = stream(self.seed, "boundary")
        spread = sorted(rng.randrange(clock.MINUTE, BOUNDARY_SPREAD) for _ in range(self.boundary_count))
        for offset in reversed(spread):
            yield Start(index, self.batch_end - offset, open_at_boundary=True)
            index += 1

    def realtime_starts(self) -> list[int]:
        rng = stream(self.seed, "realtime-only")
        span = max(clock.MINUTE, self.realtime_end - self.batch_end - 20 * clock.MINUTE)
        return sorted(self.batch_end + rng.randrange(span) for _ in range(self.realtime_only_count))

    def _hour_weight(self, hour: int) -> float:
        at = self.batch_start + hour * clock.HOUR
        if at in self.outages or at + clock.HOUR in self.outages:
            return 0.0  # nobody starts in an outage hour, nor just before it
        weekend = clock.to_datetime(at).weekday() >= 5
        return HOUR_WEIGHTS[hour % 24] * (WEEKEND_FACTOR if weekend else 1.0)


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights`, exactly (largest remainders get the leftovers)."""
    weight_sum = sum(weights)
    quotas = [total * w / weight_sum for w in weights]
    counts = [int(q) for q in quotas]
    leftovers = sorted(range(len(weights)), key=lambda h: (counts[h] - quotas[h], h))
    for hour in leftovers[: total - sum(counts)]:
        counts[hour] += 1
    return counts
