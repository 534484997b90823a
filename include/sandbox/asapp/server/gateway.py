"""The front door of the ASAPP API: request ids, credentials, rate limits and injected faults.

A plain ASGI middleware (no per-request task or body buffering), because it runs on every call.
Sandbox control under /_sim/admin passes straight through; signed downloads under /_sim/files need
no ASAPP headers (like S3 presigned URLs) but still get request ids and faults.
"""

import asyncio
import uuid
from collections import Counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError
from .faults import Faults
from .limits import Credentials, DailyCap, SpikeArrest

ADMIN_PREFIX = "/_sim/admin"
DOWNLOAD_PREFIX = "/_sim/files/"


class TrafficStats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.injected_faults: Counter[str] = Counter()


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        *,
        credentials: Credentials,
        spike_arrest: SpikeArrest,
        daily_cap: DailyCap,
        faults: Faults,
        traffic: TrafficStats,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.spike_arrest = spike_arrest
        self.daily_cap = daily_cap
        self.faults = faults
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        request_id_header = (b"x-request-id", request_id.encode())

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            if not scope["path"].startswith(DOWNLOAD_PREFIX):
                self._admit(scope)
            await self._inject_faults(scope["path"])
        except ApiError as error:
            await error.response(request_id)(scope, receive, send_with_request_id)
            return
        await self.app(scope, receive, send_with_request_id)

    def _admit(self, scope: Scope) -> None:
        """Authenticate, then apply the daily cap and spike arrest of the product (first path segment)."""
        product = scope["path"].lstrip("/").split("/", 1)[0]
        self.traffic.requests[product] += 1
        headers = dict(scope["headers"])
        api_id = headers.get(b"asapp-api-id", b"").decode("latin-1")
        secret = headers.get(b"asapp-api-secret", b"").decode("latin-1")
        try:
            self.credentials.authenticate(api_id, secret)
            key = (api_id, product)
            self.daily_cap.check(key)
            self.spike_arrest.admit(key)
            self.daily_cap.count(key)
        except ApiError as error:
            self.traffic.rejections[error.code] += 1
            raise

    async def _inject_faults(self, path: str) -> None:
        if self.faults.slow_ms:
            await asyncio.sleep(self.faults.slow_ms / 1000)
        error = self.faults.injected_error(path)
        if error is not None:
            self.traffic.injected_faults[error.code] += 1
            raise error
