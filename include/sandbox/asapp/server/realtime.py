"""Real-time events (NOTES §10.6): ASAPP's push envelopes, also readable through a pull cursor.

Each feed (activity, journey, queue, and `all` of them together) is a stream in which an event's
seq is its position. An event is visible once its meta_data.create_time has passed on the sandbox
clock. An event appended at run time with a time already passed joins right after the visible
ones, so a position once handed out never changes. Retention is 7 days of the sandbox clock.
Duplicates in the log (same event_id) are delivered as they are: delivery is at-least-once.
"""

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .clock import SandboxClock, parse_instant
from .encoding import b64url_decode, b64url_encode
from .errors import ApiError, bad_request, cursor_expired
from .payloads import query_limit

logger = logging.getLogger(__name__)

FEEDS = ("activity", "journey", "queue")
ALL = "all"
NAME_PREFIX = "com.asapp.event."
RETENTION_SECONDS = 7 * 24 * 3600
DEFAULT_LIMIT, MAX_LIMIT = 100, 500


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_type: str | None
    raw: bytes


class EventStream:
    def __init__(self) -> None:
        self.times: list[float] = []  # non-decreasing visibility times, parallel to events
        self.events: list[StoredEvent] = []

    def visible(self, now: float) -> int:
        return bisect_right(self.times, now)

    def purged(self, now: float) -> int:
        return bisect_left(self.times, now - RETENTION_SECONDS)

    def insert(self, moment: float, event: StoredEvent, now: float) -> None:
        position = bisect_right(self.times, moment)
        shown = self.visible(now)
        if position < shown:
            position, moment = shown, self.times[shown - 1]
        self.times.insert(position, moment)
        self.events.insert(position, event)


class EventLog:
    def __init__(self) -> None:
        self.streams = {name: EventStream() for name in (*FEEDS, ALL)}

    @classmethod
    def from_file(cls, path: Path) -> "EventLog":
        """The log as delivered: a line that is a JSON object but no usable event (no parsable create_time,
        meta_data not an object) is still served, as it is, at the time of the line before it."""
        log = cls()
        if path.is_file():
            parsed = []
            with path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    try:
                        envelope = orjson.loads(line) if line.strip() else None
                    except orjson.JSONDecodeError:
                        envelope = None
                    if not isinstance(envelope, dict):
                        logger.warning("%s line %d: not a JSON object, not served", path, number)
                        continue
                    try:
                        parsed.append(_parse(envelope, f"line {number}"))
                    except ApiError:
                        moment = parsed[-1][0] if parsed else 0.0
                        parsed.append(
                            (
                                moment,
                                _feed_of(envelope),
                                StoredEvent(_event_type(envelope), orjson.dumps(envelope)),
                            )
                        )
            for moment, feed, event in sorted(parsed, key=lambda item: item[0]):
                for name in (feed, ALL) if feed else (ALL,):
                    log.streams[name].times.append(moment)
                    log.streams[name].events.append(event)
        return log

    def append(self, envelopes: list[Any], now: float) -> int:
        """Add envelopes posted at run time; all are checked before any is added."""
        parsed = sorted(
            (_parse(envelope, f"/{i}") for i, envelope in enumerate(envelopes)), key=lambda x: x[0]
        )
        for moment, feed, event in parsed:
            for name in (feed, ALL) if feed else (ALL,):
                self.streams[name].insert(moment, event, now)
        return len(parsed)

    def page(
        self, feed: str, after: int | None, limit: int, now: float
    ) -> tuple[list[StoredEvent], int, bool]:
        """Up to `limit` visible events after position `after` (None: from the oldest retained).

        Returns the events, the position of the last one (or `after` unchanged) and whether more wait.
        """
        stream = self.streams[feed]
        purged, visible = stream.purged(now), stream.visible(now)
        if after is not None and after < purged:
            raise cursor_expired()
        start = purged if after is None else after
        end = max(start, min(visible, start + limit))
        return stream.events[start:end], end, visible > end

    def since(self, position: int, now: float) -> list[StoredEvent]:
        """Every visible event of the combined stream after `position` (push delivery)."""
        stream = self.streams[ALL]
        return stream.events[position : stream.visible(now)]

    def head(self, now: float) -> int:
        return self.streams[ALL].visible(now)


def _parse(envelope: Any, where: str) -> tuple[float, str | None, StoredEvent]:
    meta = envelope.get("meta_data") if isinstance(envelope, dict) else None
    created = meta.get("create_time") if isinstance(meta, dict) else None
    try:
        moment = parse_instant(created).timestamp()
    except (TypeError, ValueError):
        raise bad_request(f"{where}/meta_data/create_time", "must be an ISO-8601 instant") from None
    return moment, _feed_of(envelope), StoredEvent(_event_type(envelope), orjson.dumps(envelope))


def _feed_of(envelope: dict[str, Any]) -> str | None:
    name = envelope.get("name")
    feed = name.removeprefix(NAME_PREFIX) if isinstance(name, str) else None
    return feed if feed in FEEDS else None


def _event_type(envelope: dict[str, Any]) -> str | None:
    event_type = envelope.get("event_type")
    return event_type if isinstance(event_type, str) else None


class RealtimeApi:
    def __init__(self, log: EventLog, clock: SandboxClock) -> None:
        self.log = log
        self.clock = clock

    def routes(self) -> list[Route]:
        return [Route("/realtime/v1/events", self.pull, methods=["GET"])]

    async def pull(self, request: Request) -> Response:
        feed = request.query_params.get("feed", ALL)
        if feed not in self.log.streams:
            raise bad_request("/feed", f"must be one of {', '.join((*FEEDS, ALL))}")
        limit = query_limit(request.query_params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT)
        after = _read_cursor(request.query_params.get("cursor"), feed)
        events, position, has_more = self.log.page(feed, after, limit, self.clock.timestamp())
        cursor = b64url_encode(orjson.dumps({"f": feed, "s": position}))
        body = b'{"events":[%s],"nextCursor":"%s","hasMore":%s}' % (
            b",".join(event.raw for event in events),
            cursor.encode(),
            b"true" if has_more else b"false",
        )
        return Response(body, media_type="application/json")


def _read_cursor(text: str | None, feed: str) -> int | None:
    if not text:
        return None
    try:
        cursor = orjson.loads(b64url_decode(text))
        feed_of_cursor, position = cursor["f"], cursor["s"]
    except (ValueError, TypeError, KeyError):
        raise bad_request("/cursor", "is not a cursor returned by this API") from None
    if not isinstance(position, int) or position < 0:
        raise bad_request("/cursor", "is not a cursor returned by this API")
    if feed_of_cursor != feed:
        raise bad_request("/cursor", f"belongs to feed '{feed_of_cursor}', not '{feed}'")
    return position
