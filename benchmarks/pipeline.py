"""How fast the migration extracts and transforms a generated ASAPP dataset, and how much memory it takes:
prints figures, asserts nothing.

    .venv/bin/python benchmarks/pipeline.py [--sizes 1000 10000 100000] [--keep DIR]

Each size runs in a fresh process, so peak RSS (resource.getrusage, after extract and after
transform) is that run's own. It generates a dataset with the default arguments (untimed setup),
stages every feed from disk through a FeedSource laid out like ASAPP's S3 bucket, approves the
proposed field map as-is and transforms a full run into Intercom payloads, with one Intercom admin
(the token's owner, who also authors bot messages). The real-time event log is not merged (no timeline step):
this measures the batch path.
Datasets, staging and ledger go to a temporary directory removed afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "plugins")]
RUN_ID = "manual__benchmark"
INTERCOM = {"me": {"id": "1"}, "admins": [{"id": "1", "email": "owner@example.com", "name": "Owner"}]}


class DirectoryFeedSource:
    """A generated dataset read straight from disk, listed the way the S3 source lists the bucket."""

    channel = "directory"

    def __init__(self, root: Path):
        self.root = root

    def _feed_dir(self, feed: str) -> Path:
        return self.root / feed / "version=1" / "format=jsonl"

    def list(self, feed: str):
        from asapp_intercom.domain.feeds import Partition
        from asapp_intercom.pipeline.sources import _listing

        found: dict = defaultdict(dict)
        for path in self._feed_dir(feed).glob("dt=*/hr=*/mi=*/*"):
            partition = Partition.parse(feed, path.as_posix())
            if partition is not None:
                found[partition][path.name] = str(path.stat().st_size)  # the tag, as MemoryFeedSource uses
        return _listing(found)

    @contextmanager
    def open(self, file):
        path = self._feed_dir(file.partition.feed) / file.partition.path / file.name
        with open(path, "rb") as stream:
            yield stream


def asapp_configuration(dataset: Path) -> dict:
    """What discovery reads from ASAPP's configuration API, here from the sandbox's own model of it."""
    from datetime import timedelta
    from types import SimpleNamespace

    from asapp_intercom.pipeline.discover import discover_configuration

    from include.sandbox.asapp.server.configuration import ConfigurationApi
    from include.sandbox.asapp.server.dataset import Dataset

    api = ConfigurationApi(Dataset(dataset, timedelta(0)))

    def every(collection):
        return lambda: collection.page(None, sys.maxsize, lambda item: True)[0]

    return discover_configuration(
        SimpleNamespace(structured_data_fields=every(api.fields), segments=every(api.segments))
    )


def peak_rss_mb() -> float:
    """The process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(work: Path, conversations: int) -> dict:
    """One size, in the child process: generate, then time extract and transform."""
    from asapp_intercom.domain.feeds import FEEDS
    from asapp_intercom.domain.mapping import apply_overrides, propose
    from asapp_intercom.domain.payloads import ConversationContext
    from asapp_intercom.domain.run_form import Scope
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.operators.field_map import discovered_schema
    from asapp_intercom.operators.transform import bot_admin_id, segment_tags_by_field
    from asapp_intercom.pipeline.extract import extract_feed
    from asapp_intercom.pipeline.profile import profile_staged
    from asapp_intercom.pipeline.staging import Staging
    from asapp_intercom.pipeline.transform import transform

    from include.sandbox.asapp.generator import Options, generate

    dataset = work / "dataset"
    generate(Options(out=dataset, conversations=conversations))
    staging, ledger = Staging(f"file://{work}/staging"), Ledger(f"sqlite:///{work}/ledger.db", "bench")
    source = DirectoryFeedSource(dataset)

    started = time.perf_counter()
    manifests = [extract_feed(source, feed, staging, ledger, RUN_ID) for feed in FEEDS.values()]
    extract_seconds = time.perf_counter() - started
    extract_rss_mb = peak_rss_mb()

    asapp = asapp_configuration(dataset)
    entries = apply_overrides(propose(discovered_schema(asapp, profile_staged(staging, ledger))), {})
    context = ConversationContext(
        entries=entries,
        agents={},
        default_admin_id=INTERCOM["me"]["id"],
        bot_admin_id=bot_admin_id(INTERCOM, None),
        segment_tags_by_field=segment_tags_by_field(asapp),
    )
    started = time.perf_counter()
    result = transform(staging, ledger, RUN_ID, Scope(), context, INTERCOM["admins"])  # full run, no window
    transform_seconds = time.perf_counter() - started

    transform_rss_mb = peak_rss_mb()  # before walking the output
    ledger.close()
    staged = sum(path.stat().st_size for path in (work / "staging").rglob("*") if path.is_file())
    return {
        "rows": sum(manifest.rows_staged for manifest in manifests),
        "extract_seconds": extract_seconds,
        "payloads": {name: manifest.payloads for name, manifest in result.objects.items()},
        "transform_seconds": transform_seconds,
        "staged_mb": staged / 1e6,
        "extract_rss_mb": extract_rss_mb,
        "transform_rss_mb": transform_rss_mb,
    }


def run_child(work: Path, conversations: int) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"),
    }  # Airflow's config stays in the temp directory
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(work), str(conversations)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--keep", type=Path, help="keep datasets, staging and ledgers under this directory")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), int(args.child[1]))))
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="pipeline-benchmark-"))
    print(
        f"{'conversations':>13} {'rows staged':>11} {'extract s':>9} {'rows/s':>8} {'payloads':>9} "
        f"{'transform s':>11} {'payloads/s':>10} {'staged MB':>9} {'peak RSS MB: extract':>20} "
        f"{'+ transform':>11}"
    )
    try:
        for size in args.sizes:
            work = root / f"conversations-{size}"
            work.mkdir(parents=True, exist_ok=True)
            figures = run_child(work, size)
            payloads = sum(figures["payloads"].values())
            print(
                f"{size:>13,} {figures['rows']:>11,} {figures['extract_seconds']:>9.1f} "
                f"{figures['rows'] / figures['extract_seconds']:>8,.0f} {payloads:>9,} "
                f"{figures['transform_seconds']:>11.1f} {payloads / figures['transform_seconds']:>10,.0f} "
                f"{figures['staged_mb']:>9,.1f} {figures['extract_rss_mb']:>20.0f} "
                f"{figures['transform_rss_mb']:>11.0f}",
                flush=True,
            )
            print(
                f"{'':>13} payloads by object: "
                + ", ".join(f"{name} {count:,}" for name, count in figures["payloads"].items()),
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(work)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
