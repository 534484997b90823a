"""Intercom's rate limit: a per-minute budget enforced in fixed 10-second windows, per token.

Intercom spreads the per-app minute budget evenly over 10 s windows (10,000/min allows 1,666 calls
per window) and reports the *window* budget in X-RateLimit-Limit. A loader that paces itself per
minute still bursts into 429s inside a window, which is exactly what the sandbox must reproduce.
"""

from __future__ import annotations

import time

WINDOW_SECONDS = 10
DEFAULT_PER_MINUTE = 10_000


class RateLimiter:
    def __init__(self, per_minute: int | None = DEFAULT_PER_MINUTE):
        self.configure(per_minute)

    def configure(self, per_minute: int | None) -> None:
        """Set the per-minute budget; None or 0 switches limiting (and its headers) off."""
        self.per_minute = per_minute or None
        self.window_budget = max(1, per_minute // (60 // WINDOW_SECONDS)) if per_minute else None
        self._windows: dict[str, list[int]] = {}

    def take(self, token: str, at: float | None = None) -> tuple[bool, dict[str, str]]:
        """Count one call for `token`: whether it is allowed, and the headers to send with the answer."""
        if self.window_budget is None:
            return True, {}
        window_start = int((time.time() if at is None else at) // WINDOW_SECONDS) * WINDOW_SECONDS
        window = self._windows.get(token)
        if window is None or window[0] != window_start:
            window = self._windows[token] = [window_start, 0]
        allowed = window[1] < self.window_budget
        if allowed:
            window[1] += 1
        return allowed, self.headers(
            remaining=self.window_budget - window[1], reset=window_start + WINDOW_SECONDS
        )

    def headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.window_budget),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(reset),
        }

    def exceeded_message(self) -> str:
        return f"Exceeded rate limit of {self.window_budget} in {WINDOW_SECONDS}_seconds"
