"""ASAPP's real-time events: into a durable log, then onto the batch feeds as one timeline.

Events reach the log (the ledger's `events` table, one row per event_id since delivery is
at-least-once) either by pulling ASAPP's stream from a stored cursor or by ASAPP pushing them to
the plugin's endpoint. The timeline turns the log into rows of the feeds they describe — messages
into `utterances`, the accumulated journey state into `convos_metadata`, surveys, uploads and
client parameters into theirs — each row shaped like a one-minute partition of its event time, so
de-duplication (latest state wins), delta windows and everything downstream treat both sources
alike. What the batches lacked is reported as the gap.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from asapp_intercom.domain.events import EVENTS, identity, unusable
from asapp_intercom.domain.feeds import BIGINT, BOOLEAN, DOUBLE, FEEDS, TIMESTAMP, Partition, arrow_type
from asapp_intercom.domain.manifests import Timeline
from asapp_intercom.domain.staged import FILE, LINE, PARTITION, RAW, REALTIME_FILE, latest_rows
from asapp_intercom.domain.times import instant
from asapp_intercom.hooks.api import ApiError
from asapp_intercom.hooks.asapp import AsappHook
from asapp_intercom.ledger import Ledger
from asapp_intercom.ledger.state import CursorExpiry, EventCursor
from asapp_intercom.pipeline.staging import Staging, sql_literal

log = logging.getLogger(__name__)

TIMELINE_FEEDS = ("convos_metadata", "utterances", "customer_feedback", "customer_params", "file_uploads")


@dataclass
class Ingested:
    new: int = 0
    delivered: int = 0
    quarantined: int = 0
    newest: str | None = None
    cursor_expired: bool = False


def pull(hook: AsappHook, ledger: Ledger, feed: str, run_id: str | None = None) -> Ingested:
    """Drain ASAPP's stream from the stored cursor into the log; the cursor moves only after the
    events it covers are stored, so a crash re-reads, never skips. An expired cursor (410) means
    events were lost to the stream: that window must come from the batch feeds, and is recorded."""
    result = Ingested()
    cursor = (ledger.load(EventCursor) or EventCursor()).cursor
    while True:
        try:
            page = hook.pull_events(cursor, feed)
        except ApiError as error:
            if error.status != 410 or cursor is None:
                raise
            _, _, newest = ledger.event_summary()
            ledger.save(CursorExpiry(noticed_at=datetime.now(UTC), last_event_before=newest))
            log.warning(
                "ASAPP's event cursor expired; restarting from the oldest retained event. Events between "
                "%s and it reach the migration through the batch feeds only.",
                newest,
            )
            result.cursor_expired, cursor = True, None
            continue
        result.delivered += len(page["events"])
        usable = []
        for envelope in page["events"]:
            if (reason := unusable(envelope)) is None:
                usable.append(envelope)
            else:
                result.quarantined += 1
                ledger.quarantine(EVENTS, identity(envelope), reason, run_id, {"envelope": envelope})
        result.new += ledger.append_events(usable, "pull")
        cursor = page["nextCursor"]
        ledger.save(EventCursor(cursor=cursor))
        if not page.get("hasMore"):
            break
    newest = ledger.event_summary()[2]
    result.newest = newest.isoformat() if newest else None
    return result


# Timeline ----------------------------------------------------------------------------------
def _row(feed: str, values: dict, created: datetime, seq: int) -> dict:
    """A feed row from an event: typed columns, the values as raw JSON, lineage of a minute partition."""
    typed = {column: values.get(column) for column in FEEDS[feed].types}
    for column, kind in FEEDS[feed].types.items():
        if kind == TIMESTAMP:
            typed[column] = instant(typed[column])
        elif kind == BIGINT and typed[column] is not None:
            typed[column] = int(typed[column])
        elif kind == DOUBLE and typed[column] is not None:
            typed[column] = float(typed[column])
        elif kind == BOOLEAN and typed[column] is not None:
            typed[column] = bool(typed[column])
        elif typed[column] is not None:
            typed[column] = str(typed[column])
    raw = {key: value for key, value in values.items() if value is not None}
    return {
        **typed,
        RAW: orjson.dumps(raw).decode(),
        LINE: seq,
        PARTITION: Partition.of_moment(feed, created).path,
        FILE: REALTIME_FILE,
    }


def rows_from_events(events: list[dict]) -> dict[str, list[dict]]:
    """Feed rows from journey envelopes (ordered by arrival). Journey details accumulate per issue,
    so the issue's state is folded event by event, later values winning."""
    rows: dict[str, list[dict]] = defaultdict(list)
    state: dict[str, dict] = {}
    for seq, envelope in events:
        if envelope.get("name") != "com.asapp.event.journey":
            continue
        meta, data, details = (
            envelope.get("meta_data") or {},
            envelope.get("data") or {},
            envelope.get("details") or {},
        )
        issue_id, created = meta.get("issue_id"), instant(meta.get("create_time"))
        if not issue_id or created is None:
            continue
        issue = state.setdefault(issue_id, {"issue_id": issue_id, "seq": seq})
        segments = meta.get("company_segments")
        issue.update(
            {
                key: value
                for key, value in {
                    "instance_ts": meta["create_time"],
                    "customer_id": data.get("customer_id"),
                    "issue_created_ts": details.get("issue_start_ts"),
                    "conversation_end_ts": details.get("issue_ended_ts"),
                    "last_rep_id": data.get("rep_id") or data.get("agent_id"),
                    "external_rep_id": data.get("external_agent_id"),
                    "company_segments": f"[{','.join(segments)}]" if segments else None,
                    "company_subdivision": meta.get("company_subdivision"),
                    "company_name": meta.get("company_id"),
                    "issue_queue_id": data.get("queue_id"),
                    "issue_queue_name": data.get("queue_name"),
                    "platform": (meta.get("client_type") or "").lower() or None,
                }.items()
                if value is not None
            }
        )
        issue["seq"], issue["created"] = seq, created
        message = details.get("message")
        if envelope.get("event_type") == "TEXT_MESSAGE" and message:
            rows["utterances"].append(
                _row(
                    "utterances",
                    {
                        "instance_ts": meta["create_time"],
                        "created_ts": message.get("created_ts"),
                        "issue_id": issue_id,
                        "sender_id": message.get("sender_id"),
                        "sender_type": message.get("sender_type"),
                        "utterance_type": message.get("utterance_type"),
                        "utterance": message.get("text"),
                        "event_uuid": message.get("event_uuid"),
                    },
                    created,
                    seq,
                )
            )
        for answer in details.get("survey_responses") or []:
            rows["customer_feedback"].append(
                _row(
                    "customer_feedback",
                    {
                        "instance_ts": details.get("survey_submit_ts") or meta["create_time"],
                        "issue_id": issue_id,
                        "last_rep_id": issue.get("last_rep_id"),
                        "company_name": meta.get("company_id"),
                        **answer,
                    },
                    created,
                    seq,
                )
            )
        for upload in details.get("uploaded_files_list") or []:
            rows["file_uploads"].append(
                _row(
                    "file_uploads",
                    {
                        "instance_ts": meta["create_time"],
                        "issue_id": issue_id,
                        "customer_id": data.get("customer_id"),
                        "sender_type": "customer",
                        **upload,
                    },
                    created,
                    seq,
                )
            )
        issue["params"] = {
            details[f"customer_params_key_name_{n:02d}"]: details.get(f"customer_params_field_{n:02d}")
            for n in range(1, 11)
            if details.get(f"customer_params_key_name_{n:02d}")
        } or issue.get("params")
    for issue_id, issue in state.items():
        created, seq = issue.pop("created"), issue.pop("seq")
        params = issue.pop("params", None) or {}
        rows["convos_metadata"].append(_row("convos_metadata", issue, created, seq))
        rows["customer_params"] += [
            _row(
                "customer_params",
                {
                    "event_id": f"journey-{issue_id}",
                    "event_ts": issue["instance_ts"],
                    "issue_id": issue_id,
                    "customer_id": issue.get("customer_id"),
                    "param_key": key,
                    "param_value": value,
                },
                created,
                seq,
            )
            for key, value in params.items()
        ]
    return rows


