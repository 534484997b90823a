"""What a rollback needs: when and in which run the migration first and last wrote each record (the
scope of a rollback, and whether a person changed the record since), and the rollback's own intents
and history, which outlive the records they undo.

Ledgers written before this revision do not know when a record was written first or last; they
take the run and times they have (the last run, the intent and the last update) as the best guess.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("records") as records:
        records.add_column(sa.Column("first_run_id", sa.String(250)))
        records.add_column(sa.Column("first_written_at", TZ))
        records.add_column(sa.Column("written_at", TZ))
    table = sa.table(
        "records",
        sa.column("run_id", sa.String),
        sa.column("intent_at", TZ),
        sa.column("updated_at", TZ),
        sa.column("first_run_id", sa.String),
        sa.column("first_written_at", TZ),
        sa.column("written_at", TZ),
    )
    op.get_bind().execute(
        sa.update(table).values(
            first_run_id=table.c.run_id,
            first_written_at=sa.func.coalesce(table.c.intent_at, table.c.updated_at),
            written_at=table.c.updated_at,
        )
    )
    op.create_table(
        "rollback_entries",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("rollback_run_id", sa.String(250), primary_key=True),
        sa.Column("object_type", sa.String(32), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("intercom_id", sa.String(64)),
        sa.Column("record", sa.JSON),
        sa.Column("detail", sa.JSON),
        sa.Column("planned_at", TZ),
        sa.Column("started_at", TZ),
        sa.Column("done_at", TZ),
    )
    op.create_index(
        "rollback_entries_by_record", "rollback_entries", ["migration_id", "object_type", "source_id"]
    )
