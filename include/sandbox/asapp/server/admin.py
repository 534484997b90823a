"""Sandbox control under /_sim/admin (no ASAPP credentials): clock, faults, keys, events, push, stats."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.routing import Route

from .attachments import AttachmentCatalog
from .clock import SandboxClock, format_instant, parse_instant
from .errors import JSONResponse, bad_request, not_found
from .faults import Faults
from .gateway import TrafficStats
from .limits import Credentials, DailyCap
from .payloads import read_json, read_json_object
from .push import PushDispatcher
from .realtime import EventLog

BASE = "/_sim/admin"


class AdminApi:
    def __init__(
        self,
        *,
        clock: SandboxClock,
        faults: Faults,
        credentials: Credentials,
        daily_cap: DailyCap,
        traffic: TrafficStats,
        events: EventLog,
        push: PushDispatcher,
        attachments: AttachmentCatalog,
        refresh: Callable[[], Awaitable[None]],
        reset_configuration: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.credentials = credentials
        self.daily_cap = daily_cap
        self.traffic = traffic
        self.events = events
        self.push = push
        self.attachments = attachments  # appended events may describe uploads getattachmentfile serves
        self.refresh = refresh  # brings S3, File Exporter and push in line after the clock or faults change
        self.reset_configuration = reset_configuration

    def routes(self) -> list[Route]:
        return [
            Route(f"{BASE}/clock", self.get_clock, methods=["GET"]),
            Route(f"{BASE}/clock", self.put_clock, methods=["PUT"]),
            Route(f"{BASE}/faults", self.get_faults, methods=["GET"]),
            Route(f"{BASE}/faults", self.put_faults, methods=["PUT"]),
            Route(f"{BASE}/stats", self.stats, methods=["GET"]),
            Route(BASE + "/keys/{api_id}/{action:str}", self.key_action, methods=["POST"]),
            Route(f"{BASE}/events", self.append_events, methods=["POST"]),
            Route(f"{BASE}/configuration/reset", self.reset, methods=["POST"]),
            Route(f"{BASE}/push-endpoints", self.list_push_endpoints, methods=["GET"]),
            Route(f"{BASE}/push-endpoints", self.add_push_endpoint, methods=["POST"]),
            Route(BASE + "/push-endpoints/{endpoint_id}", self.remove_push_endpoint, methods=["DELETE"]),
        ]

    async def get_clock(self, request: Request) -> JSONResponse:
        return JSONResponse({"now": format_instant(self.clock.now())})

    async def put_clock(self, request: Request) -> JSONResponse:
        """{"now": ISO} sets the clock, {"advance_seconds": n} moves it; it keeps running afterwards."""
        body = await read_json_object(request)
        if isinstance(body.get("now"), str):
            try:
                self.clock.set(parse_instant(body["now"]))
            except ValueError:
                raise bad_request("/now", "must be an ISO-8601 instant") from None
        elif isinstance(body.get("advance_seconds"), int | float) and not isinstance(
            body["advance_seconds"], bool
        ):
            self.clock.advance(body["advance_seconds"])
        else:
            raise bad_request("/", 'send {"now": ISO-8601} or {"advance_seconds": number}')
        await self.refresh()
        return await self.get_clock(request)

    async def get_faults(self, request: Request) -> JSONResponse:
        return JSONResponse(self.faults.as_dict())

    async def put_faults(self, request: Request) -> JSONResponse:
        self.faults.update(await read_json_object(request))
        await self.refresh()
        return JSONResponse(self.faults.as_dict())

    async def stats(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "now": format_instant(self.clock.now()),
                "requests": dict(self.traffic.requests),
                "rejections": dict(self.traffic.rejections),
                "injected_faults": dict(self.traffic.injected_faults),
                "daily": {
                    "date": self.clock.now().date().isoformat(),
                    "cap": self.daily_cap.cap,
                    "counts": self.daily_cap.today(),
                },
                "push": {
                    **self.push.totals(),
                    "endpoints": [endpoint.describe() for endpoint in self.push.endpoints.values()],
                },
                "revoked_keys": sorted(self.credentials.revoked),
            }
        )

    async def key_action(self, request: Request) -> JSONResponse:
        api_id, action = request.path_params["api_id"], request.path_params["action"]
        if action == "revoke":
            self.credentials.revoked.add(api_id)
        elif action == "restore":
            self.credentials.revoked.discard(api_id)
        else:
            raise not_found(f"key action '{action}'")
        return JSONResponse({"apiId": api_id, "revoked": api_id in self.credentials.revoked})

    async def append_events(self, request: Request) -> JSONResponse:
        """A JSON list of envelopes, added to the real-time log (visible once their create_time passes)."""
        envelopes = await read_json(request)
        if not isinstance(envelopes, list):
            raise bad_request("/", "body must be a JSON list of event envelopes")
        appended = self.events.append(envelopes, self.clock.timestamp())
        self.attachments.learn(envelopes)
        self.push.wake()
        return JSONResponse({"appended": appended})

    async def reset(self, request: Request) -> JSONResponse:
        """Structured-data fields and segments back to the dataset's (create, update, delete forgotten)."""
        self.reset_configuration()
        return JSONResponse({"reset": True})

    async def list_push_endpoints(self, request: Request) -> JSONResponse:
        return JSONResponse({"endpoints": [endpoint.describe() for endpoint in self.push.endpoints.values()]})

    async def add_push_endpoint(self, request: Request) -> JSONResponse:
        endpoint = self.push.add(await read_json_object(request))
        return JSONResponse(endpoint.describe(), 201)

    async def remove_push_endpoint(self, request: Request) -> JSONResponse:
        if not self.push.remove(request.path_params["endpoint_id"]):
            raise not_found(f"push endpoint '{request.path_params['endpoint_id']}'")
        return JSONResponse({})
