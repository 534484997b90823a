"""How fast the migration extracts and transforms a generated ASAPP dataset, beside plain baselines on the
same files: prints figures, asserts nothing.

    .venv/bin/python benchmarks/pipeline.py --data DIR [--generate N] [--keep DIR]

`--data` is a dataset generated once and reused (`--generate N` generates it there first if it is
absent, with the project's generator and seed 7). Every phase runs in a fresh child process, one after
the other, so each figure is that process's own: wall time, CPU time (user + sys, all its threads) and
peak RSS. The phases, in one run on the same files:

- extract: the pipeline stages every feed from disk through a FeedSource laid out like ASAPP's S3
  bucket, with the default `staging.memory_limit` (1GB, of which DuckDB holds half);
- DuckDB: for each feed, one plain `read_json` of the same data files (the files the pipeline's
  listing stages, listed on the baseline's clock as extract lists on its own, less any truncated gzip
  the generator's manifest names, on which DuckDB stops)
  typing the columns the pipeline types (malformed lines skipped; unlike the pipeline it keeps no
  raw JSON per row), the rows de-duplicated on the feed's unique key (latest first, then the latest
  partition) and written to Parquet, with DuckDB's threads at 2 as the pipeline has them and its
  memory limit at 1GB, the pipeline task's whole budget (twice what the pipeline lets DuckDB hold);
- orjson: one process listing and parsing every line of the same files with orjson (gunzip included): what
  reading the data costs Python at the least;
- transform: the proposed field map approved as-is, a full run transformed into Intercom payloads,
  with one Intercom admin (the token's owner, who also authors bot messages). The real-time event
  log is not merged (no timeline step): this measures the batch path;
- plan: the dry-run plan of those payloads (what a load would create and the requests it would send,
  each payload compared with the ledger), with its ETA at Intercom's default 10,000 requests/min.

Before each phase that reads the dataset (extract and both baselines) the script reads every file of it
once, untimed, where it fits in half the machine's memory, so that each finds the same page cache.
The machine is shared and noisy, so the ratios measured side by side are the figures to compare with
issue 10's targets; absolute times are not. Staging, ledger and baseline output go to a temporary
directory removed afterwards unless --keep is given.
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
import zlib
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "plugins")]
RUN_ID = "manual__benchmark"
INTERCOM = {"me": {"id": "1"}, "admins": [{"id": "1", "email": "owner@example.com", "name": "Owner"}]}
THREADS = 2
MEMORY_LIMIT = "1GB"
REQUESTS_PER_MINUTE = 10_000
PHASES = ("extract", "duckdb", "orjson", "transform", "plan")
TARGETS = {
    "extract wall ÷ DuckDB wall": 1.2,
    "file_uploads extract wall ÷ DuckDB wall": 2.0,
    "extract CPU ÷ orjson CPU": None,
    "transform CPU ÷ orjson CPU": 3.0,
}


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

    def path(self, file) -> Path:
        return self._feed_dir(file.partition.feed) / file.partition.path / file.name

    @contextmanager
    def open(self, file):
        with open(self.path(file), "rb") as stream:
            yield stream


def truncated_files(dataset: Path) -> set[str]:
    """The truncated gzip files the generator made (DuckDB stops at them; the pipeline stages their readable
    lines and quarantines the rest). Read before a baseline's clock starts: the generator's manifest is no
    part of the work, nor is importing the listing's module (Airflow's S3 hook with it: a second and more),
    which extract has imported before its clock starts too."""
    import asapp_intercom.pipeline.sources  # noqa: F401

    manifest = json.loads((dataset / "_manifest.json").read_text())
    return {entry["path"] for entry in manifest["mess"].get("truncated_gzip", [])}


def baseline_files(dataset: Path, feed: str, truncated: set[str]) -> list[Path]:
    """The feed's files the pipeline stages, less the `truncated` ones, listed as the pipeline lists them:
    on the baseline's clock, as the pipeline's extract lists on its own."""
    source = DirectoryFeedSource(dataset)
    return [
        source.path(file)
        for file in source.list(feed).files
        if not file.encrypted and source.path(file).relative_to(dataset).as_posix() not in truncated
    ]


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
        SimpleNamespace(
            structured_data_fields=every(api.fields),
            segments=every(api.segments),
            redaction_entities=every(api.redaction_entities),
            custom_vocabularies=list,  # the sandbox serves none
        )
    )


class Meter:
    """Wall and CPU time (user + sys of every thread of this process) since it was made."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def read(self) -> dict:
        return {"wall": time.perf_counter() - self.wall, "cpu": self._cpu() - self.cpu}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pipeline_extract(dataset: Path, work: Path) -> dict:
    from asapp_intercom.domain.feeds import FEEDS
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.pipeline.extract import extract_feed
    from asapp_intercom.pipeline.staging import Staging

    staging, ledger = Staging(f"file://{work}/staging"), Ledger(f"sqlite:///{work}/ledger.db", "bench")
    source, feeds, total = DirectoryFeedSource(dataset), {}, Meter()
    for feed in FEEDS.values():
        meter = Meter()
        manifest = extract_feed(source, feed, staging, ledger, RUN_ID)
        feeds[feed.name] = {**meter.read(), "files": manifest.files_staged, "rows": manifest.rows_staged}
    figures = total.read()
    ledger.close()
    return {**figures, "feeds": feeds}


