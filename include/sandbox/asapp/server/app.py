"""One running sandbox: its components wired together, the Starlette application, and serve()."""

import asyncio
import contextlib
import logging
import socket
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route

from .admin import AdminApi
from .attachments import AttachmentCatalog
from .autosummary import AutosummaryApi
from .clock import SandboxClock
from .configuration import ConfigurationApi
from .dataset import Dataset
from .downloads import SignedUrls
from .errors import ApiError, JSONResponse
from .faults import Faults
from .fileexporter import FileExporterApi
from .gateway import Gateway, TrafficStats
from .limits import Credentials, DailyCap, SpikeArrest
from .publisher import PartitionPublisher
from .push import PushDispatcher
from .realtime import EventLog, RealtimeApi
from .s3 import SandboxS3, export_bucket_name

log = logging.getLogger("include.sandbox.asapp.server")

TICK_SECONDS = 0.5  # how often a running clock is checked for partitions that came due


@dataclass(frozen=True)
class ServerOptions:
    data: Path
    host: str
    port: int
    s3_port: int
    api_id: str
    api_secret: str
    daily_cap: int
    spike_rps: float
    url_ttl: int
    clock: datetime | None
    hourly_lag_minutes: float
    region: str
    bucket: str | None


class Sandbox:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.clock = SandboxClock(options.clock)
        self.dataset = Dataset(options.data, timedelta(minutes=options.hourly_lag_minutes))
        self.bucket = options.bucket or export_bucket_name(self.dataset.company, options.region)
        self.s3 = SandboxS3(options.host, options.s3_port, self.bucket, options.region)
        self.faults = Faults()
        self.publisher = PartitionPublisher(self.dataset.partitions, self.s3, self.dataset.redeliveries)
        self.events = EventLog.from_file(self.dataset.realtime_log())
        self.attachments = AttachmentCatalog(self.dataset)
        self.push = PushDispatcher(self.events, self.clock)
        self.credentials = Credentials({options.api_id: options.api_secret})
        self.spike_arrest = SpikeArrest(options.spike_rps)
        self.daily_cap = DailyCap(options.daily_cap, self.clock)
        self.traffic = TrafficStats()
        self.urls = SignedUrls(options.data, options.url_ttl, self.clock, self.faults, self._current_file)

    def _current_file(self, relative: str) -> Path:
        """What a signed URL for a dataset file serves now: a re-delivered file's corrected copy once it is
        due."""
        fixed = self.dataset.redeliveries.get(relative)
        if fixed is not None and self.clock.timestamp() >= fixed.at:
            return fixed.path
        return self.options.data / relative

    async def refresh(self) -> None:
        """Bring S3, the File Exporter view and push delivery in line with the clock and faults."""
        await self.publisher.sync(self.clock.timestamp(), self.faults.partial_partitions)
        self.push.wake()

    def application(self) -> Starlette:
        configuration = ConfigurationApi(self.dataset)
        apis = [
            FileExporterApi(
                self.dataset, self.publisher, self.urls, self.clock, self.faults, self.attachments
            ),
            configuration,
            AutosummaryApi(self.dataset, self.clock),
            RealtimeApi(self.events, self.clock),
            self.urls,
            AdminApi(
                clock=self.clock,
                faults=self.faults,
                credentials=self.credentials,
                daily_cap=self.daily_cap,
                traffic=self.traffic,
                events=self.events,
                push=self.push,
                attachments=self.attachments,
                refresh=self.refresh,
                reset_configuration=configuration.reset,
            ),
        ]
        gateway = Middleware(
            Gateway,
            credentials=self.credentials,
            spike_arrest=self.spike_arrest,
            daily_cap=self.daily_cap,
            faults=self.faults,
            traffic=self.traffic,
        )
        return Starlette(
            routes=[route for api in apis for route in api.routes()]
            + [Route("/v1/health", _health, methods=["GET"])],
            middleware=[gateway],
            exception_handlers={
                ApiError: _api_error,
                HTTPException: _http_error,
                Exception: _unexpected_error,
            },
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        await self.push.start()
        ticker = asyncio.create_task(self._follow_clock())
        try:
            yield
        finally:
            ticker.cancel()
            await self.push.stop()

    async def _follow_clock(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.refresh()


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or str(uuid.uuid4())


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return error.response(_request_id(request))


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Unknown paths and methods answer in ASAPP's error shape too (404-01, 405-01)."""
    return ApiError(error.status_code, f"{error.status_code}-01", str(error.detail)).response(
        _request_id(request)
    )


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    return ApiError(500, "500-01", "Internal server error").response(_request_id(request))


def serve(options: ServerOptions) -> None:
    """Start S3 and the API, print the connection line on stdout, then serve until interrupted."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sandbox = Sandbox(options)
    s3_port = sandbox.s3.start()
    sandbox.publisher.reconcile(sandbox.clock.timestamp(), partial=False)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((options.host, options.port))
    listener.listen(1024)
    host = "127.0.0.1" if options.host == "0.0.0.0" else options.host  # where local clients connect
    connection = {
        "api_url": f"http://{host}:{listener.getsockname()[1]}",
        "s3_endpoint_url": f"http://{host}:{s3_port}",
        "bucket": sandbox.bucket,
        "api_id": options.api_id,
        "region": options.region,
    }
    print(orjson.dumps(connection).decode(), flush=True)
    log.info(
        "serving %s: %d feeds, %d partitions, company %s, clock %s",
        options.data,
        len(sandbox.dataset.feeds),
        len(sandbox.dataset.partitions),
        sandbox.dataset.company,
        sandbox.clock.now().isoformat(),
    )
    config = uvicorn.Config(
        sandbox.application(),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=2,
    )
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        sandbox.s3.stop()
