"""The migration's durable memory: what was sent to Intercom, what is pending, what was refused.

Every write to Intercom is recorded here *before* it happens (an intent, state "pending") and
completed after (state "done", with the Intercom id). A task killed between the two leaves a
pending row, and the next try knows it must look for what the half-finished call created
instead of creating it again. The ledger also keeps the field-map approvals, the files already
staged, quarantined records with their reasons, and small state such as stream cursors.
SQLite by default; any SQLAlchemy URL (e.g. PostgreSQL) by config.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Table, and_, bindparam, create_engine, delete, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.engine.url import make_url

from asapp_intercom.domain.times import instant
from asapp_intercom.ledger.migrate import upgrade
from asapp_intercom.ledger.state import ActiveRun, LedgerState
from asapp_intercom.ledger.tables import (
    answers,
    approvals,
    events,
    field_issues,
    parts,
    quarantine,
    records,
    rollback_entries,
    spend,
    spend_by_minute,
    staged_files,
    stream_state,
    task_events,
)

S = TypeVar("S", bound=LedgerState)


def now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every moment in the ledger is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _plain(value: Any) -> Any:
    """Object types are StrEnums; a database driver should see the plain string."""
    return str(value) if isinstance(value, StrEnum) else value


LOCK_PATIENCE = 60
"""Seconds an SQLite connection waits for another's lock."""


def sql_engine(url: str) -> Engine:
    """An engine for a database every worker shares: on SQLite, WAL and a minute's patience for the lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": LOCK_PATIENCE}, future=True
    )

    @event.listens_for(engine, "connect")
    def _wal(connection, _record):  # readers never block the writer, and commits stay cheap
        cursor = connection.cursor()
        patience = time.monotonic() + LOCK_PATIENCE
        while True:
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                # processes opening a new file at once race to switch it, and the switch does not wait for the
                # lock; once one has switched it (the file keeps its mode), switching again is a no-op
                if time.monotonic() > patience:
                    raise
                time.sleep(0.01)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


INSERT_IF_ABSENT = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


def _insert_new(connection: Connection, table: Table, values: dict[str, Any], unique: list[str]) -> int:
    """Insert unless a row with the same unique key exists; 1 if inserted. Atomic where the database
    offers ON CONFLICT, so concurrent deliveries of one event (two API server workers) store it once."""
    insert_if_absent = INSERT_IF_ABSENT.get(connection.dialect.name)
    if insert_if_absent is not None:
        statement = (
            insert_if_absent(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=unique)
            .returning(*(table.c[name] for name in unique))
        )
        return len(connection.execute(statement).all())
    if connection.execute(select(table).where(*(table.c[name] == values[name] for name in unique))).first():
        return 0
    connection.execute(table.insert().values(**values))
    return 1


@dataclass(frozen=True)
class StagedFile:
    """A feed file as staged: its version (tag), what it gave, and the Parquet file holding its rows."""

    partition: str
    file_name: str
    tag: str
    rows: int
    quarantined: int
    channel: str
    columns: dict[str, str]
    """{column: JSON type} seen in the file's first lines."""
    parquet: str
    """Relative to the staging area's root."""


