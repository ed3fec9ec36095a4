"""
The aggregator's proxy to extension API servers (kube-aggregator's C{proxyHandler}): a request for
a group/version whose APIService names a Service goes to an endpoint of that Service through the
shared outbound transport (L{kapid.transport}: resolution, TLS verified with the APIService's
C{caBundle} against C{<service>.<namespace>.svc}, pooled connections), presenting kapid's
front-proxy client certificate and naming the authenticated user in C{X-Remote-User},
C{X-Remote-Group} and C{X-Remote-Extra-*}. The response streams back as it arrives (watches
included), paced by the client (the backend's transport is paused while the client's is full).

Failures answer as kube's does, in Go's C{http.Error} plain text: 503 C{service unavailable} when the
Service cannot be resolved, 503 with the transport's error otherwise.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import PotentialDataLoss, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer, IRequest
from zope.interface import implementer
from twisted.web.server import NOT_DONE_YET

from kapid.server import certs
from kapid.server.context import user as request_user
from kapid.server.link import reason_phrase
from kapid.transport.client import ClientConfig, ClientFactory, ServiceReference, WebhookCallError

log = Logger()

#: Where kapid keeps its front-proxy CA and client certificate, under C{--cert-dir}.
FRONT_PROXY_DIR = "front-proxy"
FRONT_PROXY_CLIENT_CERT = "front-proxy-client.crt"
FRONT_PROXY_CLIENT_KEY = "front-proxy-client.key"
#: The common name of kapid's generated front-proxy client certificate (kube's usual one).
FRONT_PROXY_USER = "front-proxy-client"

#: Hop-by-hop headers (Go's C{httputil.ReverseProxy} drops them both ways) and the headers the
#: proxy sets itself.
_HOP = frozenset(
    h.lower() for h in (
        b"Connection", b"Proxy-Connection", b"Keep-Alive", b"Proxy-Authenticate", b"Proxy-Authorization",
        b"Te", b"Trailer", b"Transfer-Encoding", b"Upgrade", b"Host",
    )
)
_REQUEST_DROPPED = _HOP | {b"authorization", b"content-length"}
_REMOTE_PREFIXES = (b"x-remote-", b"impersonate-")

#: Characters kube leaves unescaped in an C{X-Remote-Extra-} key.
_KEY_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$&'*+.^_`|~")


def ensure_front_proxy_cert(cert_dir: str) -> certs.KeyPair:
    """
    kapid's front-proxy client certificate (C{CN=front-proxy-client}), issued by its own CA in
    C{<cert-dir>/front-proxy/} (generated on first use, reused after).
    """
    directory = os.path.join(cert_dir, FRONT_PROXY_DIR)
    ca = certs.ensure_ca(directory)
    cert_path = os.path.join(directory, FRONT_PROXY_CLIENT_CERT)
    key_path = os.path.join(directory, FRONT_PROXY_CLIENT_KEY)
    pair = certs._load(cert_path, key_path)
    if pair is not None and pair.cert.issuer == ca.cert.subject:
        return pair
    cert, key = certs._issue(ca, certs._name(FRONT_PROXY_USER), False, [])
    pair = certs.KeyPair(cert, key, cert_path, key_path)
    certs._write(key_path, pair.key_pem(), 0o600)
    certs._write(cert_path, pair.cert_pem(), 0o644)
    return pair


def front_proxy_ca_path(cert_dir: str) -> str:
    """
    The path of kapid's generated front-proxy CA certificate.
    """
    return os.path.join(cert_dir, FRONT_PROXY_DIR, certs.CA_CERT)


def load_client_cert(config: Any) -> tuple[bytes, bytes]:
    """
    C{(certificate PEM, key PEM)} of C{--proxy-client-cert-file}/C{--proxy-client-key-file}, or
    kapid's generated front-proxy client certificate.
    """
    misc = config.misc
    if getattr(misc, "proxy_client_cert_file", None):
        with open(misc.proxy_client_cert_file, "rb") as f:
            cert = f.read()
        with open(misc.proxy_client_key_file, "rb") as f:
            key = f.read()
        return cert, key
    pair = ensure_front_proxy_cert(config.secure_serving.cert_dir)
    return pair.cert_pem(), pair.key_pem()


def escape_extra_key(key: str) -> str:
    """
    kube's C{X-Remote-Extra-} key escaping: characters outside the header token set are
    percent-encoded.
    """
    out = []
    for b in key.encode("utf-8"):
        out.append(chr(b) if b in _KEY_SAFE else f"%{b:02X}")
    return "".join(out)


def auth_proxy_headers(headers: Headers, name: str, groups: tuple[str, ...], extra: dict[str, Any]) -> None:
    """
    kube's C{SetAuthProxyHeaders}: replace any C{X-Remote-*} headers with the user's.
    """
    for raw, _ in list(headers.getAllRawHeaders()):
        if raw.lower().startswith(b"x-remote-"):
            headers.removeHeader(raw)
    headers.setRawHeaders(b"X-Remote-User", [name.encode("utf-8")])
    if groups:
        headers.setRawHeaders(b"X-Remote-Group", [g.encode("utf-8") for g in groups])
    for key, values in (extra or {}).items():
        headers.setRawHeaders(
            ("X-Remote-Extra-" + escape_extra_key(key)).encode("ascii"), [v.encode("utf-8") for v in values]
        )


def plain_error(request: IRequest, code: int, message: str) -> bytes:
    """
    Go's C{http.Error}: C{message} and a newline as UTF-8 text.
    """
    request.setResponseCode(code, reason_phrase(code))
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    return message.encode("utf-8") + b"\n"


def client_config(api_service: dict) -> ClientConfig:
    """
    The transport's L{ClientConfig} of an APIService naming a Service (C{caBundle} base64 in JSON).
    """
    spec = api_service.get("spec") or {}
    svc = spec.get("service") or {}
    ca = spec.get("caBundle") or b""
    if isinstance(ca, str):
        try:
            ca = base64.b64decode(ca)
        except (binascii.Error, ValueError):
            ca = b""
    ref = ServiceReference(svc.get("namespace") or "", svc.get("name") or "", int(svc.get("port") or 443))
    return ClientConfig(service=ref, ca_bundle=bytes(ca), insecure_skip_verify=bool(spec.get("insecureSkipTLSVerify")))


class ClusterIPResolver:
    """
    A resolver answering with the Service's cluster IP (kube's C{--enable-aggregator-routing=false}).
    """

    def __init__(self, resolver: Any) -> None:
        self.resolver = resolver

    async def resolve(self, namespace: str, name: str, port: int) -> Any:
        return await self.resolver.resolve_cluster(namespace, name, port)


class _RecentResolver:
    """
    A resolver remembering each answer for C{ttl} seconds (errors are not remembered): the proxy
    resolves a Service once a second at most instead of reading the Service and its endpoints for
    every request (kube reads them from its informers' caches). An endpoint that goes away is
    still chosen for at most C{ttl} seconds.
    """

    def __init__(self, resolver: Any, clock: Any, ttl: float = 1.0) -> None:
        self.resolver = resolver
        self.clock = clock
        self.ttl = ttl
        self._answers: dict[tuple[str, str, int], tuple[float, Any]] = {}

    async def resolve(self, namespace: str, name: str, port: int) -> Any:
        key = (namespace, name, port)
        now = self.clock.seconds()
        hit = self._answers.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        url = await self.resolver.resolve(namespace, name, port)
        if len(self._answers) > 1024:
            self._answers.clear()
        self._answers[key] = (now, url)
        return url


class _Relay(Protocol):
    """
    Streams a backend response's body to the client request, pausing the backend while the
    client's transport is full, and stopping it when the client goes away.
    """

    def __init__(self, request: Any) -> None:
        self.request = request
        self.finished = False
        request.notifyFinish().addErrback(self._client_gone)

    def connectionMade(self) -> None:
        self.request.registerProducer(self.transport, True)

    def dataReceived(self, data: bytes) -> None:
        if not self.finished:
            self.request.write(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.finished:
            return
        self.finished = True
        try:
            self.request.unregisterProducer()
        except Exception:
            pass
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.request.finish()
            return
        # the backend went away mid-response: so does the client's connection (as Go's proxy
        # aborts the handler), so that a truncated body is never taken for a whole one
        log.warn("the backend of {uri} closed the response early: {why}", uri=self.request.uri, why=reason.getErrorMessage())
        transport = getattr(self.request, "transport", None) or getattr(getattr(self.request, "channel", None), "transport", None)
        abort = getattr(transport, "abortConnection", None) or getattr(transport, "loseConnection", None)
        if abort is not None:
            abort()

    def _client_gone(self, _: Any) -> None:
        if self.finished:
            return
        self.finished = True
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]


class APIServiceProxy:
    """
    Proxies requests for remote group/versions (the aggregator link's proxy hook).

    @param reactor: for the transport's connections.
    @param resolver: a L{kapid.transport.resolver.ServiceResolver}.
    @param client_cert: the front-proxy C{(certificate PEM, key PEM)}.
    @param routing: resolve to endpoints (C{--enable-aggregator-routing}) or to the cluster IP.
    """

    def __init__(self, reactor: Any, resolver: Any, client_cert: Optional[tuple[bytes, bytes]], routing: bool = True) -> None:
        self.reactor = reactor
        self.resolver = resolver if routing else ClusterIPResolver(resolver)
        # up to 64 idle connections per backend: a busier client than that pays TLS handshakes
        self.clients = ClientFactory(reactor, _RecentResolver(self.resolver, reactor), client_cert, max_per_host=64)
        self._logged: set[tuple[str, str]] = set()
        self._creators: dict[Any, Any] = {}
        self._splicer: Any = None

    def client_for(self, api_service: dict) -> Any:
        """
        The pooled client of C{api_service}'s Service and TLS settings.
        """
        return self.clients.client_for(client_config(api_service))

    def __call__(self, request: IRequest, api_service: dict) -> Any:
        user = request_user(request)
        if user is None:
            return plain_error(request, 500, "missing user")
        from kapid.aggregator.connect import is_upgrade

        upgrade = is_upgrade(request)
        headers = Headers()
        for key, values in request.requestHeaders.getAllRawHeaders():  # type: ignore[attr-defined]
            low = key.lower()
            if low.startswith(_REMOTE_PREFIXES) or low in (b"authorization", b"content-length", b"host"):
                continue
            if low in _REQUEST_DROPPED and not upgrade:
                continue
            headers.setRawHeaders(key, values)
        auth_proxy_headers(headers, user.name, tuple(user.groups), dict(user.extra))
        if upgrade:
            d = Deferred.fromCoroutine(self._upgrade(request, api_service, headers))
            d.addErrback(self._failed, request, api_service)
            return NOT_DONE_YET
        body = None
        body = request_body(request, always=False)
        method = request.method.decode("ascii")  # type: ignore[attr-defined]
        uri = request.uri.decode("latin-1")  # type: ignore[attr-defined]
        d = Deferred.fromCoroutine(self.client_for(api_service).request(method, uri, headers, body))
        d.addCallbacks(self._respond, self._failed, callbackArgs=(request,), errbackArgs=(request, api_service))
        request.notifyFinish().addErrback(lambda _: d.cancel())  # type: ignore[attr-defined]
        return NOT_DONE_YET

    async def _upgrade(self, request: Any, api_service: dict, headers: Headers) -> None:
        """
        An upgrade request (exec, attach, port-forward on an aggregated resource, WebSockets):
        dialled over the APIService's TLS (C{caBundle}, the front-proxy certificate), then spliced
        both ways (L{kapid.aggregator.connect.ProxyTransport.splice}).
        """
        from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

        from kapid.aggregator.connect import Location, ProxyTransport

        client = self.client_for(api_service)
        method = request.method.decode("ascii")
        uri = request.uri.decode("latin-1")
        host, port = await client._location(method, client.display_url(uri))
        dial: Any = HostnameEndpoint(self.reactor, host.encode("idna"), port, timeout=30)
        endpoint = wrapClientTLS(self._creator(api_service), dial)
        location = Location("https", host, port, uri)
        if self._splicer is None:
            self._splicer = ProxyTransport(self.reactor)

        def dial_error(text: str) -> Exception:
            return WebhookCallError(method, client.display_url(uri), text, "connect")

        await self._splicer.splice(request, location, endpoint, headers, client.host_header, dial_error)

    def _creator(self, api_service: dict) -> Any:
        """
        The TLS connection creator of an APIService: its C{caBundle} (or none with
        C{insecureSkipTLSVerify}), the Service's DNS name, the front-proxy client certificate.
        """
        from twisted.internet.ssl import Certificate, CertificateOptions, KeyPair, platformTrust, trustRootFromCertificates
        from OpenSSL.crypto import FILETYPE_PEM

        from kapid.transport.client import _pem_certificates, _VerifyingCreator

        config = client_config(api_service)
        creator = self._creators.get(config)
        if creator is None:
            kwargs: dict[str, Any] = {}
            cert = self.clients.client_cert
            if cert is not None:
                kwargs["certificate"] = Certificate.loadPEM(cert[0]).original
                kwargs["privateKey"] = KeyPair.load(cert[1], FILETYPE_PEM).original
            trust = _pem_certificates(config.ca_bundle) if config.ca_bundle else []
            options = CertificateOptions(trustRoot=trustRootFromCertificates(trust) if trust else platformTrust(), **kwargs)
            assert config.service is not None
            creator = self._creators[config] = _VerifyingCreator(config.service.server_name, options, config.insecure_skip_verify)
        return creator

    def _respond(self, response: Any, request: Any) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            response.deliverBody(Protocol())
            return
        request.setResponseCode(response.code, response.phrase or reason_phrase(response.code))
        for key, values in response.headers.getAllRawHeaders():
            if key.lower() in _HOP:
                continue
            request.responseHeaders.setRawHeaders(key, values)
        if response.length is UNKNOWN_LENGTH:
            request.write(b"")  # a stream (a watch): the client sees its headers now, not at its first event
        response.deliverBody(_Relay(request))

    def _failed(self, failure: Failure, request: Any, api_service: dict) -> None:
        if request.finished or getattr(request, "_disconnected", False) or request.startedWriting:
            return
        err = failure.value
        name = (api_service.get("metadata") or {}).get("name") or ""
        if isinstance(err, WebhookCallError):
            message = "service unavailable" if err.kind == "resolve" else err.reason
            key = (name, err.reason)
            if key not in self._logged:
                self._logged.add(key)
                log.warn("proxying to APIService {name} failed: {error}", name=name, error=err.message)
        else:
            log.failure("proxying to APIService {name} failed", failure, name=name)
            message = str(err) or type(err).__name__
        request.write(plain_error(request, 503, message))
        request.finish()

    def close(self) -> Any:
        """
        Close the pooled connections.
        """
        if self._splicer is not None:
            self._splicer.close()
        return self.clients.close()


#: Bodies up to this size are sent from memory; larger ones (which Twisted's server keeps in a
#: temporary file) are streamed from the file.
_IN_MEMORY = 64 * 1024


def request_body(request: Any, always: bool) -> Any:
    """
    The body producer of what the client sent (Twisted's server has read it whole, into memory or,
    above 100 KB, a temporary file): small bodies at once, large ones streamed from the file so
    they are never all in memory; None for an empty body unless C{always}.
    """
    from twisted.web.client import FileBodyProducer

    content = getattr(request, "content", None)
    if content is None:
        return _BytesBody(b"") if always else None
    size = content.seek(0, 2)
    content.seek(0)
    if size > _IN_MEMORY:
        return FileBodyProducer(content)
    data = content.read()
    content.seek(0)
    if not data and not always:
        return None
    return _BytesBody(data)


@implementer(IBodyProducer)
class _BytesBody:
    """
    A request body Twisted has already read in full, written at once.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred:
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass
