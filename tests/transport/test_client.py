"""
Tests for L{kapid.transport.client}: real HTTPS servers on loopback with certificates generated in
the test, reached by URL and by Service reference.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from kapid.registry.builtin.core_cluster import ENDPOINTS, SERVICES
from kapid.registry.store import RegistryStore
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.testing.tls import issue, make_ca, server_options
from kapid.transport.client import ClientConfig, ClientFactory, ServiceReference, WebhookCallError
from kapid.transport.resolver import ServiceResolver


class Echo(Resource):
    """
    Answers a POST with what it saw: path, query, Host header, body, client certificate CN.
    """

    isLeaf = True

    def render_POST(self, request: Any) -> bytes:
        import json

        cn = ""
        cert = request.transport.getPeerCertificate() if hasattr(request.transport, "getPeerCertificate") else None
        if cert is not None:
            cn = cert.get_subject().CN or ""
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({
            "path": request.path.decode(),
            "query": request.uri.decode().partition("?")[2],
            "host": request.getHeader(b"host").decode(),
            "body": request.content.read().decode(),
            "cn": cn,
        }).encode()


class Silent(Resource):
    """
    Never answers.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Any] = []

    def render_POST(self, request: Any) -> Any:
        self.pending.append(request)
        return NOT_DONE_YET


