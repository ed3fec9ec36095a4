"""
Service account tokens: the signing key (kube's C{--service-account-signing-key-file}, or a key pair
kapid generates next to its CA on first start and reuses afterwards) and the issuer of the JWTs a
C{TokenRequest} (C{serviceaccounts/<name>/token}) answers with (kube's C{serviceaccount.JWTTokenGenerator}
with its C{Claims}).

Tokens are RS256 (or ES256 for an EC key) JWTs signed with PyJWT, carrying kube's claims: C{iss},
C{sub} (C{system:serviceaccount:<namespace>:<name>}), C{aud}, C{exp}, C{iat}, C{nbf}, C{jti} and the
private C{kubernetes.io} claim (C{namespace}, C{serviceaccount} {C{name}, C{uid}}). The header's
C{kid} is kube's key id: the unpadded base64url SHA-256 of the public key's DER (PKIX) form.

Authenticating requests with these tokens is not done here (it belongs to the authentication
work); L{TokenIssuer.verify} decodes one for tests and for that later use.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from typing import Any, Callable, Optional, Sequence

import attr
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

#: kube-apiserver's issuer when C{--service-account-issuer} is not given (kapid's default).
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"

#: The issuer of legacy (Secret-based) service account tokens.
LEGACY_ISSUER = "kubernetes/serviceaccount"

#: The key pair kapid generates in its pki directory.
SA_KEY = "sa.key"
SA_PUB = "sa.pub"

#: kube's TokenRequest defaults and limits (seconds).
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32


#: Keys already loaded, by file identity (path, inode, size, mtime): parsing and checking an RSA
#: key costs tens of milliseconds, and several parts of the server load the same key at start-up.
_LOADED_KEYS: dict[tuple[str, int, int, int], Any] = {}


def _file_identity(path: str) -> tuple[str, int, int, int]:
    st = os.stat(path)
    return (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns)


def load_private_key(path: str) -> Any:
    """
    The PEM private key (RSA or EC) in C{path} (read again when the file changed).
    """
    identity = _file_identity(path)
    key = _LOADED_KEYS.get(identity)
    if key is None:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        _LOADED_KEYS[identity] = key
    return key


def ensure_signing_key(pki_dir: str) -> Any:
    """
    The service account signing key in C{pki_dir} (C{sa.key}, with its public half in C{sa.pub}):
    generated (RSA 2048) on first use, reused afterwards.
    """
    key_path = os.path.join(pki_dir, SA_KEY)
    if os.path.exists(key_path):
        return load_private_key(key_path)
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    tmp = key_path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    with open(os.path.join(pki_dir, SA_PUB), "wb") as f:
        f.write(pub)
    os.replace(tmp, key_path)
    _LOADED_KEYS[_file_identity(key_path)] = key
    return key


def key_id(public_key: Any) -> str:
    """
    kube's C{keyIDFromPublicKey}: unpadded base64url of the SHA-256 of the PKIX DER public key.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def _algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    raise ValueError("service account signing keys must be RSA or ECDSA")


@attr.s(auto_attribs=True, frozen=True)
class IssuedToken:
    """
    A signed token and when it expires (seconds since the epoch).
    """

    token: str
    expiration: float


@attr.s(auto_attribs=True)
class TokenIssuer:
    """
    Signs service account JWTs.

    @ivar key: the private signing key (RSA or ECDSA).
    @ivar issuer: the C{iss} claim (C{--service-account-issuer}).
    @ivar audiences: the audiences a request without any gets (C{--api-audiences}, default the
        issuer).
    @ivar now: seconds since the epoch.
    @ivar max_expiration: the longest validity a TokenRequest gets, in seconds
        (C{--service-account-max-token-expiration}; 0: no limit).
    """

    key: Any
    issuer: str = DEFAULT_ISSUER
    audiences: Sequence[str] = ()
    now: Callable[[], float] = attr.ib(default=None)
    max_expiration: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.audiences:
            self.audiences = (self.issuer,)
        if self.now is None:
            import time

            self.now = time.time

    @property
    def key_id(self) -> str:
        """
        The C{kid} of the tokens.
        """
        return key_id(self.key.public_key())

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        audiences: Sequence[str],
        expiration_seconds: int,
        bound_object: Optional[dict] = None,
        now: Optional[float] = None,
        node: Optional[dict] = None,
    ) -> IssuedToken:
        """
        A token for service account C{namespace/name} (C{uid}) valid for C{expiration_seconds}
        from C{now}; C{bound_object} (C{{"kind", "name", "uid"}} of a Pod, Secret or Node) and
        C{node} (C{{"name", "uid"}}: the node a bound Pod runs on) go in the C{kubernetes.io}
        claim as kube puts them.
        """
        t = int(self.now() if now is None else now)
        exp = t + int(expiration_seconds)
        private: dict[str, Any] = {"namespace": namespace}
        if node:
            private["node"] = {"name": node.get("name", ""), "uid": node.get("uid", "")}
        if bound_object:
            kind = str(bound_object.get("kind", "")).lower()
            if kind in ("pod", "secret", "node"):
                private[kind] = {"name": bound_object.get("name", ""), "uid": bound_object.get("uid", "")}
        private["serviceaccount"] = {"name": name, "uid": uid}
        claims = {
            "aud": list(audiences or self.audiences),
            "exp": exp,
            "iat": t,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": t,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        token = jwt.encode(claims, self.key, algorithm=_algorithm(self.key), headers={"kid": self.key_id, "typ": None})
        return IssuedToken(token, float(exp))

    def issue_legacy(self, namespace: str, name: str, uid: str, secret_name: str) -> str:
        """
        A legacy token for a C{kubernetes.io/service-account-token} Secret (kube's
        C{LegacyClaims}): issuer L{LEGACY_ISSUER}, no audience, no expiry.
        """
        claims = {
            "iss": LEGACY_ISSUER,
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        return jwt.encode(claims, self.key, algorithm=_algorithm(self.key), headers={"kid": self.key_id, "typ": None})

    def verify(self, token: str, audience: Optional[str] = None) -> dict:
        """
        The claims of a token this issuer signed: signature, issuer, audience (C{audience}, or any
        of this issuer's) and times checked against L{now}; raises C{jwt.InvalidTokenError}
        otherwise.
        """
        claims = jwt.decode(
            token,
            self.key.public_key(),
            algorithms=[_algorithm(self.key)],
            issuer=self.issuer,
            audience=audience or list(self.audiences),
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
        )
        t = self.now()
        if t >= claims["exp"]:
            raise jwt.ExpiredSignatureError("Signature has expired")
        if t < claims["nbf"]:
            raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
        return claims


def issuer_from_config(config: Any, pki_dir: Optional[str] = None, now: Optional[Callable[[], float]] = None) -> TokenIssuer:
    """
    The server's issuer: the key from C{--service-account-signing-key-file}, else the one kapid
    keeps in C{pki_dir} (default C{--cert-dir}); C{--service-account-issuer} (default
    L{DEFAULT_ISSUER}); C{--api-audiences} (default the issuer).
    """
    authn = getattr(config, "authentication", None)
    path = getattr(authn, "service_account_signing_key_file", None)
    if path:
        key = load_private_key(path)
    else:
        if pki_dir is None:
            pki_dir = config.secure_serving.cert_dir
        key = ensure_signing_key(pki_dir)
    issuer = getattr(authn, "service_account_issuer", "") or DEFAULT_ISSUER
    audiences = tuple(getattr(authn, "api_audiences", ()) or ())
    limit = int(getattr(authn, "service_account_max_token_expiration", 0) or 0)
    return TokenIssuer(key, issuer, audiences, now, limit)
