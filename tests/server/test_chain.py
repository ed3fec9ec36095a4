"""
Tests of the chain of links and the handler chain, in memory through the real web stack.
"""

from __future__ import annotations

from typing import Any

import orjson
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from kapid.server import context
from kapid.server.link import Decline, Link
from kapid.testing.server import InMemoryServer

BASE = "https://kapid.test"
NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "the server could not find the requested resource",
    "reason": "NotFound",
    "details": {},
    "code": 404,
}


class FakeResourceLink(Link):
    """
    Stands in for the resource API link: serves C{/api}, declines C{/apis/declined/...}, hangs on
    C{/api/v1/namespaces/x/hang} and watches, echoes the user on C{/api/v1/whoami}, raises on
    C{/api/v1/boom}.
    """

    app = Klein()

    def __init__(self, delegate: Any) -> None:
        super().__init__(delegate)
        self.hanging: list[Deferred] = []

    def listed_paths(self) -> list[str]:
        return ["/api", "/api/v1"]

    @app.route("/api")
    def api(self, request: Any) -> bytes:
        return b"served by the resource link"

    @app.route("/apis/declined/<path:rest>")
    def declined(self, request: Any, rest: str) -> bytes:
        raise Decline()

    @app.route("/api/v1/whoami")
    def whoami(self, request: Any) -> bytes:
        user = context.user(request)
        return orjson.dumps({"name": user.name, "groups": list(user.groups)})

    @app.route("/api/v1/boom")
    def boom(self, request: Any) -> bytes:
        raise ZeroDivisionError("boom")

    @app.route("/api/v1/pods")
    @app.route("/api/v1/namespaces/x/hang", methods=["GET", "POST"])
    def hang(self, request: Any) -> Deferred:
        d: Deferred = Deferred()
        self.hanging.append(d)
        return d


class PathEcho(Link):
    """
    A delegate that reports the path it sees.
    """

    app = Klein()

    @app.route("/apis/<path:rest>")
    def echo(self, request: Any, rest: str) -> bytes:
        return b"delegate saw " + request.path


