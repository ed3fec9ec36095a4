"""
Tests of the links' pre-check (L{Link.claims}): a request no route of a link could match goes to the
delegate without entering Klein, and the pre-check never refuses a path werkzeug would match.
"""

from __future__ import annotations

from typing import Any

import orjson
from klein import Klein
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest
from werkzeug.exceptions import NotFound

from kapid.endpoints.link import ResourceLink
from kapid.kubeapi.discovery import DiscoveryLink
from kapid.kubeapi.link import KubeAPILink
from kapid.kubeapi.openapi import OpenAPILink
from kapid.server.link import Decline, Link, path_info, rules_pattern
from kapid.testing.server import InMemoryServer
from tests.server.test_chain import fetch

#: Paths kube clients send, and odd ones.
PATHS = [
    "/", "/version", "/version/", "/healthz", "/healthz/", "/healthz/etcd", "/livez/ping", "/readyz",
    "/readyz/shutdown", "/metrics", "/debug/pprof", "/debug/pprof/", "/debug/pprof/profile",
    "/api", "/api/", "/api/v1", "/api/v1/", "/api/v1/pods", "/api/v1/namespaces/default/configmaps/x",
    "/api/v1/watch/namespaces/default/pods", "/api/v2/pods", "/apis", "/apis/", "/apis/apps",
    "/apis/apps/", "/apis/apps/v1", "/apis/apps/v1/", "/apis/apps/v1/deployments",
    "/apis/apps/v1/namespaces/default/deployments/d/scale", "/openapi/v2", "/openapi/v3",
    "/openapi/v3/", "/openapi/v3/apis/apps/v1", "/openapi/v3/api/v1", "/openapi", "/no/such/path",
    "/versions", "/apis/apps/v1/namespaces/x/deployments/d/status/extra", "/api/v1/namespaces/%zz/pods",
]

LINKS = [KubeAPILink, DiscoveryLink, OpenAPILink, ResourceLink]


def werkzeug_matches(app: Klein, path: str) -> bool:
    """
    Whether werkzeug does anything but C{NotFound} for C{path} with some method.
    """
    adapter = app.url_map.bind("kapid.test", "")
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        try:
            adapter.match(path, method)
        except NotFound:
            continue
        except Exception:
            return True
        return True
    return False


def request_for(path: bytes) -> DummyRequest:
    """
    A request for C{path} as Twisted's site hands it to the root resource.
    """
    from urllib.parse import unquote_to_bytes

    return DummyRequest([unquote_to_bytes(seg) for seg in path[1:].split(b"/")])


class Echo(Link):
    """
    A link whose routes answer with their name, one declining.
    """

    app = Klein()

    @app.route("/apis/<group>/<version>/<path:rest>")
    def resources(self, request: Any, group: str, version: str, rest: str) -> bytes:
        if group == "declined":
            raise Decline()
        return b"echo " + request.path

    @app.route("/version")
    def version(self, request: Any) -> bytes:
        return b"version"


class ClaimsTests(SynchronousTestCase):
    """
    The pre-check derived from a link's routes.
    """

    def test_never_refuses_what_werkzeug_matches(self) -> None:
        """
        For every link of the kube API and every sample path, a path werkzeug matches, redirects or
        refuses by method is claimed.
        """
        for link in LINKS:
            pattern = rules_pattern(link.app)
            assert pattern is not None
            for path in PATHS:
                if werkzeug_matches(link.app, path):
                    self.assertIsNotNone(pattern.fullmatch(path), (link.__name__, path))

    def test_foreign_paths_not_claimed(self) -> None:
        """
        Each link leaves the other links' everyday paths alone (they skip Klein).
        """
        expect = {
            KubeAPILink: ["/api/v1/namespaces/default/configmaps/x", "/apis/apps/v1", "/openapi/v2"],
            DiscoveryLink: ["/api/v1/namespaces/default/configmaps/x", "/apis/apps/v1/deployments", "/version"],
            OpenAPILink: ["/api/v1/pods", "/apis", "/readyz"],
            ResourceLink: ["/api", "/api/v1", "/apis/apps", "/apis/apps/v1", "/version", "/openapi/v2"],
        }
        for link, paths in expect.items():
            pattern = rules_pattern(link.app)
            assert pattern is not None
            for path in paths:
                self.assertIsNone(pattern.fullmatch(path), (link.__name__, path))

    def test_own_paths_claimed(self) -> None:
        """
        Each link claims its own everyday paths.
        """
        expect = {
            KubeAPILink: ["/", "/version", "/readyz", "/healthz/etcd", "/metrics"],
            DiscoveryLink: ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1"],
            OpenAPILink: ["/openapi/v2", "/openapi/v3", "/openapi/v3/apis/apps/v1"],
            ResourceLink: ["/api/v1/pods", "/api/v1/namespaces/default/configmaps/x", "/apis/apps/v1/deployments"],
        }
        for link, paths in expect.items():
            pattern = rules_pattern(link.app)
            assert pattern is not None
            for path in paths:
                self.assertIsNotNone(pattern.fullmatch(path), (link.__name__, path))

    def test_unplain_paths_are_claimed(self) -> None:
        """
        Paths werkzeug would merge or redirect (empty segments) and paths that are not UTF-8 are
        left to Klein, which answers them as before.
        """
        link = Echo(object())  # type: ignore[arg-type]
        link.resource()
        for path in (b"/version//", b"/apis//x", b"/caf%ff"):
            self.assertIsNone(path_info(request_for(path)))
            self.assertTrue(link.claims(request_for(path)), path)
        self.assertFalse(link.claims(request_for(b"/api/v1/pods")))
        self.assertTrue(link.claims(request_for(b"/version")))

    def test_link_without_rules_claims_everything(self) -> None:
        """
        The default pre-check of a link that has not built its resource claims every request.
        """
        self.assertTrue(Echo(object()).claims(request_for(b"/anything")))  # type: ignore[arg-type]


