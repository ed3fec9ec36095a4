"""
Tests for L{kapid.server.faults} (the faults API and the filter applying faults) and
L{kapid.options.faults} (the flag, refused beyond loopback).
"""

from __future__ import annotations

import json

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from kapid.options.config import build_config
from kapid.options.faults import non_loopback_listeners
from kapid.server.faults import FaultFilter, FaultRegistry, FaultyKV
from kapid.server.filters.requestinfo import RequestInfoFilter
from kapid.storage.interfaces import IKV, UnavailableError
from kapid.storage.memory import MemoryKV

BASE = "http://kapid"


class _Echo(Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def render(self, request):  # type: ignore[no-untyped-def]
        self.seen.append(request.method.decode() + " " + request.uri.decode())
        request.setHeader(b"Content-Type", b"application/json")
        return b'{"ok": true}'


class FaultFilterTests(SynchronousTestCase):
    """
    Faults armed through the API hit the requests they match, as many times as asked.
    """

    def setUp(self) -> None:
        self.echo = _Echo()
        self.clock = Clock()
        self.registry = FaultRegistry()
        self.stub = StubTreq(RequestInfoFilter(FaultFilter(self.echo, self.registry, self.clock)))

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        kwargs = {} if body is None else {"data": json.dumps(body).encode()}
        d = self.stub.request(method, BASE + path, **kwargs)
        self.stub.flush()
        response = self.successResultOf(d)
        content = self.successResultOf(self.stub.content(response))
        return response.code, json.loads(content) if content else {}

    def arm(self, **spec: object) -> dict:
        code, body = self.call("POST", "/debug/kapid/faults", spec)
        self.assertEqual(code, 201, body)
        return body

    def test_conflict_on_next_update(self) -> None:
        """
        A 409 fault on update of one ConfigMap answers kube's optimistic-lock Conflict once; other
        verbs, names and the second update go through.
        """
        fault = self.arm(verb="update", resource="configmaps", namespace="ns", name="x", code=409)
        self.assertEqual((fault["count"], fault["hits"]), (1, 0))
        self.assertEqual(self.call("GET", "/api/v1/namespaces/ns/configmaps/x")[0], 200)
        self.assertEqual(self.call("PUT", "/api/v1/namespaces/ns/configmaps/y", {})[0], 200)
        code, status = self.call("PUT", "/api/v1/namespaces/ns/configmaps/x", {})
        self.assertEqual((code, status), (409, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'Operation cannot be fulfilled on configmaps "x": the object has been modified; '
                       "please apply your changes to the latest version and try again",
            "reason": "Conflict", "details": {"name": "x", "kind": "configmaps"}, "code": 409,
        }))
        self.assertEqual(self.call("PUT", "/api/v1/namespaces/ns/configmaps/x", {})[0], 200)
        self.assertEqual(self.call("GET", "/debug/kapid/faults"), (200, {"faults": []}))

    def test_count_group_and_message(self) -> None:
        """
        C{count} hits that many requests; C{deployments.apps} names the group; C{reason} and
        C{message} replace the defaults; a 429 carries Retry-After.
        """
        self.arm(verb="list", resource="deployments.apps", code=503, count=2, message="storage is down")
        self.assertEqual(self.call("GET", "/api/v1/namespaces/ns/deployments")[0], 200)  # core, not apps
        for _ in range(2):
            code, status = self.call("GET", "/apis/apps/v1/namespaces/ns/deployments")
            self.assertEqual((code, status["reason"], status["message"]), (503, "ServiceUnavailable", "storage is down"))
        self.assertEqual(self.call("GET", "/apis/apps/v1/namespaces/ns/deployments")[0], 200)
        self.arm(resource="pods", code=429)
        d = self.stub.get(BASE + "/api/v1/pods")
        self.stub.flush()
        response = self.successResultOf(d)
        self.assertEqual((response.code, response.headers.getRawHeaders(b"retry-after")), (429, [b"1"]))

    def test_delay(self) -> None:
        """
        A delay-only fault holds the request for C{delaySeconds} (on the clock), then serves it.
        """
        self.arm(verb="get", resource="configmaps", delaySeconds=2.5)
        d = self.stub.get(BASE + "/api/v1/namespaces/ns/configmaps/x")
        self.stub.flush()
        self.assertNoResult(d)
        self.assertEqual(self.echo.seen, [])
        self.clock.advance(2.5)
        self.stub.flush()
        self.assertEqual(self.successResultOf(d).code, 200)
        self.assertEqual(self.echo.seen, ["GET /api/v1/namespaces/ns/configmaps/x"])

    def test_delay_then_error(self) -> None:
        """
        A fault with both a delay and a code answers the error after the delay.
        """
        self.arm(resource="secrets", code=500, delaySeconds=1)
        d = self.stub.get(BASE + "/api/v1/namespaces/ns/secrets")
        self.stub.flush()
        self.assertNoResult(d)
        self.clock.advance(1)
        self.stub.flush()
        response = self.successResultOf(d)
        body = json.loads(self.successResultOf(self.stub.content(response)))
        self.assertEqual((response.code, body["reason"], body["message"]),
                         (500, "InternalError", "Internal error occurred: etcdserver: request timed out"))

    def test_every_request_until_removed(self) -> None:
        """
        C{count: -1} hits every matching request until the fault is deleted by id.
        """
        fault = self.arm(resource="configmaps", namespace="ns", code=410)
        other = self.arm(resource="configmaps", namespace="ns", code=410, count=-1)
        self.call("GET", "/api/v1/namespaces/ns/configmaps")
        for _ in range(3):
            code, status = self.call("GET", "/api/v1/namespaces/ns/configmaps?watch=1&resourceVersion=1")
            self.assertEqual((code, status["reason"]), (410, "Expired"))
        self.assertEqual([f["id"] for f in self.call("GET", "/debug/kapid/faults")[1]["faults"]], [other["id"]])
        self.assertEqual(self.call("DELETE", f"/debug/kapid/faults/{fault['id']}")[0], 404)
        self.assertEqual(self.call("DELETE", f"/debug/kapid/faults/{other['id']}"), (200, {"faults": []}))
        self.assertEqual(self.call("GET", "/api/v1/namespaces/ns/configmaps")[0], 200)

    def test_non_resource_paths_untouched(self) -> None:
        """
        Faults hit resource requests only (a fault for any resource leaves /readyz alone).
        """
        self.arm(code=500, count=-1)
        self.assertEqual(self.call("GET", "/readyz")[0], 200)
        self.assertEqual(self.call("GET", "/api/v1/namespaces")[0], 500)
        self.assertEqual(self.call("DELETE", "/debug/kapid/faults"), (200, {"faults": []}))

    def test_bad_faults(self) -> None:
        """
        Bad fault specs are answered 400 with a message.
        """
        for spec, message in (
            ({"verb": "frobnicate", "code": 500}, "fault verb 'frobnicate' is not one of"),
            ({"code": 200}, "fault code must be an HTTP error status"),
            ({"code": 500, "count": 0}, "fault count must be a positive integer"),
            ({"resource": "pods"}, "a fault needs a code, a delaySeconds, or both"),
            ({"code": 500, "colour": "red"}, "unknown fault field(s): colour"),
            ([], "a fault is a JSON object"),
        ):
            code, status = self.call("POST", "/debug/kapid/faults", spec)
            self.assertEqual((code, status["reason"]), (400, "BadRequest"), spec)
            self.assertIn(message, status["message"])
        self.assertEqual(self.call("GET", "/debug/kapid/faults"), (200, {"faults": []}))


