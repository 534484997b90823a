"""The run form: what one run migrates, defined once.

The same model gives the trigger form in Airflow's UI (the DAG's params, with titles, descriptions
and validation), the `run_defaults` section of a migration config, and the values a task reads
back from its context. Scheduled and backfill runs migrate their data interval instead of `mode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from asapp_intercom.domain.objects import STEPS
from asapp_intercom.domain.times import instant


class RunMode(StrEnum):
    sample = "sample"
    full = "full"


class ThreadMode(StrEnum):
    parts = "parts"
    transcript = "transcript"


Step = Literal[STEPS]


class RunForm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    mode: RunMode = Field(
        RunMode.full,
        title="Mode",
        description=(
            "sample: a few conversations with their contacts and companies, to try the map; "
            "full: everything in the feeds."
        ),
    )
    sample_size: int = Field(
        100, ge=1, title="Sample size", description="Conversations to migrate in sample mode."
    )
    objects: tuple[Step, ...] = Field(
        STEPS,
        min_length=1,
        title="Objects",
        description=(
            "What to migrate. Each object needs the ones before it in this list to be migrated already "
            "(in this or an earlier run)."
        ),
    )
    dry_run: bool = Field(
        False,
        title="Dry run",
        description=(
            "Discover, extract, map and plan (requests and ETA), but write nothing to Intercom and ask for "
            "no approval."
        ),
    )
    thread_mode: ThreadMode = Field(
        ThreadMode.parts,
        title="Thread mode",
        description=(
            "parts: every message becomes a part with its original time and speaker; transcript: one "
            "internal "
            "note holding the whole exchange."
        ),
    )
    follow_events_until: datetime | None = Field(
        None,
        title="Follow events until",
        description=(
            "Keep following ASAPP's real-time events, without holding a worker, until one at or after this "
            "moment arrives (or it passes by the config's grace period). Empty: take the events there are "
            "now."
        ),
    )

    cutover_at: datetime | None = Field(
        None,
        title="Cut over at",
        description=(
            "Make this run the cutover, frozen at this moment: it follows the real-time events up to it, "
            "migrates what changed, reads back what changed since it was last read back, and reports go "
            "or no-go. After a run that says go, scheduled runs and backfills stop following ASAPP there. "
            "Empty: an ordinary run."
        ),
    )

    @field_validator("follow_events_until", "cutover_at", mode="before")
    @classmethod
    def _utc_unless_stated(cls, value: Any) -> Any:
        return instant(value) if isinstance(value, str | datetime) else value

    @model_validator(mode="after")
    def _cutover_migrates_everything(self) -> RunForm:
        if self.cutover_at is not None and (self.mode is not RunMode.full or set(self.objects) != set(STEPS)):
            raise ValueError("a cutover run migrates everything: mode full, every object")
        return self

    @classmethod
    def of_params(cls, params: Mapping[str, Any]) -> RunForm:
        """A run's form values; keys of the run's conf that are not form fields are ignored."""
        return cls.model_validate({name: params[name] for name in cls.model_fields if name in params})


@dataclass
class Scope:
    """Which records a run considers: all, a sample, or for a delta run those touched in [since, until)
    plus whatever arrived since the last complete run (a partition completes hours after its window)."""

    mode: RunMode = RunMode.full
    sample_size: int = 100
    since: datetime | None = None
    until: datetime | None = None
    staged_after: datetime | None = None
    events_after: int = 0

    @property
    def windowed(self) -> bool:
        return self.since is not None and self.until is not None
