"""The sandbox clock: real time shifted by an offset, so tests can jump to any moment of a dataset.

Everything that depends on "now" (partition visibility, signed-URL expiry, real-time events, the
daily cap) reads this clock, never the wall clock. Setting it keeps it running from the new instant.
"""

import time
from datetime import UTC, datetime


def parse_instant(text: str) -> datetime:
    """Read an ISO-8601 instant; a value without a zone is taken as UTC, as ASAPP documents."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class SandboxClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._offset = 0.0
        if start is not None:
            self.set(start)

    def timestamp(self) -> float:
        return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def set(self, moment: datetime) -> None:
        self._offset = moment.timestamp() - time.time()

    def advance(self, seconds: float) -> None:
        self._offset += seconds
