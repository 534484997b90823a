"""The ledger as version 0.1 wrote it, before the ledger had versions.

A ledger from then has these tables and no version table: it is stamped with this revision and
upgraded from here; a new ledger is created by running this and every later revision.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("object_type", sa.String(32), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("intercom_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16)),
        sa.Column("action", sa.String(16)),
        sa.Column("payload_hash", sa.String(64)),
        sa.Column("progress", sa.JSON),
        sa.Column("previous_state", sa.JSON),
        sa.Column("run_id", sa.String(250)),
        sa.Column("intent_at", TZ),
        sa.Column("updated_at", TZ),
    )
    op.create_index("records_by_intercom_id", "records", ["migration_id", "object_type", "intercom_id"])
    op.create_table(
        "parts",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("conversation_source_id", sa.String(255), primary_key=True),
        sa.Column("part_key", sa.String(255), primary_key=True),
        sa.Column("intercom_part_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.Column("intent_at", TZ),
    )
    op.create_table(
        "quarantine",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("object_type", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(512), primary_key=True),
        sa.Column("run_id", sa.String(250)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("created_at", TZ),
        sa.Column("resolved_at", TZ),
    )
    op.create_table(
        "staged_files",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("partition", sa.String(64), primary_key=True),
        sa.Column("file_name", sa.String(255), primary_key=True),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("quarantined", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("columns", sa.JSON),
        sa.Column("staged_at", TZ),
    )
    op.create_table(
        "approvals",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("map_hash", sa.String(64), primary_key=True),
        sa.Column("field_map", sa.JSON, nullable=False),
        sa.Column("approved_by", sa.String(255)),
        sa.Column("approved_at", TZ),
        sa.Column("run_id", sa.String(250)),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("migration_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("create_time", TZ),
        sa.Column("feed", sa.String(64)),
        sa.Column("event_type", sa.String(64)),
        sa.Column("issue_id", sa.String(64)),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("received_at", TZ),
        sa.UniqueConstraint("migration_id", "event_id", name="one_row_per_event"),
    )
    op.create_table(
        "state",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", TZ),
    )
