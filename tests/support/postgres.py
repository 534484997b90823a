"""A throwaway PostgreSQL server from the machine's own binaries (Debian's layout), for the ledger's tests
and for the end-to-end stacks' Airflow metadata database."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob
from pathlib import Path

from include.demo.airflow_stack import free_port


def server_binaries() -> Path | None:
    """initdb's path, or None where PostgreSQL's server is not installed."""
    found = shutil.which("initdb") or next(iter(sorted(glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return Path(found) if found else None


@contextmanager
def run_postgres(prefix: str) -> Iterator[str]:
    """Start a server (no fsync: nothing here must survive a crash); yields its URL without a database
    name (`…/postgres` is always there)."""
    initdb = server_binaries()
    if initdb is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed")
    home = Path(tempfile.mkdtemp(prefix=prefix))  # not under pytest's 0700 tree: postgres must enter it
    as_owner: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(home, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    pg_ctl = str(initdb.with_name("pg_ctl"))
    subprocess.run(
        [*as_owner, str(initdb), "-D", f"{home}/data", "-U", "ledger", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [*as_owner, pg_ctl, "-D", f"{home}/data", "-l", f"{home}/server.log", "-w", "start", "-o", options],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://ledger@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_owner, pg_ctl, "-D", f"{home}/data", "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(home, ignore_errors=True)


def create_database(server: str, name: str) -> str:
    """A new, empty database on the server; returns its URL."""
    import psycopg

    with psycopg.connect(
        server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True
    ) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"
