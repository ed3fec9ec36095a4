"""
Tests for the aggregator's proxy and availability checks against real HTTPS backends on loopback:
front-proxy client certificate, user headers, bodies and codes passed through, streaming, kube's
503s, and the availability reasons.
"""

from __future__ import annotations

import json
import random
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from kapid.aggregator.available import AvailabilityController
from kapid.aggregator.link import AggregatorLink
from kapid.aggregator.proxy import APIServiceProxy, escape_extra_key
from kapid.auth.interfaces import UserInfo
from kapid.registry.builtin.apiregistration import API_SERVICES
from kapid.registry.builtin.core_cluster import ENDPOINTS, SERVICES
from kapid.registry.store import RegistryStore
from kapid.server.link import NotFoundResource
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.testing.tls import issue, make_ca, server_options
from kapid.transport.resolver import ServiceResolver
from tests.endpoints.helpers import AsUser

GROUP, VERSION = "wardle.example.com", "v1alpha1"


class Backend(Resource):
    """
    An extension API server: echoes what it saw as JSON; C{/apis/wardle.example.com/v1alpha1/slow}
    streams (first chunk now, the rest when the test says); C{/bad} answers 422.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.streams: list[Any] = []
        self.discovery_code = 200
        self.discovery_requests = 0

    def render(self, request: Any) -> Any:
        cert = request.transport.getPeerCertificate() if hasattr(request.transport, "getPeerCertificate") else None
        path = request.path.decode()
        if path == f"/apis/{GROUP}/{VERSION}":
            self.discovery_requests += 1
            request.setResponseCode(self.discovery_code)
            return json.dumps({"kind": "APIResourceList", "groupVersion": f"{GROUP}/{VERSION}", "resources": [
                {"name": "flunders", "singularName": "flunder", "namespaced": True, "kind": "Flunder", "verbs": ["get"]}]}).encode()
        if path == "/openapi/v2":
            request.setHeader(b"etag", b'"v2-1"')
            if request.getHeader(b"if-none-match") == b'"v2-1"':
                request.setResponseCode(304)
                return b""
            return json.dumps({"swagger": "2.0", "paths": {f"/apis/{GROUP}/{VERSION}/flunders": {"get": {}}, "/api/v1/pods": {}},
                               "definitions": {}}).encode()
        if path == f"/openapi/v3/apis/{GROUP}/{VERSION}":
            return json.dumps({"openapi": "3.0.0", "paths": {}, "components": {"schemas": {}}}).encode()
        if path.endswith("/broken"):
            request.write(b'{"type":"ADDED"}\n')
            reactor.callLater(0.05, request.channel.transport.abortConnection)
            return NOT_DONE_YET
        if path.endswith("/quiet"):
            request.write(b"")  # a watch with no event yet: headers only
            self.streams.append(request)
            return NOT_DONE_YET
        if path.endswith("/slow"):
            request.write(b'{"type":"ADDED"}\n')
            self.streams.append(request)
            return NOT_DONE_YET
        if path.endswith("/bad"):
            request.setResponseCode(422)
            request.setHeader(b"content-type", b"application/json")
            return b'{"kind":"Status","code":422}'
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"x-backend", b"yes")
        headers = {k.decode().lower(): [v.decode() for v in vs] for k, vs in request.requestHeaders.getAllRawHeaders()}
        return json.dumps({
            "method": request.method.decode(), "uri": request.uri.decode(), "headers": headers,
            "body": request.content.read().decode(), "cn": cert.get_subject().CN if cert is not None else "",
        }).encode()


class ProxyTests(TestCase):
    """The proxy and the availability controller against a real TLS backend."""

    def setUp(self) -> None:
        self.ca = make_ca("serving-ca")
        self.fp_ca = make_ca("front-proxy-ca")
        client = issue(self.fp_ca, "front-proxy-client", server=False)
        self.clock = Clock()
        storage = Store(MemoryKV(self.clock), self.clock)
        self.services = RegistryStore(SERVICES, storage, self.clock)
        self.endpoints = RegistryStore(ENDPOINTS, storage, self.clock)
        self.api_services = RegistryStore(API_SERVICES, storage, self.clock)
        self.resolver = ServiceResolver(self.services, None, self.endpoints, random.Random(1))
        self.proxy = APIServiceProxy(reactor, self.resolver, (client.cert_pem(), client.key_pem()))
        self.addCleanup(self.proxy.close)
        self.backend = Backend()
        pair = issue(self.ca, "api", ("api.wardle.svc",))
        port = reactor.listenSSL(0, Site(self.backend), server_options(pair, self.fp_ca), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.backend_port = port.getHost().port
        self.link = AggregatorLink(NotFoundResource(), proxy=self.proxy)
        user = UserInfo("alice", groups=("dev", "system:authenticated"), extra={"scopes.example.com/x y": ("a", "b")})
        front = reactor.listenTCP(0, Site(AsUser(self.link.resource(), user)), interface="127.0.0.1")
        self.addCleanup(front.stopListening)
        self.front = f"http://127.0.0.1:{front.getHost().port}"
        self.agent = Agent(reactor)
        from kapid.aggregator.discovery import RemoteDiscovery

        self.discovery = RemoteDiscovery()

    def api_service(self, available: bool = True, port: int = 443) -> dict:
        """The APIService of wardle, its CA bundle set."""
        import base64

        return {
            "metadata": {"name": f"{VERSION}.{GROUP}"},
            "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 1000, "versionPriority": 15,
                     "service": {"namespace": "wardle", "name": "api", "port": port},
                     "caBundle": base64.b64encode(self.ca.cert_pem()).decode()},
            "status": {"conditions": [{"type": "Available", "status": "True" if available else "False"}]},
        }

    async def register(self, endpoints: bool = True) -> None:
        """The wardle Service (and its Endpoints at the backend)."""
        svc = {"metadata": {"name": "api"}, "spec": {"clusterIP": "10.0.0.9", "ports": [{"port": 443, "targetPort": self.backend_port}]}}
        SERVICES.strategy.default("v1", svc)
        await self.services.create("wardle", svc, "v1")
        if endpoints:
            await self.endpoints.create("wardle", {"metadata": {"name": "api"}, "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": self.backend_port}]}]}, "v1")

    async def request(self, method: str, path: str, headers: dict | None = None, body: bytes = b"") -> tuple[int, bytes, Any]:
        """A request to the front: (code, body, headers)."""
        from twisted.web.client import FileBodyProducer
        from io import BytesIO

        producer = FileBodyProducer(BytesIO(body)) if body else None
        h = Headers({k.encode(): [v.encode()] for k, v in (headers or {}).items()})
        resp = await self.agent.request(method.encode(), (self.front + path).encode(), h, producer)
        data = await readBody(resp)
        return resp.code, data, resp.headers

    def test_proxied_with_front_proxy_identity(self) -> None:
        """The backend sees the path and query, kapid's front-proxy certificate and the user's headers; claimed ones are dropped."""
        async def go() -> None:
            await self.register()
            self.link.update({"x": self.api_service()})
            code, body, headers = await self.request(
                "GET", f"/apis/{GROUP}/{VERSION}/namespaces/n/flunders?limit=2",
                {"X-Remote-User": "mallory", "X-Remote-Extra-Evil": "1", "Authorization": "Bearer secret", "Accept": "application/json"},
            )
            self.assertEqual(code, 200, body)
            seen = json.loads(body)
            self.assertEqual(seen["uri"], f"/apis/{GROUP}/{VERSION}/namespaces/n/flunders?limit=2")
            self.assertEqual(seen["cn"], "front-proxy-client")
            h = seen["headers"]
            self.assertEqual(h["x-remote-user"], ["alice"])
            self.assertEqual(h["x-remote-group"], ["dev", "system:authenticated"])
            self.assertEqual(h["x-remote-extra-" + escape_extra_key("scopes.example.com/x y").lower()], ["a", "b"])
            self.assertNotIn("x-remote-extra-evil", h)
            self.assertNotIn("authorization", h)
            self.assertEqual(h["accept"], ["application/json"])
            self.assertEqual(headers.getRawHeaders("x-backend"), ["yes"])

        return ensureDeferred(go())

    def test_body_and_errors_pass_through(self) -> None:
        """A POST body reaches the backend; the backend's own error code and body come back unchanged."""
        async def go() -> None:
            await self.register()
            self.link.update({"x": self.api_service()})
            code, body, _ = await self.request("POST", f"/apis/{GROUP}/{VERSION}/flunders", {"Content-Type": "application/json"}, b'{"a":1}')
            self.assertEqual(code, 200, body)
            self.assertEqual(json.loads(body)["body"], "{\"a\":1}")
            big = b'{"data":"' + b"x" * 300_000 + b'"}'  # Twisted's server keeps it in a file: streamed from there
            code, body, _ = await self.request("PUT", f"/apis/{GROUP}/{VERSION}/flunders/f", {"Content-Type": "application/json"}, big)
            self.assertEqual((code, json.loads(body)["body"].encode()), (200, big))
            code, body, _ = await self.request("GET", f"/apis/{GROUP}/{VERSION}/bad")
            self.assertEqual((code, body), (422, b'{"kind":"Status","code":422}'))

        return ensureDeferred(go())

    def test_streams(self) -> None:
        """A long response arrives chunk by chunk, before the backend has finished."""
        async def go() -> None:
            await self.register()
            self.link.update({"x": self.api_service()})
            resp = await self.agent.request(b"GET", (self.front + f"/apis/{GROUP}/{VERSION}/slow").encode())
            self.assertEqual(resp.code, 200)
            got: list[bytes] = []
            done: Deferred = Deferred()

            class Collect(Protocol):
                def dataReceived(self, data: bytes) -> None:
                    got.append(data)

                def connectionLost(self, reason: Any = None) -> None:
                    done.callback(None)

            resp.deliverBody(Collect())
            for _ in range(100):
                if got:
                    break
                await deferLater(reactor, 0.01, lambda: None)
            self.assertEqual(b"".join(got), b'{"type":"ADDED"}\n')
            stream = self.backend.streams[0]
            stream.write(b'{"type":"MODIFIED"}\n')
            stream.finish()
            await done
            self.assertEqual(b"".join(got), b'{"type":"ADDED"}\n{"type":"MODIFIED"}\n')

        return ensureDeferred(go())

    def test_stream_headers_before_any_event(self) -> None:
        """A stream whose backend sent only its headers (a watch with no event yet) shows them to the client at once."""
        async def go() -> None:
            await self.register()
            self.link.update({"x": self.api_service()})
            d = self.agent.request(b"GET", (self.front + f"/apis/{GROUP}/{VERSION}/quiet").encode())
            resp = await d
            self.assertEqual(resp.code, 200)
            self.backend.streams[0].finish()
            self.assertEqual(await readBody(resp), b"")

        return ensureDeferred(go())

    def test_backend_closes_mid_stream(self) -> None:
        """A backend that goes away mid-response takes the client's connection with it (no clean end)."""
        async def go() -> None:
            await self.register()
            self.link.update({"x": self.api_service()})
            resp = await self.agent.request(b"GET", (self.front + f"/apis/{GROUP}/{VERSION}/broken").encode())
            self.assertEqual(resp.code, 200)
            from twisted.web.client import PartialDownloadError, ResponseFailed

            with self.assertRaises((ResponseFailed, PartialDownloadError)):
                await readBody(resp)

        return ensureDeferred(go())

    def test_unresolvable_service(self) -> None:
        """A Service that cannot be resolved: kube's plain-text 503."""
        async def go() -> None:
            self.link.update({"x": self.api_service()})
            code, body, headers = await self.request("GET", f"/apis/{GROUP}/{VERSION}/flunders")
            self.assertEqual((code, body), (503, b"service unavailable\n"))
            self.assertEqual(headers.getRawHeaders("content-type"), ["text/plain; charset=utf-8"])

        return ensureDeferred(go())

    def test_wrong_ca_bundle(self) -> None:
        """A backend certificate not signed by caBundle: 503 with the TLS error."""
        async def go() -> None:
            await self.register()
            obj = self.api_service()
            import base64

            obj["spec"]["caBundle"] = base64.b64encode(make_ca("other").cert_pem()).decode()
            self.link.update({"x": obj})
            code, body, _ = await self.request("GET", f"/apis/{GROUP}/{VERSION}/flunders")
            self.assertEqual(code, 503)
            self.assertIn(b"x509: certificate signed by unknown authority", body)

        return ensureDeferred(go())

    async def condition(self, obj: dict) -> dict:
        """The availability controller's condition for C{obj}, written to the store; returned as stored."""
        created = await self.api_services.create("", {k: v for k, v in obj.items() if k != "status"}, "v1")
        ctl = AvailabilityController(self.api_services, self.resolver, self.proxy, self.clock, discovery=self.discovery)
        ctl.update({created["metadata"]["name"]: created})
        await ctl.check(created["metadata"]["name"])
        stored = await self.api_services.get("", created["metadata"]["name"], "v1")
        await self.api_services.delete("", created["metadata"]["name"], {}, "v1")
        c = stored["status"]["conditions"][0]
        return {k: c[k] for k in ("status", "reason", "message")}

    def test_availability(self) -> None:
        """kube's reasons: ServiceNotFound, ServicePortError, MissingEndpoints, FailedDiscoveryCheck, Passed."""
        async def go() -> None:
            obj = self.api_service()
            self.assertEqual(await self.condition(obj), {
                "status": "False", "reason": "ServiceNotFound", "message": 'service/api in "wardle" is not present'})
            await self.register(endpoints=False)
            self.assertEqual(await self.condition(self.api_service(port=8443)), {
                "status": "False", "reason": "ServicePortError", "message": 'service/api in "wardle" is not listening on port 8443'})
            self.assertEqual(await self.condition(obj), {
                "status": "False", "reason": "EndpointsNotFound", "message": 'cannot find endpoints for service/api in "wardle"'})
            await self.endpoints.create("wardle", {"metadata": {"name": "api"}, "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "other", "port": self.backend_port}]}]}, "v1")
            self.assertEqual(await self.condition(obj), {
                "status": "False", "reason": "MissingEndpoints",
                "message": 'endpoints for service/api in "wardle" have no addresses with port name ""'})
            await self.endpoints.update("wardle", "api", lambda _: {"metadata": {"name": "api"}, "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": self.backend_port}]}]}, "v1")
            self.assertEqual(await self.condition(obj), {"status": "True", "reason": "Passed", "message": "all checks passed"})
            self.assertEqual(self.discovery.priorities(), {(GROUP, VERSION): (1000, 15)})
            self.assertEqual([r["resource"] for r in self.discovery.resources(GROUP, VERSION)], ["flunders"])
            self.assertEqual(json.loads(self.discovery.openapi_v3(GROUP, VERSION)[0])["openapi"], "3.0.0")
            self.assertEqual(self.discovery.openapi_v2_portions(), [(GROUP, VERSION, {"paths": {f"/apis/{GROUP}/{VERSION}/flunders": {"get": {}}}, "definitions": {}})])
            self.assertEqual(self.discovery.openapi_v2_etag(GROUP, VERSION), '"v2-1"')
            self.backend.discovery_requests = 0
            self.backend.discovery_code = 403
            url = f"https://127.0.0.1:{self.backend_port}/apis/{GROUP}/{VERSION}"
            self.assertEqual(await self.condition(obj), {
                "status": "False", "reason": "FailedDiscoveryCheck",
                "message": f"failing or missing response from {url}: bad status from {url}: 403"})
            self.assertEqual(self.discovery.priorities(), {})
            self.assertIsNone(self.discovery.openapi_v3(GROUP, VERSION))
            # kube makes five attempts per check (this one was checked on update and once more)
            self.assertEqual(self.backend.discovery_requests, 10)

        return ensureDeferred(go())


