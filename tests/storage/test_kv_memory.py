"""
The IKV contract suite against L{MemoryKV}, plus its delivery-order guarantees.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.interfaces import KVEvent
from kapid.storage.memory import MemoryKV, prefix_range_end
from kapid.testing.kv_contract import IKVContractMixin


class MemoryKVContractTests(IKVContractMixin, TestCase):
    """
    MemoryKV passes the IKV contract with leases on a Clock.
    """

    async def make_kv(self) -> Any:
        """
        A fresh MemoryKV on a Clock.
        """
        self.clock = Clock()
        kv = MemoryKV(self.clock)
        self.addCleanup(kv.close)
        return kv

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the Clock.
        """
        self.clock.advance(seconds)


class MemoryKVTests(TestCase):
    """
    MemoryKV specifics: synchronous ordered delivery and range helpers.
    """

    def test_prefix_range_end(self) -> None:
        """
        The range end increments the last byte below 0xff and drops trailing 0xff bytes.
        """
        self.assertEqual(prefix_range_end(b"/a/"), b"/a0")
        self.assertEqual(prefix_range_end(b"a\xff"), b"b")
        self.assertEqual(prefix_range_end(b"\xff\xff"), b"")
        self.assertEqual(prefix_range_end(b""), b"")

    def test_reentrant_write_keeps_order(self) -> None:
        """
        A watcher callback that writes does not make another watcher see revisions out of order.
        """
        kv = MemoryKV(Clock())
        seen_b: list[int] = []

        def a(events: list[KVEvent]) -> None:
            if events[0].kv.key == b"/x/1":
                kv.optimistic_put(b"/x/2", b"v", 0)

        def b(events: list[KVEvent]) -> None:
            seen_b.extend(e.kv.mod_revision for e in events)

        kv.watch(b"/x/", 0, a)
        kv.watch(b"/x/", 0, b)
        kv.optimistic_put(b"/x/1", b"v", 0)
        self.assertEqual(seen_b, [2, 3])

    def test_events_before_write_result(self) -> None:
        """
        Delivery is synchronous: the watcher has the event when the write's Deferred has fired.
        """
        kv = MemoryKV(Clock())
        seen: list[list[KVEvent]] = []
        kv.watch(b"/x/", 0, seen.append)
        d = kv.optimistic_put(b"/x/1", b"v", 0)
        self.assertEqual(len(seen), 1)
        self.assertTrue(self.successResultOf(d).succeeded)
