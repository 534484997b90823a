"""The ASAPP feeds a migration reads, with their de-duplication keys and the columns it types.

Unique keys are ASAPP's "unique conditions" (docs.asapp.com, Messaging feeds and File Exporter
feeds); `customers`, `companies`, `file_uploads` and `structured_data_config` are the sandbox's
own feeds for what ASAPP does not export (see include/sandbox/asapp/DATASET.md). Only the columns
the pipeline relies on are typed here: every row also keeps its raw JSON, so columns ASAPP adds
later are carried along, shown in discovery and can be mapped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain

BIGINT, DOUBLE, VARCHAR, TIMESTAMP, BOOLEAN = "BIGINT", "DOUBLE", "VARCHAR", "TIMESTAMPTZ", "BOOLEAN"

SQL_TYPES = {
    BIGINT: ("an integer", "integer"),
    DOUBLE: ("a number", "float"),
    VARCHAR: ("a string", "string"),
    TIMESTAMP: ("a timestamp", "timestamp"),
    BOOLEAN: ("a boolean", "boolean"),
}
"""Each column type DuckDB stages: (how a refusal names a value that is not one, the field map's type)."""

JSON_TYPES = {
    "UBIGINT": "integer",
    "BIGINT": "integer",
    "DOUBLE": "float",
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "ARRAY": "json",
    "OBJECT": "json",
    "NULL": "null",
}
"""The JSON type of an untyped column's values (named as DuckDB's json_type() names them) → the field
map's type."""


_EXACT_JSON_TYPES = {type(None): "NULL", bool: "BOOLEAN", float: "DOUBLE", str: "VARCHAR", dict: "OBJECT"}


def json_type(value: object) -> str:
    """A parsed JSON value's type, named as DuckDB's json_type() names it (a parser gives exact types)."""
    kind = _EXACT_JSON_TYPES.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, int):
        return "UBIGINT" if value >= 0 else "BIGINT"
    return "ARRAY"


def column_types(rows: Iterable[dict]) -> dict[str, str]:
    """{column: its most common JSON type} over rows, NULL only for a column that is null throughout; a tie
    goes to the type seen first. Every file's first lines pass here (a wide feed's thousands of files: tens
    of millions of values at 2M conversations), so (column, Python type) pairs are tallied in C; only a
    column holding integers, whose JSON type is in their sign, is tallied again value by value."""
    rows = list(rows)
    tally = Counter(chain.from_iterable(zip(row, map(type, row.values()), strict=True) for row in rows))
    integers = {key for key, python_type in tally if python_type is int}
    seen: dict[str, dict[str, int]] = {key: {} for key, _ in tally}
    for (key, python_type), count in tally.items():
        if key not in integers:
            kind = _EXACT_JSON_TYPES.get(python_type, "ARRAY")
            seen[key][kind] = seen[key].get(kind, 0) + count
    for key in integers:
        kinds = seen[key]
        for row in rows:
            if key in row:
                kind = json_type(row[key])
                kinds[kind] = kinds.get(kind, 0) + 1
    return {key: _most_common(kinds) for key, kinds in sorted(seen.items())}


def _most_common(kinds: dict[str, int]) -> str:
    """The most common type but NULL, the first seen of a tie; NULL if that is all there is."""
    if len(kinds) == 1:  # most columns of a sample: a third of column_types' time went to max() over one
        return next(iter(kinds))
    return max(
        ((kind, count) for kind, count in kinds.items() if kind != "NULL"),
        key=lambda pair: pair[1],
        default=("NULL", 0),
    )[0]


def arrow_type(sql_type: str):
    """The Arrow type a staged column of this SQL type has (pyarrow is imported only by those who write)."""
    import pyarrow as pa

    return {
        BIGINT: pa.int64(),
        DOUBLE: pa.float64(),
        TIMESTAMP: pa.timestamp("us", tz="UTC"),
        BOOLEAN: pa.bool_(),
    }.get(sql_type, pa.string())


