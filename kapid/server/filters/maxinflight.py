"""
The max-in-flight filter (kube's C{WithMaxInFlightLimit}): beyond C{--max-requests-inflight}
read-only or C{--max-mutating-requests-inflight} mutating requests, answer 429 with
C{Retry-After: 1}. Long-running requests and C{system:masters} are exempt.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from kapid.auth.interfaces import MASTERS_GROUP
from kapid.server import context
from kapid.server.filters import Filter
from kapid.server.requestinfo import MUTATING_METHODS


class InFlightLimits:
    """
    The counters of one server (shared by its listeners), with an optional gauge callback.
    """

    def __init__(self, read_only: int, mutating: int, on_change: Optional[Callable[[str, int], None]] = None) -> None:
        self.limits = {"readOnly": read_only, "mutating": mutating}
        self.current = {"readOnly": 0, "mutating": 0}
        self.on_change = on_change

    def _set(self, kind: str, value: int) -> None:
        self.current[kind] = value
        if self.on_change is not None:
            self.on_change(kind, value)

    def try_acquire(self, kind: str) -> bool:
        """
        Take a slot of C{kind} (C{"readOnly"} or C{"mutating"}); False when full.
        """
        limit = self.limits[kind]
        if limit and self.current[kind] >= limit:
            return False
        self._set(kind, self.current[kind] + 1)
        return True

    def release(self, kind: str) -> None:
        """
        Give a slot back.
        """
        self._set(kind, self.current[kind] - 1)


class MaxInFlightFilter(Filter):
    """
    Refuses requests beyond the limits with 429 and C{Retry-After: 1}.
    """

    def __init__(self, wrapped: Any, limits: InFlightLimits) -> None:
        super().__init__(wrapped)
        self.limits = limits

    def render(self, request: Any) -> Any:
        """
        Take a slot (or refuse), then render the chain.
        """
        info = context.request_info(request)
        if info is not None and info.is_long_running:
            return self.wrapped.render(request)
        kind = "mutating" if request.method.decode("ascii", "replace") in MUTATING_METHODS else "readOnly"
        if not self.limits.limits[kind]:
            return self.wrapped.render(request)
        user = context.user(request)
        if user is not None and MASTERS_GROUP in user.groups:
            return self.wrapped.render(request)
        if not self.limits.try_acquire(kind):
            request.setResponseCode(429)
            request.setHeader(b"Retry-After", b"1")
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.setHeader(b"X-Content-Type-Options", b"nosniff")
            return b"Too many requests, please try again later.\n"
        request.notifyFinish().addBoth(lambda _: self.limits.release(kind))
        return self.wrapped.render(request)
