"""Intercom REST API (version 2.16) through an `intercom` connection.

The connection's host is the API URL (https://api.intercom.io, or a regional or sandbox URL) and
its password the access token, or several separated by commas or new lines: one per private app
installed on the workspace, a token pool the calls are spread over (each app has its own per-minute
limit; the workspace's is shared). Tokens only ever travel in the Authorization header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook
from requests.adapters import HTTPAdapter

from asapp_intercom.domain.intercom import assignment, state_change
from asapp_intercom.hooks.api import ApiError, ApiSession, RetryPolicy
from asapp_intercom.hooks.budget import Limits, SharedBudget, open_store
from asapp_intercom.provider import INTERCOM_FORM

INTERCOM_VERSION = "2.16"
RETRY = RetryPolicy(rate_limited=(1, 2, 5, 10), server_error=(0.5, 1, 2, 4, 8, 15), attempts=10)


def access_tokens(password: str | None) -> list[str]:
    """The connection's tokens: one, or a pool separated by commas, spaces or new lines."""
    return [token for token in re.split(r"[\s,]+", password or "") if token]


def parse_intercom_error(response: requests.Response) -> ApiError:
    """Intercom answers errors as {"type": "error.list", "request_id", "errors": [{code, message}]}."""
    try:
        body = response.json()
        first = body["errors"][0]
        return ApiError(
            response.status_code,
            first.get("code", "unknown"),
            first.get("message", ""),
            body.get("request_id"),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:300] or response.reason)


