"""
In-flight tracking for a graceful shutdown (kube's C{WithWaitGroup}): counts requests being
served, refuses new ones with 503 once shutdown has begun, and tracks long-running requests
(watches) so they can be ended cleanly.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed

from kapid.apimachinery.status import service_unavailable
from kapid.server import context
from kapid.server.filters import Filter, answer

_ENDER = "_kapid_stream_ender"


def set_stream_ender(request: Any, end: Callable[[], None]) -> None:
    """
    Tell the shutdown how to end this long-running request cleanly (e.g. a watch handler that
    stops its watch and finishes the response). Without one, shutdown calls C{request.finish()}.
    """
    setattr(request, _ENDER, end)


class InFlight:
    """
    The requests in flight on every listener of one server.
    """

    def __init__(self) -> None:
        self.active: set[Any] = set()
        self.long_running: set[Any] = set()
        self.shutting_down = False
        self._waiters: list[Deferred] = []

    def add(self, request: Any, long_running: bool) -> None:
        """
        Track C{request} until it finishes.
        """
        bucket = self.long_running if long_running else self.active
        bucket.add(request)

        def done(_: Any) -> None:
            bucket.discard(request)
            if not self.active:
                waiters, self._waiters = self._waiters, []
                for d in waiters:
                    d.callback(None)

        request.notifyFinish().addBoth(done)

    def drained(self) -> Deferred:
        """
        A Deferred that fires when no non-long-running request is in flight.
        """
        if not self.active:
            return succeed(None)
        d: Deferred = Deferred()
        self._waiters.append(d)
        return d

    def end_long_running(self) -> None:
        """
        End every long-running request (watch streams) cleanly.
        """
        for request in list(self.long_running):
            end: Optional[Callable[[], None]] = getattr(request, _ENDER, None)
            try:
                if end is not None:
                    end()
                elif not request.finished and not getattr(request, "_disconnected", False):
                    request.finish()
            except Exception:
                pass
            self.long_running.discard(request)


class WaitGroupFilter(Filter):
    """
    Tracks each request in L{InFlight}; once shutdown has begun, answers 503.
    """

    def __init__(self, wrapped: Any, in_flight: InFlight) -> None:
        super().__init__(wrapped)
        self.in_flight = in_flight

    def render(self, request: Any) -> Any:
        """
        Track, then render the chain (or refuse during shutdown).
        """
        if self.in_flight.shutting_down:
            request.setHeader(b"Connection", b"close")
            request.setHeader(b"Retry-After", b"1")
            return answer(request, service_unavailable("apiserver is shutting down"))
        info = context.request_info(request)
        self.in_flight.add(request, bool(info and info.is_long_running))
        return self.wrapped.render(request)
