"""
The IStorage contract suite against L{CachingStorage} over the store on each IKV, plus the watch
cache's own behaviours (fan-out, slow watchers, bookmarks, reads from the cache, waits).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.cacher import CachingStorage
from kapid.storage.interfaces import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    CompactedError,
    ExpiredError,
    ListOptions,
    TooLargeResourceVersionError,
)
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


class CountingKV:
    """
    A MemoryKV wrapper that counts watch and list calls and keeps the watches it opened.
    """

    def __init__(self, kv: MemoryKV) -> None:
        self._kv = kv
        self.watches: list[Any] = []
        self.lists = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)

    def watch(self, prefix: bytes, start_revision: int, on_events: Any) -> Any:
        """
        Count and keep the watch.
        """
        w = self._kv.watch(prefix, start_revision, on_events)
        self.watches.append(w)
        return w

    def list(self, *args: Any, **kwargs: Any) -> Any:
        """
        Count the list.
        """
        self.lists += 1
        return self._kv.list(*args, **kwargs)


RES = "/registry/configmaps/"


def cm(name: str, ns: str = "ns", **extra: Any) -> dict:
    """
    A ConfigMap.
    """
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, **extra}


class CacherTests(TestCase):
    """
    The watch cache's own behaviours, on a Clock over a counting MemoryKV.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.kv = CountingKV(MemoryKV(self.clock))
        self.addCleanup(self.kv.close)
        self.cs = CachingStorage(
            Store(self.kv, self.clock), self.clock, cache_size=5, max_pending=3, bookmark_interval=60
        )
        self.addCleanup(self.cs.close)

    def run_(self, coro: Any) -> Any:
        """
        Run a coroutine that completes without the reactor (everything here is synchronous).
        """
        from twisted.internet.defer import Deferred

        return self.successResultOf(Deferred.fromCoroutine(coro))

    def watch(self, rv: str = "0", bookmarks: bool = False, on_event: Any = None) -> tuple[Any, list]:
        """
        A watch of RES collecting events (or calling C{on_event}).
        """
        events: list = []
        opts = ListOptions(resource_version=rv, allow_watch_bookmarks=bookmarks)
        w = self.successResultOf(self.cs.watch(RES, opts, on_event or events.append))
        self.addCleanup(w.stop)
        return w, events

    def test_fan_out_one_upstream_watch(self) -> None:
        """
        A thousand watchers of one resource cost one IKV watch and each receives every event.
        """
        self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        watchers = [self.watch() for _ in range(1000)]
        self.successResultOf(self.cs.create(RES + "ns/b", cm("b")))
        self.successResultOf(self.cs.delete(RES + "ns/a"))
        self.assertEqual(len(self.kv.watches), 1)
        self.assertEqual(self.cs.stats.upstream_watches, 1)
        for _, events in watchers:
            self.assertEqual([(e.type, e.object["metadata"]["name"]) for e in events],
                             [(ADDED, "a"), (ADDED, "b"), (DELETED, "a")])
        self.assertEqual(self.cs.stats.events_delivered, 3000)

    def test_separate_resources_separate_cachers(self) -> None:
        """
        Each resource prefix gets its own cacher; namespaced and single-object watches share it.
        """
        self.watch()
        self.successResultOf(self.cs.watch("/registry/secrets/", ListOptions(), lambda e: None))
        self.successResultOf(self.cs.watch(RES + "ns/", ListOptions(), lambda e: None))
        self.successResultOf(
            self.cs.watch(RES + "ns/x", ListOptions(recursive=False), lambda e: None)
        )
        self.assertEqual(sorted(self.cs.cachers), ["/registry/configmaps/", "/registry/secrets/"])
        self.assertEqual(len(self.kv.watches), 2)
        self.assertEqual(self.cs.resource_prefix("/registry/services/specs/ns/a"), "/registry/services/specs/")
        self.assertEqual(self.cs.resource_prefix("/registry/example.com/widgets/ns/a"), "/registry/example.com/widgets/")
        self.assertIsNone(self.cs.resource_prefix("/other/x"))

    def test_bad_watcher_does_not_affect_others(self) -> None:
        """
        A watcher whose callback raises is cut off; the others keep receiving.
        """
        def boom(e: Any) -> None:
            raise RuntimeError("broken consumer")

        bad, _ = self.watch(on_event=boom)
        good, events = self.watch()
        self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        self.assertTrue(bad.done.called)
        self.successResultOf(self.cs.create(RES + "ns/b", cm("b")))
        self.assertEqual(len(events), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_slow_watcher_cut_off(self) -> None:
        """
        A watcher that does not take its events (its Deferred stays pending) is cut off past the
        queue bound, and its stream ends; a fast watcher gets everything.
        """
        from twisted.internet.defer import Deferred

        pending: list[Deferred] = []

        def slow(e: Any) -> Deferred:
            d: Deferred = Deferred()
            pending.append(d)
            return d

        slow_w, _ = self.watch(on_event=slow)
        fast_w, events = self.watch()
        for i in range(6):
            self.successResultOf(self.cs.create(RES + f"ns/o{i}", cm(f"o{i}")))
        self.assertTrue(slow_w.done.called)
        self.assertEqual(self.cs.stats.watchers_cut, 1)
        self.assertEqual(len(pending), 1)
        self.assertFalse(fast_w.done.called)
        self.assertEqual(len(events), 6)

    def test_backpressure_within_bound(self) -> None:
        """
        Events queued while a consumer's Deferred is pending are delivered, in order, when it fires.
        """
        from twisted.internet.defer import Deferred

        got: list = []
        gate: list[Deferred] = []

        def consumer(e: Any) -> Any:
            got.append(e.object["metadata"]["name"])
            if not gate:
                d: Deferred = Deferred()
                gate.append(d)
                return d
            return None

        w, _ = self.watch(on_event=consumer)
        for i in range(3):
            self.successResultOf(self.cs.create(RES + f"ns/o{i}", cm(f"o{i}")))
        self.assertEqual(got, ["o0"])
        gate[0].callback(None)
        self.assertEqual(got, ["o0", "o1", "o2"])
        self.assertFalse(w.done.called)

    def test_bookmarks(self) -> None:
        """
        Watchers that ask get a BOOKMARK with the cache's resourceVersion every interval on the
        clock, and on request; others get none.
        """
        w, events = self.watch(bookmarks=True)
        _, plain = self.watch()
        made = self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        self.clock.advance(59)
        self.assertEqual([e.type for e in events], [ADDED])
        self.clock.advance(1)
        self.assertEqual([e.type for e in events], [ADDED, BOOKMARK])
        self.assertEqual(events[1].object, {"metadata": {"resourceVersion": made["metadata"]["resourceVersion"]}})
        self.clock.advance(60)
        self.assertEqual(len(events), 3)
        w.send_bookmark()
        self.assertEqual(len(events), 4)
        self.assertEqual([e.type for e in plain], [ADDED])
        w.stop()
        self.clock.advance(120)
        self.assertEqual(len(events), 4)

    def test_list_at_zero_from_cache(self) -> None:
        """
        Lists and gets at resourceVersion 0 are answered from the cache without reading the KV;
        lists at "" read the KV.
        """
        for n in ("b", "a"):
            self.successResultOf(self.cs.create(RES + f"ns/{n}", cm(n)))
        before = self.kv.lists
        res = self.successResultOf(self.cs.get_list(RES, ListOptions(resource_version="0")))
        self.assertEqual([i["metadata"]["name"] for i in res["items"]], ["a", "b"])
        got = self.successResultOf(self.cs.get(RES + "ns/a", resource_version="0"))
        self.assertEqual(got["metadata"]["name"], "a")
        got["data"] = {"mutated": "yes"}
        again = self.successResultOf(self.cs.get(RES + "ns/a", resource_version="0"))
        self.assertNotIn("data", again)
        self.assertEqual(self.kv.lists, before)
        self.successResultOf(self.cs.get_list(RES, ListOptions()))
        self.assertEqual(self.kv.lists, before + 1)

    def test_list_encoded_keeps_bytes_until_change(self) -> None:
        """
        Encoded lists at resourceVersion 0 encode each cached object once per form, re-encode only
        what changed or is new, drop deleted objects, never change the cached objects, and pass
        lists the cache does not serve through as plain items.
        """
        import copy

        import orjson

        for n in ("b", "a"):
            self.successResultOf(self.cs.create(RES + f"ns/{n}", cm(n)))
        calls: list[str] = []

        def encode(o: dict) -> bytes:
            calls.append(o["metadata"]["name"])
            return orjson.dumps(o)

        zero = ListOptions(resource_version="0")
        res = self.successResultOf(self.cs.get_list_encoded(RES, zero, "f", encode))
        plain = self.successResultOf(self.cs.get_list(RES, zero))
        self.assertEqual([orjson.loads(b) for b in res["encoded"]], plain["items"])
        self.assertEqual(res["resourceVersion"], plain["resourceVersion"])
        self.assertEqual(calls, ["a", "b"])
        cacher = self.cs.cachers[RES]
        before = copy.deepcopy(cacher.store)
        self.successResultOf(self.cs.get_list_encoded(RES, zero, "f", encode))
        self.assertEqual(calls, ["a", "b"])
        self.successResultOf(self.cs.get_list_encoded(RES, zero, "g", encode))
        self.assertEqual(calls, ["a", "b", "a", "b"])
        self.assertEqual(cacher.store, before)

        def relabel(o: Any) -> Any:
            o = copy.deepcopy(o)
            o["metadata"]["labels"] = {"x": "y"}
            return o

        self.successResultOf(self.cs.guaranteed_update(RES + "ns/a", relabel))
        self.successResultOf(self.cs.create(RES + "ns/c", cm("c")))
        self.successResultOf(self.cs.delete(RES + "ns/b"))
        del calls[:]
        res = self.successResultOf(self.cs.get_list_encoded(RES, zero, "f", encode))
        self.assertEqual(calls, ["a", "c"])
        items = [orjson.loads(b) for b in res["encoded"]]
        self.assertEqual([i["metadata"]["name"] for i in items], ["a", "c"])
        self.assertEqual(items[0]["metadata"]["labels"], {"x": "y"})
        self.assertEqual(sorted(cacher.encoded["f"]), [RES + "ns/a", RES + "ns/c"])
        through = self.successResultOf(self.cs.get_list_encoded(RES, ListOptions(), "f", encode))
        self.assertEqual([i["metadata"]["name"] for i in through["items"]], ["a", "c"])
        self.assertNotIn("encoded", through)

    def test_wait_for_future_resource_version(self) -> None:
        """
        A read at a resourceVersion the store has not reached waits until the cache has it.
        """
        a = self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        want = int(a["metadata"]["resourceVersion"]) + 1
        d = self.cs.get_list(RES, ListOptions(resource_version=str(want), resource_version_match="Exact"))
        g = self.cs.get(RES + "ns/b", resource_version=str(want))
        self.assertNoResult(d)
        self.assertNoResult(g)
        self.clock.advance(1)
        self.assertNoResult(d)
        self.successResultOf(self.cs.create(RES + "ns/b", cm("b")))
        res = self.successResultOf(d)
        self.assertEqual([i["metadata"]["name"] for i in res["items"]], ["a", "b"])
        self.assertEqual(res["resourceVersion"], str(want))
        self.assertEqual(self.successResultOf(g)["metadata"]["name"], "b")

    def test_future_resource_version_times_out(self) -> None:
        """
        A read at a resourceVersion that does not come fails with TooLargeResourceVersionError
        after about three seconds on the clock.
        """
        self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        d = self.cs.get_list(RES, ListOptions(resource_version="1000"))
        self.clock.advance(2.9)
        self.assertNoResult(d)
        self.clock.advance(0.2)
        err = self.failureResultOf(d, TooLargeResourceVersionError).value
        self.assertEqual(err.requested, 1000)

    def test_watch_older_than_ring(self) -> None:
        """
        A watch from a resourceVersion the ring no longer holds gets a 410 ERROR and ends; one
        inside the ring replays from there.
        """
        first = self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        for i in range(6):
            self.successResultOf(self.cs.guaranteed_update(RES + "ns/a", lambda cur, i=i: {**cur, "data": {"i": str(i)}}))
        w, events = self.watch(rv=first["metadata"]["resourceVersion"])
        self.assertTrue(w.done.called)
        self.assertEqual([e.type for e in events], [ERROR])
        self.assertIsInstance(events[0].error, ExpiredError)
        self.assertTrue(events[0].error.message.startswith("too old resource version: "))
        cur = int(self.successResultOf(self.cs.current_resource_version()))
        _, recent = self.watch(rv=str(cur - 2))
        self.assertEqual([e.type for e in recent], [MODIFIED, MODIFIED])

    def test_upstream_failure_relists(self) -> None:
        """
        When the upstream watch fails, current watchers end; the cacher re-lists and re-watches
        after a delay on the clock, and new watchers see the new state.
        """
        self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        w, events = self.watch()
        self.kv.watches[-1].fail(CompactedError(5, 10))
        self.assertTrue(w.done.called)
        self.assertEqual([e.type for e in events], [ADDED])
        self.assertFalse(self.cs.cachers[RES].ready)
        # meanwhile reads pass through to the store
        res = self.successResultOf(self.cs.get_list(RES, ListOptions(resource_version="0")))
        self.assertEqual(len(res["items"]), 1)
        self.clock.advance(1)
        self.assertTrue(self.cs.cachers[RES].ready)
        self.assertEqual(len(self.kv.watches), 2)
        self.assertEqual(self.cs.stats.relists, 2)
        w2, events2 = self.watch()
        self.successResultOf(self.cs.create(RES + "ns/b", cm("b")))
        self.assertEqual([e.type for e in events2], [ADDED, ADDED])


    def test_upstream_end_relists(self) -> None:
        """
        When the upstream watch just ends (no error), the cacher also ends its watchers and
        re-lists and re-watches.
        """
        self.successResultOf(self.cs.create(RES + "ns/a", cm("a")))
        w, _ = self.watch()
        self.kv.watches[-1].cancel()
        self.assertTrue(w.done.called)
        self.clock.advance(1)
        self.assertTrue(self.cs.cachers[RES].ready)
        self.assertEqual(len(self.kv.watches), 2)


class EmbeddedCacherContractTests(IStorageContractMixin, TestCase):
    """
    CachingStorage over Store over EmbeddedKV passes the IStorage contract, time on a Clock.
    """

    history_churn = 12

    async def make_storage(self) -> Any:
        """
        A CachingStorage over a Store over a fresh EmbeddedKV.
        """
        from twisted.internet import reactor

        from kapid.storage.embedded import EmbeddedKV

        self.clock = Clock()
        self.kv = await EmbeddedKV.open(self.mktemp(), reactor, clock=self.clock)
        self.addCleanup(self.kv.close)
        s = CachingStorage(Store(self.kv, self.clock), self.clock, cache_size=10)
        self.addCleanup(s.close)
        return s

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the Clock in steps, letting the SQLite thread's results in between.
        """
        from tests.storage.test_store import advance_in_steps

        await advance_in_steps(self.clock, seconds)


class CacherConsistentWatchTests(TestCase):
    """
    A watch at "" when the cache is behind the store's revision.
    """

    def test_consistent_watch_reads_initial_state_from_store(self) -> None:
        """
        When other resources moved the store's revision past the cache's, a watch at "" takes its
        initial state from one store list and goes on with the cache's live events, no wait.
        """
        clock = Clock()
        kv = CountingKV(MemoryKV(clock))
        cs = CachingStorage(Store(kv, clock), clock)
        self.addCleanup(cs.close)
        self.successResultOf(cs.create(RES + "ns/a", cm("a")))
        self.successResultOf(kv.optimistic_put(b"/registry/secrets/ns/s", b"{}", 0))
        lists = kv.lists
        events: list = []
        w = self.successResultOf(cs.watch(RES, ListOptions(), events.append))
        self.addCleanup(w.stop)
        self.assertEqual(kv.lists, lists + 1)
        self.assertEqual(len(kv.watches), 1)
        self.successResultOf(cs.create(RES + "ns/b", cm("b")))
        self.assertEqual([(e.type, e.object["metadata"]["name"]) for e in events], [(ADDED, "a"), (ADDED, "b")])


class StorageForTests(TestCase):
    """
    The daemon's storage builder.
    """

    def test_storage_for(self) -> None:
        """
        With the watch cache on, a CachingStorage over a Store of the given size and prefix;
        off, the plain Store.
        """
        from zope.interface.verify import verifyObject

        from kapid.storage.cacher import storage_for
        from kapid.storage.interfaces import IStorage

        clock = Clock()
        kv = MemoryKV(clock)
        cached = storage_for(kv, clock, "/kapid", cache_size=7)
        self.assertIsInstance(cached, CachingStorage)
        self.assertEqual((cached.cache_size, cached.prefix), (7, "/kapid/"))
        self.assertEqual(cached.underlying.prefix, "/kapid/")
        plain = storage_for(kv, clock, watch_cache=False)
        self.assertIsInstance(plain, Store)
        verifyObject(IStorage, cached)
        verifyObject(IStorage, plain)

    def test_storage_for_sizes(self) -> None:
        """
        C{--watch-cache-sizes}: a resource's own size sets its ring, 0 turns its cache off (its
        requests pass through, no upstream watch); a default size of 0 caches only the resources
        with a size of their own; nothing cached at all gives the plain Store.
        """
        from kapid.storage.cacher import storage_for

        clock = Clock()
        kv = CountingKV(MemoryKV(clock))
        cs = storage_for(kv, clock, cache_size=5, cache_sizes={
            "/registry/pods/": 3, "/registry/secrets/": 0,
        })
        self.addCleanup(cs.close)
        self.assertIsInstance(cs, CachingStorage)
        self.successResultOf(cs.get_list("/registry/pods/", ListOptions(resource_version="0")))
        self.successResultOf(cs.get_list("/registry/secrets/", ListOptions(resource_version="0")))
        self.successResultOf(cs.get_list(RES, ListOptions(resource_version="0")))
        self.assertEqual(sorted(cs.cachers), ["/registry/configmaps/", "/registry/pods/"])
        self.assertEqual(cs.cachers["/registry/pods/"].ring.maxlen, 3)
        self.assertEqual(cs.cachers[RES].ring.maxlen, 5)
        self.assertEqual(len(kv.watches), 2)
        self.successResultOf(cs.watch("/registry/secrets/", ListOptions(), lambda e: None))
        self.assertEqual(len(kv.watches), 3)  # a secrets watch goes straight to the store

        only = storage_for(kv, clock, cache_size=0, cache_sizes={"/registry/pods/": 4})
        self.addCleanup(only.close)
        self.assertIsInstance(only, CachingStorage)
        self.assertEqual(only.resource_prefix("/registry/pods/ns/a"), "/registry/pods/")
        self.assertIsNone(only.resource_prefix(RES + "ns/a"))
        only.register_prefix(RES)  # a prefix declared without a size of its own stays uncached
        self.assertIsNone(only.resource_prefix(RES + "ns/a"))
        self.assertIsInstance(storage_for(kv, clock, cache_size=0), Store)
