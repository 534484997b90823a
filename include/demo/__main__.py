"""Run the demo migration end to end and leave the Airflow UI open to look around.

    python -m include.demo [--conversations 150] [--port 8080] [--exit] [--home .demo]

Everything lives in .demo/ (wiped at start): the dataset, both sandboxes' state, the Airflow home, the
migration's staging area, ledger, reports (the migration run's and the cutover's) and configuration
inventory. Ctrl+C, SIGTERM or a closed terminal stop it all.
"""

import argparse
import gzip
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from asapp_intercom.pipeline.staging import run_key

from include.demo.airflow_stack import ROOT, free_port, run_airflow
from include.sandbox.asapp.server.launcher import run_asapp_sandbox
from include.sandbox.intercom.server.launcher import run_intercom_sandbox

DAG_ID = "asapp_to_intercom__demo"
BOT = {"name": "ASAPP Bot", "email": "bot@acme-support.example"}
SHOWN = {"running", "success", "failed", "skipped", "deferred", "awaiting_input"}
"""The task states the demo reports as they come."""


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def agent_emails(data: Path) -> list[str]:
    """The agents' emails in the dataset (its mess included: broken lines are passed over)."""
    emails = set()
    for path in sorted((data / "rep_attributes").rglob("rep_attributes.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    row = json.loads(line)
                    if row["attribute_name"] == "email":
                        emails.add(row["attribute_value"])
                except (ValueError, TypeError, KeyError):
                    continue
    return sorted(emails)


def stop_on_signal(signum: int, _frame) -> None:
    """SIGTERM or a closed terminal (SIGHUP) stops the demo as Ctrl+C does: the sandboxes and Airflow go
    too."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop_on_signal)
    parser = argparse.ArgumentParser(
        prog="python -m include.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--conversations", type=int, default=150)
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI and API (a free one if taken)")
    parser.add_argument("--exit", action="store_true", help="stop everything once the summary is printed")
    parser.add_argument(
        "--home", type=Path, default=ROOT / ".demo", help="where everything lives (wiped at start)"
    )
    args = parser.parse_args()

    home = args.home.resolve()
    shutil.rmtree(home, ignore_errors=True)
    data = home / "asapp-data"
    say(f"Generating an ASAPP dataset of {args.conversations} conversations in {data}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "include.sandbox.asapp",
            "generate",
            "--out",
            str(data),
            "--seed",
            "7",
            "--conversations",
            str(args.conversations),
        ],
        check=True,
        cwd=ROOT,
    )

    window_end = datetime.fromisoformat(
        json.loads((data / "_manifest.json").read_text())["realtime_window"]["end"]
    )
    # ASAPP's clock: just after the real-time window, when every batch is delivered and every event retained.
    with (
        run_asapp_sandbox(
            data, daily_cap=1_000_000, clock=(window_end + timedelta(hours=1)).isoformat()
        ) as asapp,
        run_intercom_sandbox(home / "intercom-workspace.json") as intercom,
    ):
        say(f"ASAPP sandbox: API {asapp.api_url}, S3 {asapp.s3_endpoint_url} bucket {asapp.bucket}")
        emails = agent_emails(data)
        teammates = [
            {"name": email.split("@")[0].replace(".", " ").title(), "email": email}
            for index, email in enumerate(emails)
            if index % 3
        ]
        intercom.add_admins(BOT, *teammates)
        say(
            f"Intercom sandbox: {intercom.url}; {len(teammates)} of {len(emails)} ASAPP agents have an "
            f"Intercom "
            "teammate (the others show up in the report)"
        )
        connections = {
            "asapp_demo": {
                "conn_type": "asapp",
                "host": asapp.api_url,
                "login": asapp.api_id,
                "password": asapp.api_secret,
            },
            "asapp_demo_s3": asapp.aws_connection(),
            "intercom_demo": {"conn_type": "intercom", "host": intercom.url, "password": intercom.token},
        }
        port = args.port if _port_free(args.port) else free_port()
        say("Starting Airflow (scheduler, DAG processor, triggerer, API server) on SQLite")
        with run_airflow(
            home / "airflow",
            ROOT / "include/migrations",
            connections,
            port=port,
            env={"ASAPP_INTERCOM_DEMO_HOME": str(home)},
        ) as airflow:
            airflow.wait_for_dag(DAG_ID)
            run_id = airflow.trigger(DAG_ID, {"mode": "full"})
            say(
                f"Triggered {DAG_ID} ({run_id}). The demo config approves its own field map, and its "
                "map.approved log says so; a real config waits for a person in Browse → Required Actions."
            )
            state = follow(airflow, run_id)
            report = home / "staging" / "runs" / run_key(run_id) / "report.md"
            if report.exists():
                print("\n" + summary(report.read_text()))
                say(f"Full report: {report}")
            say(f"The migration run ended: {state}")
            if state == "success":
                state = cut_over(airflow, home, window_end)
            say(f"Configuration inventory and implementation guide: {home / 'staging' / 'inventory'}")
            say(f"Airflow UI: {airflow.url}  (user admin, password {airflow.password})")
            say(f"Intercom sandbox workspace export: {intercom.url}/_sandbox/export")
            if not args.exit:
                say("Press Ctrl+C to stop the demo.")
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    pass
            say("Stopping.")
            if state != "success":
                sys.exit(1)


def follow(airflow, run_id: str) -> str:
    """Waits for the run, saying each task's moves as the grid shows them; returns how it ended."""
    seen: dict[str, str] = {}

    def progress(_run_state: str) -> None:
        for task, state in airflow.task_states(DAG_ID, run_id).items():
            if seen.get(task) != state and state in SHOWN:
                say(f"  {task}: {state}")
            seen[task] = state

    state = airflow.wait(DAG_ID, run_id, timeout=900, on_progress=progress)
    progress(state)
    return state


def cut_over(airflow, home: Path, freeze: datetime) -> str:
    """The cutover, frozen at the end of the real-time window: the final delta (nothing left to send),
    a read-back of what changed since, and a go/no-go page of its own."""
    run_id = airflow.trigger(DAG_ID, {"mode": "full", "cutover_at": freeze.isoformat()})
    say(f"Triggered the cutover, frozen at {freeze.isoformat()} ({run_id})")
    state = follow(airflow, run_id)
    cutover = home / "staging" / "runs" / run_key(run_id) / "cutover.md"
    if cutover.exists():
        print("\n" + cutover.read_text())
        say(f"Cutover report: {cutover}")
    say(f"The cutover run ended: {state}")
    return state


def summary(report: str) -> str:
    """The report's objects table and the head of its quarantine and field lists: what a person checks
    first."""
    sections = report.split("\n## ")
    kept = [sections[0]]
    for section in sections[1:]:
        title = section.split("\n", 1)[0]
        if title.startswith(("Why the run failed", "Objects", "Quarantined", "Fields left out")):
            lines = section.splitlines()
            kept.append("\n".join(lines[:18] + (["…"] if len(lines) > 18 else [])))
    return "\n## ".join(kept)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as stop:
        say(f"Stopped ({stop or 'Ctrl+C'}); Airflow and both sandboxes are stopped too.")
        sys.exit(130)
