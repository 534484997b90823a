"""Bring a ledger's tables up to this version's layout, once, whoever opens it first.

Ledgers outlive releases: a migration paused for weeks is resumed by a newer version of this
package. Each change of the tables is an Alembic revision in ledger/migrations; opening a ledger
runs the ones it lacks. A ledger written before the ledger had versions (the tables, no version
table) is recognised and stamped as revision 0001 first.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "asapp_intercom_ledger_version"
"""Not Alembic's default name: the ledger may share a database with Airflow's own Alembic history."""
MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001"
ADVISORY_LOCK = 0x4A51_1E06  # any fixed number: PostgreSQL serialises whoever migrates with it


@cache
def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: Engine) -> None:
    """Run the revisions this ledger lacks (nothing at all when it is current, the usual case)."""
    with engine.connect() as connection:
        if current_revision(connection) == head_revision():
            return
    with _one_migrator(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        current = current_revision(connection)
        if current == head_revision():
            return
        config = _config(connection)
        if current is None and inspect(connection).has_table("records"):
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, "head")


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(connection=connection, version_table=VERSION_TABLE)
    return config


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """On SQLite, processes opening the same new ledger at once take turns (a lock file beside it)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
