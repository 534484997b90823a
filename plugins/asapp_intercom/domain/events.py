"""ASAPP's real-time event envelopes: what the migration needs of one before it can log it.

ASAPP delivers at least once and de-duplication is by `event_id`; the time and issue come from
`meta_data`. An envelope lacking them cannot be placed on the timeline, so it is quarantined with
the reason instead of stopping the stream.
"""

from __future__ import annotations

import hashlib
import json

from asapp_intercom.domain.times import instant

EVENTS = "events"
"""How the quarantine names real-time events that could not be logged."""


def unusable(envelope: object) -> str | None:
    """Why an envelope cannot be logged, or None when it can."""
    if not isinstance(envelope, dict):
        return "not a JSON object"
    if not isinstance(envelope.get("event_id"), str | int) or str(envelope.get("event_id")).strip() == "":
        return "no event_id (ASAPP de-duplicates by it)"
    meta = envelope.get("meta_data")
    if not isinstance(meta, dict):
        return "meta_data is not an object"
    try:
        if instant(meta.get("create_time")) is None:
            return "meta_data.create_time is missing"
    except (TypeError, ValueError):
        return f"meta_data.create_time {str(meta.get('create_time'))[:40]!r} is not a timestamp"
    return None


def identity(envelope: object) -> str:
    """Its event_id; for an envelope without one, a digest of it (quarantined once however often it comes)."""
    if isinstance(envelope, dict) and str(envelope.get("event_id") or "").strip():
        return str(envelope["event_id"])
    return (
        "envelope:"
        + hashlib.sha256(json.dumps(envelope, sort_keys=True, default=str).encode()).hexdigest()[:32]
    )
