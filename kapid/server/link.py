"""
Chain links: Klein apps exposed as L{IResource}s that hand what they do not serve to a delegate.

A link subclasses L{Link} and declares its own C{app = Klein()} with routes. A request that matches
no route (or whose handler raises L{Decline}) is handed to the link's delegate resource with its path
restored to what it was when it entered this link. A L{StatusError} raised by a handler is rendered
as a Kubernetes C{Status}; any other exception becomes a 500 C{InternalError} C{Status}.

Before entering Klein, a link asks L{Link.claims} whether any of its routes could match the request's
path (by default a regular expression derived from the app's rules, a superset of what werkzeug
matches); a request it cannot claim goes straight to the delegate, without the cost of werkzeug's
C{NotFound} and Klein's error path.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Optional, Pattern

from klein import Klein
from klein.resource import KleinResource
from twisted.internet.defer import CancelledError, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRenderable, IRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.template import renderElement
from twisted.web.resource import IResource, Resource, getChildForRequest
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


#: A werkzeug rule's variable part: C{<name>}, C{<converter:name>}, C{<converter(args):name>}.
_VARIABLE = re.compile(r"<(?:([a-zA-Z_][a-zA-Z0-9_]*)(?:\((.*?)\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")

#: Converters whose values never hold a C{/} (werkzeug's built-ins but C{path}).
_ONE_SEGMENT = frozenset({None, "default", "string", "int", "float", "uuid", "any"})


def _rule_pattern(rule: str) -> str:
    """
    A regular expression matching at least every path werkzeug matches (or redirects) for C{rule}:
    variables match any text (within one segment for converters without slashes), and a trailing
    slash is optional (werkzeug redirects to it, or matches without it when slashes are not strict).
    """
    out: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(rule):
        out.append(re.escape(rule[pos:m.start()]))
        out.append("[^/]*" if m.group(1) in _ONE_SEGMENT else ".*")
        pos = m.end()
    tail = rule[pos:]
    if tail.endswith("/"):
        tail = tail[:-1]
    out.append(re.escape(tail))
    out.append("/?")
    return "".join(out)


def rules_pattern(app: Klein) -> Optional[Pattern[str]]:
    """
    One regular expression (for C{fullmatch}) matching at least every path some rule of C{app}
    matches, or None when C{app} has no rules.
    """
    patterns = sorted({_rule_pattern(rule.rule) for rule in app.url_map.iter_rules()})
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def path_info(request: IRequest) -> Optional[str]:
    """
    The path Klein matches (the unconsumed segments, as Klein joins them), or None when it is not
    plain enough to reason about cheaply (not UTF-8, empty, or with empty segments werkzeug would
    merge or redirect).
    """
    postpath = request.postpath  # type: ignore[attr-defined]
    if not postpath:
        return None
    joined = b"/".join(postpath)
    if not joined.startswith(b"/"):
        joined = b"/" + joined
    if b"//" in joined:
        return None
    try:
        return joined.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _segments_in_rule(rule: str) -> int:
    """
    The path segments Klein moves to C{prepath} when a route of C{rule} matches (as Klein counts).
    """
    count = rule.count("/")
    if rule.endswith("/"):
        count -= 1
    return count


def _klein_decodes(request: Any) -> bool:
    """
    Whether Klein would decode the request's host name and C{prepath} as UTF-8 (when not, Klein
    answers 400 itself, so the request must enter Klein as before).
    """
    host = request.getHeader(b"host")
    if host is not None and not host.isascii():
        try:
            host.decode("utf-8")
        except UnicodeDecodeError:
            return False
    if request.prepath:
        try:
            b"/".join(request.prepath).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


class _LinkResource(Resource):
    """
    The resource of one link: hands a request the link cannot claim straight to the delegate;
    serves a request the link routes itself (L{Link.direct_route}) as Klein would, without
    werkzeug; otherwise records the path depth at entry, then renders the Klein app.
    """

    isLeaf = True

    def __init__(self, app: Klein, link: Optional["Link"] = None) -> None:
        super().__init__()
        self._app = app
        self._klein = KleinResource(app)
        self._link = link
        self._segments = {rule.endpoint: _segments_in_rule(rule.rule) for rule in app.url_map.iter_rules()}

    def render(self, request: IRequest) -> Any:
        link = self._link
        if link is not None and _klein_decodes(request):
            if not link.claims(request):
                return getChildForRequest(link.delegate, request).render(request)
            route = link.direct_route(request)
            if route is not None and route[0] in self._segments:
                return self._render_route(request, route[0], route[1])
        setattr(request, _DEPTH, len(request.prepath))  # type: ignore[attr-defined]
        return self._klein.render(request)

    def _render_route(self, request: Any, endpoint: str, kwargs: dict[str, Any]) -> Any:
        """
        Run C{endpoint} with C{kwargs} as C{KleinResource.render} runs a matched route: path
        segments moved, the handler's Deferred cancelled when the connection goes, its result
        (or its failure, through the app's error handlers) written, the request finished.
        """
        app = self._app
        setattr(request, _DEPTH, len(request.prepath))
        count = self._segments[endpoint]
        request.prepath.extend(request.postpath[:count])
        request.postpath = request.postpath[count:]
        finished = [False]

        def _finish(_: Any) -> None:
            finished[0] = True

        request.notifyFinish().addBoth(_finish)
        d = maybeDeferred(app.execute_endpoint, endpoint, request, **kwargs)
        request.notifyFinish().addErrback(lambda _: d.cancel())

        def process(r: Any) -> Any:
            if IResource.providedBy(r):
                request.render(getChildForRequest(r, request))
                return _STAND_IN
            if IRenderable.providedBy(r):
                renderElement(request, r)
                return _STAND_IN
            return r

        def failed(failure: Failure, handlers: list[Any]) -> Any:
            if finished[0]:
                if not failure.check(CancelledError):
                    log.failure("Unhandled Error Processing Request.", failure)
                return None
            for i, (exceptions, handler) in enumerate(handlers):
                if failure.check(*exceptions):
                    d2 = maybeDeferred(app.execute_error_handler, handler, request, failure)
                    d2.addCallback(process)
                    return d2.addErrback(failed, handlers[i + 1:])
            request.processingFailed(failure)
            return None

        def write(r: Any) -> None:
            if r is _STAND_IN:
                return
            if isinstance(r, str):
                r = r.encode("utf-8")
            if isinstance(r, bytes):
                request.write(r)
            if not finished[0]:
                request.finish()

        d.addCallback(process)
        d.addErrback(failed, list(app._error_handlers))
        d.addCallback(write)
        d.addErrback(lambda f: log.failure("Unhandled Error writing response", f))
        return NOT_DONE_YET


#: What L{_LinkResource._render_route}'s processing returns when the response is already rendered.
_STAND_IN = object()


class Link:
    """
    Base of the chain links (aggregator, kube API, apiextensions).

    Subclasses define C{app = Klein()} and routes on it; L{__init_subclass__} adds the shared error
    handlers to each subclass's app. A link also names what it contributes to the served set:
    health checks, post-start hooks, pre-shutdown hooks and listed paths (see L{kapid.server.chain}).
    """

    app: Klein

    #: the paths this link's routes could match (see L{claims}); built by L{resource}
    _claimed: Optional[Pattern[str]] = None

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
        self._claimed = rules_pattern(self.app)
        return _LinkResource(self.app, self)

    def claims(self, request: IRequest) -> bool:
        """
        Whether a route of this link could match C{request} (a cheap pre-check from the path alone;
        it may say yes to a request no route matches, never no to one a route matches). A request
        not claimed goes to the delegate without entering Klein. By default: the path matches the
        expression derived from the app's rules (L{rules_pattern}), or is not plain enough to tell.
        Links may override this with a narrower check; it must stay a superset of their routes.
        """
        claimed = self._claimed
        if claimed is None:
            return True
        path = path_info(request)
        return path is None or claimed.fullmatch(path) is not None

    def direct_route(self, request: IRequest) -> Optional[tuple[str, dict[str, Any]]]:
        """
        C{(endpoint, arguments)} exactly as werkzeug would match C{request} (path and method), for
        a link that routes its everyday requests itself; None lets Klein match (the default, and
        the answer for anything not plainly one of the link's routes). The route then runs as
        under Klein: same arguments, error handlers, fall-through and cancellation.
        """
        return None

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
