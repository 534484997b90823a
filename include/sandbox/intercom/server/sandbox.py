"""The running sandbox: its workspace, persistence, search index, rate limiter, faults and settings.

One object owns all mutable state so the HTTP layer stays a thin pipeline and the control API can
change limits, search delay and faults at run time without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import httpx

from include.sandbox.intercom.resources import contacts, conversations
from include.sandbox.intercom.resources.admins import add_admins, ensure_owner
from include.sandbox.intercom.resources.companies import CompanyScroll
from include.sandbox.intercom.resources.search import SearchIndex
from include.sandbox.intercom.server.faults import Faults
from include.sandbox.intercom.server.ratelimit import RateLimiter, TrafficStats
from include.sandbox.intercom.server.settings import Settings
from include.sandbox.intercom.server.store import StateFile
from include.sandbox.intercom.server.workspace import Workspace

log = logging.getLogger("intercom_sandbox")


class Sandbox:
    def __init__(self, state_path: str | Path, settings: Settings):
        self.settings = settings
        self.state = StateFile(state_path)
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.workspace_rate_limit_per_minute)
        self.stats = TrafficStats(settings.tokens)
        self.faults = Faults()
        self.http_client = httpx.AsyncClient()
        self._persist_lock = asyncio.Lock()
        self._install(self.state.load())
        self.state.write_snapshot(self.workspace)  # compact the journal of the previous run

    def _install(self, workspace: Workspace) -> None:
        if self.settings.admins:
            add_admins(workspace, self.settings.admins)
        ensure_owner(workspace)
        self.workspace = workspace
        self.company_scroll = CompanyScroll()
        self.search_index = SearchIndex(
            workspace,
            {"contacts": contacts.search_projection, "conversations": conversations.search_projection},
            self.settings.search_delay_seconds,
        )

    # --- settings ---------------------------------------------------------------------------------

    def settings_view(self) -> dict:
        return {
            "rate_limit_per_minute": self.limiter.per_minute,
            "rate_limit_per_window": self.limiter.window_budget,
            "workspace_rate_limit_per_minute": self.limiter.workspace_per_minute,
            "workspace_rate_limit_per_window": self.limiter.workspace_window_budget,
            "tokens": len(self.settings.tokens),
            "search_delay_seconds": self.search_index.delay_seconds,
            "flush_interval_seconds": self.settings.flush_interval_seconds,
        }

    def apply_settings(self, changes: dict) -> None:
        limits = ("rate_limit_per_minute", "workspace_rate_limit_per_minute")
        unknown = set(changes) - {*limits, "search_delay_seconds"}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for name in limits:
            per_minute = changes.get(name)
            if per_minute is not None and (
                not isinstance(per_minute, int) or isinstance(per_minute, bool) or per_minute < 0
            ):
                raise ValueError(f"{name} must be a non-negative integer or null")
        if any(name in changes for name in limits):
            for name in limits:
                if name in changes:
                    setattr(self.settings, name, changes[name])
            self.limiter.configure(
                self.settings.rate_limit_per_minute, self.settings.workspace_rate_limit_per_minute
            )
        if "search_delay_seconds" in changes:
            delay = float(changes["search_delay_seconds"])
            if delay < 0:
                raise ValueError("search_delay_seconds must not be negative")
            self.settings.search_delay_seconds = delay
            self.search_index.delay_seconds = delay

    # --- persistence ------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Make every write so far durable (journal append + fsync, off the event loop)."""
        async with self._persist_lock:
            data = self.state.take_changes(self.workspace)
            if data:
                await asyncio.to_thread(self.state.append, data)
            if self.state.journal_is_large():
                self.state.write_snapshot(self.workspace)

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_seconds)
            try:
                await self.flush()
            except OSError:
                log.exception("could not persist the workspace; retrying at the next interval")

    async def reset(self) -> None:
        """Back to an empty workspace (keeping the seeded admins), durably."""
        async with self._persist_lock:
            self.state.clear_files()
            self._install(Workspace())
            self.state.write_snapshot(self.workspace)

    async def close(self) -> None:
        """Graceful stop: everything is written into a fresh snapshot, nothing is lost."""
        async with self._persist_lock:
            self.state.write_snapshot(self.workspace)
        await self.http_client.aclose()


@contextlib.asynccontextmanager
async def running(sandbox: Sandbox):
    """Flush periodically while the server runs; persist everything on the way out."""
    flusher = asyncio.create_task(sandbox.run_flusher())
    try:
        yield sandbox
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await sandbox.close()
