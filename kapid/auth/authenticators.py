"""
Authenticators: x509 client certificates, static token file, anonymous, and their union.
"""

from __future__ import annotations

import csv
import hmac
from typing import Any, Optional, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID
from twisted.internet.defer import Deferred, maybeDeferred
from zope.interface import implementer

from kapid.auth.interfaces import (
    ANONYMOUS_USER,
    UNAUTHENTICATED_GROUP,
    AuthenticationError,
    IAuthenticator,
    UserInfo,
)


def peer_certificate(request: Any) -> Optional[x509.Certificate]:
    """
    The verified client certificate of C{request}'s TLS connection, or None (plain HTTP or no
    certificate). Verification against the client CA happened in the TLS handshake.
    """
    transport = getattr(getattr(request, "channel", None), "transport", None)
    get = getattr(transport, "getPeerCertificate", None)
    if get is None:
        return None
    try:
        cert = get()
    except Exception:
        return None
    if cert is None:
        return None
    return cert.to_cryptography()


@implementer(IAuthenticator)
class X509Authenticator:
    """
    Kube's x509 authenticator: the client certificate's CommonName is the user, its Organizations
    are the groups. The certificate has been verified against C{--client-ca-file} by the TLS layer
    (kapid asks for, but does not require, a client certificate).
    """

    def authenticate(self, request: Any) -> Optional[UserInfo]:
        """
        The user of the request's client certificate, or None without one.
        """
        cert = peer_certificate(request)
        if cert is None:
            return None
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names:
            raise AuthenticationError("x509: certificate has no common name")
        groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return UserInfo(name=str(names[0].value), groups=groups)


def bearer_token(request: Any) -> Optional[str]:
    """
    The token of an C{Authorization: Bearer <token>} header, or None.
    """
    header = request.getHeader(b"authorization")
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@implementer(IAuthenticator)
class TokenFileAuthenticator:
    """
    Kube's static token file (C{--token-auth-file}): CSV lines C{token,user,uid[,"group1,group2"]}.
    """

    def __init__(self, tokens: dict[str, UserInfo]) -> None:
        self.tokens = tokens

    @classmethod
    def from_file(cls, path: str) -> "TokenFileAuthenticator":
        """
        Read the token file at C{path}; raise L{ValueError} for a malformed line.
        """
        tokens: dict[str, UserInfo] = {}
        with open(path, newline="") as f:
            for number, row in enumerate(csv.reader(f), 1):
                if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
                    continue
                if len(row) < 3:
                    raise ValueError(f"token file {path}, line {number}: want token,user,uid[,groups]")
                groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
                tokens[row[0].strip()] = UserInfo(name=row[1].strip(), uid=row[2].strip(), groups=groups)
        return cls(tokens)

    def authenticate(self, request: Any) -> Optional[UserInfo]:
        """
        The user of the request's bearer token, or None when the token is not in the file.
        """
        token = bearer_token(request)
        if token is None:
            return None
        return self.authenticate_token(token)

    def authenticate_token(self, token: str) -> Optional[UserInfo]:
        """
        The user of C{token}, or None when it is not in the file.
        """
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


@implementer(IAuthenticator)
class AnonymousAuthenticator:
    """
    Every request is C{system:anonymous} in C{system:unauthenticated} (the last authenticator when
    C{--anonymous-auth=true}).

    @cvar fallback: L{UnionAuthenticator} asks it only when no credentials failed (kube puts it
        behind C{union.NewFailOnError}).
    """

    fallback = True

    def authenticate(self, request: Any) -> UserInfo:
        """
        The anonymous user.
        """
        return UserInfo(name=ANONYMOUS_USER, groups=(UNAUTHENTICATED_GROUP,))


@implementer(IAuthenticator)
class UnionAuthenticator:
    """
    Kube's union authenticator: the first authenticator that knows the user wins; errors are
    remembered and raised only when no authenticator knows the user, and before a fallback
    authenticator (anonymous) would be asked.
    """

    def __init__(self, authenticators: Sequence[Any]) -> None:
        self.authenticators = list(authenticators)

    def authenticate(self, request: Any) -> Any:
        """
        The user, or None when no authenticator knows it (a Deferred when an authenticator answers
        asynchronously); raises (errbacks with) L{AuthenticationError} when credentials were
        presented and all were invalid.
        """
        errors: list[Exception] = []
        for index, authenticator in enumerate(self.authenticators):
            if errors and getattr(authenticator, "fallback", False):
                raise errors[0]
            try:
                user = authenticator.authenticate(request)
            except AuthenticationError as e:
                errors.append(e)
                continue
            if isinstance(user, Deferred):
                return Deferred.fromCoroutine(self._rest(request, user, index, errors))
            if user is not None:
                return user
        if errors:
            raise errors[0]
        return None

    async def _rest(self, request: Any, pending: Deferred, index: int, errors: list[Exception]) -> Optional[UserInfo]:
        try:
            user = await pending
        except AuthenticationError as e:
            errors.append(e)
            user = None
        if user is not None:
            return user
        for authenticator in self.authenticators[index + 1:]:
            if errors and getattr(authenticator, "fallback", False):
                raise errors[0]
            try:
                user = await maybeDeferred(authenticator.authenticate, request)
            except AuthenticationError as e:
                errors.append(e)
                continue
            if user is not None:
                return user
        if errors:
            raise errors[0]
        return None
