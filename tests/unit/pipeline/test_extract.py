import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from asapp_intercom.domain.feeds import FEEDS, Partition
from asapp_intercom.pipeline.extract import STREAM_ROWS, extract_feed
from asapp_intercom.pipeline.sources import RequiredFeedMissing
from asapp_intercom.pipeline.staging import Staging

from tests.conftest import ROOT
from tests.support.feed_files import MemoryFeedSource

HOUR_10 = "dt=2026-01-05/hr=10/mi=00"
HOUR_11 = "dt=2026-01-05/hr=11/mi=00"


def convo(issue_id, instance_ts, **extra):
    return {"issue_id": issue_id, "instance_ts": instance_ts, "customer_id": 7, **extra}


def staged(area, feed):
    """What later phases read of a feed: the usable rows of the files' current versions."""
    staging, ledger = area
    connection = staging.connect()
    staging.create_feed_views(connection, ledger)
    return connection.sql(f'SELECT * FROM "batch_{feed}" ORDER BY _partition, _file, _line').df()


def test_stages_complete_partitions_and_quarantines_bad_lines_with_reasons(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add(
        "convos_metadata",
        HOUR_10,
        "convos_metadata.jsonl",
        [
            convo(1, "2026-01-05T10:00:00.000000+00:00", csat_rating=400.0),
            convo("abc", "2026-01-05T10:15:00.000000+00:00"),
            "{not json",
            "[1, 2]",
            {"instance_ts": "2026-01-05 10:30:00", "customer_id": 9},
            convo(2, "2026-01-05 10:45:00", brand_new_column={"nested": True}),
        ],
    )
    source.add(
        "convos_metadata",
        HOUR_11,
        "convos_metadata.jsonl",
        [convo(3, "2026-01-05T11:00:00Z")],
        complete=False,
    )

    manifest = extract_feed(source, FEEDS["convos_metadata"], staging, ledger, "run-1")

    assert (manifest.files_staged, manifest.rows_staged, manifest.rows_quarantined) == (1, 2, 4)
    assert manifest.partitions_waiting == [HOUR_11]
    rows = staged(area, "convos_metadata")
    assert list(rows.issue_id) == [1, 2]
    assert str(rows.instance_ts[1]) == "2026-01-05 10:45:00+00:00"
    assert '"brand_new_column"' in rows._raw[1]
    reasons = {row.source_id.rsplit(":", 1)[1]: row.reason for row in ledger.open_quarantine()}
    assert reasons == {
        "2": "issue_id: abc is not an integer",
        "3": "not valid JSON",
        "4": "not a JSON object",
        "5": "issue_id: missing (part of the unique key)",
    }
    raws = {row.source_id.rsplit(":", 1)[1]: row.detail["raw"] for row in ledger.open_quarantine()}
    assert (raws["3"], raws["4"]) == ("{not json", "[1, 2]")
    assert json.loads(raws["2"])["issue_id"] == "abc"
    assert not {"_problem", "_bad_values", "_quarantined_raw"} & set(rows.columns)


def test_a_batch_staged_before_quarantined_lines_were_kept_apart_is_still_read(area):
    """A migration upgraded in mid-course reads the batches the earlier version staged, whose Parquet files
    have no `_quarantined_raw` column."""
    staging, ledger = area
    source = MemoryFeedSource()
    source.add("reps", HOUR_10, "reps.jsonl", [{"rep_id": "1", "name": "Li"}, "{not json"])
    extract_feed(source, FEEDS["reps"], staging, ledger, "run-1")
    (batch,) = {row.parquet for row in ledger.staged("reps")}
    path = (staging.root / batch).path
    pq.write_table(pq.read_table(path).drop_columns(["_quarantined_raw"]), path)

    assert list(staged(area, "reps").rep_id) == ["1"]


def test_each_file_is_profiled_from_its_first_lines_fewer_when_they_are_wide(area):
    """The schema discovery reads is a sample of every file: its first thirty lines, or as many of them as
    fit PROFILE_CHARACTERS; a column a file has in every line is found however wide the lines."""
    staging, ledger = area
    source = MemoryFeedSource()
    at = "2026-01-05T10:00:00Z"
    wide = [convo(n, at, notes="x" * 6_000, **({"late": 1} if n == 3 else {})) for n in range(1, 6)]
    narrow = [convo(n, at, **({"late": "a"} if n == 30 else {})) for n in range(1, 40)]
    source.add("convos_metadata", HOUR_10, "convos_metadata.jsonl.00", wide)
    source.add("convos_metadata", HOUR_10, "convos_metadata.jsonl.01", narrow)

    extract_feed(source, FEEDS["convos_metadata"], staging, ledger, "run-1")

    profiled = {row.file_name: row.columns for row in ledger.staged("convos_metadata", with_columns=True)}
    wide_file, narrow_file = profiled["convos_metadata.jsonl.00"], profiled["convos_metadata.jsonl.01"]
    assert wide_file["notes"] == "VARCHAR"
    assert "late" not in wide_file  # its third line is beyond two of 6,000 characters
    assert narrow_file["late"] == "VARCHAR"  # its thirtieth line is within the sample
    assert narrow_file["issue_id"] == "UBIGINT"


def test_gzipped_split_files_are_read_and_unchanged_files_are_not_read_again(area):
    staging, ledger = area
    source = MemoryFeedSource()
    for split in ("00", "01"):
        source.add(
            "utterances",
            HOUR_10,
            f"utterances.jsonl.{split}.gz",
            [
                {
                    "issue_id": 1,
                    "created_ts": f"2026-01-05T10:0{n}:00Z",
                    "sender_id": 7,
                    "event_uuid": f"{split}-{n}",
                    "utterance": "héllo 👋 <script>x</script>",
                }
                for n in range(3)
            ],
        )

    first = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")
    second = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-2")

    assert (first.files_staged, first.rows_staged) == (2, 6)
    assert (second.files_staged, second.files_unchanged) == (0, 2)
    assert first.checksum == second.checksum
    assert source.opened == ["utterances.jsonl.00.gz", "utterances.jsonl.01.gz"]
    assert set(staged(area, "utterances").utterance) == {"héllo 👋 <script>x</script>"}


def test_many_small_files_and_a_large_one_between_them_stage_every_line_with_its_file(area):
    """Small files' lines travel to DuckDB joined into larger batches; none is lost or misplaced."""
    staging, ledger = area
    source = MemoryFeedSource()
    sizes = [1, 3, 2] * 40 + [STREAM_ROWS + 5] + [2, 1] * 40
    for number, size in enumerate(sizes):  # a hundred split files an hour; the issue id is the file's number
        source.add(
            "utterances",
            f"dt=2026-01-05/hr={10 + number // 100}/mi=00",
            f"utterances.jsonl.{number % 100:02}",
            [
                {"issue_id": number, "created_ts": f"2026-01-05T10:00:{n % 60:02}Z", "sender_id": n}
                for n in range(size)
            ],
        )

    manifest = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")

    assert (manifest.files_staged, manifest.rows_staged) == (len(sizes), sum(sizes))
    assert [row.rows for row in ledger.staged("utterances")] == sizes
    rows = staged(area, "utterances")
    assert list(rows.issue_id) == [number for number, size in enumerate(sizes) for _ in range(size)]
    assert list(rows._line) == [n + 1 for size in sizes for n in range(size)]


def test_a_changed_file_is_staged_again(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add("reps", HOUR_10, "reps.jsonl", [{"rep_id": "1", "name": "Smith, Anne"}])
    extract_feed(source, FEEDS["reps"], staging, ledger, "run-1")
    source.add(
        "reps", HOUR_10, "reps.jsonl", [{"rep_id": "1", "name": "Smith, Anne"}, {"rep_id": "2", "name": "Li"}]
    )

    manifest = extract_feed(source, FEEDS["reps"], staging, ledger, "run-2")

    assert (manifest.files_staged, manifest.rows_staged) == (1, 2)
    assert sorted(staged(area, "reps").rep_id) == ["1", "2"]


@pytest.mark.parametrize(("memory_limit", "duckdb_holds"), [("256MB", "122.0 MiB"), ("1 GiB", "512.0 MiB")])
def test_duckdb_keeps_to_half_the_configured_memory_limit(tmp_path, memory_limit, duckdb_holds):
    connection = Staging(f"file://{tmp_path}/staging", memory_limit=memory_limit).connect()
    try:
        assert connection.execute("SELECT current_setting('memory_limit')").fetchall() == [(duckdb_holds,)]
    finally:
        connection.close()


def utterance(issue_id: int, minute: int, text: str = "hello") -> dict:
    return {
        "issue_id": issue_id,
        "created_ts": f"2026-01-05T10:{minute:02d}:00Z",
        "sender_id": 7,
        "event_uuid": f"u-{issue_id}-{minute}",
        "utterance": text,
    }


def test_a_truncated_gzip_file_stages_what_it_holds_quarantines_the_file_and_a_redelivery_lifts_it(area):
    staging, ledger = area
    source = MemoryFeedSource()
    lines = [utterance(1, minute, "x" * 200 + str(minute)) for minute in range(40)]
    source.add("utterances", HOUR_10, "utterances.jsonl.00.gz", lines)
    whole = source.files[(next(iter(source.files)))]
    source.files[next(iter(source.files))] = whole[: len(whole) * 6 // 10]  # what a cut upload leaves
    source.add("utterances", HOUR_11, "utterances.jsonl", [utterance(2, 0)])

    first = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")

    assert first.files_broken == [f"utterances/{HOUR_10}/utterances.jsonl.00.gz"]
    (broken,) = [row for row in ledger.open_quarantine() if row.source_id.endswith(".gz")]
    assert "cannot be read to its end" in broken.reason and "Compressed file ended" in broken.reason
    read = broken.detail["lines_read"]
    assert (
        0 < read < 40 and first.rows_staged == read + 1
    )  # the complete lines before the break, and the other file
    assert sorted(staged(area, "utterances").event_uuid) == sorted(
        [f"u-1-{minute}" for minute in range(read)] + ["u-2-0"]
    )

    source.add("utterances", HOUR_10, "utterances.jsonl.00.gz", lines)  # ASAPP delivers the file again, whole
    again = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-2")

    assert (again.files_staged, again.files_broken, again.rows_staged) == (1, [], 40)
    assert ledger.open_quarantine() == []
    assert len(staged(area, "utterances")) == 41


def test_a_byte_order_mark_crlf_and_blank_lines_are_read_as_the_data_they_frame(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.files[(Partition.parse("utterances", HOUR_10), "utterances.jsonl")] = (
        b"\xef\xbb\xbf"
        + json.dumps(utterance(1, 0)).encode()
        + b"\r\n\r\n   \n"
        + json.dumps(utterance(1, 1)).encode()
    )  # and no newline at the end
    source.complete.add(Partition.parse("utterances", HOUR_10))

    manifest = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")

    assert (manifest.rows_staged, manifest.rows_quarantined) == (2, 0)
    assert list(staged(area, "utterances").event_uuid) == ["u-1-0", "u-1-1"]


def test_a_line_that_is_not_utf8_is_quarantined_and_the_lines_around_it_keep_their_numbers(area):
    staging, ledger = area
    source = MemoryFeedSource()
    partition = Partition.parse("utterances", HOUR_10)
    lines = [json.dumps(utterance(1, n)).encode() for n in range(5)]
    lines[2] = json.dumps(utterance(1, 2)).encode().replace(b"u-1-2", b"caf\xe9")  # Latin-1, not UTF-8
    source.files[(partition, "utterances.jsonl")] = b"\n".join(lines) + b"\n"
    source.complete.add(partition)

    manifest = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")

    assert (manifest.rows_staged, manifest.rows_quarantined) == (4, 1)
    rows = staged(area, "utterances")
    assert list(zip(rows._line, rows.event_uuid, strict=True)) == [
        (1, "u-1-0"),
        (2, "u-1-1"),
        (4, "u-1-3"),
        (5, "u-1-4"),
    ]
    (bad,) = ledger.open_quarantine()
    assert bad.source_id.endswith("utterances.jsonl:3")
    assert bad.reason.startswith("not valid UTF-8 (invalid continuation byte")


IMPORTS_NO_PANDAS = r"""
import json, sys
from asapp_intercom.domain.feeds import FEEDS, Partition
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.extract import extract_feed
from asapp_intercom.pipeline.staging import Staging
from tests.support.feed_files import MemoryFeedSource

source = MemoryFeedSource()
partition = Partition.parse("reps", "dt=2026-01-05/hr=10/mi=00")
source.files[(partition, "reps.jsonl")] = b'{"rep_id": "1", "name": "Li"}\n{"rep_id": "2", "name": "\xe9"}\n'
source.complete.add(partition)
area = sys.argv[1]
staging, ledger = Staging(f"file://{area}/staging"), Ledger(f"sqlite:///{area}/ledger.db", "unit")
manifest = extract_feed(source, FEEDS["reps"], staging, ledger, "run-1")
print(json.dumps([manifest.rows_staged, manifest.rows_quarantined, "pandas" in sys.modules]))
"""


def test_staging_a_feed_does_not_import_pandas(tmp_path):
    """An extract task's process needs no pandas, and pyarrow's constructors from Python objects import it
    (0.3-2 s of every extract task): staging a feed, a line that is not UTF-8 included, imports none."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_NO_PANDAS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )

    assert json.loads(result.stdout.splitlines()[-1]) == [1, 1, False]


def test_only_the_feeds_own_data_files_are_read(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add("utterances", HOUR_10, "utterances.jsonl", [utterance(1, 0)])
    source.add("utterances", HOUR_10, "utterances.jsonl.tmp", [utterance(99, 0)])
    source.add("utterances", HOUR_10, ".utterances.jsonl.crc", ["crc"])
    source.add("utterances", HOUR_10, "_SUCCESS.crc", ["crc"])

    manifest = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")

    assert list(staged(area, "utterances").issue_id) == [1]
    assert sorted(manifest.files_ignored) == sorted(
        f"utterances/{HOUR_10}/{name}"
        for name in ("utterances.jsonl.tmp", ".utterances.jsonl.crc", "_SUCCESS.crc")
    )
    assert source.opened == ["utterances.jsonl"]


def test_a_doubly_encrypted_file_is_quarantined_unread_with_what_to_ask_asapp(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add("utterances", HOUR_10, "utterances.jsonl.gz.enc", ["ciphertext"])

    manifest = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")

    (quarantined,) = ledger.open_quarantine()
    assert quarantined.source_id.endswith("utterances.jsonl.gz.enc") and "encrypt" in quarantined.reason
    assert (manifest.rows_staged, source.opened) == (0, [])


def test_a_value_of_the_wrong_type_outside_the_key_is_set_aside_and_the_row_staged(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add(
        "convos_metadata",
        HOUR_10,
        "convos_metadata.jsonl",
        [convo(1, "2026-01-05T10:00:00Z", csat_rating="N/A", conversation_end_ts="2026-01-05T10:09:00Z")],
    )

    manifest = extract_feed(source, FEEDS["convos_metadata"], staging, ledger, "run-1")

    assert (manifest.rows_staged, manifest.rows_quarantined) == (1, 0)
    row = staged(area, "convos_metadata").iloc[0]
    assert row.csat_rating != row.csat_rating and str(row.conversation_end_ts).startswith(
        "2026-01-05 10:09"
    )  # NaN
    (issue,) = ledger.open_field_issues()
    assert (issue.field, issue.value, issue.reason) == (
        "csat_rating",
        "N/A",
        "csat_rating: N/A is not a number",
    )


def test_an_optional_feed_the_tenant_lacks_is_reported_and_a_required_one_names_the_setting(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.missing = {"autosummary_structured_data", "utterances"}

    optional = extract_feed(source, FEEDS["autosummary_structured_data"], staging, ledger, "run-1")

    assert (optional.available, optional.files_listed) == (False, 0)
    assert "no such feed" in optional.unavailable
    with pytest.raises(RequiredFeedMissing, match="asapp.required_feeds"):
        extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1", required=True)
