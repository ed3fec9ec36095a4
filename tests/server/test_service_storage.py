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
