"""Time arithmetic on integer milliseconds since the epoch (UTC), and the text formats rows use.

Integers keep the generator exact and fast; every timestamp is formatted from one here, so a
dataset never depends on the machine's clock or time zone.
"""

import functools
from datetime import UTC, date, datetime, timedelta

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WINDOW = 15 * MINUTE
"""ASAPP's instance_ts window: rows describe the 15-minute window they fall in."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_date(day: date) -> int:
    return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - _EPOCH).total_seconds()) * SECOND


def to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def floor(ms: int, step: int) -> int:
    return ms - ms % step


@functools.lru_cache(maxsize=64)
def _hour_prefix(hour: int) -> str:
    """ "2026-01-05T14:" for the hour numbered `hour` since the epoch (rows cluster in few hours)."""
    return f"{to_datetime(hour * HOUR):%Y-%m-%dT%H}:"


def _minute_second_ms(ms: int) -> str:
    within = ms % HOUR
    return f"{within // MINUTE:02d}:{within % MINUTE // SECOND:02d}.{ms % SECOND:03d}"


def feed_ts(ms: int) -> str:
    """The feeds' format (NOTES §10.5): 2026-01-05T14:02:12.123000+00:00."""
    return f"{_hour_prefix(ms // HOUR)}{_minute_second_ms(ms)}000+00:00"


def event_ts(ms: int) -> str:
    """The real-time envelope's format (NOTES §4.2): 2026-01-05T14:02:12.123Z."""
    return f"{_hour_prefix(ms // HOUR)}{_minute_second_ms(ms)}Z"


def spaced_ts(ms: int) -> str:
    """One of the other formats ASAPP's own column examples show: 2026-01-05 14:02:12."""
    return f"{to_datetime(ms):%Y-%m-%d %H:%M:%S}"


def naive_ts(ms: int) -> str:
    """The other one: 2026-01-05T14:02:12 (no fraction, no zone)."""
    return f"{to_datetime(ms):%Y-%m-%dT%H:%M:%S}"


def day_text(ms: int) -> str:
    return f"{to_datetime(ms):%Y-%m-%d}"


def hour_text(ms: int) -> str:
    return f"{to_datetime(ms):%H}"