class FlagTests(SynchronousTestCase):
    """
    C{--enable-fault-injection} is off by default and refused beyond loopback.
    """

    def test_default_off(self) -> None:
        """
        Without the flag fault injection is off.
        """
        config, errors = build_config({})
        self.assertEqual(errors, [])
        assert config is not None
        self.assertFalse(config.faults.enable_fault_injection)

    def test_loopback_accepted(self) -> None:
        """
        On loopback binds (and port-0 loopback endpoints) the flag is accepted.
        """
        config, errors = build_config({
            "enable-fault-injection": "true", "secure-listen-endpoint": "tcp:0:interface=127.0.0.1",
            "insecure-listen-endpoint": r"tcp6:0:interface=\:\:1",
        })
        self.assertEqual(errors, [])
        assert config is not None
        self.assertTrue(config.faults.enable_fault_injection)

    def test_refused_beyond_loopback(self) -> None:
        """
        A non-loopback bind address or endpoint (or one kapid cannot see) refuses the flag.
        """
        _, errors = build_config({"enable-fault-injection": "true", "bind-address": "0.0.0.0"})
        self.assertIn("--enable-fault-injection: refused: only a server that listens on loopback addresses "
                      "may inject faults, and --bind-address=0.0.0.0 does not", errors)
        self.assertEqual(non_loopback_listeners({"secure-listen-endpoint": "tcp:6443", "insecure-port": "0"}),
                         ["--secure-listen-endpoint=tcp:6443"])
        self.assertEqual(non_loopback_listeners({"secure-listen-endpoint": "systemd:domain=INET:index=0",
                                                 "insecure-listen-endpoint": "tcp:8080:interface=10.0.0.1"}),
                         ["--secure-listen-endpoint=systemd:domain=INET:index=0",
                          "--insecure-listen-endpoint=tcp:8080:interface=10.0.0.1"])
        self.assertEqual(non_loopback_listeners({"secure-port": "0", "bind-address": "0.0.0.0"}), [])


class FaultyKVTests(SynchronousTestCase):
    """
    L{FaultyKV}: an outage for a while on the clock.
    """

    def test_outage_ends_on_time(self) -> None:
        """
        During the outage the guarded calls fail with L{UnavailableError}; afterwards they reach
        the store again; the proxy provides L{IKV}.
        """
        clock = Clock()
        kv = FaultyKV(MemoryKV(clock), clock)
        self.assertTrue(IKV.providedBy(kv))
        registry = FaultRegistry(kv)
        self.successResultOf(kv.optimistic_put(b"/k", b"v", 0))
        registry.make_storage_unavailable(5)
        self.failureResultOf(kv.get(b"/k"), UnavailableError)
        self.failureResultOf(kv.check_health(), UnavailableError)
        clock.advance(5)
        self.assertEqual(self.successResultOf(kv.get(b"/k"))[0].value, b"v")
        registry.make_storage_unavailable(5)
        registry.make_storage_unavailable(0)
        self.successResultOf(kv.check_health())
