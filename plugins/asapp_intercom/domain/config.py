"""Migration configs: one YAML file per migration in include/migrations/, validated here.

A config names *where* things are (connections, bucket, staging, ledger) and the defaults of the
run form; it never holds a secret. `${VAR}` and `${VAR:-default}` are expanded from the environment
so one file can serve several machines.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from asapp_intercom.domain.feeds import FEEDS
from asapp_intercom.domain.run_form import RunForm

CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
}


DAG_PREFIX = "asapp_to_intercom__"
ROLLBACK_DAG_PREFIX = "asapp_to_intercom_rollback__"
"""Each config makes two DAGs: the migration, and its rollback."""


def migration_id_of(dag_id: str) -> str | None:
    """The migration a DAG belongs to (its migration or its rollback DAG), if it is one of ours."""
    for prefix in (DAG_PREFIX, ROLLBACK_DAG_PREFIX):
        if dag_id.startswith(prefix):
            return dag_id.removeprefix(prefix)
    return None


class MigrationConfigError(ValueError):
    """A migration config file that cannot be used; the message names the file, field and reason."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RealtimeConfig(Strict):
    """How the migration follows ASAPP's real-time events between and after the batch windows."""

    mode: Literal["pull", "push", "off"] = "pull"
    """pull: read ASAPP's event stream from a stored cursor; push: ASAPP POSTs each event to this
    project's endpoint in the Airflow API server; off: batch feeds only."""
    feed: Literal["all", "journey", "activity", "queue"] = "journey"
    poll_interval: Annotated[float, Field(gt=0)] = 30
    grace_seconds: Annotated[float, Field(ge=0)] = 300
    """How long after a window's end events may still arrive; a run waits this long past its window."""
    webhook_conn_id: str | None = None
    """push: the connection whose password is the shared secret ASAPP signs each POST with."""
    cutover_at: datetime | None = None
    """After cutover the stream is no longer followed: runs stop waiting for events past it."""

    @field_validator("cutover_at")
    @classmethod
    def _utc_unless_stated(cls, value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _push_needs_a_secret(self) -> RealtimeConfig:
        if self.mode == "push" and not self.webhook_conn_id:
            raise ValueError("push mode needs webhook_conn_id, the connection holding the shared secret")
        return self


class AsappSource(Strict):
    conn_id: str = "asapp_default"
    """`asapp` connection: File Exporter, configuration and real-time APIs."""
    s3_conn_id: str = "asapp_s3"
    """`aws` connection with read access to ASAPP's export bucket (extra may set endpoint_url)."""
    bucket: str
    prefix: str = ""
    """Key prefix above the feed folders, if ASAPP delivers under a sub-folder."""
    company_marker: str
    file_exporter_feeds: tuple[str, ...] = ("autosummary_structured_data",)
    """Feeds read through the File Exporter API instead of the S3 bucket (AI-Services feeds)."""
    required_feeds: tuple[str, ...] = ("convos_metadata", "utterances", "customers")
    """Feeds without which there is nothing to migrate: a tenant lacking one stops the run at discovery.
    Every other feed is optional: one the tenant does not have is reported and the run goes on."""
    realtime: RealtimeConfig = RealtimeConfig()

    @field_validator("prefix")
    @classmethod
    def _strip_slashes(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("file_exporter_feeds", "required_feeds")
    @classmethod
    def _known_feeds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(FEEDS))
        if unknown:
            raise ValueError(f"unknown feed(s) {', '.join(unknown)}; the feeds are {', '.join(FEEDS)}")
        return value


class IntercomTarget(Strict):
    conn_id: str = "intercom_default"
    requests_per_minute: Annotated[int, Field(gt=0)] = 10_000
    """The share of the workspace's rate limit this migration may use (more than one app's limit only
    with a token pool: several tokens in the connection)."""
    app_requests_per_minute: Annotated[int, Field(gt=0)] = 10_000
    """Intercom's limit per private app (access token)."""
    workspace_requests_per_minute: Annotated[int, Field(gt=0)] = 25_000
    """Intercom's limit for the whole workspace, all its apps together."""
    budget_url: str | None = None
    """Where every task, worker and migration calling this workspace counts its calls: redis://… or a
    SQLAlchemy URL. Default: Airflow's Celery broker when it is Redis, else the ledger's database when
    it is not SQLite, else a SQLite file under AIRFLOW_HOME that all migrations on the machine share."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    """Parallel writers within one load batch."""
    batch_size: Annotated[int, Field(ge=1)] = 5_000
    """Records per load batch: each batch is one mapped task, retried alone, run by any worker."""
    parallel_batches: Annotated[int, Field(ge=1, le=64)] = 4
    """Batches of one load step running at once (the shared budget holds them all to the rate limit)."""
    bot_admin_email: str | None = None
    """Admin who authors ASAPP bot messages; unset → the token's owner (GET /me)."""
    search_consistency_seconds: Annotated[float, Field(ge=0)] = 180
    """How long Intercom search may lag a write; recovery waits this long before trusting a miss."""


class StagingConfig(Strict):
    path: str | None = None
    """ObjectStoragePath URL (file://… or s3://conn_id@bucket/prefix); default under AIRFLOW_HOME."""
    conn_id: str | None = None
    memory_limit: Annotated[str, Field(pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")] = "1GB"
    """The memory a task may use for staged data: DuckDB holds at most half of it before it spills to disk
    (its own default is 80% of RAM); the other half is the task's own."""


class LedgerConfig(Strict):
    url: str | None = None
    """SQLAlchemy URL of the durable ledger; default a SQLite file under AIRFLOW_HOME."""


class ApprovalConfig(Strict):
    mode: Literal["human", "auto"] = "human"
    """`auto` answers the field-map approval without a person; allowed only in a demo config."""


class MigrationConfig(Strict):
    migration_id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    description: str = ""
    demo: bool = False
    start_date: date
    schedule: str | None = None
    """Cron expression or @hourly/@daily/@weekly for delta runs; null for manual runs only."""
    asapp: AsappSource
    intercom: IntercomTarget = IntercomTarget()
    staging: StagingConfig = StagingConfig()
    ledger: LedgerConfig = LedgerConfig()
    approval: ApprovalConfig = ApprovalConfig()
    run_defaults: RunForm = RunForm()
    """The defaults of the run form."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cron = CRON_PRESETS.get(value, value)
        if len(cron.split()) != 5:
            raise ValueError(
                f"{value!r} is neither a 5-field cron expression nor one of {sorted(CRON_PRESETS)}"
            )
        return cron

    @model_validator(mode="after")
    def _auto_approval_only_for_demo(self) -> MigrationConfig:
        if self.approval.mode == "auto" and not self.demo:
            raise ValueError("approval.mode 'auto' is allowed only in a demo config (demo: true)")
        return self

    @property
    def dag_id(self) -> str:
        return f"{DAG_PREFIX}{self.migration_id}"

    @property
    def rollback_dag_id(self) -> str:
        return f"{ROLLBACK_DAG_PREFIX}{self.migration_id}"

    def staging_url(self) -> str:
        return self.staging.path or f"file://{self.shared_home()}/{self.migration_id}/staging"

    def ledger_url(self) -> str:
        if self.ledger.url:
            return self.ledger.url
        return f"sqlite:///{self.shared_home()}/{self.migration_id}/ledger.db"

    @staticmethod
    def shared_home() -> str:
        """The directory every migration on this machine keeps its local files under."""
        return f"{_airflow_home()}/asapp_intercom"


def _airflow_home() -> str:
    return os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")


_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _expand(value: object, where: str) -> object:
    """Expand ${VAR} / ${VAR:-default} in every string of a parsed YAML document."""
    if isinstance(value, dict):
        return {key: _expand(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match["name"], match["default"]
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise MigrationConfigError(f"{where}: environment variable {name} is not set and has no default")

    return _ENV_REFERENCE.sub(substitute, value)


def load_config(path: Path) -> MigrationConfig:
    """Read and validate one config file; every problem is reported as 'file: field: reason'."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise MigrationConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise MigrationConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return MigrationConfig.model_validate(_expand(document, ""))
    except MigrationConfigError as error:
        raise MigrationConfigError(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise MigrationConfigError(f"{path}: {problems}") from None


def migrations_dir() -> Path:
    """Where the migration configs are: $ASAPP_INTERCOM_MIGRATIONS, else include/migrations of this
    project."""
    configured = os.environ.get("ASAPP_INTERCOM_MIGRATIONS")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "include" / "migrations"


def load_configs(directory: Path) -> list[MigrationConfig]:
    """Every *.yaml in the directory, all validated; one error lists every bad file."""
    configs, problems = [], []
    for path in sorted(directory.glob("*.y*ml")):
        try:
            configs.append(load_config(path))
        except MigrationConfigError as error:
            problems.append(str(error))
    ids = [config.migration_id for config in configs]
    duplicates = sorted({migration_id for migration_id in ids if ids.count(migration_id) > 1})
    if duplicates:
        problems.append(f"{directory}: migration_id used by more than one file: {', '.join(duplicates)}")
    if problems:
        raise MigrationConfigError("\n".join(problems))
    return configs
