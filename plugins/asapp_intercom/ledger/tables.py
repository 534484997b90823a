"""The ledger's tables, as the latest migration leaves them (ledger/migrations holds how they got there)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("object_type", String(32), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("intercom_id", String(64)),
    Column("state", String(16), nullable=False),  # pending | done
    Column("origin", String(16)),  # created: we made it | existing: it was in the workspace before us
    Column("action", String(16)),  # what the last run did: created | updated | unchanged
    Column("payload_hash", String(64)),
    Column("progress", JSON),  # conversation steps already done (attributes, assignee, state, tags)
    Column("previous_state", JSON),  # an existing record as it was before we first changed it
    Column("run_id", String(250)),
    Column("intent_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("first_run_id", String(250)),  # the run that first wrote it: what rolling back that run undoes
    Column("first_written_at", DateTime(timezone=True)),
    Column("written_at", DateTime(timezone=True)),  # the migration's last write: later changes are a person's
    Column("read_back_hash", String(64)),  # the payload a read-back last found in Intercom as sent
    Index("records_by_intercom_id", "migration_id", "object_type", "intercom_id"),
)

parts = Table(
    "parts",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("conversation_source_id", String(255), primary_key=True),
    Column("part_key", String(255), primary_key=True),
    Column("intercom_part_id", String(64)),
    Column("state", String(16), nullable=False),
    Column("run_id", String(250)),
    Column("intent_at", DateTime(timezone=True)),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("source_id", String(512), primary_key=True),
    Column("run_id", String(250)),
    Column("reason", Text, nullable=False),
    Column("detail", JSON),
    Column("created_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
)

staged_files = Table(
    "staged_files",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("feed", String(64), primary_key=True),
    Column("partition", String(64), primary_key=True),
    Column("file_name", String(255), primary_key=True),
    Column("tag", String(255), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Column("channel", String(32)),
    Column("columns", JSON),  # {column: JSON type} seen in the file's first rows
    Column("staged_at", DateTime(timezone=True)),
    Column("parquet", String(512)),  # the staged Parquet file (a batch of files) holding its rows
)

approvals = Table(
    "approvals",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("map_hash", String(64), primary_key=True),
    Column("field_map", JSON, nullable=False),
    Column("approved_by", String(255)),
    Column("approved_at", DateTime(timezone=True)),
    Column("run_id", String(250)),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # arrival order, what followers track
    Column("migration_id", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("create_time", DateTime(timezone=True)),
    Column("feed", String(64)),
    Column("event_type", String(64)),
    Column("issue_id", String(64)),
    Column("envelope", JSON, nullable=False),
    Column("source", String(16), nullable=False),  # pull | push
    Column("received_at", DateTime(timezone=True)),
    UniqueConstraint("migration_id", "event_id", name="one_row_per_event"),
)

stream_state = Table(
    "state",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", JSON),
    Column("updated_at", DateTime(timezone=True)),
)

field_issues = Table(
    "field_issues",
    metadata,
    Column("migration_id", String(64), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("source_id", String(512), primary_key=True),
    Column("field", String(255), primary_key=True),
    Column("value", Text),  # what ASAPP had, so nothing is lost though Intercom got the record without it
    Column("reason", Text, nullable=False),
    Column("run_id", String(250)),
    Column("created_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
)

answers = Table(
    "answers",
    metadata,  # kept as a person gives them, whatever becomes of the task that asked
    Column("migration_id", String(64), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(250), primary_key=True),
    Column("chosen_options", JSON, nullable=False),
    Column("params_input", JSON),
    Column("responded_by", String(255)),
    Column("responded_at", DateTime(timezone=True)),
)

task_events = Table(
    "task_events",
    metadata,  # failures and waits of a run's tasks, each try
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("migration_id", String(64), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("map_index", Integer, nullable=False),
    Column("try_number", Integer, nullable=False),
    Column("kind", String(32), nullable=False),  # failed | retried | waited
    Column("message", Text, nullable=False),
    Column("at", DateTime(timezone=True)),
    Index("task_events_by_run", "migration_id", "run_id"),
)

spend = Table(
    "spend",
    metadata,  # requests each task try sent, written as they are spent
    Column("migration_id", String(64), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(250), primary_key=True),
    Column("map_index", Integer, primary_key=True),
    Column("try_number", Integer, primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

spend_by_minute = Table(
    "spend_by_minute",
    metadata,  # requests each task try sent in each minute, for the rate over time against the budget
    Column("migration_id", String(64), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("task_id", String(250), primary_key=True),
    Column("map_index", Integer, primary_key=True),
    Column("try_number", Integer, primary_key=True),
    Column("minute", DateTime(timezone=True), primary_key=True),
    Column("requests", Integer, nullable=False),
)

rollback_entries = Table(
    "rollback_entries",
    metadata,  # what each rollback run planned and did, record by record; outlives the records it undid
    Column("migration_id", String(64), primary_key=True),
    Column("rollback_run_id", String(250), primary_key=True),
    Column("object_type", String(32), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("step", String(32), nullable=False),
    Column(
        "action", String(16), nullable=False
    ),  # delete | restore | untag | archive | forget | leave | conflict
    Column("state", String(16), nullable=False),  # planned | pending | done
    Column("outcome", String(32)),
    Column("intercom_id", String(64)),
    Column("record", JSON),  # the ledger's record as it was when planned
    Column("detail", JSON),
    Column("planned_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
    Index("rollback_entries_by_record", "migration_id", "object_type", "source_id"),
)
