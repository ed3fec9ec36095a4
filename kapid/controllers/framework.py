"""
kapid's small controller framework: what kube's controllers get from client-go, in process.

  - L{Informer}: one resource's objects kept current from the API storage (the watch cache) with
    C{IStorage.get_list} then C{watch}, no HTTP loop-back; handlers hear adds, updates and deletes;
    a watch that ends is followed by a re-list (differences delivered as events); optional resync.
  - L{InformerFactory}: one shared informer per resource (built-in or custom).
  - L{WorkQueue}: de-duplicated keys (a key queued twice is processed once; a key queued while it
    is processed runs again afterwards, never twice at once), delayed adds and per-key exponential
    retries on an C{IReactorTime}, with kube's C{workqueue_*} metrics.
  - L{Controller}: informers + a queue + workers calling C{sync(key)}; a failed key is logged in
    one line and retried later; L{Controller.stop} ends it cleanly.
  - L{LeaderElector}: client-go's C{leaderelection} on a C{coordination.k8s.io} Lease (holder
    identity, lease duration, renew deadline, retry period), so one of several kapid processes on
    one etcd leads a controller set.
  - L{ControllerManager}: the enabled controllers of a set, started while this process leads.
"""

from __future__ import annotations

import random
import socket
import uuid
from typing import Any, Callable, Iterable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError
from kapid.storage.interfaces import ADDED, DELETED, ERROR, MODIFIED, Event, ExpiredError, ListOptions

log = Logger()


# -------------------------------------------------------------------------------------------------
# metrics


class QueueMetrics:
    """
    kube's work-queue metrics (C{k8s.io/component-base/metrics/prometheus/workqueue}), labelled by
    queue name, in a prometheus C{CollectorRegistry} (the server's, so they are in C{/metrics}).
    """

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry if registry is not None else CollectorRegistry()
        buckets = tuple(1e-8 * 10**i for i in range(10))
        self.depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=self.registry)
        self.adds = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=self.registry)
        self.latency = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            ["name"], buckets=buckets, registry=self.registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ["name"], buckets=buckets, registry=self.registry,
        )
        self.retries = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"], registry=self.registry)
        self.unfinished = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
            "threads by observing the rate at which this increases.",
            ["name"], registry=self.registry,
        )
        self.longest = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            ["name"], registry=self.registry,
        )


# -------------------------------------------------------------------------------------------------
# the work queue


class ExponentialBackoff:
    """
    client-go's C{ItemExponentialFailureRateLimiter}: C{base * 2**failures}, at most C{maximum}.
    """

    def __init__(self, base: float = 0.005, maximum: float = 1000.0) -> None:
        self.base = base
        self.maximum = maximum
        self.failures: dict[Any, int] = {}

    def when(self, item: Any) -> float:
        """
        The delay before C{item}'s next try (counting this failure).
        """
        n = self.failures.get(item, 0)
        self.failures[item] = n + 1
        return min(self.maximum, self.base * (2 ** min(n, 64)))

    def forget(self, item: Any) -> None:
        """
        C{item} succeeded: its next failure starts from C{base} again.
        """
        self.failures.pop(item, None)

    def num_requeues(self, item: Any) -> int:
        """
        How many times C{item} failed since it last succeeded.
        """
        return self.failures.get(item, 0)


