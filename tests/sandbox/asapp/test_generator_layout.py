"""The directory contract: partition paths, _SUCCESS markers, splits, and the files the manifest lists."""

import gzip
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.sandbox.asapp.generator.feeds import FEEDS
from tests.sandbox.asapp.generated import (
    PARTITION_FILE,
    data_files,
    dataset,
    generate_into,
    manifest,
    mess_ids,
    read_rows,
    rows,
    rows_with_partition,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
OTHER_FILES = re.compile(
    rf"_manifest\.json|_realtime/events\.jsonl|_config/segments\.json|_attachments/{UUID}"
)
ROW_TIME = {  # the column whose time decides a row's partition
    "convos_metadata": "instance_ts",
    "utterances": "created_ts",
    "file_uploads": "file_upload_ts",
    "customer_params": "event_ts",
    "customer_feedback": "instance_ts",
    "autosummary_structured_data": "structured_data_ts",
    "reps": "created_ts",
    "customers": "dt",
    "companies": "dt",
    "structured_data_config": "dt",
}


def all_files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_every_file_is_a_partition_file_or_one_of_the_named_extras():
    root = dataset("moderate")
    strays = {f for f in all_files(root) if not PARTITION_FILE.fullmatch(f) and not OTHER_FILES.fullmatch(f)}
    redelivered = {f"_redeliveries/{case['path']}" for case in mess_ids(root, "truncated_gzip")}
    assert strays == set(mess_ids(root, "non_data_files")) | redelivered, "only the listed extras"
    assert {
        PARTITION_FILE.fullmatch(f)["feed"] for f in all_files(root) if PARTITION_FILE.fullmatch(f)
    } == set(FEEDS)


def test_every_hour_or_day_of_the_batch_window_is_a_finished_partition():
    root = dataset("moderate")
    window = manifest(root)["batch_window"]
    start, end = (datetime.fromisoformat(window[key]) for key in ("start", "end"))
    for feed, spec in FEEDS.items():
        step = timedelta(hours=1) if spec.sync == "1h" else timedelta(days=1)
        expected = []
        moment = start
        while moment < end:
            expected.append(f"dt={moment:%Y-%m-%d}/hr={moment:%H}/mi=00")
            moment += step
        found = sorted(
            str(p.parent.relative_to(root / feed / "version=1/format=jsonl"))
            for p in (root / feed).rglob("_SUCCESS")
        )
        assert found == expected, feed
        assert all(p.stat().st_size == 0 for p in (root / feed).rglob("_SUCCESS"))
        partitions = {str(p.parent.relative_to(root)) for p in (root / feed).rglob("*") if p.is_file()}
        unfinished = {p for p in partitions if not (root / p / "_SUCCESS").is_file()}
        assert unfinished == {
            p for p in mess_ids(root, "unpublished_partitions") if p.startswith(f"{feed}/")
        }, feed


def test_rows_sit_in_the_partition_of_their_time():
    root = dataset("moderate")
    for feed, column in ROW_TIME.items():
        spec = FEEDS[feed]
        for partition, row in rows_with_partition(root, feed):
            value = row[column]
            at = (
                datetime.fromisoformat(value)
                if len(value) > 10
                else datetime.fromisoformat(value).replace(tzinfo=UTC)
            )
            hour = f"{at:%H}" if spec.sync == "1h" else "00"
            assert partition == f"dt={at:%Y-%m-%d}/hr={hour}/mi=00", (feed, row)


def test_the_batch_holds_nothing_from_the_realtime_window():
    root = dataset("moderate")
    end = datetime.fromisoformat(manifest(root)["batch_window"]["end"])
    for feed in ("utterances", "convos_metadata", "file_uploads", "customer_feedback"):
        assert max(datetime.fromisoformat(row[ROW_TIME[feed]]) for row in rows(root, feed)) < end


def test_manifest_lists_every_data_file_with_its_row_count():
    root = dataset("moderate")
    listed = manifest(root)["feeds"]
    for feed in FEEDS:
        on_disk = {str(p.relative_to(root)): len(read_rows(root, p)) for p in data_files(root, feed)}
        assert {f["path"]: f["rows"] for f in listed[feed]["files"]} == on_disk
        assert listed[feed]["rows"] == sum(on_disk.values())
        assert listed[feed]["sync_time"] == FEEDS[feed].sync


def test_partitions_over_the_row_limit_are_split_into_numbered_gzip_parts():
    split, whole = dataset("split"), dataset("moderate")
    limit = manifest(split)["arguments"]["max_rows_per_file"]
    files = [path for feed in FEEDS for path in data_files(split, feed)]
    parts = [path.relative_to(split) for path in files if path.name.endswith(".gz")]
    assert parts, "the split configuration must produce gzip parts"
    for folder in {p.parent for p in parts}:
        names = sorted(p.name for p in (split / folder).iterdir() if p.name != "_SUCCESS")
        feed = folder.parts[0]
        assert names == [f"{feed}.jsonl.{n:02d}.gz" for n in range(len(names))]
        counts = [len(read_rows(split, split / folder / name)) for name in names]
        assert all(count == limit for count in counts[:-1]) and 0 < counts[-1] <= limit
        for name in names:
            header = (split / folder / name).read_bytes()[:10]
            assert header[:3] == b"\x1f\x8b\x08" and header[3] & 0x08 == 0, "no file name in the gzip header"
            assert header[4:8] == b"\x00\x00\x00\x00", "gzip mtime must be 0"
    small = [path for path in files if path.name.endswith(".jsonl")]
    assert small and all(len(read_rows(split, p)) <= limit for p in small)
    for feed in FEEDS:  # only the file layout differs: the same rows, in the same order
        assert rows(split, feed) == rows(whole, feed), feed


def test_gzip_parts_decompress_to_the_rows_of_the_partition():
    split = dataset("split")
    truncated = {case["path"] for case in mess_ids(split, "truncated_gzip")}
    part = next(
        p
        for p in sorted(split.glob("*/version=1/format=jsonl/*/*/*/*.jsonl.00.gz"))
        if str(p.relative_to(split)) not in truncated
    )
    assert (
        gzip.decompress(part.read_bytes()).count(b"\n") == manifest(split)["arguments"]["max_rows_per_file"]
    )


def test_default_days_scale_with_size_and_start_on_the_documented_day(tmp_path):
    generate_into(tmp_path / "small", conversations=10)
    generate_into(tmp_path / "bigger", conversations=4500, realtime_hours=0)
    assert manifest(tmp_path / "small")["arguments"]["days"] == 2
    assert manifest(tmp_path / "bigger")["arguments"]["days"] == 3
    assert manifest(tmp_path / "small")["batch_window"]["start"] == "2026-01-05T00:00:00.000000+00:00"


def test_the_documented_command_writes_a_dataset_and_refuses_to_clobber_another_directory(tmp_path):
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp",
        "generate",
        "--out",
        str(tmp_path / "out"),
        "--seed",
        "3",
        "--conversations",
        "40",
        "--company",
        "globex",
        "--days",
        "1",
        "--realtime-hours",
        "2",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert "wrote" in done.stdout
    written = manifest(tmp_path / "out")
    assert written["company"] == "globex" and written["arguments"]["days"] == 1
    assert written["realtime_window"]["end"] == "2026-01-06T02:00:00.000000+00:00"
    assert subprocess.run(command, cwd=REPO_ROOT, capture_output=True).returncode != 0
    subprocess.run([*command, "--overwrite"], cwd=REPO_ROOT, capture_output=True, check=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("not a dataset")
    refused = subprocess.run(
        [*command[:5], str(tmp_path / "other"), "--overwrite"], cwd=REPO_ROOT, capture_output=True
    )
    assert refused.returncode != 0 and (tmp_path / "other" / "keep.txt").exists()


@pytest.mark.parametrize(
    "arguments", [["--conversations", "0"], ["--company", "Not A Name"], ["--days", "0"]]
)
def test_invalid_arguments_are_refused(tmp_path, arguments):
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp",
        "generate",
        "--out",
        str(tmp_path / "x"),
        *arguments,
    ]
    assert subprocess.run(command, cwd=REPO_ROOT, capture_output=True).returncode != 0