def duckdb_baseline(dataset: Path, work: Path) -> dict:
    import duckdb
    from asapp_intercom.domain.feeds import FEEDS

    out = work / "duckdb"
    out.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    connection.execute(f"SET threads = {THREADS}")
    connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    connection.execute(f"SET temp_directory = '{work / 'duckdb-spill'}'")
    truncated, feeds, total = truncated_files(dataset), {}, Meter()
    for feed in FEEDS.values():
        meter = Meter()
        files = baseline_files(dataset, feed.name, truncated)
        if not files:
            feeds[feed.name] = {**meter.read(), "files": 0, "rows": 0}
            continue
        paths = "[" + ", ".join(f"'{path}'" for path in files) + "]"
        columns = "{" + ", ".join(f"'{name}': '{sql_type}'" for name, sql_type in feed.types.items()) + "}"
        key = ", ".join(f'"{column}"' for column in feed.unique_key)
        latest = (f'"{feed.latest_by}" DESC, ' if feed.latest_by else "") + "filename DESC"
        connection.execute(
            f"""COPY (SELECT * FROM read_json({paths}, format = 'newline_delimited', columns = {columns},
                                             ignore_errors = true, hive_partitioning = false, filename = true)
                      QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {latest}) = 1)
                TO '{out / feed.name}.parquet' (FORMAT parquet, COMPRESSION zstd)"""
        )
        rows = connection.execute(f"SELECT count(*) FROM '{out / feed.name}.parquet'").fetchone()[0]
        feeds[feed.name] = {**meter.read(), "files": len(files), "rows": rows}
    return {**total.read(), "feeds": feeds}


def orjson_baseline(dataset: Path, work: Path) -> dict:
    import orjson
    from asapp_intercom.domain.feeds import FEEDS

    truncated, feeds, total = truncated_files(dataset), {}, Meter()
    for feed in FEEDS.values():
        meter, rows = Meter(), 0
        files = baseline_files(dataset, feed.name, truncated)
        for path in files:
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = zlib.decompress(data, zlib.MAX_WBITS | 16)
            for line in data.split(b"\n"):
                if line.strip():
                    try:
                        orjson.loads(line)
                        rows += 1
                    except orjson.JSONDecodeError:
                        pass
        feeds[feed.name] = {**meter.read(), "files": len(files), "rows": rows}
    return {**total.read(), "feeds": feeds}


def pipeline_transform(dataset: Path, work: Path) -> dict:
    """The transform of what extract staged; DuckDB running out of memory is its result, not a crash."""
    import duckdb
    from asapp_intercom.domain.mapping import apply_overrides, propose
    from asapp_intercom.domain.payloads import ConversationContext
    from asapp_intercom.domain.run_form import Scope
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.operators.field_map import discovered_schema
    from asapp_intercom.operators.transform import bot_admin_id, segment_tags_by_field
    from asapp_intercom.pipeline.profile import profile_staged
    from asapp_intercom.pipeline.staging import Staging
    from asapp_intercom.pipeline.transform import transform

    staging, ledger = Staging(f"file://{work}/staging"), Ledger(f"sqlite:///{work}/ledger.db", "bench")
    asapp = asapp_configuration(dataset)
    entries = apply_overrides(propose(discovered_schema(asapp, profile_staged(staging, ledger))), {})
    context = ConversationContext(
        entries=entries,
        agents={},
        default_admin_id=INTERCOM["me"]["id"],
        bot_admin_id=bot_admin_id(INTERCOM, None),
        segment_tags_by_field=segment_tags_by_field(asapp),
    )
    (work / "transformed.json").unlink(missing_ok=True)  # a failed transform leaves nothing to plan
    meter = Meter()
    try:
        result = transform(staging, ledger, RUN_ID, Scope(), context, INTERCOM["admins"])  # full run
    except duckdb.Error as error:
        return {**meter.read(), "failed": f"{error.__class__.__name__}: {str(error).splitlines()[0]}"}
    finally:
        ledger.close()
    (work / "transformed.json").write_text(json.dumps(result.as_dict()))  # what the plan phase reads
    return {
        **meter.read(),
        "payloads": {name: manifest.payloads for name, manifest in result.objects.items()},
    }


