"""Small state values become typed objects: the event cursor and the states attachments owe were
stored bare (a string, a {conversation: state} mapping); every value is now an object of named fields.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

state = sa.table(
    "state", sa.column("migration_id", sa.String), sa.column("key", sa.String), sa.column("value", sa.JSON)
)
WRAPPED = {"realtime.cursor": "cursor", "attachments.states_to_restore": "conversations"}


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(state).where(state.c.key.in_(list(WRAPPED)))).all()
    for row in rows:
        field = WRAPPED[row.key]
        if isinstance(row.value, dict) and set(row.value) == {field}:
            continue
        connection.execute(
            sa.update(state)
            .where(state.c.migration_id == row.migration_id, state.c.key == row.key)
            .values(value={field: row.value})
        )
