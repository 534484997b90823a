"""Which conversations, customers, reps and hours receive each kind of deliberate mess.

Cases are spread evenly: a kind with rate r picks exactly one member in every block of about 1/r
consecutive indices (a partial last block included), at a seeded offset. So every kind is present
from small sizes on, counts grow linearly with size, and deciding needs no memory: any index can be
asked about at any time.
"""

from dataclasses import dataclass
from enum import StrEnum

from . import clock
from .randomness import stream


class Mess(StrEnum):
    # conversations (ids: issue_id)
    RESTATED_CONVERSATIONS = "restated_conversations"
    LATE_CSAT = "late_csat"
    RESUMED_CONVERSATIONS = "resumed_conversations"
    MULTIPLE_COMPANY_SEGMENTS = "multiple_company_segments"
    ALTERNATE_TIMESTAMPS = "alternate_timestamps"
    LONG_CONVERSATIONS = "long_conversations"
    # utterances (ids: event_uuid)
    UNICODE_TEXT = "unicode_text"
    HTML_LIKE_TEXT = "html_like_text"
    # attachments (ids: file_upload_event_id)
    UNUSUAL_ATTACHMENTS = "unusual_attachments"
    # customers (ids: customer_id; pairs of customer_id)
    RESTATED_CUSTOMERS = "restated_customers"
    EMAIL_CASE_DUPLICATES = "email_case_duplicates"
    # reps (ids: rep_id)
    AGENTS_WITHOUT_EMAIL = "agents_without_email"
    CHANGED_REPS = "changed_reps"
    # partitions and schema
    EMPTY_PARTITIONS = "empty_partitions"
    SCHEMA_DRIFT = "schema_drift"
    # real-time log (ids: issue_id; event_id)
    REALTIME_ONLY_CONVERSATIONS = "realtime_only_conversations"
    DUPLICATE_DELIVERIES = "duplicate_deliveries"


BASE_RATES = {
    Mess.RESTATED_CONVERSATIONS: 0.01,
    Mess.LATE_CSAT: 0.01,
    Mess.RESUMED_CONVERSATIONS: 0.005,
    Mess.MULTIPLE_COMPANY_SEGMENTS: 0.02,
    Mess.ALTERNATE_TIMESTAMPS: 0.01,
    Mess.LONG_CONVERSATIONS: 0.0002,
    Mess.UNICODE_TEXT: 0.01,
    Mess.HTML_LIKE_TEXT: 0.005,
    Mess.UNUSUAL_ATTACHMENTS: 0.0005,
    Mess.RESTATED_CUSTOMERS: 0.01,
    Mess.EMAIL_CASE_DUPLICATES: 0.005,
    Mess.AGENTS_WITHOUT_EMAIL: 0.05,
    Mess.CHANGED_REPS: 0.07,
    Mess.DUPLICATE_DELIVERIES: 0.02,
}
"""Share of the population (conversations, customers, reps or real-time events) per kind at --mess-rate 1."""

NEEDS_LATER_TIME = {
    Mess.RESTATED_CONVERSATIONS, Mess.LATE_CSAT, Mess.RESUMED_CONVERSATIONS, Mess.LONG_CONVERSATIONS,
    Mess.RESTATED_CUSTOMERS,
}
"""Kinds whose effect comes hours or a day after the member's start: picked in the first 40% of a
block (indices follow time), so that effect still falls inside the batch window."""

LONG_CONVERSATIONS_FROM = 100
"""A 1,000-message conversation is guaranteed from this many conversations on (never below)."""

OUTAGE_EVERY_DAYS = 7
"""One quiet hour (every hourly feed empty) per week of batch window, at least one."""

DRIFT_FEED, DRIFT_COLUMN = "utterances", "detected_language"


@dataclass(frozen=True)
class Drift:
    feed: str
    column: str
    starts_at: int
    """Partitions starting at or after this time carry the extra column."""


class MessPlan:
    def __init__(self, seed: int, rate: float) -> None:
        """rate 0 turns every kind off; otherwise it scales the base rates."""
        self.seed = seed
        self.rate = rate
        self._last_block: dict[Mess, tuple[int, int, int]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def picks(self, kind: Mess, index: int, population: int) -> bool:
        """Whether member `index` of a population of that size receives this kind of mess."""
        if not self.enabled or not 0 <= index < population:
            return False
        if kind is Mess.LONG_CONVERSATIONS and population < LONG_CONVERSATIONS_FROM:
            return False
        block = max(1, round(1 / (BASE_RATES[kind] * self.rate)))
        first = index - index % block
        return index - first == self._offset(kind, first // block, min(block, population - first))

    def _offset(self, kind: Mess, block: int, length: int) -> int:
        """The picked position in a block; the last block asked per kind is remembered (indices come in order)."""
        remembered = self._last_block.get(kind)
        if remembered is not None and remembered[:2] == (block, length):
            return remembered[2]
        reach = max(1, length * 2 // 5) if kind in NEEDS_LATER_TIME else length
        offset = stream(self.seed, "mess", kind, block).randrange(reach)
        self._last_block[kind] = (block, length, offset)
        return offset

    def outage_hours(self, batch_start: int, days: int) -> list[int]:
        """Night hours (02:00–05:59) in which nothing happens, spread over the window."""
        if not self.enabled:
            return []
        count = max(1, round(days / OUTAGE_EVERY_DAYS * self.rate))
        rng = stream(self.seed, "mess", Mess.EMPTY_PARTITIONS)
        return [batch_start + (n * days // count) * clock.DAY + rng.randrange(2, 6) * clock.HOUR for n in range(count)]

    def drift(self, batch_start: int, batch_end: int) -> Drift | None:
        """The extra column appears from the partition holding the window's midpoint on."""
        if not self.enabled:
            return None
        middle = clock.floor(batch_start + (batch_end - batch_start) // 2, clock.HOUR)
        return Drift(DRIFT_FEED, DRIFT_COLUMN, max(middle, batch_start + clock.HOUR))
