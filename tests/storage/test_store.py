"""
The IStorage contract suite against L{Store} over L{MemoryKV}, plus store specifics.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.testing.storage_contract import IStorageContractMixin


class MemoryStoreContractTests(IStorageContractMixin, TestCase):
    """
    Store over MemoryKV passes the IStorage contract, time on a Clock.
    """

    async def make_storage(self) -> Any:
        """
        A Store over a fresh MemoryKV.
        """
        self.clock = Clock()
        self.kv = MemoryKV(self.clock)
        self.addCleanup(self.kv.close)
        s = Store(self.kv, self.clock)
        self.addCleanup(s.close)
        return s

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the Clock.
        """
        self.clock.advance(seconds)


class EtcdStoreContractTests(IStorageContractMixin, TestCase):
    """
    Store over EtcdKV and a real etcd (one per test module) passes the IStorage contract.
    """

    lease_ttl = 1
    fresh_wait = 0.0

    async def make_storage(self) -> Any:
        """
        A Store over an EtcdKV on the module's etcd.
        """
        from twisted.internet import reactor

        from kapid.storage.etcd3 import EtcdKV
        from kapid.testing.etcd import shared_etcd

        etcd = await shared_etcd(__name__)
        self.kv = EtcdKV([etcd.client_url], reactor, request_timeout=10.0)
        self.addCleanup(self.kv.close)
        s = Store(self.kv, reactor)
        self.addCleanup(s.close)
        return s

    async def let_time_pass(self, seconds: float) -> None:
        """
        Wait on the real reactor.
        """
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        await deferLater(reactor, seconds, lambda: None)


class EmbeddedStoreContractTests(IStorageContractMixin, TestCase):
    """
    Store over EmbeddedKV (SQLite in a temp dir) passes the IStorage contract, leases on a Clock.
    """

    async def make_storage(self) -> Any:
        """
        A Store over a fresh EmbeddedKV.
        """
        from twisted.internet import reactor

        from kapid.storage.embedded import EmbeddedKV

        self.clock = Clock()
        self.kv = await EmbeddedKV.open(self.mktemp(), reactor, clock=self.clock)
        self.addCleanup(self.kv.close)
        s = Store(self.kv, self.clock)
        self.addCleanup(s.close)
        return s

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the Clock in steps, letting the SQLite thread's results in between.
        """
        await advance_in_steps(self.clock, seconds)


async def advance_in_steps(clock: Clock, seconds: float) -> None:
    """
    Advance C{clock} by C{seconds} in tenths, yielding to the real reactor after each step.
    """
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    for _ in range(int(seconds * 10) + 1):
        clock.advance(0.1)
        await deferLater(reactor, 0.002, lambda: None)
