"""
The watch cache: L{CachingStorage}, an L{IStorage} decorator (kube's C{pkg/storage/cacher}).

One L{Cacher} per resource prefix (C{/registry/configmaps/}), created lazily on first use, lists the
prefix once and keeps B{one} upstream watch on it, feeding:

* a current-state store (key -> object) at the cache's resourceVersion;
* a ring of the last C{cache_size} events (C{--default-watch-cache-size});
* every watcher of that resource (fan-out: N watchers cost one upstream watch).

What is served from the cache and what passes through (kube's rules, simplified):

* writes, C{count}, lists with a continue token, paginated lists not at C{"0"}, and reads at C{""}
  (consistent reads) go to the underlying storage;
* C{get} / C{get_list} at C{"0"} are answered from the cache at once (a limit is ignored, as kube did
  before it paginated from the cache);
* C{get} / C{get_list} at C{N} (minimum or C{Exact}): when the underlying storage has reached C{N}
  but the cache has not, the read passes through; when C{N} is in the future the read waits on the
  clock for the cache to reach it, and fails with L{TooLargeResourceVersionError} after
  C{fresh_timeout} (kube: 3 s). C{Exact} lists wait the same way, then read the store (which knows
  what was compacted);
* C{watch} at C{"0"} starts with synthetic ADDED events from the cache; at C{""} too when the cache
  is as new as the store, else the initial state is one list from the store at revision L and the
  events after L follow from the ring and live; at C{N} it replays the ring after C{N} (or, when C{N}
  is ahead of the cache, delivers the events after C{N} as they come); C{N} older than the ring
  gives one ERROR event with kube's C{too old resource version} 410. C{send_initial_events} works
  as in the store (the initial state from the cache, then kube's initial-events-end BOOKMARK).

L{CachingStorage.get_list_encoded} serves the same lists as C{get_list}, but as the JSON bytes of
each item in the caller's form (its C{encode} of the cached object, which must not change it); the
cacher keeps each object's bytes per form until the object changes, so repeated lists at C{"0"}
join stored bytes instead of copying, converting and encoding every item again.

Watch event objects and the items of lists served from the cache are light copies of the cached
ones: a consumer may set top-level fields (such as C{kind}) and, in list items, C{metadata} fields,
but must not change deeper values. Objects from C{get} are independent copies. Watchers: C{on_event} may return a Deferred (backpressure, e.g. a paused transport); until it fires
that watcher's later events queue. A watcher whose queue grows past C{max_pending}, or whose
callback raises, is cut off (its C{done} fires; other watchers are not affected). Watchers that ask
(C{allow_watch_bookmarks}) get a BOOKMARK event, C{{"metadata": {"resourceVersion": "N"}}}, every
C{bookmark_interval} seconds on the clock, and on L{CacheWatcher.send_bookmark}.

When the upstream watch fails (for example its revision was compacted), the cacher ends its
watchers (clients re-watch), re-lists and re-watches, with a backoff on the clock; meanwhile reads
pass through.

Keys follow kube-apiserver's layout: an object's key is its resource prefix plus
C{<namespace>/<name>} (C{<name>} when cluster-scoped). The resource prefix of a key is the longest
prefix given to L{CachingStorage.register_prefix}, else found from the layout: C{<etcd prefix>/<x>/}
where C{<x>} is one segment, or two when the first is a group (contains a dot) or C{services}.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional

import attr
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from kapid.storage.codec import deep_copy, parse_resource_version
from kapid.storage.interfaces import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    Event,
    IStorage,
    IWatcher,
    KeyNotFoundError,
    ListOptions,
    Preconditions,
    SelectionPredicate,
    TooLargeResourceVersionError,
)
from kapid.storage.store import (
    initial_events_end,
    key_in_scope,
    list_prefix,
    too_old_watch,
    transition,
    wants_initial_events,
)

log = Logger()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CacheEvent:
    """
    One change seen by a cacher: the object after (None when deleted) and before (None when
    created), at revision C{rv}.
    """

    rv: int
    key: str
    obj: Optional[dict]
    prev: Optional[dict]
    deleted_obj: Optional[dict] = None


@attr.s(slots=True, auto_attribs=True)
class CacheStats:
    """
    Counters for benchmarks and metrics.

    @ivar events_delivered: watch events handed to watchers (bookmarks not counted).
    @ivar watchers_cut: watchers ended for being slow or failing.
    @ivar upstream_watches: watches opened on the underlying storage by cachers.
    @ivar relists: times a cacher (re)listed its resource.
    """

    events_delivered: int = 0
    watchers_cut: int = 0
    upstream_watches: int = 0
    relists: int = 0


@implementer(IWatcher)
class CacheWatcher:
    """
    One watch served by a L{Cacher}.
    """

    def __init__(
        self,
        cacher: "Cacher",
        key: str,
        recursive: bool,
        predicate: SelectionPredicate,
        on_event: Callable[[Event], Any],
        min_rv: int,
        allow_bookmarks: bool,
    ) -> None:
        self.done: Deferred[None] = Deferred()
        self._cacher = cacher
        self._key = key
        self._recursive = recursive
        self._pred = predicate
        self._on_event = on_event
        self._min_rv = min_rv
        self._allow_bookmarks = allow_bookmarks
        self._queue: deque[Event] = deque()
        self._busy = False
        self._stopped = False
        self._bookmark_call: Optional[IDelayedCall] = None
        self._schedule_bookmark()

    @property
    def stopped(self) -> bool:
        """
        Whether the watch has ended.
        """
        return self._stopped

    def process(self, ce: CacheEvent) -> None:
        """
        Turn a cache event into this watcher's event (if it sees it) and deliver it.
        """
        if self._stopped or ce.rv <= self._min_rv:
            return
        if not key_in_scope(ce.key, self._key, self._recursive):
            return
        prev = ce.deleted_obj if ce.obj is None else ce.prev
        t = transition(self._pred, ce.obj, prev)
        if t is not None:
            # a light copy per watcher: consumers may set top-level fields (kind, apiVersion)
            o = dict(t[1])
            if t[0] == DELETED:
                # the last state seen, at the revision it left the watcher's view (kube)
                o["metadata"] = {**(o.get("metadata") or {}), "resourceVersion": str(ce.rv)}
            self.deliver(Event(t[0], o))

    def deliver(self, event: Event) -> None:
        """
        Hand C{event} to the consumer now, or queue it while the consumer is busy.
        """
        if self._stopped:
            return
        if self._busy:
            self._queue.append(event)
            if len(self._queue) > self._cacher.max_pending:
                log.info("cutting off a slow watcher of {prefix}", prefix=self._cacher.prefix)
                self._cacher.stats.watchers_cut += 1
                self.stop()
            return
        self._call(event)

    def _call(self, event: Event) -> None:
        if event.type != BOOKMARK:
            self._cacher.stats.events_delivered += 1
        try:
            result = self._on_event(event)
        except Exception:
            log.failure("watch consumer raised; ending its watch")
            self._cacher.stats.watchers_cut += 1
            self.stop()
            return
        if isinstance(result, Deferred) and not result.called:
            self._busy = True
            result.addBoth(self._ready)
        elif isinstance(result, Deferred):
            result.addErrback(lambda f: None)

    def _ready(self, result: Any) -> None:
        self._busy = False
        if isinstance(result, Failure):
            self.stop()
            return
        while self._queue and not self._busy and not self._stopped:
            self._call(self._queue.popleft())

    def _schedule_bookmark(self) -> None:
        if self._allow_bookmarks and not self._stopped:
            self._bookmark_call = self._cacher.clock.callLater(
                self._cacher.bookmark_interval, self._periodic_bookmark
            )

    def _periodic_bookmark(self) -> None:
        self._bookmark_call = None
        self.send_bookmark()
        self._schedule_bookmark()

    def send_bookmark(self) -> None:
        """
        Send a BOOKMARK with the cache's resourceVersion now (when this watcher allows bookmarks);
        the endpoint layer calls this before ending a watch at its timeout, as kube does.
        """
        if self._allow_bookmarks and not self._stopped:
            rv = max(self._cacher.rv, self._min_rv)
            self.deliver(Event(BOOKMARK, {"metadata": {"resourceVersion": str(rv)}}))

    def stop(self) -> None:
        """
        End the watch; no more events are delivered.
        """
        if self._stopped:
            return
        self._stopped = True
        self._queue.clear()
        if self._bookmark_call is not None and self._bookmark_call.active():
            self._bookmark_call.cancel()
        self._cacher.watchers.discard(self)
        self.done.callback(None)


class Cacher:
    """
    The watch cache of one resource prefix; see the module docstring.
    """

    def __init__(self, owner: "CachingStorage", prefix: str) -> None:
        self.owner = owner
        self.underlying = owner.underlying
        self.clock = owner.clock
        self.prefix = prefix
        self.stats = owner.stats
        self.max_pending = owner.max_pending
        self.bookmark_interval = owner.bookmark_interval
        self.store: dict[str, dict] = {}
        self.ring: deque[CacheEvent] = deque(maxlen=max(owner.size_for(prefix), 1))
        self.rv = 0
        self.complete_from = 0
        self.ready = False
        self.watchers: set[CacheWatcher] = set()
        self._upstream: Any = None
        self._generation = 0
        self._init_d: Optional[Deferred[None]] = None
        self._retry_call: Optional[IDelayedCall] = None
        self._backoff = owner.retry_delay
        self._rv_waiters: list[tuple[int, Deferred[bool]]] = []
        self._closed = False
        #: per encoding form (a caller's tag): key -> (the cached object, its encoded bytes)
        self.encoded: dict[Any, dict[str, tuple[dict, bytes]]] = {}

    @property
    def closed(self) -> bool:
        """
        Whether L{close} was called.
        """
        return self._closed

    # -- life -------------------------------------------------------------------------------------

    def start(self) -> None:
        """
        List and watch the prefix (again).
        """
        if self._closed:
            return
        self._generation += 1
        gen = self._generation
        d = self._init_d = Deferred.fromCoroutine(self._init(gen))
        d.addErrback(lambda f: log.failure("watch cache init of {p}", f, p=self.prefix))

    async def _init(self, gen: int) -> None:
        try:
            self.stats.relists += 1
            res = await self.underlying.get_list(self.prefix, ListOptions())
            if gen != self._generation or self._closed:
                return
            list_rv = int(res["resourceVersion"])
            self.store = {self.key_of(o): o for o in res["items"]}
            self.encoded = {}
            self.ring.clear()
            self.rv = self.complete_from = list_rv
            self.stats.upstream_watches += 1
            self._upstream = await self.underlying.watch(
                self.prefix,
                ListOptions(resource_version=str(list_rv)),
                lambda ev, gen=gen: self._on_upstream(ev, gen),
            )
        except Exception as e:
            if gen == self._generation:
                log.warn("watch cache of {p} could not start: {e}", p=self.prefix, e=e)
                self._give_up_waiters()
                self._schedule_retry()
            return
        if gen != self._generation or self._closed:
            self._upstream.stop()
            return
        if self._upstream.done.called:
            # it ended at once (an ERROR event already restarted us, or it just ended)
            if gen == self._generation:
                self._restart()
            return
        self._upstream.done.addBoth(lambda _, gen=gen: self._on_upstream_end(gen))
        self.ready = True
        self._backoff = self.owner.retry_delay
        self._wake()

    def _schedule_retry(self) -> None:
        if self._closed or (self._retry_call is not None and self._retry_call.active()):
            return
        delay = self._backoff
        self._backoff = min(self._backoff * 2, 30.0)
        self._retry_call = self.clock.callLater(delay, self.start)

    def _on_upstream_end(self, gen: int) -> None:
        if gen == self._generation and not self._closed:
            self._restart()

    def _restart(self) -> None:
        """
        The upstream watch ended: end every watcher (clients re-watch), re-list and re-watch.
        """
        log.info("watch cache of {p} restarting", p=self.prefix)
        self._generation += 1
        self.ready = False
        if self._upstream is not None:
            upstream, self._upstream = self._upstream, None
            upstream.stop()
        for w in list(self.watchers):
            w.stop()
        self._give_up_waiters()
        self._schedule_retry()

    def _give_up_waiters(self) -> None:
        """
        The cache is not coming: let every waiting read go on without it.
        """
        waiters, self._rv_waiters = self._rv_waiters, []
        for _, d in waiters:
            if not d.called:
                d.callback(False)

    def close(self) -> Deferred[None]:
        """
        Stop the upstream watch, timers and watchers; the Deferred fires once a (re)list in
        progress is over.
        """
        self._closed = True
        self._generation += 1
        self.ready = False
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        if self._upstream is not None:
            self._upstream.stop()
        for w in list(self.watchers):
            w.stop()
        self._give_up_waiters()
        done: Deferred[None] = Deferred()
        if self._init_d is not None and not self._init_d.called:
            self._init_d.addBoth(lambda r: (done.callback(None), r)[1])
        else:
            done.callback(None)
        return done

    # -- upstream ---------------------------------------------------------------------------------

    def key_of(self, obj: dict) -> str:
        """
        The key of C{obj} under this prefix (kube's layout).
        """
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or ""
        name = meta.get("name") or ""
        return f"{self.prefix}{ns}/{name}" if ns else f"{self.prefix}{name}"

    def _on_upstream(self, ev: Event, gen: int) -> None:
        if gen != self._generation or self._closed:
            return
        if ev.type == ERROR:
            log.info("watch cache of {p}: upstream error {e}", p=self.prefix, e=ev.error)
            self._restart()
            return
        if ev.object is None:
            return
        rv = int(((ev.object.get("metadata") or {}).get("resourceVersion")) or 0)
        if ev.type == BOOKMARK:
            self._advance(rv)
            return
        key = self.key_of(ev.object)
        prev = self.store.get(key)
        for forms in self.encoded.values():
            forms.pop(key, None)
        if ev.type == DELETED:
            self.store.pop(key, None)
            ce = CacheEvent(rv, key, None, prev, ev.object)
        else:
            self.store[key] = ev.object
            ce = CacheEvent(rv, key, ev.object, prev)
        if len(self.ring) == self.ring.maxlen:
            self.complete_from = self.ring[0].rv
        self.ring.append(ce)
        for w in list(self.watchers):
            w.process(ce)
        self._advance(rv)

    def _advance(self, rv: int) -> None:
        if rv > self.rv:
            self.rv = rv
        self._wake()

    def _wake(self) -> None:
        if not self._rv_waiters:
            return
        keep = []
        for want, d in self._rv_waiters:
            if d.called:
                continue
            if self.ready and self.rv >= want:
                d.callback(True)
            else:
                keep.append((want, d))
        self._rv_waiters = keep

    async def wait_ready(self, timeout: float) -> bool:
        """
        Wait (bounded) for the initial list of the current attempt; whether the cache is ready.
        """
        if self.ready:
            return True
        if self._init_d is None or self._init_d.called:
            return False
        return await self.wait_fresh(0, timeout)

    async def wait_fresh(self, rv: int, timeout: float) -> bool:
        """
        Wait (bounded, on the clock) until the cache is ready at C{rv} or newer.
        """
        if self.ready and self.rv >= rv:
            return True
        d: Deferred[bool] = Deferred()
        self._rv_waiters.append((rv, d))
        call = self.clock.callLater(timeout, lambda: d.called or d.callback(False))
        result = await d
        if call.active():
            call.cancel()
        return result

    # -- reads ------------------------------------------------------------------------------------

    def select(self, state: dict[str, dict], key: str, recursive: bool, pred: SelectionPredicate) -> list[dict]:
        """
        The objects of C{state} under C{key} (or at it) that match C{pred}, sorted by key.
        """
        return [state[k] for k in self.select_keys(state, key, recursive, pred)]

    def select_keys(
        self, state: dict[str, dict], key: str, recursive: bool, pred: SelectionPredicate
    ) -> list[str]:
        """
        The keys of the objects L{select} returns, in the same order.
        """
        if not recursive:
            o = state.get(key)
            return [key] if o is not None and pred.matches(o) else []
        return [k for k in sorted(state) if k.startswith(key) and pred.matches(state[k])]

    def encoded_items(
        self, keys: list[str], form: Any, encode: Callable[[dict], bytes]
    ) -> list[bytes]:
        """
        The bytes of the current objects at C{keys} in the form C{form}: stored ones while the
        object is unchanged, else C{encode(obj)} (which must not change C{obj}), then stored.
        """
        forms = self.encoded.get(form)
        if forms is None:
            forms = self.encoded[form] = {}
        store = self.store
        out = []
        for k in keys:
            o = store[k]
            hit = forms.get(k)
            if hit is not None and hit[0] is o:
                out.append(hit[1])
                continue
            b = encode(o)
            forms[k] = (o, b)
            out.append(b)
        return out


def _light_copy(obj: dict) -> dict:
    """
    A copy of a cached object whose top level and C{metadata} callers may change; deeper values
    are shared with the cache and must not be changed.
    """
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = dict(meta)
    return out


def _copy(obj: dict) -> dict:
    """
    A copy of a cached object that callers may change without touching the cache.
    """
    return deep_copy(obj)


@implementer(IStorage)
class CachingStorage:
    """
    L{IStorage} with a watch cache in front of C{underlying}; see the module docstring.

    @param underlying: the storage written to and read through.
    @param clock: for waits, bookmarks and retries.
    @param cache_size: events kept per resource (C{--default-watch-cache-size}).
    @param prefix: C{--etcd-prefix}.
    @param fresh_timeout: how long a read of a future resourceVersion waits (kube: 3 s).
    @param bookmark_interval: seconds between bookmarks (kube: about a minute).
    @param max_pending: queued events after which a slow watcher is cut off.
    @param retry_delay: first delay before re-listing after an upstream failure (doubles to 30 s).
    """

    def __init__(
        self,
        underlying: Any,
        clock: IReactorTime,
        cache_size: int = 100,
        prefix: str = "/registry",
        fresh_timeout: float = 3.0,
        bookmark_interval: float = 60.0,
        max_pending: int = 1000,
        retry_delay: float = 1.0,
    ) -> None:
        self.underlying = underlying
        self.clock = clock
        self.cache_size = cache_size
        self.prefix = prefix.rstrip("/") + "/"
        self.fresh_timeout = fresh_timeout
        self.bookmark_interval = bookmark_interval
        self.max_pending = max_pending
        self.retry_delay = retry_delay
        self.stats = CacheStats()
        self.cachers: dict[str, Cacher] = {}
        self._registered: list[str] = []
        self._sizes: dict[str, int] = {}
        #: whether resources without a size of their own (L{set_cache_size}) are cached
        self.default_cached = cache_size > 0
        self._closed = False

    # -- cachers ----------------------------------------------------------------------------------

    def register_prefix(self, prefix: str) -> None:
        """
        Declare a resource prefix (ending in C{/}), overriding the layout rule for keys under it.
        """
        p = prefix if prefix.endswith("/") else prefix + "/"
        if p not in self._registered:
            self._registered.append(p)
            self._registered.sort(key=len, reverse=True)

    def set_cache_size(self, prefix: str, size: int) -> None:
        """
        C{--watch-cache-sizes} for one resource: its prefix (as L{register_prefix}) keeps C{size}
        events instead of C{cache_size}; 0 turns the cache off for it (every request passes
        through to the underlying storage, as kube does for a size of 0).
        """
        p = prefix if prefix.endswith("/") else prefix + "/"
        self.register_prefix(p)
        self._sizes[p] = max(int(size), 0)

    def size_for(self, prefix: str) -> int:
        """
        The number of events the cacher of C{prefix} keeps (0: not cached).
        """
        return self._sizes.get(prefix, self.cache_size)

    def resource_prefix(self, key: str) -> Optional[str]:
        """
        The resource prefix C{key} belongs to, or None (then requests pass through).
        """
        for p in self._registered:
            if key.startswith(p):
                size = self._sizes.get(p)
                if size == 0 or (size is None and not self.default_cached):
                    return None
                return p
        if not key.startswith(self.prefix) or not self.default_cached:
            return None
        segs = key[len(self.prefix):].split("/")
        n = 2 if ("." in segs[0] or segs[0] == "services") else 1
        if len(segs) <= n or not all(segs[:n]):
            return None
        return self.prefix + "/".join(segs[:n]) + "/"

    def cacher_for(self, key: str) -> Optional[Cacher]:
        """
        The cacher of C{key}'s resource, created and started on first use.
        """
        if self._closed:
            return None
        p = self.resource_prefix(key)
        if p is None:
            return None
        c = self.cachers.get(p)
        if c is None:
            c = self.cachers[p] = Cacher(self, p)
            c.start()
        return c

    async def _ready_cacher(self, key: str) -> Optional[Cacher]:
        c = self.cacher_for(key)
        if c is None or not await c.wait_ready(self.fresh_timeout):
            return None
        return c

    # -- pass-through -----------------------------------------------------------------------------

    def versioner(self) -> Any:
        """
        Unused placeholder; returns None.
        """
        return None

    def current_resource_version(self) -> Any:
        """
        The underlying storage's current revision.
        """
        return self.underlying.current_resource_version()

    def count(self, key: str) -> Any:
        """
        Passes through (kube's cacher does too).
        """
        return self.underlying.count(key)

    def create(self, key: str, obj: dict, ttl: int = 0) -> Deferred[dict]:
        """
        Passes through (after the resource's cacher has started, so its ring sees the write).
        """
        return Deferred.fromCoroutine(self._write(key, lambda: self.underlying.create(key, obj, ttl)))

    async def _write(self, key: str, f: Callable[[], Any]) -> Any:
        c = self.cacher_for(key)
        if c is not None and not c.ready:
            await c.wait_ready(self.fresh_timeout)
        return await f()

    def guaranteed_update(
        self,
        key: str,
        try_update: Callable[[Optional[dict]], Any],
        preconditions: Optional[Preconditions] = None,
        ignore_not_found: bool = False,
        cached_existing: Optional[dict] = None,
    ) -> Deferred[dict]:
        """
        Passes through.
        """
        return Deferred.fromCoroutine(
            self._write(
                key,
                lambda: self.underlying.guaranteed_update(
                    key, try_update, preconditions, ignore_not_found, cached_existing
                ),
            )
        )

    def delete(
        self,
        key: str,
        preconditions: Optional[Preconditions] = None,
        validate_deletion: Optional[Callable[[dict], Any]] = None,
        cached_existing: Optional[dict] = None,
    ) -> Deferred[dict]:
        """
        Passes through.
        """
        return Deferred.fromCoroutine(
            self._write(
                key,
                lambda: self.underlying.delete(key, preconditions, validate_deletion, cached_existing),
            )
        )

    # -- reads ------------------------------------------------------------------------------------

    async def _fresh_or_none(self, c: Cacher, rv: int) -> bool:
        """
        Whether C{c} can answer at C{rv}: True when it is (or becomes, within the bound) fresh;
        False when the underlying storage should answer instead. Raises
        L{TooLargeResourceVersionError} for a revision that does not come in time.
        """
        if c.rv >= rv:
            return True
        current = await self.underlying.current_resource_version()
        if current >= rv:
            return False  # the store has it; the cache lags (or saw nothing of this resource)
        if await c.wait_fresh(rv, self.fresh_timeout):
            return True
        if not c.ready:
            return False  # the cache went away meanwhile: the store answers
        raise TooLargeResourceVersionError(rv, c.rv)

    def get(self, key: str, resource_version: str = "", ignore_not_found: bool = False) -> Deferred[Any]:
        """
        C{""} passes through; C{"0"} and C{N} are answered from the cache (see the module docstring).
        """
        return Deferred.fromCoroutine(self._get(key, resource_version, ignore_not_found))

    async def _get(self, key: str, resource_version: str, ignore_not_found: bool) -> Any:
        rv = parse_resource_version(resource_version)
        c = None if resource_version == "" else await self._ready_cacher(key)
        if c is None or not await self._fresh_or_none(c, rv):
            return await self.underlying.get(key, resource_version, ignore_not_found)
        o = c.store.get(key)
        if o is None:
            if ignore_not_found:
                return None
            raise KeyNotFoundError(key)
        return _copy(o)

    def get_list(self, key: str, opts: ListOptions) -> Deferred[dict]:
        """
        Lists at C{"0"} and at C{N} come from the cache; others pass through (module docstring).
        """
        return Deferred.fromCoroutine(self._get_list(key, opts))

    def get_list_encoded(
        self, key: str, opts: ListOptions, form: Any, encode: Callable[[dict], bytes]
    ) -> Deferred[dict]:
        """
        L{get_list}, but a list served from the cache comes as C{"encoded"}: the JSON bytes of each
        item, C{encode(obj)} of the cached object (C{encode} must not change it), kept per C{form}
        (a hashable naming the caller's encoding) while the object is unchanged, instead of
        C{"items"}. A list that passes through comes as from C{get_list} (with C{"items"}).
        """
        return Deferred.fromCoroutine(self._get_list(key, opts, (form, encode)))

    async def _get_list(
        self, key: str, opts: ListOptions, encoder: Optional[tuple[Any, Callable[[dict], bytes]]] = None
    ) -> dict:
        v = opts.resource_version
        exact = opts.resource_version_match == "Exact"
        delegate = (
            bool(opts.continue_token)
            or v == ""
            or (opts.limit > 0 and v != "0" and not exact)
            or (exact and v == "0")
        )
        c = None if delegate else await self._ready_cacher(list_prefix(key, opts.recursive))
        if c is None:
            return await self.underlying.get_list(key, opts)
        rv = parse_resource_version(v)
        if not await self._fresh_or_none(c, rv) or exact:
            # Exact reads go to the store (it knows what was compacted), once it has the revision
            return await self.underlying.get_list(key, opts)
        lkey = list_prefix(key, opts.recursive)
        if encoder is not None:
            keys = c.select_keys(c.store, lkey, opts.recursive, opts.predicate)
            encoded = c.encoded_items(keys, encoder[0], encoder[1])
            return {"encoded": encoded, "resourceVersion": str(c.rv), "continue": "", "remainingItemCount": None}
        items = [_light_copy(o) for o in c.select(c.store, lkey, opts.recursive, opts.predicate)]
        return {"items": items, "resourceVersion": str(c.rv), "continue": "", "remainingItemCount": None}

    def watch(self, key: str, opts: ListOptions, on_event: Callable[[Event], Any]) -> Deferred[Any]:
        """
        Served from the resource's cacher (see the module docstring); passes through when the cache
        cannot start.
        """
        return Deferred.fromCoroutine(self._watch(key, opts, on_event))

    async def _watch(self, key: str, opts: ListOptions, on_event: Callable[[Event], Any]) -> Any:
        wkey = list_prefix(key, opts.recursive)
        rv = parse_resource_version(opts.resource_version)
        c = await self._ready_cacher(wkey)
        if c is None:
            return await self.underlying.watch(key, opts, on_event)
        initial: Optional[list[dict]] = None
        if wants_initial_events(opts, rv):
            if opts.resource_version == "":
                # a consistent start: the initial state must be at least as new as the store
                current = await self.underlying.current_resource_version()
                if c.rv < current:
                    # the cache saw nothing newer of this resource (or lags): read the initial
                    # state from the store, then go on from the ring and live events after it
                    res = await self.underlying.get_list(
                        key, ListOptions(predicate=opts.predicate, recursive=opts.recursive)
                    )
                    min_rv = int(res["resourceVersion"])
                    if min_rv < c.complete_from or c.closed:
                        return await self.underlying.watch(key, opts, on_event)
                    initial = res["items"]
            elif rv > c.rv:
                return await self.underlying.watch(key, opts, on_event)
            if initial is None:
                initial = [dict(o) for o in c.select(c.store, wkey, opts.recursive, opts.predicate)]
                min_rv = c.rv
        elif rv == 0:
            min_rv = c.rv
            if opts.resource_version == "":
                # from the most recent revision: not from before what the store has now
                min_rv = max(min_rv, await self.underlying.current_resource_version())
        elif rv < c.complete_from:
            w = CacheWatcher(c, wkey, opts.recursive, opts.predicate, on_event, rv, False)
            w.deliver(Event(ERROR, None, too_old_watch(rv, c.complete_from)))
            w.stop()
            return w
        else:
            min_rv = rv
        w = CacheWatcher(
            c, wkey, opts.recursive, opts.predicate, on_event, min_rv, opts.allow_watch_bookmarks
        )
        if initial is not None:
            for o in initial:
                w.deliver(Event(ADDED, o))
            if opts.send_initial_events and opts.allow_watch_bookmarks:
                w.deliver(initial_events_end(min_rv))
        for ce in list(c.ring):
            w.process(ce)  # only the events after min_rv
        if not w.stopped:
            c.watchers.add(w)
        return w

    def close(self) -> Deferred[None]:
        """
        Stop every cacher (and its watchers); the underlying storage is closed by its owner.
        """
        self._closed = True
        d = gatherResults([c.close() for c in self.cachers.values()])
        d.addCallback(lambda _: None)
        return d


def storage_for(
    kv: Any,
    clock: IReactorTime,
    prefix: str = "/registry",
    watch_cache: bool = True,
    cache_size: int = 100,
    cache_sizes: Optional[dict[str, int]] = None,
) -> Any:
    """
    The L{IStorage} the daemon serves from: a L{Store} over C{kv} under C{prefix}
    (C{--etcd-prefix}), behind a L{CachingStorage} of C{cache_size} events per resource
    (C{--default-watch-cache-size}) unless C{watch_cache} is false (C{--watch-cache=false}) or
    C{cache_size} is 0 (kube: no cache for resources without a size of their own).
    C{cache_sizes} maps resource key prefixes (C{Resource.key_prefix}) to their own sizes
    (C{--watch-cache-sizes}; 0 turns the cache off for that resource).
    """
    from kapid.storage.store import Store

    store = Store(kv, clock, prefix)
    if not watch_cache or (cache_size <= 0 and not any((cache_sizes or {}).values())):
        return store
    cached = CachingStorage(store, clock, cache_size=cache_size, prefix=prefix)
    if cache_size <= 0:
        # only the resources with a size of their own are cached
        cached.default_cached = False
    for p, size in (cache_sizes or {}).items():
        cached.set_cache_size(p, size)
    return cached
