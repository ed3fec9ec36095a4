"""
The IStorage contract suite against L{CachingStorage} over the store on each IKV, plus the watch
cache's own behaviours (fan-out, slow watchers, bookmarks, reads from the cache, waits).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.cacher import CachingStorage
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.testing.storage_contract import IStorageContractMixin


class MemoryCacherContractTests(IStorageContractMixin, TestCase):
    """
    CachingStorage over Store over MemoryKV passes the IStorage contract, time on a Clock.
    """

    history_churn = 12

    async def make_storage(self) -> Any:
        """
        A CachingStorage over a Store over a fresh MemoryKV.
        """
        self.clock = Clock()
        self.kv = MemoryKV(self.clock)
        self.addCleanup(self.kv.close)
        s = CachingStorage(Store(self.kv, self.clock), self.clock, cache_size=10)
        self.addCleanup(s.close)
        return s

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the Clock in small steps.
        """
        for _ in range(int(seconds * 10) + 1):
            self.clock.advance(0.1)


class EtcdCacherContractTests(IStorageContractMixin, TestCase):
    """
    CachingStorage over Store over a real etcd passes the IStorage contract.
    """

    lease_ttl = 1
    fresh_wait = 0.6
    history_churn = 12

    async def make_storage(self) -> Any:
        """
        A CachingStorage over a Store over an EtcdKV on the module's etcd.
        """
        from twisted.internet import reactor

        from kapid.storage.etcd3 import EtcdKV
        from kapid.testing.etcd import shared_etcd

        etcd = await shared_etcd(__name__)
        self.kv = EtcdKV([etcd.client_url], reactor, request_timeout=10.0)
        self.addCleanup(self.kv.close)
        s = CachingStorage(Store(self.kv, reactor), reactor, cache_size=10, fresh_timeout=0.5)
        self.addCleanup(s.close)
        return s

    async def let_time_pass(self, seconds: float) -> None:
        """
        Wait on the real reactor.
        """
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        await deferLater(reactor, seconds, lambda: None)