class WorkQueue:
    """
    client-go's rate-limited, delaying work queue on a clock.

    A key is at most once in the queue (L{add} of a queued key does nothing); a key added while a
    worker has it is queued again when the worker calls L{done}, so no two workers ever have one
    key. L{get} fires with the next key, or None once the queue is shut down.
    """

    def __init__(
        self,
        name: str,
        clock: IReactorTime,
        metrics: Optional[QueueMetrics] = None,
        rate_limiter: Optional[ExponentialBackoff] = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.metrics = metrics
        self.rate_limiter = rate_limiter or ExponentialBackoff()
        self._queue: list[Any] = []
        self._dirty: set[Any] = set()
        self._processing: dict[Any, float] = {}
        self._added_at: dict[Any, float] = {}
        self._waiting: dict[Any, Any] = {}
        self._getters: list[Deferred] = []
        self._idle_waiters: list[Deferred] = []
        self.shutting_down = False
        if metrics is not None:
            # every series of the queue exists from the start, as kube's do
            metrics.depth.labels(name).set(0)
            metrics.adds.labels(name)
            metrics.retries.labels(name)
            metrics.latency.labels(name)
            metrics.work_duration.labels(name)
            metrics.unfinished.labels(name).set(0)
            metrics.longest.labels(name).set(0)

    def __len__(self) -> int:
        return len(self._queue)

    def idle(self) -> Deferred:
        """
        Fires once nothing is queued or being processed (delayed adds not counted).
        """
        d: Deferred = Deferred()
        self._idle_waiters.append(d)
        self._check_idle()
        return d

    def _check_idle(self) -> None:
        if self._idle_waiters and (self.shutting_down or (not self._queue and not self._processing)):
            waiters, self._idle_waiters = self._idle_waiters, []
            for d in waiters:
                d.callback(None)

    def _depth(self) -> None:
        if self.metrics is not None:
            self.metrics.depth.labels(self.name).set(len(self._queue))

    def add(self, item: Any) -> None:
        """
        Queue C{item} unless it is queued already.
        """
        if self.shutting_down or item in self._dirty:
            return
        if self.metrics is not None:
            self.metrics.adds.labels(self.name).inc()
        self._dirty.add(item)
        if item in self._processing:
            return
        self._push(item)

    def _push(self, item: Any) -> None:
        self._added_at.setdefault(item, self.clock.seconds())
        if self._getters:
            self._dirty.discard(item)
            self._start(item)
            self._getters.pop(0).callback(item)
            return
        self._queue.append(item)
        self._depth()

    def _start(self, item: Any) -> None:
        now = self.clock.seconds()
        added = self._added_at.pop(item, now)
        if self.metrics is not None:
            self.metrics.latency.labels(self.name).observe(max(0.0, now - added))
        self._processing[item] = now
        self.update_unfinished()

    def add_after(self, item: Any, delay: float) -> None:
        """
        Queue C{item} after C{delay} seconds (the earlier of two pending delays wins).
        """
        if self.shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        when = self.clock.seconds() + delay
        pending = self._waiting.get(item)
        if pending is not None and pending.active():
            if pending.getTime() <= when:
                return
            pending.cancel()

        def fire() -> None:
            self._waiting.pop(item, None)
            self.add(item)

        self._waiting[item] = self.clock.callLater(delay, fire)

    def add_rate_limited(self, item: Any) -> None:
        """
        Queue C{item} again after its backoff (a retry).
        """
        if self.metrics is not None:
            self.metrics.retries.labels(self.name).inc()
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Any) -> None:
        """
        C{item} succeeded: reset its backoff.
        """
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Any) -> int:
        """
        How many retries C{item} has had since it last succeeded.
        """
        return self.rate_limiter.num_requeues(item)

    def get(self) -> Deferred:
        """
        A Deferred firing with the next key (now or when one comes), or None after L{shut_down}.
        """
        if self._queue:
            item = self._queue.pop(0)
            self._dirty.discard(item)
            self._start(item)
            self._depth()
            return succeed(item)
        if self.shutting_down:
            return succeed(None)
        d: Deferred = Deferred()
        self._getters.append(d)
        return d

    def done(self, item: Any) -> None:
        """
        The worker finished C{item}; queue it again when it was added meanwhile.
        """
        started = self._processing.pop(item, None)
        if started is not None and self.metrics is not None:
            self.metrics.work_duration.labels(self.name).observe(max(0.0, self.clock.seconds() - started))
        self.update_unfinished()
        if item in self._dirty and not self.shutting_down:
            # added again while it was processed: its turn now
            self._push(item)
        self._check_idle()

    def update_unfinished(self) -> None:
        """
        Set the unfinished-work gauges from the items being processed now.
        """
        if self.metrics is None:
            return
        now = self.clock.seconds()
        ages = [now - t for t in self._processing.values()]
        self.metrics.unfinished.labels(self.name).set(sum(ages))
        self.metrics.longest.labels(self.name).set(max(ages) if ages else 0.0)

    def shut_down(self) -> None:
        """
        Take no more keys; waiting workers get None; pending delayed adds are cancelled.
        """
        self.shutting_down = True
        for call in self._waiting.values():
            if call.active():
                call.cancel()
        self._waiting.clear()
        self._queue.clear()
        self._dirty.clear()
        self._depth()
        getters, self._getters = self._getters, []
        for d in getters:
            d.callback(None)
        self._check_idle()


