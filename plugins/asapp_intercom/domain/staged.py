"""The staged data's vocabulary: lineage columns every staged row carries, and the SQL that reads them.

Extraction writes each feed row with its raw JSON and where it came from; real-time events are
written beside the batches in the same shape; every later phase reads them through a view of the
latest version of each row. These names and rules are spelled here only.
"""

from __future__ import annotations

from collections.abc import Sequence

from asapp_intercom.domain.feeds import Feed

RAW, LINE, PARTITION, FILE = "_raw", "_line", "_partition", "_file"
"""The row as delivered (JSON text), its line in the file, the partition path and the file name."""
PROBLEM = "_problem"
"""Why a staged line cannot be used (it is quarantined), or NULL: only usable rows reach the views."""
BAD_VALUES = "_bad_values"
"""Values of a usable row that were not of their column's type: left out of the row, and reported."""
QUARANTINED_RAW = "_quarantined_raw"
"""A quarantined line's raw JSON again, NULL on usable rows: what extract reports of a batch's few bad lines
is read from this column, where reading `_raw` would decompress every row's JSON of the batch (0.8 s for
the 75 bad lines of `convos_metadata`'s two batches at 200k conversations)."""
STAGING_ONLY = (PROBLEM, BAD_VALUES, QUARANTINED_RAW)
"""The columns that explain a staged line to extract and are no part of the rows later phases read."""

REALTIME_FILE = "realtime-events"
"""The `_file` of feed rows made from real-time events; their `_line` is the event's seq in the log."""
REALTIME_DIR = "realtime"
"""The folder of a feed's staging area that holds the rows made from events, beside `dt=…` partitions."""


def latest_rows(source: str, keys: Sequence[str], latest_by: str | None = None) -> str:
    """ASAPP's rule: per key (`keys`, column names), the latest logical time wins, then the latest delivery
    (partition, file, line; a delivery is one row's identity). Most keys are delivered once: only the
    versions of a key delivered more than once are ranked, on their narrow columns (ranking every row took
    two thirds of reading a chunk's messages to find a few restated ones), and the losers' deliveries are
    left out. The source is named wherever it is read, never held: it may be a whole feed's raw JSON, and
    DuckDB holds a common table expression over a scan of a registered Arrow table (the staging views list
    their current files in one) in memory whatever NOT MATERIALIZED asks (the latest metadata at 200k
    conversations: 4.1 s and 770 MB held that way, 0.3 s and 450 MB read where it is)."""
    by = ", ".join(f'"{key}"' for key in keys)
    same_key = " AND ".join(f'v."{key}" IS NOT DISTINCT FROM r."{key}"' for key in keys)
    delivery = f"{PARTITION}, {FILE}, {LINE}"
    time = f'"{latest_by}" DESC NULLS LAST, ' if latest_by else ""
    ranked = ", ".join([*(f'v."{key}"' for key in keys), *([f'v."{latest_by}"'] if latest_by else [])])
    return f"""WITH _restated AS (SELECT {by} FROM {source} GROUP BY ALL HAVING count(*) > 1),
    _superseded AS (
        SELECT {delivery} FROM (
            SELECT {ranked}, v.{PARTITION}, v.{FILE}, v.{LINE}
            FROM {source} v SEMI JOIN _restated r ON {same_key})
        QUALIFY row_number() OVER (
            PARTITION BY {by} ORDER BY {time}{delivery.replace(",", " DESC,")} DESC) > 1)
    SELECT * FROM {source} ANTI JOIN _superseded USING ({delivery})"""


def no_rows(feed: Feed) -> str:
    """A relation with the feed's staged columns and no row, for a feed nothing was staged of yet."""
    columns = ", ".join(f'NULL::{sql_type} AS "{name}"' for name, sql_type in feed.types.items())
    return (
        f"(SELECT {columns}, NULL::VARCHAR AS {RAW}, NULL::BIGINT AS {LINE}, "
        f"NULL::VARCHAR AS {PARTITION}, NULL::VARCHAR AS {FILE} WHERE false)"
    )


def feed_view(feed: Feed, source: str) -> str:
    """The `<feed>` view: one row per unique key, the latest version (ASAPP restates rows later)."""
    return f'CREATE OR REPLACE VIEW "{feed.name}" AS {latest_rows(source, feed.unique_key, feed.latest_by)}'
