"""
The handler chain's filters: leaf-style resources that look at a request, then render the resource
they wrap (or answer themselves). L{kapid.server.handler} puts them together in v1.13's order.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from kapid.apimachinery.status import StatusError, internal_error
from kapid.server.link import render_status

log = Logger()


class Filter(Resource):
    """
    Base of the filters: a leaf resource around C{wrapped}; subclasses override L{render}.
    """

    isLeaf = True

    def __init__(self, wrapped: Any) -> None:
        super().__init__()
        self.wrapped = wrapped

    def render(self, request: Any) -> Any:
        """
        Render the wrapped resource.
        """
        return self.wrapped.render(request)


def answer(request: Any, error: StatusError) -> bytes:
    """
    Answer C{request} with C{error}'s C{Status} (returns the body for C{render} to return).
    """
    return render_status(request, error)


def write_result(request: Any, result: Any) -> None:
    """
    Write what a C{render} returned, asynchronously: bytes are written and the request finished;
    C{NOT_DONE_YET} means the resource finishes it.
    """
    if result is NOT_DONE_YET:
        return
    if getattr(request, "finished", False) or getattr(request, "_disconnected", False):
        return
    request.write(result)
    request.finish()


def continue_when(request: Any, d: Deferred, then: Callable[[Any], Any]) -> Any:
    """
    Wait for C{d}, then call C{then(result)} (which returns what C{render} returns). Renders
    synchronously when C{d} has already fired; a L{StatusError} (from C{d} or C{then}) is answered
    as a C{Status}, any other failure as a 500.
    """
    outcome: list[Any] = []

    def proceed(result: Any) -> Any:
        try:
            return then(result)
        except StatusError as e:
            return answer(request, e)

    def failed(failure: Failure) -> Any:
        if failure.check(StatusError):
            return answer(request, failure.value)
        log.failure("Error in the handler chain serving {uri}", failure, uri=request.uri)
        return answer(request, internal_error(str(failure.value)))

    d.addCallbacks(proceed, failed)
    waiting = [False]

    def deliver(result: Any) -> None:
        if not waiting[0]:
            outcome.append(result)
            return
        if isinstance(result, Failure):
            log.failure("Error in the handler chain", result)
            return
        write_result(request, result)

    d.addBoth(deliver)
    waiting[0] = True
    if outcome:
        result = outcome[0]
        if isinstance(result, Failure):
            log.failure("Error in the handler chain", result)
            return answer(request, internal_error(str(result.value)))
        return result
    return NOT_DONE_YET