# -------------------------------------------------------------------------------------------------
# informers


def object_key(obj: dict) -> str:
    """
    client-go's C{MetaNamespaceKeyFunc}: C{namespace/name}, or C{name} for cluster-scoped objects.
    """
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    return f"{ns}/{meta.get('name', '')}" if ns else meta.get("name", "")


class EventHandler:
    """
    What an informer tells: override any of the three (they must not block: queue work).
    """

    def on_add(self, obj: dict) -> None:
        """
        C{obj} appeared (or was there at the first list).
        """

    def on_update(self, old: dict, new: dict) -> None:
        """
        C{old} became C{new} (or, on a resync, C{old is new}).
        """

    def on_delete(self, obj: dict) -> None:
        """
        C{obj} went (its last known state).
        """


class FunctionHandler(EventHandler):
    """
    An L{EventHandler} from up to three callables.
    """

    def __init__(
        self,
        add: Optional[Callable[[dict], None]] = None,
        update: Optional[Callable[[dict, dict], None]] = None,
        delete: Optional[Callable[[dict], None]] = None,
    ) -> None:
        self._add, self._update, self._delete = add, update, delete

    def on_add(self, obj: dict) -> None:
        if self._add is not None:
            self._add(obj)

    def on_update(self, old: dict, new: dict) -> None:
        if self._update is not None:
            self._update(old, new)

    def on_delete(self, obj: dict) -> None:
        if self._delete is not None:
            self._delete(obj)


