"""ASAPP's error contract: every failure is {"error":{"requestId","message","code"}} with code
"<HTTP>-<NN>"."""

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    """orjson keeps serialisation off the per-request hot path."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self, request_id: str) -> JSONResponse:
        body = {"error": {"requestId": request_id, "message": self.message, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(path: str, problem: str) -> ApiError:
    """400-01 names the offending field the way ASAPP's own messages do ("[Path '/timestamp'] ...")."""
    return ApiError(400, "400-01", f"[Path '{path}'] {problem}")


def not_found(detail: str) -> ApiError:
    return ApiError(404, "404-01", f"Not Found: {detail}")


def unauthorized() -> ApiError:
    return ApiError(401, "401-01", "Unauthorized")


def revoked() -> ApiError:
    return ApiError(401, "401-02", "API token revoked")


def url_expired() -> ApiError:
    """Expired and tampered signed URLs get the same answer, as S3 presigned URLs do."""
    return ApiError(403, "403-01", "Request has expired")


def cursor_expired() -> ApiError:
    return ApiError(410, "410-01", "Cursor expired")
