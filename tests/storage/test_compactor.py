"""
L{Compactor}: one compaction per interval across several apiservers, on a Clock and on a real etcd.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.compactor import COMPACT_REV_KEY, Compactor
from kapid.storage.interfaces import CompactedError
from kapid.storage.memory import MemoryKV


class CountingCompactKV:
    """
    A KV wrapper counting compact calls.
    """

    def __init__(self, kv: Any) -> None:
        self._kv = kv
        self.compacted: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)

    def compact(self, revision: int) -> Any:
        """
        Count, then compact.
        """
        self.compacted.append(revision)
        return self._kv.compact(revision)


class CompactorClockTests(TestCase):
    """
    Two compactors on one MemoryKV, time on a Clock.
    """

    def test_two_compactors_compact_once_per_interval(self) -> None:
        """
        Two apiservers sharing a store compact once per interval, each time at the revision seen
        one interval earlier, and never on the first round.
        """
        clock = Clock()
        mem = MemoryKV(clock)
        kv = CountingCompactKV(mem)
        a, b = Compactor(kv, clock, 300), Compactor(kv, clock, 300)
        a.start()
        b.start()
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        revs = []
        for i in range(4):
            self.successResultOf(mem.optimistic_put(f"/registry/x/{i}".encode(), b"v", 0))
            revs.append(self.successResultOf(mem.current_revision()))
            clock.advance(299)
            self.assertEqual(len(kv.compacted), max(i - 1, 0))
            clock.advance(1)
        self.assertEqual(len(kv.compacted), 3)
        self.assertEqual(a.compactions + b.compactions, 3)
        # each compaction is at a revision at least one interval old
        self.assertTrue(all(c <= r for c, r in zip(kv.compacted, revs[1:])))
        self.failureResultOf(mem.get(b"/registry/x/0", revs[0] - 1), CompactedError)
        key, _ = self.successResultOf(mem.get(COMPACT_REV_KEY))
        self.assertEqual(int(key.value), kv.compacted[-1])

    def test_stop(self) -> None:
        """
        A stopped compactor does nothing more.
        """
        clock = Clock()
        kv = CountingCompactKV(MemoryKV(clock))
        c = Compactor(kv, clock, 10)
        c.start()
        for _ in range(3):
            clock.advance(10)
        self.successResultOf(c.stop())
        n = len(kv.compacted)
        clock.advance(100)
        self.assertEqual(len(kv.compacted), n)
        self.assertEqual(n, 2)


class CompactorEtcdTests(TestCase):
    """
    Two compactors on a real etcd.
    """

    async def test_real_etcd(self) -> None:
        """
        Two compactors on one real etcd compact it once per interval, so old revisions go away.
        """
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        from kapid.storage.etcd3 import EtcdKV
        from kapid.testing.etcd import shared_etcd

        etcd = await shared_etcd(__name__)
        raw = EtcdKV([etcd.client_url], reactor, request_timeout=10.0)
        self.addCleanup(raw.close)
        kv = CountingCompactKV(raw)
        await raw.optimistic_put(b"/registry/cmp/a", b"1", 0)
        old = await raw.current_revision()
        interval = 0.4
        a, b = Compactor(kv, reactor, interval), Compactor(kv, reactor, interval)
        a.start()
        b.start()
        self.addCleanup(b.stop)
        self.addCleanup(a.stop)
        for i in range(50):
            await raw.optimistic_put(f"/registry/cmp/b{i}".encode(), b"1", 0)
            await deferLater(reactor, 0.05, lambda: None)
            # (not while a compaction is still in flight: it counts when it has finished)
            if len(kv.compacted) >= 2 and a.compactions + b.compactions == len(kv.compacted):
                break
        self.assertGreaterEqual(len(kv.compacted), 2)
        self.assertEqual(a.compactions + b.compactions, len(kv.compacted))
        try:
            await raw.get(b"/registry/cmp/a", old - 1)
        except CompactedError:
            pass
        else:
            self.fail("old revision still readable")
