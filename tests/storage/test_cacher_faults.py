"""
Storage under faults with a real etcd: an unreachable backend makes IStorage calls fail in bounded
time with UnavailableError, and the watch cache carries on across an etcd kill and restart.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from kapid.storage.cacher import CachingStorage
from kapid.storage.etcd3 import EtcdKV
from kapid.storage.interfaces import ADDED, Event, ListOptions, StorageError, UnavailableError
from kapid.storage.store import Store
from kapid.testing.etcd import EtcdServer, free_port
from kapid.testing.kv_contract import wait_until

RES = "/registry/configmaps/"


def cm(name: str) -> dict:
    """
    A ConfigMap in namespace ns.
    """
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}}


class UnreachableTests(TestCase):
    """
    Every IStorage call fails with UnavailableError when etcd cannot be reached.
    """

    async def _all_fail(self, s: Any) -> None:
        calls = [
            lambda: s.create(RES + "ns/a", cm("a")),
            lambda: s.get(RES + "ns/a"),
            lambda: s.get(RES + "ns/a", resource_version="0"),
            lambda: s.get_list(RES, ListOptions()),
            lambda: s.get_list(RES, ListOptions(resource_version="0")),
            lambda: s.guaranteed_update(RES + "ns/a", lambda cur: cur),
            lambda: s.delete(RES + "ns/a"),
            lambda: s.count(RES),
            lambda: s.watch(RES, ListOptions(resource_version="0"), lambda e: None),
            lambda: s.watch(RES, ListOptions(resource_version="5"), lambda e: None),
        ]
        for call in calls:
            with self.assertRaises(UnavailableError):
                await call()

    def _kv(self) -> EtcdKV:
        kv = EtcdKV([f"http://127.0.0.1:{free_port()}"], reactor, request_timeout=1.0)
        self.addCleanup(kv.close)
        return kv

    async def test_store_unreachable(self) -> None:
        """
        Store over an unreachable etcd fails every call with UnavailableError.
        """
        s = Store(self._kv(), reactor, watch_start_timeout=0.5)
        self.addCleanup(s.close)
        await self._all_fail(s)

    async def test_cacher_unreachable(self) -> None:
        """
        CachingStorage over an unreachable etcd fails every call with UnavailableError too.
        """
        s = CachingStorage(
            Store(self._kv(), reactor, watch_start_timeout=0.5), reactor, fresh_timeout=0.5
        )
        self.addCleanup(s.close)
        await self._all_fail(s)


class RestartTests(TestCase):
    """
    The watch cache across an etcd kill and restart on the same data dir.
    """

    async def test_watch_through_cacher_survives_restart(self) -> None:
        """
        While etcd is down writes fail and cached reads still answer; after a restart a watcher
        through the cache keeps receiving events (or was ended, and a re-watch works).
        """
        etcd = await EtcdServer.start()
        self.addCleanup(etcd.stop)
        kv = EtcdKV([etcd.client_url], reactor, request_timeout=2.0)
        self.addCleanup(kv.close)
        s = CachingStorage(Store(kv, reactor, watch_start_timeout=2.0), reactor, fresh_timeout=1.0)
        self.addCleanup(s.close)
        await s.create(RES + "ns/a", cm("a"))
        events: list[Event] = []
        w = await s.watch(RES, ListOptions(resource_version="0"), events.append)
        self.addCleanup(w.stop)
        await wait_until(lambda: len(events) == 1)

        await etcd.kill()
        with self.assertRaises(StorageError):
            await s.create(RES + "ns/b", cm("b"))
        cached = await s.get_list(RES, ListOptions(resource_version="0"))
        self.assertEqual([i["metadata"]["name"] for i in cached["items"]], ["a"])

        await etcd.restart()
        for _ in range(100):
            try:
                await s.create(RES + "ns/c", cm("c"))
                break
            except StorageError:
                await deferLater(reactor, 0.1, lambda: None)
        if w.done.called:
            events = []
            w = await s.watch(RES, ListOptions(resource_version="0"), events.append)
            self.addCleanup(w.stop)
        await wait_until(lambda: any(e.object["metadata"]["name"] == "c" for e in events if e.object))
        self.assertEqual(
            [e.type for e in events if e.object and e.object["metadata"]["name"] == "c"], [ADDED]
        )
        res = await s.get_list(RES, ListOptions())
        self.assertEqual([i["metadata"]["name"] for i in res["items"]], ["a", "c"])

    async def test_cache_starts_once_etcd_is_back(self) -> None:
        """
        A watch cache first used while etcd is down answers with UnavailableError, then starts by
        itself (retrying on the clock) once etcd is back, and serves watches from one upstream watch.
        """
        etcd = await EtcdServer.start()
        self.addCleanup(etcd.stop)
        kv = EtcdKV([etcd.client_url], reactor, request_timeout=1.0)
        self.addCleanup(kv.close)
        s = CachingStorage(
            Store(kv, reactor, watch_start_timeout=1.0), reactor, fresh_timeout=1.0, retry_delay=0.2
        )
        self.addCleanup(s.close)
        await etcd.kill()
        with self.assertRaises(UnavailableError):
            await s.get_list(RES, ListOptions(resource_version="0"))
        await etcd.restart()
        await wait_until(lambda: RES in s.cachers and s.cachers[RES].ready, timeout=20.0)
        events: list[Event] = []
        w = await s.watch(RES, ListOptions(resource_version="0"), events.append)
        self.addCleanup(w.stop)
        await s.create(RES + "ns/a", cm("a"))
        await wait_until(lambda: len(events) == 1)
        self.assertEqual(s.stats.upstream_watches, 1)