class Ledger:
    """All reads and writes of one migration's rows; safe to share between loader threads."""

    def __init__(self, url: str, migration_id: str):
        self.migration_id = migration_id
        self.engine = sql_engine(url)
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def _key(self, table: Table, **columns: Any):
        return and_(
            table.c.migration_id == self.migration_id,
            *(table.c[name] == _plain(value) for name, value in columns.items()),
        )

    def _upsert(
        self, table: Table, keys: dict[str, Any], values: dict[str, Any], unless_set: dict | None = None
    ) -> None:
        """Update the row, or insert it; `unless_set` columns keep a value they already have."""
        keys = {name: _plain(value) for name, value in keys.items()}
        unless_set = unless_set or {}
        kept = {name: func.coalesce(table.c[name], value) for name, value in unless_set.items()}
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(table).where(self._key(table, **keys)).values(**values, **kept)
            )
            if changed.rowcount == 0:
                connection.execute(
                    table.insert().values(migration_id=self.migration_id, **keys, **values, **unless_set)
                )

    def _upsert_many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert or update many rows (all with the same columns, keys included) in one transaction:
        a statement per few hundred rows instead of two round trips per row."""
        if not rows:
            return
        keys = [column.name for column in table.primary_key.columns]
        with self.engine.begin() as connection:
            insert = INSERT_IF_ABSENT[connection.dialect.name](table)
            statement = insert.on_conflict_do_update(
                index_elements=keys,
                set_={name: insert.excluded[name] for name in rows[0] if name not in keys},
            )
            for start in range(0, len(rows), 500):
                connection.execute(
                    statement,
                    [
                        {"migration_id": self.migration_id, **{k: _plain(v) for k, v in row.items()}}
                        for row in rows[start : start + 500]
                    ],
                )

    # Records -------------------------------------------------------------------------------
    def record(self, object_type: str, source_id: str) -> Row | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(records).where(self._key(records, object_type=object_type, source_id=source_id))
            ).first()

    def records_for(self, object_type: str, source_ids: Iterable[str]) -> dict[str, Row]:
        """Batch lookup, so a loader asks once per few hundred records instead of once per record."""
        found: dict[str, Row] = {}
        ids = list(source_ids)
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = connection.execute(
                    select(records).where(
                        self._key(records, object_type=object_type), records.c.source_id.in_(chunk)
                    )
                )
                found.update({row.source_id: row for row in rows})
        return found

    def iter_records(self, object_type: str | None = None) -> Iterator[Row]:
        query = select(records).where(self._key(records))
        if object_type:
            query = query.where(records.c.object_type == _plain(object_type))
        with self.engine.connect() as connection:
            yield from connection.execute(query.order_by(records.c.object_type, records.c.source_id))

    def begin(
        self,
        object_type: str,
        source_id: str,
        run_id: str,
        *,
        origin: str | None = None,
        previous_state: dict | None = None,
    ) -> datetime:
        """Write the intent before the side effect; returns when the first, unfinished, intent was made.

        A record already pending keeps its first intent time: recovery compares it with what
        Intercom holds to tell our own half-finished creation from a record that was there before.
        """
        key = {"object_type": object_type, "source_id": source_id}
        current = self.record(object_type, source_id)
        intent_at = current.intent_at if current is not None and current.state == "pending" else now()
        values: dict[str, Any] = {
            "state": "pending",
            "run_id": run_id,
            "intent_at": intent_at,
            "updated_at": now(),
        }
        if origin is not None:
            values["origin"] = origin
        if previous_state is not None:
            values["previous_state"] = previous_state
        self._upsert(records, key, values, {"first_run_id": run_id, "first_written_at": intent_at})
        return _utc(intent_at)

    def complete(
        self,
        object_type: str,
        source_id: str,
        *,
        intercom_id: str,
        action: str,
        payload_hash: str,
        run_id: str,
        origin: str | None = None,
        previous_state: dict | None = None,
        progress: dict | None = None,
    ) -> None:
        """The write is done (or found done): what Intercom made of it, and when the migration last
        wrote it."""
        written = now()
        values: dict[str, Any] = {
            "intercom_id": intercom_id,
            "state": "done",
            "action": action,
            "payload_hash": payload_hash,
            "run_id": run_id,
            "updated_at": written,
            "written_at": written,
        }
        if origin is not None:
            values["origin"] = origin
        if previous_state is not None:
            values["previous_state"] = previous_state
        if progress is not None:
            values["progress"] = progress
        self._upsert(
            records,
            {"object_type": object_type, "source_id": source_id},
            values,
            {"first_run_id": run_id, "first_written_at": written},
        )

    def note_written(
        self, object_type: str, *, source_id: str | None = None, intercom_id: str | None = None
    ) -> None:
        """The migration wrote to this record again after completing it (a company link, a part, a tag): a
        change Intercom shows after this moment is someone else's."""
        column, value = ("source_id", source_id) if source_id is not None else ("intercom_id", intercom_id)
        with self.engine.begin() as connection:
            connection.execute(
                update(records)
                .where(self._key(records, object_type=object_type, **{column: value}))
                .values(written_at=now())
            )

    def mark_unchanged(self, object_type: str, source_ids: list[str], run_id: str) -> None:
        """This run found these records as Intercom has them: nothing sent, the run noted. A record an earlier
        try of this run wrote keeps what that try did, so a run's counts hold over its tries."""
        with self.engine.begin() as connection:
            for start in range(0, len(source_ids), 500):
                connection.execute(
                    update(records)
                    .where(
                        self._key(records, object_type=object_type),
                        records.c.source_id.in_(source_ids[start : start + 500]),
                        or_(records.c.run_id.is_(None), records.c.run_id != run_id),
                    )
                    .values(action="unchanged", run_id=run_id, updated_at=now())
                )

    def mark_read_back(self, object_type: str, payload_hashes: dict[str, str | None]) -> None:
        """What a read-back found (source id: the payload hash Intercom held as sent, or None when it
        differed): until its payload changes, a record found as sent need not be read back by a cutover."""
        if not payload_hashes:
            return
        statement = (
            update(records)
            .where(
                self._key(records, object_type=object_type),
                records.c.source_id == bindparam("match_source_id"),
            )
            .values(read_back_hash=bindparam("match_hash"))
        )
        rows = [{"match_source_id": key, "match_hash": value} for key, value in payload_hashes.items()]
        with self.engine.begin() as connection:
            for start in range(0, len(rows), 500):
                connection.execute(statement, rows[start : start + 500])

    def save_progress(self, object_type: str, source_id: str, **values: Any) -> None:
        """Record conversation progress (the Intercom id as soon as it exists, steps done so far)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(records)
                .where(self._key(records, object_type=object_type, source_id=source_id))
                .values(updated_at=now(), **values)
            )

    def forget(self, object_type: str, source_id: str) -> None:
        with self.engine.begin() as connection:
            self._forget(connection, object_type, source_id)

    def _forget(self, connection: Connection, object_type: str, source_id: str) -> None:
        connection.execute(
            delete(records).where(self._key(records, object_type=object_type, source_id=source_id))
        )
        if object_type == "conversation":
            connection.execute(delete(parts).where(self._key(parts, conversation_source_id=source_id)))

    # Rollbacks -----------------------------------------------------------------------------
    def plan_undo(self, rollback_run_id: str, entries: Iterable[dict[str, Any]]) -> int:
        """Write a rollback's planned entries; an entry this rollback run already has keeps what it holds
        (a cleared or retried task must not judge again a record it may have begun to undo). Returns how many
        were new."""
        added = 0
        with self.engine.begin() as connection:
            for entry in entries:
                values = {
                    "migration_id": self.migration_id,
                    "rollback_run_id": rollback_run_id,
                    **{key: _plain(value) for key, value in entry.items()},
                    "planned_at": now(),
                }
                added += _insert_new(
                    connection,
                    rollback_entries,
                    values,
                    ["migration_id", "rollback_run_id", "object_type", "source_id"],
                )
        return added

    def undo_entries(
        self, rollback_run_id: str, step: str | None = None, *, unfinished: bool = False
    ) -> list[Row]:
        query = select(rollback_entries).where(self._key(rollback_entries, rollback_run_id=rollback_run_id))
        if step is not None:
            query = query.where(rollback_entries.c.step == step)
        if unfinished:
            query = query.where(rollback_entries.c.state != "done")
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    query.order_by(rollback_entries.c.object_type, rollback_entries.c.source_id)
                )
            )

    def begin_undo(self, rollback_run_id: str, object_type: str, source_id: str) -> None:
        """The intent, before the first request: a later try finishes this entry without judging it again."""
        with self.engine.begin() as connection:
            connection.execute(
                update(rollback_entries)
                .where(
                    self._key(
                        rollback_entries,
                        rollback_run_id=rollback_run_id,
                        object_type=object_type,
                        source_id=source_id,
                    ),
                    rollback_entries.c.state == "planned",
                )
                .values(state="pending", started_at=now())
            )

    def finish_undo(
        self,
        rollback_run_id: str,
        object_type: str,
        source_id: str,
        outcome: str,
        detail: dict | None = None,
        *,
        forget: bool,
    ) -> None:
        """What became of the entry; with `forget`, the record leaves the ledger in the same transaction (a
        later migration run creates it anew), while the entry keeps a copy of it."""
        with self.engine.begin() as connection:
            connection.execute(
                update(rollback_entries)
                .where(
                    self._key(
                        rollback_entries,
                        rollback_run_id=rollback_run_id,
                        object_type=object_type,
                        source_id=source_id,
                    )
                )
                .values(state="done", outcome=outcome, detail=detail, done_at=now())
            )
            if forget:
                self._forget(connection, object_type, source_id)

    def rolled_back(self, object_type: str, source_id: str) -> Row | None:
        """The last rollback entry that undid this record, if any (what a later migration run must know)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(rollback_entries)
                .where(
                    self._key(rollback_entries, object_type=object_type, source_id=source_id),
                    rollback_entries.c.state == "done",
                )
                .order_by(rollback_entries.c.done_at.desc())
                .limit(1)
            ).first()

    # Conversation parts --------------------------------------------------------------------
    def part_states(self, conversation_source_id: str) -> dict[str, Row]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(parts).where(self._key(parts, conversation_source_id=conversation_source_id))
            )
            return {row.part_key: row for row in rows}

    def attachment_conversations(self) -> dict[str, str]:
        """file_upload_event_id → the conversation (source id) its file was posted to."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(parts.c.part_key, parts.c.conversation_source_id).where(
                    self._key(parts), parts.c.part_key.startswith("file:")
                )
            )
            return {key.removeprefix("file:"): conversation for key, conversation in rows}

    def begin_part(self, conversation_source_id: str, part_key: str, run_id: str) -> None:
        self._upsert(
            parts,
            {"conversation_source_id": conversation_source_id, "part_key": part_key},
            {"state": "pending", "run_id": run_id, "intent_at": now()},
        )

    def complete_part(
        self, conversation_source_id: str, part_key: str, intercom_part_id: str | None, run_id: str
    ) -> None:
        self._upsert(
            parts,
            {"conversation_source_id": conversation_source_id, "part_key": part_key},
            {"state": "done", "intercom_part_id": intercom_part_id, "run_id": run_id},
        )

    # Quarantine ----------------------------------------------------------------------------
    def quarantine(
        self, object_type: str, source_id: str, reason: str, run_id: str, detail: dict | None = None
    ) -> None:
        self.quarantine_many(object_type, [(source_id, reason, detail)], run_id)

    def quarantine_many(
        self, object_type: str, items: Iterable[tuple[str, str, dict | None]], run_id: str
    ) -> None:
        """(source id, reason, detail) of what cannot be migrated, open until resolved."""
        at = now()
        self._upsert_many(
            quarantine,
            [
                {
                    "object_type": object_type,
                    "source_id": str(source_id),
                    "reason": reason,
                    "detail": detail,
                    "run_id": run_id,
                    "created_at": at,
                    "resolved_at": None,
                }
                for source_id, reason, detail in items
            ],
        )

    def resolve_quarantine(self, object_type: str, source_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(quarantine)
                .where(
                    self._key(quarantine, object_type=object_type, source_id=str(source_id)),
                    quarantine.c.resolved_at.is_(None),
                )
                .values(resolved_at=now())
            )

    def resolve_quarantine_of_files(self, object_type: str, paths: Iterable[str]) -> None:
        """Lift what was quarantined or set aside of files (the file, its lines, their values) when a new
        version of them arrives."""
        with self.engine.begin() as connection:
            for path in paths:
                for table in (quarantine, field_issues):
                    connection.execute(
                        update(table)
                        .where(
                            self._key(table, object_type=object_type),
                            table.c.resolved_at.is_(None),
                            (table.c.source_id == path)
                            | table.c.source_id.startswith(f"{path}:", autoescape=True),
                        )
                        .values(resolved_at=now())
                    )

    def open_quarantine(self, object_type: str | None = None, run_id: str | None = None) -> list[Row]:
        query = select(quarantine).where(self._key(quarantine), quarantine.c.resolved_at.is_(None))
        if object_type:
            query = query.where(quarantine.c.object_type == _plain(object_type))
        if run_id:
            query = query.where(quarantine.c.run_id == run_id)
        with self.engine.connect() as connection:
            return list(connection.execute(query.order_by(quarantine.c.object_type, quarantine.c.source_id)))

    def quarantine_page(
        self, *, run_id: str | None = None, search: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[Row], int]:
        """One page of the open quarantine (of one run, or of the migration) whose object, id or reason holds
        `search` (case-insensitive), and how many match in all."""
        conditions = [self._key(quarantine), quarantine.c.resolved_at.is_(None)]
        if run_id:
            conditions.append(quarantine.c.run_id == run_id)
        if search:
            conditions.append(
                or_(
                    *(
                        func.lower(column).contains(search.lower(), autoescape=True)
                        for column in (quarantine.c.object_type, quarantine.c.source_id, quarantine.c.reason)
                    )
                )
            )
        with self.engine.connect() as connection:
            total = connection.execute(
                select(func.count()).select_from(quarantine).where(*conditions)
            ).scalar()
            rows = connection.execute(
                select(quarantine)
                .where(*conditions)
                .order_by(quarantine.c.object_type, quarantine.c.source_id)
                .offset(offset)
                .limit(limit)
            )
            return list(rows), int(total)

    def quarantined_ids(self, object_type: str) -> set[str]:
        return {row.source_id for row in self.open_quarantine(object_type)}

    def quarantine_counts(self) -> dict[str, int]:
        """Open quarantine per object type (feed:<name> for lines and files), over the whole migration."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(quarantine.c.object_type, func.count())
                .where(self._key(quarantine), quarantine.c.resolved_at.is_(None))
                .group_by(quarantine.c.object_type)
            )
            return {object_type: count for object_type, count in rows}

    # Fields left out ------------------------------------------------------------------------
    def note_field_issues(
        self, object_type: str, issues: Iterable[tuple[str, str, Any, str]], run_id: str
    ) -> None:
        """(source id, field, value, reason) of fields a record was loaded without."""
        at = now()
        self._upsert_many(
            field_issues,
            [
                {
                    "object_type": object_type,
                    "source_id": source_id,
                    "field": field,
                    "value": None if value is None else str(value),
                    "reason": reason,
                    "run_id": run_id,
                    "created_at": at,
                    "resolved_at": None,
                }
                for source_id, field, value, reason in issues
            ],
        )

    def resolve_field_issues(
        self, object_type: str, source_ids: Iterable[str], still: set[tuple[str, str]] = frozenset()
    ) -> None:
        """Lift the field issues of these records that their latest version no longer has."""
        ids = list(source_ids)
        with self.engine.begin() as connection:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                open_rows = connection.execute(
                    select(field_issues.c.source_id, field_issues.c.field).where(
                        self._key(field_issues, object_type=object_type),
                        field_issues.c.source_id.in_(chunk),
                        field_issues.c.resolved_at.is_(None),
                    )
                ).all()
                for source_id, field in open_rows:
                    if (source_id, field) not in still:
                        connection.execute(
                            update(field_issues)
                            .where(
                                self._key(
                                    field_issues, object_type=object_type, source_id=source_id, field=field
                                )
                            )
                            .values(resolved_at=now())
                        )

    def has_open_field_issues(self, object_type: str) -> bool:
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    select(field_issues.c.source_id)
                    .where(
                        self._key(field_issues, object_type=object_type), field_issues.c.resolved_at.is_(None)
                    )
                    .limit(1)
                ).first()
                is not None
            )

    def open_field_issues(self, object_type: str | None = None) -> list[Row]:
        query = select(field_issues).where(self._key(field_issues), field_issues.c.resolved_at.is_(None))
        if object_type:
            query = query.where(field_issues.c.object_type == _plain(object_type))
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    query.order_by(field_issues.c.object_type, field_issues.c.source_id, field_issues.c.field)
                )
            )

    # What a run's record in Intercom amounts to ---------------------------------------------
    def record_counts(self, run_id: str | None = None) -> dict[str, dict[str, int]]:
        """Per object type: records in Intercom (done) and pending; with a run, what that run did to them
        (the last try's action of every record it touched, so every try of the run counts once)."""
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as connection:
            query = select(
                records.c.object_type, records.c.state, records.c.action, records.c.origin, func.count()
            ).where(self._key(records))
            if run_id:
                query = query.where(records.c.run_id == run_id)
            for object_type, state, action, origin, count in connection.execute(
                query.group_by(records.c.object_type, records.c.state, records.c.action, records.c.origin)
            ):
                tally = counts.setdefault(object_type, {})
                key = action if run_id and state == "done" else state
                tally[key] = tally.get(key, 0) + count
                if state == "done" and origin == "existing":
                    tally["existing"] = tally.get("existing", 0) + count
        return counts

    # Answers, task events and spend ---------------------------------------------------------
    def record_answer(
        self,
        run_id: str,
        task_id: str,
        chosen_options: list[str],
        params_input: dict | None,
        responded_by: str | None,
        responded_at: datetime | None,
    ) -> None:
        self._upsert(
            answers,
            {"run_id": run_id, "task_id": task_id},
            {
                "chosen_options": chosen_options,
                "params_input": params_input,
                "responded_by": responded_by,
                "responded_at": responded_at,
            },
        )

    def forget_answer(self, run_id: str, task_id: str) -> None:
        """An answer that cannot be used (its edits do not apply): the question is asked again."""
        with self.engine.begin() as connection:
            connection.execute(delete(answers).where(self._key(answers, run_id=run_id, task_id=task_id)))

    def answer(self, run_id: str, task_id: str) -> Row | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(answers).where(self._key(answers, run_id=run_id, task_id=task_id))
            ).first()

    def note_task_event(
        self, run_id: str, task_id: str, map_index: int, try_number: int, kind: str, message: str
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                task_events.insert().values(
                    migration_id=self.migration_id,
                    run_id=run_id,
                    task_id=task_id,
                    map_index=map_index,
                    try_number=try_number,
                    kind=kind,
                    message=message[:4000],
                    at=now(),
                )
            )

    def task_events(self, run_id: str) -> list[Row]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(task_events)
                    .where(self._key(task_events, run_id=run_id))
                    .order_by(task_events.c.seq)
                )
            )

    def note_spend(
        self, run_id: str, task_id: str, map_index: int, try_number: int, requests: int, retries: int
    ) -> None:
        self._upsert(
            spend,
            {"run_id": run_id, "task_id": task_id, "map_index": map_index, "try_number": try_number},
            {"requests": requests, "retries": retries, "updated_at": now()},
        )

    def spent(self, run_id: str) -> dict[str, dict[str, int]]:
        """Requests and retries per task over every try of the run (a killed try's as far as it got)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(spend.c.task_id, func.sum(spend.c.requests), func.sum(spend.c.retries), func.count())
                .where(self._key(spend, run_id=run_id))
                .group_by(spend.c.task_id)
            )
            return {
                task_id: {"requests": int(requests), "retries": int(retries), "tries": tries}
                for task_id, requests, retries, tries in rows
            }

    def note_spend_in_minute(
        self, run_id: str, task_id: str, map_index: int, try_number: int, minute: datetime, requests: int
    ) -> None:
        """The requests this try has sent so far in that minute (a later write of that minute replaces it)."""
        self._upsert(
            spend_by_minute,
            {
                "run_id": run_id,
                "task_id": task_id,
                "map_index": map_index,
                "try_number": try_number,
                "minute": minute,
            },
            {"requests": requests},
        )

    def requests_per_minute(self, run_id: str) -> list[tuple[datetime, int]]:
        """The run's requests per minute over all its tasks and tries, in time order (no row: none sent)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(spend_by_minute.c.minute, func.sum(spend_by_minute.c.requests))
                .where(self._key(spend_by_minute, run_id=run_id))
                .group_by(spend_by_minute.c.minute)
                .order_by(spend_by_minute.c.minute)
            )
            return [(_utc(minute), int(requests)) for minute, requests in rows]

    # Staged files --------------------------------------------------------------------------
    def note_staged(self, feed: str, files: Iterable[StagedFile]) -> None:
        """Files staged, with the Parquet file holding their rows: the commit point of a batch. Each file's
        fields are taken as they are (`asdict` would deep-copy its columns: a tenth of a millisecond a file,
        tens of thousands of files)."""
        at = now()
        self._upsert_many(
            staged_files,
            [{"feed": feed, **vars(file), "staged_at": at} for file in files],
        )

    def staged(self, feed: str, *, with_columns: bool = False) -> list[Row]:
        """The feed's staged files; `with_columns` adds the columns each was seen with, which only the
        schema profile reads (at 2M conversations, 73,587 files' columns took 450 MB of Python objects)."""
        chosen = [column for column in staged_files.c if with_columns or column.name != "columns"]
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(*chosen)
                    .where(self._key(staged_files, feed=feed))
                    .order_by(staged_files.c.partition, staged_files.c.file_name)
                )
            )

    # Real-time events ----------------------------------------------------------------------
    def append_events(self, envelopes: Iterable[dict], source: str) -> int:
        """Add events to the log once each (ASAPP delivers at least once); returns how many were new."""
        added = 0
        with self.engine.begin() as connection:
            for envelope in envelopes:
                meta = envelope.get("meta_data") or {}
                values = {
                    "migration_id": self.migration_id,
                    "event_id": str(envelope["event_id"]),
                    "create_time": instant(meta.get("create_time")),
                    "feed": envelope.get("name"),
                    "event_type": envelope.get("event_type"),
                    "issue_id": meta.get("issue_id"),
                    "envelope": envelope,
                    "source": source,
                    "received_at": now(),
                }
                added += _insert_new(connection, events, values, ["migration_id", "event_id"])
        return added

    def events_after(self, seq: int, limit: int = 1000) -> list[Row]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(events)
                    .where(self._key(events), events.c.seq > seq)
                    .order_by(events.c.seq)
                    .limit(limit)
                )
            )

    def event_summary(self) -> tuple[int, int, datetime | None]:
        """(events logged, highest seq, newest create_time)."""
        with self.engine.connect() as connection:
            count, top, newest = connection.execute(
                select(
                    func.count(), func.coalesce(func.max(events.c.seq), 0), func.max(events.c.create_time)
                ).where(self._key(events))
            ).one()
            return (
                count,
                top,
                _utc(newest) if newest is not None else None,
            )

    # Approvals and small state -------------------------------------------------------------
    def approval(self, map_hash: str) -> Row | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(approvals).where(self._key(approvals, map_hash=map_hash))
            ).first()

    def record_approval(
        self, map_hash: str, field_map: list[dict], approved_by: str, approved_at: datetime, run_id: str
    ) -> None:
        self._upsert(
            approvals,
            {"map_hash": map_hash},
            {
                "field_map": field_map,
                "approved_by": approved_by,
                "approved_at": approved_at,
                "run_id": run_id,
            },
        )

    def load(self, kind: type[S]) -> S | None:
        """The stored state of that kind, or None when there is none yet."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(stream_state.c.value).where(self._key(stream_state, key=kind.key))
            ).first()
            return None if row is None or row.value is None else kind.model_validate(row.value)

    def claim_run(self, claim: ActiveRun, still_active: Callable[[ActiveRun], bool]) -> ActiveRun | None:
        """Make `claim` the migration's active run unless another run holds it and `still_active` says it
        has not ended; returns that other run. Atomic between concurrent claims: a claim replaces only
        the holder it read (its `updated_at` is the version)."""
        while True:
            with self.engine.begin() as connection:
                row = connection.execute(
                    select(stream_state.c.value, stream_state.c.updated_at).where(
                        self._key(stream_state, key=ActiveRun.key)
                    )
                ).first()
                values = {"value": claim.model_dump(mode="json"), "updated_at": now()}
                if row is None:
                    inserted = _insert_new(
                        connection,
                        stream_state,
                        {"migration_id": self.migration_id, "key": ActiveRun.key, **values},
                        ["migration_id", "key"],
                    )
                    if inserted:
                        return None
                    continue
                holder = ActiveRun.model_validate(row.value)
                if holder == claim:
                    return None
                if still_active(holder):
                    return holder
                replaced = connection.execute(
                    update(stream_state)
                    .where(
                        self._key(stream_state, key=ActiveRun.key),
                        stream_state.c.updated_at == row.updated_at,
                    )
                    .values(**values)
                )
                if replaced.rowcount == 1:
                    return None

    def save(self, value: LedgerState) -> None:
        self._upsert(
            stream_state, {"key": value.key}, {"value": value.model_dump(mode="json"), "updated_at": now()}
        )
