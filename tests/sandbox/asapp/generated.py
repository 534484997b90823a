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

BOM = b"\xef\xbb\xbf"
LINE_KINDS = (
    "broken_json_lines",
    "non_object_lines",
    "invalid_utf8_lines",
    "wrong_type_values",
    "missing_key_values",
    "duplicate_rows",
)
STRING_IDS = ("issue_id", "customer_id", "sender_id")
"""The integer ids numbers_as_strings writes as JSON strings."""

CONFIGURATIONS = {
    "sixty": {"seed": 7, "conversations": 60},
    "one_fifty": {"seed": 7, "conversations": 150},
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
    """Every line of a file as JSON (strict: any mess in it fails)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as lines:
        return [json.loads(line) for line in lines]


def is_data_file(path: Path, feed: str) -> bool:
    """{feed}.jsonl or {feed}.jsonl.NN.gz in a partition ASAPP finished (it has _SUCCESS)."""
    return (
        bool(re.fullmatch(rf"{feed}\.jsonl(\.\d{{2}}\.gz)?", path.name))
        and (path.parent / "_SUCCESS").exists()
    )


def data_files(root: Path, feed: str) -> list[Path]:
    """The feed's data files in partition order (split parts in their numbered order); files that are not the
    feed's data (non_data_files) and unfinished partitions (unpublished_partitions) are left out."""
    return sorted(
        path for path in (root / feed).rglob(f"{feed}.jsonl*") if path.is_file() and is_data_file(path, feed)
    )


def partition_of(path: Path) -> str:
    """dt=…/hr=…/mi=… of a data file."""
    return "/".join(path.parts[-4:-1])


@functools.cache
def extra_lines(root: Path) -> dict[str, frozenset[int]]:
    """Line numbers of the extra lines the line-level mess kinds added, per file."""
    found: dict[str, set[int]] = {}
    for kind in LINE_KINDS:
        for case in mess_ids(root, kind):
            found.setdefault(case["path"], set()).add(case["line"])
    return {path: frozenset(lines) for path, lines in found.items()}


def read_rows(root: Path, path: Path) -> list[dict]:
    """The good rows of a data file, read as a careful reader must (see rows_in); a truncated file is read
    from its complete copy in _redeliveries/."""
    relative = path.relative_to(root).as_posix()
    if relative in {case["path"] for case in manifest(root)["mess"]["truncated_gzip"]}:
        path = root / "_redeliveries" / relative
    return rows_in(
        root, relative, gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    )


def rows_in(root: Path, relative: str, raw: bytes) -> list[dict]:
    """The good rows in the (decompressed) content of data file `relative`: only the layout quirks and extra
    lines that the manifest lists for this very file are skipped. Anything else in any file (a BOM, a carriage
    return, a blank or broken line) fails here."""
    mess = manifest(root)["mess"]
    if relative in mess["utf8_bom"]:
        assert raw.startswith(BOM), relative
        raw = raw[len(BOM) :]
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        assert relative in mess["blank_lines"], f"{relative}: the last line has no newline"
    crlf, blank, skip = (
        relative in mess["crlf_line_endings"],
        relative in mess["blank_lines"],
        extra_lines(root).get(relative, ()),
    )
    rows = []
    for number, line in enumerate(lines, start=1):
        if number in skip:
            continue
        assert line.endswith(b"\r") == crlf, (relative, number)
        if crlf:
            line = line[:-1]
        if blank and not line.strip():
            continue
        row = json.loads(line)
        assert isinstance(row, dict), (relative, number)
        rows.append(row)
    return rows


def rows_with_partition(root: Path, feed: str, raw: bool = False) -> Iterator[tuple[str, dict]]:
    """(dt=…/hr=…/mi=…, row) of the feed's good rows; raw: numbers_as_strings ids as written."""
    for path in data_files(root, feed):
        for row in read_rows(root, path):
            yield partition_of(path), row if raw else _as_numbers(root, feed, row)


@functools.cache
def rows(root: Path, feed: str) -> list[dict]:
    """The feed's good rows, with the numbers_as_strings ids of the listed conversations read back as numbers
    (every other value exactly as written; raw_rows keeps those ids as the strings they are)."""
    return [row for _, row in rows_with_partition(root, feed)]


@functools.cache
def raw_rows(root: Path, feed: str) -> list[dict]:
    return [row for _, row in rows_with_partition(root, feed, raw=True)]


def _as_numbers(root: Path, feed: str, row: dict) -> dict:
    if feed in ("utterances", "convos_metadata") and isinstance(row.get("issue_id"), str):
        assert int(row["issue_id"]) in _numbers_as_strings(root), row["issue_id"]
        return {
            key: int(value) if key in STRING_IDS and isinstance(value, str) else value
            for key, value in row.items()
        }
    return row


@functools.cache
def _numbers_as_strings(root: Path) -> frozenset[int]:
    return frozenset(mess_ids(root, "numbers_as_strings"))


@functools.cache
def realtime_events(root: Path) -> list[dict]:
    """The real-time log's events, the malformed_events lines left out."""
    malformed = set(mess_ids(root, "malformed_events"))
    return [
        event for number, event in enumerate(raw_realtime_events(root), start=1) if number not in malformed
    ]


@functools.cache
def raw_realtime_events(root: Path) -> list[dict]:
    return read_lines(root / "_realtime" / "events.jsonl")


def mess_ids(root: Path, kind: str) -> list:
    return manifest(root)["mess"][kind]
