"""
Tests for L{kapid.endpoints.link.daemon_resource_link_factory} and what it installs: Service
allocation, the C{serviceaccounts/token} issuer, the computed reviews and the watch cache's
resource prefixes.
"""

import os
import types

import jwt
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from kapid.auth.interfaces import UserInfo
from kapid.auth.tokens import SA_KEY
from kapid.endpoints.link import ResourceLink, daemon_resource_link_factory, register_cache_prefixes
from kapid.options.config import config_from_args
from kapid.registry.allocator import ServiceAllocator
from kapid.registry.builtin import builtin_registry
from kapid.registry.description import Resource, Version
from kapid.server.link import NotFoundResource
from kapid.storage.cacher import CachingStorage
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


def _service(testcase, clock, **flags):
    data = os.path.abspath(testcase.mktemp())
    config = config_from_args(storage_backend="memory", data_dir=data, **flags)
    return types.SimpleNamespace(config=config, reactor=clock, kv=MemoryKV(clock))


class FactoryTests(SynchronousTestCase):
    """
    The factory the daemon's chain calls.
    """

    def test_builds_link_over_service_kv(self) -> None:
        """
        The factory wraps the service's KV in the Store behind the watch cache, serves the
        built-in resources plus the daemon's (reviews, token issuer, Service allocation) and keeps
        the link on the service.
        """
        clock = Clock()
        service = _service(self, clock)
        link = daemon_resource_link_factory(service)(NotFoundResource())
        self.assertIsInstance(link, ResourceLink)
        self.assertIs(service.resource_link, link)
        reg = link.registry
        self.assertIsNotNone(reg.lookup("apps", "v1", "deployments"))
        self.assertIsInstance(link.storage, CachingStorage)
        self.assertEqual([name for name, _ in link.post_start_hooks()], ["kapid-system-namespaces"])
        self.assertIsNotNone(reg.lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews"))
        self.assertIsNotNone(reg.lookup("authentication.k8s.io", "v1", "selfsubjectreviews"))
        self.assertIsInstance(reg.lookup("", "v1", "services").strategy.allocator, ServiceAllocator)
        self.assertTrue(hasattr(reg.lookup("", "v1", "serviceaccounts").strategy, "compute_subresource_create"))
        # the signing key is kept next to the CA
        self.assertTrue(os.path.exists(os.path.join(service.config.secure_serving.cert_dir, SA_KEY)))

    def test_watch_cache_sizes(self) -> None:
        """
        --watch-cache-sizes reaches the watch cache by resource key prefix (0: not cached).
        """
        clock = Clock()
        service = _service(self, clock, watch_cache_sizes="pods#0,deployments.apps#5,nosuch#3")
        storage = daemon_resource_link_factory(service)(NotFoundResource()).storage
        self.assertEqual(storage.size_for("/registry/deployments/"), 5)
        self.assertIsNone(storage.resource_prefix("/registry/pods/default/p"))
        self.assertEqual(storage.resource_prefix("/registry/configmaps/default/c"), "/registry/configmaps/")

    def test_watch_cache_off(self) -> None:
        """
        --watch-cache=false serves straight from the Store.
        """
        clock = Clock()
        service = _service(self, clock, watch_cache="false")
        storage = daemon_resource_link_factory(service)(NotFoundResource()).storage
        self.assertIsInstance(storage, Store)

    def test_cache_prefixes_registered(self) -> None:
        """
        Every stored resource's key prefix is registered with the watch cache, also for
        resources added later; computed resources are not.
        """
        clock = Clock()
        cache = CachingStorage(Store(MemoryKV(clock), clock), clock, 10, "/registry")
        reg = builtin_registry()
        register_cache_prefixes(cache, reg, "/registry")
        self.assertIn("/registry/services/specs/", cache._registered)
        self.assertIn("/registry/deployments/", cache._registered)
        reg.add(Resource(group="example.com", kind="Widget", plural="widgets", singular="widget",
                         versions=(Version("v1", storage=True),), storage_path="odd/place"))
        self.assertIn("/registry/odd/place/", cache._registered)
        self.assertEqual(cache.resource_prefix("/registry/odd/place/ns/w"), "/registry/odd/place/")

    def test_no_cache_no_prefixes(self) -> None:
        """
        Storage without a watch cache is left alone.
        """
        clock = Clock()
        register_cache_prefixes(Store(MemoryKV(clock), clock), builtin_registry(), "/registry")


class ComputedTests(TestCase):
    """
    The computed resources the factory installs answer with the configured authorizer and issuer.
    """

    def _link(self, **flags):
        clock = Clock()
        clock.advance(1_800_000_000)
        service = _service(self, clock, **flags)
        link = daemon_resource_link_factory(service)(NotFoundResource())
        return link, clock

    async def test_access_review_asks_configured_authorizer(self) -> None:
        """
        With AlwaysDeny a plain user is denied and a system:masters one allowed.
        """
        link, _ = self._link(authorization_mode="AlwaysDeny")
        ssar = link.registry.lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews").strategy
        review = {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default"}}}
        out = await ssar.compute_create(review, UserInfo("alice", "", ("system:authenticated",)))
        self.assertEqual(out["status"], {"allowed": False, "denied": True, "reason": "Everything is forbidden."})
        out = await ssar.compute_create(review, UserInfo("system:admin", "", ("system:masters",)))
        self.assertTrue(out["status"]["allowed"])

    async def test_self_review_names_user(self) -> None:
        """
        selfsubjectreviews answers the caller with the server clock's time.
        """
        link, _ = self._link()
        ssr = link.registry.lookup("authentication.k8s.io", "v1", "selfsubjectreviews").strategy
        out = await ssr.compute_create({}, UserInfo("bob", "", ("g",)))
        self.assertEqual(out["status"]["userInfo"]["username"], "bob")
        self.assertEqual(out["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z")

    async def test_token_issuer_from_flags(self) -> None:
        """
        --service-account-issuer and --api-audiences reach the tokens; the key is reused by a
        second server over the same data dir.
        """
        link, _ = self._link(service_account_issuer="https://issuer.example", api_audiences="a1,a2")
        issuer = link.registry.lookup("", "v1", "serviceaccounts").strategy.issuer
        self.assertEqual(issuer.issuer, "https://issuer.example")
        self.assertEqual(list(issuer.audiences), ["a1", "a2"])
        token = issuer.issue("ns", "sa", "uid-1", [], 3600).token
        claims = jwt.decode(token, options={"verify_signature": False})
        self.assertEqual((claims["iss"], claims["aud"]), ("https://issuer.example", ["a1", "a2"]))
