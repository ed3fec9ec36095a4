"""
Tests of L{kapid.auth.serviceaccount} and L{kapid.auth.oidc}: service account tokens authenticated
(signature, issuer, audience, expiry, bound objects), bearer tokens nobody knows refused, and the
issuer discovery documents verifying kapid's tokens.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource

from kapid.auth.authenticators import AnonymousAuthenticator, TokenFileAuthenticator, UnionAuthenticator
from kapid.auth.interfaces import AuthenticationError, UserInfo
from kapid.auth.oidc import IssuerDiscoveryLink
from kapid.auth.serviceaccount import (
    BearerTokenAuthenticator,
    ServiceAccountTokenAuthenticator,
    load_public_keys,
)
from kapid.auth.tokens import TokenIssuer
from tests.auth.test_auth import FakeRequest

ISSUER = "https://kubernetes.default.svc.cluster.local"


def _key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _key()


class Objects:
    """
    A lookup over a dict of stored objects, counting lookups.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.lookups = 0

    def add(self, plural: str, namespace: str, name: str, uid: str) -> None:
        self.objects[(plural, namespace, name)] = {"metadata": {"name": name, "namespace": namespace, "uid": uid}}

    def __call__(self, plural: str, namespace: str, name: str) -> Deferred:
        self.lookups += 1
        return succeed(self.objects.get((plural, namespace, name)))


def result(value: Any) -> Any:
    out: list[Any] = []
    if isinstance(value, Deferred):
        value.addBoth(out.append)
        return out[0]
    return value