class DispatchTests(SynchronousTestCase):
    """
    The pre-check through the real chain and handler chain.
    """

    def server(self) -> InMemoryServer:
        return InMemoryServer(resource_link_factory=Echo)

    def test_claimed_request_served(self) -> None:
        """
        A path a route matches is served by the link.
        """
        self.assertEqual(fetch(self.server(), "/apis/g/v1/things")[2], b"echo /apis/g/v1/things")

    def test_unclaimed_request_goes_to_delegate(self) -> None:
        """
        A path no route of the resource link matches reaches not-found: a 404 Status.
        """
        code, _, body = fetch(self.server(), "/apis/g")
        self.assertEqual((code, orjson.loads(body)["reason"]), (404, "NotFound"))

    def test_declined_after_claim_falls_through(self) -> None:
        """
        A claimed path whose handler declines still falls through to not-found.
        """
        code, _, body = fetch(self.server(), "/apis/declined/v1/things")
        self.assertEqual((code, orjson.loads(body)["reason"]), (404, "NotFound"))

    def test_unclaimed_skips_klein(self) -> None:
        """
        A link whose pre-check refuses a request hands it to the delegate even though a route
        would match it, with the path untouched.
        """

        class Refusing(Echo):
            def claims(self, request: Any) -> bool:
                return False

        class Delegate(Link):
            app = Klein()

            @app.route("/apis/<path:rest>")
            def seen(self, request: Any, rest: str) -> bytes:
                return b"delegate saw " + request.path + b" " + b"/".join(request.prepath + request.postpath)

        server = InMemoryServer(resource_link_factory=lambda d: Refusing(Delegate(d).resource()))
        self.assertEqual(
            fetch(server, "/apis/g/v1/things")[2], b"delegate saw /apis/g/v1/things apis/g/v1/things"
        )

    def test_kube_paths_through_the_stages(self) -> None:
        """
        The non-resource link still serves /version and /readyz, and a foreign path still ends
        with a 404 Status.
        """
        server = self.server()
        self.assertEqual(orjson.loads(fetch(server, "/version")[2])["major"], "1")
        self.assertEqual(fetch(server, "/no/such")[0], 404)


class DirectRouteTests(SynchronousTestCase):
    """
    The resource link's own matching of its two routes (no werkzeug on the everyday path).
    """

    def test_same_as_werkzeug(self) -> None:
        """
        Wherever the resource link routes a request itself, werkzeug matches the same endpoint
        with the same arguments.
        """
        link = ResourceLink.__new__(ResourceLink)
        adapter = ResourceLink.app.url_map.bind("kapid.test", "")
        paths = PATHS + [
            "/api/v1/namespaces/d%C3%A9j%C3%A0/pods", "/apis/g/v/a b", "/apis/g/v/x%2Fy",
            "/api/v1/x", "/apis/g/v1beta1/namespaces/ns/things/t/status", "/apis/g/v",
        ]
        from urllib.parse import quote

        routed = 0
        for path in paths:
            for method in (b"GET", b"POST", b"PATCH", b"DELETE", b"TRACE", b"get"):
                request = request_for(quote(path, safe="/%").encode("ascii"))
                request.method = method
                route = link.direct_route(request)
                if route is None:
                    continue
                routed += 1
                info = path_info(request)
                rule, args = adapter.match(info, method.decode("ascii"), return_rule=True)
                self.assertEqual((rule.endpoint, dict(args)), route, (path, method))
        self.assertGreater(routed, 20)

    def test_not_routed(self) -> None:
        """
        Paths with a trailing slash, other methods and paths outside the two routes go to Klein.
        """
        link = ResourceLink.__new__(ResourceLink)
        for path, method in [
            (b"/api/v1/pods/", b"GET"), (b"/api/v1/", b"GET"), (b"/apis/g/v", b"GET"),
            (b"/apis/g/v/", b"GET"), (b"/api/v1/pods", b"TRACE"), (b"/api/v1/pods", b"get"),
            (b"/version", b"GET"), (b"/api/v1/caf%ff", b"GET"),
        ]:
            request = request_for(path)
            request.method = method
            self.assertIsNone(link.direct_route(request), (path, method))


