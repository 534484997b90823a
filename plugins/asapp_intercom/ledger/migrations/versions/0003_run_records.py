"""What a run leaves for its report beyond the records: fields left out of records that were
loaded, answers given to the run's questions, what happened to its tasks (failures, waits), and the
requests each task try spent (kept as they are spent, so a killed try's are not lost).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "field_issues",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("object_type", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(512), primary_key=True),
        sa.Column("field", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.Column("created_at", TZ),
        sa.Column("resolved_at", TZ),
    )
    op.create_table(
        "answers",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("chosen_options", sa.JSON, nullable=False),
        sa.Column("params_input", sa.JSON),
        sa.Column("responded_by", sa.String(255)),
        sa.Column("responded_at", TZ),
    )
    op.create_table(
        "task_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("migration_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", TZ),
    )
    op.create_index("task_events_by_run", "task_events", ["migration_id", "run_id"])
    op.create_table(
        "spend",
        sa.Column("migration_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("map_index", sa.Integer, primary_key=True),
        sa.Column("try_number", sa.Integer, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("updated_at", TZ),
    )
