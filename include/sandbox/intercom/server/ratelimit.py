"""Intercom's rate limits: per app (token) and per workspace, each enforced in fixed 10-second windows;
and the traffic statistics that show what was admitted in every window.

Intercom: "10,000 API calls per minute per app and 25,000 API calls per minute per workspace", each
spread evenly over 10-second windows (10,000/min allows 1,666 calls per window, 25,000/min 4,166). Every
token is a private app with its own budget; all tokens together share the workspace's. A call over
either budget is a 429. X-RateLimit-Limit/Remaining/Reset describe the token's own window (the window
budget, what is left of it, when it ends), as Intercom documents, also when the workspace's budget is
the one exhausted. A loader that paces itself per minute still bursts into 429s inside a window, which
is exactly what the sandbox must reproduce.

Rate-limited calls are not admitted (they do not count against the window). `configure` starts the
enforcement windows afresh; the statistics (`TrafficStats`) are separate and only `reset` clears them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 10
WINDOWS_PER_MINUTE = 60 // WINDOW_SECONDS
DEFAULT_PER_MINUTE = 10_000
DEFAULT_WORKSPACE_PER_MINUTE = 25_000
HISTORY_WINDOWS = 360  # finished windows kept per meter in the statistics (an hour)


def window_budget(per_minute: int | None) -> int | None:
    """Calls allowed per 10-second window for a per-minute budget (None or 0: no limit)."""
    return max(1, per_minute // WINDOWS_PER_MINUTE) if per_minute else None


def window_start(at: float) -> int:
    return int(at // WINDOW_SECONDS) * WINDOW_SECONDS


@dataclass(slots=True)
class Decision:
    """What the limiter says about one call: admitted or which limit refused it, and the headers to send."""

    allowed: bool
    refused_by: str | None  # "token" or "workspace"
    message: str | None
    headers: dict[str, str]
    window_start: int


class RateLimiter:
    def __init__(
        self,
        per_minute: int | None = DEFAULT_PER_MINUTE,
        workspace_per_minute: int | None = DEFAULT_WORKSPACE_PER_MINUTE,
    ):
        self.configure(per_minute, workspace_per_minute)

    def configure(self, per_minute: int | None, workspace_per_minute: int | None) -> None:
        """Set both per-minute budgets (None or 0 switches that limit off) and start the windows afresh."""
        self.per_minute = per_minute or None
        self.window_budget = window_budget(per_minute)
        self.workspace_per_minute = workspace_per_minute or None
        self.workspace_window_budget = window_budget(workspace_per_minute)
        self._token_windows: dict[str, list[int]] = {}
        self._workspace_window = [0, 0]

    def take(self, token: str, at: float | None = None) -> Decision:
        """Count one call for `token` against its own and the workspace's window."""
        start = window_start(time.time() if at is None else at)
        token_window = self._token_windows.get(token)
        if token_window is None or token_window[0] != start:
            token_window = self._token_windows[token] = [start, 0]
        if self._workspace_window[0] != start:
            self._workspace_window = [start, 0]
        workspace_window = self._workspace_window
        refused_by = None
        if self.window_budget is not None and token_window[1] >= self.window_budget:
            refused_by = "token"
        elif self.workspace_window_budget is not None and workspace_window[1] >= self.workspace_window_budget:
            refused_by = "workspace"
        else:
            token_window[1] += 1
            workspace_window[1] += 1
        if self.window_budget is not None:
            headers = self.headers(self.window_budget, self.window_budget - token_window[1], start)
        elif self.workspace_window_budget is not None:  # no per-app limit: the workspace's is the one
            headers = self.headers(
                self.workspace_window_budget, self.workspace_window_budget - workspace_window[1], start
            )
        else:
            headers = {}
        message = None
        if refused_by == "token":
            message = self.exceeded_message()
        elif refused_by == "workspace":
            message = self.workspace_exceeded_message()
        return Decision(refused_by is None, refused_by, message, headers, start)

    @staticmethod
    def headers(limit: int, remaining: int, start: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(start + WINDOW_SECONDS),
        }

    def exceeded_message(self) -> str:
        budget = self.window_budget or window_budget(DEFAULT_PER_MINUTE)
        return f"Exceeded rate limit of {budget} in {WINDOW_SECONDS}_seconds"

    def workspace_exceeded_message(self) -> str:
        return (
            f"Exceeded workspace rate limit of {self.workspace_window_budget} in {WINDOW_SECONDS}_seconds "
            "(shared by all apps of the workspace)"
        )


