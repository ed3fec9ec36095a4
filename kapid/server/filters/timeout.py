"""
The timeout filter (kube's C{WithTimeoutForNonLongRunningRequests}): a non-long-running request
that has not answered after C{--request-timeout} (or its shorter C{?timeout=}) gets a 504.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime

from kapid.apimachinery.query import duration_error
from kapid.apimachinery.status import StatusError, bad_request
from kapid.options import parse_duration
from kapid.server import context
from kapid.server.filters import Filter, answer


def _mute(request: Any) -> None:
    """
    Make later writes by the (late) handler no-ops.
    """
    noop = lambda *a, **k: None  # noqa: E731
    request.write = noop
    request.finish = noop
    request.setResponseCode = noop
    request.setHeader = noop


class TimeoutFilter(Filter):
    """
    Answers 504 C{Timeout} when a non-long-running request runs past its deadline.
    """

    def __init__(self, wrapped: Any, clock: IReactorTime, request_timeout: float) -> None:
        super().__init__(wrapped)
        self.clock = clock
        self.request_timeout = request_timeout

    def render(self, request: Any) -> Any:
        """
        Start the deadline, then render the chain.
        """
        info = context.request_info(request)
        if info is not None and info.is_long_running:
            return self.wrapped.render(request)
        timeout = self.request_timeout
        values = context.query(request).get("timeout")
        if values:
            try:
                asked = parse_duration(values[0])
            except ValueError:
                reason = duration_error(values[0]) or f'time: invalid duration "{values[0]}"'
                return answer(request, bad_request(f"invalid timeout specified in the request URL - {reason}"))
            if 0 < asked < timeout:
                timeout = asked
        if timeout <= 0:
            return self.wrapped.render(request)
        call = self.clock.callLater(timeout, self._expire, request)

        def cancel(_: Any) -> None:
            if call.active():
                call.cancel()

        request.notifyFinish().addBoth(cancel)
        return self.wrapped.render(request)

    def _expire(self, request: Any) -> None:
        if request.finished or getattr(request, "_disconnected", False) or request.startedWriting:
            return
        error = StatusError(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
            {},
        )
        body = answer(request, error)
        write, finish = request.write, request.finish
        _mute(request)
        write(body)
        finish()