class Panicking(Resource):
    """
    A raw resource whose render raises (a bug outside any Klein app).
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        if request.path == b"/panic":
            raise RuntimeError("oops")
        return b"fine"


def fetch(server: InMemoryServer, path: str, method: str = "GET", **kw: Any) -> tuple[int, dict, bytes]:
    """
    One request; returns (code, headers, body).
    """
    results: list[Any] = []
    d = server.stub.request(method, BASE + path, **kw)

    def got(response: Any) -> Deferred:
        headers = {k.decode().lower(): v[0].decode() for k, v in response.headers.getAllRawHeaders()}
        return response.content().addCallback(lambda body: (response.code, headers, body))

    d.addCallback(got)
    d.addBoth(results.append)
    server.stub.flush()
    assert results, f"no response for {path}"
    if not isinstance(results[0], tuple):
        results[0].raiseException()
    return results[0]


def start(server: InMemoryServer, path: str, method: str = "GET") -> list[Any]:
    """
    Start a request that will not finish yet; the list receives the response later.
    """
    out: list[Any] = []
    server.stub.request(method, BASE + path).addBoth(out.append)
    server.stub.flush()
    return out


class ChainTests(SynchronousTestCase):
    """
    Which link serves what, and how requests fall through.
    """

    def server(self, **kw: Any) -> InMemoryServer:
        self.links: list[FakeResourceLink] = []

        def factory(delegate: Any) -> FakeResourceLink:
            link = FakeResourceLink(delegate)
            self.links.append(link)
            return link

        return InMemoryServer(resource_link_factory=factory, **kw)

    def test_kube_api_link_serves_version(self) -> None:
        """
        /version is kube's version.Info from the kube API link.
        """
        code, headers, body = fetch(self.server(), "/version")
        self.assertEqual(code, 200)
        self.assertEqual(headers["content-type"], "application/json")
        info = orjson.loads(body)
        self.assertEqual((info["major"], info["minor"]), ("1", "33"))
        self.assertTrue(info["gitVersion"].startswith("v1.33.0+kapid-"))
        for field in ("gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform", "kapidVersion"):
            self.assertIn(field, info)

    def test_resource_link_serves_api(self) -> None:
        """
        /api falls past the aggregator and the non-resource kube API link to the resource link.
        """
        self.assertEqual(fetch(self.server(), "/api")[2], b"served by the resource link")

    def test_without_resource_link_api_is_not_found(self) -> None:
        """
        Without a resource link, /api falls through to the not-found link.
        """
        code, _, body = fetch(InMemoryServer(), "/api")
        self.assertEqual((code, orjson.loads(body)), (404, NOT_FOUND))

    def test_unknown_path_is_not_found_status(self) -> None:
        """
        A path no link serves gets a 404 Status.
        """
        code, headers, body = fetch(self.server(), "/no/such/path")
        self.assertEqual(code, 404)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(orjson.loads(body), NOT_FOUND)

    def test_malformed_path_is_bad_request(self) -> None:
        """
        A path with a malformed percent escape gets a 400 BadRequest Status.
        """
        code, _, body = fetch(self.server(), "/api/v1/namespaces/%zz/pods")
        self.assertEqual((code, orjson.loads(body)["reason"]), (400, "BadRequest"))

    def test_declined_route_falls_through(self) -> None:
        """
        A route that matched and declined hands the request on (here to not-found).
        """
        code, _, body = fetch(self.server(), "/apis/declined/v1/things")
        self.assertEqual((code, orjson.loads(body)["reason"]), (404, "NotFound"))

    def test_decline_restores_path(self) -> None:
        """
        The delegate of a declining link sees the whole original path.
        """

        class Declining(Link):
            app = Klein()

            @app.route("/apis/<path:rest>")
            def decline(self, request: Any, rest: str) -> bytes:
                raise Decline()

        server = InMemoryServer(resource_link_factory=lambda d: Declining(PathEcho(d).resource()))
        self.assertEqual(fetch(server, "/apis/group/v1/things")[2], b"delegate saw /apis/group/v1/things")

    def test_index_lists_every_link_paths(self) -> None:
        """
        / lists the paths of every link, sorted, health checks included.
        """
        code, _, body = fetch(self.server(), "/")
        paths = orjson.loads(body)["paths"]
        self.assertEqual(code, 200)
        self.assertEqual(paths, sorted(paths))
        for path in ("/api", "/api/v1", "/version", "/healthz", "/healthz/etcd", "/readyz/shutdown", "/metrics"):
            self.assertIn(path, paths)

    def test_handler_error_is_internal_error_status(self) -> None:
        """
        An exception in a link's handler is a 500 InternalError Status.
        """
        code, _, body = fetch(self.server(), "/api/v1/boom")
        status = orjson.loads(body)
        self.assertEqual((code, status["reason"], status["code"]), (500, "InternalError", 500))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_panic_recovery(self) -> None:
        """
        A resource that raises outside any link gets a 500 Status and the next request works.
        """
        server = InMemoryServer(resource_link_factory=lambda d: Panicking())
        code, _, body = fetch(server, "/panic")
        self.assertEqual((code, orjson.loads(body)["reason"]), (500, "InternalError"))
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(fetch(server, "/fine")[:1], (200,))

    def test_metrics(self) -> None:
        """
        /metrics is Prometheus text with request counts.
        """
        server = self.server()
        fetch(server, "/version")
        code, headers, body = fetch(server, "/metrics")
        self.assertEqual(code, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        self.assertIn(b"apiserver_request_total{", body)
        self.assertIn(b"apiserver_current_inflight_requests", body)

    def test_request_log(self) -> None:
        """
        Each finished request is logged once with verb, URI, status and user.
        """
        events: list[dict] = []
        observer = lambda e: events.append(e) if e.get("log_namespace") == "kapid.httplog" else None  # noqa
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        fetch(self.server(), "/version?x=1")
        self.assertEqual(len(events), 1)
        e = events[0]
        self.assertEqual((e["verb"], e["uri"], e["code"], e["user"]), ("GET", "/version?x=1", 200, "system:anonymous"))


class FilterTests(SynchronousTestCase):
    """
    The handler chain's filters.
    """

    def server(self, **kw: Any) -> InMemoryServer:
        self.links: list[FakeResourceLink] = []

        def factory(delegate: Any) -> FakeResourceLink:
            link = FakeResourceLink(delegate)
            self.links.append(link)
            return link

        return InMemoryServer(resource_link_factory=factory, **kw)

    def test_timeout(self) -> None:
        """
        A request still running after --request-timeout gets a 504 Timeout Status.
        """
        server = self.server(request_timeout="30s")
        out = start(server, "/api/v1/namespaces/x/hang")
        server.clock.advance(29)
        server.stub.flush()
        self.assertEqual(out, [])
        server.clock.advance(1)
        server.stub.flush()
        response = out[0]
        self.assertEqual(response.code, 504)
        body: list[bytes] = []
        response.content().addCallback(body.append)
        server.stub.flush()
        self.assertEqual(orjson.loads(body[0]), {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Timeout: request did not complete within requested timeout - context deadline exceeded",
            "reason": "Timeout", "details": {}, "code": 504,
        })
        self.links[0].hanging[0].callback(b"late")  # the late answer goes nowhere
        server.stub.flush()

    def test_timeout_query_parameter_shortens(self) -> None:
        """
        ?timeout= shorter than --request-timeout applies.
        """
        server = self.server()
        out = start(server, "/api/v1/namespaces/x/hang?timeout=5s")
        server.clock.advance(5)
        server.stub.flush()
        self.assertEqual(out[0].code, 504)

    def test_watch_is_not_timed_out(self) -> None:
        """
        Watches are long-running: no 504 after --request-timeout.
        """
        server = self.server(request_timeout="10s")
        out = start(server, "/api/v1/pods?watch=1")
        server.clock.advance(3600)
        server.stub.flush()
        self.assertEqual(out, [])
        self.links[0].hanging[0].callback(b"done")
        server.stub.flush()
        self.assertEqual(out[0].code, 200)

    def test_max_in_flight(self) -> None:
        """
        Beyond --max-requests-inflight, a 429 with Retry-After: 1; watches are exempt.
        """
        server = self.server(max_requests_inflight="1")
        first = start(server, "/api/v1/namespaces/x/hang")
        watch = start(server, "/api/v1/pods?watch=true")
        code, headers, body = fetch(server, "/version")
        self.assertEqual((code, headers["retry-after"]), (429, "1"))
        self.assertEqual(body, b"Too many requests, please try again later.\n")
        self.assertEqual((first, watch), ([], []))
        for d in self.links[0].hanging:
            d.callback(b"ok")
        server.stub.flush()
        self.assertEqual(fetch(server, "/version")[0], 200)

    def test_max_mutating_in_flight(self) -> None:
        """
        Mutating requests have their own limit.
        """
        server = self.server(max_mutating_requests_inflight="1")
        start(server, "/api/v1/namespaces/x/hang", method="POST")
        self.assertEqual(fetch(server, "/api/v1/namespaces/x/hang", method="POST")[0], 429)
        self.assertEqual(fetch(server, "/version")[0], 200)

    def test_cors(self) -> None:
        """
        An allowed origin gets CORS headers and a preflight answer; others get none.
        """
        server = self.server(cors_allowed_origins="^https://ok\\.example$")
        code, headers, _ = fetch(server, "/version", headers={"Origin": ["https://ok.example"]})
        self.assertEqual((code, headers["access-control-allow-origin"]), (200, "https://ok.example"))
        code, headers, _ = fetch(server, "/version", method="OPTIONS", headers={"Origin": ["https://ok.example"]})
        self.assertEqual(code, 204)
        code, headers, _ = fetch(server, "/version", headers={"Origin": ["https://evil.example"]})
        self.assertNotIn("access-control-allow-origin", headers)

    def test_anonymous(self) -> None:
        """
        Without credentials, the user is system:anonymous in system:unauthenticated.
        """
        body = fetch(self.server(), "/api/v1/whoami")[2]
        self.assertEqual(orjson.loads(body), {"name": "system:anonymous", "groups": ["system:unauthenticated"]})

    def test_anonymous_disabled(self) -> None:
        """
        With --anonymous-auth=false, a request without credentials gets 401 Unauthorized.
        """
        code, _, body = fetch(self.server(anonymous_auth="false"), "/version")
        self.assertEqual(code, 401)
        self.assertEqual(orjson.loads(body), {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
        })

    def test_always_deny_non_resource(self) -> None:
        """
        AlwaysDeny forbids a non-resource path with kube's message.
        """
        code, _, body = fetch(self.server(authorization_mode="AlwaysDeny"), "/version")
        self.assertEqual(code, 403)
        self.assertEqual(orjson.loads(body), {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'forbidden: User "system:anonymous" cannot get path "/version": Everything is forbidden.',
            "reason": "Forbidden", "details": {}, "code": 403,
        })

    def test_always_deny_resource(self) -> None:
        """
        AlwaysDeny forbids a resource request with kube's message and details.
        """
        code, _, body = fetch(self.server(authorization_mode="AlwaysDeny"), "/apis/apps/v1/namespaces/default/deployments/web")
        status = orjson.loads(body)
        self.assertEqual(code, 403)
        self.assertEqual(
            status["message"],
            'deployments.apps "web" is forbidden: User "system:anonymous" cannot get resource "deployments" '
            'in API group "apps" in the namespace "default": Everything is forbidden.',
        )
        self.assertEqual(status["details"], {"name": "web", "group": "apps", "kind": "deployments"})

    def test_insecure_chain_is_superuser(self) -> None:
        """
        The insecure chain skips authn/authz: system:unsecured in system:masters, even with AlwaysDeny.
        """
        server = self.server(secure=False, authorization_mode="AlwaysDeny", anonymous_auth="false")
        body = fetch(server, "/api/v1/whoami")[2]
        self.assertEqual(orjson.loads(body)["name"], "system:unsecured")
        self.assertIn("system:masters", orjson.loads(body)["groups"])

    def test_shutdown_refuses_new_requests(self) -> None:
        """
        Once listeners are stopped, requests on open connections get 503 with Retry-After.
        """
        server = self.server()
        server.in_flight.shutting_down = True
        code, headers, body = fetch(server, "/version")
        self.assertEqual((code, headers["retry-after"]), (503, "1"))
        self.assertEqual(orjson.loads(body)["message"], "apiserver is shutting down")

    def test_drain_waits_for_in_flight(self) -> None:
        """
        drained() fires when the last non-long-running request finishes; watches do not count.
        """
        server = self.server()
        start(server, "/api/v1/namespaces/x/hang")
        start(server, "/api/v1/pods?watch=1")
        drained: list[Any] = []
        server.in_flight.drained().addCallback(drained.append)
        self.assertEqual(drained, [])
        self.links[0].hanging[0].callback(b"ok")
        server.stub.flush()
        self.assertEqual(drained, [None])
        self.assertEqual(len(server.in_flight.long_running), 1)
        server.in_flight.end_long_running()
        self.assertEqual(len(server.in_flight.long_running), 0)


class ImpersonationTests(SynchronousTestCase):
    """
    Impersonate-* headers, authorized per impersonated name.
    """

    def server(self, **kw: Any) -> InMemoryServer:
        return InMemoryServer(resource_link_factory=FakeResourceLink, **kw)

    def test_impersonate_user_and_groups(self) -> None:
        """
        An allowed impersonation makes the request act as the named user with its groups.
        """
        body = fetch(self.server(), "/api/v1/whoami", headers={
            "Impersonate-User": ["bob"], "Impersonate-Group": ["dev", "ops"],
        })[2]
        self.assertEqual(orjson.loads(body), {"name": "bob", "groups": ["dev", "ops", "system:authenticated"]})

    def test_impersonate_service_account(self) -> None:
        """
        Impersonating a service account adds its service-account groups.
        """
        body = fetch(self.server(), "/api/v1/whoami", headers={"Impersonate-User": ["system:serviceaccount:ns1:robot"]})[2]
        self.assertEqual(
            orjson.loads(body)["groups"],
            ["system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"],
        )

    def test_impersonation_denied(self) -> None:
        """
        A user who may not impersonate gets kube's 403.
        """
        code, _, body = fetch(self.server(authorization_mode="AlwaysDeny"), "/api/v1/whoami",
                              headers={"Impersonate-User": ["bob"]})
        self.assertEqual(code, 403)
        self.assertEqual(
            orjson.loads(body)["message"],
            'users "bob" is forbidden: User "system:anonymous" cannot impersonate resource "users" in API group "" '
            "at the cluster scope: Everything is forbidden.",
        )

    def test_group_without_user(self) -> None:
        """
        Impersonating groups without a user is refused as kube refuses it.
        """
        code, _, body = fetch(self.server(), "/api/v1/whoami", headers={"Impersonate-Group": ["system:masters"]})
        self.assertEqual(code, 500)
        self.assertEqual(
            orjson.loads(body)["message"],
            "Internal error occurred: requested [{Group  system:masters    }] without impersonating a user",
        )


class StageFactoryTests(SynchronousTestCase):
    """
    Several kube API stages chained between the non-resource link and the resource link.
    """

    def test_stages_in_order(self) -> None:
        """
        Stages are chained outermost first; each hands what it does not serve to the next.
        """

        class Front(Link):
            app = Klein()

            @app.route("/apis")
            def apis(self, request: Any) -> bytes:
                return b"front"

            def listed_paths(self) -> list[str]:
                return ["/apis"]

        from kapid.server.chain import build_chain
        from twisted.internet.task import Clock
        from kapid.options.config import config_from_args
        from kapid.storage.memory import MemoryKV
        from treq.testing import StubTreq

        clock = Clock()
        chain = build_chain(config_from_args(storage_backend="memory"), MemoryKV(clock), clock,
                            resource_link_factory=FakeResourceLink, stage_factories=[Front])
        stub = StubTreq(chain.root)
        out: list[bytes] = []
        for path in ("/apis", "/api"):
            stub.get(BASE + path).addCallback(lambda r: r.content()).addCallback(out.append)
        stub.flush()
        self.assertEqual(out, [b"front", b"served by the resource link"])
        self.assertIn("/apis", chain.paths())
        self.assertIn("/api/v1", chain.paths())
