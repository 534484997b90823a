"""Migration config files: what loads, and what an operator is told when a file cannot be used."""

from datetime import date
from pathlib import Path

import pytest
import yaml
from asapp_intercom.domain.config import MigrationConfigError, load_config, load_configs
from asapp_intercom.domain.run_form import RunMode, ThreadMode

from tests.conftest import ROOT

MINIMAL = {
    "migration_id": "acme_eu",
    "start_date": "2026-01-05",
    "asapp": {"bucket": "asapp-exports", "company_marker": "acme"},
}


def write(directory: Path, name: str, document: object) -> Path:
    path = directory / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), encoding="utf-8")
    return path


def with_changes(**changes) -> dict:
    return {**MINIMAL, **changes}


def refusal(path: Path) -> str:
    with pytest.raises(MigrationConfigError) as raised:
        load_config(path)
    return str(raised.value)


def test_a_minimal_config_loads_with_the_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, "acme.yaml", MINIMAL))

    assert config.migration_id == "acme_eu"
    assert config.start_date == date(2026, 1, 5)
    assert config.dag_id == "asapp_to_intercom__acme_eu"
    assert (config.asapp.conn_id, config.intercom.conn_id) == ("asapp_default", "intercom_default")
    assert config.approval.mode == "human"
    assert config.schedule is None
    assert config.run_defaults.mode is RunMode.full
    assert config.run_defaults.thread_mode is ThreadMode.parts
    assert config.run_defaults.objects == ("companies", "contacts", "conversations", "attachments", "tags")


def test_the_shipped_demo_config_loads(monkeypatch):
    monkeypatch.delenv("ASAPP_INTERCOM_DEMO_HOME", raising=False)
    config = load_config(ROOT / "include" / "migrations" / "demo.yaml")

    assert config.demo and config.approval.mode == "auto"
    assert config.staging_url() == "file:///tmp/asapp-intercom-demo/staging"


def test_bucket_prefix_slashes_are_dropped(tmp_path):
    document = with_changes(asapp={**MINIMAL["asapp"], "prefix": "/exports/acme/"})
    assert load_config(write(tmp_path, "acme.yaml", document)).asapp.prefix == "exports/acme"


def test_environment_references_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_BUCKET", "acme-from-env")
    monkeypatch.delenv("ACME_LEDGER", raising=False)
    document = with_changes(
        asapp={"bucket": "${ACME_BUCKET}", "company_marker": "acme"},
        ledger={"url": "${ACME_LEDGER:-sqlite:////var/lib/acme/ledger.db}"},
        staging={"path": "s3://aws_default@${ACME_BUCKET}/staging/${ACME_LEDGER:-}"},
    )

    config = load_config(write(tmp_path, "acme.yaml", document))

    assert config.asapp.bucket == "acme-from-env"
    assert config.ledger_url() == "sqlite:////var/lib/acme/ledger.db"
    assert config.staging_url() == "s3://aws_default@acme-from-env/staging/"


def test_a_set_variable_wins_over_its_default(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_MARKER", "acme-prod")
    document = with_changes(asapp={"bucket": "b", "company_marker": "${ACME_MARKER:-acme-dev}"})
    assert load_config(write(tmp_path, "acme.yaml", document)).asapp.company_marker == "acme-prod"


def test_an_expanded_number_is_validated_as_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_RPM", "2400")
    document = with_changes(intercom={"requests_per_minute": "${ACME_RPM}"})
    assert load_config(write(tmp_path, "acme.yaml", document)).intercom.requests_per_minute == 2400


def test_default_paths_live_under_airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path, "acme.yaml", MINIMAL))

    assert config.staging_url() == f"file://{tmp_path}/home/asapp_intercom/acme_eu/staging"
    assert config.ledger_url() == f"sqlite:///{tmp_path}/home/asapp_intercom/acme_eu/ledger.db"


