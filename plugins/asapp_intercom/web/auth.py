"""Who may see the plugin's pages: Airflow's own auth manager decides, as for Airflow's own API.

A plugin's FastAPI app gets no authentication from Airflow unless its endpoints ask for it. These
dependencies ask Airflow's: `get_user` accepts a bearer token or, inside the UI, the session cookie
(so a page shown in the UI's frame is the signed-in user's), and `requires_access_dag` checks that
the user may read the DAG's runs. No token → 401, a bad token → 403, a user without the DAG → 403.

Airflow's security module is imported when a page is asked for: every task process loads the
plugin (for macros), and it should not pay for the API server's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser


async def airflow_user(request: Request) -> BaseUser:
    """The signed-in Airflow user, or 401/403."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


async def run_reader(request: Request) -> BaseUser:
    """A user who may read the runs of the DAG named by the request's `dag_id`, or 401/403."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    user = await airflow_user(request)
    await run_in_threadpool(requires_access_dag("GET", DagAccessEntity.RUN), request, user)
    return user


def readable_dag_ids(user: BaseUser) -> set[str]:
    """The DAGs whose runs this user may read (the list of migrations shows only those)."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
