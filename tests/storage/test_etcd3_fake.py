"""
L{EtcdKV} over C{StubTreq} and the fake gateway: the IKV contract suite, the watch line parser,
multi-revision watch messages, chunked lines and gateway error mapping.
"""

from __future__ import annotations

from typing import Any

from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from kapid.storage.etcd3 import EtcdKV
from kapid.storage.etcd3.codec import LineParser, gateway_error, group_by_revision, parse_event
from kapid.storage.interfaces import (
    DELETE,
    PUT,
    CompactedError,
    FutureRevisionError,
    KVEvent,
    LeaseNotFoundError,
    RequestTooLargeError,
    StorageError,
    UnavailableError,
)
from kapid.storage.memory import MemoryKV
from kapid.testing.fake_etcd import FakeEtcdGateway
from kapid.testing.kv_contract import IKVContractMixin


def _fake(chunk_size: int = 0, batch: bool = False) -> tuple[Clock, MemoryKV, FakeEtcdGateway, Any]:
    clock = Clock()
    mem = MemoryKV(clock)
    gateway = FakeEtcdGateway(mem, chunk_size=chunk_size, batch_revisions=batch)
    stub = StubTreq(gateway)
    # streamed watch lines reach the client on the next flush, scheduled on the real reactor
    gateway.after_write = lambda: None if reactor.callLater(0, stub.flush) else None  # type: ignore[attr-defined]
    return clock, mem, gateway, stub