def pipeline_plan(dataset: Path, work: Path) -> dict:
    """The dry-run plan of the transform's payloads: every request the load would send, and its ETA at
    Intercom's default 10,000 requests/min."""
    from asapp_intercom.domain.config import IntercomTarget
    from asapp_intercom.domain.manifests import TransformManifest
    from asapp_intercom.ledger import Ledger
    from asapp_intercom.pipeline.plan import plan
    from asapp_intercom.pipeline.staging import Staging

    transformed = work / "transformed.json"
    if not transformed.exists():
        return {"failed": "nothing transformed"}
    staging, ledger = Staging(f"file://{work}/staging"), Ledger(f"sqlite:///{work}/ledger.db", "bench")
    meter = Meter()
    try:
        planned = plan(
            staging,
            ledger,
            TransformManifest.from_dict(json.loads(transformed.read_text())),
            REQUESTS_PER_MINUTE,
            IntercomTarget.model_fields["batch_size"].default,
        )
    finally:
        ledger.close()
    return {**meter.read(), "requests": planned["requests"], "eta_minutes": planned["eta_minutes"]}


READS_DATASET = ("extract", "duckdb", "orjson")


def warm_page_cache(dataset: Path) -> bool:
    """Read every file of the dataset once, untimed, so that each phase that reads it finds the same page
    cache (otherwise extract, first, reads from disk and the baselines after it from memory). Only where the
    dataset fits in half the machine's memory; a larger one (2M conversations: 35 GB) is read from disk by
    every phase whatever is done. Returns whether it did."""
    files = [path for path in dataset.rglob("*") if path.is_file()]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if sum(path.stat().st_size for path in files) > memory / 2:
        return False
    for path in files:
        with path.open("rb") as stream:
            while stream.read(8 << 20):
                pass
    return True


