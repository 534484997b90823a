"""The delivery mess real exports have: truncated, stray, re-encoded, blank and unfinished files, and extra
lines beside good rows. Each kind is present from small sizes on, listed in the manifest and shaped as
DATASET.md describes; no good row is lost to any of them."""

import gzip
import json
import re
import struct
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from include.sandbox.asapp.generator.mess import Mess
from tests.sandbox.asapp.generated import (
    BOM,
    data_files,
    dataset,
    extra_lines,
    manifest,
    mess_ids,
    read_rows,
    rows,
)

FILE_KINDS = (
    "truncated_gzip",
    "non_data_files",
    "utf8_bom",
    "crlf_line_endings",
    "blank_lines",
    "empty_data_files",
    "unpublished_partitions",
)
LINE_KINDS = (
    "broken_json_lines",
    "non_object_lines",
    "invalid_utf8_lines",
    "wrong_type_values",
    "missing_key_values",
    "duplicate_rows",
)
HOURLY = ("convos_metadata", "utterances", "file_uploads")


def all_data_files(root: Path) -> list[Path]:
    return [path for feed in manifest(root)["feeds"] for path in data_files(root, feed)]


def relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def issue_ids_everywhere(root: Path) -> set[int]:
    """Every issue id any published feed row or real-time event mentions."""
    found = set()
    for feed in ("convos_metadata", "utterances", "customer_params", "customer_feedback", "file_uploads"):
        found |= {int(row["issue_id"]) for row in rows(root, feed)}
    found |= {int(row["external_conversation_id"]) for row in rows(root, "autosummary_structured_data")}
    for line in (root / "_realtime" / "events.jsonl").read_bytes().splitlines():
        event = json.loads(line)
        meta = event["meta_data"] if isinstance(event["meta_data"], dict) else {}
        if "issue_id" in meta:
            found.add(int(meta["issue_id"]))
    return found


@pytest.mark.parametrize("name", ["sixty", "one_fifty", "moderate"])
def test_every_kind_is_present_in_small_and_moderate_datasets(name):
    root = dataset(name)
    listed = manifest(root)["mess"]
    assert set(listed) == {kind.value for kind in Mess}
    absent = {kind for kind, ids in listed.items() if not ids}
    # long conversations need 100 conversations (DATASET.md)
    assert absent == ({"long_conversations"} if manifest(root)["arguments"]["conversations"] < 100 else set())