def _schema(feed: str) -> pa.Schema:
    return pa.schema(
        [(column, arrow_type(kind)) for column, kind in FEEDS[feed].types.items()]
        + [(RAW, pa.string()), (LINE, pa.int64()), (PARTITION, pa.string()), (FILE, pa.string())]
    )


def build_timeline(staging: Staging, ledger: Ledger) -> Timeline:
    """Write the log's events as feed rows beside the batch partitions, and say what they add."""
    logged: list = []
    seq = 0
    while batch := ledger.events_after(seq, 5000):
        logged += batch
        seq = batch[-1].seq
    events = [(row.seq, row.envelope) for row in logged]
    expiry = ledger.load(CursorExpiry)
    timeline = Timeline(events=len(events), cursor_expired=expiry.model_dump(mode="json") if expiry else None)
    for _, envelope in events:
        kind = envelope.get("event_type") or "?"
        timeline.by_type[kind] = timeline.by_type.get(kind, 0) + 1
    rows = rows_from_events(events)
    connection = staging.connect()
    try:
        staging.create_feed_views(connection, ledger)
        for feed in TIMELINE_FEEDS:
            destination = staging.realtime_rows(feed)
            table = pa.Table.from_pylist(rows.get(feed, []), schema=_schema(feed))
            if feed == "convos_metadata":
                table = _carry_batch_state(connection, table)
            with staging.publish(destination) as local:
                pq.write_table(table, local, compression="zstd")
        _gap(connection, staging, timeline)
    finally:
        connection.close()
    return timeline


