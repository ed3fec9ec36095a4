"""
The proxy transport and node dialer of kube-apiserver (v1.13's C{CreateServerChain}): where
C{pods/proxy}, C{services/proxy} and C{nodes/proxy} go (kube's C{ResourceLocation}s, with their
checks on the target address), where the kubelet-bound subresources go (the node's kubelet, from
the Node object), and L{forward}, which sends a request there and streams the answer back, or
splices the two connections after an upgrade (exec, attach, port-forward, WebSockets).

Facts from kube: C{pkg/registry/core/{pod,service,node}}'s C{ResourceLocation},
C{pkg/kubelet/client}'s C{NodeConnectionInfoGetter} (preferred address types Hostname,
InternalDNS, InternalIP, ExternalDNS, ExternalIP; the kubelet's port from
C{status.daemonEndpoints.kubeletEndpoint.Port}, 10250 without one; https, the kubelet's serving
certificate not verified as kube-apiserver does without C{--kubelet-certificate-authority}), and
C{k8s.io/apimachinery/pkg/util/proxy} (loopback and link-local targets refused; a transport
failure is 503 C{error trying to reach service: ...}; an upgrade that cannot dial is 500
C{error dialing backend: ...}).
"""

from __future__ import annotations

import ipaddress
import posixpath
import random
import socket
from typing import Any, Callable, Optional
from urllib.parse import quote

import attr
from OpenSSL import SSL
from twisted.internet import error as ierror
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool, PotentialDataLoss, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IPolicyForHTTPS
from zope.interface import implementer

from kapid.apimachinery.status import StatusError, bad_request, not_found, service_unavailable
from kapid.server.link import reason_phrase

log = Logger()

#: kube-apiserver's C{--kubelet-preferred-address-types} default.
PREFERRED_ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
#: kube-apiserver's C{--kubelet-port} default, used when a Node reports no kubelet port.
KUBELET_PORT = 10250
#: How long a dial may take (Go's dialer in kube's proxy transport: 30s).
DIAL_TIMEOUT = 30.0

#: Hop-by-hop headers, dropped both ways on a plain (not upgraded) request.
_HOP = frozenset(
    h.lower() for h in (
        b"Connection", b"Proxy-Connection", b"Keep-Alive", b"Proxy-Authenticate", b"Proxy-Authorization",
        b"Te", b"Trailer", b"Transfer-Encoding", b"Upgrade", b"Host",
    )
)
#: What kube's filters have taken off the request before a handler sees it (authentication,
#: impersonation), never forwarded.
_NOT_FORWARDED = frozenset({b"authorization", b"content-length"})
_NOT_FORWARDED_PREFIXES = (b"impersonate-",)


@attr.s(frozen=True, auto_attribs=True)
class Location:
    """
    Where a request goes: C{scheme} (C{http} when empty, as Go's proxy transport defaults it),
    host, port, the path (with its query, already encoded) and whether it is the kubelet's
    transport (TLS, not verified) or the proxy transport.
    """

    scheme: str
    host: str
    port: int
    path: str = "/"
    kubelet: bool = False

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme or 'http'}://{self.netloc}{self.path}"


def split_scheme_name_port(id: str) -> tuple[str, str, str, bool]:
    """
    Go's C{utilnet.SplitSchemeNamePort}: C{name}, C{name:port} or C{scheme:name:port} (scheme
    C{http}, C{https} or empty); C{(scheme, name, port, valid)}.
    """
    parts = id.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        return "", "", "", False
    if name and scheme in ("", "http", "https"):
        return scheme, name, port, True
    return "", "", "", False


def _ip(text: str) -> Optional[Any]:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_global_unicast(text: str) -> bool:
    """
    Go's C{net.IP.IsGlobalUnicast} of C{text} (false when it is no IP).
    """
    ip = _ip(text)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def is_proxyable_ip(ip: Any) -> bool:
    """
    kube's C{isProxyableIP}: loopback, link-local unicast, link-local and interface-local
    multicast addresses are not.
    """
    if ip.is_loopback or ip.is_link_local:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return not ip in ipaddress.ip_network("224.0.0.0/24")
    return not (ip in ipaddress.ip_network("ff02::/16") or ip in ipaddress.ip_network("ff01::/16"))


