"""The File Exporter API (NOTES §2, §10.4): seven POST endpoints over the released partitions,
plus the sandbox's getattachmentfile for attachment binaries (NOTES §10.5).

Values are accepted bare or Hive-style (`1`/`version=1`, `jsonl`/`format=jsonl`, `2024-05-01`/
`dt=2024-05-01`) and echoed back as sent, except that listfeeddates answers `format=<format>` as
ASAPP's example does. An interval is `hr=HH/mi=MM` or `hr=HH` (every partition of that hour).
"""

import mimetypes
import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .attachments import AttachmentCatalog
from .clock import SandboxClock
from .dataset import SUCCESS_MARKER, Dataset, Partition
from .downloads import SignedUrls, feed_file_media_type
from .errors import JSONResponse, bad_request, not_found
from .faults import Faults
from .payloads import field, read_json_object
from .publisher import PartitionPublisher

BASE = "/fileexporter/v1/static"
DATE = re.compile(r"^(?:dt=)?(\d{4}-\d{2}-\d{2})$")
INTERVAL = re.compile(r"^hr=(\d{2})(?:/mi=(\d{2}))?/?$")


class FileExporterApi:
    def __init__(
        self,
        dataset: Dataset,
        publisher: PartitionPublisher,
        urls: SignedUrls,
        clock: SandboxClock,
        faults: Faults,
        attachments: AttachmentCatalog,
    ) -> None:
        self.dataset = dataset
        self.publisher = publisher
        self.urls = urls
        self.clock = clock
        self.faults = faults
        self.attachments = attachments

    def routes(self) -> list[Route]:
        endpoints = {
            "listfeeds": self.list_feeds,
            "listfeedversions": self.list_feed_versions,
            "listfeedformats": self.list_feed_formats,
            "listfeeddates": self.list_feed_dates,
            "listfeedintervals": self.list_feed_intervals,
            "listfeedfiles": self.list_feed_files,
            "getfeedfile": self.get_feed_file,
            "getattachmentfile": self.get_attachment_file,
        }
        return [Route(f"{BASE}/{name}", handler, methods=["POST"]) for name, handler in endpoints.items()]

    async def list_feeds(self, request: Request) -> JSONResponse:
        await read_json_object(request, optional=True)
        return JSONResponse({"feeds": self.dataset.feeds})

    async def list_feed_versions(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        versions = sorted(self._versions(body))
        return JSONResponse({**_echo(body, "feed"), "versions": versions})

    async def list_feed_formats(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        formats = sorted(self._formats(body))
        return JSONResponse({**_echo(body, "feed", "version"), "formats": formats})

    async def list_feed_dates(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        await self._catch_up()
        dates = [date for date, parts in self._dates(body).items() if self._visible(parts)]
        format_name = _bare(body["format"], "format")
        return JSONResponse(
            {
                **_echo(body, "feed", "version"),
                "format": f"format={format_name}",
                "dates": sorted(dates, reverse=True),
            }
        )

    async def list_feed_intervals(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        await self._catch_up()
        intervals = [p.interval for p in self._date_partitions(body)]
        return JSONResponse({**_echo(body, "feed", "version", "format", "date"), "intervals": intervals})

    async def list_feed_files(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        await self._catch_up()
        partitions, interval = self._interval_partitions(body)
        files = sorted({name for p in partitions for name in p.data_files})
        if all(self.publisher.is_complete(p) for p in partitions):
            files.append(SUCCESS_MARKER)
        return JSONResponse(
            {**_echo(body, "feed", "version", "format", "date"), "interval": interval, "files": files}
        )

    async def get_feed_file(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        file_name = field(body, "fileName", str)
        await self._catch_up()
        partitions, interval = self._interval_partitions(body)
        for partition in partitions:
            if file_name in partition.data_files or (
                file_name == SUCCESS_MARKER and self.publisher.is_complete(partition)
            ):
                url = self.urls.sign(
                    str(request.base_url),
                    partition.directory / file_name,
                    feed_file_media_type(file_name),
                    file_name,
                )
                return JSONResponse(
                    {
                        **_echo(body, "feed", "version", "format", "date"),
                        "interval": interval,
                        "fileName": file_name,
                        "url": url,
                    }
                )
        raise not_found(f"file '{file_name}'")

    async def get_attachment_file(self, request: Request) -> JSONResponse:
        body = await read_json_object(request)
        upload_id = field(body, "fileUploadEventId", str)
        path = self.dataset.attachment(upload_id)
        if path is None:
            raise not_found(f"attachment '{upload_id}'")
        facts = self.attachments.describe(upload_id)
        name = facts.name or upload_id
        media_type = facts.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = self.urls.sign(str(request.base_url), path, media_type, name)
        return JSONResponse(
            {"fileUploadEventId": upload_id, "fileName": name, "mimeType": media_type, "url": url}
        )

    async def _catch_up(self) -> None:
        await self.publisher.sync(self.clock.timestamp(), self.faults.partial_partitions)

    def _visible(self, partitions: list[Partition]) -> list[Partition]:
        return [p for p in partitions if self.publisher.is_visible(p)]

    def _versions(self, body: dict[str, Any]) -> dict[str, Any]:
        feed = field(body, "feed", str)
        if feed not in self.dataset.tree:
            raise not_found(f"feed '{feed}'")
        return self.dataset.tree[feed]

    def _formats(self, body: dict[str, Any]) -> dict[str, Any]:
        versions = self._versions(body)
        version = _bare(field(body, "version", str), "version")
        if version not in versions:
            raise not_found(f"version '{version}'")
        return versions[version]

    def _dates(self, body: dict[str, Any]) -> dict[str, list[Partition]]:
        formats = self._formats(body)
        format_name = _bare(field(body, "format", str), "format")
        if format_name not in formats:
            raise not_found(f"format '{format_name}'")
        return formats[format_name]

    def _date_partitions(self, body: dict[str, Any]) -> list[Partition]:
        dates = self._dates(body)
        match = DATE.match(field(body, "date", str))
        if not match:
            raise bad_request("/date", "must be YYYY-MM-DD or dt=YYYY-MM-DD")
        partitions = self._visible(dates.get(match.group(1), []))
        if not partitions:
            raise not_found(f"date '{match.group(1)}'")
        return partitions

    def _interval_partitions(self, body: dict[str, Any]) -> tuple[list[Partition], str]:
        """The partitions an (optional) interval selects, and the interval to echo."""
        partitions = self._date_partitions(body)
        interval = field(body, "interval", str, required=False)
        if interval is None:
            if len(partitions) > 1:
                raise bad_request("/interval", "is required: this date has several intervals")
            return partitions, partitions[0].interval
        match = INTERVAL.match(interval)
        if not match:
            raise bad_request("/interval", "must be hr=HH or hr=HH/mi=MM")
        hour, minute = match.groups()
        selected = [p for p in partitions if p.hour == hour and minute in (None, p.minute)]
        if not selected:
            raise not_found(f"interval '{interval}'")
        return selected, interval


def _bare(value: str, name: str) -> str:
    return value.removeprefix(f"{name}=")


def _echo(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: body[name] for name in names}
