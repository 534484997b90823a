"""Faults switchable at run time through /_sim/admin/faults, so clients can prove they cope with them."""

import random
from typing import Any

from .errors import ApiError, bad_request

SERVER_ERRORS = ((500, "500-01", "Internal server error"), (503, "503-01", "Service Unavailable"))


class Faults:
    def __init__(self) -> None:
        self.error_rate = 0.0
        self.endpoint_error_rates: dict[str, float] = {}
        self.slow_ms = 0
        self.partial_partitions = False
        self.expire_urls = False
        self._random = random.Random()

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "endpoint_error_rates": dict(self.endpoint_error_rates),
            "slow_ms": self.slow_ms,
            "partial_partitions": self.partial_partitions,
            "expire_urls": self.expire_urls,
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply the given settings, leaving the others as they are; validate all before changing any."""
        unknown = set(changes) - set(self.as_dict())
        if unknown:
            raise bad_request(f"/{sorted(unknown)[0]}", "is not a fault setting")
        updated = {**self.as_dict(), **changes}
        _check_rate("/error_rate", updated["error_rate"])
        if not isinstance(updated["endpoint_error_rates"], dict):
            raise bad_request("/endpoint_error_rates", "must be an object of path prefix to rate")
        for prefix, rate in updated["endpoint_error_rates"].items():
            _check_rate(f"/endpoint_error_rates/{prefix}", rate)
        if (
            not isinstance(updated["slow_ms"], int)
            or isinstance(updated["slow_ms"], bool)
            or updated["slow_ms"] < 0
        ):
            raise bad_request("/slow_ms", "must be a non-negative integer")
        for flag in ("partial_partitions", "expire_urls"):
            if not isinstance(updated[flag], bool):
                raise bad_request(f"/{flag}", "must be a boolean")
        for name, value in updated.items():
            setattr(self, name, value)

    def injected_error(self, path: str) -> ApiError | None:
        """A random 500 or 503 at the rate set for the longest matching path prefix, else the global rate."""
        matches = [prefix for prefix in self.endpoint_error_rates if path.startswith(prefix)]
        rate = self.endpoint_error_rates[max(matches, key=len)] if matches else self.error_rate
        if rate and self._random.random() < rate:
            return ApiError(*self._random.choice(SERVER_ERRORS))
        return None


def _check_rate(path: str, rate: Any) -> None:
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise bad_request(path, "must be a number between 0 and 1")
