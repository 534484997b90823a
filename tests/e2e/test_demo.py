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
