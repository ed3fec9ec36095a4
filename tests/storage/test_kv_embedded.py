"""
The IKV contract suite against L{EmbeddedKV} (SQLite in a temp dir), plus restart, lease
persistence and kill -9 durability.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.embedded import EmbeddedKV
from kapid.storage.interfaces import DELETE, KVEvent
from kapid.testing.kv_contract import IKVContractMixin, wait_until


class EmbeddedKVContractTests(IKVContractMixin, TestCase):
    """
    EmbeddedKV passes the IKV contract with leases on a Clock.
    """

    async def make_kv(self) -> Any:
        """
        A fresh EmbeddedKV in a temp dir, leases on a Clock.
        """
        self.clock = Clock()
        kv = await EmbeddedKV.open(self.mktemp(), reactor, clock=self.clock)
        self.addCleanup(kv.close)
        return kv

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the lease Clock.
        """
        self.clock.advance(seconds)


_WRITER = r"""
import sys
from twisted.internet import defer, task
from kapid.storage.embedded import EmbeddedKV

async def main(reactor):
    kv = await EmbeddedKV.open(sys.argv[1], reactor)
    i = 0
    while True:
        r = await kv.optimistic_put(b"/durable/%06d" % i, b"v%d" % i, 0)
        assert r.succeeded
        sys.stdout.write("%d\n" % i)
        sys.stdout.flush()
        i += 1

task.react(lambda r: defer.Deferred.fromCoroutine(main(r)))
"""


class _Writer(ProcessProtocol):
    """
    Counts the writes a child acknowledged and SIGKILLs it after C{kill_after}.
    """

    def __init__(self, kill_after: int) -> None:
        self.kill_after = kill_after
        self.acked = -1
        self.buf = b""
        self.ended: Deferred[None] = Deferred()
        self.err = b""

    def outReceived(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self.acked = int(line)
        if self.acked + 1 >= self.kill_after and self.transport.pid:  # type: ignore[union-attr]
            os.kill(self.transport.pid, signal.SIGKILL)  # type: ignore[union-attr]

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)


