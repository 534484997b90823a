"""A deterministic ASAPP dataset: batch feeds, a real-time event log, attachments and a manifest.

    python -m include.sandbox.asapp generate --out DIR --seed 7 --conversations 1000

The layout and every feed are described in include/sandbox/asapp/DATASET.md. From Python:
`generate(Options(out=Path(DIR), conversations=1000))` returns the manifest's summary.
"""

import argparse
import sys

from .dataset import generate
from .options import Options, from_arguments
from .options import add_arguments as add_arguments

__all__ = ["Options", "add_arguments", "generate", "run"]


def run(args: argparse.Namespace) -> None:
    try:
        options = from_arguments(args)
        summary = generate(options)
    except (ValueError, FileExistsError) as error:
        sys.exit(f"generate: {error}")
    rows = sum(summary["rows"].values())
    print(
        f"wrote {rows:,} rows, {summary['realtime']['lines']:,} real-time events and "
        f"{summary['attachments']['files']:,} attachments to {options.out} "
        f"(batch {summary['batch_window']['start']} .. {summary['batch_window']['end']})"
    )
