"""What reading ahead saves when every file costs a round trip before its first byte (an S3 GET, a File
Exporter download): one feed of a generated dataset staged by the pipeline's extract through a source that
answers each file after a fixed latency, the files read one at a time and read ahead (the default depth),
side by side in one run. Prints figures, asserts nothing.

    .venv/bin/python benchmarks/read_ahead.py --data DIR [--feed file_uploads] [--latency-ms 20] [--files N]

The latency is a sleep in the source's `open` (a thread waiting on the network holds no lock either); the
bytes come from the dataset on local disk, laid out and listed as ASAPP's bucket (`benchmarks/pipeline.py`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from pipeline import RUN_ID, DirectoryFeedSource, Meter  # noqa: E402  (sets up the package's path)


class DistantFeedSource(DirectoryFeedSource):
    """The dataset's files, each answered after `latency` seconds; the first `limit` files of a feed."""

    def __init__(self, root: Path, latency: float, limit: int | None):
        super().__init__(root)
        self.latency, self.limit = latency, limit

    def list(self, feed: str):
        listing = super().list(feed)
        listing.files = listing.files[: self.limit]
        return listing

    @contextmanager
    def open(self, file):
        time.sleep(self.latency)
        with super().open(file) as stream:
            yield stream


class OneAtATime:
    """Each file opened when its turn comes, as extract read them before it read ahead."""

    def __init__(self, source, files):
        self.source, self.channel = source, source.channel

    def __enter__(self) -> OneAtATime:
        return self

    def __exit__(self, *failure) -> None:
        pass

    def open(self, file):
        return self.source.open(file)


def stage(dataset: Path, feed_name: str, latency: float, limit: int | None, ahead: bool) -> dict:
    from asapp_intercom.domain.feeds import FEEDS
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.pipeline import extract, sources
    from asapp_intercom.pipeline.staging import Staging

    extract.ReadAhead = sources.ReadAhead if ahead else OneAtATime
    with tempfile.TemporaryDirectory(prefix="read_ahead_") as work:
        staging, ledger = Staging(f"file://{work}/staging"), Ledger(f"sqlite:///{work}/ledger.db", "bench")
        meter = Meter()
        manifest = extract.extract_feed(
            DistantFeedSource(dataset, latency, limit), FEEDS[feed_name], staging, ledger, RUN_ID
        )
        figures = meter.read()
        ledger.close()
    return {**figures, "files": manifest.files_staged, "rows": manifest.rows_staged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a generated dataset")
    parser.add_argument("--feed", default="file_uploads")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="wait before a file's first byte")
    parser.add_argument("--files", type=int, default=None, help="stage only the feed's first N files")
    args = parser.parse_args()
    from asapp_intercom.pipeline.sources import READ_AHEAD

    latency = args.latency_ms / 1000
    print(f"{args.feed} of {args.data}, {args.latency_ms:g} ms before each file's first byte")
    header = (("files", 20), ("staged", 6), ("rows", 9), ("wall", 8), ("CPU", 8), ("files/s", 8))
    header += (("wall ÷ wait", 11),)
    print(" ".join(f"{name:>{width}}" for name, width in header))
    for label, ahead in (("one at a time", False), (f"{READ_AHEAD} read ahead", True)):
        figures = stage(args.data, args.feed, latency, args.files, ahead)
        waits = figures["files"] * latency
        print(
            f"{label:>20} {figures['files']:>6} {figures['rows']:>9,} "
            f"{figures['wall']:>7.2f}s {figures['cpu']:>7.2f}s {figures['files'] / figures['wall']:>8.0f} "
            f"{figures['wall'] / waits if waits else float('nan'):>11.2f}"
        )


if __name__ == "__main__":
    main()
