"""
Tests for service account tokens: L{kapid.auth.tokens} (key kept on disk, claims, signature) and the
C{serviceaccounts/token} subresource of L{kapid.registry.builtin.core_cluster.ServiceAccountStrategy}
over a Store on the memory KV.
"""

from __future__ import annotations

import os
import types

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource

from kapid.apimachinery.status import StatusError
from kapid.auth.tokens import DEFAULT_ISSUER, SA_KEY, SA_PUB, TokenIssuer, ensure_signing_key, key_id, load_private_key
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.registry.builtin.core_cluster import service_accounts_with_issuer
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store

NOW = 1_800_000_000


class KeyTests(SynchronousTestCase):
    """
    The signing key pair kept in the pki directory.
    """

    def test_generated_once_and_reused(self) -> None:
        """
        The first call writes sa.key (mode 0600) and sa.pub; later calls load the same key.
        """
        pki = self.mktemp()
        key = ensure_signing_key(pki)
        self.assertEqual(os.stat(os.path.join(pki, SA_KEY)).st_mode & 0o777, 0o600)
        self.assertTrue(os.path.exists(os.path.join(pki, SA_PUB)))
        again = ensure_signing_key(pki)
        self.assertEqual(key_id(key.public_key()), key_id(again.public_key()))

    def test_loaded_once_read_again_when_changed(self) -> None:
        """
        The parts of the server that load the same key file share one parsed key; a key file
        replaced with another key is read again.
        """
        pki = self.mktemp()
        key = ensure_signing_key(pki)
        path = os.path.join(pki, SA_KEY)
        self.assertIs(load_private_key(path), key)
        self.assertIs(ensure_signing_key(pki), key)
        other = ec.generate_private_key(ec.SECP256R1())
        with open(path + ".new", "wb") as f:
            f.write(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        os.replace(path + ".new", path)
        self.assertEqual(key_id(load_private_key(path).public_key()), key_id(other.public_key()))

    def test_ecdsa_key_signs_es256(self) -> None:
        """
        An ECDSA P-256 key signs ES256 tokens.
        """
        issuer = TokenIssuer(ec.generate_private_key(ec.SECP256R1()), now=lambda: NOW)
        token = issuer.issue("ns", "sa", "u", [], 600).token
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "ES256")
        self.assertEqual(issuer.verify(token, DEFAULT_ISSUER)["sub"], "system:serviceaccount:ns:sa")


