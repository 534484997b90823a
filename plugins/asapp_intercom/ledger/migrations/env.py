"""Alembic's entry point for the ledger: migrations run on the connection the Ledger hands over."""

from alembic import context
from asapp_intercom.ledger.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    version_table=context.config.attributes["version_table"],
)
with context.begin_transaction():
    context.run_migrations()
