"""The migration configs, as the API server's endpoints need them: read again only when a file changed.

The events endpoint takes one POST per real-time event; reading and validating every YAML file on
each would make ASAPP's delivery wait on the disk. The configs are kept until a file in the
directory is added, removed or modified.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from asapp_intercom.domain.config import MigrationConfig, load_configs, migration_id_of, migrations_dir
from asapp_intercom.ledger import Ledger

_lock = threading.Lock()
_cache: dict[str, object] = {"stamp": None, "configs": {}}


def _stamp(directory: Path) -> tuple:
    return tuple(
        sorted((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in directory.glob("*.y*ml"))
    )


def migrations() -> dict[str, MigrationConfig]:
    """Every migration config by id, read again only when a file in the directory changed."""
    directory = migrations_dir()
    stamp = (str(directory), _stamp(directory))
    with _lock:
        if _cache["stamp"] != stamp:
            _cache["configs"] = {config.migration_id: config for config in load_configs(directory)}
            _cache["stamp"] = stamp
        return _cache["configs"]


def migration(migration_id: str) -> MigrationConfig | None:
    return migrations().get(migration_id)


def migration_of_dag(dag_id: str) -> MigrationConfig | None:
    """The config of a migration's DAG or of its rollback DAG."""
    migration_id = migration_id_of(dag_id)
    return migration(migration_id) if migration_id else None


@lru_cache(maxsize=32)
def ledger_of(url: str, migration_id: str) -> Ledger:
    """One ledger (one connection pool) per migration for the life of the API server."""
    return Ledger(url, migration_id)
