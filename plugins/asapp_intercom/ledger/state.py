"""Small pieces of state a migration keeps between runs, each a typed value under its own key."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from asapp_intercom.domain.payloads import HashScheme


class LedgerState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: ClassVar[str]


class EventCursor(LedgerState):
    """Where the pull of ASAPP's real-time stream stands; it moves only after the events it covers are
    stored."""

    key = "realtime.cursor"
    cursor: str | None = None


class CursorExpiry(LedgerState):
    """ASAPP's cursor expired (it keeps 7 days): events before `last_event_before` reach us through batches
    only."""

    key = "realtime.cursor_expired"
    noticed_at: datetime
    last_event_before: datetime | None = None


class DeltaMark(LedgerState):
    """The newest staged file and logged event that a complete, successful run migrated."""

    key = "delta.migrated_through"
    staged_at: datetime | None = None
    event_seq: int = 0


class StatesToRestore(LedgerState):
    """Conversations an attachment reply may have reopened, with the state to put back: a promise that
    outlives a try that dies before keeping it."""

    key = "attachments.states_to_restore"
    conversations: dict[str, str] = Field(default_factory=dict)


class AsappCapSpent(LedgerState):
    """ASAPP's daily cap was spent: no task of the migration calls ASAPP before it resets."""

    key = "asapp.daily_cap_spent"
    resets_at: datetime


class Cutover(LedgerState):
    """A cutover run said go: after `at`, scheduled runs and backfills no longer follow ASAPP."""

    key = "cutover"
    at: datetime
    run_id: str


class ActiveRun(LedgerState):
    """The one run that may work on the migration now; another run waits until this one has ended."""

    key = "run.active"
    dag_id: str
    run_id: str


class PayloadHashing(LedgerState):
    """The scheme the migration's payload hashes are computed with. A migration without this value began
    after schemes existed and uses the newest; revision 0008 wrote the first scheme for those begun
    before."""

    key = "payloads.hash_scheme"
    scheme: HashScheme = HashScheme.SORTED_ORJSON