# --- statistics -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Window:
    start: int
    limit: int | None  # the budget in force when the window opened (None: no limit)
    admitted: int = 0
    refused: int = 0  # calls the rate limit refused in this window

    def view(self) -> dict:
        return {
            "start": self.start,
            "admitted": self.admitted,
            "refused": self.refused,
            "limit": self.limit,
            "over_limit": self.limit is not None and self.admitted > self.limit,
        }


@dataclass
class Meter:
    """The traffic of one token, or of the whole workspace."""

    requests: int = 0  # answered calls, whatever their status
    admitted: int = 0  # calls the rate limits admitted
    rate_limited: int = 0  # 429 answers sent (by the limits or by an injected fault)
    current: Window | None = None
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY_WINDOWS))
    finished_windows: int = 0
    windows_over_limit: int = 0
    max_admitted_in_a_window: int = 0

    def window(self, start: int, limit: int | None) -> Window:
        if self.current is None or self.current.start != start:
            if self.current is not None:
                self._finish(self.current)
            self.current = Window(start, limit)
        return self.current

    def _finish(self, window: Window) -> None:
        self.history.append(window)
        self.finished_windows += 1
        if window.limit is not None and window.admitted > window.limit:
            self.windows_over_limit += 1

    def view(self, now: float) -> dict:
        finished = list(self.history)
        current = self.current
        if current is not None and current.start != window_start(now):
            finished.append(current)  # its window has ended; it is moved at the next call
            current = None
        over = self.windows_over_limit + sum(
            1 for window in finished[len(self.history) :] if window.view()["over_limit"]
        )
        return {
            "requests": self.requests,
            "admitted": self.admitted,
            "rate_limited": self.rate_limited,
            "finished_windows": self.finished_windows + len(finished) - len(self.history),
            "windows_over_limit": over,
            "max_admitted_in_a_window": self.max_admitted_in_a_window,
            "windows": [window.view() for window in finished],
            "current_window": None
            if current is None
            else {**current.view(), "ends_at": current.start + WINDOW_SECONDS},
        }


class TrafficStats:
    """Per token and for the workspace: calls answered, 429s sent, and what each 10-second window admitted,
    so that a benchmark can show that no window went over its limit and what rate it achieved."""

    def __init__(self, tokens: tuple[str, ...]):
        self.tokens = tokens
        self.reset()

    def reset(self) -> None:
        self.since = time.time()
        self.workspace = Meter()
        self.by_token = {token: Meter() for token in self.tokens}
        self.unauthorized = 0

    def record(self, token: str, decision: Decision, limiter: RateLimiter) -> None:
        """One call the limiter decided on (admitted or refused), in the window it fell in."""
        self._count(self.by_token[token], decision, limiter.window_budget)
        self._count(self.workspace, decision, limiter.workspace_window_budget)

    @staticmethod
    def _count(meter: Meter, decision: Decision, limit: int | None) -> None:
        window = meter.current
        if window is None or window.start != decision.window_start:
            window = meter.window(decision.window_start, limit)
        if decision.allowed:
            window.admitted += 1
            meter.admitted += 1
            if window.admitted > meter.max_admitted_in_a_window:
                meter.max_admitted_in_a_window = window.admitted
        else:
            window.refused += 1

    def answered(self, token: str, status: int) -> None:
        for meter in (self.by_token[token], self.workspace):
            meter.requests += 1
            if status == 429:
                meter.rate_limited += 1

    def view(self, limiter: RateLimiter, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        return {
            "window_seconds": WINDOW_SECONDS,
            "since": self.since,
            "now": now,
            "limits": {
                "token_per_window": limiter.window_budget,
                "workspace_per_window": limiter.workspace_window_budget,
            },
            "workspace": {**self.workspace.view(now), "unauthorized": self.unauthorized},
            "tokens": [
                {"app": position, "token_hint": _hint(token), **self.by_token[token].view(now)}
                for position, token in enumerate(self.tokens, start=1)
            ],
        }


def _hint(token: str) -> str:
    """Enough of a token to tell the apps apart, never the whole of it."""
    return f"{token[:4]}…" if len(token) > 4 else "…"