@dataclass(frozen=True)
class Feed:
    name: str
    sync: str
    """How often ASAPP delivers it: "1h" (hourly partitions) or "1d" (daily)."""
    unique_key: tuple[str, ...]
    latest_by: str | None
    """The logical timestamp that decides which restated row wins, before partition order."""
    types: dict[str, str]
    nullable_key: tuple[str, ...] = ()
    """Unique-key columns that may legitimately be empty (a survey with no agent, a bot's message)."""

    @property
    def typed_columns(self) -> tuple[str, ...]:
        return tuple(self.types)


def _feed(name, sync, unique_key, latest_by, /, nullable_key=(), **types) -> Feed:
    return Feed(name, sync, tuple(unique_key), latest_by, types, tuple(nullable_key))


FEEDS: dict[str, Feed] = {
    feed.name: feed
    for feed in (
        _feed(
            "companies",
            "1d",
            ["company_name", "company_external_id", "dt"],
            None,
            company_external_id=VARCHAR,
            name=VARCHAR,
            domain=VARCHAR,
            website=VARCHAR,
            industry=VARCHAR,
            size=BIGINT,
            plan=VARCHAR,
            created_ts=TIMESTAMP,
            company_name=VARCHAR,
            dt=VARCHAR,
        ),
        _feed(
            "customers",
            "1d",
            ["company_name", "customer_id", "dt"],
            None,
            customer_id=BIGINT,
            external_customer_id=VARCHAR,
            email_address=VARCHAR,
            name=VARCHAR,
            phone_number=VARCHAR,
            company_external_id=VARCHAR,
            first_seen_ts=TIMESTAMP,
            last_seen_ts=TIMESTAMP,
            company_name=VARCHAR,
            dt=VARCHAR,
        ),
        _feed(
            "reps",
            "1d",
            ["rep_id"],
            "created_ts",
            rep_id=VARCHAR,
            name=VARCHAR,
            crm_rep_id=VARCHAR,
            created_ts=TIMESTAMP,
            disabled_time=TIMESTAMP,
        ),
        _feed(
            "rep_attributes",
            "1d",
            ["rep_attribute_id", "rep_id", "created_ts"],
            "created_ts",
            rep_attribute_id=BIGINT,
            rep_id=VARCHAR,
            external_rep_id=VARCHAR,
            attribute_name=VARCHAR,
            attribute_value=VARCHAR,
            created_ts=TIMESTAMP,
        ),
        _feed(
            "convos_metadata",
            "1h",
            ["issue_id"],
            "instance_ts",
            instance_ts=TIMESTAMP,
            issue_id=BIGINT,
            customer_id=BIGINT,
            issue_created_ts=TIMESTAMP,
            first_utterance_ts=TIMESTAMP,
            last_event_ts=TIMESTAMP,
            conversation_end_ts=TIMESTAMP,
            first_rep_id=VARCHAR,
            last_rep_id=VARCHAR,
            external_rep_id=VARCHAR,
            company_segments=VARCHAR,
            disposition_event_type=VARCHAR,
            csat_rating=DOUBLE,
        ),
        _feed(
            "utterances",
            "1h",
            ["created_ts", "issue_id", "sender_id"],
            "instance_ts",
            nullable_key=["sender_id"],
            instance_ts=TIMESTAMP,
            created_ts=TIMESTAMP,
            issue_id=BIGINT,
            sender_id=BIGINT,
            sender_type=VARCHAR,
            utterance=VARCHAR,
            utterance_type=VARCHAR,
            event_uuid=VARCHAR,
        ),
        _feed(
            "customer_feedback",
            "1d",
            ["issue_id", "company_name", "last_rep_id", "question", "instance_ts"],
            "instance_ts",
            nullable_key=["last_rep_id"],
            instance_ts=TIMESTAMP,
            issue_id=BIGINT,
            last_rep_id=VARCHAR,
            question=VARCHAR,
            answer=VARCHAR,
            question_category=VARCHAR,
            ordering=BIGINT,
            company_name=VARCHAR,
        ),
        _feed(
            "customer_params",
            "1d",
            ["event_id", "param_key"],
            "event_ts",
            event_id=VARCHAR,
            event_ts=TIMESTAMP,
            issue_id=BIGINT,
            customer_id=BIGINT,
            param_key=VARCHAR,
            param_value=VARCHAR,
        ),
        _feed(
            "autosummary_structured_data",
            "1d",
            ["company_marker", "conversation_id", "structured_data_id", "structured_data_field_id"],
            "instance_ts",
            instance_ts=TIMESTAMP,
            conversation_id=VARCHAR,
            external_conversation_id=VARCHAR,
            structured_data_id=VARCHAR,
            structured_data_ts=TIMESTAMP,
            structured_data_field_id=VARCHAR,
            structured_data_field_name=VARCHAR,
            structured_data_field_value=VARCHAR,
            company_marker=VARCHAR,
        ),
        _feed(
            "file_uploads",
            "1h",
            ["file_upload_event_id"],
            "instance_ts",
            file_upload_event_id=VARCHAR,
            file_upload_ts=TIMESTAMP,
            issue_id=BIGINT,
            customer_id=BIGINT,
            sender_type=VARCHAR,
            event_uuid=VARCHAR,
            file_name=VARCHAR,
            file_mime_type=VARCHAR,
            file_size_mb=DOUBLE,
            instance_ts=TIMESTAMP,
        ),
        _feed(
            "structured_data_config",
            "1d",
            ["field_id", "dt"],
            None,
            field_id=VARCHAR,
            name=VARCHAR,
            type=VARCHAR,
            category_id=VARCHAR,
            dt=VARCHAR,
        ),
    )
}

