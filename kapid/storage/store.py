"""
L{Store}: kube-apiserver's C{storage.Interface} (L{IStorage}) over any L{IKV}.

Keys are absolute: callers pass the full etcd key, C{<--etcd-prefix>/<resource>/<namespace>/<name>}
as L{kapid.registry.description.Resource.key} builds it, and the store uses it as is, so the data
on disk has kube-apiserver's layout. The store's C{prefix} is the C{--etcd-prefix}; keys outside it
are refused with L{ValueError}.

Objects are JSON dicts stored with orjson without C{metadata.resourceVersion}; every object handed
back carries the mod revision (for a deletion: the deletion's revision) as its resourceVersion.
Semantics follow kube's C{pkg/storage/etcd3/store.go} and C{watcher.go}: see each method.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import attr
import orjson
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from kapid.apimachinery.status import OPTIMISTIC_LOCK_MESSAGE, bad_request
from kapid.storage.codec import (
    decode_continue,
    decode_kv,
    deep_copy,
    encode_continue,
    encode_object,
    parse_resource_version,
    resource_version_of,
    with_resource_version,
    without_resource_version,
)
from kapid.storage.interfaces import (
    ADDED,
    BOOKMARK,
    DELETE,
    DELETED,
    ERROR,
    MODIFIED,
    CompactedError,
    ConflictError,
    Event,
    ExpiredError,
    FutureRevisionError,
    IKV,
    IStorage,
    IWatcher,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    KVEvent,
    LeaseNotFoundError,
    ListOptions,
    Preconditions,
    SelectionPredicate,
    StorageError,
    TooLargeResourceVersionError,
    UnavailableError,
)

log = Logger()

EXPIRED_LIST = "The resourceVersion for the provided list is too old."
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter."
)
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter, or use the continue token in this response to "
    "retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the first "
    "chunk was returned and now may show up in the list."
)
CREATE_WITH_RESOURCE_VERSION = "resourceVersion should not be set on objects to be created"

#: kube's C{maxLimit}: the largest page read from the backend while filling a filtered page.
MAX_LIMIT = 10000


def too_old_watch(requested: int, oldest: int) -> ExpiredError:
    """
    kube's 410 for a watch from a compacted or evicted resourceVersion.
    """
    return ExpiredError(f"too old resource version: {requested} ({oldest})")


def invalid_object_message(key: str, msg: str) -> str:
    """
    The text of kube's C{StorageError} for C{ErrCodeInvalidObj} (what precondition failures are).
    """
    return (
        f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, "
        f"AdditionalErrorMsg: {msg}"
    )


def check_preconditions(key: str, preconditions: Optional[Preconditions], obj: dict) -> None:
    """
    kube's C{Preconditions.Check}: raise L{ConflictError} when C{obj} does not satisfy them.
    """
    if preconditions is None:
        return
    meta = obj.get("metadata") or {}
    if preconditions.uid is not None and preconditions.uid != (meta.get("uid") or ""):
        raise ConflictError(
            key,
            invalid_object_message(
                key,
                f"Precondition failed: UID in precondition: {preconditions.uid}, "
                f"UID in object meta: {meta.get('uid') or ''}",
            ),
        )
    rv = preconditions.resource_version
    if rv is not None and rv != resource_version_of(obj):
        raise ConflictError(
            key,
            invalid_object_message(
                key,
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {resource_version_of(obj)}",
            ),
        )


async def call_maybe_async(f: Callable[..., Any], *args: Any) -> Any:
    """
    Call C{f}; wait for its result when it is a Deferred or a coroutine.
    """
    result = f(*args)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        result = await result
    return result


#: kube's annotation on the BOOKMARK that ends the initial events of a watch-list
INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"


def wants_initial_events(opts: ListOptions, rv: int) -> bool:
    """
    Whether a watch starts with synthetic ADDED events for the current state: when
    C{sendInitialEvents} is true, or unset with a resourceVersion of C{""}/C{"0"} (kube).
    """
    if opts.send_initial_events is None:
        return rv == 0
    return bool(opts.send_initial_events)


def initial_events_end(revision: int) -> Event:
    """
    kube's BOOKMARK that ends the initial events of a watch with C{sendInitialEvents=true}.
    """
    return Event(
        BOOKMARK,
        {
            "metadata": {
                "resourceVersion": str(revision),
                "annotations": {INITIAL_EVENTS_END_ANNOTATION: "true"},
            }
        },
    )


def key_in_scope(key: str, watch_key: str, recursive: bool) -> bool:
    """
    Whether C{key} is the watched key (not recursive) or under the watched prefix (recursive).
    """
    return key.startswith(watch_key) if recursive else key == watch_key


def list_prefix(key: str, recursive: bool) -> str:
    """
    kube's list key prefix: a recursive key always ends in C{/}.
    """
    if recursive and not key.endswith("/"):
        return key + "/"
    return key


def transition(
    pred: SelectionPredicate, cur: Optional[dict], prev: Optional[dict]
) -> Optional[tuple[str, dict]]:
    """
    kube's watch event for a change from C{prev} to C{cur} as seen through C{pred}: C{(type, obj)}
    or None when the watcher does not see it (either object may be None).
    """
    cur_ok = cur is not None and pred.matches(cur)
    prev_ok = prev is not None and pred.matches(prev)
    if cur_ok and prev_ok:
        return MODIFIED, cur  # type: ignore[return-value]
    if cur_ok:
        return ADDED, cur  # type: ignore[return-value]
    if prev_ok:
        return DELETED, prev  # type: ignore[return-value]
    return None


@attr.s(slots=True, auto_attribs=True)
class _State:
    """
    What the store believes the current value of a key is, during an update or delete.
    """

    obj: Optional[dict]
    mod_revision: int
    lease: int
    stale: bool


@implementer(IWatcher)
class StoreWatcher:
    """
    One watch of L{Store}: IKV events turned into L{Event}s for one key or prefix and predicate.
    """

    def __init__(
        self,
        key: str,
        recursive: bool,
        predicate: SelectionPredicate,
        on_event: Callable[[Event], Any],
        requested: int,
        on_end: Callable[["StoreWatcher"], None],
    ) -> None:
        self.done: Deferred[None] = Deferred()
        self._key = key
        self._recursive = recursive
        self._pred = predicate
        self._on_event = on_event
        self._requested = requested
        self._on_end = on_end
        self._kv_watch: Any = None
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """
        Whether the watch has ended.
        """
        return self._stopped

    def deliver(self, event: Event) -> None:
        """
        Hand one event to the consumer (nothing after the watch ended). A consumer that raises ends
        its own watch.
        """
        if self._stopped:
            return
        try:
            self._on_event(event)
        except Exception:
            log.failure("watch consumer raised; ending its watch")
            self.stop()

    def on_kv_events(self, events: list[KVEvent]) -> None:
        """
        The IKV callback: one revision's events.
        """
        for e in events:
            if self._stopped:
                return
            key = e.kv.key.decode("utf-8", "surrogateescape")
            if not key_in_scope(key, self._key, self._recursive):
                continue
            try:
                ev = self._convert(e)
            except StorageError as err:
                self.fail(err)
                return
            if ev is not None:
                self.deliver(ev)

    def _convert(self, e: KVEvent) -> Optional[Event]:
        rev = e.kv.mod_revision
        if e.type == DELETE:
            if e.prev_kv is None:
                return None
            cur = None
            prev: Optional[dict] = decode_kv(e.prev_kv, rev)
        else:
            cur = decode_kv(e.kv)
            created = e.kv.create_revision == e.kv.mod_revision
            prev = None if created or e.prev_kv is None else decode_kv(e.prev_kv, rev)
        if self._pred.empty:
            if cur is None:
                return Event(DELETED, prev)
            return Event(ADDED if prev is None else MODIFIED, cur)
        t = transition(self._pred, cur, prev)
        return None if t is None else Event(t[0], t[1])

    def fail(self, err: Exception) -> None:
        """
        End the watch with an ERROR event carrying C{err}.
        """
        if self._stopped:
            return
        if isinstance(err, CompactedError):
            err = too_old_watch(self._requested, err.compact_revision)
        self.deliver(Event(ERROR, None, err))
        self.stop()

    def stop(self) -> None:
        """
        End the watch; no more events are delivered.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._kv_watch is not None:
            try:
                self._kv_watch.cancel()
            except Exception:
                log.failure("cancelling an IKV watch")
        self._on_end(self)
        self.done.callback(None)


