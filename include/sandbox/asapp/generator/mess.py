"""Which conversations, customers, reps and hours receive each kind of deliberate mess.

Cases are spread evenly: a kind with rate r picks exactly one member in every block of about 1/r
consecutive indices (a partial last block included), at a seeded offset. So every kind is present
from small sizes on, counts grow linearly with size, and deciding needs no memory: any index can be
asked about at any time.
"""

from collections.abc import Callable
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
    # files (ids: relative paths; truncated_gzip: one object per file)
    TRUNCATED_GZIP = "truncated_gzip"
    NON_DATA_FILES = "non_data_files"
    UTF8_BOM = "utf8_bom"
    CRLF_LINE_ENDINGS = "crlf_line_endings"
    BLANK_LINES = "blank_lines"
    EMPTY_DATA_FILES = "empty_data_files"
    UNPUBLISHED_PARTITIONS = "unpublished_partitions"
    # extra lines in data files (ids: {"path", "line"})
    BROKEN_JSON_LINES = "broken_json_lines"
    NON_OBJECT_LINES = "non_object_lines"
    INVALID_UTF8_LINES = "invalid_utf8_lines"
    WRONG_TYPE_VALUES = "wrong_type_values"
    MISSING_KEY_VALUES = "missing_key_values"
    DUPLICATE_ROWS = "duplicate_rows"
    # records and values
    NUMBERS_AS_STRINGS = "numbers_as_strings"
    INVALID_EMAILS = "invalid_emails"
    INVALID_WEBSITES = "invalid_websites"
    COLLIDING_EXTERNAL_IDS = "colliding_external_ids"
    OVERLONG_VALUES = "overlong_values"
    BAD_ATTRIBUTE_VALUES = "bad_attribute_values"
    DANGLING_CUSTOMERS = "dangling_customers"
    DANGLING_COMPANIES = "dangling_companies"
    ORPHAN_UPLOADS = "orphan_uploads"
    MISSING_ATTACHMENT_BINARIES = "missing_attachment_binaries"
    EMPTY_MESSAGES = "empty_messages"
    PADDED_TEXT = "padded_text"
    VERY_LONG_MESSAGES = "very_long_messages"
    UNKNOWN_SENDER_TYPES = "unknown_sender_types"
    UNKNOWN_AGENTS = "unknown_agents"
    MALFORMED_EVENTS = "malformed_events"


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
    # conversations
    Mess.NUMBERS_AS_STRINGS: 0.01,
    Mess.OVERLONG_VALUES: 0.005,
    Mess.BAD_ATTRIBUTE_VALUES: 0.005,
    Mess.ORPHAN_UPLOADS: 0.002,
    Mess.MISSING_ATTACHMENT_BINARIES: 0.002,
    Mess.EMPTY_MESSAGES: 0.005,
    Mess.PADDED_TEXT: 0.01,
    Mess.VERY_LONG_MESSAGES: 0.001,
    Mess.UNKNOWN_SENDER_TYPES: 0.005,
    Mess.UNKNOWN_AGENTS: 0.002,
    # customers
    Mess.INVALID_EMAILS: 0.005,
    Mess.COLLIDING_EXTERNAL_IDS: 0.005,
    Mess.DANGLING_CUSTOMERS: 0.003,
    Mess.DANGLING_COMPANIES: 0.005,
    # companies
    Mess.INVALID_WEBSITES: 0.02,
    # real-time events
    Mess.MALFORMED_EVENTS: 0.005,
}
"""Share of the population (conversations, customers, companies, reps or real-time events) per kind
at --mess-rate 1."""

PER_PARTITION_RATE = {"1h": 1 / 96, "1d": 1 / 4}
"""File- and line-level kinds: one case per feed they apply to in about every four days of partitions."""

NEEDS_LATER_TIME = {
    Mess.RESTATED_CONVERSATIONS,
    Mess.LATE_CSAT,
    Mess.RESUMED_CONVERSATIONS,
    Mess.LONG_CONVERSATIONS,
    Mess.RESTATED_CUSTOMERS,
    Mess.NUMBERS_AS_STRINGS,
    Mess.OVERLONG_VALUES,
    Mess.BAD_ATTRIBUTE_VALUES,
    Mess.ORPHAN_UPLOADS,
    Mess.MISSING_ATTACHMENT_BINARIES,
    Mess.EMPTY_MESSAGES,
    Mess.PADDED_TEXT,
    Mess.VERY_LONG_MESSAGES,
    Mess.UNKNOWN_SENDER_TYPES,
    Mess.UNKNOWN_AGENTS,
    Mess.DANGLING_CUSTOMERS,
}
"""Kinds whose effect comes minutes to a day after the member's start: picked in the first 40% of a
block (indices follow time), so that effect still falls inside the batch window."""

SHIFT_REACH = 8
"""A case picked for a member that cannot take it moves on to the next member that can, this far at most."""

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
        self._last_block: dict[str, tuple[int, int, int]] = {}
        self._blocks: dict[float, int] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def picks(self, kind: Mess, index: int, population: int) -> bool:
        """Whether member `index` of a population of that size receives this kind of mess."""
        if kind is Mess.LONG_CONVERSATIONS and population < LONG_CONVERSATIONS_FROM:
            return False
        return self.picks_at(kind, BASE_RATES[kind], index, population, early=kind in NEEDS_LATER_TIME)

    def picks_at(self, key: str, rate: float, index: int, population: int, early: bool = False) -> bool:
        """picks() for any named case stream at a given base rate (file kinds use one stream per feed)."""
        if not self.enabled or not 0 <= index < population:
            return False
        block = self._blocks.get(rate)
        if block is None:
            block = self._blocks[rate] = max(1, round(1 / (rate * self.rate)))
        first = index - index % block
        number, length = first // block, min(block, population - first)
        remembered = self._last_block.get(key)  # indices come in order: the last block asked is remembered
        if remembered is None or remembered[0] != number or remembered[1] != length:
            reach = max(1, length * 2 // 5) if early else length
            remembered = self._last_block[key] = (
                number,
                length,
                stream(self.seed, "mess", key, number).randrange(reach),
            )
        return index - first == remembered[2]

    def assigned(self, kind: Mess, index: int, population: int, blocked: Callable[[int], bool]) -> bool:
        """picks(), except that a case picked for a member that cannot take it (blocked) moves on to the
        next member that can. Stateless like picks(): it only looks back over blocked members."""
        if self.picks(kind, index, population):
            return not blocked(index)
        if index == 0 or not blocked(index - 1) or blocked(index):
            return False
        for back in range(1, SHIFT_REACH + 1):
            member = index - back
            if member < 0 or not blocked(member):
                return False
            if self.picks(kind, member, population):
                return True
        return False

    def outage_hours(self, batch_start: int, days: int) -> list[int]:
        """Night hours (02:00–05:59) in which nothing happens, spread over the window."""
        if not self.enabled:
            return []
        count = max(1, round(days / OUTAGE_EVERY_DAYS * self.rate))
        rng = stream(self.seed, "mess", Mess.EMPTY_PARTITIONS)
        return [
            batch_start + (n * days // count) * clock.DAY + rng.randrange(2, 6) * clock.HOUR
            for n in range(count)
        ]

    def drift(self, batch_start: int, batch_end: int) -> Drift | None:
        """The extra column appears from the partition holding the window's midpoint on."""
        if not self.enabled:
            return None
        middle = clock.floor(batch_start + (batch_end - batch_start) // 2, clock.HOUR)
        return Drift(DRIFT_FEED, DRIFT_COLUMN, max(middle, batch_start + clock.HOUR))
