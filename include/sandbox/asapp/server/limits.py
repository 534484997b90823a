"""Who may call and how often (NOTES §10.7): key pairs with revocation, spike arrest, daily cap."""

import time
from datetime import timedelta

from .clock import SandboxClock
from .errors import ApiError, revoked, unauthorized

Key = tuple[str, str]  # (api id, product)


class Credentials:
    def __init__(self, secrets_by_api_id: dict[str, str]) -> None:
        self._secrets = secrets_by_api_id
        self.revoked: set[str] = set()

    def authenticate(self, api_id: str, secret: str) -> None:
        if not api_id or self._secrets.get(api_id) != secret:
            raise unauthorized()
        if api_id in self.revoked:
            raise revoked()


class SpikeArrest:
    """A token bucket per key refilled at `rate` per second (real time), holding one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._buckets: dict[Key, tuple[float, float]] = {}

    def admit(self, key: Key) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise ApiError(429, "429-01", "Too Many Requests", {"Retry-After": "1"})
        self._buckets[key] = (tokens - 1, now)


class DailyCap:
    """Accepted calls per key and UTC day of the sandbox clock; the count starts over at midnight."""

    def __init__(self, cap: int, clock: SandboxClock) -> None:
        self.cap = cap
        self._clock = clock
        self._counts: dict[tuple[str, Key], int] = {}

    def check(self, key: Key) -> None:
        """Refuse the call when the day's budget is spent (refused calls are not counted)."""
        now = self._clock.now()
        if self._counts.get((now.date().isoformat(), key), 0) >= self.cap:
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            wait = max(1, int((midnight - now).total_seconds() + 0.999))
            raise ApiError(429, "429-02", "Daily limit exceeded", {"Retry-After": str(wait)})

    def count(self, key: Key) -> None:
        slot = (self._clock.now().date().isoformat(), key)
        self._counts[slot] = self._counts.get(slot, 0) + 1

    def today(self) -> dict[str, dict[str, int]]:
        day = self._clock.now().date().isoformat()
        counts: dict[str, dict[str, int]] = {}
        for (slot_day, (api_id, product)), count in self._counts.items():
            if slot_day == day:
                counts.setdefault(api_id, {})[product] = count
        return counts
