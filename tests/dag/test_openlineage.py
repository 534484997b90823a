"""OpenLineage under dag.test(): with the provider's file transport configured, a run says which ASAPP feeds
it read and which Intercom objects it wrote, with the row counts of its manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.airflow

RUN = """
import sys
from airflow.dag_processing.dagbag import DagBag

run = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2]).test(run_conf={"mode": "sample", "sample_size": 4})
print("RESULT", run.state, run.run_id)
"""


def test_a_run_emits_the_feeds_it_read_and_the_intercom_objects_it_wrote(migration, tmp_path):
    config = yaml.safe_load(migration.config_path.read_text())
    config["intercom"]["batch_size"] = 2  # several batches per step: the step's lineage counts them all
    migration.config_path.write_text(yaml.safe_dump(config))
    events_file = tmp_path / "openlineage.jsonl"
    environment = {
        **os.environ,
        # OpenLineage's provider reads its config when Airflow loads plugins: a process of its own.
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "asapp_intercom_tests",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(ROOT / "dags"), migration.dag_id],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _, state, run_id = next(line for line in done.stdout.splitlines() if line.startswith("RESULT ")).split(
        " ", 2
    )
    assert state == "success", done.stdout[-3000:]
    report = migration.report(type("Run", (), {"run_id": run_id}))
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = [event for event in events if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]]

    feeds_read = {
        (dataset["namespace"], dataset["name"]): dataset["inputFacets"]["inputStatistics"]["rowCount"]
        for event in complete
        if ".extract.feed" in event["job"]["name"]
        for dataset in event["inputs"]
    }
    bucket = f"s3://{migration.asapp.bucket}"
    for feed, staged in report["feeds"].items():
        if not staged["available"]:
            continue
        if staged["channel"] == "s3":
            key = (bucket, f"{feed}/version=1/format=jsonl")
        else:
            key = next(name for name in feeds_read if name[1] == f"file_exporter/{feed}")
        assert feeds_read[key] == staged["rows_staged"] + staged["rows_quarantined"], feed

    outputs = [
        (dataset["name"], dataset["namespace"], dataset["outputFacets"]["outputStatistics"]["rowCount"])
        for event in complete
        if ".load." in event["job"]["name"]
        for dataset in event["outputs"]
    ]
    written = {name: (namespace, rows) for name, namespace, rows in outputs}
    assert len(written) == len(outputs)  # one event per step (its manifest task), none per batch
    steps = {"company": "companies", "contact": "contacts", "conversation": "conversations"}
    workspace = {namespace for namespace, _ in written.values()}
    assert len(workspace) == 1 and workspace.pop().startswith("intercom://")
    for row in report["objects"]:
        if row["object"] in steps:
            assert written[steps[row["object"]]][1] == row["created"] + row["updated"] > 0, row