class Informer:
    """
    The objects under one storage prefix, kept current by a list and a watch on the API storage.

    @ivar items: C{{object_key: object}}, current after L{synced} fires.
    """

    def __init__(
        self,
        storage: Any,
        prefix: str,
        clock: IReactorTime,
        name: str = "",
        resync_period: float = 0.0,
        retry_delay: float = 1.0,
    ) -> None:
        self.storage = storage
        self.prefix = prefix
        self.clock = clock
        self.name = name or prefix
        self.resync_period = resync_period
        self.retry_delay = retry_delay
        self.items: dict[str, dict] = {}
        self.handlers: list[EventHandler] = []
        self.has_synced = False
        self.stopped = False
        self.started = False
        self._synced_waiters: list[Deferred] = []
        self._watcher: Any = None
        self._timer: Any = None
        self._resync_timer: Any = None
        #: the watch just expired right after a list: list again at once
        self._relist_now = False
        #: the current watch follows such an immediate re-list (a second expiry waits retry_delay)
        self._relisted = False

    def add_handler(self, handler: EventHandler) -> None:
        """
        Tell C{handler} of every change; once synced, it first hears every current object as added.
        """
        self.handlers.append(handler)
        if self.has_synced:
            for obj in list(self.items.values()):
                self._call(handler.on_add, obj)

    def remove_handler(self, handler: EventHandler) -> None:
        """
        Stop telling C{handler}.
        """
        if handler in self.handlers:
            self.handlers.remove(handler)

    def synced(self) -> Deferred:
        """
        Fires once the first list has been delivered.
        """
        if self.has_synced:
            return succeed(None)
        d: Deferred = Deferred()
        self._synced_waiters.append(d)
        return d

    def get(self, key: str) -> Optional[dict]:
        """
        The cached object of C{key} (C{namespace/name} or C{name}), or None.
        """
        return self.items.get(key)

    def list(self, namespace: Optional[str] = None) -> list[dict]:
        """
        The cached objects (of one namespace when given).
        """
        if namespace is None:
            return list(self.items.values())
        return [o for o in self.items.values() if ((o.get("metadata") or {}).get("namespace") or "") == namespace]

    def start(self) -> None:
        """
        List and watch until L{stop}.
        """
        if self.started:
            return
        self.started = True
        self._schedule_resync()
        Deferred.fromCoroutine(self._run())

    async def _run(self) -> None:
        try:
            res = await self.storage.get_list(self.prefix, ListOptions())
        except Exception as e:
            log.warn("informer {name}: list failed: {e}", name=self.name, e=e)
            self._again()
            return
        if self.stopped:
            return
        fresh = {object_key(o): o for o in res["items"]}
        old = self.items
        self.items = fresh
        for key, obj in old.items():
            if key not in fresh:
                self._emit("on_delete", obj)
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None:
                self._emit("on_add", obj)
            elif (before.get("metadata") or {}).get("resourceVersion") != (obj.get("metadata") or {}).get("resourceVersion"):
                self._emit("on_update", before, obj)
        if not self.has_synced:
            self.has_synced = True
            waiters, self._synced_waiters = self._synced_waiters, []
            for d in waiters:
                d.callback(None)
        try:
            watcher = await self.storage.watch(
                self.prefix, ListOptions(resource_version=res["resourceVersion"]), self._on_event
            )
        except Exception as e:
            log.warn("informer {name}: watch failed: {e}", name=self.name, e=e)
            self._again()
            return
        if self.stopped:
            watcher.stop()
            return
        self._watcher = watcher
        watcher.done.addBoth(self._watch_ended, watcher)

    def _on_event(self, event: Event) -> None:
        if self.stopped:
            return
        if event.type == ERROR:
            # a watch the storage expires (410) right after the list (the kind's watch cache
            # started after the list's revision, as on a fresh server): listed again at once, once
            self._relist_now = isinstance(event.error, ExpiredError) and not self._relisted
            if self._watcher is not None:
                self._watcher.stop()
            return
        obj = event.object
        if obj is None:
            return
        self._relisted = False
        key = object_key(obj)
        if event.type in (ADDED, MODIFIED):
            before = self.items.get(key)
            self.items[key] = obj
            if before is None:
                self._emit("on_add", obj)
            else:
                self._emit("on_update", before, obj)
        elif event.type == DELETED:
            before = self.items.pop(key, None)
            self._emit("on_delete", before if before is not None else obj)

    def _watch_ended(self, _result: Any, watcher: Any) -> None:
        if watcher is self._watcher:
            self._watcher = None
            self._again()

    def _again(self) -> None:
        if self.stopped or (self._timer is not None and self._timer.active()):
            return
        now, self._relist_now = self._relist_now, False
        self._relisted = now

        def relist() -> None:
            self._timer = None
            if not self.stopped:
                Deferred.fromCoroutine(self._run())

        self._timer = self.clock.callLater(0 if now else self.retry_delay, relist)

    def _schedule_resync(self) -> None:
        if self.resync_period <= 0 or self.stopped:
            return

        def resync() -> None:
            self._resync_timer = None
            if self.stopped:
                return
            if self.has_synced:
                for obj in list(self.items.values()):
                    self._emit("on_update", obj, obj)
            self._schedule_resync()

        self._resync_timer = self.clock.callLater(self.resync_period, resync)

    def _emit(self, method: str, *args: dict) -> None:
        for handler in list(self.handlers):
            self._call(getattr(handler, method), *args)

    def _call(self, fn: Callable, *args: dict) -> None:
        try:
            fn(*args)
        except Exception:
            log.failure("informer {name}: a handler failed", name=self.name)

    def stop(self) -> None:
        """
        End the watch and the timers; waiters for L{synced} never fire.
        """
        self.stopped = True
        for t in (self._timer, self._resync_timer):
            if t is not None and t.active():
                t.cancel()
        self._timer = self._resync_timer = None
        if self._watcher is not None:
            w, self._watcher = self._watcher, None
            w.stop()


