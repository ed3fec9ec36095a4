"""
TLS clients for webhooks and extension API servers (kube's C{k8s.io/apiserver/pkg/util/webhook}
C{ClientManager}): one pooled client per C{clientConfig}, verifying the server's certificate against
the C{caBundle} (the platform's roots without one) and the name kube expects: C{<name>.<namespace>.svc}
for a Service reference, even though the connection goes to the endpoint address the
L{kapid.transport.resolver.ServiceResolver} picks; the URL's host otherwise.

Failures are L{WebhookCallError}s whose messages read as Go's C{net/http} client errors do
(C{Post "https://w.ns.svc:443/convert?timeout=30s": ...}), since kube passes those on to clients.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional

import attr
from cryptography import x509
from hyperlink import URL
from OpenSSL import SSL
from OpenSSL.crypto import FILETYPE_PEM
from service_identity import VerificationError
from service_identity.hazmat import DNS_ID, IPAddress_ID, verify_service_identity
from service_identity.pyopenssl import extract_patterns
from twisted.internet import error as ierror
from twisted.internet.defer import CancelledError, Deferred, TimeoutError as DeferredTimeoutError
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import Certificate, CertificateOptions, KeyPair, platformTrust, trustRootFromCertificates
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed, ResponseNeverReceived, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IPolicyForHTTPS, IResponse
from zope.interface import implementer

from kapid.storage.etcd3.client import BytesProducer
from kapid.options import format_duration
from kapid.apimachinery.status import StatusError

#: kube's timeout for a conversion webhook call (its REST client's default).
CONVERSION_TIMEOUT = 30.0
#: kube's default C{timeoutSeconds} of an admission webhook.
ADMISSION_TIMEOUT = 10.0


@attr.s(frozen=True, auto_attribs=True)
class ServiceReference:
    """
    A webhook's C{clientConfig.service}: port 443 unless given, C{path} sent as the request path.
    """

    namespace: str
    name: str
    port: int = 443
    path: str = ""

    @property
    def server_name(self) -> str:
        """
        The name the server's certificate must carry: C{<name>.<namespace>.svc}.
        """
        return f"{self.name}.{self.namespace}.svc"


@attr.s(frozen=True, auto_attribs=True)
class ClientConfig:
    """
    A webhook's C{clientConfig}: a C{url} or a C{service}, the C{caBundle} (PEM bytes), and
    optionally a client certificate and key (PEM) to present; C{insecure_skip_verify} (an
    APIService's C{insecureSkipTLSVerify}) turns verification off.
    """

    url: str = ""
    service: Optional[ServiceReference] = None
    ca_bundle: bytes = b""
    client_cert: Optional[tuple[bytes, bytes]] = None
    insecure_skip_verify: bool = False

    @classmethod
    def from_api(cls, client_config: dict, client_cert: Optional[tuple[bytes, bytes]] = None) -> "ClientConfig":
        """
        From the API form (C{apiextensions.k8s.io/v1} C{WebhookClientConfig},
        C{admissionregistration} C{WebhookClientConfig}): C{caBundle} base64 in JSON.
        """
        import base64

        ca = client_config.get("caBundle") or b""
        if isinstance(ca, str):
            ca = base64.b64decode(ca)
        svc = client_config.get("service")
        ref = None
        if svc:
            ref = ServiceReference(
                svc.get("namespace") or "", svc.get("name") or "", int(svc.get("port") or 443), svc.get("path") or ""
            )
        return cls(client_config.get("url") or "", ref, bytes(ca), client_cert)


@attr.s(frozen=True, auto_attribs=True)
class WebhookResponse:
    """
    A buffered answer: status code, headers, body.
    """

    code: int
    headers: Headers
    body: bytes


class WebhookCallError(Exception):
    """
    A call that got no HTTP answer. C{message} reads as Go's client error (C{Post "<url>": <why>});
    C{reason} is the part after the URL; C{kind} is C{resolve} (the Service could not be resolved:
    C{status} is the resolver's L{StatusError}), C{timeout}, C{tls}, C{connect} or C{other}.
    """

    def __init__(self, method: str, url: str, reason: str, kind: str, status: Optional[StatusError] = None) -> None:
        self.method = method
        self.url = url
        self.reason = reason
        self.kind = kind
        self.status = status
        self.message = f'{method.capitalize()} "{url}": {reason}'
        super().__init__(self.message)


class _VerifyFailed(Exception):
    """
    The server's certificate was refused; C{args[0]} is Go's text.
    """


def _go_hostname_error(cert: x509.Certificate, host: str) -> str:
    """
    Go's C{x509.HostnameError} text for C{cert} not matching C{host}.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip:
        if not ips:
            return f"x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
        valid = ", ".join(ips)
    else:
        valid = ", ".join(dns)
    if not valid:
        return f"x509: certificate is not valid for any names, but wanted to match {host}"
    return f"x509: certificate is valid for {valid}, not {host}"


#: OpenSSL's X509 verification errors as Go words them.
_GO_VERIFY = {
    2: "x509: certificate signed by unknown authority",  # unable to get issuer certificate
    18: "x509: certificate signed by unknown authority",  # self-signed leaf
    19: "x509: certificate signed by unknown authority",  # self-signed in chain
    20: "x509: certificate signed by unknown authority",  # unable to get local issuer
    21: "x509: certificate signed by unknown authority",  # unable to verify leaf signature
    9: "x509: certificate has expired or is not yet valid",
    10: "x509: certificate has expired or is not yet valid",
}


@implementer(IOpenSSLClientConnectionCreator)
class _VerifyingCreator:
    """
    Client TLS connections that verify the chain against the trust root and the leaf against
    C{server_name} (whatever address was dialled), failing with Go's words.
    """

    def __init__(self, server_name: str, options: CertificateOptions, insecure: bool = False) -> None:
        self.server_name = server_name
        self._options = options
        self._insecure = insecure
        try:
            ipaddress.ip_address(server_name)
            self._is_dns = False
            self._id: Any = IPAddress_ID(server_name)
        except ValueError:
            self._is_dns = True
            self._id = DNS_ID(server_name)

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        """
        A new connection for C{tlsProtocol} (SNI sent for DNS names).
        """
        conn = SSL.Connection(self._options.getContext(), None)
        conn.set_app_data(tlsProtocol)
        if self._is_dns:
            conn.set_tlsext_host_name(self.server_name.encode("idna"))
        if self._insecure:
            # an APIService's insecureSkipTLSVerify: no verification at all
            conn.set_verify(SSL.VERIFY_NONE, lambda *a: True)
            return conn
        proto: list[Any] = [tlsProtocol]
        host = self.server_name
        ident = self._id

        def verify(c: Any, cert: Any, errno: int, depth: int, ok: int) -> bool:
            if not proto:
                return bool(ok)
            try:
                if not ok:
                    why = _GO_VERIFY.get(errno) or "x509: " + _x509_error_string(errno)
                    p = proto.pop()
                    p.failVerification(Failure(_VerifyFailed(why)))
                    return False
                if depth != 0:
                    return True
                try:
                    verify_service_identity(extract_patterns(cert), [ident], [])
                except VerificationError:
                    p = proto.pop()
                    p.failVerification(Failure(_VerifyFailed(_go_hostname_error(cert.to_cryptography(), host))))
                    return False
                proto.clear()
                return True
            except BaseException:  # never raise into OpenSSL
                proto.clear()
                return False

        conn.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, verify)
        return conn


def _x509_error_string(errno: int) -> str:
    try:
        from OpenSSL._util import ffi, lib

        return ffi.string(lib.X509_verify_cert_error_string(errno)).decode()
    except Exception:  # pragma: no cover
        return f"certificate verify error {errno}"


@implementer(IPolicyForHTTPS)
class _Policy:
    """
    One verifying creator for every address a client dials.
    """

    def __init__(self, creator: _VerifyingCreator) -> None:
        self._creator = creator

    def creatorForNetloc(self, hostname: bytes, port: int) -> _VerifyingCreator:
        return self._creator


def _pem_certificates(pem: bytes) -> list[Certificate]:
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    return [Certificate.loadPEM(b) for b in blocks]


class WebhookClient:
    """
    A pooled HTTPS client for one L{ClientConfig}.
    """

    def __init__(self, reactor: Any, config: ClientConfig, resolver: Any, client_cert: Optional[tuple[bytes, bytes]], max_per_host: int) -> None:
        self.reactor = reactor
        self.config = config
        self.resolver = resolver
        if config.service is not None:
            svc = config.service
            self.server_name = svc.server_name
            self.host_header = f"{svc.server_name}:{svc.port}"
            self.base = f"https://{svc.server_name}:{svc.port}"
            self.path = svc.path or ""
            self.query = ""
            self.scheme = "https"
        else:
            u = URL.from_text(config.url)
            self.scheme = u.scheme or "https"
            self.server_name = u.host
            default = 443 if self.scheme == "https" else 80
            port = u.port or default
            self.host_header = u.host if port == default and not _has_port(config.url) else f"{_bracket(u.host)}:{port}"
            self.base = f"{self.scheme}://{_netloc(config.url)}"
            self.path = "/" + "/".join(u.path) if u.path else ""
            self.query = "&".join(f"{k}={v}" if v is not None else k for k, v in u.query)
            self._dial = (u.host, port)
        cert = config.client_cert or client_cert
        kwargs: dict[str, Any] = {}
        if cert is not None:
            kwargs["certificate"] = Certificate.loadPEM(cert[0]).original
            kwargs["privateKey"] = KeyPair.load(cert[1], FILETYPE_PEM).original
        trust = _pem_certificates(config.ca_bundle) if config.ca_bundle else []
        options = CertificateOptions(
            trustRoot=trustRootFromCertificates(trust) if trust else platformTrust(), **kwargs
        )
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = max_per_host
        self.pool.retryAutomatically = False
        self.agent = Agent(reactor, contextFactory=_Policy(_VerifyingCreator(self.server_name, options, config.insecure_skip_verify)), pool=self.pool)

    def display_url(self, path: str = "", timeout: Optional[float] = None) -> str:
        """
        The URL as kube's client names it (the Service's DNS name; C{path}, which may carry its own
        query, instead of the config's path and query; C{timeout=} added for a C{timeout}).
        """
        if path:
            path, _, query = path.partition("?")
            url = self.base + path
        else:
            url = self.base + (self.path or "")
            query = self.query
        if timeout:
            query = (query + "&" if query else "") + f"timeout={format_duration(timeout)}"
        return url + ("?" + query if query else "")

    async def _location(self, method: str, display: str) -> tuple[str, int]:
        if self.config.service is None:
            return self._dial
        svc = self.config.service
        try:
            url = await self.resolver.resolve(svc.namespace, svc.name, svc.port)
        except StatusError as e:
            raise WebhookCallError(method, display, e.message, "resolve", e)
        return url.host, url.port

    async def request(
        self,
        method: str,
        path: str = "",
        headers: Optional[Headers] = None,
        body: Optional[IBodyProducer] = None,
        timeout: Optional[float] = None,
        host_header: Optional[str] = None,
    ) -> IResponse:
        """
        Send one request (to C{path} with its query, default the config's) and fire with the
        unbuffered L{IResponse}, for streaming both ways (a proxy); errbacks with
        L{WebhookCallError}. C{timeout} bounds getting the response headers (no C{timeout=} is
        added to the query); C{host_header} replaces the C{Host} kube's webhook client sends (the
        Service's name and port, or the URL's host).
        """
        d = Deferred.fromCoroutine(self._request(method, path, headers, body, None, host_header))
        if timeout:
            d = self._bounded(d, method, self.display_url(path), timeout)
        return await d

    async def post(self, body: bytes, timeout: Optional[float] = None, path: str = "", content_type: bytes = b"application/json") -> WebhookResponse:
        """
        POST C{body} and read the whole answer within C{timeout} seconds.
        """
        display = self.display_url(path, timeout)

        async def call() -> WebhookResponse:
            headers = Headers({b"Content-Type": [content_type], b"Accept": [b"application/json, */*"]})
            response = await self._request("POST", path, headers, BytesProducer(body), timeout, None)
            try:
                data = await readBody(response)
            except Exception as e:
                raise self._wrap("POST", display, e)
            return WebhookResponse(response.code, response.headers, data)

        d = Deferred.fromCoroutine(call())
        if timeout:
            d = self._bounded(d, "POST", display, timeout)
        return await d

    def _bounded(self, d: Deferred, method: str, display: str, timeout: float) -> Deferred:
        def timed_out(result: Any, t: Any) -> Any:
            raise WebhookCallError(method, display, "context deadline exceeded", "timeout")

        d.addTimeout(timeout, self.reactor, onTimeoutCancel=timed_out)
        return d

    async def _request(
        self,
        method: str,
        path: str,
        headers: Optional[Headers],
        body: Optional[IBodyProducer],
        query_timeout: Optional[float],
        host_header: Optional[str],
    ) -> IResponse:
        display = self.display_url(path, query_timeout)
        host, port = await self._location(method, display)
        target = f"{self.scheme}://{_bracket(host)}:{port}" + display[len(self.base):]
        hdrs = headers.copy() if headers is not None else Headers()
        hdrs.setRawHeaders(b"Host", [(host_header or self.host_header).encode("idna")])
        if not hdrs.hasHeader(b"User-Agent"):
            hdrs.setRawHeaders(b"User-Agent", [b"kapid"])
        try:
            return await self.agent.request(method.encode("ascii"), target.encode("ascii"), hdrs, body)
        except (CancelledError, DeferredTimeoutError):
            raise
        except Exception as e:
            raise self._wrap(method, display, e, host, port)

    def _wrap(self, method: str, display: str, e: BaseException, host: str = "", port: int = 0) -> Exception:
        if isinstance(e, (CancelledError, DeferredTimeoutError, WebhookCallError)):
            return e  # type: ignore[return-value]
        verify = _find(e, _VerifyFailed)
        if verify is not None:
            return WebhookCallError(method, display, f"tls: failed to verify certificate: {verify.args[0]}", "tls")
        if _find(e, ierror.ConnectionRefusedError) is not None:
            return WebhookCallError(method, display, f"dial tcp {_bracket(host)}:{port}: connect: connection refused", "connect")
        ssl_err = _find(e, SSL.Error)
        if ssl_err is not None:
            return WebhookCallError(method, display, f"remote error: tls: {ssl_err}", "tls")
        if _find(e, ierror.ConnectError) is not None:
            return WebhookCallError(method, display, f"dial tcp {_bracket(host)}:{port}: {_find(e, ierror.ConnectError)}", "connect")
        if isinstance(e, (ResponseNeverReceived, ResponseFailed)) or _find(e, ierror.ConnectionLost) is not None:
            return WebhookCallError(method, display, "EOF", "other")
        return WebhookCallError(method, display, str(e) or type(e).__name__, "other")

    def close(self) -> Deferred:
        """
        Close the pooled connections.
        """
        return self.pool.closeCachedConnections()


def _find(e: BaseException, kind: type) -> Any:
    """
    C{e} or the first failure reason inside it (Agent errors wrap their causes) of type C{kind}.
    """
    if isinstance(e, kind):
        return e
    for r in getattr(e, "reasons", ()) or ():
        value = r.value if isinstance(r, Failure) else r
        if isinstance(value, BaseException):
            found = _find(value, kind)
            if found is not None:
                return found
    return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _netloc(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return re.split(r"[/?#]", rest, 1)[0]


def _has_port(url: str) -> bool:
    return bool(re.search(r":\d+$", _netloc(url)))


class ClientFactory:
    """
    Makes (and keeps) one L{WebhookClient} per L{ClientConfig}, as kube's C{ClientManager} caches
    its REST clients.

    @param reactor: for connections and timeouts.
    @param resolver: a L{kapid.transport.resolver.ServiceResolver} for Service references.
    @param client_cert: C{(certificate PEM, key PEM)} every client presents unless its config
        names its own (e.g. the aggregator's front-proxy certificate), or None.
    """

    def __init__(self, reactor: Any, resolver: Any = None, client_cert: Optional[tuple[bytes, bytes]] = None, max_per_host: int = 16) -> None:
        self.reactor = reactor
        self.resolver = resolver
        self.client_cert = client_cert
        self.max_per_host = max_per_host
        self._clients: dict[ClientConfig, WebhookClient] = {}

    def client_for(self, config: ClientConfig) -> WebhookClient:
        """
        The client for C{config}. Raises L{ValueError} for a config with neither URL nor service.
        """
        client = self._clients.get(config)
        if client is None:
            if config.service is None and not config.url:
                raise ValueError("webhook configuration must have either service or URL")
            if config.service is not None and self.resolver is None:
                raise ValueError("a service reference needs a service resolver")
            client = self._clients[config] = WebhookClient(
                self.reactor, config, self.resolver, self.client_cert, self.max_per_host
            )
        return client

    def close(self) -> Deferred:
        """
        Close every client's pooled connections.
        """
        from twisted.internet.defer import gatherResults

        clients, self._clients = list(self._clients.values()), {}
        return gatherResults([c.close() for c in clients])
