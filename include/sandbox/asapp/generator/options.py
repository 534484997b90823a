"""The generator's arguments, their defaults and the windows they imply."""

import argparse
import math
import re
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from . import clock
from .feeds import FEEDS

DEFAULT_START = date(2026, 1, 5)
CONVERSATIONS_PER_DAY = 2000
MIN_DEFAULT_DAYS = 2
"""Late CSAT and customers restated on a later day need a second day, so the default has two."""


@dataclass(frozen=True)
class Options:
    out: Path
    seed: int = 7
    conversations: int = 1000
    start: date = DEFAULT_START
    days: int | None = None
    realtime_hours: float = 6
    company: str = "acme"
    mess_rate: float = 1.0
    max_rows_per_file: int = 50_000
    customer_first: bool = False
    """Every conversation opens with the customer: no virtual-assistant or agent openings."""
    without_feeds: tuple[str, ...] = ()
    """Feeds the tenant does not have: the dataset holds nothing of them."""
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.conversations < 1:
            raise ValueError("--conversations must be at least 1")
        if self.days is not None and self.days < 1:
            raise ValueError("--days must be at least 1")
        if self.realtime_hours < 0 or self.mess_rate < 0:
            raise ValueError("--realtime-hours and --mess-rate cannot be negative")
        if self.max_rows_per_file < 1:
            raise ValueError("--max-rows-per-file must be at least 1")
        if not re.fullmatch(r"[a-z][a-z0-9]{1,30}", self.company):
            raise ValueError("--company must be a short lower-case name such as acme")
        unknown = sorted(set(self.without_feeds) - set(FEEDS))
        if unknown:
            raise ValueError(f"--without-feed: no such feed {', '.join(unknown)} (feeds: {', '.join(FEEDS)})")
        object.__setattr__(self, "without_feeds", tuple(sorted(set(self.without_feeds))))

    @property
    def batch_days(self) -> int:
        return self.days or max(MIN_DEFAULT_DAYS, math.ceil(self.conversations / CONVERSATIONS_PER_DAY))

    @property
    def batch_start(self) -> int:
        return clock.from_date(self.start)

    @property
    def batch_end(self) -> int:
        return self.batch_start + self.batch_days * clock.DAY

    @property
    def realtime_end(self) -> int:
        return self.batch_end + round(self.realtime_hours * clock.HOUR)

    def as_manifest(self) -> dict:
        values = asdict(self)
        del values["out"], values["overwrite"]
        # floats as floats whether given as 3 or 3.0, so the manifest's bytes do not depend on the caller
        return {
            **values,
            "start": self.start.isoformat(),
            "days": self.batch_days,
            "realtime_hours": float(self.realtime_hours),
            "mess_rate": float(self.mess_rate),
            "without_feeds": list(self.without_feeds),
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to create")
    parser.add_argument("--seed", type=int, default=7, help="same seed and arguments, same bytes (default 7)")
    parser.add_argument("--conversations", type=int, default=1000, help="batch conversations (default 1000)")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=DEFAULT_START,
        help="first day of the batch window, UTC (default 2026-01-05)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"batch window length (default max({MIN_DEFAULT_DAYS}, "
        f"ceil(conversations / {CONVERSATIONS_PER_DAY})))",
    )
    parser.add_argument(
        "--realtime-hours",
        type=float,
        default=6,
        help="length of the real-time window after the batch window (default 6)",
    )
    parser.add_argument("--company", default="acme", help="the ASAPP tenant's short name (default acme)")
    parser.add_argument(
        "--mess-rate",
        type=float,
        default=1.0,
        help="multiplies the rate of every injected mess case (default 1)",
    )
    parser.add_argument("--no-mess", action="store_true", help="inject no mess at all")
    parser.add_argument(
        "--max-rows-per-file",
        type=int,
        default=50_000,
        help="split a partition into gzip parts above this many rows (default 50000)",
    )
    parser.add_argument(
        "--customer-first",
        action="store_true",
        help="every conversation opens with the customer (no bot or agent openings)",
    )
    parser.add_argument(
        "--without-feed",
        action="append",
        default=[],
        metavar="NAME",
        help="a feed the tenant does not have: nothing of it is written (repeatable)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace DIR if it holds a previously generated dataset"
    )


def from_arguments(args: argparse.Namespace) -> Options:
    return Options(
        out=args.out,
        seed=args.seed,
        conversations=args.conversations,
        start=args.start,
        days=args.days,
        realtime_hours=args.realtime_hours,
        company=args.company,
        mess_rate=0.0 if args.no_mess else args.mess_rate,
        max_rows_per_file=args.max_rows_per_file,
        customer_first=args.customer_first,
        without_feeds=tuple(args.without_feed),
        overwrite=args.overwrite,
    )
