"""Generated ASAPP datasets for tests, made once per test process, and readers for their files.

    from tests.sandbox.asapp.generated import dataset
    root = dataset("moderate")          # 600 conversations, default mess, 2 days + 6 h real time

Datasets are generated in-process into a temporary directory removed at exit; each named
configuration is made at most once per process (per pytest-xdist worker).
"""

import atexit
import functools
import gzip
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from include.sandbox.asapp.generator import Options, generate

CONFIGURATIONS = {
    "moderate": {"seed": 7, "conversations": 600},
    "clean": {"seed": 7, "conversations": 600, "mess_rate": 0.0},
    "split": {"seed": 7, "conversations": 600, "max_rows_per_file": 150},
}

PARTITION_FILE = re.compile(
    r"(?P<feed>[a-z_]+)/version=1/format=jsonl/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hr=(?P<hr>\d{2})/mi=(?P<mi>\d{2})"
    r"/(?P<name>_SUCCESS|(?P=feed)\.jsonl|(?P=feed)\.jsonl\.\d{2}\.gz)"
)

_ROOT = Path(tempfile.mkdtemp(prefix="asapp-generated-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


@functools.cache
def dataset(name: str) -> Path:
    out = _ROOT / name
    generate(Options(out=out, **CONFIGURATIONS[name]))
    return out


def generate_into(out: Path, **options) -> Path:
    generate(Options(out=out, **options))
    return out


@functools.cache
def manifest(root: Path) -> dict:
    return json.loads((root / "_manifest.json").read_text())


def read_lines(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as lines:
        return [json.loads(line) for line in lines]


def data_files(root: Path, feed: str) -> list[Path]:
    """The feed's data files in partition order (split parts in their numbered order)."""
    return sorted(path for path in (root / feed).rglob(f"{feed}.jsonl*") if path.is_file())


def partition_of(path: Path) -> str:
    """dt=…/hr=…/mi=… of a data file."""
    return "/".join(path.parts[-4:-1])


def rows_with_partition(root: Path, feed: str) -> Iterator[tuple[str, dict]]:
    for path in data_files(root, feed):
        for row in read_lines(path):
            yield partition_of(path), row


@functools.cache
def rows(root: Path, feed: str) -> list[dict]:
    return [row for _, row in rows_with_partition(root, feed)]


@functools.cache
def realtime_events(root: Path) -> list[dict]:
    return read_lines(root / "_realtime" / "events.jsonl")


def mess_ids(root: Path, kind: str) -> list:
    return manifest(root)["mess"][kind]
