"""
Tests for request-header authentication over real TLS (front-proxy certificates, allowed names,
headers from other clients ignored) and the extension-apiserver-authentication ConfigMap.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site

from kapid.aggregator.requestheader import (
    CONFIGMAP_NAME,
    RequestHeaderAuthenticator,
    WithRequestHeader,
    authentication_configmap,
    publish,
)
from kapid.auth.authenticators import AnonymousAuthenticator, UnionAuthenticator, X509Authenticator
from kapid.auth.interfaces import AuthenticationError
from kapid.testing.tls import issue, make_ca, server_options
from kapid.transport.client import ClientConfig, ClientFactory
from tests.endpoints.helpers import API


class WhoAmI(Resource):
    """Answers with the user the authenticator finds (or the authentication error)."""

    isLeaf = True

    def __init__(self, authenticator: Any) -> None:
        super().__init__()
        self.authenticator = authenticator

    def render_GET(self, request: Any) -> Any:
        from twisted.internet.defer import maybeDeferred

        d = maybeDeferred(self.authenticator.authenticate, request)

        def ok(user: Any) -> None:
            left = sorted(k.decode().lower() for k, _ in request.requestHeaders.getAllRawHeaders() if k.lower().startswith(b"x-remote"))
            body = {"user": None} if user is None else {"user": user.name, "groups": list(user.groups), "extra": {k: list(v) for k, v in user.extra.items()}}
            body["left"] = left
            request.write(json.dumps(body).encode())
            request.finish()

        def failed(f: Any) -> None:
            f.trap(AuthenticationError)
            request.setResponseCode(401)
            request.write(str(f.value).encode())
            request.finish()

        d.addCallbacks(ok, failed)
        from twisted.web.server import NOT_DONE_YET

        return NOT_DONE_YET


class RequestHeaderTLSTests(TestCase):
    """The authenticator behind a real TLS listener accepting both CAs."""

    def setUp(self) -> None:
        self.serving_ca = make_ca("serving")
        self.client_ca = make_ca("client-ca")
        self.rh_ca = make_ca("front-proxy-ca")
        rh = RequestHeaderAuthenticator(
            [self.rh_ca.cert], ("front-proxy-client",), ("X-Remote-User",), ("X-Remote-Group",), ("X-Remote-Extra-",),
        )
        inner = UnionAuthenticator([X509Authenticator(), AnonymousAuthenticator()])
        auth = WithRequestHeader(rh, inner, [self.client_ca.cert])
        pair = issue(self.serving_ca, "server", ("localhost",), ("127.0.0.1",))
        opts = server_options(pair)
        from OpenSSL.crypto import X509
        from twisted.internet.ssl import CertificateOptions

        opts = CertificateOptions(
            privateKey=opts.privateKey, certificate=opts.certificate, verify=True, requireCertificate=False,
            caCerts=[X509.from_cryptography(self.client_ca.cert), X509.from_cryptography(self.rh_ca.cert)],
        )
        port = reactor.listenSSL(0, Site(WhoAmI(auth)), opts, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"https://127.0.0.1:{port.getHost().port}/"
        self.factory = ClientFactory(reactor)
        self.addCleanup(self.factory.close)

    async def who(self, cert: Any, headers: dict[str, list[str]]) -> tuple[int, Any]:
        """GET as C{cert} (a KeyPair or None) with C{headers}: (code, decoded body or text)."""
        from twisted.web.client import readBody

        config = ClientConfig(
            url=self.url, ca_bundle=self.serving_ca.cert_pem(),
            client_cert=(cert.cert_pem(), cert.key_pem()) if cert is not None else None,
        )
        h = Headers({k.encode(): [x.encode() for x in v] for k, v in headers.items()})
        resp = await self.factory.client_for(config).request("GET", "/", h)
        body = await readBody(resp)
        return resp.code, (json.loads(body) if resp.code == 200 else body.decode())

    def test_front_proxy_user(self) -> None:
        """A front-proxy certificate's headers name the user, groups and extras; the headers are removed."""
        async def go() -> None:
            proxy = issue(self.rh_ca, "front-proxy-client", server=False)
            code, body = await self.who(proxy, {
                "X-Remote-User": ["alice"], "X-Remote-Group": ["dev", "ops"],
                "X-Remote-Extra-Scopes.example.com%2Fa": ["x", "y"],
            })
            self.assertEqual(code, 200, body)
            self.assertEqual(body, {"user": "alice", "groups": ["dev", "ops"], "extra": {"scopes.example.com/a": ["x", "y"]}, "left": []})

        return ensureDeferred(go())

    def test_untrusted_clients(self) -> None:
        """Headers from a client-CA user or no certificate are ignored; a proxy name not allowed or no username is refused."""
        async def go() -> None:
            user = issue(self.client_ca, "bob", server=False)
            code, body = await self.who(user, {"X-Remote-User": ["alice"]})
            self.assertEqual((code, body["user"], body["left"]), (200, "bob", ["x-remote-user"]))
            code, body = await self.who(None, {"X-Remote-User": ["alice"]})
            self.assertEqual((code, body["user"]), (200, "system:anonymous"))
            other = issue(self.rh_ca, "someone-else", server=False)
            code, body = await self.who(other, {"X-Remote-User": ["alice"]})
            self.assertEqual(code, 401)
            self.assertIn("not in the allowed list", body)
            proxy = issue(self.rh_ca, "front-proxy-client", server=False)
            code, body = await self.who(proxy, {})
            self.assertEqual(code, 401)

        return ensureDeferred(go())


class ConfigMapTests(SynchronousTestCase):
    """The extension-apiserver-authentication ConfigMap."""

    def test_data(self):
        """kube's keys: the client CA, and the request-header CA with JSON lists of header names."""
        ca, rh = make_ca("c"), make_ca("rh")
        cm = authentication_configmap([ca.cert], [rh.cert], ["X-Remote-User"], ["X-Remote-Group"], ["X-Remote-Extra-"], ["front-proxy-client"])
        self.assertEqual((cm["metadata"]["namespace"], cm["metadata"]["name"]), ("kube-system", CONFIGMAP_NAME))
        self.assertEqual(sorted(cm["data"]), [
            "client-ca-file", "requestheader-allowed-names", "requestheader-client-ca-file",
            "requestheader-extra-headers-prefix", "requestheader-group-headers", "requestheader-username-headers",
        ])
        self.assertEqual(cm["data"]["requestheader-username-headers"], '["X-Remote-User"]')
        self.assertEqual(cm["data"]["client-ca-file"], ca.cert_pem().decode())
        self.assertEqual(sorted(authentication_configmap([ca.cert], [], [], [], [], [])["data"]), ["client-ca-file"])

    def test_publish_idempotent(self):
        """Published once, rewritten only when the data changes."""
        api = API(self)
        store = api.link.store_for(api.registry.lookup("", "v1", "configmaps"))
        from twisted.internet.defer import Deferred

        cm = authentication_configmap([make_ca("c").cert], [], [], [], [], [])
        self.assertTrue(api.run(Deferred.fromCoroutine(publish(store, cm))))
        self.assertFalse(api.run(Deferred.fromCoroutine(publish(store, cm))))
        cm2 = authentication_configmap([make_ca("d").cert], [], [], [], [], [])
        self.assertTrue(api.run(Deferred.fromCoroutine(publish(store, cm2))))
        code, body, _ = api.get(f"/api/v1/namespaces/kube-system/configmaps/{CONFIGMAP_NAME}")
        self.assertEqual(body["data"], cm2["data"])
