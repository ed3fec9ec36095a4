"""
Service account token authentication (kube's C{serviceaccount.JWTTokenAuthenticator} with its bound
token validator), and the authenticator kapid's secure port uses (L{authenticator_for_service}).

A bearer token is one of ours when it is a JWT whose C{iss} is the server's issuer
(C{--service-account-issuer}); it is then verified (signature against the signing key and every
C{--service-account-key-file} key, one of C{--api-audiences}, C{exp}/C{nbf}), the verification
cached per token until it expires, and on every request the objects it is bound to (the
ServiceAccount, and the Pod, Secret or Node of a bound token) must still exist with the uid in the
token. The user is C{system:serviceaccount:<ns>:<name>} in C{system:serviceaccounts} and
C{system:serviceaccounts:<ns>}.

Legacy tokens (issuer C{kubernetes/serviceaccount}, from C{kubernetes.io/service-account-token}
Secrets, see L{kapid.auth.legacytokens}) are accepted while their Secret exists and holds them and
their ServiceAccount exists with the same uid.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Optional, Sequence

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from twisted.internet.defer import Deferred
from zope.interface import implementer

from kapid.auth.interfaces import AuthenticationError, IAuthenticator, UserInfo
from kapid.auth.tokens import LEGACY_ISSUER, key_id

#: The prefix of the legacy tokens' private claims.
LEGACY_PREFIX = "kubernetes.io/serviceaccount/"

#: kube's error for a bearer token no token authenticator accepts.
INVALID_TOKEN = "invalid bearer token"

#: how many verified tokens are remembered.
CACHE_SIZE = 4096


def _public(key: Any) -> Any:
    return key.public_key() if hasattr(key, "public_key") else key


def load_public_keys(path: str) -> list[Any]:
    """
    The public keys of every PEM block (private or public, RSA or ECDSA) in C{path} (kube's
    C{--service-account-key-file}).
    """
    with open(path, "rb") as f:
        data = f.read()
    keys = []
    for block in data.split(b"-----END ")[:-1]:
        start = block.rfind(b"-----BEGIN ")
        if start < 0:
            continue
        label_end = block.find(b"-----", start + 11)
        label = block[start + 11:label_end]
        pem = block[start:] + b"-----END " + label + b"-----\n"
        if b"PRIVATE" in label:
            keys.append(_public(serialization.load_pem_private_key(pem, None)))
        elif b"PUBLIC" in label:
            keys.append(serialization.load_pem_public_key(pem))
    return keys


def _algorithms(key: Any) -> list[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256", "RS384", "RS512"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return [{256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]]
    return []


@implementer(IAuthenticator)
class BearerTokenAuthenticator:
    """
    kube's C{bearertoken.Authenticator} over token authenticators (objects with
    C{authenticate_token(token)} answering a L{UserInfo}, None, or a Deferred of either): the
    first that knows the token wins; a token none knows is L{INVALID_TOKEN} (a 401, even with
    anonymous requests allowed).
    """

    def __init__(self, authenticators: Sequence[Any]) -> None:
        self.authenticators = list(authenticators)

    def authenticate(self, request: Any) -> Any:
        """
        The user of the request's bearer token; None without one.
        """
        from kapid.auth.authenticators import bearer_token

        token = bearer_token(request)
        if token is None:
            return None
        return Deferred.fromCoroutine(self.authenticate_token(token))

    async def authenticate_token(self, token: str) -> UserInfo:
        """
        The user of C{token}; raises L{AuthenticationError} when no authenticator accepts it.
        """
        errors: list[Exception] = []
        for authenticator in self.authenticators:
            try:
                user = authenticator.authenticate_token(token)
                if isinstance(user, Deferred):
                    user = await user
            except AuthenticationError as e:
                errors.append(e)
                continue
            if user is not None:
                return user
        if errors:
            raise errors[0]
        raise AuthenticationError(INVALID_TOKEN)


class ServiceAccountTokenAuthenticator:
    """
    Authenticates the service account JWTs of C{issuers}.

    @ivar keys: the public keys tokens may be signed with.
    @ivar audiences: the API's audiences (a token must name one).
    @ivar lookup: C{lookup(resource, namespace, name)} fires with the stored object or None
        (resource is C{serviceaccounts}, C{pods}, C{secrets} or C{nodes}).
    @ivar now: seconds since the epoch.
    """

    def __init__(
        self,
        keys: Sequence[Any],
        issuers: Sequence[str],
        audiences: Sequence[str],
        lookup: Callable[[str, str, str], Any],
        now: Callable[[], float],
        cache_size: int = CACHE_SIZE,
        legacy: bool = True,
    ) -> None:
        self.keys = list(keys)
        self.kids = {key_id(k): k for k in self.keys}
        self.issuers = set(issuers)
        self.audiences = list(audiences)
        self.lookup = lookup
        self.now = now
        self.cache_size = cache_size
        self.legacy = legacy
        self._cache: OrderedDict[str, dict] = OrderedDict()

    def _verify(self, token: str) -> Optional[dict]:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return None
        if not isinstance(unverified, dict):
            return None
        if unverified.get("iss") not in self.issuers and not (self.legacy and unverified.get("iss") == LEGACY_ISSUER):
            return None
        kid = header.get("kid")
        candidates = [self.kids[kid]] if kid in self.kids else self.keys
        last: Exception = AuthenticationError(INVALID_TOKEN)
        legacy = unverified.get("iss") == LEGACY_ISSUER
        for key in candidates:
            try:
                if legacy:
                    return jwt.decode(token, key, algorithms=_algorithms(key), issuer=LEGACY_ISSUER,
                                      options={"verify_aud": False, "verify_exp": False, "require": ["sub"]})
                return jwt.decode(
                    token, key, algorithms=_algorithms(key), audience=self.audiences,
                    issuer=list(self.issuers),
                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                             "require": ["exp", "iss", "aud", "sub"]},
                )
            except jwt.InvalidAudienceError:
                raise AuthenticationError("token audiences is invalid for the target audiences")
            except jwt.InvalidTokenError as e:
                last = e
        raise AuthenticationError(f"{INVALID_TOKEN}: {last}")

    def authenticate_token(self, token: str) -> Any:
        """
        The service account of C{token} (a Deferred, after checking its bound objects), None when
        the token is not one of the issuer's; raises L{AuthenticationError} for one that is but
        does not verify.
        """
        claims = self._cache.get(token)
        if claims is None:
            claims = self._verify(token)
            if claims is None:
                return None
            self._cache[token] = claims
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(token)
        t = self.now()
        if ("exp" in claims and t >= claims["exp"]) or ("nbf" in claims and t < claims["nbf"] - 60):
            self._cache.pop(token, None)
            raise AuthenticationError("service account token has expired")
        if claims.get("iss") == LEGACY_ISSUER:
            return Deferred.fromCoroutine(self._check_legacy(token, claims))
        return Deferred.fromCoroutine(self._check_bound(claims))

    async def _check_legacy(self, token: str, claims: dict) -> UserInfo:
        """
        kube's legacy validator: the Secret still exists and holds this token (and is not marked
        invalid), and the ServiceAccount exists with the uid in the token.
        """
        namespace = claims.get(LEGACY_PREFIX + "namespace") or ""
        name = claims.get(LEGACY_PREFIX + "service-account.name") or ""
        uid = claims.get(LEGACY_PREFIX + "service-account.uid") or ""
        secret_name = claims.get(LEGACY_PREFIX + "secret.name") or ""
        if not (namespace and name and secret_name):
            raise AuthenticationError(INVALID_TOKEN)
        secret = await self.lookup("secrets", namespace, secret_name)
        if secret is not None and _secret_token(secret) != token and hasattr(self.lookup, "fresh"):
            secret = await self.lookup.fresh("secrets", namespace, secret_name)  # the cache may lag
        if secret is None:
            raise AuthenticationError(f'secret "{secret_name}" has been deleted')
        if _secret_token(secret) != token:
            raise AuthenticationError(f'token does not match secret "{secret_name}"')
        if "kubernetes.io/legacy-token-invalid-since" in ((secret.get("metadata") or {}).get("labels") or {}):
            raise AuthenticationError(f'the token in secret "{secret_name}" has been invalidated')
        account = await self.lookup("serviceaccounts", namespace, name)
        if account is None or (uid and (account.get("metadata") or {}).get("uid") != uid):
            raise AuthenticationError(f'service account "{name}" has been deleted')
        return UserInfo(
            name=f"system:serviceaccount:{namespace}:{name}", uid=uid,
            groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        )

    async def _check_bound(self, claims: dict) -> UserInfo:
        from kapid.registry.builtin.authentication import service_account_user

        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise AuthenticationError(INVALID_TOKEN)
        namespace = private.get("namespace") or ""
        account = private.get("serviceaccount") or {}
        checks = [("serviceaccounts", namespace, account)]
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            if private.get(kind):
                checks.append((plural, namespace, private[kind]))
        for plural, ns, ref in checks:
            obj = await self.lookup(plural, ns, ref.get("name") or "")
            if obj is not None and ref.get("uid") and (obj.get("metadata") or {}).get("uid") != ref["uid"]:
                if hasattr(self.lookup, "fresh"):  # the cache may lag behind a re-creation
                    obj = await self.lookup.fresh(plural, ns, ref.get("name") or "")
            if obj is None:
                raise AuthenticationError(f"{plural[:-1]} \"{ref.get('name')}\" has been deleted")
            meta = obj.get("metadata") or {}
            if ref.get("uid") and meta.get("uid") != ref["uid"]:
                raise AuthenticationError(f"{plural[:-1]} \"{ref.get('name')}\" has been deleted and recreated")
            if plural == "pods" and meta.get("deletionTimestamp"):
                raise AuthenticationError(f"pod \"{ref.get('name')}\" is being deleted")
        return service_account_user(claims)


class StorageLookup:
    """
    C{lookup(resource, namespace, name)} over the served storage of C{service}: a read the watch
    cache answers when it is on (the storage is read when the cache has no such object), and
    C{lookup.fresh(...)}, a read of the storage itself, for when the cached object disagrees.
    """

    def __init__(self, service: Any) -> None:
        self.service = service

    def __call__(self, plural: str, namespace: str, name: str) -> Deferred:
        return Deferred.fromCoroutine(self._get(plural, namespace, name, False))

    def fresh(self, plural: str, namespace: str, name: str) -> Deferred:
        """
        The object as the storage has it now.
        """
        return Deferred.fromCoroutine(self._get(plural, namespace, name, True))

    async def _get(self, plural: str, namespace: str, name: str, fresh: bool) -> Optional[dict]:
        registry = getattr(self.service, "registry", None)
        storage = getattr(self.service, "api_storage", None)
        if registry is None or storage is None:
            return None
        res = registry.lookup("", "v1", plural)
        if res is None:
            return None
        key = res.key(namespace, name, self.service.config.etcd.etcd_prefix)
        obj = None if fresh else await storage.get(key, "0", True)
        if obj is None:
            obj = await storage.get(key, "", True)
        return obj


def _secret_token(secret: dict) -> str:
    import base64

    try:
        return base64.b64decode(((secret.get("data") or {}).get("token")) or "").decode()
    except Exception:
        return ""


def storage_lookup(service: Any) -> StorageLookup:
    """
    A L{StorageLookup} over C{service}'s storage.
    """
    return StorageLookup(service)


def service_account_authenticator(service: Any) -> ServiceAccountTokenAuthenticator:
    """
    The service account token authenticator of C{service}'s flags: the issuer's key and every
    C{--service-account-key-file} key, C{--service-account-issuer}, C{--api-audiences}.
    """
    from kapid.auth.tokens import issuer_from_config

    config = service.config
    issuer = issuer_from_config(config)
    keys = [issuer.key.public_key()]
    for path in getattr(config.authentication, "service_account_key_files", ()) or ():
        keys.extend(load_public_keys(path))
    clock = getattr(service, "clock", None)
    now = clock.seconds if clock is not None else issuer.now
    return ServiceAccountTokenAuthenticator(keys, [issuer.issuer], list(issuer.audiences), storage_lookup(service), now)


def authenticator_for_service(service: Any) -> Any:
    """
    The secure port's authenticator (kube's order): client certificates, then bearer tokens
    (C{--token-auth-file}, bootstrap tokens, service account tokens, OIDC/JWT issuers, the token
    webhook), then anonymous when C{--anonymous-auth} (consulted only when no credentials were
    presented that failed).
    """
    from kapid.auth.authenticators import (
        AnonymousAuthenticator,
        TokenFileAuthenticator,
        UnionAuthenticator,
        X509Authenticator,
    )

    authn = service.config.authentication
    token_authenticators: list[Any] = []
    if authn.token_auth_file:
        token_authenticators.append(TokenFileAuthenticator.from_file(authn.token_auth_file))
    if getattr(authn, "enable_bootstrap_token_auth", False):
        from kapid.auth.bootstraptoken import BootstrapTokenAuthenticator

        token_authenticators.append(BootstrapTokenAuthenticator(storage_lookup(service), service.clock.seconds))
    token_authenticators.append(service_account_authenticator(service))
    from kapid.auth.jwtauth import jwt_authenticators_for_service

    token_authenticators.extend(jwt_authenticators_for_service(service))
    if getattr(authn, "token_webhook_config_file", None):
        from kapid.auth.webhook import token_webhook_for_service

        token_authenticators.append(token_webhook_for_service(service))
    authenticators: list[Any] = [X509Authenticator(), BearerTokenAuthenticator(token_authenticators)]
    if authn.anonymous_auth:
        authenticators.append(AnonymousAuthenticator())
    return UnionAuthenticator(authenticators)
