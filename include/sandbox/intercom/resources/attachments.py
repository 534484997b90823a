"""Attachments: uploaded (`attachment_files`, base64) or fetched (`attachment_urls`), then hosted here.

Intercom downloads `attachment_urls` itself and serves every attachment from its own storage, so the
sandbox does the same: bytes are stored beside the state file and served at
`/_sandbox/files/{id}/{name}` with their content type. A URL that cannot be fetched fails the whole
write with `400 parameter_invalid` (field `attachment_urls`), as nothing is stored half-way.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import struct
from urllib.parse import quote, unquote, urlparse

import httpx

from include.sandbox.intercom.server.errors import parameter_invalid, resource_not_found
from include.sandbox.intercom.server.routing import Call, Reply
from include.sandbox.intercom.server.workspace import now

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = (
    100 * 1024 * 1024
)  # Intercom's documented upload limit (Messenger); none is documented for the API
FETCH_TIMEOUT_SECONDS = 10.0


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def store(call: Call, name: str, content_type: str, data: bytes) -> str:
    """Keep the bytes durably and record the file; returns the file id."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise parameter_invalid(f"Attachment '{name}' is larger than {MAX_ATTACHMENT_BYTES} bytes")
    workspace = call.workspace
    file_id = workspace.next_id("files")
    call.sandbox.state.save_file(file_id, data)
    record = {
        "id": file_id,
        "name": name,
        "content_type": content_type,
        "filesize": len(data),
        "created_at": now(),
    }
    size = _image_size(data)
    if size is not None:
        record["width"], record["height"] = size
    workspace.put("files", record)
    return file_id


def _check_count(items: list, field: str) -> None:
    if len(items) > MAX_ATTACHMENTS:
        raise parameter_invalid(f"{field} accepts at most {MAX_ATTACHMENTS} items", field)


def decode_files(files: list[dict]) -> list[tuple[str, str, bytes]]:
    """Check `attachment_files` (≤10, valid base64) before anything is written."""
    _check_count(files, "attachment_files")
    decoded = []
    for position, item in enumerate(files):
        field = f"attachment_files.{position}"
        for required in ("content_type", "data", "name"):
            if not item.get(required):
                raise parameter_invalid(f"{field}.{required} is required", f"{field}.{required}")
        try:
            data = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise parameter_invalid(f"{field}.data is not valid base64", f"{field}.data") from None
        decoded.append((item["name"], item["content_type"], data))
    return decoded


async def fetch_urls(call: Call, urls: list[str]) -> list[tuple[str, str, bytes]]:
    """Download `attachment_urls` (≤10) the way Intercom does before accepting the write."""
    _check_count(urls, "attachment_urls")
    fetched = []
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https"):
            raise parameter_invalid(f"Attachment URL is not an http(s) URL: {url}", "attachment_urls")
        try:
            response = await call.sandbox.http_client.get(
                url, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True
            )
        except httpx.HTTPError as error:
            raise parameter_invalid(
                f"Attachment could not be downloaded from {url}: {error!r}", "attachment_urls"
            ) from None
        if response.status_code != 200:
            raise parameter_invalid(
                f"Attachment could not be downloaded from {url}: HTTP {response.status_code}",
                "attachment_urls",
            )
        name = unquote(parsed.path.rsplit("/", 1)[-1]) or "attachment"
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        fetched.append((name, content_type, response.content))
    return fetched


async def collect(call: Call, body: dict) -> list[str]:
    """Store a write's attachments (files first, then URLs) once all are known to be good."""
    items = decode_files(body.get("attachment_files") or [])
    items += await fetch_urls(call, body.get("attachment_urls") or [])
    return [store(call, name, content_type, data) for name, content_type, data in items]


def render(base_url: str, files: dict, file_ids: list[str]) -> list[dict]:
    """Part attachments as Intercom shows them, with URLs on this sandbox's current address."""
    rendered = []
    for file_id in file_ids:
        record = files.get(file_id)
        if record is None:
            continue
        attachment = {
            "type": "upload",
            "name": record["name"],
            "url": f"{base_url}/_sandbox/files/{file_id}/{quote(record['name'])}",
            "content_type": record["content_type"],
            "filesize": record["filesize"],
        }
        if "width" in record:
            attachment["width"], attachment["height"] = record["width"], record["height"]
        rendered.append(attachment)
    return rendered


def serve_file(call: Call) -> Reply:
    record = call.workspace["files"].get(call.params["file_id"])
    data = call.sandbox.state.read_file(call.params["file_id"]) if record else None
    if data is None:
        raise resource_not_found()
    return Reply(200, data, content_type=record["content_type"])


ROUTES = [("GET", "/_sandbox/files/{file_id}/{name}", None, serve_file)]
