"""The sandbox's start-up settings and their defaults (kept apart so the command line loads them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field

from include.sandbox.intercom.server.ratelimit import DEFAULT_PER_MINUTE, DEFAULT_WORKSPACE_PER_MINUTE

DEFAULT_TOKEN = "sandbox-token"
DEFAULT_SEARCH_DELAY_SECONDS = 3.0
DEFAULT_FLUSH_INTERVAL_SECONDS = 0.5


@dataclass
class Settings:
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    rate_limit_per_minute: int | None = DEFAULT_PER_MINUTE  # per token (app)
    workspace_rate_limit_per_minute: int | None = DEFAULT_WORKSPACE_PER_MINUTE  # all tokens together
    search_delay_seconds: float = DEFAULT_SEARCH_DELAY_SECONDS
    flush_interval_seconds: float = DEFAULT_FLUSH_INTERVAL_SECONDS
    admins: list[dict] = field(default_factory=list)
