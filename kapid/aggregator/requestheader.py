"""
Request-header authentication (kube's C{requestheader} authenticator), so that kapid can serve as an
extension API server behind an aggregator: a client presenting a certificate signed by
C{--requestheader-client-ca-file} (and, when C{--requestheader-allowed-names} is set, with one of
those common names) is a front proxy, and the user it names in C{--requestheader-username-headers},
C{--requestheader-group-headers} and C{--requestheader-extra-headers-prefix} is the request's
user. The headers are removed from the request once read. Headers from any other client are never
trusted.

Also the C{extension-apiserver-authentication} ConfigMap in C{kube-system}
(L{authentication_configmap}, published at start by L{post_start_hook}) that tells extension API
servers which client CA and request-header settings to trust.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Optional, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from zope.interface import implementer

from kapid.auth.authenticators import peer_certificate
from kapid.auth.interfaces import ANONYMOUS_USER, AuthenticationError, IAuthenticator, UserInfo

log = Logger()

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"


def load_certificates(path: str) -> list[x509.Certificate]:
    """
    Every certificate of the PEM bundle at C{path}.
    """
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


def issued_by_any(cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> bool:
    """
    Whether C{cert} is signed directly by one of C{cas}.
    """
    for ca in cas:
        if cert.issuer != ca.subject:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:
            continue
        return True
    return False


def _unescape_extra_key(key: str) -> str:
    return urllib.parse.unquote(key).lower()


@implementer(IAuthenticator)
class RequestHeaderAuthenticator:
    """
    kube's request-header authenticator.

    @param cas: the C{--requestheader-client-ca-file} certificates.
    @param allowed_names: common names allowed to act as front proxies (empty: any).
    @param username_headers, group_headers, extra_prefixes: the headers read, in order.
    """

    def __init__(
        self,
        cas: Sequence[x509.Certificate],
        allowed_names: Sequence[str] = (),
        username_headers: Sequence[str] = (),
        group_headers: Sequence[str] = (),
        extra_prefixes: Sequence[str] = (),
    ) -> None:
        self.cas = list(cas)
        self.allowed_names = tuple(allowed_names)
        self.username_headers = tuple(username_headers)
        self.group_headers = tuple(group_headers)
        self.extra_prefixes = tuple(p.lower() for p in extra_prefixes)

    def is_front_proxy(self, cert: Optional[x509.Certificate]) -> bool:
        """
        Whether C{cert} is signed by a request-header CA (whatever its name).
        """
        return cert is not None and issued_by_any(cert, self.cas)

    def authenticate(self, request: Any) -> Optional[UserInfo]:
        """
        The user named by the headers of a verified front proxy; None when the request carries no
        username header or no client certificate (the headers are then not trusted);
        L{AuthenticationError} for a certificate not from the request-header CA or with a common
        name not allowed.
        """
        headers = request.requestHeaders
        name = ""
        for h in self.username_headers:
            values = headers.getRawHeaders(h.encode("latin-1"))
            if values and values[0]:
                name = values[0].decode("utf-8", "replace")
                break
        if not name:
            return None
        cert = peer_certificate(request)
        if cert is None:
            return None
        if not self.is_front_proxy(cert):
            raise AuthenticationError("x509: certificate signed by unknown authority")
        if self.allowed_names:
            cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
            if not cns or cns[0] not in self.allowed_names:
                raise AuthenticationError(
                    f"x509: subject with cn={cns[0] if cns else ''} is not in the allowed list"
                )
        groups: list[str] = []
        for h in self.group_headers:
            for v in headers.getRawHeaders(h.encode("latin-1")) or []:
                groups.append(v.decode("utf-8", "replace"))
        extra: dict[str, list[str]] = {}
        for key, values in list(headers.getAllRawHeaders()):
            low = key.decode("latin-1").lower()
            for prefix in self.extra_prefixes:
                if low.startswith(prefix) and len(low) > len(prefix):
                    extra.setdefault(_unescape_extra_key(low[len(prefix):]), []).extend(
                        v.decode("utf-8", "replace") for v in values
                    )
        self._strip(headers)
        return UserInfo(name=name, groups=tuple(groups), extra={k: tuple(v) for k, v in extra.items()})

    def _strip(self, headers: Any) -> None:
        for h in self.username_headers + self.group_headers:
            headers.removeHeader(h.encode("latin-1"))
        for key, _ in list(headers.getAllRawHeaders()):
            if key.decode("latin-1").lower().startswith(self.extra_prefixes or ("\0",)):
                headers.removeHeader(key)


@implementer(IAuthenticator)
class WithRequestHeader:
    """
    The secure port's authenticator with request-header authentication first (kube's order). A
    certificate from the request-header CA that is not also from the client CA identifies a front
    proxy, never a user: without username headers it is refused (as kube's x509 authenticator
    refuses a certificate it cannot verify).
    """

    def __init__(self, request_header: RequestHeaderAuthenticator, inner: Any, client_cas: Sequence[x509.Certificate]) -> None:
        self.request_header = request_header
        self.inner = inner
        self.client_cas = list(client_cas)

    def authenticate(self, request: Any) -> Any:
        """
        The request-header user, else the inner authenticator's (kube's union: a request-header
        error stands unless a later authenticator other than anonymous knows the user).
        """
        error: Optional[AuthenticationError] = None
        try:
            user = self.request_header.authenticate(request)
        except AuthenticationError as e:
            error, user = e, None
        if user is not None:
            return user
        cert = peer_certificate(request)
        if cert is not None and self.request_header.is_front_proxy(cert) and not issued_by_any(cert, self.client_cas):
            raise error or AuthenticationError("x509: certificate signed by unknown authority")
        if error is None:
            return self.inner.authenticate(request)
        d = maybeDeferred(self.inner.authenticate, request)

        def after(inner_user: Any) -> Any:
            if inner_user is None or inner_user.name == ANONYMOUS_USER:
                raise error  # type: ignore[misc]
            return inner_user

        return d.addCallback(after)


def request_header_authenticator(config: Any) -> Optional[RequestHeaderAuthenticator]:
    """
    The authenticator of the C{--requestheader-*} flags, or None without
    C{--requestheader-client-ca-file}.
    """
    a = config.authentication
    if not a.requestheader_client_ca_file:
        return None
    return RequestHeaderAuthenticator(
        load_certificates(a.requestheader_client_ca_file),
        a.requestheader_allowed_names,
        a.requestheader_username_headers,
        a.requestheader_group_headers,
        getattr(a, "requestheader_extra_headers_prefix", ()),
    )


def wrap_authenticator(config: Any, inner: Any, client_cas: Sequence[x509.Certificate]) -> Any:
    """
    C{inner} with request-header authentication in front when C{--requestheader-client-ca-file} is
    set (else C{inner} itself).
    """
    rh = request_header_authenticator(config)
    if rh is None:
        return inner
    return WithRequestHeader(rh, inner, client_cas)


def tls_client_cas(config: Any) -> list[x509.Certificate]:
    """
    The certificates the TLS layer must also accept client certificates from (the request-header
    CA), so that the front proxy's handshake succeeds.
    """
    a = config.authentication
    if not a.requestheader_client_ca_file:
        return []
    return load_certificates(a.requestheader_client_ca_file)


def _pem(certs: Sequence[x509.Certificate]) -> str:
    from cryptography.hazmat.primitives import serialization

    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def authentication_configmap(
    client_cas: Sequence[x509.Certificate],
    requestheader_cas: Sequence[x509.Certificate],
    username_headers: Sequence[str],
    group_headers: Sequence[str],
    extra_prefixes: Sequence[str],
    allowed_names: Sequence[str],
) -> dict:
    """
    kube's C{extension-apiserver-authentication} ConfigMap: the client CA, and the request-header
    CA with its header names (JSON lists) when there is one.
    """
    data: dict[str, str] = {}
    if client_cas:
        data["client-ca-file"] = _pem(client_cas)
    if requestheader_cas:
        data["requestheader-allowed-names"] = json.dumps(list(allowed_names), separators=(",", ":"))
        data["requestheader-client-ca-file"] = _pem(requestheader_cas)
        data["requestheader-extra-headers-prefix"] = json.dumps(list(extra_prefixes), separators=(",", ":"))
        data["requestheader-group-headers"] = json.dumps(list(group_headers), separators=(",", ":"))
        data["requestheader-username-headers"] = json.dumps(list(username_headers), separators=(",", ":"))
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE},
        "data": data,
    }


def configmap_for_service(service: Any) -> dict:
    """
    The ConfigMap kapid publishes: its client CA and its C{--requestheader-*} settings; without
    C{--requestheader-client-ca-file}, kapid's generated front-proxy CA with kube's usual header
    names and C{front-proxy-client} allowed (what its own proxy presents and sends).
    """
    from kapid.aggregator import proxy

    config = service.config
    a = config.authentication
    client_cas = list(getattr(service, "client_ca_certs", None) or [])
    if a.requestheader_client_ca_file:
        return authentication_configmap(
            client_cas, load_certificates(a.requestheader_client_ca_file), a.requestheader_username_headers,
            a.requestheader_group_headers, getattr(a, "requestheader_extra_headers_prefix", ()),
            a.requestheader_allowed_names,
        )
    if getattr(config.misc, "proxy_client_cert_file", None):
        return authentication_configmap(client_cas, [], (), (), (), ())
    ca_path = proxy.front_proxy_ca_path(config.secure_serving.cert_dir)
    try:
        fp_cas = load_certificates(ca_path)
    except OSError:
        fp_cas = []
    return authentication_configmap(
        client_cas, fp_cas, ("X-Remote-User",), ("X-Remote-Group",), ("X-Remote-Extra-",), (proxy.FRONT_PROXY_USER,),
    )


async def publish(store: Any, wanted: dict) -> bool:
    """
    Create or update the ConfigMap through C{store} (the configmaps' store) when its data differs;
    True when written.
    """
    from kapid.apimachinery.status import StatusError

    ns, name = CONFIGMAP_NAMESPACE, CONFIGMAP_NAME
    try:
        current = await store.get(ns, name, "v1")
    except StatusError as e:
        if e.code != 404:
            raise
        try:
            await store.create(ns, dict(wanted), "v1")
        except StatusError as e2:
            if e2.code != 409:
                raise
            return False
        return True
    if current.get("data") == wanted["data"]:
        return False

    def updater(cur: Optional[dict]) -> dict:
        if cur is None:
            raise StatusError(404, "NotFound", "gone")
        new = dict(cur)
        new["data"] = wanted["data"]
        return new

    try:
        await store.update(ns, name, updater, "v1")
    except StatusError as e:
        if e.code not in (404, 409):
            raise
        return False
    return True


def post_start_hook(service: Any) -> Deferred:
    """
    kube's C{start-cluster-authentication-info-controller}: publish the ConfigMap (after the
    system namespaces exist).
    """

    async def run() -> None:
        link = getattr(service, "resource_link", None)
        if link is None:
            return
        res = link.registry.lookup("", "v1", "configmaps")
        if res is None:
            return
        await publish(link.store_for(res), configmap_for_service(service))

    return Deferred.fromCoroutine(run())
