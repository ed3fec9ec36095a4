"""
Tests of L{kapid.auth.legacytokens} and legacy token authentication: token Secrets filled and
cleaned up over a ResourceLink's stores on the memory KV, and their tokens accepted while the
Secret and its account exist.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from kapid.auth.interfaces import AuthenticationError, UserInfo
from kapid.auth.legacytokens import TokensController
from kapid.auth.serviceaccount import ServiceAccountTokenAuthenticator
from kapid.auth.tokens import TokenIssuer
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store

ISSUER = "https://kubernetes.default.svc.cluster.local"


class LegacyTokenTests(TestCase):
    """
    The tokens controller and the legacy token authenticator together.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.clock = Clock()
        storage = Store(MemoryKV(self.clock), self.clock)
        registry = builtin_registry()
        self.link = ResourceLink(Resource(), registry, storage, self.clock)
        await self.link.ensure_system_namespaces()
        self.secrets = self.link.store_for(registry.lookup("", "v1", "secrets"))
        self.accounts = self.link.store_for(registry.lookup("", "v1", "serviceaccounts"))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.issuer = TokenIssuer(key, ISSUER, (), self.clock.seconds)
        self.controller = TokensController(self.secrets, self.accounts, self.issuer, b"CA PEM", self.clock)
        self.addCleanup(self.controller.stop)

        async def lookup(plural: str, namespace: str, name: str) -> Any:
            store = self.secrets if plural == "secrets" else self.accounts
            return await storage.get(store.key(namespace, name), "", True)

        self.authn = ServiceAccountTokenAuthenticator(
            [key.public_key()], [ISSUER], [ISSUER], lambda *a: Deferred.fromCoroutine(lookup(*a)), self.clock.seconds
        )

    async def settle(self) -> None:
        for _ in range(5):
            self.clock.advance(0)
            if self.controller._working is not None:
                await self.controller._working

    async def authenticate(self, token: str) -> Any:
        try:
            return await self.authn.authenticate_token(token)
        except AuthenticationError as e:
            return e

    async def test_filled_authenticated_revoked(self) -> None:
        """
        A token Secret is filled; its token is the account while the Secret exists; a Secret for a
        missing account is deleted; deleting the account deletes its Secrets.
        """
        account = await self.accounts.create("default", {"kind": "ServiceAccount", "apiVersion": "v1",
                                                          "metadata": {"name": "builder"}}, "v1")
        await self.controller.start()
        secret = {"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/service-account-token",
                  "metadata": {"name": "builder-token", "annotations": {"kubernetes.io/service-account.name": "builder"}}}
        await self.secrets.create("default", secret, "v1")
        await self.settle()
        stored = await self.secrets.get("default", "builder-token", "v1")
        self.assertEqual(stored["metadata"]["annotations"]["kubernetes.io/service-account.uid"],
                         account["metadata"]["uid"])
        self.assertEqual(base64.b64decode(stored["data"]["namespace"]), b"default")
        self.assertEqual(base64.b64decode(stored["data"]["ca.crt"]), b"CA PEM")
        token = base64.b64decode(stored["data"]["token"]).decode()
        user = await self.authenticate(token)
        self.assertIsInstance(user, UserInfo)
        self.assertEqual((user.name, user.uid), ("system:serviceaccount:default:builder", account["metadata"]["uid"]))

        orphan = dict(secret, metadata={"name": "orphan", "annotations": {"kubernetes.io/service-account.name": "nobody"}})
        await self.secrets.create("default", orphan, "v1")
        await self.settle()
        self.assertIsNone(await self.secrets.storage.get(self.secrets.key("default", "orphan"), "", True))

        await self.accounts.storage.delete(self.accounts.key("default", "builder"))
        await self.settle()
        self.assertIsNone(await self.secrets.storage.get(self.secrets.key("default", "builder-token"), "", True))
        self.assertIsInstance(await self.authenticate(token), AuthenticationError)
