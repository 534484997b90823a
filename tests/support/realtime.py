"""Reading a generated dataset's real-time log, and a sandbox whose stream tests can advance."""

from __future__ import annotations

import json
from datetime import datetime


def events_in(data) -> list[dict]:
    return [json.loads(line) for line in (data / "_realtime" / "events.jsonl").read_text().splitlines()]


def window(data) -> tuple[datetime, datetime]:
    manifest = json.loads((data / "_manifest.json").read_text())["realtime_window"]
    return datetime.fromisoformat(manifest["start"]), datetime.fromisoformat(manifest["end"])
