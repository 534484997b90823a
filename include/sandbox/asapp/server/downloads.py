"""Signed download URLs (NOTES §10.4): what getfeedfile and getattachmentfile hand out.

The token carries the file's path, media type and name; the HMAC over token and expiry makes it
tamper-proof, so downloads need no ASAPP headers and no server-side state, like S3 presigned URLs.
Expiry is checked on the sandbox clock. Like a presigned URL, which names a key and not a version,
a URL serves the file as it is when downloaded (a re-delivered file's new bytes once they are out).
Files are streamed from disk in chunks.
"""

import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from .clock import SandboxClock
from .encoding import b64url_decode, b64url_encode
from .errors import url_expired
from .faults import Faults

MEDIA_TYPES = {".gz": "application/gzip", ".jsonl": "application/x-ndjson"}


def feed_file_media_type(name: str) -> str:
    """S3 semantics: a .gz object is served as gzip bytes, never with Content-Encoding."""
    return MEDIA_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")


class SignedUrls:
    def __init__(
        self,
        root: Path,
        ttl_seconds: int,
        clock: SandboxClock,
        faults: Faults,
        current: Callable[[str], Path] | None = None,
    ) -> None:
        self._root = root.resolve()
        self._ttl = ttl_seconds
        self._clock = clock
        self._faults = faults
        self._current = current or (lambda relative: self._root / relative)
        self._key = os.urandom(32)

    def sign(self, base_url: str, path: Path, media_type: str, name: str) -> str:
        now = int(self._clock.timestamp())
        expires = now - 1 if self._faults.expire_urls else now + self._ttl
        relative = path.resolve().relative_to(self._root).as_posix()
        token = b64url_encode(orjson.dumps({"p": relative, "t": media_type, "n": name}))
        signature = self._signature(token, expires)
        return f"{base_url.rstrip('/')}/_sim/files/{token}?expires={expires}&sig={signature}"

    def routes(self) -> list[Route]:
        return [Route("/_sim/files/{token}", self.download, methods=["GET"])]

    async def download(self, request: Request) -> FileResponse:
        token = request.path_params["token"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("sig", "")
        if not expires.isdigit() or not hmac.compare_digest(signature, self._signature(token, int(expires))):
            raise url_expired()
        if int(expires) < self._clock.timestamp():
            raise url_expired()
        target = orjson.loads(b64url_decode(token))
        return FileResponse(self._current(target["p"]), media_type=target["t"], filename=target["n"])

    def _signature(self, token: str, expires: int) -> str:
        return hmac.new(self._key, f"{token}:{expires}".encode(), hashlib.sha256).hexdigest()