@implementer(IStorage)
class Store:
    """
    L{IStorage} over an L{IKV}; see the module docstring for keys and encoding.

    @param kv: the key-value store.
    @param clock: for timers (unused by the plain store except through the KV).
    @param prefix: C{--etcd-prefix}; every key must be under it.
    @param watch_start_timeout: how long C{watch} waits for the backend to establish a watch
        before failing with L{UnavailableError} (other calls are bounded by the KV's own timeouts).
    """

    def __init__(
        self,
        kv: IKV,
        clock: IReactorTime,
        prefix: str = "/registry",
        watch_start_timeout: float = 10.0,
    ) -> None:
        self.kv = kv
        self.clock = clock
        self.prefix = prefix.rstrip("/") + "/"
        self.watch_start_timeout = watch_start_timeout
        self._watchers: set[StoreWatcher] = set()

    # ---------------------------------------------------------------------------------------------
    # helpers

    def _bkey(self, key: str) -> bytes:
        if not key.startswith(self.prefix) and key + "/" != self.prefix:
            raise ValueError(f"key {key!r} is not under the storage prefix {self.prefix!r}")
        return key.encode("utf-8")

    def versioner(self) -> Any:
        """
        Unused placeholder (kube's Versioner); returns None.
        """
        return None

    def current_resource_version(self) -> Deferred[int]:
        """
        The KV's current revision.
        """
        return self.kv.current_revision()

    def count(self, key: str) -> Deferred[int]:
        """
        The number of objects under the prefix C{key}.
        """
        return maybeDeferred(lambda: self.kv.count(self._bkey(list_prefix(key, True))))

    # ---------------------------------------------------------------------------------------------
    # create / get

    def create(self, key: str, obj: dict, ttl: int = 0) -> Deferred[dict]:
        """
        Store a new object (with a lease of C{ttl} seconds when C{ttl} > 0). Errbacks with
        L{KeyExistsError}.
        """
        return Deferred.fromCoroutine(self._create(key, obj, ttl))

    async def _create(self, key: str, obj: dict, ttl: int) -> dict:
        bkey = self._bkey(key)
        if resource_version_of(obj) not in ("", "0"):
            raise StorageError(CREATE_WITH_RESOURCE_VERSION)
        data = encode_object(obj)
        lease = 0
        if ttl > 0:
            lease = await self.kv.grant_lease(ttl)
        result = await self.kv.optimistic_put(bkey, data, 0, lease)
        if not result.succeeded:
            raise KeyExistsError(key)
        out = orjson.loads(data)
        return with_resource_version(out, result.kv.mod_revision if result.kv else result.revision)

    def get(self, key: str, resource_version: str = "", ignore_not_found: bool = False) -> Deferred[Any]:
        """
        Read one object at the newest revision; a numeric C{resource_version} must not be newer than
        the store (L{TooLargeResourceVersionError}).
        """
        return Deferred.fromCoroutine(self._get(key, resource_version, ignore_not_found))

    async def _get(self, key: str, resource_version: str, ignore_not_found: bool) -> Any:
        bkey = self._bkey(key)
        min_rv = parse_resource_version(resource_version)
        kv, revision = await self.kv.get(bkey)
        if min_rv > revision:
            raise TooLargeResourceVersionError(min_rv, revision)
        if kv is None:
            if ignore_not_found:
                return None
            raise KeyNotFoundError(key)
        return decode_kv(kv)

    # ---------------------------------------------------------------------------------------------
    # lists

    def get_list(self, key: str, opts: ListOptions) -> Deferred[dict]:
        """
        List objects under C{key}; see L{IStorage.get_list}. Pages (C{opts.limit}) are all read at
        the first page's revision; filtered pages are filled by reading on, as kube does.
        """
        return Deferred.fromCoroutine(self._get_list(key, opts))

    async def _get_list(self, key: str, opts: ListOptions) -> dict:
        pred = opts.predicate
        if not opts.recursive:
            return await self._get_single_list(key, opts)
        prefix = list_prefix(key, True)
        bprefix = self._bkey(prefix)
        rv_text = opts.resource_version
        from_rv = parse_resource_version(rv_text)
        with_rev = 0
        start_key = prefix
        continuing = bool(opts.continue_token)
        if continuing:
            start_key, continue_rv = decode_continue(opts.continue_token, prefix)
            if rv_text not in ("", "0"):
                raise bad_request("specifying resource version is not allowed when using continue")
            if continue_rv > 0:
                with_rev = continue_rv
        elif rv_text:
            match = opts.resource_version_match
            if match == "Exact":
                if from_rv == 0:
                    raise bad_request(
                        'resourceVersionMatch "Exact" is forbidden for resourceVersion "0"'
                    )
                with_rev = from_rv
            elif match == "" and opts.limit > 0 and from_rv > 0:
                with_rev = from_rv
        limit = opts.limit if opts.limit > 0 else 0
        read_limit = limit
        items: list[dict] = []
        last_key: Optional[bytes] = None
        has_more = False
        revision = with_rev
        count = 0
        bstart = start_key.encode("utf-8")
        while True:
            try:
                res = await self.kv.list(bprefix, revision, read_limit, bstart)
            except CompactedError:
                if continuing:
                    # kube: a token to go on at the newest revision (rv -1), with its message
                    raise ExpiredError(
                        INCONSISTENT_CONTINUE, encode_continue(start_key, prefix, -1)
                    ) from None
                raise ExpiredError(EXPIRED_LIST) from None
            except FutureRevisionError as e:
                raise TooLargeResourceVersionError(e.revision, e.current_revision) from None
            if revision == 0:
                revision = res.revision
                if from_rv > revision and not continuing:
                    raise TooLargeResourceVersionError(from_rv, revision)
            if last_key is None:
                count = res.count
            full = False
            for kv in res.kvs:
                if limit and len(items) >= limit:
                    full = True
                    break
                last_key = kv.key
                obj = decode_kv(kv)
                if pred.empty or pred.matches(obj):
                    items.append(obj)
            has_more = full or res.more
            if not res.kvs or not res.more or full or not limit or len(items) >= limit:
                break
            # filtered page not full yet: read on past the last key, in bigger chunks (kube).
            bstart = (last_key or bstart) + b"\x00"
            read_limit = min(read_limit * 2, MAX_LIMIT)
        out: dict[str, Any] = {
            "items": items,
            "resourceVersion": str(revision),
            "continue": "",
            "remainingItemCount": None,
        }
        if limit and has_more and last_key is not None:
            next_key = last_key.decode("utf-8", "surrogateescape") + "\x00"
            out["continue"] = encode_continue(next_key, prefix, revision)
            if pred.empty:
                remaining = count - len(items)
                out["remainingItemCount"] = remaining if remaining >= 0 else None
        return out

    async def _get_single_list(self, key: str, opts: ListOptions) -> dict:
        from_rv = parse_resource_version(opts.resource_version)
        rev = from_rv if opts.resource_version_match == "Exact" else 0
        try:
            kv, revision = await self.kv.get(self._bkey(key), rev)
        except CompactedError:
            raise ExpiredError(EXPIRED_LIST) from None
        except FutureRevisionError as e:
            raise TooLargeResourceVersionError(e.revision, e.current_revision) from None
        if rev:
            revision = rev
        elif from_rv > revision:
            raise TooLargeResourceVersionError(from_rv, revision)
        items = []
        if kv is not None:
            obj = decode_kv(kv)
            if opts.predicate.matches(obj):
                items.append(obj)
        return {
            "items": items,
            "resourceVersion": str(revision),
            "continue": "",
            "remainingItemCount": None,
        }

    # ---------------------------------------------------------------------------------------------
    # writes

    async def _read_state(self, key: str, bkey: bytes) -> _State:
        kv, _ = await self.kv.get(bkey)
        return self._state_of(kv)

    def _state_of(self, kv: Optional[KeyValue]) -> _State:
        if kv is None:
            return _State(None, 0, 0, False)
        return _State(decode_kv(kv), kv.mod_revision, kv.lease, False)

    def guaranteed_update(
        self,
        key: str,
        try_update: Callable[[Optional[dict]], Any],
        preconditions: Optional[Preconditions] = None,
        ignore_not_found: bool = False,
        cached_existing: Optional[dict] = None,
    ) -> Deferred[dict]:
        """
        Read-modify-write with retries on conflict; see L{IStorage.guaranteed_update}. An object
        returned by C{try_update} whose resourceVersion is set and differs from the current one
        fails with kube's optimistic-lock L{ConflictError}. C{cached_existing} (a possibly stale
        copy) saves the first read; it is re-read before any failure is reported.
        """
        return Deferred.fromCoroutine(
            self._guaranteed_update(key, try_update, preconditions, ignore_not_found, cached_existing)
        )

    async def _guaranteed_update(
        self,
        key: str,
        try_update: Callable[[Optional[dict]], Any],
        preconditions: Optional[Preconditions],
        ignore_not_found: bool,
        cached_existing: Optional[dict],
    ) -> dict:
        bkey = self._bkey(key)
        if cached_existing is not None and resource_version_of(cached_existing):
            state = _State(
                deep_copy(cached_existing), int(resource_version_of(cached_existing)), 0, True
            )
            # the lease is unknown from a cached copy: read it when a write is attempted
        else:
            state = await self._read_state(key, bkey)
        while True:
            if state.obj is None and not ignore_not_found:
                if state.stale:
                    state = await self._read_state(key, bkey)
                    continue
                raise KeyNotFoundError(key)
            try:
                if state.obj is not None:
                    check_preconditions(key, preconditions, state.obj)
                new = await call_maybe_async(
                    try_update, None if state.obj is None else deep_copy(state.obj)
                )
                if new is None:
                    raise StorageError("try_update returned no object")
                new_rv = resource_version_of(new)
                if state.obj is not None and new_rv and new_rv != resource_version_of(state.obj):
                    raise ConflictError(key, OPTIMISTIC_LOCK_MESSAGE)
            except Exception:
                if state.stale:
                    state = await self._read_state(key, bkey)
                    continue
                raise
            stored_new = without_resource_version(new)
            if state.obj is not None and stored_new == without_resource_version(state.obj):
                if state.stale:
                    state = await self._read_state(key, bkey)
                    continue
                return state.obj
            if state.stale:
                # a cached copy carries no lease: learn it from the current value first
                fresh = await self._read_state(key, bkey)
                if fresh.mod_revision != state.mod_revision:
                    state = fresh
                    continue
                state = fresh
            data = encode_object(stored_new)
            try:
                result = await self.kv.optimistic_put(bkey, data, state.mod_revision, state.lease)
            except LeaseNotFoundError:
                state = await self._read_state(key, bkey)
                continue
            if result.succeeded:
                out = orjson.loads(data)
                return with_resource_version(out, result.kv.mod_revision if result.kv else result.revision)
            state = self._state_of(result.kv)

    def delete(
        self,
        key: str,
        preconditions: Optional[Preconditions] = None,
        validate_deletion: Optional[Callable[[dict], Any]] = None,
        cached_existing: Optional[dict] = None,
    ) -> Deferred[dict]:
        """
        Delete one object after checking C{preconditions} and C{validate_deletion} against its
        current value (retrying when it changes meanwhile). Fires with the deleted object, its
        resourceVersion the deletion's revision.
        """
        return Deferred.fromCoroutine(
            self._delete(key, preconditions, validate_deletion, cached_existing)
        )

    async def _delete(
        self,
        key: str,
        preconditions: Optional[Preconditions],
        validate_deletion: Optional[Callable[[dict], Any]],
        cached_existing: Optional[dict],
    ) -> dict:
        bkey = self._bkey(key)
        if cached_existing is not None and resource_version_of(cached_existing):
            state = _State(
                deep_copy(cached_existing), int(resource_version_of(cached_existing)), 0, True
            )
        else:
            state = await self._read_state(key, bkey)
        while True:
            if state.obj is None:
                if state.stale:
                    state = await self._read_state(key, bkey)
                    continue
                raise KeyNotFoundError(key)
            try:
                check_preconditions(key, preconditions, state.obj)
                if validate_deletion is not None:
                    await call_maybe_async(validate_deletion, deep_copy(state.obj))
            except Exception:
                if state.stale:
                    state = await self._read_state(key, bkey)
                    continue
                raise
            result = await self.kv.optimistic_delete(bkey, state.mod_revision)
            if result.succeeded:
                deleted = result.kv
                obj = decode_kv(deleted, result.revision) if deleted else state.obj
                return with_resource_version(obj, result.revision)
            state = self._state_of(result.kv)

    # ---------------------------------------------------------------------------------------------
    # watch

    def watch(self, key: str, opts: ListOptions, on_event: Callable[[Event], Any]) -> Deferred[Any]:
        """
        Watch one key or a prefix; see L{IStorage.watch}. C{""} and C{"0"} both start with
        synthetic ADDED events for the current state (kube's etcd3 watcher treats both as "from
        now, with the initial state"); a number N streams every change after N.
        C{send_initial_events} true sends the current state first whatever the resourceVersion,
        then (with bookmarks allowed) kube's C{k8s.io/initial-events-end} BOOKMARK; false starts
        at C{""}/C{"0"} without it.
        """
        return Deferred.fromCoroutine(self._watch(key, opts, on_event))

    async def _watch(self, key: str, opts: ListOptions, on_event: Callable[[Event], Any]) -> IWatcher:
        recursive = opts.recursive
        wkey = list_prefix(key, recursive)
        bkey = self._bkey(wkey)
        rv = parse_resource_version(opts.resource_version)
        watcher = StoreWatcher(
            wkey, recursive, opts.predicate, on_event, rv, self._watchers.discard
        )
        self._watchers.add(watcher)
        try:
            return await self._start_watch(watcher, bkey, rv, opts)
        except BaseException:
            watcher.stop()
            raise

    async def _start_watch(
        self, watcher: StoreWatcher, bkey: bytes, rv: int, opts: ListOptions
    ) -> IWatcher:
        recursive = opts.recursive
        if wants_initial_events(opts, rv):
            if recursive:
                res = await self.kv.list(bkey)
                kvs, start = res.kvs, res.revision
            else:
                kv, start = await self.kv.get(bkey)
                kvs = (kv,) if kv is not None else ()
            for kv in kvs:
                obj = decode_kv(kv)
                if opts.predicate.matches(obj):
                    watcher.deliver(Event(ADDED, obj))
            if opts.send_initial_events and opts.allow_watch_bookmarks:
                watcher.deliver(initial_events_end(start))
        elif rv == 0:
            start = await self.kv.current_revision()
        else:
            start = rv
        if watcher.stopped:
            return watcher
        kv_watch = self.kv.watch(bkey, start + 1, watcher.on_kv_events)
        watcher._kv_watch = kv_watch

        def ended(result: Any) -> None:
            if isinstance(result, Failure):
                err = result.value
                if not isinstance(err, StorageError):
                    log.failure("IKV watch failed", result)
                watcher.fail(err)
            else:
                watcher.stop()

        kv_watch.done.addBoth(ended)
        kv_watch.started.addErrback(lambda f: None)  # the failure also ends the watch via done
        if not kv_watch.started.called:
            timed_out: Deferred[None] = Deferred()
            call = self.clock.callLater(self.watch_start_timeout, timed_out.callback, None)
            await first_of(kv_watch.started, watcher.done, timed_out)
            if call.active():
                call.cancel()
            if not kv_watch.started.called and not watcher.stopped:
                watcher.stop()
                raise UnavailableError(
                    f"the storage backend did not start a watch within {self.watch_start_timeout} s"
                )
        return watcher

    def close(self) -> Deferred[None]:
        """
        End every watch of this store.
        """
        for w in list(self._watchers):
            w.stop()
        return Deferred.fromCoroutine(_none())


async def _none() -> None:
    return None


def first_of(*ds: Deferred[Any]) -> Deferred[None]:
    """
    A Deferred that fires with None when the first of C{ds} fires (either way), leaving their
    results untouched for their other consumers.
    """
    out: Deferred[None] = Deferred()

    def fired(result: Any) -> Any:
        if not out.called:
            out.callback(None)
        return result

    for d in ds:
        d.addBoth(fired)
    return out
