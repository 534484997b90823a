"""Intercom's error envelope, raised from anywhere in a handler and rendered in one place.

Every failure Intercom returns is an `error.list` with a request id and coded errors; handlers raise
`IntercomError` so that the shape (and the status code a client branches on) is never improvised.
"""

from __future__ import annotations


class IntercomError(Exception):
    """An error Intercom would answer with: HTTP status, machine code, human message, optional field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self, request_id: str) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"type": "error.list", "request_id": request_id, "errors": [error]}


def parameter_invalid(message: str, field: str | None = None) -> IntercomError:
    return IntercomError(400, "parameter_invalid", message, field)


def user_not_found() -> IntercomError:
    return IntercomError(404, "not_found", "User Not Found")


def resource_not_found() -> IntercomError:
    return IntercomError(404, "not_found", "Resource Not Found")


def company_not_found() -> IntercomError:
    return IntercomError(404, "company_not_found", "Company Not Found")


def admin_not_found() -> IntercomError:
    return IntercomError(404, "admin_not_found", "Admin not found")
