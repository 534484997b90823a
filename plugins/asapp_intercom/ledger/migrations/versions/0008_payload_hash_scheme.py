"""Payload hashes get a scheme: a migration begun before keeps the one its ledger's hashes were computed
with (the standard library's JSON), or every record it loaded would look changed and be sent again;
a migration begun after uses a faster one.

Revision ID: 0008
Revises: 0007
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

records = sa.table("records", sa.column("migration_id", sa.String), sa.column("payload_hash", sa.String))
state = sa.table(
    "state",
    sa.column("migration_id", sa.String),
    sa.column("key", sa.String),
    sa.column("value", sa.JSON),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
KEY = "payloads.hash_scheme"
STDLIB_JSON = 1


def upgrade() -> None:
    connection = op.get_bind()
    begun = connection.execute(
        sa.select(records.c.migration_id).where(records.c.payload_hash.is_not(None)).distinct()
    ).scalars()
    at = datetime.now(UTC)
    rows = [
        {"migration_id": migration, "key": KEY, "value": {"scheme": STDLIB_JSON}, "updated_at": at}
        for migration in begun
    ]
    if rows:
        connection.execute(sa.insert(state), rows)