def check_proxyable_hostname(host: str) -> None:
    """
    kube's C{IsProxyableHostname}: every address C{host} resolves to must be proxyable; 400
    C{address not allowed} otherwise, or the resolver's error.
    """
    ip = _ip(host)
    if ip is not None:
        addresses = [ip]
    else:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            raise bad_request(f"lookup {host}: no such host")
        addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
        if not addresses:
            raise bad_request("No addresses for hostname")
    for a in addresses:
        if not is_proxyable_ip(a):
            raise bad_request("address not allowed")


def _store(link: Any, plural: str) -> Any:
    resource = link.registry.lookup("", "v1", plural)
    return link.store_for(resource) if resource is not None else None


async def _get(link: Any, plural: str, namespace: str, name: str) -> Optional[dict]:
    store = _store(link, plural)
    if store is None:
        return None
    found = await store.storage.get(store.key(namespace, name), "", True)
    return store.to_version(found, "v1") if found is not None else None


def _go_addresses(addresses: list[dict]) -> str:
    """
    Go's C{%v} of a Node's C{[]NodeAddress}.
    """
    return "[" + " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses) + "]"


async def kubelet_address(link: Any, node_name: str) -> tuple[str, int]:
    """
    kube's C{NodeConnectionInfoGetter}: the Node's preferred address and its kubelet's port.
    404 for a missing Node; 500 C{no preferred addresses found; ...} for one without a usable
    address.
    """
    node = await _get(link, "nodes", "", node_name)
    if node is None:
        raise not_found("nodes", node_name)
    status = node.get("status") or {}
    addresses = [a for a in status.get("addresses") or [] if isinstance(a, dict)]
    host = ""
    for kind in PREFERRED_ADDRESS_TYPES:
        for a in addresses:
            if a.get("type") == kind:
                host = a.get("address") or ""
                break
        if host:
            break
    if not host:
        raise StatusError(500, "", f"no preferred addresses found; known addresses: {_go_addresses(addresses)}")
    port = int((((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")) or 0)
    return host, port if port > 0 else KUBELET_PORT


def join_path(base: str, extra: str) -> str:
    """
    Go's C{net.JoinPreservingTrailingSlash} of two paths (cleaned, the trailing slash of C{extra}
    kept).
    """
    import posixpath

    if not extra:
        joined = base
    else:
        joined = posixpath.join(base or "/", extra.lstrip("/"))
    if not joined:
        return ""
    cleaned = posixpath.normpath("/" + joined.lstrip("/"))
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if extra.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


async def pod_location(link: Any, namespace: str, id: str) -> Location:
    """
    kube's pod C{ResourceLocation}: C{name}, C{name:port} or C{scheme:name:port}; without a port,
    the first declared container port; the pod's IP must be a global unicast address (400
    C{address not allowed}).
    """
    scheme, name, port, valid = split_scheme_name_port(id)
    if not valid:
        raise bad_request(f'invalid pod request "{id}"')
    pod = await _get(link, "pods", namespace, name)
    if pod is None:
        raise not_found("pods", name)
    if not port:
        for c in ((pod.get("spec") or {}).get("containers") or []):
            ports = c.get("ports") or []
            if ports:
                port = str(ports[0].get("containerPort") or "")
                break
    ips = (pod.get("status") or {}).get("podIPs") or []
    ip = (ips[0].get("ip") or "") if ips else ""
    if not ip:
        ip = (pod.get("status") or {}).get("podIP") or ""
    if not is_global_unicast(ip):
        raise bad_request("address not allowed")
    return Location(scheme, ip, _port(port, 80 if scheme != "https" else 443))


def _port(port: str, default: int) -> int:
    if not port:
        return default
    try:
        return int(port)
    except ValueError:
        raise service_unavailable(f'error trying to reach service: dial tcp: lookup port "{port}": unknown port')


async def service_location(link: Any, namespace: str, id: str, rng: Any = random) -> Location:
    """
    kube's service C{ResourceLocation}: a port number names the Service's port of that number (503
    C{no service port N found for service "s"}); an endpoint of the Service's Endpoints serving
    that port whose address belongs to the Pod it refers to; 503 C{no endpoints available for
    service "id"} when there is none.
    """
    scheme, name, port, valid = split_scheme_name_port(id)
    if not valid:
        raise bad_request(f'invalid service request "{id}"')
    if port.isdigit():
        svc = await _get(link, "services", namespace, name)
        if svc is None:
            raise not_found("services", name)
        for p in ((svc.get("spec") or {}).get("ports") or []):
            if int(p.get("port") or 0) == int(port):
                port = p.get("name") or ""
                break
        else:
            raise service_unavailable(f'no service port {int(port)} found for service "{name}"')
    eps = await _get(link, "endpoints", namespace, name)
    if eps is None:
        raise not_found("endpoints", name)
    subsets = eps.get("subsets") or []
    if not subsets:
        raise service_unavailable(f'no endpoints available for service "{name}"')
    start = rng.randrange(len(subsets))
    for i in range(len(subsets)):
        ss = subsets[(start + i) % len(subsets)]
        addresses = ss.get("addresses") or []
        if not addresses:
            continue
        for p in ss.get("ports") or []:
            if (p.get("name") or "") != port:
                continue
            first = rng.randrange(len(addresses))
            for j in range(len(addresses)):
                addr = addresses[(first + j) % len(addresses)]
                if await _valid_address(link, namespace, addr):
                    return Location(scheme, addr.get("ip") or "", int(p.get("port") or 0))
                log.info("endpoint address {addr} of service {ns}/{name} is not valid", addr=addr.get("ip"), ns=namespace, name=name)
    raise service_unavailable(f'no endpoints available for service "{id}"')


async def _valid_address(link: Any, namespace: str, addr: dict) -> bool:
    """
    kube's C{isValidAddress}: the address refers to a Pod of the namespace that has that IP.
    """
    ref = addr.get("targetRef") or {}
    if not ref or ref.get("namespace") != namespace:
        return False
    pod = await _get(link, "pods", namespace, ref.get("name") or "")
    if pod is None:
        return False
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
    return addr.get("ip") in ips


async def node_location(link: Any, id: str) -> Location:
    """
    kube's node C{ResourceLocation}: the kubelet (its transport) unless another port is asked for,
    which goes through the proxy transport to a proxyable address only.
    """
    scheme, name, port, valid = split_scheme_name_port(id)
    if not valid:
        raise bad_request(f'invalid node request "{id}"')
    host, kport = await kubelet_address(link, name)
    if not port or port == str(kport):
        return Location("https", host, kport, "/", kubelet=True)
    check_proxyable_hostname(host)
    return Location(scheme, host, _port(port, 80))


def proxy_suffix(request: Any, query: Any) -> str:
    """
    The path after C{/proxy} of a proxy subresource request (raw, as sent), or its C{path}
    parameter.
    """
    path = request.path.decode("latin-1")  # type: ignore[attr-defined]
    _, sep, rest = path.partition("/proxy")
    while sep and rest and not rest.startswith("/"):
        _, sep, rest = rest.partition("/proxy")
    if rest:
        return rest
    return query.get("path") if query is not None else ""


def _raw_query(request: Any) -> str:
    uri = request.uri.decode("latin-1")  # type: ignore[attr-defined]
    return uri.partition("?")[2]


# -- transport ---------------------------------------------------------------------------------


@implementer(IOpenSSLClientConnectionCreator)
class _Unverified:
    """
    TLS without verifying the server (kube's proxy transport, and its kubelet transport without
    C{--kubelet-certificate-authority}); SNI for DNS names.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self._options = CertificateOptions(verify=False)

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        conn = SSL.Connection(self._options.getContext(), None)
        conn.set_app_data(tlsProtocol)
        if _ip(self.host) is None and self.host:
            conn.set_tlsext_host_name(self.host.encode("idna"))
        return conn


@implementer(IPolicyForHTTPS)
class _UnverifiedPolicy:
    def creatorForNetloc(self, hostname: bytes, port: int) -> _Unverified:
        return _Unverified(hostname.decode("idna"))


def go_dial_error(e: BaseException, location: Location) -> str:
    """
    Go's dial error text (C{dial tcp 10.0.0.2:80: connect: connection refused}) for a Twisted
    connection failure, else the error's own text.
    """
    from kapid.transport.client import _find

    where = f"dial tcp {location.netloc}"
    if _find(e, ierror.ConnectionRefusedError) is not None:
        return f"{where}: connect: connection refused"
    if _find(e, ierror.TimeoutError) is not None or _find(e, ierror.UserError) is not None:
        return f"{where}: i/o timeout"
    if _find(e, ierror.NoRouteError) is not None:
        return f"{where}: connect: no route to host"
    err = _find(e, ierror.ConnectError)
    if err is not None:
        text = (err.osError if isinstance(getattr(err, "osError", None), str) else "") or str(err)
        low = text.lower()
        if "unreachable" in low:
            return f"{where}: connect: network is unreachable"
        if "no route" in low:
            return f"{where}: connect: no route to host"
        return f"{where}: {text}"
    ssl_err = _find(e, SSL.Error)
    if ssl_err is not None:
        return f"remote error: tls: {ssl_err}"
    return "EOF" if not str(e) else str(e)


class _Relay(Protocol):
    """
    Streams a response body to the client request (paced by the client: the backend's transport
    is its producer); C{done} fires when the body ends, or the client goes. A backend that goes
    away mid-body aborts the client's connection, so a truncated body is never taken for a whole
    one.
    """

    def __init__(self, request: Any) -> None:
        self.request = request
        self.done: Deferred = Deferred()
        self.ended = False
        request.notifyFinish().addErrback(self._client_gone)

    def connectionMade(self) -> None:
        self.request.registerProducer(self.transport, True)

    def dataReceived(self, data: bytes) -> None:
        if not self.ended:
            self.request.write(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.ended:
            return
        self.ended = True
        try:
            self.request.unregisterProducer()
        except Exception:
            pass
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(None)
            return
        log.warn("the backend of {uri} closed the response early: {why}", uri=self.request.uri, why=reason.getErrorMessage())
        _abort(self.request)
        self.done.callback(None)

    def _client_gone(self, _: Any) -> None:
        if self.ended:
            return
        self.ended = True
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]
        if not self.done.called:
            self.done.callback(None)


def _abort(request: Any) -> None:
    channel = getattr(request, "channel", None)
    transport = getattr(channel, "transport", None) or getattr(request, "transport", None)
    abort = getattr(transport, "abortConnection", None) or getattr(transport, "loseConnection", None)
    if abort is not None:
        abort()


def is_upgrade(request: Any) -> bool:
    """
    kube's C{httpstream.IsUpgradeRequest}: a C{Connection} header naming C{Upgrade}.
    """
    for value in request.requestHeaders.getRawHeaders(b"connection") or []:
        if b"upgrade" in [t.strip().lower() for t in value.split(b",")]:
            return True
    return False


def _forward_headers(request: Any, keep_hop: bool) -> Headers:
    headers = Headers()
    for key, values in request.requestHeaders.getAllRawHeaders():
        low = key.lower()
        if low in _NOT_FORWARDED or low.startswith(_NOT_FORWARDED_PREFIXES):
            continue
        if not keep_hop and low in _HOP:
            continue
        headers.setRawHeaders(key, values)
    peer = request.getClientAddress()
    host = getattr(peer, "host", "")
    if host:
        prior = b", ".join(headers.getRawHeaders(b"x-forwarded-for") or [])
        headers.setRawHeaders(b"X-Forwarded-For", [(prior + b", " if prior else b"") + host.encode("ascii")])
    return headers


class ProxyTransport:
    """
    kube-apiserver's proxy transport and kubelet transport: plain requests through a Twisted
    L{Agent} (TLS not verified), answers streamed back; upgrade requests spliced.

    @param reactor: for connections.
    """

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = 8
        self.pool.retryAutomatically = False
        self.agent = Agent(reactor, contextFactory=_UnverifiedPolicy(), connectTimeout=DIAL_TIMEOUT, pool=self.pool)

    async def forward(
        self, request: Any, location: Location, errors: str = "proxy", upgrade_required: bool = False,
        checked: Optional[tuple[str, str]] = None, content_type: bytes = b"", prepend: Optional[str] = None,
    ) -> bytes:
        """
        Send C{request} to C{location} and stream the answer back (the client's response is
        written and finished here; returns C{b""}).

        @param errors: how failures read: C{proxy} (503 C{error trying to reach service: ...}),
            C{stream} (kube's C{LocationStreamer}: 500 C{Get "url": ...}).
        @param upgrade_required: 400 C{Upgrade request required} for a request that is not an
            upgrade (exec, attach, port-forward).
        @param checked: C{(resource, name)}: a backend's answer other than 2xx becomes kube's
            generic server error for it (C{LocationStreamer}'s response checker, pods/log).
        @param content_type: the C{Content-Type} of the answer, whatever the backend says.
        @param prepend: for the proxy subresources, the path before the target's path in the
            client's request (C{/api/v1/namespaces/n/pods/p/proxy}): kube's rewriting transport
            sends C{X-Forwarded-Uri}, rewrites a C{Location} on the backend's host (or a path) to
            go through the proxy again, and drops the backend's CORS headers. (kube also rewrites
            the links of C{text/html} answers; kapid does not.)
        """
        if is_upgrade(request):
            return await self.splice(request, location)
        if upgrade_required:
            raise bad_request("Upgrade request required")
        method = request.method  # type: ignore[attr-defined]
        headers = _forward_headers(request, keep_hop=False)
        if prepend is not None:
            target_path = location.path.partition("?")[0]
            forwarded = posixpath.join(prepend, target_path.lstrip("/")) if prepend else target_path
            if target_path.endswith("/") and not forwarded.endswith("/"):
                forwarded += "/"
            headers.setRawHeaders(b"X-Forwarded-Uri", [forwarded.encode("latin-1")])
        from kapid.aggregator.proxy import request_body

        body = request_body(request, always=method in (b"POST", b"PUT", b"PATCH"))
        try:
            response: Any = await self.agent.request(method, location.url.encode("ascii"), headers, body)
        except CancelledError:
            raise
        except Exception as e:
            reason = go_dial_error(e, location)
            log.info("proxying {method} to {url} failed: {why}", method=method, url=location.url, why=reason)
            if errors == "stream":
                raise StatusError(500, "", f'{method.decode().capitalize()} "{location.url}": {reason}')
            raise service_unavailable(f"error trying to reach service: {reason}")
        if getattr(request, "_disconnected", False) or request.finished:  # type: ignore[attr-defined]
            response.deliverBody(Protocol())
            return b""
        if checked is not None and not 200 <= response.code < 300:
            from twisted.web.client import readBody

            try:
                text = (await readBody(response))[:50000].decode("utf-8", "replace")
            except Exception:
                text = ""
            raise generic_server_response(response.code, checked[0], checked[1], text)
        request.setResponseCode(response.code, response.phrase or reason_phrase(response.code))
        for key, values in response.headers.getAllRawHeaders():
            if key.lower() in _HOP:
                continue
            request.responseHeaders.setRawHeaders(key, values)  # type: ignore[attr-defined]
        if content_type:
            request.responseHeaders.setRawHeaders(b"Content-Type", [content_type])
        if prepend is not None:
            for name in _CORS:
                request.responseHeaders.removeHeader(name)
            moved = response.headers.getRawHeaders(b"location")
            if moved:
                request.responseHeaders.setRawHeaders(
                    b"Location", [rewrite_location(moved[0].decode("latin-1"), location, prepend).encode("latin-1")]
                )
        if response.length is UNKNOWN_LENGTH:
            request.write(b"")  # a stream: the client sees its headers now, not with its first bytes
        relay = _Relay(request)
        response.deliverBody(relay)
        await relay.done
        return b""

    async def splice(
        self, request: Any, location: Location, endpoint: Any = None, headers: Optional[Headers] = None,
        host_header: str = "", dial_error: Optional[Callable[[str], Exception]] = None,
    ) -> bytes:
        """
        An upgrade request (kube's C{UpgradeAwareHandler.tryUpgrade}): dial the backend (500
        C{error dialing backend: ...} when that fails), send it the request as received, then
        pass bytes both ways until either side closes; the client's connection is taken over from
        the HTTP server.

        @param endpoint: how to dial (default: TCP, TLS unverified for C{https}).
        @param headers: the request headers to send (default: the client's, less credentials).
        @param host_header: the C{Host} sent (default: the location's).
        @param dial_error: makes the exception raised for Go's dial error text.
        """
        endpoint = endpoint if endpoint is not None else self._endpoint(location)
        backend = _Backend()
        try:
            d = endpoint.connect(Factory.forProtocol(lambda: backend))
            await d
        except CancelledError:
            raise
        except Exception as e:
            reason = go_dial_error(e, location)
            log.info("upgrading {method} to {url} failed: {why}", method=request.method, url=location.url, why=reason)  # type: ignore[attr-defined]
            if dial_error is not None:
                raise dial_error(f"error dialing backend: {reason}")
            raise StatusError(500, "", f"error dialing backend: {reason}")
        headers = headers.copy() if headers is not None else _forward_headers(request, keep_hop=True)
        headers.setRawHeaders(b"Host", [(host_header or location.netloc).encode("idna")])
        lines = [request.method + b" " + location.path.encode("latin-1") + b" HTTP/1.1"]  # type: ignore[attr-defined,operator]
        body = b""
        content = getattr(request, "content", None)
        if content is not None:
            content.seek(0)
            body = content.read()
        if body:
            headers.setRawHeaders(b"Content-Length", [str(len(body)).encode()])
        for key, values in headers.getAllRawHeaders():
            for v in values:
                lines.append(key + b": " + v)
        out: Any = backend.transport
        out.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        if getattr(request, "_disconnected", False) or getattr(request, "channel", None) is None:
            out.loseConnection()  # the client went while the backend was dialled
            return b""
        client = _hijack(request, backend)
        backend.peer = client
        for chunk in backend.pending:
            client.write(chunk)
        backend.pending = []
        gone: Deferred = Deferred()
        def client_gone(_: Any) -> None:
            if not gone.called:
                gone.callback(None)

        request.notifyFinish().addBoth(client_gone)
        await backend.closed
        # the HTTP server must never write its own response on this connection: wait for it to go
        await gone
        return b""

    def _endpoint(self, location: Location) -> Any:
        ip = _ip(location.host)
        if ip is None:
            endpoint: Any = HostnameEndpoint(self.reactor, location.host.encode("idna"), location.port, timeout=DIAL_TIMEOUT)
        elif ip.version == 6:
            endpoint = TCP6ClientEndpoint(self.reactor, location.host, location.port, timeout=DIAL_TIMEOUT)
        else:
            endpoint = TCP4ClientEndpoint(self.reactor, location.host, location.port, timeout=DIAL_TIMEOUT)
        if location.scheme == "https":
            creator: Any = _Unverified(location.host)
            endpoint = wrapClientTLS(creator, endpoint)
        return endpoint

    def close(self) -> Deferred:
        """
        Close the pooled connections.
        """
        return self.pool.closeCachedConnections()


#: The CORS headers kube's proxy drops from a backend's answer (C{corsRemovingTransport}).
_CORS = (b"Access-Control-Allow-Credentials", b"Access-Control-Allow-Headers", b"Access-Control-Allow-Methods",
         b"Access-Control-Allow-Origin")


def rewrite_location(value: str, location: Location, prepend: str) -> str:
    """
    kube's C{rewriteURL} of a C{Location} answered through a proxy subresource: a path, or a URL
    on the backend's own host, goes through the proxy again (C{prepend} before its path, the
    trailing slash kept); a relative reference or another host is left alone.
    """
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(value)
    if (u.netloc and u.netloc != location.netloc) or not u.path.startswith("/"):
        return value
    if u.path.startswith(prepend):
        return urlunsplit(("", "", u.path, u.query, u.fragment))
    path = posixpath.join(prepend, u.path.lstrip("/"))
    if u.path.endswith("/") and not path.endswith("/"):
        path += "/"
    return urlunsplit(("", "", path, u.query, u.fragment))


_GENERIC = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    403: ("Forbidden", ""),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    500: ("InternalError", "an error on the server (%s) has prevented the request from succeeding"),
    501: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request"),
}


def generic_server_response(code: int, resource: str, name: str, server_message: str) -> StatusError:
    """
    apimachinery's C{NewGenericServerResponse} for a backend's C{code} and body (verb C{get}).
    """
    reason, message = _GENERIC.get(code, ("", "an error on the server (%s) has prevented the request from succeeding"))
    if code == 403:
        message = f"{resource} {_q(name)} is forbidden: {server_message}" if server_message else f'{resource} "{name}" is forbidden'
        return StatusError(403, reason, message)
    if "%s" in message:
        message = message % (_q(server_message) if server_message else '"unknown"')
    if code not in _GENERIC and code < 500:
        reason, message = "", f"the server responded with the status code {code} but did not return more information"
    out = code if code in _GENERIC or code >= 500 else code
    details = {"name": name, "kind": resource, "causes": [{"reason": "UnexpectedServerResponse", "message": server_message}]} if server_message else {"name": name, "kind": resource}
    return StatusError(out, reason, f"{message} (get {resource} {name})", details)


def _q(s: str) -> str:
    import json

    return json.dumps(s)


class _Backend(Protocol):
    """
    The backend side of a spliced connection: its bytes go to the client (held until the client
    is taken over); C{closed} fires when it ends.
    """

    def __init__(self) -> None:
        self.peer: Any = None
        self.pending: list[bytes] = []
        self.closed: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        if self.peer is None:
            self.pending.append(data)
        else:
            self.peer.write(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.peer is not None:
            self.peer.loseConnection()
        if not self.closed.called:
            self.closed.callback(None)


def _hijack(request: Any, backend: _Backend) -> Any:
    """
    Take the client's connection over from Twisted's HTTP channel: what the client sends (and
    what the channel had buffered after the request) goes to C{backend}; returns the client's
    transport. The request is never finished by the server after this; its connection closes
    with the backend's.
    """
    channel = request.channel
    transport = channel.transport
    buffered = b"".join(getattr(channel, "_dataBuffer", []) or [])
    if hasattr(channel, "_dataBuffer"):
        channel._dataBuffer = []

    def to_backend(data: bytes) -> None:
        out: Any = backend.transport
        if out is not None:
            out.write(data)

    def client_gone(_: Any) -> None:
        out: Any = backend.transport
        if out is not None:
            out.loseConnection()

    channel.dataReceived = to_backend
    if hasattr(channel, "setTimeout"):
        channel.setTimeout(None)
    request.notifyFinish().addBoth(client_gone)
    if buffered:
        to_backend(buffered)
    producer = getattr(channel, "_networkProducer", None)
    if producer is not None:
        producer.resumeProducing()
    return transport