def _carry_batch_state(connection, events: pa.Table) -> pa.Table:
    """An event's journey state knows less than the batch row of the same issue (platform, sentiment,
    disposition…): keep every batch value the event does not replace, so latest-wins loses nothing."""
    if events.num_rows == 0:
        return events
    connection.register("event_rows", events)
    columns = ", ".join(
        f'coalesce(e."{name}", b."{name}") AS "{name}"' for name in FEEDS["convos_metadata"].types
    )
    merged = connection.sql(f"""
        WITH latest AS ({latest_rows("batch_convos_metadata", ["issue_id"], "instance_ts")})
        SELECT {columns},
               CASE WHEN b.{RAW} IS NULL THEN e.{RAW}
                    ELSE json_merge_patch(b.{RAW}, e.{RAW})::VARCHAR END AS {RAW},
               e.{LINE}, e.{PARTITION}, e.{FILE}
        FROM event_rows e LEFT JOIN latest b USING (issue_id)""").to_arrow_table()
    connection.unregister("event_rows")
    return merged.cast(events.schema)


def _gap(connection, staging: Staging, timeline: Timeline) -> None:
    events_of = {
        feed: sql_literal(staging.ref(staging.realtime_rows(feed)))
        for feed in ("convos_metadata", "utterances")
    }
    known_issues = "SELECT issue_id FROM batch_convos_metadata"
    known_messages = "SELECT created_ts, issue_id FROM batch_utterances"
    timeline.conversations_only_in_events = [
        str(issue)
        for (issue,) in connection.sql(
            f"SELECT DISTINCT issue_id FROM read_parquet({events_of['convos_metadata']}) "
            f"WHERE issue_id NOT IN ({known_issues}) ORDER BY 1"
        ).fetchall()
    ]
    extra = connection.sql(f"""
        SELECT issue_id, count(*) FROM read_parquet({events_of["utterances"]}) e
        WHERE NOT EXISTS (SELECT 1 FROM ({known_messages}) b(created_ts, issue_id)
                          WHERE b.created_ts = e.created_ts AND b.issue_id = e.issue_id)
        GROUP BY issue_id ORDER BY issue_id""").fetchall()
    only = set(timeline.conversations_only_in_events)
    timeline.conversations_extended_by_events = [str(issue) for issue, _ in extra if str(issue) not in only]
    timeline.messages_only_in_events = sum(count for _, count in extra)
