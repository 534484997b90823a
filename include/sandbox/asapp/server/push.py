"""Push delivery of real-time events, the way ASAPP sends them (NOTES §4.1, §10.6).

Each registered endpoint gets one POST per newly visible event (JSON body = the envelope), in
order. Anything but a 200 within timeout_ms is a failure; after `retries` extra attempts, spaced
0.5 s, 1 s, 2 s, ..., the event is dropped and counted. With hmac_secret set, every request carries
`X-Asapp-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`, the sandbox's stand-in for the
mTLS ASAPP uses (which belongs in a proxy).
"""

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx

from .clock import SandboxClock
from .errors import bad_request
from .payloads import field as body_field
from .payloads import string_list
from .realtime import EventLog, StoredEvent

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
IDLE_POLL_SECONDS = 0.25


@dataclass
class PushEndpoint:
    id: str
    url: str
    timeout_ms: int
    retries: int
    event_list: list[str]
    headers: dict[str, str]
    hmac_secret: str | None
    position: int
    delivered: int = 0
    dropped: int = 0
    attempts: int = 0
    failures: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "timeout_ms": self.timeout_ms,
            "retries": self.retries,
            "event_list": self.event_list,
            "headers": sorted(self.headers),
            "signed": self.hmac_secret is not None,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "attempts": self.attempts,
            "failures": self.failures,
        }

    def wants(self, event: StoredEvent) -> bool:
        """An empty event_list means every event type, as ASAPP documents."""
        return not self.event_list or event.event_type in self.event_list


class PushDispatcher:
    def __init__(self, log: EventLog, clock: SandboxClock) -> None:
        self._log = log
        self._clock = clock
        self._ids = itertools.count(1)
        self._client: httpx.AsyncClient | None = None
        self.endpoints: dict[str, PushEndpoint] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def add(self, config: dict[str, Any]) -> PushEndpoint:
        """Register an endpoint; it receives the events that become visible from now on."""
        endpoint = PushEndpoint(
            id=f"push-{next(self._ids)}",
            url=_url(body_field(config, "url", str)),
            timeout_ms=_at_least(config, "timeout_ms", 5000, 1),
            retries=_at_least(config, "retries", 3, 0),
            event_list=string_list(
                body_field(config, "event_list", list, required=False, default=[], nullable=True),
                "/event_list",
            ),
            headers=_headers(body_field(config, "headers", dict, required=False, default={}, nullable=True)),
            hmac_secret=body_field(config, "hmac_secret", str, required=False, nullable=True),
            position=self._log.head(self._clock.timestamp()),
        )
        self.endpoints[endpoint.id] = endpoint
        self._tasks[endpoint.id] = asyncio.create_task(self._serve(endpoint), name=endpoint.id)
        return endpoint

    def remove(self, endpoint_id: str) -> bool:
        task = self._tasks.pop(endpoint_id, None)
        if task is None:
            return False
        task.cancel()
        del self.endpoints[endpoint_id]
        return True

    def wake(self) -> None:
        for endpoint in self.endpoints.values():
            endpoint.wake.set()

    def totals(self) -> dict[str, int]:
        names = ("delivered", "dropped", "attempts", "failures")
        return {name: sum(getattr(e, name) for e in self.endpoints.values()) for name in names}

    async def start(self) -> None:
        self._client = httpx.AsyncClient()

    async def stop(self) -> None:
        for endpoint_id in list(self._tasks):
            self.remove(endpoint_id)
        if self._client is not None:
            await self._client.aclose()

    async def _serve(self, endpoint: PushEndpoint) -> None:
        while True:
            events = self._log.since(endpoint.position, self._clock.timestamp())
            for event in events:
                if endpoint.wants(event):
                    await self._deliver(endpoint, event)
                endpoint.position += 1
            if not events:
                endpoint.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(endpoint.wake.wait(), IDLE_POLL_SECONDS)

    async def _deliver(self, endpoint: PushEndpoint, event: StoredEvent) -> None:
        assert self._client is not None, "start() the dispatcher first"
        headers = {"Content-Type": "application/json", **endpoint.headers}
        if endpoint.hmac_secret is not None:
            digest = hmac.new(endpoint.hmac_secret.encode(), event.raw, hashlib.sha256).hexdigest()
            headers["X-Asapp-Signature"] = f"sha256={digest}"
        for attempt in range(endpoint.retries + 1):
            if attempt:
                await asyncio.sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
            endpoint.attempts += 1
            try:
                response = await self._client.post(
                    endpoint.url, content=event.raw, headers=headers, timeout=endpoint.timeout_ms / 1000
                )
                if response.status_code == 200:
                    endpoint.delivered += 1
                    return
            except httpx.HTTPError:
                pass
            endpoint.failures += 1
        endpoint.dropped += 1
        log.warning(
            "push %s: dropped a %s event after %d attempts", endpoint.id, event.event_type, attempt + 1
        )


def _url(url: str) -> str:
    if urlparse(url).scheme not in ("http", "https"):
        raise bad_request("/url", "must be an http or https URL")
    return url


def _at_least(config: dict[str, Any], name: str, default: int, minimum: int) -> int:
    value = body_field(config, name, int, required=False, default=default, nullable=True)
    if value < minimum:
        raise bad_request(f"/{name}", f"must be at least {minimum}")
    return value


def _headers(headers: dict[str, Any]) -> dict[str, str]:
    if not all(isinstance(value, str) for value in headers.values()):
        raise bad_request("/headers", "must map header names to strings")
    return headers