class TokenRequestTests(TestCase):
    """
    POSTs to C{serviceaccounts/<name>/token}, as the endpoints call the strategy.
    """

    async def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        storage = Store(MemoryKV(self.clock), self.clock)
        reg = builtin_registry()
        self.issuer = TokenIssuer(ensure_signing_key(self.mktemp()), now=self.clock.seconds)
        reg.add(service_accounts_with_issuer(self.issuer))
        self.link = ResourceLink(Resource(), reg, storage, self.clock)
        await self.link.ensure_system_namespaces()
        self.store = self.link.store_for(reg.lookup("", "v1", "serviceaccounts"))
        self.sa = await self.store.create(
            "default", {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "builder"}}, "v1"
        )

    def request(self, name: str = "builder", body: dict | None = None, namespace: str = "default"):
        target = types.SimpleNamespace(namespace=namespace, name=name, version="v1", subresource="token")
        if body is None:
            body = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": {}}
        return self.store.strategy.compute_subresource_create("token", self.store, target, body, None)

    async def test_token_and_claims(self) -> None:
        """
        The answer carries a token with kube's claims, expiring after the default hour.
        """
        out = await self.request()
        self.assertEqual(out["kind"], "TokenRequest")
        self.assertEqual(out["metadata"], {"name": "builder", "namespace": "default",
                                           "creationTimestamp": "2027-01-15T08:00:00Z"})
        self.assertEqual(out["spec"]["expirationSeconds"], 3600)
        self.assertEqual(out["spec"]["audiences"], [DEFAULT_ISSUER])
        self.assertEqual(out["status"]["expirationTimestamp"], "2027-01-15T09:00:00Z")
        token = out["status"]["token"]
        header = jwt.get_unverified_header(token)
        self.assertEqual(header, {"alg": "RS256", "kid": self.issuer.key_id})
        claims = self.issuer.verify(token)
        self.assertEqual(claims["sub"], "system:serviceaccount:default:builder")
        self.assertEqual(claims["iss"], DEFAULT_ISSUER)
        self.assertEqual(claims["aud"], [DEFAULT_ISSUER])
        self.assertEqual((claims["iat"], claims["nbf"], claims["exp"]), (NOW, NOW, NOW + 3600))
        self.assertEqual(
            claims["kubernetes.io"],
            {"namespace": "default", "serviceaccount": {"name": "builder", "uid": self.sa["metadata"]["uid"]}},
        )

    async def test_audiences_and_expiration_from_spec(self) -> None:
        """
        spec.audiences and spec.expirationSeconds are honoured.
        """
        out = await self.request(body={"spec": {"audiences": ["vault"], "expirationSeconds": 7200}})
        claims = jwt.decode(out["status"]["token"], options={"verify_signature": False})
        self.assertEqual((claims["aud"], claims["exp"] - claims["iat"]), (["vault"], 7200))

    async def test_short_expiration_is_422(self) -> None:
        """
        Less than ten minutes is kube's 422 on spec.expirationSeconds.
        """
        with self.assertRaises(StatusError) as cm:
            await self.request(body={"spec": {"expirationSeconds": 100}})
        self.assertEqual(cm.exception.code, 422)
        self.assertEqual(
            cm.exception.message,
            'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 100: '
            "may not specify a duration less than 10 minutes",
        )

    async def test_missing_account_is_404(self) -> None:
        """
        A service account that does not exist is kube's 404.
        """
        with self.assertRaises(StatusError) as cm:
            await self.request("nosuch")
        self.assertEqual(cm.exception.code, 404)
        self.assertEqual(cm.exception.message, 'serviceaccounts "nosuch" not found')

    async def test_name_in_body_must_match(self) -> None:
        """
        A metadata.name other than the URL's is 422.
        """
        with self.assertRaises(StatusError) as cm:
            await self.request(body={"metadata": {"name": "other"}, "spec": {}})
        self.assertEqual(cm.exception.code, 422)
        self.assertIn("must match the service account name if specified", cm.exception.message)

    async def test_bound_to_secret(self) -> None:
        """
        A token bound to a Secret names it in the kubernetes.io claim; a wrong uid is 409.
        """
        secrets = self.link.store_for(self.link.registry.lookup("", "v1", "secrets"))
        secret = await secrets.create(
            "default", {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "type": "Opaque"}, "v1"
        )
        ref = {"kind": "Secret", "apiVersion": "v1", "name": "s"}
        out = await self.request(body={"spec": {"boundObjectRef": ref}})
        claims = jwt.decode(out["status"]["token"], options={"verify_signature": False})
        self.assertEqual(claims["kubernetes.io"]["secret"], {"name": "s", "uid": secret["metadata"]["uid"]})
        with self.assertRaises(StatusError) as cm:
            await self.request(body={"spec": {"boundObjectRef": dict(ref, uid="wrong")}})
        self.assertEqual(cm.exception.code, 409)


    async def pod(self, name: str, sa: str, node: str = "") -> dict:
        pods = self.link.store_for(self.link.registry.lookup("", "v1", "pods"))
        spec = {"serviceAccountName": sa, "containers": [{"name": "c", "image": "busybox"}]}
        if node:
            spec["nodeName"] = node
        obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name}, "spec": spec}
        pods.strategy.default("v1", obj)
        return await pods.create("default", obj, "v1")

    async def test_pod_on_node(self) -> None:
        """
        A token bound to a Pod on an existing node names the pod and the node; a pod of another
        service account is refused.
        """
        nodes = self.link.store_for(self.link.registry.lookup("", "v1", "nodes"))
        node = await nodes.create("", {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}}, "v1")
        pod = await self.pod("p", "builder", "n1")
        out = await self.request(body={"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}})
        claims = jwt.decode(out["status"]["token"], options={"verify_signature": False})["kubernetes.io"]
        self.assertEqual(claims["pod"], {"name": "p", "uid": pod["metadata"]["uid"]})
        self.assertEqual(claims["node"], {"name": "n1", "uid": node["metadata"]["uid"]})
        await self.pod("q", "other")
        with self.assertRaises(StatusError) as cm:
            await self.request(body={"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "q"}}})
        self.assertEqual(cm.exception.code, 400)

class VerifyTests(SynchronousTestCase):
    """
    L{TokenIssuer.verify} checks times on the issuer's clock.
    """

    def test_expired_and_foreign(self) -> None:
        """
        A token past its exp, or signed by another key, is refused.
        """
        clock = Clock()
        clock.advance(NOW)
        issuer = TokenIssuer(ensure_signing_key(self.mktemp()), now=clock.seconds)
        token = issuer.issue("ns", "sa", "u", [], 600).token
        self.assertEqual(issuer.verify(token)["exp"], NOW + 600)
        clock.advance(600)
        self.assertRaises(jwt.ExpiredSignatureError, issuer.verify, token)
        other = TokenIssuer(ensure_signing_key(self.mktemp()), now=lambda: NOW)
        self.assertRaises(jwt.InvalidSignatureError, other.verify, token)

