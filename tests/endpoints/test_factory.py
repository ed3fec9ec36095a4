"""
Tests for L{kapid.endpoints.link.daemon_resource_link_factory}.
"""

import types

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kapid.endpoints.link import ResourceLink, daemon_resource_link_factory
from kapid.server.link import NotFoundResource
from kapid.storage.memory import MemoryKV


class FactoryTests(SynchronousTestCase):
    """
    The factory the daemon's chain calls.
    """

    def test_builds_link_over_service_kv(self) -> None:
        """
        The factory wraps the service's KV in the Store (with the watch cache when enabled), serves
        the built-in resources and keeps the link on the service.
        """
        clock = Clock()
        etcd = types.SimpleNamespace(etcd_prefix="/registry", watch_cache=True, default_watch_cache_size=10)
        generic = types.SimpleNamespace(min_request_timeout=1800)
        service = types.SimpleNamespace(
            config=types.SimpleNamespace(etcd=etcd, generic=generic), reactor=clock, kv=MemoryKV(clock)
        )
        link = daemon_resource_link_factory(service)(NotFoundResource())
        self.assertIsInstance(link, ResourceLink)
        self.assertIs(service.resource_link, link)
        self.assertIsNotNone(link.registry.lookup("apps", "v1", "deployments"))
        self.assertEqual(type(link.storage).__name__, "CachingStorage")
        self.assertEqual([name for name, _ in link.post_start_hooks()], ["kapid-system-namespaces"])