def test_one_utterances_part_from_the_middle_of_the_window_is_cut_and_its_complete_copy_waits():
    root = dataset("moderate")
    (case,) = mess_ids(root, "truncated_gzip")
    path = root / case["path"]
    assert re.fullmatch(
        r"utterances/version=1/format=jsonl/dt=[\d-]+/hr=\d\d/mi=00/utterances\.jsonl\.00\.gz", case["path"]
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["_SUCCESS", "utterances.jsonl.00.gz"]
    window = manifest(root)["batch_window"]
    start, end = (datetime.fromisoformat(window[key]) for key in ("start", "end"))
    hour = datetime.fromisoformat(
        re.search(r"dt=([\d-]+)/hr=(\d\d)", case["path"]).expand(r"\1T\2:00:00+00:00")
    )
    assert start + (end - start) / 2 <= hour < end, "from the middle of the batch window"

    with pytest.raises(EOFError, match="Compressed file ended before the end-of-stream marker was reached"):
        with gzip.open(path) as broken:
            broken.read()
    complete = (root / "_redeliveries" / case["path"]).read_bytes()
    assert 0.55 <= len(path.read_bytes()) / len(complete) <= 0.65 and complete.startswith(path.read_bytes())
    lines = gzip.decompress(complete).splitlines(keepends=True)
    assert case["rows"] == len(lines) >= 20
    readable = zlib.decompressobj(wbits=31).decompress(path.read_bytes())
    assert case["rows_readable"] == readable.count(b"\n") < case["rows"]
    assert readable.startswith(b"".join(lines[: case["rows_readable"]]))
    assert case["unreadable_event_uuids"] == [
        json.loads(line)["event_uuid"] for line in lines[case["rows_readable"] :]
    ]
    realtime_end = datetime.fromisoformat(manifest(root)["realtime_window"]["end"])
    assert datetime.fromisoformat(case["redelivered_at"]) == realtime_end + timedelta(hours=2)
    listed = {f["path"]: f["rows"] for f in manifest(root)["feeds"]["utterances"]["files"]}
    assert listed[case["path"]] == case["rows"], "the manifest counts the rows the file was meant to hold"


def test_stray_files_sit_beside_the_data_of_finished_partitions():
    root = dataset("moderate")
    strays = mess_ids(root, "non_data_files")
    folders = sorted({path.rsplit("/", 1)[0] for path in strays})
    assert folders and len(strays) == 3 * len(folders)
    phantoms = set()
    for folder in folders:
        feed = folder.split("/")[0]
        names = {path.rsplit("/", 1)[1] for path in strays if path.startswith(folder + "/")}
        assert names == {f"{feed}.jsonl.tmp", f".{feed}.jsonl.crc", "_SUCCESS.crc"}
        directory = root / folder
        assert (directory / "_SUCCESS").is_file() and (directory / f"{feed}.jsonl").is_file()
        *whole, half = (directory / f"{feed}.jsonl.tmp").read_bytes().split(b"\n")
        assert whole and half, "complete rows, then a half-written one without a newline"
        with pytest.raises(json.JSONDecodeError):
            json.loads(half)
        tmp_issues = {json.loads(line)["issue_id"] for line in whole}
        assert len(tmp_issues) == 1 and min(tmp_issues) >= 29_000_001
        phantoms |= tmp_issues
        data = (directory / f"{feed}.jsonl").read_bytes()
        crc = (directory / f".{feed}.jsonl.crc").read_bytes()
        assert crc[:8] == b"crc\x00" + struct.pack(">i", 512)
        assert [struct.unpack(">I", crc[i : i + 4])[0] for i in range(8, len(crc), 4)] == [
            zlib.crc32(data[i : i + 512]) for i in range(0, len(data), 512)
        ]
        assert (directory / "_SUCCESS.crc").read_bytes() == b"crc\x00" + struct.pack(">i", 512)
    assert not phantoms & issue_ids_everywhere(root), "phantom conversations are referenced by no feed"


def test_byte_order_marks_and_carriage_returns_only_in_the_listed_files():
    root = dataset("moderate")
    bom, crlf = set(mess_ids(root, "utf8_bom")), set(mess_ids(root, "crlf_line_endings"))
    assert {p.split("/")[0] for p in bom} == {"utterances", "customers"}
    assert {p.split("/")[0] for p in crlf} == {"convos_metadata", "reps"}
    truncated = {case["path"] for case in mess_ids(root, "truncated_gzip")}
    for path in all_data_files(root):
        name = relative(root, path)
        if name in truncated:
            continue
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        assert raw.startswith(BOM) == (name in bom), name
        lines = raw.splitlines(keepends=True)
        if name in crlf:
            assert lines and all(line.endswith(b"\r\n") for line in lines), name
        else:
            assert b"\r" not in raw, name


def test_blank_lines_sit_inside_the_listed_files_whose_last_line_has_no_newline():
    root = dataset("moderate")
    listed = mess_ids(root, "blank_lines")
    assert {p.split("/")[0] for p in listed} == {"utterances", "customer_feedback"}
    for name in listed:
        raw = (root / name).read_bytes()
        lines = raw.split(b"\n")
        assert not raw.endswith(b"\n")
        assert b"" in lines[:-1] and any(line.strip() == b"" and line for line in lines[:-1])
        assert json.loads(lines[-1]), "the last line is a row"
        assert len(read_rows(root, root / name)) == len([line for line in lines if line.strip()])


def test_empty_data_files_are_zero_bytes_in_finished_hourly_partitions():
    root = dataset("moderate")
    listed = mess_ids(root, "empty_data_files")
    assert listed
    files = {f["path"]: f["rows"] for feed in HOURLY for f in manifest(root)["feeds"][feed]["files"]}
    for name in listed:
        path = root / name
        assert name.split("/")[0] in HOURLY and path.stat().st_size == 0 and files[name] == 0
        assert sorted(p.name for p in path.parent.iterdir()) == ["_SUCCESS", path.name]
        assert name.rsplit("/", 1)[0] not in mess_ids(root, "empty_partitions")


def test_the_last_half_hour_of_the_window_was_never_finished():
    root = dataset("moderate")
    last_day = (datetime.fromisoformat(manifest(root)["batch_window"]["end"]) - timedelta(days=1)).date()
    expected = [
        f"{feed}/version=1/format=jsonl/dt={last_day}/hr=23/mi=30"
        for feed in ("convos_metadata", "utterances")
    ]
    assert mess_ids(root, "unpublished_partitions") == expected
    customers = {row["customer_id"] for row in rows(root, "customers")}
    phantom = set()
    for partition in expected:
        files = sorted(p.name for p in (root / partition).iterdir())
        feed = partition.split("/")[0]
        assert files == [f"{feed}.jsonl"], "data and no _SUCCESS"
        lines = [json.loads(line) for line in (root / partition / files[0]).read_bytes().splitlines()]
        assert lines
        phantom |= {row["issue_id"] for row in lines}
        for row in lines:
            if feed == "convos_metadata":
                assert row["customer_id"] in customers, "its customer is an existing one"
            elif row["sender_type"] == "customer":
                assert row["sender_id"] in customers
    assert len(phantom) == 1 and min(phantom) >= 29_100_001
    assert not phantom & issue_ids_everywhere(root)


def good_lines(root: Path, name: str) -> set[bytes]:
    """The file's lines that are not extra (as bytes without their newline)."""
    extra = extra_lines(root).get(name, frozenset())
    return {
        line for number, line in enumerate((root / name).read_bytes().split(b"\n"), 1) if number not in extra
    }


def listed_lines(root: Path, kind: str) -> list[tuple[str, bytes]]:
    found = []
    for case in mess_ids(root, kind):
        lines = (root / case["path"]).read_bytes().split(b"\n")
        found.append((case["path"], lines[case["line"] - 1]))
    return found


def test_extra_lines_imitate_a_good_row_of_their_file_and_are_listed_by_line():
    root = dataset("moderate")
    for kind in LINE_KINDS:
        assert mess_ids(root, kind), kind
    for name, line in listed_lines(root, "broken_json_lines"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        assert line.decode() and any(good.startswith(line) for good in good_lines(root, name)), (
            "a cut-off copy"
        )
    shapes = set()
    for _name, line in listed_lines(root, "non_object_lines"):
        value = json.loads(line)
        assert not isinstance(value, dict)
        shapes.add(type(value).__name__)
    assert shapes == {"list", "str", "int", "NoneType"}
    for name, line in listed_lines(root, "invalid_utf8_lines"):
        with pytest.raises(UnicodeDecodeError):
            line.decode("utf-8")
        text = line.decode("latin-1")
        assert not text.isascii() and text.encode() in good_lines(root, name), (
            "a good row, encoded in Latin-1"
        )
    columns = set()
    for name, line in listed_lines(root, "wrong_type_values"):
        row = json.loads(line)
        column, value = (
            ("issue_id", "n/a") if name.startswith("convos_metadata") else ("created_ts", "yesterday")
        )
        assert row[column] == value
        columns.add(column)
        assert any({**json.loads(good), column: value} == row for good in good_lines(root, name) if good)
    assert columns == {"issue_id", "created_ts"}
    for name, line in listed_lines(root, "missing_key_values"):
        row = json.loads(line)
        column = "issue_id" if name.startswith("convos_metadata") else "created_ts"
        assert row.get(column) is None
        assert any(
            {k: v for k, v in json.loads(good).items() if k != column}
            == {k: v for k, v in row.items() if k != column}
            for good in good_lines(root, name)
            if good
        )
    for case in mess_ids(root, "duplicate_rows"):
        lines = (root / case["path"]).read_bytes().split(b"\n")
        copy = lines[case["line"] - 1]
        assert copy in lines[: case["line"] - 1] and isinstance(json.loads(copy), dict), (
            "byte-identical, earlier"
        )


def test_no_good_row_is_lost_and_extra_lines_are_not_counted_as_rows():
    root = dataset("moderate")
    for name, lines in extra_lines(root).items():
        raw = (root / name).read_bytes().splitlines()
        assert len(read_rows(root, root / name)) == len(raw) - len(lines)
    feeds = manifest(root)["feeds"]
    for feed in feeds:
        assert feeds[feed]["rows"] == len(rows(root, feed)), feed