class _UpgradeBackend(Protocol):
    """A backend answering an upgrade with 101 (naming the headers it saw), then echoing upper-cased."""

    lost: list[Deferred] = []

    def __init__(self) -> None:
        self.buf = b""
        self.upgraded = False
        self.gone: Deferred = Deferred()
        _UpgradeBackend.lost.append(self.gone)

    def connectionLost(self, reason: Any = None) -> None:
        self.gone.callback(None)

    def dataReceived(self, data: bytes) -> None:
        if self.upgraded:
            self.transport.write(data.upper())
            return
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        seen = {ln.split(b":", 1)[0].strip().lower(): ln.split(b":", 1)[1].strip() for ln in lines[1:]}
        cn = self.transport.getPeerCertificate().get_subject().CN.encode()
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + seen.get(b"upgrade", b"") +
            b"\r\nX-Saw-User: " + seen.get(b"x-remote-user", b"") + b"\r\nX-Saw-Auth: " + seen.get(b"authorization", b"-") +
            b"\r\nX-Saw-CN: " + cn + b"\r\nX-Saw-Path: " + lines[0].split(b" ")[1] + b"\r\n\r\n")
        self.upgraded = True
        if rest:
            self.transport.write(rest.upper())


class _UpgradeClient(Protocol):
    """Sends an upgrade request, then C{payload} once switched; collects everything."""

    def __init__(self, request: bytes, payload: bytes) -> None:
        self.request, self.payload = request, payload
        self.data = b""
        self.done: Deferred = Deferred()
        self.sent = False

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if not self.sent and b"\r\n\r\n" in self.data:
            self.sent = True
            if self.data.startswith(b"HTTP/1.1 101"):
                self.transport.write(self.payload)
        head, _, rest = self.data.partition(b"\r\n\r\n")
        if self.sent and (len(rest) >= len(self.payload) or not self.data.startswith(b"HTTP/1.1 101")):
            if self.data.startswith(b"HTTP/1.1 101") or b"\r\n\r\n" in rest or len(rest) > 0:
                self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            self.done.callback(self.data)


