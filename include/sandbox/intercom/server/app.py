"""The HTTP pipeline, as a bare ASGI app: auth, version header, rate limit, faults, validation, handler.

A bare ASGI callable (no framework middleware stack) keeps the per-request cost small, so that
measurements of a loader are never bounded by the sandbox, and gives direct access to the
connection, which dropping a connection without an answer needs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from urllib.parse import parse_qsl

import orjson

from include.sandbox.intercom.resources import (
    admins,
    attachments,
    attributes,
    companies,
    contacts,
    conversations,
    tags,
    tickets,
)
from include.sandbox.intercom.server import control
from include.sandbox.intercom.server.errors import IntercomError
from include.sandbox.intercom.server.routing import Call, Reply, Route, Router
from include.sandbox.intercom.server.sandbox import Sandbox, running
from include.sandbox.intercom.server.spec import contract, load_document

log = logging.getLogger("intercom_sandbox")

JSON = "application/json; charset=utf-8"
ERROR_CODES_BY_STATUS = {
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
    504: "request_timeout",
}
MODULES = (admins, contacts, companies, tags, attributes, conversations, tickets, attachments, control)


def all_routes() -> list[Route]:
    return [
        Route(method, path, operation_id, handler, *extra)
        for module in MODULES
        for method, path, operation_id, handler, *extra in module.ROUTES
    ]


class SandboxApp:
    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.router = Router(all_routes())
        self.contract = contract()
        self.versions = set(load_document()["components"]["schemas"]["intercom_version"]["enum"])

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        context = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                context = running(self.sandbox)
                await context.__aenter__()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if context is not None:
                    await context.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send) -> None:
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        request_id = str(uuid.uuid4())
        route, params = self.router.match(scope["method"], scope["path"])
        base_url = f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}"
        try:
            if route is not None and route.operation_id is None:
                reply = await self._run(route, params, scope, receive, request_id, base_url)
                await self._send(send, reply, request_id, {})
                return
            await self._api(scope, receive, send, headers, route, params, request_id, base_url)
        except IntercomError as error:
            await self._send(send, Reply(error.status, error.body(request_id), error.headers), request_id, {})

    async def _api(self, scope, receive, send, headers, route, params, request_id, base_url) -> None:
        sandbox = self.sandbox
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token not in sandbox.settings.tokens:
            sandbox.stats.unauthorized += 1
            raise IntercomError(401, "unauthorized", "Access Token Invalid")
        decision = sandbox.limiter.take(token)
        sandbox.stats.record(token, decision, sandbox.limiter)
        rate_headers = decision.headers
        try:
            version = headers.get("intercom-version")
            if version is not None and version not in self.versions:
                raise IntercomError(
                    400, "intercom_version_invalid", f"Intercom-Version '{version}' is not a valid version"
                )
            if not decision.allowed:
                raise IntercomError(429, "rate_limit_exceeded", decision.message)
            faults = sandbox.faults
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if faults.draw("rate_limit"):
                rate_headers = {**rate_headers, "X-RateLimit-Remaining": "0"}
                raise IntercomError(429, "rate_limit_exceeded", sandbox.limiter.exceeded_message())
            if faults.phase == "before" and await self._inject_failure(
                faults, receive, send, request_id, rate_headers, token, body_read=False
            ):
                return
            if route is None:
                raise IntercomError(404, "not_found", "Resource Not Found")
            reply = await self._run(route, params, scope, receive, request_id, base_url)
            if faults.phase == "after" and await self._inject_failure(
                faults, receive, send, request_id, rate_headers, token, body_read=True
            ):
                return
        except IntercomError as error:
            reply = Reply(error.status, error.body(request_id), error.headers)
        sandbox.stats.answered(token, reply.status)
        await self._send(send, reply, request_id, rate_headers)

    async def _inject_failure(
        self, faults, receive, send, request_id: str, rate_headers: dict, token: str, body_read: bool
    ) -> bool:
        if faults.draw("drop"):
            await _drop_connection(receive, send, body_read)
            return True
        if faults.draw("error"):
            status = faults.error_status
            error = IntercomError(status, ERROR_CODES_BY_STATUS.get(status, "server_error"), "Server Error")
            self.sandbox.stats.answered(token, status)
            await self._send(send, Reply(status, error.body(request_id)), request_id, rate_headers)
            return True
        return False

    async def _run(self, route: Route, params, scope, receive, request_id: str, base_url: str) -> Reply:
        operation = self.contract.operation(route.operation_id) if route.operation_id else None
        raw_body = await _read_body(receive)
        body = None
        if raw_body.strip() and operation is not None and operation.body_validator is not None:
            _check_json_content_type(scope)
        if raw_body.strip() and (operation is None or operation.body_validator is not None):
            try:
                body = orjson.loads(raw_body)
            except orjson.JSONDecodeError:
                raise IntercomError(400, "bad_request", "The request body is not valid JSON") from None
        elif operation is not None and operation.body_validator is not None:
            body = {}  # no body at all reads as an empty object
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if operation is not None:
            query = operation.parse_query(query, route.messages)
            if operation.body_validator is not None:
                if body is None and operation.body_validator.is_valid(None):
                    body = {}  # a JSON `null` where the schema is `nullable` means no fields, as no body does
                operation.check_body(body, route.messages)
        call = Call(self.sandbox, params, query, body, request_id, operation, base_url)
        try:
            result = await route.handler(call) if route.is_async else route.handler(call)
        except IntercomError:
            raise
        except Exception:
            log.exception("unexpected error in %s %s", scope["method"], scope["path"])
            raise IntercomError(500, "server_error", "Server Error") from None
        return result if isinstance(result, Reply) else Reply(200, result)

    async def _send(self, send, reply: Reply, request_id: str, rate_headers: dict[str, str]) -> None:
        if reply.payload is None:
            payload = b""
        elif isinstance(reply.payload, bytes):
            payload = reply.payload
        else:
            payload = orjson.dumps(reply.payload)
        response_headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        for name, value in (*rate_headers.items(), *reply.headers.items()):
            response_headers.append((name.lower().encode(), value.encode("latin-1")))
        await send({"type": "http.response.start", "status": reply.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})


def _check_json_content_type(scope) -> None:
    """The description defines JSON bodies only: a body declared as something else is refused (a body
    without any Content-Type is read as JSON)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-type":
            media_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                raise IntercomError(
                    400, "bad_request", "The request body must be JSON (Content-Type: application/json)"
                )


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _drop_connection(receive, send, body_read: bool) -> None:
    """Close the socket without any answer (a dropped connection, as a client sees it).

    ASGI has no message for this, so the transport is reached through uvicorn's send callable; the
    request is then waited out until the server notices the disconnect.
    """
    if not body_read:
        await _read_body(receive)
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("dropping connections needs uvicorn's HTTP protocol")
    transport.close()
    while (await receive())["type"] != "http.disconnect":
        pass