_PARTITION = re.compile(r"dt=(?P<dt>\d{4}-\d{2}-\d{2})/hr=(?P<hr>\d{2})(?:/mi=(?P<mi>\d{2}))?")


@dataclass(frozen=True, order=True)
class Partition:
    """One delivery folder of a feed: FEED/version=1/format=jsonl/dt=…/hr=…/mi=…/."""

    feed: str
    dt: str
    hr: str
    mi: str

    @classmethod
    def parse(cls, feed: str, text: str) -> Partition | None:
        """From a key or an interval: `dt=…/hr=…/mi=…` (File Exporter's hourly intervals omit `mi`)."""
        match = _PARTITION.search(text)
        return cls(feed, match["dt"], match["hr"], match["mi"] or "00") if match else None

    @classmethod
    def of_moment(cls, feed: str, moment: datetime) -> Partition:
        """The one-minute partition a moment falls in (how real-time events are filed beside the batches)."""
        return cls(feed, f"{moment:%Y-%m-%d}", f"{moment:%H}", f"{moment:%M}")

    @staticmethod
    def start_sql(column: str) -> str:
        """DuckDB SQL for when the partition named in a `dt=…/hr=…/mi=…` column starts."""
        return (
            f"strptime(replace(replace(replace({column}, 'dt=', ''), '/hr=', ' '), '/mi=', ':'), "
            "'%Y-%m-%d %H:%M')::TIMESTAMPTZ"
        )

    @property
    def path(self) -> str:
        return f"dt={self.dt}/hr={self.hr}/mi={self.mi}"

    @property
    def starts_at(self) -> datetime:
        return datetime.fromisoformat(f"{self.dt}T{self.hr}:{self.mi}:00").replace(tzinfo=UTC)


def is_data_file(feed: str, name: str) -> bool:
    """ASAPP names a feed's data files {feed}.jsonl[.NN][.gz][.enc] (NN: a split part); anything else in a
    partition (a writer's .tmp, Hadoop's .crc, _SUCCESS) is not data."""
    return re.fullmatch(rf"{re.escape(feed)}\.jsonl(\.\d{{2}})?(\.gz)?(\.enc)?", name) is not None


@dataclass(frozen=True)
class FeedFile:
    """A data file of a complete partition; `tag` changes when its content does (ETag or size)."""

    partition: Partition
    name: str
    tag: str

    @property
    def gzipped(self) -> bool:
        return self.name.endswith(".gz")

    @property
    def encrypted(self) -> bool:
        """ASAPP's optional second layer of encryption, which needs the customer's own key."""
        return self.name.endswith(".enc")

    @property
    def path(self) -> str:
        return f"{self.partition.feed}/{self.partition.path}/{self.name}"
