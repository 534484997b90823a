import duckdb
import pytest
from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.extract import extract_feed
from asapp_intercom.pipeline.staging import Staging

from tests.support.feed_files import MemoryFeedSource

HOUR_10 = "dt=2026-01-05/hr=10/mi=00"
HOUR_11 = "dt=2026-01-05/hr=11/mi=00"


@pytest.fixture
def area(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", "test")
    yield Staging(f"file://{tmp_path}/staging"), ledger
    ledger.close()


def convo(issue_id, instance_ts, **extra):
    return {"issue_id": issue_id, "instance_ts": instance_ts, "customer_id": 7, **extra}


def staged(staging, feed):
    return duckdb.sql(
        f"SELECT * FROM read_parquet('{staging.raw_feed(feed).path}/**/*.parquet', union_by_name=true) ORDER BY _line"
    ).df()


def test_stages_complete_partitions_and_quarantines_bad_lines_with_reasons(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add("convos_metadata", HOUR_10, "convos_metadata.jsonl", [
        convo(1, "2026-01-05T10:00:00.000000+00:00", csat_rating=400.0),
        convo("abc", "2026-01-05T10:15:00.000000+00:00"),
        "{not json",
        "[1, 2]",
        {"instance_ts": "2026-01-05 10:30:00", "customer_id": 9},
        convo(2, "2026-01-05 10:45:00", brand_new_column={"nested": True}),
    ])
    source.add("convos_metadata", HOUR_11, "convos_metadata.jsonl", [convo(3, "2026-01-05T11:00:00Z")],
               complete=False)

    manifest = extract_feed(source, FEEDS["convos_metadata"], staging, ledger, "run-1")

    assert (manifest.files_staged, manifest.rows_staged, manifest.rows_quarantined) == (1, 2, 4)
    assert manifest.partitions_waiting == [HOUR_11]
    rows = staged(staging, "convos_metadata")
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
    assert ledger.open_quarantine()[0].detail["raw"] is not None


def test_gzipped_split_files_are_read_and_unchanged_files_are_not_read_again(area):
    staging, ledger = area
    source = MemoryFeedSource()
    for split in ("00", "01"):
        source.add("utterances", HOUR_10, f"utterances.jsonl.{split}.gz", [
            {"issue_id": 1, "created_ts": f"2026-01-05T10:0{n}:00Z", "sender_id": 7, "event_uuid": f"{split}-{n}",
             "utterance": "héllo 👋 <script>x</script>"} for n in range(3)])

    first = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-1")
    second = extract_feed(source, FEEDS["utterances"], staging, ledger, "run-2")

    assert (first.files_staged, first.rows_staged) == (2, 6)
    assert (second.files_staged, second.files_unchanged) == (0, 2)
    assert first.checksum == second.checksum
    assert source.opened == ["utterances.jsonl.00.gz", "utterances.jsonl.01.gz"]
    assert set(staged(staging, "utterances").utterance) == {"héllo 👋 <script>x</script>"}


def test_a_changed_file_is_staged_again(area):
    staging, ledger = area
    source = MemoryFeedSource()
    source.add("reps", HOUR_10, "reps.jsonl", [{"rep_id": "1", "name": "Smith, Anne"}])
    extract_feed(source, FEEDS["reps"], staging, ledger, "run-1")
    source.add("reps", HOUR_10, "reps.jsonl", [{"rep_id": "1", "name": "Smith, Anne"}, {"rep_id": "2", "name": "Li"}])

    manifest = extract_feed(source, FEEDS["reps"], staging, ledger, "run-2")

    assert (manifest.files_staged, manifest.rows_staged) == (1, 2)
    assert sorted(staged(staging, "reps").rep_id) == ["1", "2"]


def test_duckdb_keeps_to_the_configured_memory_limit(tmp_path):
    connection = Staging(f"file://{tmp_path}/staging", memory_limit="256MB").connect()
    try:
        assert connection.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "244.1 MiB"
    finally:
        connection.close()
