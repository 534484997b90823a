"""What a read-back found: the payload hash Intercom last matched, per record, so that a cutover reads
back only what changed since (at two million conversations, reading everything back again takes days).

Records of ledgers written before this revision were never marked: a cutover reads them all back once.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("records") as records:
        records.add_column(sa.Column("read_back_hash", sa.String(64)))
