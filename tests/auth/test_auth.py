"""
Tests of kapid.auth: the authenticators and authorizers.
"""

from __future__ import annotations

from typing import Any

import attr
from OpenSSL import crypto
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers
from zope.interface.verify import verifyObject

from kapid.auth.authenticators import (
    AnonymousAuthenticator,
    TokenFileAuthenticator,
    UnionAuthenticator,
    X509Authenticator,
)
from kapid.auth.authorizers import (
    AlwaysAllow,
    AlwaysDeny,
    PrivilegedGroupAuthorizer,
    UnionAuthorizer,
    build_authorizer,
)
from kapid.auth.interfaces import ALLOW, DENY, NO_OPINION, Attributes, Decision, IAuthenticator, IAuthorizer, UserInfo
from kapid.server import certs


@attr.s(auto_attribs=True)
class FakeTransport:
    """
    A TLS transport with a peer certificate.
    """

    cert: Any

    def getPeerCertificate(self) -> Any:
        return self.cert


@attr.s(auto_attribs=True)
class FakeChannel:
    """
    A channel with a transport.
    """

    transport: Any


class FakeRequest:
    """
    Just what the authenticators read.
    """

    def __init__(self, cert: Any = None, headers: dict[bytes, bytes] = {}) -> None:
        self.channel = FakeChannel(FakeTransport(cert))
        self.requestHeaders = Headers({k: [v] for k, v in headers.items()})

    def getHeader(self, name: bytes) -> Any:
        return self.requestHeaders.getRawHeaders(name, [None])[0]


def result_of(value: Any) -> Any:
    """
    The result of a value or an already-fired Deferred.
    """
    out: list[Any] = []
    maybeDeferred(lambda: value).addBoth(out.append)
    return out[0]


class AuthenticatorTests(SynchronousTestCase):
    """
    Who a request is.
    """

    def test_providers(self) -> None:
        """
        Every authenticator provides IAuthenticator.
        """
        for a in (X509Authenticator(), AnonymousAuthenticator(), TokenFileAuthenticator({}), UnionAuthenticator([])):
            verifyObject(IAuthenticator, a)

    def test_x509(self) -> None:
        """
        The client certificate's CN is the user and its O values the groups.
        """
        cert_dir = self.mktemp()
        ca = certs.ensure_ca(cert_dir)
        admin = certs.ensure_admin_cert(cert_dir, ca)
        request = FakeRequest(crypto.X509.from_cryptography(admin.cert))
        self.assertEqual(X509Authenticator().authenticate(request), UserInfo("system:admin", groups=("system:masters",)))

    def test_x509_without_certificate(self) -> None:
        """
        No certificate: the x509 authenticator does not know the user.
        """
        self.assertIsNone(X509Authenticator().authenticate(FakeRequest()))

    def test_token_file(self) -> None:
        """
        A bearer token from the token file names its user, uid and groups.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('secret,alice,42,"dev,ops"\n')
        authenticator = TokenFileAuthenticator.from_file(path)
        user = authenticator.authenticate(FakeRequest(headers={b"authorization": b"Bearer secret"}))
        self.assertEqual(user, UserInfo("alice", "42", ("dev", "ops")))
        self.assertIsNone(authenticator.authenticate(FakeRequest(headers={b"authorization": b"Bearer wrong"})))

    def test_union_waits_for_asynchronous_authenticator(self) -> None:
        """
        An authenticator that answers later is waited for before falling back to anonymous.
        """

        class Later:
            def authenticate(self, request: Any) -> Deferred:
                return succeed(None)

        union = UnionAuthenticator([Later(), AnonymousAuthenticator()])
        self.assertEqual(result_of(union.authenticate(FakeRequest())).name, "system:anonymous")

    def test_union_falls_back_to_anonymous(self) -> None:
        """
        The first authenticator that knows the user wins; anonymous comes last.
        """
        union = UnionAuthenticator([X509Authenticator(), AnonymousAuthenticator()])
        user = result_of(union.authenticate(FakeRequest()))
        self.assertEqual(user, UserInfo("system:anonymous", groups=("system:unauthenticated",)))


class AuthorizerTests(SynchronousTestCase):
    """
    What a user may do.
    """

    def attrs(self, *groups: str) -> Attributes:
        return Attributes(user=UserInfo("u", groups=groups), verb="get", is_resource_request=False, path="/x")

    def test_providers(self) -> None:
        """
        Every authorizer provides IAuthorizer.
        """
        for a in (AlwaysAllow(), AlwaysDeny(), PrivilegedGroupAuthorizer(), UnionAuthorizer([])):
            verifyObject(IAuthorizer, a)

    def test_modes(self) -> None:
        """
        AlwaysAllow allows; AlwaysDeny denies with kube's reason.
        """
        self.assertEqual(AlwaysAllow().authorize(self.attrs()).decision, ALLOW)
        self.assertEqual(AlwaysDeny().authorize(self.attrs()).reason, "Everything is forbidden.")

    def test_masters_always_allowed(self) -> None:
        """
        system:masters is allowed whatever the modes.
        """
        authorizer = build_authorizer(["AlwaysDeny"])
        self.assertEqual(result_of(authorizer.authorize(self.attrs("system:masters"))).decision, ALLOW)
        self.assertEqual(result_of(authorizer.authorize(self.attrs())).decision, DENY)

    def test_asynchronous_authorizer(self) -> None:
        """
        An authorizer that answers later is waited for; the next one decides after its no-opinion.
        """
        pending: Deferred = Deferred()

        class Later:
            def authorize(self, attributes: Attributes) -> Deferred:
                return pending

        result: list[Any] = []
        maybeDeferred(UnionAuthorizer([Later(), AlwaysDeny()]).authorize, self.attrs()).addCallback(result.append)
        self.assertEqual(result, [])
        pending.callback(Decision(NO_OPINION, "later has no opinion"))
        self.assertEqual(result[0].decision, DENY)

    def test_no_opinion(self) -> None:
        """
        Without an opinion from any authorizer, the union has none.
        """
        self.assertEqual(result_of(UnionAuthorizer([PrivilegedGroupAuthorizer()]).authorize(self.attrs())).decision, NO_OPINION)
