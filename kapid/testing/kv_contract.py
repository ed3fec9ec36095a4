"""
The L{IKV} contract suite: L{IKVContractMixin}, mixed into a trial C{TestCase} once per provider.

A subclass provides::

    async def make_kv(self) -> IKV          # a fresh, empty-looking store; register its cleanup
    async def let_time_pass(self, seconds)  # advance a Clock, or wait on the real reactor

and may set C{lease_ttl} (seconds of the lease in the lease-expiry case; real etcd rounds small TTLs
up to about 2 s). Every case uses its own key prefix (C{self.prefix}), so several cases may share
one backend (such as one real etcd per test module).

Waiting for asynchronous results (watch events from a real etcd) polls with a bounded loop of
C{deferLater} on the real reactor; stores that deliver synchronously pass on the first check.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, gatherResults
from zope.interface.verify import verifyObject

from kapid.storage.interfaces import (
    DELETE,
    PUT,
    CompactedError,
    FutureRevisionError,
    IKV,
    IKVWatch,
    KeyValue,
    KVEvent,
    LeaseNotFoundError,
    ListResult,
    RequestTooLargeError,
    StorageError,
    TxnResult,
)

if TYPE_CHECKING:
    from twisted.trial.unittest import TestCase as _MixinBase
else:
    _MixinBase = object

#: A value just under etcd's 1.5 MiB request limit.
LARGE_VALUE_SIZE = 1572864 - 1024


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01
) -> None:
    """
    Poll C{predicate} on the real reactor until it holds; raise C{AssertionError} after
    C{timeout} seconds of polling.
    """
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    steps = int(timeout / interval)
    for _ in range(steps):
        if predicate():
            return
        await deferLater(reactor, interval, lambda: None)  # type: ignore[arg-type]
    if not predicate():
        raise AssertionError(f"condition not met within {timeout} s")


def _prev(event: KVEvent) -> KeyValue:
    """
    The event's C{prev_kv}, which must be there.
    """
    assert event.prev_kv is not None, event
    return event.prev_kv


class IKVContractMixin(_MixinBase):
    """
    Cases every L{IKV} provider passes. Mix into a C{twisted.trial.unittest.TestCase}.
    """

    lease_ttl = 5

    async def make_kv(self) -> Any:
        """
        Return a started store (override).
        """
        raise NotImplementedError

    async def let_time_pass(self, seconds: float) -> None:
        """
        Let C{seconds} of the store's clock pass (override).
        """
        raise NotImplementedError

    def setUp(self) -> Any:
        """
        Pick a key prefix unique to this case.
        """
        self.prefix = b"/contract/" + uuid.uuid4().hex.encode("ascii") + b"/"
        return super().setUp()  # type: ignore[misc]

    def k(self, name: str | bytes) -> bytes:
        """
        A key under this case's prefix.
        """
        if isinstance(name, str):
            name = name.encode("utf-8")
        return self.prefix + name

    # -- basics -------------------------------------------------------------------------------

    async def test_provides_ikv(self) -> None:
        """
        The store provides IKV and its watches provide IKVWatch.
        """
        kv = await self.make_kv()
        self.assertTrue(verifyObject(IKV, kv))
        w = kv.watch(self.prefix, 0, lambda events: None)
        self.assertTrue(verifyObject(IKVWatch, w))
        await w.started
        w.cancel()
        self.assertIsNone(await w.done)

    async def test_health_and_revision(self) -> None:
        """
        A live store is healthy and its current revision grows with each write.
        """
        kv = await self.make_kv()
        self.assertIsNone(await kv.check_health())
        r1 = await kv.current_revision()
        res = await kv.optimistic_put(self.k("a"), b"1", 0)
        self.assertEqual(res.revision, r1 + 1)
        self.assertEqual(await kv.current_revision(), r1 + 1)

    async def test_get_missing(self) -> None:
        """
        Reading an absent key gives None and the store revision.
        """
        kv = await self.make_kv()
        rev = await kv.current_revision()
        kv_, at = await kv.get(self.k("missing"))
        self.assertIsNone(kv_)
        self.assertEqual(at, rev)

    # -- conflicts ----------------------------------------------------------------------------

    async def test_create_conflict(self) -> None:
        """
        Creating with expected revision 0 succeeds once; the second create fails and shows the
        existing key-value.
        """
        kv = await self.make_kv()
        first = await kv.optimistic_put(self.k("a"), b"v1", 0)
        self.assertIsInstance(first, TxnResult)
        self.assertTrue(first.succeeded)
        self.assertEqual(first.kv.value, b"v1")
        self.assertEqual(first.kv.version, 1)
        self.assertEqual(first.kv.create_revision, first.revision)
        self.assertEqual(first.kv.mod_revision, first.revision)
        second = await kv.optimistic_put(self.k("a"), b"v2", 0)
        self.assertFalse(second.succeeded)
        self.assertEqual(second.kv, first.kv)
        self.assertEqual(second.revision, first.revision)
        got, _ = await kv.get(self.k("a"))
        self.assertEqual(got, first.kv)

    async def test_update_conflict(self) -> None:
        """
        An update at a stale mod revision fails with the current key-value; at the current one it
        succeeds, bumping version and mod revision but keeping the create revision.
        """
        kv = await self.make_kv()
        c = await kv.optimistic_put(self.k("a"), b"v1", 0)
        u = await kv.optimistic_put(self.k("a"), b"v2", c.kv.mod_revision)
        self.assertTrue(u.succeeded)
        self.assertEqual(u.kv.version, 2)
        self.assertEqual(u.kv.create_revision, c.kv.create_revision)
        self.assertEqual(u.kv.mod_revision, u.revision)
        stale = await kv.optimistic_put(self.k("a"), b"v3", c.kv.mod_revision)
        self.assertFalse(stale.succeeded)
        self.assertEqual(stale.kv, u.kv)
        absent = await kv.optimistic_put(self.k("b"), b"v", 5)
        self.assertFalse(absent.succeeded)
        self.assertIsNone(absent.kv)
        self.assertIsNone((await kv.get(self.k("b")))[0])

    async def test_delete_conflict(self) -> None:
        """
        A delete at a stale revision fails with the current key-value; at the current one (or with
        0) it succeeds and hands back the deleted key-value; deleting an absent key fails.
        """
        kv = await self.make_kv()
        c = await kv.optimistic_put(self.k("a"), b"v1", 0)
        u = await kv.optimistic_put(self.k("a"), b"v2", c.kv.mod_revision)
        stale = await kv.optimistic_delete(self.k("a"), c.kv.mod_revision)
        self.assertFalse(stale.succeeded)
        self.assertEqual(stale.kv, u.kv)
        d = await kv.optimistic_delete(self.k("a"), u.kv.mod_revision)
        self.assertTrue(d.succeeded)
        self.assertEqual(d.kv, u.kv)
        self.assertEqual(d.revision, u.revision + 1)
        self.assertIsNone((await kv.get(self.k("a")))[0])
        gone = await kv.optimistic_delete(self.k("a"), 0)
        self.assertFalse(gone.succeeded)
        self.assertIsNone(gone.kv)
        await kv.optimistic_put(self.k("b"), b"x", 0)
        anyrev = await kv.optimistic_delete(self.k("b"), 0)
        self.assertTrue(anyrev.succeeded)
        self.assertEqual(anyrev.kv.value, b"x")

    # -- lists and revisions -------------------------------------------------------------------

    async def test_list_pages_at_fixed_revision(self) -> None:
        """
        A prefix list with a limit reports more and the total count; the next pages, read at the
        first page's revision from the last key + NUL, do not see later writes.
        """
        kv = await self.make_kv()
        names = [f"item-{i}".encode() for i in range(5)]
        for n in names:
            await kv.optimistic_put(self.k(n), n, 0)
        await kv.optimistic_put(self.prefix[:-1] + b"0outside", b"x", 0)
        await kv.optimistic_put(self.prefix[:-1] + b"-sibling/x", b"x", 0)
        page = await kv.list(self.prefix, limit=2)
        self.assertIsInstance(page, ListResult)
        self.assertEqual([x.key for x in page.kvs], [self.k(n) for n in names[:2]])
        self.assertTrue(page.more)
        self.assertEqual(page.count, 5)
        rev = page.revision
        self.assertEqual(rev, await kv.current_revision())
        await kv.optimistic_put(self.k("item-2b"), b"late", 0)
        await kv.optimistic_delete(self.k("item-3"), 0)
        seen = list(page.kvs)
        while page.more:
            page = await kv.list(
                self.prefix, revision=rev, limit=2, start_key=page.kvs[-1].key + b"\0"
            )
            self.assertEqual(page.revision, rev)
            seen.extend(page.kvs)
        self.assertEqual([x.key for x in seen], [self.k(n) for n in names])
        now = await kv.list(self.prefix)
        self.assertFalse(now.more)
        self.assertEqual(now.count, 5)
        self.assertEqual(
            [x.key for x in now.kvs],
            [self.k(n) for n in (b"item-0", b"item-1", b"item-2", b"item-2b", b"item-4")],
        )
        self.assertEqual(await kv.count(self.prefix), 5)

    async def test_read_old_revision(self) -> None:
        """
        get and list at an old revision show the values of that revision.
        """
        kv = await self.make_kv()
        c = await kv.optimistic_put(self.k("a"), b"v1", 0)
        await kv.optimistic_put(self.k("a"), b"v2", c.kv.mod_revision)
        await kv.optimistic_put(self.k("b"), b"b1", 0)
        old, at = await kv.get(self.k("a"), revision=c.revision)
        self.assertEqual(old.value, b"v1")
        self.assertEqual(old.mod_revision, c.revision)
        self.assertGreaterEqual(at, c.revision)
        listed = await kv.list(self.prefix, revision=c.revision)
        self.assertEqual([(x.key, x.value) for x in listed.kvs], [(self.k("a"), b"v1")])
        self.assertEqual(listed.revision, c.revision)

    async def test_future_revision(self) -> None:
        """
        A read at a revision the store has not reached fails with FutureRevisionError.
        """
        kv = await self.make_kv()
        rev = await kv.current_revision()
        with self.assertRaises(FutureRevisionError) as ctx:
            await kv.get(self.k("a"), revision=rev + 1000)
        self.assertEqual(ctx.exception.revision, rev + 1000)
        self.assertGreaterEqual(ctx.exception.current_revision, rev)
        with self.assertRaises(FutureRevisionError):
            await kv.list(self.prefix, revision=rev + 1000)

    async def test_compaction(self) -> None:
        """
        After compaction, reads and watches before the compact revision fail with CompactedError,
        the compact revision itself still reads, and compacting there again is refused.
        """
        kv = await self.make_kv()
        c = await kv.optimistic_put(self.k("a"), b"v1", 0)
        u = await kv.optimistic_put(self.k("a"), b"v2", c.kv.mod_revision)
        d = await kv.optimistic_put(self.k("b"), b"b", 0)
        await kv.optimistic_delete(self.k("b"), 0)
        await kv.optimistic_put(self.k("c"), b"c", 0)
        await kv.compact(u.revision)
        with self.assertRaises(CompactedError):
            await kv.get(self.k("a"), revision=c.revision)
        with self.assertRaises(CompactedError):
            await kv.list(self.prefix, revision=c.revision)
        at_compact = await kv.list(self.prefix, revision=u.revision)
        self.assertEqual([(x.key, x.value) for x in at_compact.kvs], [(self.k("a"), b"v2")])
        after = await kv.list(self.prefix, revision=d.revision)
        self.assertEqual([x.key for x in after.kvs], [self.k("a"), self.k("b")])
        now = await kv.list(self.prefix)
        self.assertEqual([x.key for x in now.kvs], [self.k("a"), self.k("c")])
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, c.revision, events.append)
        err = None
        try:
            await w.done
        except CompactedError as e:
            err = e
        assert isinstance(err, CompactedError)
        self.assertEqual(err.compact_revision, u.revision)
        self.assertEqual(events, [])
        with self.assertRaises(CompactedError):
            await kv.compact(u.revision)
        # a watch from after the compact revision still works
        events2: list[list[KVEvent]] = []
        w2 = kv.watch(self.prefix, d.revision, events2.append)
        await w2.started
        await wait_until(lambda: len(events2) >= 3)
        self.assertEqual(events2[0][0].kv.key, self.k("b"))
        w2.cancel()

    # -- watches ------------------------------------------------------------------------------

    async def test_watch_from_revision(self) -> None:
        """
        A watch from an old revision replays history in revision order with prev_kv, then live
        events; DELETE events carry the last value in prev_kv; other prefixes are not seen.
        """
        kv = await self.make_kv()
        c = await kv.optimistic_put(self.k("a"), b"v1", 0)
        u = await kv.optimistic_put(self.k("a"), b"v2", c.kv.mod_revision)
        await kv.optimistic_put(self.prefix[:-1] + b"-other", b"x", 0)
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, c.revision, events.append)
        await w.started
        await kv.optimistic_delete(self.k("a"), u.kv.mod_revision)
        await kv.optimistic_put(self.k("b"), b"b1", 0)
        await wait_until(lambda: len(events) >= 4)
        flat = [e for batch in events for e in batch]
        self.assertEqual([len(b) for b in events], [1, 1, 1, 1])
        self.assertEqual([e.type for e in flat], [PUT, PUT, DELETE, PUT])
        revs = [e.kv.mod_revision for e in flat]
        self.assertEqual(revs, sorted(revs))
        self.assertEqual(revs[0], c.revision)
        self.assertIsNone(flat[0].prev_kv)
        self.assertEqual(flat[0].kv.value, b"v1")
        self.assertEqual(flat[1].kv.value, b"v2")
        self.assertEqual(_prev(flat[1]).value, b"v1")
        self.assertEqual(_prev(flat[1]).mod_revision, c.revision)
        self.assertEqual(flat[2].kv.key, self.k("a"))
        self.assertEqual(_prev(flat[2]).value, b"v2")
        self.assertEqual(flat[3].kv.key, self.k("b"))
        self.assertEqual(flat[3].kv.version, 1)
        w.cancel()
        self.assertIsNone(await w.done)
        await kv.optimistic_put(self.k("c"), b"c", 0)
        await kv.current_revision()
        self.assertEqual(len(events), 4)

    async def test_watch_from_now(self) -> None:
        """
        A watch from revision 0 sees only writes made after it started.
        """
        kv = await self.make_kv()
        await kv.optimistic_put(self.k("old"), b"x", 0)
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, 0, events.append)
        await w.started
        r = await kv.optimistic_put(self.k("new"), b"y", 0)
        await wait_until(lambda: len(events) >= 1)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0][0].kv.key, self.k("new"))
        self.assertEqual(events[0][0].kv.mod_revision, r.revision)
        w.cancel()

    async def test_put_all_one_batch(self) -> None:
        """
        put_all writes at one revision and a watcher receives its events in one call.
        """
        kv = await self.make_kv()
        await kv.optimistic_put(self.k("b"), b"old", 0)
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, 0, events.append)
        await w.started
        rev = await kv.put_all([(self.k("a"), b"1"), (self.k("b"), b"2"), (self.k("c"), b"3")])
        self.assertEqual(rev, await kv.current_revision())
        await wait_until(lambda: len(events) >= 1)
        self.assertEqual(len(events), 1)
        batch = events[0]
        self.assertEqual(sorted(e.kv.key for e in batch), [self.k("a"), self.k("b"), self.k("c")])
        self.assertEqual({e.kv.mod_revision for e in batch}, {rev})
        byk = {e.kv.key: e for e in batch}
        self.assertEqual(_prev(byk[self.k("b")]).value, b"old")
        self.assertEqual(byk[self.k("b")].kv.version, 2)
        listed = await kv.list(self.prefix)
        self.assertEqual([x.value for x in listed.kvs], [b"1", b"2", b"3"])
        w.cancel()

    async def test_put_all_edge_cases(self) -> None:
        """
        put_all of nothing writes nothing and returns the current revision; a repeated key is
        refused with a StorageError and writes nothing.
        """
        kv = await self.make_kv()
        rev = await kv.current_revision()
        self.assertEqual(await kv.put_all([]), rev)
        with self.assertRaises(StorageError):
            await kv.put_all([(self.k("a"), b"1"), (self.k("a"), b"2")])
        self.assertIsNone((await kv.get(self.k("a")))[0])
        self.assertEqual(await kv.current_revision(), rev)

    async def test_watch_several(self) -> None:
        """
        Two watches on overlapping prefixes each see their own events in order.
        """
        kv = await self.make_kv()
        all_events: list[list[KVEvent]] = []
        sub_events: list[list[KVEvent]] = []
        w1 = kv.watch(self.prefix, 0, all_events.append)
        w2 = kv.watch(self.k("sub/"), 0, sub_events.append)
        await w1.started
        await w2.started
        for i in range(10):
            await kv.optimistic_put(self.k(f"sub/{i}" if i % 2 else f"top{i}"), b"x", 0)
        await wait_until(lambda: len(all_events) >= 10 and len(sub_events) >= 5)
        self.assertEqual(len(sub_events), 5)
        revs = [b[0].kv.mod_revision for b in all_events]
        self.assertEqual(revs, sorted(revs))
        w1.cancel()
        w2.cancel()

    # -- sizes and odd keys --------------------------------------------------------------------

    async def test_large_value(self) -> None:
        """
        A value just under 1.5 MiB round-trips (also through a watch); one over the limit fails
        with RequestTooLargeError.
        """
        kv = await self.make_kv()
        big = bytes(range(256)) * (LARGE_VALUE_SIZE // 256) + b"\0" * (LARGE_VALUE_SIZE % 256)
        self.assertEqual(len(big), LARGE_VALUE_SIZE)
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, 0, events.append)
        await w.started
        res = await kv.optimistic_put(self.k("big"), big, 0)
        self.assertTrue(res.succeeded)
        got, _ = await kv.get(self.k("big"))
        self.assertEqual(got.value, big)
        await wait_until(lambda: len(events) >= 1)
        self.assertEqual(events[0][0].kv.value, big)
        w.cancel()
        with self.assertRaises(RequestTooLargeError):
            await kv.optimistic_put(self.k("huge"), big + b"x" * 4096, 0)

    async def test_unusual_keys(self) -> None:
        """
        Keys with spaces, unicode, 0xff bytes and slashes (and binary values) round-trip through
        put, get, list and watch.
        """
        kv = await self.make_kv()
        names = [b"with space", "ünïcödé-名".encode("utf-8"), b"\xff\xfe-bytes", b"a/b/c", b"\xff"]
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, 0, events.append)
        await w.started
        for n in names:
            r = await kv.optimistic_put(self.k(n), b"k8s\0" + n, 0)
            self.assertTrue(r.succeeded)
        for n in names:
            got, _ = await kv.get(self.k(n))
            self.assertEqual(got.key, self.k(n))
            self.assertEqual(got.value, b"k8s\0" + n)
        listed = await kv.list(self.prefix)
        self.assertEqual([x.key for x in listed.kvs], sorted(self.k(n) for n in names))
        await wait_until(lambda: len(events) >= len(names))
        self.assertEqual([b[0].kv.key for b in events], [self.k(n) for n in names])
        # a prefix ending in 0xff
        ff = await kv.list(self.k(b"\xff"))
        self.assertEqual([x.key for x in ff.kvs], [self.k(b"\xff"), self.k(b"\xff\xfe-bytes")])
        w.cancel()

    # -- leases -------------------------------------------------------------------------------

    async def test_lease_expiry(self) -> None:
        """
        A key put with a lease disappears when the lease expires, and watchers see a DELETE with
        the last value.
        """
        kv = await self.make_kv()
        lease = await kv.grant_lease(self.lease_ttl)
        self.assertIsInstance(lease, int)
        self.assertNotEqual(lease, 0)
        r = await kv.optimistic_put(self.k("ttl"), b"v", 0, lease=lease)
        self.assertTrue(r.succeeded)
        self.assertEqual(r.kv.lease, lease)
        await kv.optimistic_put(self.k("keep"), b"v", 0)
        events: list[list[KVEvent]] = []
        w = kv.watch(self.prefix, 0, events.append)
        await w.started
        self.assertEqual((await kv.get(self.k("ttl")))[0].value, b"v")
        await self.let_time_pass(self.lease_ttl)

        gone = {"v": False}

        async def poll() -> None:
            for _ in range(100):
                if (await kv.get(self.k("ttl")))[0] is None:
                    gone["v"] = True
                    return
                await self.let_time_pass(0.1)

        await poll()
        self.assertTrue(gone["v"])
        await wait_until(lambda: len(events) >= 1)
        self.assertEqual(events[0][0].type, DELETE)
        self.assertEqual(events[0][0].kv.key, self.k("ttl"))
        self.assertEqual(_prev(events[0][0]).value, b"v")
        self.assertIsNotNone((await kv.get(self.k("keep")))[0])
        w.cancel()

    async def test_lease_not_found(self) -> None:
        """
        A put with a lease that was never granted fails with LeaseNotFoundError.
        """
        kv = await self.make_kv()
        with self.assertRaises(LeaseNotFoundError):
            await kv.optimistic_put(self.k("x"), b"v", 0, lease=0x7FFF1234)

    # -- concurrency --------------------------------------------------------------------------

    async def test_concurrent_increments(self) -> None:
        """
        50 concurrent optimistic increments of one key, each retrying on conflict, lose none.
        """
        kv = await self.make_kv()
        key = self.k("counter")
        await kv.optimistic_put(key, b"0", 0)

        async def increment() -> None:
            current, _ = await kv.get(key)
            while True:
                n = int(current.value)
                res = await kv.optimistic_put(key, str(n + 1).encode(), current.mod_revision)
                if res.succeeded:
                    return
                current = res.kv

        await gatherResults(
            [Deferred.fromCoroutine(increment()) for _ in range(50)], consumeErrors=True
        )
        got, _ = await kv.get(key)
        self.assertEqual(got.value, b"50")
        self.assertEqual(got.version, 51)
