"""
Chain links: Klein apps exposed as L{IResource}s that hand what they do not serve to a delegate.

A link subclasses L{Link} and declares its own C{app = Klein()} with routes. A request that matches
no route (or whose handler raises L{Decline}) is handed to the link's delegate resource with its path
restored to what it was when it entered this link. A L{StatusError} raised by a handler is rendered
as a Kubernetes C{Status}; any other exception becomes a 500 C{InternalError} C{Status}.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Optional

from klein import Klein
from klein.resource import KleinResource
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import MethodNotAllowed, NotFound
from zope.interface import implementer

from kapid.apimachinery.status import StatusError, internal_error, path_not_found

log = Logger()

_DEPTH = "_kapid_link_depth"


class Decline(Exception):
    """
    Raised by a route handler that matched a request it does not serve; the request goes to the
    link's delegate as if no route had matched.
    """


def reason_phrase(code: int) -> Optional[bytes]:
    """
    The status line's reason phrase as Go's net/http writes it (Twisted knows none for 422 or 429).
    """
    try:
        return HTTPStatus(code).phrase.encode("ascii")
    except ValueError:
        return None


def render_status(request: IRequest, error: StatusError) -> bytes:
    """
    Write C{error}'s code and headers to C{request} and return its C{Status} body.
    """
    request.setResponseCode(error.code, reason_phrase(error.code))
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-cache, private")
    for name, value in error.headers.items():
        request.setHeader(name.encode("ascii"), value.encode("latin-1"))
    return error.encode()


def _restore_path(request: Any) -> None:
    """
    Undo the path segments Klein moved from C{postpath} to C{prepath} since the link was entered.
    """
    depth = getattr(request, _DEPTH, 0)
    moved = request.prepath[depth:]
    del request.prepath[depth:]
    request.postpath[:0] = moved


class _LinkResource(Resource):
    """
    The resource of one link: records the path depth at entry, then renders the Klein app.
    """

    isLeaf = True

    def __init__(self, app: Klein) -> None:
        super().__init__()
        self._klein = KleinResource(app)

    def render(self, request: IRequest) -> Any:
        setattr(request, _DEPTH, len(request.prepath))  # type: ignore[attr-defined]
        return self._klein.render(request)


class Link:
    """
    Base of the chain links (aggregator, kube API, apiextensions).

    Subclasses define C{app = Klein()} and routes on it; L{__init_subclass__} adds the shared error
    handlers to each subclass's app. A link also names what it contributes to the served set:
    health checks, post-start hooks, pre-shutdown hooks and listed paths (see L{kapid.server.chain}).
    """

    app: Klein

    def __init__(self, delegate: IResource) -> None:
        self.delegate = delegate

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        app = cls.__dict__.get("app")
        if app is None:
            return
        app.handle_errors(NotFound, Decline)(Link._fall_through)
        app.handle_errors(StatusError)(Link._render_status_error)
        app.handle_errors(MethodNotAllowed)(Link._method_not_allowed)
        app.handle_errors(Exception)(Link._internal_error)

    def resource(self) -> IResource:
        """
        This link as an unprotected L{IResource} (filters wrap only the outermost link). A link
        whose app has no routes yet is just its delegate (nothing to match, one render saved).
        """
        if not any(True for _ in self.app.url_map.iter_rules()):
            return self.delegate
        return _LinkResource(self.app)

    # Contributions to the served set; links override.
    def health_checks(self) -> list[Any]:
        """
        Health checks this link adds (see L{kapid.server.healthz}).
        """
        return []

    def post_start_hooks(self) -> list[Any]:
        """
        Post-start hooks, C{(name, callable)} pairs.
        """
        return []

    def pre_shutdown_hooks(self) -> list[Any]:
        """
        Pre-shutdown hooks, C{(name, callable)} pairs.
        """
        return []

    def listed_paths(self) -> list[str]:
        """
        Paths this link lists at C{/}.
        """
        return []

    # Error handlers shared by every link.
    def _fall_through(self, request: IRequest, failure: Failure) -> IResource:
        _restore_path(request)
        return self.delegate

    def _render_status_error(self, request: IRequest, failure: Failure) -> bytes:
        return render_status(request, failure.value)

    def _method_not_allowed(self, request: IRequest, failure: Failure) -> bytes:
        method = request.method.decode("ascii", "replace")
        return render_status(
            request,
            StatusError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})", {}),
        )

    def _internal_error(self, request: IRequest, failure: Failure) -> bytes:
        log.failure("Unhandled error serving {uri}", failure, uri=request.uri)
        return render_status(request, internal_error(str(failure.value)))


@implementer(IResource)
class NotFoundResource(Resource):
    """
    The last link: a 404 C{Status} for every request.
    """

    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return render_status(request, path_not_found())
