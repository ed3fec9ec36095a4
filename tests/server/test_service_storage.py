"""
L{KapidService}'s storage wiring: the compactor started after storage opens (every
C{--etcd-compaction-interval}, on a Clock) and stopped with the storage, on the memory and the
embedded stores, and the watch cache flags as the daemon's resource link builds its storage.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase

from kapid.options.config import config_from_args
from kapid.server.service import KapidService
from kapid.storage.interfaces import CompactedError


def storage_service(testcase: TestCase, clock: Any, **flags: Any) -> KapidService:
    """
    A service on a free loopback port (plain HTTP only), with a temp data dir and C{clock} for
    compaction, stopped at cleanup.
    """
    from twisted.internet import reactor

    flags.setdefault("storage_backend", "memory")
    flags.setdefault("secure_port", "0")
    flags.setdefault("insecure_listen_endpoint", "tcp:0:interface=127.0.0.1")
    config = config_from_args(data_dir=testcase.mktemp(), **flags)
    service = KapidService(
        config, reactor=reactor, install_signal_handlers=False, exit_on_failure=False, clock=clock
    )
    testcase.addCleanup(lambda: service.stopService() if service.running else None)
    return service


async def _until(condition: Any, what: str) -> None:
    """
    Poll C{condition()} on the real reactor for at most 10 s.
    """
    from twisted.internet import reactor

    for _ in range(1000):
        if condition():
            return
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


class CompactionWiringMixin:
    """
    The daemon compacts its store every interval; C{backend} names the store.
    """

    backend = "memory"
    timeout = 60

    async def test_compacts_after_two_intervals(self: Any) -> None:
        """
        The first round only records the revision; the second compacts at it, so a read at an
        older revision is then "compacted"; stopping the service stops the compactor.
        """
        clock = Clock()
        service = storage_service(
            self, clock, storage_backend=self.backend, etcd_compaction_interval="1m"
        )
        service.startService()
        await service.started.when_reached()
        compactor = service.compactor
        self.assertIsNotNone(compactor)
        self.assertEqual(compactor.interval, 60.0)
        kv = service.kv
        await kv.optimistic_put(b"/test/compaction/a", b"1", 0)
        old = await kv.current_revision()
        await kv.optimistic_put(b"/test/compaction/a", b"2", old)

        clock.advance(60)
        await _until(lambda: compactor._revision > 0, "the first compaction round")
        self.assertEqual(compactor.compactions, 0)
        await kv.get(b"/test/compaction/a", old)  # history is still there

        clock.advance(60)
        await _until(lambda: compactor.compactions == 1, "the second compaction round")
        self.assertGreater(compactor.last_compacted, old)
        with self.assertRaises(CompactedError):
            await kv.get(b"/test/compaction/a", old)

        await service.stopService()
        self.assertIsNone(compactor._loop)
        clock.advance(600)
        self.assertEqual(compactor.compactions, 1)

    async def test_zero_interval_disables(self: Any) -> None:
        """
        C{--etcd-compaction-interval=0} starts no compactor.
        """
        clock = Clock()
        service = storage_service(
            self, clock, storage_backend=self.backend, etcd_compaction_interval="0"
        )
        service.startService()
        await service.started.when_reached()
        self.assertIsNone(service.compactor)
        self.assertEqual(clock.getDelayedCalls(), [])

    async def test_default_interval(self: Any) -> None:
        """
        Without the flag the interval is kube's 5 minutes.
        """
        clock = Clock()
        service = storage_service(self, clock, storage_backend=self.backend)
        service.startService()
        await service.started.when_reached()
        self.assertEqual(service.compactor.interval, 300.0)
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [300.0])


class MemoryCompactionWiringTests(CompactionWiringMixin, TestCase):
    """
    Compaction wiring on the memory store.
    """

    backend = "memory"


class EmbeddedCompactionWiringTests(CompactionWiringMixin, TestCase):
    """
    Compaction wiring on the embedded (SQLite) store.
    """

    backend = "embedded"


class WatchCacheWiringTests(TestCase):
    """
    C{--watch-cache} and C{--default-watch-cache-size} as the daemon builds its storage (the
    service with the API stages that C{twistd kapid} adds).
    """

    timeout = 60

    async def _started(self, **flags: Any) -> KapidService:
        from kapid.tap import add_api_stages

        service = storage_service(self, Clock(), **flags)
        add_api_stages(service)
        service.startService()
        await service.started.when_reached()
        return service

    async def test_watch_cache_off(self) -> None:
        """
        With C{--watch-cache=false} the resource API uses the store over the service's KV directly.
        """
        from kapid.storage.store import Store

        service = await self._started(watch_cache="false")
        storage = service.resource_link.storage
        self.assertIsInstance(storage, Store)
        self.assertIs(storage.kv, service.kv)

    async def test_zero_default_size_turns_the_cache_off(self) -> None:
        """
        C{--default-watch-cache-size=0}: no cache (kube: disabled for resources without a size).
        """
        from kapid.storage.store import Store

        service = await self._started(default_watch_cache_size="0")
        self.assertIsInstance(service.resource_link.storage, Store)

    async def test_default_size_honoured(self) -> None:
        """
        The watch cache is on by default over the store on the service's KV, its rings holding
        C{--default-watch-cache-size} events: after more writes than that only the newest remain;
        shutdown closes it before the KV.
        """
        import treq

        from kapid.storage.cacher import CachingStorage
        from kapid.storage.store import Store

        service = await self._started(default_watch_cache_size="7")
        storage = service.resource_link.storage
        self.assertIsInstance(storage, CachingStorage)
        self.assertEqual(storage.cache_size, 7)
        self.assertIsInstance(storage.underlying, Store)
        self.assertIs(storage.underlying.kv, service.kv)
        url = service.insecure_url + "/api/v1/namespaces/default/configmaps"
        response = await treq.get(url + "?resourceVersion=0", persistent=False)  # served from the cache
        self.assertEqual(response.code, 200)
        await treq.content(response)
        for i in range(10):
            response = await treq.post(
                url, json={"metadata": {"name": f"c{i}"}}, persistent=False
            )
            self.assertEqual(response.code, 201, await treq.content(response))
            await treq.content(response)
        rings = [c.ring for c in storage.cachers.values() if "configmaps" in c.prefix]
        self.assertEqual(len(rings), 1)
        await _until(lambda: len(rings[0]) == 7 and rings[0][-1].obj["metadata"]["name"] == "c9",
                     "the cache to take the writes in")
        self.assertEqual(rings[0].maxlen, 7)
        await service.stopService()  # the cache is closed before the KV: no re-list timers remain
        self.assertTrue(all(c.closed for c in storage.cachers.values()))

    async def test_per_resource_sizes(self) -> None:
        """
        C{--watch-cache-sizes}: a resource's own size sets its ring, 0 leaves it uncached; with
        C{--default-watch-cache-size=0} only the resources with a size of their own are cached.
        """
        service = await self._started(watch_cache_sizes="configmaps#3,secrets#0,deployments.apps#4")
        storage = service.resource_link.storage
        self.assertEqual(storage.size_for("/registry/configmaps/"), 3)
        self.assertEqual(storage.size_for("/registry/deployments/"), 4)
        self.assertIsNone(storage.resource_prefix("/registry/secrets/default/s"))
        self.assertEqual(storage.resource_prefix("/registry/pods/default/p"), "/registry/pods/")

    async def test_zero_default_with_own_sizes(self) -> None:
        """
        C{--default-watch-cache-size=0} with C{--watch-cache-sizes=configmaps#3}: configmaps
        are cached, other resources are not.
        """
        service = await self._started(default_watch_cache_size="0", watch_cache_sizes="configmaps#3")
        storage = service.resource_link.storage
        self.assertEqual(storage.resource_prefix("/registry/configmaps/default/c"), "/registry/configmaps/")
        self.assertIsNone(storage.resource_prefix("/registry/pods/default/p"))
