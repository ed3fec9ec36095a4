"""
Panic recovery and the request log (kube's C{WithPanicRecovery} and C{WithHTTPLogging}).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from kapid.apimachinery.status import internal_error
from kapid.server import context
from kapid.server.audit import audit_id
from kapid.server.filters import Filter, answer

log = Logger(namespace="kapid.httplog")


class PanicRecovery(Filter):
    """
    The outermost filter: an exception from anything inside becomes a 500 C{InternalError}
    C{Status}; the process lives on. It also writes one log line per finished request (verb, URI,
    status, latency, user, source address), as kube's httplog does.
    """

    def __init__(
        self,
        wrapped: Any,
        clock: IReactorTime,
        on_finish: Optional[Callable[[Any, float], None]] = None,
    ) -> None:
        super().__init__(wrapped)
        self.clock = clock
        self.on_finish = on_finish

    def render(self, request: Any) -> Any:
        """
        Render the chain; turn an exception into a 500 C{Status}.
        """
        start = self.clock.seconds()
        request.setHeader(b"Audit-Id", audit_id(request).encode("latin-1"))
        request.notifyFinish().addBoth(lambda _: self._finished(request, start))
        try:
            return self.wrapped.render(request)
        except Exception as e:
            log.failure("Panic serving {method} {uri}", method=request.method, uri=request.uri)
            return answer(request, internal_error(str(e) or e.__class__.__name__))

    def _finished(self, request: Any, start: float) -> None:
        latency = self.clock.seconds() - start
        info = context.request_info(request)
        user = context.user(request)
        peer = request.getClientAddress()
        fields = {
            "verb": request.method.decode("ascii", "replace"),
            "uri": request.uri.decode("latin-1"),
            "latency": _format_latency(latency),
            "agent": (request.getHeader(b"user-agent") or b"").decode("latin-1"),
            "user": user.name if user else "",
            "audit_id": audit_id(request),
            "src": f"{getattr(peer, 'host', '')}:{getattr(peer, 'port', '')}",
            "code": request.code,
            "kapid_request_verb": info.verb if info else "",
        }
        # The line is formatted only if (and when) an observer formats the event.
        log.info("{line}", line=_AccessLine(fields), **fields)
        if self.on_finish is not None:
            self.on_finish(request, latency)


class _AccessLine:
    """
    Kube's httplog line for a request, built from the event's fields when formatted: observers
    that only look at the fields (or drop the event) pay nothing for the text.
    """

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __format__(self, spec: str) -> str:
        f = self.fields
        return (
            f'HTTP verb="{f["verb"]}" URI="{f["uri"]}" latency="{f["latency"]}" userAgent="{f["agent"]}" '
            f'user="{f["user"]}" audit-ID="{f["audit_id"]}" srcIP="{f["src"]}" resp={f["code"]}'
        )

    def __str__(self) -> str:
        return self.__format__("")

    __repr__ = __str__


def _format_latency(seconds: float) -> str:
    """
    A latency as Go prints a duration (C{1.234ms}, C{2.5s}).
    """
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f}ms"
    return f"{seconds:.3f}s"
