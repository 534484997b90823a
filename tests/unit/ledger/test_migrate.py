"""Ledgers outlive versions: opening one brings its tables up to this version's layout, once."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from asapp_intercom.domain.payloads import HashScheme
from asapp_intercom.ledger import Ledger
from asapp_intercom.ledger.migrate import VERSION_TABLE, current_revision, head_revision
from asapp_intercom.ledger.state import CursorExpiry, DeltaMark, EventCursor, PayloadHashing, StatesToRestore
from asapp_intercom.ledger.tables import metadata
from sqlalchemy import create_engine

WRITTEN_BY_0_1 = Path(__file__).with_name("data") / "ledger-0.1.sql"


def test_a_ledger_written_by_version_0_1_opens_with_everything_it_held(tmp_path):
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(WRITTEN_BY_0_1.read_text())

    ledger = Ledger(f"sqlite:///{path}", "acme")

    contact = ledger.record("contact", "email:ada@example.com")
    assert (contact.intercom_id, contact.origin, contact.previous_state) == (
        "c1",
        "existing",
        {"id": "c1", "name": "Ada"},
    )
    assert ledger.part_states("21400001")["m1"].intercom_part_id == "p1"
    assert [row.reason for row in ledger.open_quarantine()] == ["conversation has no messages"]
    (staged,) = ledger.staged("utterances")  # one Parquet file per file: read again next time
    assert (staged.file_name, staged.parquet) == ("utterances.jsonl", None) and staged.tag != "etag1"
    assert ledger.approval("hash1").approved_by == "ops"
    assert ledger.event_summary()[:2] == (1, 1)
    # 0.1 stored these two bare; they are now typed values with named fields
    assert ledger.load(EventCursor) == EventCursor(cursor="eyJmIjoiam91cm5leSIsInMiOjF9")
    assert ledger.load(StatesToRestore) == StatesToRestore(conversations={"101": "closed"})
    assert ledger.load(DeltaMark) == DeltaMark(staged_at=datetime(2026, 1, 6, 10, tzinfo=UTC), event_seq=1)
    assert ledger.load(CursorExpiry).noticed_at == datetime(2026, 1, 6, 10, tzinfo=UTC)
    with ledger.engine.connect() as connection:
        assert current_revision(connection) == head_revision()


def test_a_migration_begun_before_hash_schemes_keeps_its_hashes_and_a_new_one_takes_the_fastest(tmp_path):
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(WRITTEN_BY_0_1.read_text())

    begun, new = Ledger(f"sqlite:///{path}", "acme"), Ledger(f"sqlite:///{path}", "globex")

    assert begun.load(PayloadHashing) == PayloadHashing(scheme=HashScheme.STDLIB_JSON)
    assert new.load(PayloadHashing) is None and PayloadHashing().scheme is HashScheme.SORTED_ORJSON


def test_the_migrated_tables_are_what_the_ledger_queries(database):
    ledger = Ledger(database, "layout")
    try:
        with ledger.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert [item for item in differences if VERSION_TABLE not in str(item)] == []
    finally:
        ledger.close()


def test_processes_opening_a_new_ledger_at_once_migrate_it_once(tmp_path):
    url = f"sqlite:///{tmp_path}/ledger.db"

    with ThreadPoolExecutor(6) as pool:
        ledgers = list(pool.map(lambda n: Ledger(url, f"m{n}"), range(6)))

    with create_engine(url).connect() as connection:
        assert current_revision(connection) == head_revision()
    for ledger in ledgers:
        ledger.close()
