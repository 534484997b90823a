"""The latest version of each staged row, as ASAPP restates rows in later deliveries."""

import duckdb
import pyarrow as pa
import pytest
from asapp_intercom.domain.staged import latest_rows

COLUMNS = (
    "issue_id BIGINT, sender_id VARCHAR, instance_ts TIMESTAMP, "
    "_partition VARCHAR, _file VARCHAR, _line BIGINT, _raw VARCHAR"
)


@pytest.fixture
def connection():
    connection = duckdb.connect()
    yield connection
    connection.close()


def latest(
    connection, rows: list[tuple], keys=("issue_id", "sender_id"), latest_by="instance_ts"
) -> list[str]:
    connection.execute(f"CREATE OR REPLACE TABLE delivered ({COLUMNS})")
    connection.executemany("INSERT INTO delivered VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    query = f"SELECT _raw FROM ({latest_rows('delivered', keys, latest_by)}) ORDER BY _raw"
    return [raw for (raw,) in connection.execute(query).fetchall()]


def test_a_row_delivered_once_is_its_own_latest_version(connection):
    rows = [
        (1, "a", "2026-01-05 10:00", "dt=2026-01-05", "f1", 1, "one"),
        (2, "a", None, "dt=2026-01-05", "f1", 2, "two, no time"),
    ]
    assert latest(connection, rows) == ["one", "two, no time"]


def test_the_latest_time_wins_then_the_latest_partition_file_and_line(connection):
    rows = [
        # a later time wins over a later delivery
        (1, "a", "2026-01-05 10:05", "dt=2026-01-05", "f1", 1, "1: later time"),
        (1, "a", "2026-01-05 10:00", "dt=2026-01-06", "f9", 9, "1: later delivery"),
        # a time beats no time, whenever delivered
        (2, "a", "2026-01-05 10:00", "dt=2026-01-05", "f1", 2, "2: timed"),
        (2, "a", None, "dt=2026-01-07", "f1", 1, "2: untimed"),
        # the same time: the latest partition, then file, then line
        (3, "a", "2026-01-05 10:00", "dt=2026-01-05", "f2", 1, "3: earlier partition"),
        (3, "a", "2026-01-05 10:00", "dt=2026-01-06", "f1", 1, "3: later partition"),
        (4, "a", "2026-01-05 10:00", "dt=2026-01-05", "f1", 7, "4: earlier file"),
        (4, "a", "2026-01-05 10:00", "dt=2026-01-05", "f2", 3, "4: later file"),
        (5, "a", "2026-01-05 10:00", "dt=2026-01-05", "f1", 3, "5: earlier line"),
        (5, "a", "2026-01-05 10:00", "dt=2026-01-05", "f1", 4, "5: later line"),
        (5, "b", "2026-01-05 09:00", "dt=2026-01-05", "f1", 5, "5: another sender, another key"),
    ]
    assert latest(connection, rows) == [
        "1: later time",
        "2: timed",
        "3: later partition",
        "4: later file",
        "5: another sender, another key",
        "5: later line",
    ]


def test_an_empty_key_column_is_one_key_of_its_own(connection):
    rows = [
        (1, None, None, "dt=2026-01-05", "f1", 1, "no sender, first"),
        (1, None, None, "dt=2026-01-06", "f1", 1, "no sender, restated"),
        (1, "a", None, "dt=2026-01-05", "f1", 2, "sender a"),
    ]
    assert latest(connection, rows) == ["no sender, restated", "sender a"]


def test_without_a_logical_time_the_latest_delivery_wins(connection):
    rows = [
        (1, "a", "2026-01-05 10:05", "dt=2026-01-05", "f1", 1, "earlier delivery, later time"),
        (1, "a", "2026-01-05 10:00", "dt=2026-01-06", "f1", 1, "later delivery"),
    ]
    assert latest(connection, rows, keys=("issue_id",), latest_by=None) == ["later delivery"]


def test_a_feed_larger_than_the_memory_limit_streams_through(tmp_path):
    """A staged feed's view lists its current files in a table registered from Arrow, and DuckDB keeps a
    common table expression over such a source in memory whatever NOT MATERIALIZED asks: the latest rows
    of a feed whose raw JSON is larger than the memory limit (at two million conversations, gigabytes) are
    read as they stream by, restated keys and all, not held."""
    path = tmp_path / "delivered.parquet"
    duckdb.execute(
        f"""COPY (SELECT CASE WHEN i < 1000 THEN i // 2 ELSE i END AS issue_id,
                NULL::TIMESTAMP AS instance_ts, 'dt=2026-01-0' || i % 2 AS _partition, 'f1' AS _file,
                i AS _line, repeat(md5(i::VARCHAR), 32) AS _raw FROM range(200000) t(i))
            TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 5000)"""
    )
    connection = duckdb.connect(config={"memory_limit": "100MB", "temp_directory": "", "threads": 1})
    connection.register("current_files", pa.table({"file": ["f1"]}))
    connection.execute(
        f"""CREATE VIEW delivered AS SELECT * FROM read_parquet('{path}')
            WHERE _file IN (SELECT file FROM current_files)"""
    )
    latest = latest_rows("delivered", ["issue_id"], "instance_ts")
    assert connection.execute(f"SELECT count(*), sum(length(_raw)) FROM ({latest})").fetchone() == (
        199_500,
        199_500 * 1024,
    )