@pytest.mark.parametrize(
    ("preset", "cron"), [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0")]
)
def test_schedule_presets_become_cron_expressions(tmp_path, preset, cron):
    assert load_config(write(tmp_path, "acme.yaml", with_changes(schedule=preset))).schedule == cron


def test_a_cron_expression_is_kept_as_written(tmp_path):
    config = load_config(write(tmp_path, "acme.yaml", with_changes(schedule="15 */2 * * 1-5")))
    assert config.schedule == "15 */2 * * 1-5"


def test_auto_approval_is_accepted_in_a_demo_config(tmp_path):
    document = with_changes(demo=True, approval={"mode": "auto"})
    assert load_config(write(tmp_path, "demo.yaml", document)).approval.mode == "auto"


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        (
            with_changes(asapp={**MINIMAL["asapp"], "buckett": "typo"}),
            "asapp.buckett",
            "Extra inputs are not permitted",
        ),
        (with_changes(surprise=True), "surprise", "Extra inputs are not permitted"),
        (
            with_changes(intercom={"requests_per_minute": "lots"}),
            "intercom.requests_per_minute",
            "valid integer",
        ),
        (with_changes(intercom={"requests_per_minute": 0}), "intercom.requests_per_minute", "greater than 0"),
        (with_changes(intercom={"concurrency": 65}), "intercom.concurrency", "less than or equal to 64"),
        (with_changes(run_defaults={"objects": ["tickets"]}), "run_defaults.objects.0", "'companies'"),
        (with_changes(run_defaults={"thread_mode": "threads"}), "run_defaults.thread_mode", "'transcript'"),
        (with_changes(migration_id="Acme-EU"), "migration_id", "should match pattern"),
        (with_changes(migration_id="9lives"), "migration_id", "should match pattern"),
        (with_changes(start_date="next monday"), "start_date", "valid date"),
        (with_changes(schedule="every hour"), "schedule", "neither a 5-field cron expression nor one of"),
        (with_changes(schedule="@monthly"), "schedule", "neither a 5-field cron expression nor one of"),
        (with_changes(approval={"mode": "auto"}), "(top level)", "allowed only in a demo config"),
        (with_changes(staging={"memory_limit": "plenty"}), "staging.memory_limit", "should match pattern"),
        ({key: value for key, value in MINIMAL.items() if key != "asapp"}, "asapp", "Field required"),
    ],
    ids=[
        "unknown nested key",
        "unknown top-level key",
        "wrong type",
        "non-positive rate",
        "too much concurrency",
        "unknown object",
        "unknown thread mode",
        "migration_id with capitals and dash",
        "migration_id starting with a digit",
        "not a date",
        "schedule not cron",
        "unknown preset",
        "auto approval outside a demo",
        "memory limit without a unit",
        "missing section",
    ],
)
def test_a_bad_setting_is_reported_with_file_field_and_reason(tmp_path, document, field, reason):
    path = write(tmp_path, "acme.yaml", document)

    message = refusal(path)

    assert message.startswith(f"{path}: ")
    assert f"{field}: " in message
    assert reason in message


def test_every_problem_in_one_file_is_reported_together(tmp_path):
    path = write(tmp_path, "acme.yaml", with_changes(migration_id="Bad", schedule="often"))
    message = refusal(path)
    assert "migration_id: " in message and "schedule: " in message


def test_a_missing_environment_variable_without_default_names_the_field_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("ACME_UNSET_BUCKET", raising=False)
    path = write(
        tmp_path, "acme.yaml", with_changes(asapp={"bucket": "${ACME_UNSET_BUCKET}", "company_marker": "a"})
    )

    assert refusal(path) == (
        f"{path}: asapp.bucket: environment variable ACME_UNSET_BUCKET is not set and has no default"
    )


def test_a_missing_variable_inside_a_list_names_its_position(tmp_path, monkeypatch):
    monkeypatch.delenv("ACME_UNSET_FEED", raising=False)
    asapp = {**MINIMAL["asapp"], "file_exporter_feeds": ["autosummary_structured_data", "${ACME_UNSET_FEED}"]}
    assert "asapp.file_exporter_feeds[1]: environment variable ACME_UNSET_FEED" in refusal(
        write(tmp_path, "acme.yaml", with_changes(asapp=asapp))
    )


def test_a_file_that_is_not_yaml_is_refused(tmp_path):
    path = write(tmp_path, "acme.yaml", "migration_id: [unclosed\n")
    assert refusal(path).startswith(f"{path}: not valid YAML")


@pytest.mark.parametrize(
    "text", ["- migration_id: acme\n", "just a sentence\n", ""], ids=["a list", "a scalar", "empty"]
)
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path, text):
    path = write(tmp_path, "acme.yaml", text)
    assert refusal(path) == f"{path}: expected a mapping of settings at the top level"


def test_load_configs_reads_every_yaml_file_of_the_folder(tmp_path):
    write(tmp_path, "b.yaml", with_changes(migration_id="beta"))
    write(tmp_path, "a.yml", with_changes(migration_id="alpha"))
    write(tmp_path, "notes.txt", "not a config")

    assert [config.migration_id for config in load_configs(tmp_path)] == ["alpha", "beta"]


def test_load_configs_reports_every_bad_file_at_once(tmp_path):
    broken = write(tmp_path, "broken.yaml", "a: [\n")
    wrong = write(tmp_path, "wrong.yaml", with_changes(migration_id="Wrong"))
    write(tmp_path, "good.yaml", MINIMAL)

    with pytest.raises(MigrationConfigError) as raised:
        load_configs(tmp_path)

    lines = str(raised.value).splitlines()
    assert any(line.startswith(f"{broken}: not valid YAML") for line in lines)
    assert any(line.startswith(f"{wrong}: migration_id: ") for line in lines)
    assert not any("good.yaml" in line for line in lines)


def test_two_files_with_the_same_migration_id_are_refused(tmp_path):
    write(tmp_path, "one.yaml", MINIMAL)
    write(tmp_path, "two.yaml", with_changes(description="a copy someone forgot to rename"))

    with pytest.raises(MigrationConfigError) as raised:
        load_configs(tmp_path)

    assert str(raised.value) == f"{tmp_path}: migration_id used by more than one file: acme_eu"