class UpgradeProxyTests(TestCase):
    """Upgrade requests through the aggregator's proxy."""

    setUp = ProxyTests.setUp
    api_service = ProxyTests.api_service
    register = ProxyTests.register

    def test_upgrade_spliced(self) -> None:
        """An upgrade reaches the backend over the APIService's TLS with the front-proxy identity, and bytes flow both ways."""
        async def go() -> None:
            from twisted.internet.endpoints import TCP4ClientEndpoint
            from twisted.internet.protocol import Factory

            pair = issue(self.ca, "api", ("api.wardle.svc",))
            port = reactor.listenSSL(0, Factory.forProtocol(_UpgradeBackend), server_options(pair, self.fp_ca), interface="127.0.0.1")
            self.addCleanup(port.stopListening)
            self.backend_port = port.getHost().port
            await self.register()
            self.link.update({"x": self.api_service()})
            path = f"/apis/{GROUP}/{VERSION}/namespaces/n/flunders/f/exec?command=sh"
            req = (f"POST {path} HTTP/1.1\r\nHost: front\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   "Authorization: Bearer secret\r\nX-Remote-User: mallory\r\nContent-Length: 0\r\n\r\n").encode()
            client = _UpgradeClient(req, b"ping through the splice")
            front_port = int(self.front.rsplit(":", 1)[1])
            await TCP4ClientEndpoint(reactor, "127.0.0.1", front_port).connect(Factory.forProtocol(lambda: client))
            data = await client.done
            head, _, rest = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), data)
            self.assertIn(b"X-Saw-User: alice", head)
            self.assertIn(b"X-Saw-Auth: -", head)
            self.assertIn(b"X-Saw-CN: front-proxy-client", head)
            self.assertIn(b"X-Saw-Path: " + path.encode(), head)
            self.assertEqual(rest, b"PING THROUGH THE SPLICE")
            await _UpgradeBackend.lost[-1]  # the client went: so does the spliced backend connection

        return ensureDeferred(go())

    def test_upgrade_dial_fails(self) -> None:
        """No backend listening: kube's aggregator answers 503 with the dial error."""
        async def go() -> None:
            from twisted.internet.endpoints import TCP4ClientEndpoint
            from twisted.internet.protocol import Factory

            port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
            self.backend_port = port.getHost().port
            await port.stopListening()
            await self.register()
            self.link.update({"x": self.api_service()})
            req = (f"GET /apis/{GROUP}/{VERSION}/x HTTP/1.1\r\nHost: front\r\nConnection: Upgrade\r\n"
                   "Upgrade: websocket\r\n\r\n").encode()
            client = _UpgradeClient(req, b"")
            front_port = int(self.front.rsplit(":", 1)[1])
            await TCP4ClientEndpoint(reactor, "127.0.0.1", front_port).connect(Factory.forProtocol(lambda: client))
            data = await client.done
            self.assertTrue(data.startswith(b"HTTP/1.1 503"), data)
            self.assertIn(f"error dialing backend: dial tcp 127.0.0.1:{self.backend_port}: connect: connection refused\n".encode(), data)

        return ensureDeferred(go())
