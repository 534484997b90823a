"""Reading a generated dataset's real-time log, and a sandbox whose stream tests can advance."""

from __future__ import annotations

import json
from datetime import datetime


def events_in(data) -> list[dict]:
    return [json.loads(line) for line in (data / "_realtime" / "events.jsonl").read_text().splitlines()]


def usable_events(data) -> list[tuple[int, dict]]:
    """(line number, event) of the log's events, without the malformed ones the generator wrote."""
    malformed = set(json.loads((data / "_manifest.json").read_text())["mess"]["malformed_events"])
    return [
        (number, event) for number, event in enumerate(events_in(data), start=1) if number not in malformed
    ]


def window(data) -> tuple[datetime, datetime]:
    manifest = json.loads((data / "_manifest.json").read_text())["realtime_window"]
    return datetime.fromisoformat(manifest["start"]), datetime.fromisoformat(manifest["end"])
