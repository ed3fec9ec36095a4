"""
Tests for L{kapid.controllers.framework}: the work queue, informers, leader election on a Lease
and the controller manager, on a L{Clock} over the memory store.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from kapid.controllers.framework import (
    Controller,
    ControllerManager,
    FunctionHandler,
    Informer,
    LeaderElector,
    QueueMetrics,
    WorkQueue,
)
from kapid.options.controllers import enabled_controllers
from tests.controllers.helpers import World


class WorkQueueTests(SynchronousTestCase):
    """
    De-duplication, delays, retries and metrics.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.metrics = QueueMetrics()
        self.queue = WorkQueue("test", self.clock, self.metrics)

    def got(self) -> Any:
        return self.successResultOf(self.queue.get())

    def test_dedup(self) -> None:
        """
        A key added twice before it is taken is processed once, in first-added order.
        """
        for k in ("a", "b", "a"):
            self.queue.add(k)
        self.assertEqual(len(self.queue), 2)
        self.assertEqual([self.got(), self.got()], ["a", "b"])
        self.assertNoResult(self.queue.get())

    def test_add_while_processing(self) -> None:
        """
        A key added while a worker has it comes back only after L{WorkQueue.done}.
        """
        self.queue.add("a")
        self.assertEqual(self.got(), "a")
        self.queue.add("a")
        self.assertEqual(len(self.queue), 0)
        waiting = self.queue.get()
        self.assertNoResult(waiting)
        self.queue.done("a")
        self.assertEqual(self.successResultOf(waiting), "a")

    def test_waiting_worker_and_shutdown(self) -> None:
        """
        A waiting worker gets the next key; after shut_down workers get None.
        """
        d = self.queue.get()
        self.queue.add("x")
        self.assertEqual(self.successResultOf(d), "x")
        d = self.queue.get()
        self.queue.shut_down()
        self.assertIsNone(self.successResultOf(d))
        self.queue.add("y")
        self.assertIsNone(self.got())

    def test_add_after_and_backoff(self) -> None:
        """
        Delayed adds fire on the clock (the earlier of two wins); retries back off exponentially
        from 5ms and reset on forget.
        """
        self.queue.add_after("a", 10)
        self.queue.add_after("a", 3)
        self.clock.advance(2.9)
        self.assertEqual(len(self.queue), 0)
        self.clock.advance(0.1)
        self.assertEqual(len(self.queue), 1)
        self.assertEqual(self.got(), "a")
        self.queue.done("a")
        delays = [self.queue.rate_limiter.when("b") for _ in range(4)]
        self.assertEqual(delays, [0.005, 0.01, 0.02, 0.04])
        self.assertEqual(self.queue.num_requeues("b"), 4)
        self.queue.forget("b")
        self.queue.add_rate_limited("b")
        self.clock.advance(0.005)
        self.assertEqual(self.got(), "b")

    def test_metrics(self) -> None:
        """
        kube's workqueue metric names, labelled by queue name.
        """
        self.queue.add("a")
        self.queue.add("b")
        self.clock.advance(2)
        self.got()
        self.queue.add_rate_limited("z")
        text = generate_latest(self.metrics.registry).decode()
        self.assertIn('workqueue_adds_total{name="test"} 2.0', text)
        self.assertIn('workqueue_depth{name="test"} 1.0', text)
        self.assertIn('workqueue_retries_total{name="test"} 1.0', text)
        self.assertIn('workqueue_queue_duration_seconds_count{name="test"} 1.0', text)
        self.assertIn("workqueue_work_duration_seconds", text)


class InformerTests(TestCase):
    """
    Informers list, watch, re-list after a watch ends and resync.
    """

    async def test_list_watch_relist(self) -> None:
        """
        Existing objects arrive as adds, then changes as they happen; after the watch ends the
        re-list delivers what was missed as adds, updates and deletes.
        """
        w = World(custom=False)
        await w.start()
        await w.create("", "configmaps", "default", "a")
        await w.create("", "configmaps", "default", "b")
        store = w.store("", "configmaps")
        inf = Informer(store.storage, store.list_key(""), w.clock, "configmaps", resync_period=30)
        seen: list[tuple[str, str]] = []
        inf.add_handler(FunctionHandler(
            add=lambda o: seen.append(("add", o["metadata"]["name"])),
            update=lambda o, n: seen.append(("update", n["metadata"]["name"])),
            delete=lambda o: seen.append(("delete", o["metadata"]["name"])),
        ))
        inf.start()
        self.addCleanup(inf.stop)
        await inf.synced()
        await w.create("", "configmaps", "default", "c")
        await w.settle()
        self.assertEqual(sorted(seen), [("add", "a"), ("add", "b"), ("add", "c")])
        self.assertEqual(sorted(inf.items), ["default/a", "default/b", "default/c"])
        seen.clear()
        inf._watcher.stop()
        await store.delete("default", "a", {}, "v1")
        await store.update("default", "b", lambda cur: {**cur, "data": {"k": "v"}}, "v1")
        await w.create("", "configmaps", "default", "d")
        await w.settle()
        self.assertEqual(seen, [])
        w.clock.advance(inf.retry_delay)
        await w.settle()
        self.assertEqual(sorted(seen), [("add", "d"), ("delete", "a"), ("update", "b")])
        seen.clear()
        w.clock.advance(30)
        self.assertEqual(sorted(seen), [("update", "b"), ("update", "c"), ("update", "d")])