class DirectDispatchTests(SynchronousTestCase):
    """
    A link routing requests itself behaves as under Klein.
    """

    def server(self) -> InMemoryServer:
        return InMemoryServer(resource_link_factory=DirectEcho)

    def test_served(self) -> None:
        """
        A directly routed request is served with Klein's arguments and path bookkeeping.
        """

        class KleinOnly(DirectEcho):
            def direct_route(self, request: Any) -> Any:
                return None

        for path in ("/apis/g/v1/things", "/apis/g/v1/namespaces/n/things/a/status"):
            direct = fetch(self.server(), path)[2]
            self.assertEqual(direct, fetch(InMemoryServer(resource_link_factory=KleinOnly), path)[2])
        self.assertEqual(fetch(self.server(), "/apis/g/v1/things")[2], b"g v1 things apis|g|v1|things ")

    def test_decline_falls_through(self) -> None:
        """
        A directly routed request whose handler declines reaches not-found (a 404 Status).
        """
        code, _, body = fetch(self.server(), "/apis/declined/v1/things")
        self.assertEqual((code, orjson.loads(body)["reason"]), (404, "NotFound"))

    def test_status_error(self) -> None:
        """
        A StatusError from a directly routed handler is rendered as its Status.
        """
        code, _, body = fetch(self.server(), "/apis/conflict/v1/things")
        self.assertEqual((code, orjson.loads(body)["reason"]), (409, "Conflict"))

    def test_internal_error(self) -> None:
        """
        Any other exception is a 500 InternalError Status.
        """
        code, _, body = fetch(self.server(), "/apis/boom/v1/things")
        self.assertEqual((code, orjson.loads(body)["reason"]), (500, "InternalError"))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_deferred_result(self) -> None:
        """
        A handler's Deferred result is written when it fires.
        """
        server = self.server()
        self.assertEqual(fetch(server, "/apis/later/v1/things")[2], b"later")

    def test_disconnect_cancels(self) -> None:
        """
        When the client goes away, the handler's pending Deferred is cancelled.
        """
        from twisted.web.test.requesthelper import DummyChannel
        from twisted.web.server import Request

        link = DirectEcho(None)  # type: ignore[arg-type]
        resource = link.resource()
        request = Request(DummyChannel())
        request.method = b"GET"
        request.prepath = []
        request.postpath = [b"apis", b"hang", b"v1", b"things"]
        resource.render(request)
        self.assertEqual(len(link.pending), 1)
        request.connectionLost(Exception("gone"))
        self.assertTrue(link.cancelled)


class DirectEcho(Link):
    """
    A link with one route it also matches itself (as the resource link does).
    """

    app = Klein()

    def __init__(self, delegate: Any) -> None:
        super().__init__(delegate)
        self.pending: list[Any] = []
        self.cancelled = False

    @app.route("/apis/<group>/<version>/<path:rest>")
    def grouped(self, request: Any, group: str, version: str, rest: str) -> Any:
        from twisted.internet.defer import Deferred, succeed

        from kapid.apimachinery.status import StatusError

        if group == "declined":
            raise Decline()
        if group == "conflict":
            raise StatusError(409, "Conflict", "conflict", {})
        if group == "boom":
            raise ZeroDivisionError("boom")
        if group == "later":
            return succeed(b"later")
        if group == "hang":
            d: Deferred = Deferred(lambda _: setattr(self, "cancelled", True))
            self.pending.append(d)
            return d
        return b" ".join([group.encode(), version.encode(), rest.encode(), b"|".join(request.prepath), b"|".join(request.postpath)])

    def direct_route(self, request: Any) -> Any:
        path = path_info(request)
        if path is None or not path.startswith("/apis/"):
            return None
        parts = path[6:].split("/", 2)
        if len(parts) == 3 and all(parts):
            return "grouped", {"group": parts[0], "version": parts[1], "rest": parts[2]}
        return None


class UndecodableTests(SynchronousTestCase):
    """
    Requests Klein itself refuses still reach Klein.
    """

    def test_non_utf8_host_enters_klein(self) -> None:
        """
        A Host header that is not UTF-8 gets Klein's 400, on a claimed and on an unclaimed path.
        """
        server = InMemoryServer(resource_link_factory=DirectEcho)
        for path in ("/apis/g/v1/things", "/no/such"):
            code, _, body = fetch(server, path, headers={b"Host": [b"caf\xe9.test"]})
            self.assertEqual((code, body), (400, b"Non-UTF-8 encoding in URL."), path)
        self.assertEqual(len(self.flushLoggedErrors(UnicodeDecodeError)), 2)
