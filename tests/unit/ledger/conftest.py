"""The ledger's tests run on SQLite and on a throwaway PostgreSQL server."""

from __future__ import annotations

import pytest

from tests.support.postgres import run_postgres, server_binaries


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server's `postgres` database."""
    if server_binaries() is None:
        pytest.skip("PostgreSQL's server binaries are not installed")
    with run_postgres("ledger-postgres-") as server:
        yield f"{server}/postgres"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    return (
        f"sqlite:///{tmp_path}/ledger.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