class IntercomHook(HttpHook):
    """Talks to one Intercom workspace; thread-safe, so a loader can share it across workers."""

    conn_name_attr = "intercom_conn_id"
    default_conn_name = "intercom_default"
    conn_type = "intercom"
    hook_name = "Intercom"
    default_host = "https://api.intercom.io"

    def __init__(
        self,
        intercom_conn_id: str = default_conn_name,
        *,
        limits: Limits | None = None,
        concurrency: int = 8,
        budget_url: str | None = None,
        workspace_id: str | None = None,
    ):
        """`budget_url` is where the calls are counted (hooks/budget.py): without one, this hook's own
        process only. `workspace_id` names the workspace whose budget the calls draw on; unknown, the
        hook asks GET /me once, outside the budget, before its first call."""
        super().__init__(
            method="GET",
            http_conn_id=intercom_conn_id,
            adapter=HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 4), max_retries=0),
        )
        self.limits = limits or Limits()
        self.budget_url = budget_url
        self.workspace_id = workspace_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return INTERCOM_FORM

    def _configure_session_from_auth(self, session: requests.Session, connection) -> requests.Session:
        tokens = access_tokens(connection.password)
        if not tokens:
            raise ValueError(f"Connection {self.http_conn_id!r} has no access token (password)")
        session.auth = None
        session.headers.update(
            {
                "Authorization": f"Bearer {tokens[0]}",
                "Intercom-Version": INTERCOM_VERSION,
                "Accept": "application/json",
            }
        )
        return session

    @cached_property
    def api(self) -> ApiSession:
        session = self.get_conn()
        return ApiSession(
            session, self.base_url, retry=RETRY, parse_error=parse_intercom_error, limiter=self.limiter
        )

    @cached_property
    def limiter(self) -> SharedBudget:
        """The workspace's budget, shared through `budget_url` with every process that names it."""
        tokens = access_tokens(self.get_connection(self.http_conn_id).password)
        workspace = self.workspace_id or (self._ask_workspace if self.budget_url else "this-process")
        return SharedBudget(
            tokens, store=open_store(self.budget_url), limits=self.limits, workspace=workspace
        )

    def _ask_workspace(self) -> str:
        """GET /me on a session of its own, with Intercom's retry rules but outside the budget it names
        (the budget charges the call to its window)."""
        me = ApiSession(self.get_conn(), self.base_url, retry=RETRY, parse_error=parse_intercom_error).json(
            "GET", "/me"
        )
        return str((me.get("app") or {}).get("id_code") or self.base_url)

    def _call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        params: dict | None = None,
        *,
        resend: bool = True,
    ) -> Any:
        """One API call. `resend=False` for writes Intercom cannot de-duplicate (see ApiSession.request)."""
        return self.api.json(method, path, json=body, params=params, resend=resend)

    def _search(self, model: str, query: dict, per_page: int = 150) -> Iterator[dict]:
        """POST /{model}/search with paging in the body, as Intercom requires."""
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": per_page}}
        key = "data" if model == "contacts" else "conversations"
        while True:
            page = self._call("POST", f"/{model}/search", body)
            yield from page.get(key) or page.get("data") or []
            cursor = ((page.get("pages") or {}).get("next") or {}).get("starting_after")
            if not cursor:
                return
            body["pagination"]["starting_after"] = cursor

    def _undo(self, method: str, path: str, body: dict | None = None) -> bool:
        """A delete or detach, resent like any idempotent call. A 404 means it is already gone: the result
        the call wanted, whether an earlier answer was lost (our own delete went through) or someone else
        removed it first. True when this call removed it, False when it was already gone."""
        try:
            self._call(method, path, body)
        except ApiError as error:
            if error.status != 404:
                raise
            return False
        return True

    # Every Intercom call the product makes. Reads and idempotent writes are resent after a 5xx or a
    # lost connection; writes that would be duplicated by a resend (opening a conversation, a reply,
    # an assignment or state change) are sent once, and the loader's recovery finds what they did.
    # Deletes are resent too: Intercom cannot delete a thing twice, and a 404 means it is gone (_undo).

    # Workspace -----------------------------------------------------------------------------
    def get_me(self) -> dict:
        """GET /me: the admin who owns the token, and the workspace."""
        return self._call("GET", "/me")

    def list_admins(self) -> list[dict]:
        """GET /admins: the workspace's teammates (the API cannot create them)."""
        return self._call("GET", "/admins").get("admins", [])

    def count(self, resource: str) -> int | None:
        """GET /contacts or /conversations with one item per page: the total count."""
        return (self._call("GET", f"/{resource}", params={"per_page": 1}) or {}).get("total_count")

    # Data attributes and tags --------------------------------------------------------------
    def list_data_attributes(self, model: str, include_archived: bool = False) -> list[dict]:
        """GET /data_attributes?model=contact|company, or GET /conversations/attributes."""
        params = {"include_archived": "true"} if include_archived else {}
        if model == "conversation":
            return self._call("GET", "/conversations/attributes", params=params or None).get("data", [])
        return self._call("GET", "/data_attributes", params={"model": model, **params}).get("data", [])

    def create_data_attribute(self, model: str, name: str, data_type: str, description: str) -> dict:
        """POST /data_attributes (contact, company) or /conversations/attributes. Not resent: a second
        create of the same name is refused, so the caller checks what exists instead."""
        body = {"name": name, "data_type": data_type, "description": description}
        if model == "conversation":
            return self._call("POST", "/conversations/attributes", body, resend=False)
        return self._call("POST", "/data_attributes", body | {"model": model}, resend=False)

    def archive_data_attribute(self, attribute_id: str) -> bool:
        """PUT /data_attributes/{id} {archived: true} (contact, company): idempotent. False when Intercom has
        no such attribute any more; a 422 (something depends on it) is raised."""
        return self._undo("PUT", f"/data_attributes/{attribute_id}", {"archived": True})

    def unarchive_data_attribute(self, attribute_id: str) -> dict:
        """PUT /data_attributes/{id} {archived: false}: idempotent."""
        return self._call("PUT", f"/data_attributes/{attribute_id}", {"archived": False})

    def rename_conversation_attribute(self, attribute_id: str, name: str) -> bool:
        """PUT /conversations/attributes/{id} {name}: idempotent. False when the attribute is gone."""
        return self._undo("PUT", f"/conversations/attributes/{attribute_id}", {"name": name})

    def archive_conversation_attribute(self, attribute_id: str) -> bool:
        """DELETE /conversations/attributes/{id}, which archives (Intercom cannot unarchive it through the
        API). False when the attribute is gone."""
        return self._undo("DELETE", f"/conversations/attributes/{attribute_id}")

    def list_tags(self) -> list[dict]:
        """GET /tags."""
        return self._call("GET", "/tags").get("data", [])

    def find_or_create_tag(self, name: str) -> dict:
        """POST /tags finds a tag by name (ignoring case) or creates it: safe to repeat."""
        return self._call("POST", "/tags", {"name": name})

    def delete_tag(self, tag_id: str) -> bool:
        """DELETE /tags/{id}: removes it from everything it tags. A 400 `tag_has_dependent_objects` (a segment
        uses it) is raised; False when it is already gone."""
        return self._undo("DELETE", f"/tags/{tag_id}")

    # Companies -----------------------------------------------------------------------------
    def find_company(self, company_id: str) -> dict | None:
        """GET /companies?company_id=…: the company with our id, if Intercom has one (it answers a list)."""
        try:
            found = self._call("GET", "/companies", params={"company_id": company_id})
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return next(iter(found.get("data") or []), None)

    def upsert_company(self, body: dict) -> dict:
        """POST /companies creates or updates by company_id: idempotent."""
        return self._call("POST", "/companies", body)

    def get_company(self, company_id: str) -> dict:
        """GET /companies/{id}."""
        return self._call("GET", f"/companies/{company_id}")

    def update_company(self, company_id: str, body: dict) -> dict:
        """PUT /companies/{id} by Intercom id (unlike the upsert, it never makes a company): idempotent."""
        return self._call("PUT", f"/companies/{company_id}", body)

    def delete_company(self, company_id: str) -> bool:
        """DELETE /companies/{id}: Intercom answers at once, detaches the contacts and archives the company a
        little later. False when it is already gone."""
        return self._undo("DELETE", f"/companies/{company_id}")

    # Contacts ------------------------------------------------------------------------------
    def create_contact(self, body: dict) -> dict:
        """POST /contacts. Resent after a lost answer: a second create answers 409 with the id made."""
        return self._call("POST", "/contacts", body)

    def update_contact(self, contact_id: str, body: dict) -> dict:
        """PUT /contacts/{id}."""
        return self._call("PUT", f"/contacts/{contact_id}", body)

    def get_contact(self, contact_id: str) -> dict:
        """GET /contacts/{id}."""
        return self._call("GET", f"/contacts/{contact_id}")

    def delete_contact(self, contact_id: str) -> bool:
        """DELETE /contacts/{id}. False when it is already gone."""
        return self._undo("DELETE", f"/contacts/{contact_id}")

    def attach_company(self, contact_id: str, company_id: str) -> dict:
        """POST /contacts/{id}/companies with the company's Intercom id; attaching twice is harmless."""
        return self._call("POST", f"/contacts/{contact_id}/companies", {"id": company_id})

    def detach_company(self, contact_id: str, company_id: str) -> bool:
        """DELETE /contacts/{id}/companies/{company_id} (the Intercom id). False when the link (or either
        record) is already gone."""
        return self._undo("DELETE", f"/contacts/{contact_id}/companies/{company_id}")

    def list_contact_companies(self, contact_id: str) -> list[dict]:
        """GET /contacts/{id}/companies."""
        return self._call("GET", f"/contacts/{contact_id}/companies").get("companies", [])

    # Conversations -------------------------------------------------------------------------
    def open_conversation(self, body: dict) -> str:
        """POST /conversations: a conversation the contact opens; returns its id. Sent once."""
        return str(self._call("POST", "/conversations", body, resend=False)["conversation_id"])

    def open_admin_conversation(self, body: dict) -> str:
        """POST /messages with create_conversation_without_contact_reply; returns the id. Sent once."""
        return str(self._call("POST", "/messages", body, resend=False)["conversation_id"])

    def search_conversations(self, query: dict) -> Iterator[dict]:
        """POST /conversations/search (eventually consistent: a new conversation shows up late)."""
        return self._search("conversations", query)

    def count_conversations(self, query: dict) -> int:
        """POST /conversations/search for one item: how many conversations match (as search sees it)."""
        page = self._call("POST", "/conversations/search", {"query": query, "pagination": {"per_page": 1}})
        return int(page.get("total_count") or 0)

    def get_conversation(self, conversation_id: str) -> dict:
        """GET /conversations/{id}, with its 500 newest parts."""
        return self._call("GET", f"/conversations/{conversation_id}")

    def reply(self, conversation_id: str, body: dict) -> dict:
        """POST /conversations/{id}/reply; returns the conversation. Sent once."""
        return self._call("POST", f"/conversations/{conversation_id}/reply", body, resend=False)

    def update_conversation(self, conversation_id: str, body: dict) -> dict:
        """PUT /conversations/{id} (custom attributes): idempotent."""
        return self._call("PUT", f"/conversations/{conversation_id}", body)

    def assign_conversation(self, conversation_id: str, admin_id: str, assignee_id: str) -> dict:
        """POST /conversations/{id}/parts, an assignment; returns the conversation. Sent once."""
        return self._call(
            "POST", f"/conversations/{conversation_id}/parts", assignment(admin_id, assignee_id), resend=False
        )

    def set_conversation_state(self, conversation_id: str, state: str, admin_id: str) -> dict:
        """POST /conversations/{id}/parts, a close or open; returns the conversation. Sent once."""
        return self._call(
            "POST", f"/conversations/{conversation_id}/parts", state_change(state, admin_id), resend=False
        )

    def tag_conversation(self, conversation_id: str, tag_id: str, admin_id: str) -> dict:
        """POST /conversations/{id}/tags; tagging twice is a no-op."""
        return self._call(
            "POST", f"/conversations/{conversation_id}/tags", {"id": tag_id, "admin_id": admin_id}
        )

    def untag_conversation(self, conversation_id: str, tag_id: str, admin_id: str) -> bool:
        """DELETE /conversations/{id}/tags/{tag_id} with {admin_id}. False when the tag is no longer on it."""
        return self._undo("DELETE", f"/conversations/{conversation_id}/tags/{tag_id}", {"admin_id": admin_id})

    def delete_conversation(self, conversation_id: str) -> bool:
        """DELETE /conversations/{id}: irreversible, Intercom keeps no copy. False when it is already gone."""
        return self._undo("DELETE", f"/conversations/{conversation_id}")

    def test_connection(self) -> tuple[bool, str]:
        try:
            me = self.get_me()
        except (ApiError, ValueError) as error:
            return False, str(error)
        return True, f"Connected as {me.get('email')} to workspace {me.get('app', {}).get('name')}"


def refuses_the_record(error: ApiError) -> bool:
    """Whether Intercom refused a record for what it holds (quarantine it, go on with the others).

    Anything else ends the task: an outage (5xx, a lost connection) that outlived the retries, a
    rate limit beyond them, or a token Intercom no longer accepts. The ledger makes its retry safe.
    """
    return 400 <= error.status < 500 and error.status not in {401, 403, 408, 429}