class EtcdKVFakeContractTests(IKVContractMixin, TestCase):
    """
    EtcdKV over StubTreq and the fake gateway (lines split into 7-byte chunks) passes the IKV
    contract.
    """

    async def make_kv(self) -> Any:
        """
        An EtcdKV over a fresh fake gateway.
        """
        self.clock, self.mem, self.gateway, stub = _fake(chunk_size=7)
        kv = EtcdKV(["http://etcd.invalid:2379"], self.clock, http_client=stub)
        self.addCleanup(stub.flush)
        self.addCleanup(kv.close)
        return kv

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the fake etcd's clock.
        """
        self.clock.advance(seconds)


class LineParserTests(SynchronousTestCase):
    """
    The watch stream's line splitting.
    """

    def test_partial_lines_across_chunks(self) -> None:
        """
        A line split over several chunks comes out once, whole, when its newline arrives.
        """
        p = LineParser()
        self.assertEqual(p.feed(b'{"a":'), [])
        self.assertTrue(p.pending)
        self.assertEqual(p.feed(b"1"), [])
        self.assertEqual(p.feed(b'}\n{"b"'), [b'{"a":1}'])
        self.assertEqual(p.feed(b":2}\n"), [b'{"b":2}'])
        self.assertFalse(p.pending)

    def test_several_lines_in_one_chunk(self) -> None:
        """
        One chunk with several lines (and blank lines) gives each non-blank line in order.
        """
        p = LineParser()
        self.assertEqual(p.feed(b"x\n\ny\r\nz"), [b"x", b"y\r"])
        self.assertEqual(p.feed(b"\n"), [b"z"])

    def test_multi_event_message(self) -> None:
        """
        A watch message with a txn's events and a later revision splits into one batch per
        revision; PUT has no type and DELETE's value is in prev_kv.
        """
        events = [
            parse_event({"kv": {"key": "YQ==", "mod_revision": "5", "create_revision": "5",
                                "version": "1", "value": "MQ=="}}),
            parse_event({"kv": {"key": "Yg==", "mod_revision": "5", "create_revision": "5",
                                "version": "1", "value": "Mg=="}}),
            parse_event({"type": "DELETE", "kv": {"key": "YQ==", "mod_revision": "6"},
                         "prev_kv": {"key": "YQ==", "mod_revision": "5", "create_revision": "5",
                                     "version": "1", "value": "MQ=="}}),
        ]
        groups = group_by_revision(events)
        self.assertEqual([(rev, [e.type for e in b]) for rev, b in groups],
                         [(5, [PUT, PUT]), (6, [DELETE])])
        self.assertEqual(getattr(groups[1][1][0].prev_kv, "value", None), b"1")
        self.assertEqual(groups[1][1][0].kv.value, b"")


class GatewayErrorTests(SynchronousTestCase):
    """
    Gateway error answers map to storage errors.
    """

    def test_mapping(self) -> None:
        """
        Code 11 compacted/future, 400 too large, 429, 404 lease, 503 map as documented.
        """
        def err(status: int, code: int, msg: str) -> StorageError:
            return gateway_error(status, b'{"error":"%s","message":"%s","code":%d}' % (
                msg.encode(), msg.encode(), code), revision=3)

        c = err(400, 11, "etcdserver: mvcc: required revision has been compacted")
        assert isinstance(c, CompactedError)
        self.assertEqual(c.revision, 3)
        self.assertIsInstance(err(400, 11, "etcdserver: mvcc: required revision is a future revision"),
                              FutureRevisionError)
        self.assertIsInstance(err(400, 3, "etcdserver: request is too large"), RequestTooLargeError)
        self.assertIsInstance(err(429, 8, "grpc: received message larger than max (3 vs. 2)"),
                              RequestTooLargeError)
        self.assertIsInstance(err(404, 5, "etcdserver: requested lease not found"),
                              LeaseNotFoundError)
        self.assertIsInstance(err(503, 14, "use of closed network connection"), UnavailableError)
        other = err(400, 3, "etcdserver: key is not provided")
        self.assertNotIsInstance(other, UnavailableError)
        self.assertIsInstance(gateway_error(502, b"<html>bad gateway"), UnavailableError)


class FakeWatchTests(TestCase):
    """
    EtcdKV's watch over the fake gateway's stream shapes.
    """

    async def test_multi_revision_message(self) -> None:
        """
        Several revisions arriving in one watch message reach on_events one revision at a time,
        each txn's events together.
        """
        clock, mem, gateway, stub = _fake(chunk_size=5, batch=True)
        kv = EtcdKV(["http://etcd.invalid:2379"], clock, http_client=stub)
        self.addCleanup(kv.close)
        seen: list[list[KVEvent]] = []
        w = kv.watch(b"/p/", 0, seen.append)
        await w.started
        await kv.put_all([(b"/p/a", b"1"), (b"/p/b", b"2")])
        await kv.optimistic_put(b"/p/c", b"3", 0)
        await kv.optimistic_delete(b"/p/a", 0)
        gateway.release()
        from kapid.testing.kv_contract import wait_until

        await wait_until(lambda: len(seen) >= 3)
        self.assertEqual([[e.kv.key for e in b] for b in seen],
                         [[b"/p/a", b"/p/b"], [b"/p/c"], [b"/p/a"]])
        self.assertEqual(seen[2][0].type, DELETE)
        self.assertEqual(getattr(seen[2][0].prev_kv, "value", None), b"1")
        w.cancel()
        stub.flush()

    async def test_compacted_start_ends_watch(self) -> None:
        """
        A canceled message with compact_revision (the stream left open) ends the watch with
        CompactedError carrying the compact revision.
        """
        clock, mem, gateway, stub = _fake()
        kv = EtcdKV(["http://etcd.invalid:2379"], clock, http_client=stub)
        self.addCleanup(kv.close)
        for i in range(4):
            await kv.optimistic_put(b"/p/%d" % i, b"v", 0)
        await kv.compact(4)
        w = kv.watch(b"/p/", 2, lambda events: None)
        with self.assertRaises(CompactedError) as ctx:
            await w.done
        self.assertEqual(ctx.exception.compact_revision, 4)
        self.assertEqual(ctx.exception.revision, 2)
        stub.flush()

    async def test_watch_resumes_after_stream_ends(self) -> None:
        """
        When the stream ends (etcd restarted) and etcd is unavailable for a while, the watch
        retries on its clock and resumes after the last delivered revision: writes made meanwhile
        arrive once, in order.
        """
        clock, mem, gateway, stub = _fake(chunk_size=3)
        kv = EtcdKV(["http://etcd.invalid:2379"], clock, http_client=stub)
        self.addCleanup(kv.close)
        seen: list[list[KVEvent]] = []
        w = kv.watch(b"/p/", 0, seen.append)
        await w.started
        await kv.optimistic_put(b"/p/a", b"1", 0)
        from kapid.testing.kv_contract import wait_until

        await wait_until(lambda: len(seen) == 1)
        gateway.unavailable = True
        gateway.drop_watches()
        await wait_until(lambda: bool(clock.getDelayedCalls()))
        with self.assertRaises(UnavailableError):
            await kv.optimistic_put(b"/p/x", b"x", 0)
        # writes that happen while the client cannot watch
        mem.put_all([(b"/p/b", b"2")])
        mem.put_all([(b"/p/c", b"3")])
        clock.advance(0.1)  # a retry that fails: etcd still unavailable
        await wait_until(lambda: bool(clock.getDelayedCalls()))
        gateway.unavailable = False
        clock.advance(5)
        await wait_until(lambda: len(seen) == 3)
        await kv.optimistic_put(b"/p/d", b"4", 0)
        await wait_until(lambda: len(seen) == 4)
        self.assertEqual([b[0].kv.key for b in seen], [b"/p/a", b"/p/b", b"/p/c", b"/p/d"])
        self.assertFalse(w.done.called)
        w.cancel()
        stub.flush()
