"""One reading of timestamps: ISO-8601, `Z` or an offset, and no zone meaning UTC (ASAPP's rule)."""

from __future__ import annotations

from datetime import UTC, datetime


def instant(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
