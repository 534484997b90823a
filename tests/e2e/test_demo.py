"""`make demo` as a person runs it: stopped by a closed terminal (SIGHUP) or SIGTERM, it leaves nothing
behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def processes_under(home: Path) -> list[str]:
    """Live processes of the demo: the sandboxes name its folder, Airflow's components carry it in
    AIRFLOW_HOME."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environment = (entry / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(home) in command or f"AIRFLOW_HOME={home}" in environment:
                found.append(command)
    return found


def test_the_demo_treats_sigterm_and_a_closed_terminal_as_ctrl_c():
    from include.demo.__main__ import STOP_SIGNALS, stop_on_signal

    assert set(STOP_SIGNALS) == {signal.SIGTERM, signal.SIGHUP}  # main() gives each this handler
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        stop_on_signal(signal.SIGTERM, None)


def test_the_demo_stopped_by_a_closed_terminal_stops_airflow_and_both_sandboxes(tmp_path):
    """SIGHUP, as a closed terminal sends it; SIGTERM takes the same handler (the test above)."""
    stop = signal.SIGHUP
    home = tmp_path / "demo"
    demo = subprocess.Popen(
        [sys.executable, "-m", "include.demo", "--conversations", "10", "--home", str(home)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # as a terminal would: the demo leads its own session
    seen = []
    for line in demo.stdout:
        seen.append(line)
        if "Triggered" in line:
            break
    assert processes_under(home), "".join(seen)

    demo.send_signal(stop)
    demo.wait(timeout=120)

    deadline = time.monotonic() + 30
    while processes_under(home) and time.monotonic() < deadline:
        time.sleep(1)
    assert processes_under(home) == []
    assert demo.returncode == 130


def test_make_demo_on_its_messy_tenant_ends_green_with_the_quarantine_shown_then_cuts_over(tmp_path):
    """The demo as `make demo` runs it (the mess on by default; 60 conversations, where every kind of mess
    but the longest conversations already appears, to keep the suite short), to its end."""
    demo = subprocess.run(
        [sys.executable, "-m", "include.demo", "--conversations", "60", "--home", str(tmp_path), "--exit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )

    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-4000:]
    assert "The migration run ended: success" in output and "The cutover run ended: success" in output
    quarantine = output.split("## Quarantined (", 1)[1].split("\n## ", 1)[0]
    assert "| " in quarantine, quarantine  # a table of quarantined items with their reasons
    assert "extract.feed[utterances]: success" in output  # mapped tasks named by feed and by batch
    assert "load.conversations[1 of 1]: success" in output
    assert "**GO: cut over at" in output