class ClientTests(TestCase):
    """
    The client factory against real TLS servers.
    """

    def setUp(self) -> None:
        self.ca = make_ca()
        self.factory = ClientFactory(reactor)
        self.addCleanup(self.factory.close)

    def listen(self, resource: Resource, dns: tuple = ("localhost",), ips: tuple = ("127.0.0.1",), ca: Any = None, client_ca: Any = None) -> int:
        pair = issue(ca or self.ca, "server", dns, ips)
        port = reactor.listenSSL(0, Site(resource), server_options(pair, client_ca), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port  # type: ignore[no-any-return]

    async def post_json(self, config: ClientConfig, timeout: float = 5.0, path: str = "") -> dict:
        import json

        client = self.factory.client_for(config)
        r = await client.post(b'{"x":1}', timeout, path)
        self.assertEqual(r.code, 200)
        return json.loads(r.body)  # type: ignore[no-any-return]

    def test_url_verified_with_ca_bundle(self) -> None:
        """
        A URL config reaches the server, verified against the caBundle; the path and query
        carry kube's C{timeout} parameter.
        """
        port = self.listen(Echo())
        config = ClientConfig(url=f"https://127.0.0.1:{port}/convert", ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            seen = await self.post_json(config, timeout=30)
            self.assertEqual(seen["path"], "/convert")
            self.assertEqual(seen["query"], "timeout=30s")
            self.assertEqual(seen["host"], f"127.0.0.1:{port}")
            self.assertEqual(seen["body"], '{"x":1}')

        return ensureDeferred(go())

    def test_clients_cached_per_config(self) -> None:
        """
        One client (one pool) per config.
        """
        a = ClientConfig(url="https://127.0.0.1:1/x", ca_bundle=self.ca.cert_pem())
        self.assertIs(self.factory.client_for(a), self.factory.client_for(ClientConfig(url="https://127.0.0.1:1/x", ca_bundle=self.ca.cert_pem())))
        self.assertIsNot(self.factory.client_for(a), self.factory.client_for(ClientConfig(url="https://127.0.0.1:1/y")))
        self.assertRaises(ValueError, self.factory.client_for, ClientConfig())

    def test_unknown_authority(self) -> None:
        """
        A server certificate not signed by the caBundle: Go's unknown-authority error.
        """
        port = self.listen(Echo(), ca=make_ca("other"))
        url = f"https://127.0.0.1:{port}/convert"
        config = ClientConfig(url=url, ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(config).post(b"{}", 30)
            self.assertEqual(cm.exception.kind, "tls")
            self.assertEqual(
                cm.exception.message,
                f'Post "{url}?timeout=30s": tls: failed to verify certificate: x509: certificate signed by unknown authority',
            )

        return ensureDeferred(go())

    def test_host_name_mismatch(self) -> None:
        """
        A certificate for other names than the URL's host: Go's host name error.
        """
        port = self.listen(Echo(), dns=("elsewhere.example",), ips=("10.9.9.9",))
        url = f"https://localhost:{port}/"
        config = ClientConfig(url=url, ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(config).post(b"{}", 10)
            self.assertEqual(
                cm.exception.reason,
                "tls: failed to verify certificate: x509: certificate is valid for elsewhere.example, not localhost",
            )
            ipurl = f"https://127.0.0.1:{port}/"
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(ClientConfig(url=ipurl, ca_bundle=self.ca.cert_pem())).post(b"{}")
            self.assertEqual(
                cm.exception.reason,
                "tls: failed to verify certificate: x509: certificate is valid for 10.9.9.9, not 127.0.0.1",
            )

        return ensureDeferred(go())

    def test_timeout(self) -> None:
        """
        A server that never answers: the call fails with C{context deadline exceeded} after its
        timeout.
        """
        silent = Silent()
        port = self.listen(silent)
        url = f"https://127.0.0.1:{port}/hang"
        config = ClientConfig(url=url, ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(config).post(b"{}", 0.2)
            self.assertEqual((cm.exception.kind, cm.exception.message),
                             ("timeout", f'Post "{url}?timeout=200ms": context deadline exceeded'))
            for r in silent.pending:
                r.finish()

        return ensureDeferred(go())

    def test_connection_refused(self) -> None:
        """
        Nobody listening: Go's dial error.
        """
        port = self.listen(Echo())
        url = f"https://127.0.0.1:{port}/"
        # a port that was free a moment ago
        from socket import socket

        s = socket()
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
        s.close()
        config = ClientConfig(url=f"https://127.0.0.1:{free}/", ca_bundle=self.ca.cert_pem())
        _ = url

        async def go() -> None:
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(config).post(b"{}", 5)
            self.assertEqual(cm.exception.reason, f"dial tcp 127.0.0.1:{free}: connect: connection refused")

        return ensureDeferred(go())

    def test_client_certificate(self) -> None:
        """
        The factory's client certificate is presented to servers that ask for one.
        """
        client_ca = make_ca("clients")
        client = issue(client_ca, "kapid-client", server=False)
        factory = ClientFactory(reactor, client_cert=(client.cert_pem(), client.key_pem()))
        self.addCleanup(factory.close)
        port = self.listen(Echo(), client_ca=client_ca)
        config = ClientConfig(url=f"https://localhost:{port}/", ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            r = await factory.client_for(config).post(b"{}", 5)
            import json

            self.assertEqual(json.loads(r.body)["cn"], "kapid-client")

        return ensureDeferred(go())

    def test_request_streaming(self) -> None:
        """
        C{request} sends to a path with its own query, no C{timeout=} parameter, the Host the
        caller names, and answers the unbuffered response.
        """
        port = self.listen(Echo())
        config = ClientConfig(url=f"https://localhost:{port}/base?x=1", ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            import json

            from twisted.web.client import readBody

            from kapid.storage.etcd3.client import BytesProducer

            client = self.factory.client_for(config)
            self.assertEqual(client.display_url(), f"https://localhost:{port}/base?x=1")
            r = await client.request("POST", "/apis/g/v1?watch=true", body=BytesProducer(b"hi"), timeout=5, host_header="10.0.0.1:443")
            seen = json.loads(await readBody(r))
            self.assertEqual((seen["path"], seen["query"], seen["host"], seen["body"]),
                             ("/apis/g/v1", "watch=true", "10.0.0.1:443", "hi"))
            seen = await self.post_json(config, timeout=10)
            self.assertEqual((seen["path"], seen["query"]), ("/base", "x=1&timeout=10s"))

        return ensureDeferred(go())

    def test_insecure_skip_verify(self) -> None:
        """
        With C{insecure_skip_verify} any certificate is accepted.
        """
        port = self.listen(Echo(), dns=("elsewhere.example",), ca=make_ca("other"))
        config = ClientConfig(url=f"https://127.0.0.1:{port}/", insecure_skip_verify=True)

        async def go() -> None:
            seen = await self.post_json(config)
            self.assertEqual(seen["path"], "/")

        return ensureDeferred(go())


class ServiceReferenceTests(TestCase):
    """
    Service references: resolved through the memory store to the loopback server, verified
    against C{<name>.<namespace>.svc}.
    """

    def setUp(self) -> None:
        self.ca = make_ca()
        clock = Clock()
        storage = Store(MemoryKV(clock), clock)
        self.services = RegistryStore(SERVICES, storage, clock)
        self.endpoints = RegistryStore(ENDPOINTS, storage, clock)
        self.resolver = ServiceResolver(self.services, None, self.endpoints, random.Random(1))
        self.factory = ClientFactory(reactor, self.resolver)
        self.addCleanup(self.factory.close)

    def serve(self, dns: tuple) -> int:
        pair = issue(self.ca, "webhook", dns)
        port = reactor.listenSSL(0, Site(Echo()), server_options(pair), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port  # type: ignore[no-any-return]

    async def register(self, port: int) -> None:
        svc = {"metadata": {"name": "hook"}, "spec": {"clusterIP": "10.0.0.3", "ports": [{"port": 443, "targetPort": port}]}}
        SERVICES.strategy.default("v1", svc)
        await self.services.create("ns", svc, "v1")
        await self.endpoints.create("ns", {"metadata": {"name": "hook"}, "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]}, "v1")

    def test_service_name_verified(self) -> None:
        """
        The connection goes to the endpoint, the certificate is checked for C{hook.ns.svc}, and
        the Host header names the Service.
        """
        port = self.serve(("hook.ns.svc",))
        config = ClientConfig(service=ServiceReference("ns", "hook", 443, "/convert"), ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            await self.register(port)
            r = await self.factory.client_for(config).post(b"{}", 30)
            import json

            seen = json.loads(r.body)
            self.assertEqual((seen["path"], seen["host"], seen["query"]), ("/convert", "hook.ns.svc:443", "timeout=30s"))

        return ensureDeferred(go())

    def test_service_certificate_for_other_name(self) -> None:
        """
        A certificate valid for the endpoint address but not the Service name is refused.
        """
        port = self.serve(("localhost",))
        config = ClientConfig(service=ServiceReference("ns", "hook", 443, "/convert"), ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            await self.register(port)
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(config).post(b"{}", 30)
            self.assertEqual(
                cm.exception.message,
                'Post "https://hook.ns.svc:443/convert?timeout=30s": tls: failed to verify certificate: '
                "x509: certificate is valid for localhost, not hook.ns.svc",
            )

        return ensureDeferred(go())

    def test_service_missing(self) -> None:
        """
        An unresolvable Service fails the call with the resolver's error (and its Status).
        """
        config = ClientConfig(service=ServiceReference("ns", "gone", 8443, "/c"), ca_bundle=self.ca.cert_pem())

        async def go() -> None:
            with self.assertRaises(WebhookCallError) as cm:
                await self.factory.client_for(config).post(b"{}", 30)
            self.assertEqual(cm.exception.kind, "resolve")
            self.assertEqual(cm.exception.status.code, 404)
            self.assertEqual(cm.exception.message, 'Post "https://gone.ns.svc:8443/c?timeout=30s": service "gone" not found')

        return ensureDeferred(go())

    def test_config_from_api(self) -> None:
        """
        C{ClientConfig.from_api} reads the API's clientConfig (caBundle base64, port 443 default).
        """
        import base64

        c = ClientConfig.from_api({"service": {"namespace": "ns", "name": "hook", "path": "/p"},
                                   "caBundle": base64.b64encode(b"PEM").decode()})
        self.assertEqual(c, ClientConfig(service=ServiceReference("ns", "hook", 443, "/p"), ca_bundle=b"PEM"))
        self.assertEqual(ClientConfig.from_api({"url": "https://x/y"}).url, "https://x/y")
