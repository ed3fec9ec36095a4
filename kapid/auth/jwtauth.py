"""
JWT (OpenID Connect) token authentication: kube's C{--oidc-*} flags and the C{jwt} issuers of an
C{--authentication-config} file (C{apiserver.config.k8s.io} C{AuthenticationConfiguration};
C{claimValidationRules} with C{claim}/C{requiredValue} or a CEL C{expression}, C{claimMappings} with
C{claim}/C{prefix} or CEL expressions, C{userValidationRules}: L{kapid.cel.authn}; expressions that
do not compile are refused at start-up).

A bearer token is an issuer's when it is a JWT whose C{iss} is that issuer's URL. Its signing keys
come from the issuer's discovery document (C{<url>/.well-known/openid-configuration}, or the
configured discovery URL) and JWKS, fetched on first use and again (at most every 10 s) when a token
names a key that is not known; the token must name one of the audiences, be unexpired and carry the
required claims. The user is the username claim (prefixed: C{--oidc-username-prefix}, by default
C{<issuer>#} unless the claim is C{email}, C{-} for none), the groups claim (prefixed), and the uid
and extra mappings.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Sequence

import attr
import jwt
import yaml
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.client import readBody
from twisted.web.http_headers import Headers

from kapid.auth.interfaces import AuthenticationError, UserInfo

log = Logger()

#: seconds between two key fetches caused by unknown keys.
REFETCH_INTERVAL = 10.0
#: seconds a fetch may take.
FETCH_TIMEOUT = 30.0


@attr.s(frozen=True, auto_attribs=True)
class Issuer:
    """
    One JWT issuer's configuration.
    """

    url: str
    audiences: tuple[str, ...]
    username_claim: str = "sub"
    username_prefix: Optional[str] = None
    groups_claim: str = ""
    groups_prefix: str = ""
    uid_claim: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    required_claims: tuple[tuple[str, str], ...] = ()
    ca_pem: bytes = b""
    discovery_url: str = ""
    algorithms: tuple[str, ...] = ("RS256",)
    #: the issuer's CEL expressions (a L{kapid.cel.authn.ClaimExpressions}), or None
    expressions: Any = None

    @property
    def prefix(self) -> str:
        """
        The username prefix in effect (kube's default: C{<url>#} unless the claim is C{email}).
        """
        if self.username_prefix is None:
            return "" if self.username_claim == "email" else f"{self.url}#"
        return "" if self.username_prefix == "-" else self.username_prefix


class JWTAuthenticator:
    """
    Token authenticator for one L{Issuer}.

    @ivar fetch: C{fetch(url)} fires with the parsed JSON at C{url} (HTTPS, trusting the issuer's
        CA).
    @ivar clock: for token times and the refetch interval.
    """

    def __init__(self, issuer: Issuer, fetch: Callable[[str], Deferred], clock: Any) -> None:
        self.issuer = issuer
        self.fetch = fetch
        self.clock = clock
        self.keys: dict[str, Any] = {}
        self._last_fetch: Optional[float] = None
        self._loading = False
        self._waiters: list[Deferred] = []

    def close(self) -> Any:
        """
        Close the fetcher's connections (when it can).
        """
        close = getattr(self.fetch, "close", None)
        return close() if close is not None else None

    def authenticate_token(self, token: str) -> Any:
        """
        The user (a Deferred), None when the token is not this issuer's; raises (errbacks with)
        L{AuthenticationError} for one of its tokens that does not verify.
        """
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        if not isinstance(unverified, dict) or unverified.get("iss") != self.issuer.url:
            return None
        return Deferred.fromCoroutine(self._authenticate(token, header))

    async def _keys_for(self, kid: Optional[str]) -> list[Any]:
        now = self.clock.seconds()
        known = kid in self.keys if kid else bool(self.keys)
        if not known and (self._last_fetch is None or now - self._last_fetch >= REFETCH_INTERVAL):
            await self._refresh()
        if kid:
            return [self.keys[kid]] if kid in self.keys else []
        return list(self.keys.values())

    async def _refresh(self) -> None:
        if self._loading:
            waiter: Deferred = Deferred()
            self._waiters.append(waiter)
            await waiter
            return
        self._loading = True
        self._last_fetch = self.clock.seconds()
        try:
            await self._load()
        finally:
            self._loading = False
            waiters, self._waiters = self._waiters, []
            for w in waiters:
                w.callback(None)

    async def _load(self) -> None:
        discovery_url = self.issuer.discovery_url or self.issuer.url.rstrip("/") + "/.well-known/openid-configuration"
        try:
            discovery = await self.fetch(discovery_url)
            jwks = await self.fetch(discovery["jwks_uri"])
            keys: dict[str, Any] = {}
            for entry in jwks.get("keys") or []:
                try:
                    key = jwt.PyJWK.from_dict(entry)
                except jwt.PyJWKError:
                    continue
                keys[entry.get("kid") or str(len(keys))] = key.key
            self.keys = keys
        except Exception as e:
            log.warn("oidc: fetching the keys of {issuer} failed: {error}", issuer=self.issuer.url, error=str(e))

    async def _authenticate(self, token: str, header: dict) -> UserInfo:
        keys = await self._keys_for(header.get("kid"))
        if not keys:
            raise AuthenticationError("oidc: verify token: no key found for the token")
        claims: Optional[dict] = None
        error: Exception = AuthenticationError("oidc: verify token")
        for key in keys:
            try:
                claims = jwt.decode(
                    token, key, algorithms=list(self.issuer.algorithms), audience=list(self.issuer.audiences),
                    issuer=self.issuer.url, options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                                     "require": ["exp"]},
                )
                break
            except jwt.InvalidTokenError as e:
                error = e
        if claims is None:
            raise AuthenticationError(f"oidc: verify token: {error}")
        now = self.clock.seconds()
        if now >= claims["exp"]:
            raise AuthenticationError("oidc: verify token: token is expired")
        if "nbf" in claims and now < claims["nbf"]:
            raise AuthenticationError("oidc: verify token: token is not valid yet")
        return self.user_of(claims)

    def user_of(self, claims: dict) -> UserInfo:
        """
        The user of verified C{claims} (kube's claim mappings and validation rules, CEL ones too).
        """
        i = self.issuer
        cel = i.expressions
        if cel is not None and cel.username is not None:
            name = self._cel(cel.map_username, claims)
        else:
            username = claims.get(i.username_claim)
            if not isinstance(username, str) or not username:
                raise AuthenticationError(f"oidc: parse username claims {json.dumps(i.username_claim)}: claim not present")
            if i.username_claim == "email" and claims.get("email_verified") is not None:
                if claims.get("email_verified") is not True:
                    raise AuthenticationError("oidc: email not verified")
            name = i.prefix + username
        groups: list[str] = []
        if i.groups_claim and i.groups_claim in claims:
            value = claims[i.groups_claim]
            values = [value] if isinstance(value, str) else list(value or [])
            groups = [i.groups_prefix + str(g) for g in values]
        elif cel is not None and cel.groups is not None:
            groups = self._cel(cel.map_groups, claims)
        uid = str(claims.get(i.uid_claim) or "") if i.uid_claim else ""
        if not i.uid_claim and cel is not None and cel.uid is not None:
            uid = self._cel(cel.map_uid, claims)
        extra = {}
        for key, claim in i.extra:
            if claim in claims:
                value = claims[claim]
                extra[key] = tuple(value if isinstance(value, list) else [str(value)])
        if cel is not None:
            extra.update(self._cel(cel.map_extra, claims))
        for claim, value in i.required_claims:
            if claims.get(claim) != value:
                raise AuthenticationError(f"oidc: required claim {claim} value does not match. Got = "
                                          f"{claims.get(claim)!r}, want = {value!r}")
        if cel is not None:
            self._cel(cel.validate_claims, claims)
            self._cel(cel.validate_user, name, uid, groups, extra)
        return UserInfo(name=name, uid=uid, groups=tuple(groups), extra=extra)

    @staticmethod
    def _cel(fn: Callable[..., Any], *args: Any) -> Any:
        """Call a L{kapid.cel.authn.ClaimExpressions} method; its errors refuse the token."""
        from kapid.cel.authn import ClaimError

        try:
            return fn(*args)
        except ClaimError as e:
            raise AuthenticationError(str(e)) from None


class HTTPSFetcher:
    """
    C{fetch(url)}: GET JSON over HTTPS, trusting C{ca_pem} (the platform's roots without one);
    one pooled client per host.
    """

    def __init__(self, reactor: Any, ca_pem: bytes = b"") -> None:
        self.reactor = reactor
        self.ca_pem = ca_pem
        self.clients: dict[str, Any] = {}

    def __call__(self, url: str) -> Deferred:
        return Deferred.fromCoroutine(self._fetch(url))

    async def _fetch(self, url: str) -> Any:
        from hyperlink import URL

        from kapid.transport.client import ClientConfig, WebhookClient

        u = URL.from_text(url)
        base = f"{u.scheme}://{u.authority()}"
        client = self.clients.get(base)
        if client is None:
            client = self.clients[base] = WebhookClient(
                self.reactor, ClientConfig(url=base, ca_bundle=self.ca_pem), None, None, 2)
        path = "/" + "/".join(u.path) if u.path else "/"
        if u.query:
            path += "?" + "&".join(f"{k}={v}" if v is not None else k for k, v in u.query)
        response = await client.request("GET", path, Headers({b"Accept": [b"application/json"]}), None,
                                        timeout=FETCH_TIMEOUT)
        body = await readBody(response)
        if response.code != 200:
            raise ValueError(f"{url}: {response.code}")
        return json.loads(body)

    def close(self) -> Deferred:
        """
        Close the pooled connections.
        """
        from twisted.internet.defer import gatherResults

        return gatherResults([c.close() for c in self.clients.values()])


def https_fetcher(reactor: Any, ca_pem: bytes = b"") -> HTTPSFetcher:
    """
    An L{HTTPSFetcher}.
    """
    return HTTPSFetcher(reactor, ca_pem)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in (p.strip() for p in text.split(",")):
        if item:
            key, _, value = item.partition("=")
            out.append((key.strip(), value.strip()))
    return tuple(out)


def issuers_from_flags(authn: Any) -> list[Issuer]:
    """
    The issuer of the C{--oidc-*} flags (none without C{--oidc-issuer-url}).
    """
    url = getattr(authn, "oidc_issuer_url", "") or ""
    if not url:
        return []
    ca = b""
    if getattr(authn, "oidc_ca_file", None):
        with open(authn.oidc_ca_file, "rb") as f:
            ca = f.read()
    return [Issuer(
        url=url, audiences=(authn.oidc_client_id,), username_claim=authn.oidc_username_claim or "sub",
        username_prefix=authn.oidc_username_prefix if authn.oidc_username_prefix else None,
        groups_claim=authn.oidc_groups_claim or "", groups_prefix=authn.oidc_groups_prefix or "",
        required_claims=_pairs(authn.oidc_required_claim or ""), ca_pem=ca,
        algorithms=tuple(a for a in (authn.oidc_signing_algs or "RS256").split(",") if a),
    )]


def issuers_from_config_file(path: str) -> list[Issuer]:
    """
    The C{jwt} issuers of an C{AuthenticationConfiguration} file; raises L{ValueError} for what
    kapid cannot do (CEL expressions) or a malformed file.
    """
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if doc.get("kind") != "AuthenticationConfiguration":
        raise ValueError(f"{path}: kind must be AuthenticationConfiguration")
    out = []
    for index, entry in enumerate(doc.get("jwt") or []):
        where = f"{path}: jwt[{index}]"
        issuer = entry.get("issuer") or {}
        if not issuer.get("url"):
            raise ValueError(f"{where}.issuer.url: Required value")
        audiences = tuple(issuer.get("audiences") or ())
        if not audiences:
            raise ValueError(f"{where}.issuer.audiences: Required value")
        mappings = entry.get("claimMappings") or {}
        username = mappings.get("username") or {}
        groups = mappings.get("groups") or {}
        uid = mappings.get("uid") or {}
        required = []
        for rule in entry.get("claimValidationRules") or []:
            if not rule.get("expression"):
                required.append((rule.get("claim") or "", rule.get("requiredValue") or ""))
        extra: list[tuple[str, str]] = []
        expressions = None
        if any(m.get("expression") for m in (username, groups, uid)) or mappings.get("extra") \
                or entry.get("userValidationRules") or any(r.get("expression") for r in entry.get("claimValidationRules") or []):
            from kapid.cel.authn import ClaimExpressions

            expressions = ClaimExpressions(entry, where)
            if expressions.errors:
                raise ValueError("; ".join(expressions.errors))
        if not username.get("claim") and not username.get("expression"):
            raise ValueError(f"{where}.claimMappings.username: claim or expression is required")
        out.append(Issuer(
            url=issuer["url"], audiences=audiences, username_claim=username.get("claim") or "",
            username_prefix=username.get("prefix") if username.get("prefix") is not None else "",
            groups_claim=groups.get("claim") or "", groups_prefix=groups.get("prefix") or "",
            uid_claim=uid.get("claim") or "", extra=tuple(extra), required_claims=tuple(required),
            ca_pem=(issuer.get("certificateAuthority") or "").encode(), discovery_url=issuer.get("discoveryURL") or "",
            expressions=expressions,
        ))
    return out


def jwt_authenticators_for_service(service: Any) -> list[JWTAuthenticator]:
    """
    The JWT authenticators of C{service}'s flags (C{--oidc-*}, C{--authentication-config}).
    """
    authn = service.config.authentication
    issuers = issuers_from_flags(authn)
    if getattr(authn, "authentication_config", None):
        issuers += issuers_from_config_file(authn.authentication_config)
    return [JWTAuthenticator(i, https_fetcher(service.reactor, i.ca_pem), service.reactor) for i in issuers]