def run_phase(phase: str, dataset: Path, work: Path) -> dict:
    """One phase in a fresh child process; a child that dies (the kernel's OOM killer) is a result too."""
    env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow")}  # Airflow's config stays in the work dir
    done = subprocess.run(
        [sys.executable, __file__, "--child", phase, str(dataset), str(work)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": f"the child exited with {done.returncode}: {last}"}
    return json.loads(done.stdout.splitlines()[-1])


def generate(dataset: Path, conversations: int) -> None:
    """The dataset, generated once: a directory that already holds one is reused as it is."""
    if (dataset / "_manifest.json").exists():
        print(f"reusing {dataset}", flush=True)
        return
    print(f"generating {conversations:,} conversations into {dataset} (untimed)", flush=True)
    subprocess.run(
        [sys.executable, "-m", "include.sandbox.asapp", "generate", "--out", str(dataset)]
        + ["--conversations", str(conversations), "--seed", "7"],
        cwd=REPO_ROOT,
        check=True,
    )


def ratio(numerator: dict, denominator: dict, key: str) -> float | None:
    if "failed" in numerator or "failed" in denominator or not denominator[key]:
        return None
    return numerator[key] / denominator[key]


def report(dataset: Path, figures: dict) -> None:
    extract, duck, parse, transform, _ = (figures[phase] for phase in PHASES)
    if "feeds" in extract:
        rows = sum(feed["rows"] for feed in extract["feeds"].values())
        files = sum(feed["files"] for feed in extract["feeds"].values())
        print(f"\n{dataset}: {rows:,} rows staged from {files:,} files")
    print(f"\n{'phase':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>11}  result")
    for phase in PHASES:
        phase_figures = figures[phase]
        if "wall" not in phase_figures:
            print(f"{phase:<10} {'':>8} {'':>8} {'':>11}  failed: {phase_figures['failed']}")
            continue
        result = phase_figures.get("failed") and f"failed: {phase_figures['failed']}"
        if "payloads" in phase_figures:
            payloads = phase_figures["payloads"]
            result = (
                f"{sum(payloads.values()):,} payloads ("
                + ", ".join(f"{name} {count:,}" for name, count in payloads.items())
                + ")"
            )
        elif "requests" in phase_figures:
            days = phase_figures["eta_minutes"] / 60 / 24
            result = f"{phase_figures['requests']:,} requests: {days:.1f} days at {REQUESTS_PER_MINUTE:,}/min"
        elif "feeds" in phase_figures:
            result = f"{sum(feed['rows'] for feed in phase_figures['feeds'].values()):,} rows"
        print(
            f"{phase:<10} {phase_figures['wall']:>8.1f} {phase_figures['cpu']:>8.1f} "
            f"{phase_figures['peak_rss_mb']:>11.0f}  {result}"
        )
    if all("feeds" in phase for phase in (extract, duck, parse)):
        print(
            f"\n{'feed':<28} {'files':>6} {'rows':>10} {'extract s':>9} {'DuckDB s':>8} {'÷':>5} "
            f"{'extract CPU':>11} {'orjson CPU':>10} {'÷':>5}"
        )
        for name, staged in extract["feeds"].items():
            plain, parsed = duck["feeds"][name], parse["feeds"][name]
            wall_ratio = f"{staged['wall'] / plain['wall']:>5.1f}" if plain["files"] else f"{'-':>5}"
            cpu_ratio = f"{staged['cpu'] / parsed['cpu']:>5.1f}" if parsed["files"] else f"{'-':>5}"
            print(
                f"{name:<28} {staged['files']:>6,} {staged['rows']:>10,} {staged['wall']:>9.2f} "
                f"{plain['wall']:>8.2f} {wall_ratio} {staged['cpu']:>11.2f} {parsed['cpu']:>10.2f} "
                f"{cpu_ratio}"
            )
    uploads = [phase.get("feeds", {}).get("file_uploads", {"failed": True}) for phase in (extract, duck)]
    ratios = {
        "extract wall ÷ DuckDB wall": ratio(extract, duck, "wall"),
        "file_uploads extract wall ÷ DuckDB wall": ratio(*uploads, "wall"),
        "extract CPU ÷ orjson CPU": ratio(extract, parse, "cpu"),
        "transform CPU ÷ orjson CPU": ratio(transform, parse, "cpu"),
    }
    print()
    for name, value in ratios.items():
        target = TARGETS[name]
        verdict = "" if target is None or value is None else ("met" if value <= target else "not met")
        shown = "n/a (a phase failed)" if value is None else f"{value:.2f}"
        print(f"{name:<42} {shown:>8}  {f'target ≤ {target}' if target else '':<12} {verdict}")
    peaks = {  # a phase that did not start its work (nothing to plan) has no peak worth showing
        phase: figures[phase].get("peak_rss_mb") if "wall" in figures[phase] else None
        for phase in ("extract", "transform", "plan")
    }
    for phase, peak in peaks.items():
        shown = "n/a" if peak is None else f"{peak:.0f} MB"
        verdict = "" if peak is None else ("met" if peak <= 1024 else "not met")
        print(f"{phase + ' peak RSS':<42} {shown:>8}  {'target ≤ 1 GiB':<12} {verdict}")


CHILDREN = {
    "extract": pipeline_extract,
    "duckdb": duckdb_baseline,
    "orjson": orjson_baseline,
    "transform": pipeline_transform,
    "plan": pipeline_plan,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="the dataset directory (reused if present)")
    parser.add_argument(
        "--generate", type=int, metavar="N", help="generate N conversations into --data if absent"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep staging, ledger and baseline output under this directory"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, dataset, work = args.child[0], Path(args.child[1]), Path(args.child[2])
        figures = CHILDREN[phase](dataset, work)
        print(json.dumps({**figures, "peak_rss_mb": peak_rss_mb()}))
        return
    if args.data is None:
        parser.error("--data DIR is required")
    if args.generate:
        generate(args.data, args.generate)
    if not (args.data / "_manifest.json").exists():
        parser.error(f"{args.data} holds no generated dataset (give --generate N to make one)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="pipeline-benchmark-"))
    work.mkdir(parents=True, exist_ok=True)
    figures = {}
    try:
        for phase in PHASES:
            warm = phase in READS_DATASET and warm_page_cache(args.data)
            print(f"{phase}…{' (the dataset read through first)' if warm else ''}", flush=True)
            figures[phase] = run_phase(phase, args.data.resolve(), work)
            if phase == "extract" and "failed" in figures[phase]:
                figures["transform"] = figures["plan"] = {"failed": "nothing staged"}
                break
        report(args.data, {phase: figures.get(phase, {"failed": "not run"}) for phase in PHASES})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
