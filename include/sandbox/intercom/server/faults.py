"""Failures injected at run time, so a loader's retry and idempotency logic can be tested for real.

Each kind of fault can hit the next N API requests or a random share of them: 429 storms, 5xx
answers, slow answers and connections closed without an answer. With `phase: "after"`, 5xx answers
and dropped connections happen *after* the request took effect (the write is kept, the client never
learns it), which is the case that breaks naive retries.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

FAULT_KINDS = ("rate_limit", "error", "drop")


@dataclass
class Faults:
    rate_limit_next: int = 0
    rate_limit_share: float = 0.0
    error_next: int = 0
    error_share: float = 0.0
    error_status: int = 500
    drop_next: int = 0
    drop_share: float = 0.0
    latency_ms: int = 0
    phase: str = "before"
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_settings(cls, settings: dict) -> Faults:
        """Build from a control-endpoint body; unknown keys and bad values are refused with ValueError."""
        known = {name for name in cls.__dataclass_fields__ if not name.startswith("_")}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        faults = cls(**settings)
        if faults.phase not in ("before", "after"):
            raise ValueError("phase must be 'before' or 'after'")
        if not 500 <= faults.error_status <= 599:
            raise ValueError("error_status must be a 5xx status")
        for kind in FAULT_KINDS:
            if not 0.0 <= getattr(faults, f"{kind}_share") <= 1.0:
                raise ValueError(f"{kind}_share must be between 0 and 1")
        faults._random = random.Random(faults.seed)
        return faults

    def settings(self) -> dict:
        return {name: value for name, value in asdict(self).items() if not name.startswith("_")}

    def draw(self, kind: str) -> bool:
        """Whether this request gets a fault of `kind` (consuming one of the "next N" if so)."""
        next_name = f"{kind}_next"
        remaining = getattr(self, next_name)
        if remaining > 0:
            setattr(self, next_name, remaining - 1)
            return True
        share = getattr(self, f"{kind}_share")
        return share > 0 and self._random.random() < share