class EmbeddedKVTests(TestCase):
    """
    EmbeddedKV specifics: persistence across restarts, leases that survive a restart, the SQLite
    thread, and durability of acknowledged writes under SIGKILL.
    """

    async def test_restart_keeps_state_and_history(self) -> None:
        """
        After close and reopen, values, revisions, old revisions, the compact revision and watch
        history are as before.
        """
        path = self.mktemp()
        kv = await EmbeddedKV.open(path, reactor, clock=Clock())
        c = await kv.optimistic_put(b"/r/a", b"1", 0)
        u = await kv.optimistic_put(b"/r/a", b"2", c.revision)
        await kv.optimistic_put(b"/r/b", b"x", 0)
        await kv.optimistic_delete(b"/r/b", 0)
        await kv.compact(u.revision)
        rev = await kv.current_revision()
        await kv.close()

        kv = await EmbeddedKV.open(path, reactor, clock=Clock())
        self.addCleanup(kv.close)
        self.assertEqual(await kv.current_revision(), rev)
        got, _ = await kv.get(b"/r/a")
        self.assertEqual((got.value, got.version, got.create_revision), (b"2", 2, c.revision))
        self.assertIsNone((await kv.get(b"/r/b"))[0])
        from kapid.storage.interfaces import CompactedError

        with self.assertRaises(CompactedError):
            await kv.get(b"/r/a", revision=c.revision)
        events: list[list[KVEvent]] = []
        w = kv.watch(b"/r/", u.revision + 1, events.append)
        await w.started
        await wait_until(lambda: len(events) >= 2)
        self.assertEqual(events[1][0].type, DELETE)
        self.assertEqual(getattr(events[1][0].prev_kv, "value", None), b"x")
        n = await kv.optimistic_put(b"/r/c", b"y", 0)
        self.assertEqual(n.revision, rev + 1)
        w.cancel()

    async def test_point_reads_in_reactor_thread(self) -> None:
        """
        A get with nothing pending answers at once (in the reactor thread) and sees every
        acknowledged write, also at an old revision; a get issued while a write is pending waits
        for it and sees it, as reads on the SQLite thread do.
        """
        kv = await EmbeddedKV.open(self.mktemp(), reactor, clock=Clock())
        self.addCleanup(kv.close)
        first = await kv.optimistic_put(b"/r/a", b"1", 0)
        second = await kv.optimistic_put(b"/r/a", b"2", first.revision)
        d = kv.get(b"/r/a")
        self.assertTrue(d.called)
        got, rev = await d
        self.assertEqual((got.value, got.mod_revision, rev), (b"2", second.revision, second.revision))
        old = kv.get(b"/r/a", first.revision)
        self.assertTrue(old.called)
        self.assertEqual((await old)[0].value, b"1")
        put = kv.optimistic_put(b"/r/a", b"3", second.revision)
        queued = kv.get(b"/r/a")
        self.assertEqual((await queued)[0].value, b"3")
        self.assertTrue((await put).succeeded)
        self.assertEqual((await kv.get(b"/r/b"))[0], None)

    async def test_lease_survives_restart(self) -> None:
        """
        A lease granted before a restart still expires on schedule afterwards, deleting its key.
        """
        path = self.mktemp()
        clock = Clock()
        kv = await EmbeddedKV.open(path, reactor, clock=clock)
        lease = await kv.grant_lease(10)
        await kv.optimistic_put(b"/l/a", b"v", 0, lease=lease)
        clock.advance(4)
        await kv.close()

        clock2 = Clock()
        clock2.advance(4)
        kv = await EmbeddedKV.open(path, reactor, clock=clock2)
        self.addCleanup(kv.close)
        self.assertIsNotNone((await kv.get(b"/l/a"))[0])
        clock2.advance(5.9)
        self.assertIsNotNone((await kv.get(b"/l/a"))[0])
        clock2.advance(0.2)
        self.assertIsNone((await kv.get(b"/l/a"))[0])

    async def test_data_dir_locked(self) -> None:
        """
        A second store on an open data dir is refused; after close it opens.
        """
        from kapid.storage.interfaces import StorageError

        path = self.mktemp()
        kv = await EmbeddedKV.open(path, reactor, clock=Clock())
        with self.assertRaises(StorageError):
            await EmbeddedKV.open(path, reactor, clock=Clock())
        await kv.close()
        again = await EmbeddedKV.open(path, reactor, clock=Clock())
        await again.close()

    async def test_sqlite_off_reactor_thread(self) -> None:
        """
        Store work runs on the store's own thread, never the reactor's.
        """
        import threading

        kv = await EmbeddedKV.open(self.mktemp(), reactor, clock=Clock())
        self.addCleanup(kv.close)
        names = await kv._submit(lambda c: threading.current_thread().name)
        self.assertNotEqual(names, threading.current_thread().name)
        self.assertIn("kapid-sqlite", names)

    async def test_kill_9_keeps_acknowledged_writes(self) -> None:
        """
        A process SIGKILLed after N acknowledged writes leaves all N in the store.
        """
        path = os.path.abspath(self.mktemp())
        proto = _Writer(kill_after=200)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=root)
        reactor.spawnProcess(  # type: ignore[attr-defined]
            proto, sys.executable, [sys.executable, "-c", _WRITER, path], env=env
        )
        await proto.ended
        self.assertGreaterEqual(proto.acked + 1, 200, proto.err.decode(errors="replace"))
        kv = await EmbeddedKV.open(path, reactor, clock=Clock())
        self.addCleanup(kv.close)
        listed = await kv.list(b"/durable/")
        keys = {x.key for x in listed.kvs}
        for i in range(proto.acked + 1):
            self.assertIn(b"/durable/%06d" % i, keys)
