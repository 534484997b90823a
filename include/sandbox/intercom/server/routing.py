"""Routes: a path template, the Intercom operation it implements, and the handler; plus what a handler sees.

A handler is a plain function of a `Call` returning the JSON payload (HTTP 200) or a `Reply`; it may be
async when it has to wait (fetching attachment URLs). Keeping handlers free of HTTP plumbing keeps the
Intercom behaviour readable.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.sandbox.intercom.server.sandbox import Sandbox
    from include.sandbox.intercom.server.spec import Operation


@dataclass
class Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


@dataclass
class Call:
    sandbox: Sandbox
    params: dict[str, str]
    query: dict[str, Any]
    body: Any
    request_id: str
    operation: Operation | None
    base_url: str

    @property
    def workspace(self):
        return self.sandbox.workspace


@dataclass
class Route:
    method: str
    template: str
    operation_id: str | None  # None: a sandbox control route, outside Intercom's API and its auth
    handler: Callable[[Call], Any]
    messages: dict[str, Any] | None = None  # Intercom's own wording for schema failures (spec.check_body)
    pattern: re.Pattern | None = None
    is_async: bool = False

    def __post_init__(self):
        self.is_async = inspect.iscoroutinefunction(self.handler)
        if "{" in self.template:
            regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
            self.pattern = re.compile(f"^{regex}$")

    @property
    def literal_segments(self) -> int:
        return sum(1 for segment in self.template.split("/") if segment and "{" not in segment)


class Router:
    """Static paths by dictionary lookup; templated paths most-literal first (so /contacts/search wins)."""

    def __init__(self, routes: list[Route]):
        self.static: dict[tuple[str, str], Route] = {}
        self.templated: dict[str, list[Route]] = {}
        for route in routes:
            if route.pattern is None:
                self.static[(route.method, route.template)] = route
            else:
                self.templated.setdefault(route.method, []).append(route)
        for candidates in self.templated.values():
            candidates.sort(key=lambda route: -route.literal_segments)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        route = self.static.get((method, path))
        if route is not None:
            return route, {}
        for candidate in self.templated.get(method, ()):
            found = candidate.pattern.match(path)
            if found:
                return candidate, found.groupdict()
        return None, {}