class _ExpiringWatches:
    """
    A storage whose first C{expire} watches end at once with a 410 C{ERROR} event (as a watch cache
    that started after the list's revision answers), delegating everything else.
    """

    def __init__(self, storage: Any, expire: int) -> None:
        self.storage = storage
        self.expire = expire
        self.lists = 0

    def get_list(self, *args: Any, **kw: Any) -> Any:
        self.lists += 1
        return self.storage.get_list(*args, **kw)

    def watch(self, key: str, opts: Any, on_event: Any) -> Any:
        if self.expire <= 0:
            return self.storage.watch(key, opts, on_event)
        self.expire -= 1
        from kapid.storage.interfaces import ERROR, Event, ExpiredError

        def expired(watcher: Any) -> Any:
            on_event(Event(ERROR, None, ExpiredError("too old resource version")))
            watcher.stop()  # after an ERROR event the watch ends
            return watcher

        return self.storage.watch(key, opts, lambda e: None).addCallback(expired)


class InformerExpiryTests(TestCase):
    """
    A watch expired right after the informer's list is followed by an immediate re-list, once.
    """

    async def test_relist_at_once_then_wait(self) -> None:
        """
        The first 410 after a list re-lists at once; a second in a row waits C{retry_delay}.
        """
        w = World(custom=False)
        await w.start()
        store = w.store("", "configmaps")
        storage = _ExpiringWatches(store.storage, expire=2)
        inf = Informer(storage, store.list_key(""), w.clock, "configmaps")
        inf.start()
        self.addCleanup(inf.stop)
        await inf.synced()
        await w.settle()
        w.clock.advance(0)
        await w.settle()
        self.assertEqual(storage.lists, 2)
        w.clock.advance(inf.retry_delay / 2)
        await w.settle()
        self.assertEqual(storage.lists, 2)
        w.clock.advance(inf.retry_delay / 2)
        await w.settle()
        self.assertEqual(storage.lists, 3)
        await w.create("", "configmaps", "default", "late")
        await w.settle()
        self.assertEqual(sorted(inf.items), ["default/late"])


