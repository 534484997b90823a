"""Feed files are staged many to one Parquet file (a batch), so a staged file row names the Parquet
file that holds its rows. Files staged one Parquet file each by 0.2 are staged again by the next
extract (their tag is set aside), so every staged row lives in a batch.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

RESTAGE = "restage:"
"""A tag no listing ever shows: the file counts as changed and is read again."""


def upgrade() -> None:
    with op.batch_alter_table("staged_files") as table:
        table.add_column(sa.Column("parquet", sa.String(512)))
    op.execute(f"UPDATE staged_files SET tag = '{RESTAGE}' || tag WHERE parquet IS NULL")
