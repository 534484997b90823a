"""A task killed at the worst moment: after Intercom did the write, before the ledger heard of it."""

from __future__ import annotations

import itertools
import re

from asapp_intercom.hooks.intercom import IntercomHook


class Killed(BaseException):
    """The task process died (a BaseException, as the task's death would be: nothing catches it)."""


def die_after(hook: IntercomHook, method: str, path: str, nth: int = 1) -> IntercomHook:
    """Make the hook's nth matching call succeed in Intercom, then kill the task."""
    real, seen = hook._call, itertools.count(1)

    def call(verb, endpoint, body=None, params=None, **options):
        answer = real(verb, endpoint, body, params, **options)
        if verb == method and re.fullmatch(path, endpoint) and next(seen) == nth:
            raise Killed(f"after {verb} {endpoint}")
        return answer

    hook._call = call
    return hook