class LeaderElectionTests(TestCase):
    """
    client-go's leader election semantics on a Lease, on a clock.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.world = World(custom=False)
        await self.world.start()
        self.leases = self.world.store("coordination.k8s.io", "leases")
        self.events: list[str] = []

    def elector(self, identity: str) -> LeaderElector:
        e = LeaderElector(
            self.leases, self.world.clock, "set", identity,
            lambda: self.events.append(f"{identity} started"), lambda: self.events.append(f"{identity} stopped"),
            lease_duration=15, renew_deadline=10, retry_period=2, rand=lambda: 0.0,
        )
        self.addCleanup(lambda: setattr(e, "stopped", True))
        return e

    async def lease(self) -> dict:
        return await self.leases.get("kube-system", "set", "v1")

    async def test_one_leader_then_takeover_within_lease_duration(self) -> None:
        """
        The first candidate creates the Lease and leads; the second waits; when the leader dies
        (stops renewing) the second takes over once the lease has not changed for its duration,
        counting a transition.
        """
        a, b = self.elector("a"), self.elector("b")
        self.assertTrue(await a.start())
        self.assertFalse(await b.start())
        spec = (await self.lease())["spec"]
        self.assertEqual((spec["holderIdentity"], spec["leaseDurationSeconds"], spec["leaseTransitions"]), ("a", 15, 0))
        for _ in range(10):
            await self.world.settle(rounds=3, step=1)
        self.assertEqual(self.events, ["a started"])
        # a dies without releasing
        a.stopped = True
        a._timer.cancel()
        died = self.world.clock.seconds()
        while not b.leading:
            await self.world.settle(rounds=1, step=0.5)
        took = self.world.clock.seconds() - died
        self.assertTrue(13 <= took <= 15 + 2 * 2.2, took)
        spec = (await self.lease())["spec"]
        self.assertEqual((spec["holderIdentity"], spec["leaseTransitions"]), ("b", 1))
        self.assertEqual(self.events, ["a started", "b started"])

    async def test_release_on_stop(self) -> None:
        """
        A leader that stops clears the holder, and another candidate leads at its next try.
        """
        a, b = self.elector("a"), self.elector("b")
        await a.start()
        await b.start()
        await a.stop()
        spec = (await self.lease())["spec"]
        self.assertNotIn("holderIdentity", spec)
        self.assertEqual(spec["leaseDurationSeconds"], 1)
        await self.world.settle(rounds=3, step=2)
        self.assertTrue(b.leading)
        self.assertEqual(self.events, ["a started", "a stopped", "b started"])

    async def test_lost_after_renew_deadline(self) -> None:
        """
        A leader that cannot renew (someone else took the Lease) stops leading after the renew
        deadline, not before.
        """
        a = self.elector("a")
        await a.start()

        def steal(cur: Any) -> dict:
            cur = dict(cur)
            cur["spec"] = {**cur["spec"], "holderIdentity": "intruder"}
            return cur

        await self.leases.update("kube-system", "set", steal, "v1")
        await self.world.settle(rounds=4, step=2)
        self.assertTrue(a.leading)
        await self.world.settle(rounds=2, step=2)
        self.assertFalse(a.leading)
        self.assertEqual(self.events, ["a started", "a stopped"])


class Counting(Controller):
    """
    A controller that counts its starts and queues every namespace.
    """

    name = "counting"
    starts: list[str] = []

    def setup(self) -> None:
        Counting.starts.append("start")
        self.synced: list[str] = []
        self.watch(self.ctx.informer("", "namespaces"), FunctionHandler(add=lambda o: self.queue.add(o["metadata"]["name"])))

    async def sync(self, key: Any) -> None:
        if key == "kube-public" and self.queue.num_requeues(key) < 2:
            raise RuntimeError("not yet")
        self.synced.append(key)


class ManagerTests(TestCase):
    """
    The manager runs its controllers only while it leads.
    """

    async def test_controllers_run_on_the_leader_only(self) -> None:
        """
        Of two managers on one store only the leader runs the controllers; when it stops, the
        other starts them; failing keys are retried with backoff.
        """
        w = World(custom=False)
        await w.start()
        Counting.starts = []
        from kapid.controllers.framework import ControllerContext

        ctx2 = ControllerContext(w.registry, w.link.store_for, w.clock)
        election = dict(lease_duration=15, renew_deadline=10, retry_period=2, rand=lambda: 0.0)
        one = ControllerManager(w.ctx, [("counting", Counting)], dict(election, identity="one"))
        two = ControllerManager(ctx2, [("counting", Counting)], dict(election, identity="two"))
        self.addCleanup(two.stop)
        await one.start()
        await two.start()
        await w.settle()
        self.assertEqual((one.state("counting"), two.state("counting")), ("running", "standby"))
        self.assertEqual(Counting.starts, ["start"])
        c = one.controllers["counting"]
        await w.settle(rounds=5, step=0.01)
        self.assertEqual(sorted(c.synced), ["default", "kube-node-lease", "kube-public", "kube-system"])
        await one.stop()
        await w.settle(rounds=3, step=2)
        self.assertEqual((one.state("counting"), two.state("counting")), ("standby", "running"))
        self.assertEqual(Counting.starts, ["start", "start"])
        self.assertEqual(one.state("nope"), "disabled")


class ControllersFlagTests(SynchronousTestCase):
    """
    kube-controller-manager's C{--controllers} syntax.
    """

    def test_syntax(self) -> None:
        """
        C{*} is every default controller, C{-name} removes one, C{name} alone is only that one,
        old short names are accepted, unknown names reported.
        """
        every = ("serviceaccount-controller", "namespace-controller", "garbage-collector-controller",
                 "root-ca-certificate-publisher-controller", "certificatesigningrequest-signing-controller",
                 "validatingadmissionpolicy-status-controller")
        self.assertIn("token-cleaner-controller", enabled_controllers(["*", "tokencleaner"])[0])
        self.assertEqual(enabled_controllers(["*"]), (every, []))
        self.assertEqual(enabled_controllers(["*", "-garbagecollector"]), (every[:2] + every[3:], []))
        self.assertEqual(enabled_controllers(["namespace"]), (("namespace-controller",), []))
        self.assertEqual(enabled_controllers([]), ((), []))
        self.assertEqual(enabled_controllers(["*", "-bogus", "x"])[1], ["-bogus", "x"])


class IdleTests(SynchronousTestCase):
    """
    L{WorkQueue.idle} fires once nothing is queued or processed.
    """

    def test_idle(self) -> None:
        """
        Idle waits for queued and processing keys, not for delayed ones.
        """
        q = WorkQueue("idle", Clock())
        self.successResultOf(q.idle())
        q.add("a")
        q.add_after("b", 5)
        d = q.idle()
        self.assertNoResult(d)
        self.assertEqual(self.successResultOf(q.get()), "a")
        self.assertNoResult(d)
        q.done("a")
        self.successResultOf(d)