class InformerFactory:
    """
    One shared L{Informer} per resource, over the stores C{store_for(resource)} gives.
    """

    def __init__(self, store_for: Callable[[Any], Any], clock: IReactorTime, resync_period: float = 0.0) -> None:
        self.store_for = store_for
        self.clock = clock
        self.resync_period = resync_period
        self.informers: dict[tuple[str, str], Informer] = {}

    def informer(self, resource: Any) -> Informer:
        """
        The (started) informer of C{resource}.
        """
        key = (resource.group, resource.plural)
        inf = self.informers.get(key)
        if inf is None:
            store = self.store_for(resource)
            name = resource.plural + (f".{resource.group}" if resource.group else "")
            inf = Informer(store.storage, store.list_key(""), self.clock, name, self.resync_period)
            self.informers[key] = inf
            inf.start()
        return inf

    def drop(self, group: str, plural: str) -> None:
        """
        Stop and forget the informer of a resource no longer served.
        """
        inf = self.informers.pop((group, plural), None)
        if inf is not None:
            inf.stop()

    def stop(self) -> None:
        """
        Stop every informer.
        """
        informers, self.informers = self.informers, {}
        for inf in informers.values():
            inf.stop()


# -------------------------------------------------------------------------------------------------
# controllers


class ControllerContext:
    """
    What every controller gets: the shared resource registry, a store for any resource (built-in
    or custom), the clock, shared informers and the queue metrics.

    @ivar store_for: C{resource -> RegistryStore}.
    @ivar config: the server's L{kapid.options.config.KapidConfig} (None in tests).
    @ivar service: the L{kapid.server.service.KapidService} (None in tests).
    """

    def __init__(
        self,
        registry: Any,
        store_for: Callable[[Any], Any],
        clock: IReactorTime,
        metrics: Optional[QueueMetrics] = None,
        config: Any = None,
        service: Any = None,
    ) -> None:
        self.registry = registry
        self.store_for = store_for
        self.clock = clock
        self.metrics = metrics or QueueMetrics()
        self.config = config
        self.service = service
        self.informers = InformerFactory(store_for, clock)

    def store(self, group: str, plural: str) -> Any:
        """
        The store of C{group}/C{plural}, or None when that is not served.
        """
        res = self.registry.get(group, plural)
        return None if res is None else self.store_for(res)

    def informer(self, group: str, plural: str) -> Optional[Informer]:
        """
        The shared informer of C{group}/C{plural}, or None when that is not served.
        """
        res = self.registry.get(group, plural)
        return None if res is None else self.informers.informer(res)


