"""
Service account issuer discovery (kube's C{pkg/serviceaccount/openidmetadata.go}):
C{/.well-known/openid-configuration} and C{/openid/v1/jwks}, so a relying party outside the cluster
can verify the tokens kapid issues. The JWKS lists the signing key and every
C{--service-account-key-file} key; the C{jwks_uri} is the server's external address (C{https://
<--external-hostname or the secure listener>/openid/v1/jwks}). Served only for an C{https} issuer,
as kube does. Anyone may read them when authorized (the default policy grants them to
C{system:serviceaccounts}).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

import hyperlink
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from klein import Klein
from twisted.web.resource import IResource

from kapid.auth.tokens import key_id
from kapid.server.link import Link

CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
CACHE_CONTROL = b"public, max-age=3600"


def _alg(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]


def jwk(key: Any) -> dict[str, Any]:
    """
    One public key as kube's JWKS lists it (C{use}, C{kty}, C{kid}, C{alg}, then the key's numbers).
    """
    if isinstance(key, rsa.RSAPublicKey):
        numbers = json.loads(RSAAlgorithm.to_jwk(key))
        params = {"n": numbers["n"], "e": numbers["e"]}
        kty = "RSA"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        numbers = json.loads(ECAlgorithm.to_jwk(key))
        params = {"crv": numbers["crv"], "x": numbers["x"], "y": numbers["y"]}
        kty = "EC"
    else:
        raise ValueError("service account keys must be RSA or ECDSA")
    return {"use": "sig", "kty": kty, "kid": key_id(key), "alg": _alg(key), **params}


def configuration(issuer: str, jwks_uri: str, keys: list[Any]) -> dict[str, Any]:
    """
    The OpenID provider configuration kube serves.
    """
    return {
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted({_alg(k) for k in keys}),
    }


class IssuerDiscoveryLink(Link):
    """
    Serves the two discovery documents; everything else goes to the delegate.

    @ivar issuer: the C{iss} of kapid's tokens.
    @ivar keys: the public keys.
    @ivar external: returns the server's external address (C{host:port}), or None while unknown.
    @ivar jwks_uri: C{--service-account-jwks-uri}, which replaces the default C{jwks_uri}.
    """

    app = Klein()

    def __init__(self, delegate: IResource, issuer: str, keys: list[Any], external: Callable[[], Optional[str]],
                 jwks_uri: str = "") -> None:
        super().__init__(delegate)
        self.issuer = issuer
        self.keys = keys
        self.external = external
        self.jwks_uri = jwks_uri

    def listed_paths(self) -> list[str]:
        """
        The two paths (kube lists them at C{/}).
        """
        return [CONFIGURATION_PATH, JWKS_PATH]

    @app.route(CONFIGURATION_PATH, methods=["GET", "HEAD"])
    def openid_configuration(self, request: Any) -> bytes:
        """
        The provider configuration.
        """
        if self.jwks_uri:
            uri = self.jwks_uri
        else:
            address = self.external() or hyperlink.URL.from_text(self.issuer).host
            uri = f"https://{address}{JWKS_PATH}"
        body = configuration(self.issuer, uri, self.keys)
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", CACHE_CONTROL)
        return orjson.dumps(body)

    @app.route(JWKS_PATH, methods=["GET", "HEAD"])
    def jwks(self, request: Any) -> bytes:
        """
        The key set.
        """
        request.setHeader(b"Content-Type", b"application/jwk-set+json")
        request.setHeader(b"Cache-Control", CACHE_CONTROL)
        return orjson.dumps({"keys": [jwk(k) for k in self.keys]})


def issuer_discovery_stage(service: Any) -> Callable[[IResource], Any]:
    """
    A chain stage factory (for C{service.stage_factories}) serving the discovery documents of
    C{service}'s issuer and keys; a pass-through for an issuer that is not an C{https} URL.
    """

    def make(delegate: IResource) -> Any:
        from kapid.auth.serviceaccount import load_public_keys
        from kapid.auth.tokens import issuer_from_config

        config = service.config
        issuer = issuer_from_config(config)
        if not issuer.issuer.startswith("https://"):
            return delegate
        keys = [issuer.key.public_key()]
        for path in getattr(config.authentication, "service_account_key_files", ()) or ():
            keys.extend(load_public_keys(path))

        def external() -> Optional[str]:
            hostname = getattr(config.generic, "external_hostname", "") or ""
            url = getattr(service, "secure_url", None)
            port = hyperlink.URL.from_text(url).port if url else None
            if hostname:
                return f"{hostname}:{port}" if port else hostname
            if url:
                return hyperlink.URL.from_text(url).authority()
            return None

        jwks_uri = getattr(config.authentication, "service_account_jwks_uri", "") or ""
        return IssuerDiscoveryLink(delegate, issuer.issuer, keys, external, jwks_uri)

    return make
