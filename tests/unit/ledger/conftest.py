"""The ledger's tests run on SQLite and on a throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from glob import glob
from pathlib import Path

import pytest

from include.demo.airflow_stack import free_port


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server from the machine's own binaries (Debian's layout)."""
    initdb = shutil.which("initdb") or next(iter(sorted(glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if initdb is None:
        pytest.skip("PostgreSQL's server binaries are not installed")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    home = Path(
        tempfile.mkdtemp(prefix="ledger-postgres-")
    )  # not under pytest's 0700 tree: postgres must enter it
    as_owner: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(home, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_owner, initdb, "-D", f"{home}/data", "-U", "ledger", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_owner,
            pg_ctl,
            "-D",
            f"{home}/data",
            "-l",
            f"{home}/server.log",
            "-w",
            "start",
            "-o",
            f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://ledger@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_owner, pg_ctl, "-D", f"{home}/data", "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    return (
        f"sqlite:///{tmp_path}/ledger.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