class ServiceAccountTokenTests(SynchronousTestCase):
    """
    kapid's JWTs authenticate their service account while valid.
    """

    def setUp(self) -> None:
        self.now = 1_000_000.0
        self.issuer = TokenIssuer(KEY, ISSUER, (), lambda: self.now)
        self.objects = Objects()
        self.objects.add("serviceaccounts", "team", "bot", "sa-uid")
        self.objects.add("pods", "team", "web", "pod-uid")
        self.authn = ServiceAccountTokenAuthenticator(
            [KEY.public_key()], [ISSUER], [ISSUER], self.objects, lambda: self.now
        )

    def token(self, **kw: Any) -> str:
        args: dict[str, Any] = dict(namespace="team", name="bot", uid="sa-uid", audiences=[ISSUER], expiration_seconds=3600)
        args.update(kw)
        return self.issuer.issue(**args).token

    def authenticate(self, token: str) -> Any:
        try:
            return result(self.authn.authenticate_token(token))
        except AuthenticationError as e:
            return e

    def test_bound_token(self) -> None:
        """
        A token bound to a Pod is the service account (kube's groups), until the Pod goes.
        """
        token = self.token(bound_object={"kind": "Pod", "name": "web", "uid": "pod-uid"})
        user = self.authenticate(token)
        self.assertIsInstance(user, UserInfo)
        self.assertEqual(user.name, "system:serviceaccount:team:bot")
        self.assertEqual(user.uid, "sa-uid")
        self.assertEqual(
            user.groups, ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
        )
        self.assertEqual(user.extra["authentication.kubernetes.io/pod-name"], ("web",))
        del self.objects.objects[("pods", "team", "web")]
        self.assertIsInstance(self.authenticate(token).value, AuthenticationError)

    def test_recreated_account(self) -> None:
        """
        A token of an account deleted and created again (another uid) is refused.
        """
        token = self.token()
        self.objects.add("serviceaccounts", "team", "bot", "new-uid")
        self.assertIsInstance(self.authenticate(token).value, AuthenticationError)

    def test_refused(self) -> None:
        """
        Wrong audience, expired, or signed by another key: an error (401); a token of another
        issuer or no JWT at all is not ours (None).
        """
        self.assertIsInstance(self.authenticate(self.token(audiences=["other"])), AuthenticationError)
        expired = self.token(expiration_seconds=600)
        self.now += 601
        self.assertIsInstance(self.authenticate(expired), AuthenticationError)
        forged = TokenIssuer(_key(), ISSUER, (), lambda: self.now).issue("team", "bot", "sa-uid", [ISSUER], 3600).token
        self.assertIsInstance(self.authenticate(forged), AuthenticationError)
        other = TokenIssuer(KEY, "https://elsewhere", (), lambda: self.now).issue("team", "bot", "sa-uid", [ISSUER], 3600).token
        self.assertIsNone(self.authenticate(other))
        self.assertIsNone(self.authenticate("not-a-jwt"))

    def test_verification_cached(self) -> None:
        """
        A token's signature is checked once; its expiry and bound objects on every use.
        """
        token = self.token(expiration_seconds=600)
        calls: list[str] = []
        verify = self.authn._verify

        def counting(t: str) -> Optional[dict]:
            calls.append(t)
            return verify(t)

        self.authn._verify = counting  # type: ignore[method-assign]
        for _ in range(3):
            self.assertIsInstance(self.authenticate(token), UserInfo)
        self.assertEqual((len(calls), self.objects.lookups), (1, 3))
        self.now += 700
        self.assertIsInstance(self.authenticate(token), AuthenticationError)

    def test_key_files(self) -> None:
        """
        C{--service-account-key-file} PEM files give public keys from private or public blocks.
        """
        path = self.mktemp()
        ec_key = ec.generate_private_key(ec.SECP256R1())
        with open(path, "wb") as f:
            f.write(KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            f.write(ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        keys = load_public_keys(path)
        self.assertEqual(len(keys), 2)
        self.assertEqual(keys[0].public_numbers(), KEY.public_key().public_numbers())
        self.assertEqual(keys[1].public_numbers(), ec_key.public_key().public_numbers())


class BearerTokenTests(SynchronousTestCase):
    """
    A bearer token nobody accepts is a 401, not anonymous.
    """

    def test_unknown_token_is_not_anonymous(self) -> None:
        """
        With anonymous requests allowed, a request without credentials is anonymous, but one with
        an unknown token fails; a known one wins.
        """
        tokens = BearerTokenAuthenticator([TokenFileAuthenticator({"secret": UserInfo("alice")})])
        union = UnionAuthenticator([tokens, AnonymousAuthenticator()])
        self.assertEqual(result(union.authenticate(FakeRequest())).name, "system:anonymous")
        self.assertEqual(result(union.authenticate(FakeRequest(headers={b"authorization": b"Bearer secret"}))).name, "alice")
        failure = result(union.authenticate(FakeRequest(headers={b"authorization": b"Bearer wrong"})))
        self.assertEqual(str(failure.value), "invalid bearer token")


class DiscoveryTests(SynchronousTestCase):
    """
    The issuer discovery documents.
    """

    def get(self, link: IssuerDiscoveryLink, path: str) -> tuple[Any, dict]:
        stub = StubTreq(link.resource())
        out: list[Any] = []
        d = stub.get("https://kapid.example" + path)
        d.addCallback(lambda r: r.content().addCallback(lambda body: (r, json.loads(body))))
        d.addBoth(out.append)
        stub.flush()
        return out[0]

    def test_documents_verify_tokens(self) -> None:
        """
        The configuration names the issuer and the key set; a token verifies with the key set alone.
        """
        link = IssuerDiscoveryLink(Resource(), ISSUER, [KEY.public_key()], lambda: "10.0.0.1:6443")
        response, config = self.get(link, "/.well-known/openid-configuration")
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/json"])
        self.assertEqual(response.headers.getRawHeaders("cache-control"), ["public, max-age=3600"])
        self.assertEqual(config, {
            "issuer": ISSUER,
            "jwks_uri": "https://10.0.0.1:6443/openid/v1/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
        response, jwks = self.get(link, "/openid/v1/jwks")
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/jwk-set+json"])
        self.assertEqual(list(jwks["keys"][0])[:4], ["use", "kty", "kid", "alg"])
        token = TokenIssuer(KEY, ISSUER).issue("team", "bot", "uid", [ISSUER], 3600).token
        key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=ISSUER, issuer=ISSUER)
        self.assertEqual(claims["sub"], "system:serviceaccount:team:bot")


class BootstrapTokenTests(SynchronousTestCase):
    """
    Bootstrap tokens from kube-system Secrets.
    """

    def secret(self, **data: str) -> dict:
        import base64

        fields = {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true"}
        fields.update(data)
        return {"type": "bootstrap.kubernetes.io/token", "metadata": {"name": "bootstrap-token-abcdef"},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in fields.items()}}

    def authenticate(self, secret: Optional[dict], token: str = "abcdef.0123456789abcdef", now: float = 0.0) -> Any:
        from kapid.auth.bootstraptoken import BootstrapTokenAuthenticator

        authn = BootstrapTokenAuthenticator(lambda *a: succeed(secret), lambda: now)
        return result(authn.authenticate_token(token))

    def test_bootstrap_tokens(self) -> None:
        """
        A valid token is system:bootstrap:<id> in system:bootstrappers and its extra groups; a wrong
        secret, an expired or non-authenticating Secret, a bad extra group or no Secret is no user; a
        token of another shape is not a bootstrap token.
        """
        user = self.authenticate(self.secret(**{"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}))
        self.assertEqual((user.name, user.groups), (
            "system:bootstrap:abcdef", ("system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token")))
        self.assertIsNone(self.authenticate(self.secret(), token="abcdef.0123456789abcdee"))
        self.assertIsNone(self.authenticate(self.secret(expiration="2020-01-01T00:00:00Z"), now=1.7e9))
        self.assertIsNotNone(self.authenticate(self.secret(expiration="2030-01-01T00:00:00Z"), now=1.7e9))
        self.assertIsNone(self.authenticate(self.secret(**{"usage-bootstrap-authentication": "false"})))
        self.assertIsNone(self.authenticate(self.secret(**{"auth-extra-groups": "system:masters"})))
        self.assertIsNone(self.authenticate(None))
        self.assertIsNone(self.authenticate(self.secret(), token="not-a-bootstrap-token"))


class MaxExpirationTests(TestCase):
    """
    C{--service-account-max-token-expiration}.
    """

    async def test_clamped(self) -> None:
        """
        A TokenRequest for longer than the maximum gets a token valid for the maximum; the flag
        must lie between an hour and 2^32 seconds.
        """
        import types

        from twisted.internet.task import Clock
        from twisted.web.resource import Resource

        from kapid.endpoints.link import ResourceLink
        from kapid.options.config import config_from_args
        from kapid.registry.builtin import builtin_registry
        from kapid.registry.builtin.core_cluster import service_accounts_with_issuer
        from kapid.storage.memory import MemoryKV
        from kapid.storage.store import Store

        clock = Clock()
        clock.advance(1_700_000_000)
        registry = builtin_registry()
        issuer = TokenIssuer(KEY, ISSUER, (), clock.seconds, max_expiration=7200)
        registry.add(service_accounts_with_issuer(issuer))
        link = ResourceLink(Resource(), registry, Store(MemoryKV(clock), clock), clock)
        await link.ensure_system_namespaces()
        store = link.store_for(registry.lookup("", "v1", "serviceaccounts"))
        await store.create("default", {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "b"}}, "v1")
        target = types.SimpleNamespace(namespace="default", name="b", version="v1", subresource="token")
        out = await store.strategy.compute_subresource_create(
            "token", store, target, {"kind": "TokenRequest", "spec": {"expirationSeconds": 86400}}, None)
        self.assertEqual(out["spec"]["expirationSeconds"], 7200)
        claims = jwt.decode(out["status"]["token"], options={"verify_signature": False})
        self.assertEqual(claims["exp"] - claims["iat"], 7200)
        config = config_from_args(service_account_max_token_expiration="24h", storage_backend="memory")
        self.assertEqual(config.authentication.service_account_max_token_expiration, 86400)
        with self.assertRaises(Exception) as raised:
            config_from_args(service_account_max_token_expiration="10m", storage_backend="memory")
        self.assertIn("between 1 hour and 2^32 seconds", str(raised.exception))
