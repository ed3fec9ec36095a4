"""
Tests of L{kapid.auth.jwtauth}: OIDC/JWT tokens verified with keys from a real discovery document
and JWKS served on loopback HTTPS, claim mappings and validation, and the configuration sources.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from kapid.auth.interfaces import AuthenticationError
from kapid.auth.jwtauth import Issuer, JWTAuthenticator, https_fetcher, issuers_from_config_file
from kapid.testing.tls import issue, make_ca, server_options

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Provider(Resource):
    """
    A discovery document and a JWKS; counts fetches.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.base = ""
        self.keys = [KEY]
        self.fetches = 0

    def render_GET(self, request: Any) -> bytes:
        self.fetches += 1
        request.setHeader(b"Content-Type", b"application/json")
        if request.path == b"/.well-known/openid-configuration":
            return json.dumps({"issuer": self.base, "jwks_uri": self.base + "/keys"}).encode()
        keys = []
        for i, key in enumerate(self.keys):
            entry = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            entry.update(kid=f"k{i}", use="sig", alg="RS256")
            keys.append(entry)
        return json.dumps({"keys": keys}).encode()


class JWTAuthenticatorTests(TestCase):
    """
    Tokens of a real (loopback) issuer.
    """

    def setUp(self) -> None:
        ca = make_ca()
        self.provider = Provider()
        port = reactor.listenSSL(0, Site(self.provider), server_options(issue(ca, "oidc", ips=["127.0.0.1"])),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.provider.base = f"https://127.0.0.1:{port.getHost().port}"
        self.ca = ca.cert_pem()
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def authenticator(self, **kw: Any) -> JWTAuthenticator:
        issuer = Issuer(url=self.provider.base, audiences=("kapid",), ca_pem=self.ca, **kw)
        authn = JWTAuthenticator(issuer, https_fetcher(reactor, self.ca), self.clock)
        self.addCleanup(authn.close)
        return authn

    def token(self, key: Any = KEY, kid: str = "k0", **claims: Any) -> str:
        body = {"iss": self.provider.base, "aud": "kapid", "sub": "u-123", "exp": self.clock.seconds() + 600}
        body.update(claims)
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})

    async def test_mapping_and_prefixes(self) -> None:
        """
        The default prefix is the issuer URL; an email claim is not prefixed; groups get their prefix.
        """
        user = await self.authenticator().authenticate_token(self.token())
        self.assertEqual(user.name, f"{self.provider.base}#u-123")
        authn = self.authenticator(username_claim="email", groups_claim="groups", groups_prefix="oidc:",
                                   uid_claim="sub")
        user = await authn.authenticate_token(self.token(email="a@example.com", email_verified=True, groups=["dev", "ops"]))
        self.assertEqual((user.name, user.uid, user.groups), ("a@example.com", "u-123", ("oidc:dev", "oidc:ops")))
        with self.assertRaises(AuthenticationError):
            await authn.authenticate_token(self.token(email="a@example.com", email_verified=False))

    async def test_refused(self) -> None:
        """
        Wrong audience, expired, a required claim missing, forged: refused; another issuer's token
        is not this authenticator's.
        """
        authn = self.authenticator(required_claims=(("tier", "gold"),))
        self.assertEqual((await authn.authenticate_token(self.token(tier="gold"))).name, f"{self.provider.base}#u-123")
        for bad in (self.token(tier="gold", aud="other"), self.token(tier="gold", exp=self.clock.seconds() - 1),
                    self.token(tier="silver"),
                    self.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048), tier="gold")):
            with self.assertRaises(AuthenticationError):
                await authn.authenticate_token(bad)
        self.assertIsNone(authn.authenticate_token(self.token(iss="https://elsewhere")))
        self.assertIsNone(authn.authenticate_token("not a jwt"))

    async def test_key_rotation(self) -> None:
        """
        Keys are fetched once; a token with a new key id fetches them again, at most every 10 s.
        """
        authn = self.authenticator()
        await authn.authenticate_token(self.token())
        self.assertEqual(self.provider.fetches, 2)
        await authn.authenticate_token(self.token())
        self.assertEqual(self.provider.fetches, 2)
        new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.provider.keys = [KEY, new]
        with self.assertRaises(AuthenticationError):
            await authn.authenticate_token(self.token(key=new, kid="k1"))  # within 10 s of the last fetch
        self.clock.advance(11)
        self.assertEqual((await authn.authenticate_token(self.token(key=new, kid="k1"))).name,
                         f"{self.provider.base}#u-123")


class ConfigTests(SynchronousTestCase):
    """
    The AuthenticationConfiguration file.
    """

    def write(self, doc: dict) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        return path

    def test_config_file(self) -> None:
        """
        Issuers with claim mappings and validation rules; CEL expressions compile (L{kapid.cel.authn}),
        and one that does not refuses the file.
        """
        doc = {"apiVersion": "apiserver.config.k8s.io/v1beta1", "kind": "AuthenticationConfiguration", "jwt": [{
            "issuer": {"url": "https://issuer.example", "audiences": ["kapid"]},
            "claimValidationRules": [{"claim": "hd", "requiredValue": "example.com"}],
            "claimMappings": {"username": {"claim": "email", "prefix": ""},
                              "groups": {"claim": "groups", "prefix": "g:"}}}]}
        [issuer] = issuers_from_config_file(self.write(doc))
        self.assertEqual((issuer.url, issuer.audiences, issuer.prefix, issuer.groups_prefix, issuer.required_claims),
                         ("https://issuer.example", ("kapid",), "", "g:", (("hd", "example.com"),)))
        doc["jwt"][0]["claimMappings"]["username"] = {"expression": "claims.email"}
        [issuer] = issuers_from_config_file(self.write(doc))
        self.assertIsNotNone(issuer.expressions)
        doc["jwt"][0]["claimMappings"]["username"] = {"expression": "claims."}
        with self.assertRaises(ValueError) as raised:
            issuers_from_config_file(self.write(doc))
        self.assertIn("claimMappings.username.expression: Invalid value: 'claims.': compilation failed", str(raised.exception))

    def test_cel_mappings_and_rules(self) -> None:
        """
        A user mapped by CEL expressions; a failing claim or user validation rule refuses the token.
        """
        doc = {"apiVersion": "apiserver.config.k8s.io/v1beta1", "kind": "AuthenticationConfiguration", "jwt": [{
            "issuer": {"url": "https://issuer.example", "audiences": ["kapid"]},
            "claimValidationRules": [{"expression": "claims.hd == 'example.com'", "message": "wrong domain"}],
            "claimMappings": {"username": {"expression": "'oidc:' + claims.email"},
                              "groups": {"expression": "claims.roles"},
                              "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"}]},
            "userValidationRules": [{"expression": "!user.username.startsWith('oidc:system:')",
                                     "message": "reserved"}]}]}
        [issuer] = issuers_from_config_file(self.write(doc))
        authn = JWTAuthenticator(issuer, lambda url: None, None)
        claims = {"email": "jane@example.com", "hd": "example.com", "roles": ["dev"], "tenant": "t1"}
        user = authn.user_of(claims)
        self.assertEqual((user.name, user.groups, user.extra),
                         ("oidc:jane@example.com", ("dev",), {"example.com/tenant": ("t1",)}))
        with self.assertRaises(AuthenticationError) as raised:
            authn.user_of(dict(claims, hd="other"))
        self.assertTrue(str(raised.exception).endswith("failed: wrong domain"), str(raised.exception))
        with self.assertRaises(AuthenticationError):
            authn.user_of(dict(claims, email="system:admin"))