class Controller:
    """
    The base of kapid's controllers: subclasses set C{name}, implement L{setup} (register informer
    handlers that queue keys) and L{sync} (reconcile one key; raise to retry it with backoff).

    @ivar ready: True once the informers synced and the workers run (for C{/readyz}).
    """

    name = "controller"
    workers = 1

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.queue = WorkQueue(self.name, ctx.clock, ctx.metrics)
        self.ready = False
        self.stopped = False
        self._subscriptions: list[tuple[Informer, EventHandler]] = []
        self._workers: list[Deferred] = []

    def watch(self, informer: Optional[Informer], handler: EventHandler) -> None:
        """
        Register C{handler} with C{informer} until L{stop}.
        """
        if informer is None:
            return
        informer.add_handler(handler)
        self._subscriptions.append((informer, handler))

    def setup(self) -> None:
        """
        Register informer handlers (called once by L{start}).
        """

    async def sync(self, key: Any) -> None:
        """
        Reconcile C{key}; raise to have it retried.
        """

    def start(self) -> Deferred:
        """
        Set up, wait for the informers' first lists, start the workers; fires once the keys queued
        by the first lists have been worked on (failed ones wait for their retries).
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        self.setup()
        for informer, _ in list(self._subscriptions):
            await informer.synced()
            if self.stopped:
                return
        await self.after_sync()
        if self.stopped:
            return
        for _ in range(self.workers):
            self._workers.append(Deferred.fromCoroutine(self._work()))
        # started means the first pass is done: what was there at start has been worked on once
        await self.queue.idle()
        self.ready = not self.stopped

    async def after_sync(self) -> None:
        """
        Runs once the informers synced, before the workers (e.g. queue everything).
        """

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.sync(key)
            except Exception as e:
                if not self.stopped:
                    reason = e.message if isinstance(e, StatusError) else (str(e) or type(e).__name__)
                    log.warn("{controller}: syncing {key} failed: {reason}", controller=self.name, key=key, reason=reason)
                    self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)

    def stop(self) -> Deferred:
        """
        Unregister the handlers, shut the queue down; fires when the workers have finished the keys
        they had.
        """
        self.stopped = True
        self.ready = False
        for informer, handler in self._subscriptions:
            informer.remove_handler(handler)
        self._subscriptions = []
        self.queue.shut_down()
        workers, self._workers = self._workers, []
        from twisted.internet.defer import DeferredList

        return DeferredList(workers, consumeErrors=True).addCallback(lambda _: None)


# -------------------------------------------------------------------------------------------------
# leader election


def default_identity() -> str:
    """
    kube-controller-manager's lock identity: C{<hostname>_<random uuid>}.
    """
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """
    client-go's C{LeaderElector} over a Lease: every C{retry_period} (jittered by 1.2 while
    acquiring) try to acquire or renew; a lease held by another holder is free once it has not
    changed for its C{leaseDurationSeconds} as observed locally (no trust in others' clocks);
    a leader that cannot renew for C{renew_deadline} stops leading. L{stop} releases the lease
    (holder cleared, duration 1s) so another process takes over at its next try.

    @param leases: the Leases' L{kapid.registry.store.RegistryStore}.
    @param on_started_leading: called when this process becomes the leader.
    @param on_stopped_leading: called when it stops being the leader.
    """

    JITTER = 1.2

    def __init__(
        self,
        leases: Any,
        clock: IReactorTime,
        name: str,
        identity: str,
        on_started_leading: Callable[[], Any],
        on_stopped_leading: Callable[[], Any],
        namespace: str = "kube-system",
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.leases = leases
        self.clock = clock
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.rand = rand
        self.leading = False
        self.stopped = False
        self.observed: Optional[dict] = None
        self.observed_time = 0.0
        self._last_renew = 0.0
        self._timer: Any = None
        self._first: Optional[Deferred] = None
        self._first_waiters: list[Deferred] = []
        self._tried_once = False

    def start(self) -> Deferred:
        """
        Start trying; fires after the first attempt (L{leading} says how it went).
        """
        d: Deferred = Deferred()
        self._first_waiters.append(d)
        self._tick()
        return d

    def _tick(self) -> None:
        self._timer = None
        if self.stopped:
            return
        Deferred.fromCoroutine(self._round())

    async def _round(self) -> None:
        try:
            ok = await self.try_acquire_or_renew()
        except Exception as e:
            log.warn("leader election {name}: {e}", name=self.name, e=e)
            ok = False
        if self.stopped:
            self._first_done()
            return
        now = self.clock.seconds()
        if ok:
            self._last_renew = now
            if not self.leading:
                self.leading = True
                log.info("leader election {name}: {identity} is the leader now", name=self.name, identity=self.identity)
                self._safe(self.on_started_leading)
        elif self.leading and now - self._last_renew >= self.renew_deadline:
            self.leading = False
            log.warn("leader election {name}: failed to renew the lease within {d}s; leadership lost", name=self.name, d=self.renew_deadline)
            self._safe(self.on_stopped_leading)
        self._first_done()
        if self.stopped:
            return
        delay = self.retry_period if self.leading else self.retry_period * (1 + self.JITTER * self.rand())
        self._timer = self.clock.callLater(delay, self._tick)

    def _first_done(self) -> None:
        waiters, self._first_waiters = self._first_waiters, []
        for d in waiters:
            d.callback(self.leading)

    def _safe(self, fn: Callable[[], Any]) -> None:
        try:
            out = fn()
            if isinstance(out, Deferred):
                out.addErrback(lambda f: log.failure("leader election callback failed", f))
        except Exception:
            log.failure("leader election callback failed")

    def _record(self, lease: dict) -> dict:
        return dict(lease.get("spec") or {})

    async def try_acquire_or_renew(self) -> bool:
        """
        One attempt: True when this process holds the lease afterwards.
        """
        now = self.clock.seconds()
        stamp = metautil.micro_timestamp(now)
        try:
            current = await self.leases.get(self.namespace, self.name, "v1")
        except StatusError as e:
            if e.code != 404:
                raise
            current = None
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        }
        if current is None:
            obj = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec,
            }
            try:
                await self.leases.create(self.namespace, obj, "v1")
            except StatusError as e:
                if e.code in (409, 404, 403):
                    return False
                raise
            self.observed, self.observed_time = spec, now
            return True
        record = self._record(current)
        if record != self.observed:
            self.observed, self.observed_time = record, now
        holder = record.get("holderIdentity") or ""
        duration = float(record.get("leaseDurationSeconds") or 0)
        if holder and holder != self.identity and self.observed_time + duration > now:
            return False
        if holder == self.identity:
            spec["acquireTime"] = record.get("acquireTime") or stamp
            spec["leaseTransitions"] = int(record.get("leaseTransitions") or 0)
        else:
            spec["leaseTransitions"] = int(record.get("leaseTransitions") or 0) + 1
        return await self._write(current, spec, now)

    async def _write(self, current: dict, spec: dict, now: float) -> bool:
        rv = (current.get("metadata") or {}).get("resourceVersion")

        def replace(cur: Optional[dict]) -> dict:
            new = dict(cur or current)
            new["metadata"] = dict(new.get("metadata") or {})
            new["metadata"]["resourceVersion"] = rv
            new["spec"] = spec
            return new

        try:
            await self.leases.update(self.namespace, self.name, replace, "v1")
        except StatusError as e:
            if e.code in (404, 409):
                return False
            raise
        self.observed, self.observed_time = spec, now
        return True

    def stop(self) -> Deferred:
        """
        Stop trying; release the lease when this process holds it. Fires when done.
        """
        self.stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        was_leading, self.leading = self.leading, False
        if not was_leading:
            return succeed(None)
        self._safe(self.on_stopped_leading)
        return Deferred.fromCoroutine(self._release())

    async def _release(self) -> None:
        try:
            current = await self.leases.get(self.namespace, self.name, "v1")
            record = self._record(current)
            if record.get("holderIdentity") != self.identity:
                return
            stamp = metautil.micro_timestamp(self.clock.seconds())
            spec = {
                "leaseDurationSeconds": 1,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": int(record.get("leaseTransitions") or 0),
            }
            await self._write(current, spec, self.clock.seconds())
        except Exception as e:
            log.warn("leader election {name}: releasing the lease failed: {e}", name=self.name, e=e)


# -------------------------------------------------------------------------------------------------
# the manager


class ControllerManager:
    """
    A controller set: the enabled controllers, started while this process leads the set's Lease
    (or at once without leader election), stopped when leadership is lost and at shutdown.

    @param factories: C{[(name, factory(ctx) -> Controller)]} in start order.
    @param election: C{dict} of L{LeaderElector} keyword arguments (C{name}, C{namespace},
        C{lease_duration}, C{renew_deadline}, C{retry_period}, C{identity}), or None to run
        without leader election.
    """

    def __init__(
        self,
        ctx: ControllerContext,
        factories: Iterable[tuple[str, Callable[[ControllerContext], Controller]]],
        election: Optional[dict] = None,
    ) -> None:
        self.ctx = ctx
        self.factories = list(factories)
        self.election = election
        self.controllers: dict[str, Controller] = {}
        self.started: dict[str, Deferred] = {}
        self.elector: Optional[LeaderElector] = None
        self.stopped = False
        self._decided: list[Deferred] = []
        self._is_decided = False

    @property
    def leading(self) -> bool:
        """
        Whether this process runs the set now.
        """
        return bool(self.controllers)

    def start(self) -> Deferred:
        """
        Begin (leader election first when configured); fires after the first election attempt.
        """
        if self.election is None:
            self._start_controllers()
            return self._decide()
        leases = self.ctx.store("coordination.k8s.io", "leases")
        opts = dict(self.election)
        identity = opts.pop("identity", None) or default_identity()
        name = opts.pop("name", "kube-controller-manager")
        self.elector = LeaderElector(
            leases, self.ctx.clock, name, identity, self._start_controllers, self._stop_controllers, **opts
        )
        d = self.elector.start()
        d.addCallback(lambda _: self._decide())
        return d

    def _decide(self) -> Deferred:
        self._is_decided = True
        waiters, self._decided = self._decided, []
        for w in waiters:
            w.callback(None)
        return succeed(None)

    def wait_started(self, name: str) -> Deferred:
        """
        Fires when controller C{name} has started here, or at once when another process leads
        (for the controller's post-start hook).
        """
        d: Deferred = Deferred()

        def check(_: Any) -> Any:
            started = self.started.get(name)
            return started if started is not None and not started.called else None

        if self._is_decided:
            d.callback(None)
        else:
            self._decided.append(d)
        d.addCallback(check)
        return d

    def _start_controllers(self) -> None:
        if self.stopped or self.controllers:
            return
        for name, factory in self.factories:
            try:
                c = factory(self.ctx)
            except Exception:
                log.failure("controller {name} failed to build", name=name)
                continue
            self.controllers[name] = c
            started = c.start()
            started.addErrback(lambda f, name=name: log.failure("controller {name} failed to start", f, name=name))
            self.started[name] = started
        log.info("controllers started: {names}", names=", ".join(self.controllers) or "none")

    def _stop_controllers(self) -> Deferred:
        controllers, self.controllers = self.controllers, {}
        self.started = {}
        ds = [c.stop() for c in controllers.values()]
        self.ctx.informers.stop()
        from twisted.internet.defer import DeferredList

        return DeferredList(ds, consumeErrors=True).addCallback(lambda _: None)

    def stop(self) -> Deferred:
        """
        Stop every controller and release the lease; fires when done.
        """
        self.stopped = True
        if self.elector is not None:
            d = self.elector.stop()
        else:
            d = succeed(None)
        stopped = self._stop_controllers()
        return d.addCallback(lambda _: stopped)

    def state(self, name: str) -> str:
        """
        C{running}, C{starting}, C{standby} (another process leads) or C{disabled}.
        """
        if name not in dict(self.factories):
            return "disabled"
        c = self.controllers.get(name)
        if c is None:
            return "standby"
        return "running" if c.ready else "starting"
