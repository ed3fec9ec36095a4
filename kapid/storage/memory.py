"""
L{MemoryKV}: an L{IKV} held in memory, with etcd's semantics.

One store-wide revision counter (an empty store is at revision 1, as etcd is), the full history of
every key (reads at an old revision, watches from an old revision with C{prev_kv}), compaction
(L{CompactedError} for reads and watches before the compact revision), leases that expire on the
injected clock (their keys are deleted in one revision, with DELETE events) and L{MemoryKV.put_all}
as one revision.

Watch delivery is B{synchronous}: the events of a write are handed to every matching watcher before
the write's Deferred fires (the Deferreds returned here have already fired when the method returns).
Deliveries go through one store-wide queue, so a watcher callback that writes again does not
reorder events: every watcher sees every revision in order. A watch from an old revision replays
history before L{MemoryKV.watch} returns (when not called from inside a callback). etcd gives no
ordering guarantee between a write's response and its watch event; callers must not rely on either
order.

The watch machinery (L{WatchHub}) and the key range helpers are shared with the embedded store.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from typing import Any, Callable, Iterable, Optional, List

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

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
    UnavailableError,
)

log = Logger()

#: etcd's default C{--max-request-bytes}: a key plus value larger than this is refused.
MAX_REQUEST_BYTES = 1572864


def prefix_range_end(prefix: bytes) -> bytes:
    """
    The exclusive end of the key range of all keys starting with C{prefix} (etcd's
    C{GetPrefixRangeEnd}): the prefix with its last byte below 0xff incremented, trailing 0xff bytes
    dropped. C{b""} means "no end" (the prefix is empty or all 0xff).
    """
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b""


def in_prefix(key: bytes, prefix: bytes) -> bool:
    """
    Whether C{key} starts with C{prefix}.
    """
    return key.startswith(prefix)


def check_size(key: bytes, value: bytes) -> None:
    """
    Raise L{RequestTooLargeError} when a write of C{value} at C{key} exceeds etcd's request limit.
    """
    if len(key) + len(value) > MAX_REQUEST_BYTES:
        raise RequestTooLargeError("etcdserver: request is too large")


# --------------------------------------------------------------------------------------------------
# Watches


@implementer(IKVWatch)
class HubWatch:
    """
    One watch registered with a L{WatchHub}.
    """

    def __init__(
        self,
        hub: "WatchHub",
        prefix: bytes,
        next_revision: int,
        on_events: Callable[[list[KVEvent]], None],
    ) -> None:
        self._hub = hub
        self.prefix = prefix
        self.next_revision = next_revision
        self.on_events = on_events
        self.started: Deferred[None] = Deferred()
        self.done: Deferred[None] = Deferred()
        self.active = True

    def cancel(self) -> None:
        """
        Stop the watch; C{done} fires with None.
        """
        if self.active:
            self.active = False
            self._hub.remove(self)
            self.done.callback(None)

    def fail(self, error: Exception) -> None:
        """
        End the watch with C{error} on C{done}.
        """
        if self.active:
            self.active = False
            self._hub.remove(self)
            if not self.started.called:
                self.started.callback(None)
            self.done.errback(error)

    def deliver(self, revision: int, events: list[KVEvent]) -> None:
        """
        Hand the events of C{revision} that match this watch's prefix to the callback.
        """
        if not self.active or revision < self.next_revision:
            return
        self.next_revision = revision + 1
        mine = [e for e in events if e.kv.key.startswith(self.prefix)]
        if not mine:
            return
        try:
            self.on_events(mine)
        except Exception:
            log.failure("watch callback failed for revision {revision}", revision=revision)


class WatchHub:
    """
    Ordered, reentrancy-safe, synchronous delivery of committed revisions to watches.

    C{history(from_revision)} returns the C{(revision, events)} of every committed revision from
    C{from_revision} on (a list, synchronously) and raises L{CompactedError} when that is gone; it is
    used to replay history to a new watch. Stores that read history asynchronously (the embedded
    store) use L{WatchHub.attach} after their own replay instead.
    """

    def __init__(self) -> None:
        self._watches: list[HubWatch] = []
        self._queue: deque[Callable[[], None]] = deque()
        self._draining = False

    def remove(self, watch: HubWatch) -> None:
        """
        Forget C{watch}.
        """
        try:
            self._watches.remove(watch)
        except ValueError:
            pass

    def _run(self, task: Callable[[], None]) -> None:
        self._queue.append(task)
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue:
                self._queue.popleft()()
        finally:
            self._draining = False

    def publish(self, revision: int, events: list[KVEvent]) -> None:
        """
        Deliver one committed revision to every watch, after any deliveries already queued.
        """

        def task() -> None:
            for w in list(self._watches):
                w.deliver(revision, events)

        self._run(task)

    def attach(
        self,
        watch: HubWatch,
        history: Callable[[int], list[tuple[int, list[KVEvent]]]],
    ) -> None:
        """
        Replay the history C{watch} asks for, then register it for live events, in the queue's order.
        """

        def task() -> None:
            if not watch.active:
                return
            try:
                past = history(watch.next_revision)
            except StorageError as e:
                watch.fail(e)
                return
            self._watches.append(watch)
            watch.started.callback(None)
            for rev, events in past:
                watch.deliver(rev, events)

        self._run(task)

    def close(self) -> None:
        """
        Cancel every watch.
        """
        for w in list(self._watches):
            w.cancel()


# --------------------------------------------------------------------------------------------------
# The store


class _Lease:
    __slots__ = ("ttl", "keys", "call")

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.keys: set[bytes] = set()
        self.call: Any = None


@implementer(IKV)
class MemoryKV:
    """
    An in-memory L{IKV} with etcd's semantics; leases expire on C{clock}.

    Besides the L{IKV} methods it offers synchronous primitives (L{range_sync}, L{txn_sync},
    L{revoke_lease}) that the fake etcd gateway builds on.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._rev = 1
        self._compact_rev = 0
        # key -> [(revision, KeyValue or None for a deletion)], oldest first
        self._hist: dict[bytes, list[tuple[int, Optional[KeyValue]]]] = {}
        self._sorted: list[bytes] = []
        self._current: dict[bytes, KeyValue] = {}
        self._log: list[tuple[int, list[KVEvent]]] = []  # every revision after the compact revision
        self._leases: dict[int, _Lease] = {}
        self._next_lease = 0x1000
        self._hub = WatchHub()
        self._closed = False

    # -- synchronous core ---------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """
        The current revision.
        """
        return self._rev

    @property
    def compact_revision(self) -> int:
        """
        The revision of the last compaction (0: none).
        """
        return self._compact_rev

    def _check_read_revision(self, revision: int) -> int:
        if revision <= 0:
            return self._rev
        if revision > self._rev:
            raise FutureRevisionError(revision, self._rev)
        if revision < self._compact_rev:
            raise CompactedError(revision, self._compact_rev)
        return revision

    def _kv_at(self, key: bytes, revision: int) -> Optional[KeyValue]:
        if revision == self._rev:
            return self._current.get(key)
        hist = self._hist.get(key)
        if not hist:
            return None
        i = bisect_right(hist, revision, key=lambda e: e[0]) - 1
        if i < 0:
            return None
        return hist[i][1]

    def range_sync(
        self, key: bytes, range_end: Optional[bytes], revision: int = 0, limit: int = 0
    ) -> tuple[list[KeyValue], int, bool, int]:
        """
        etcd's range: C{range_end} None means the single key C{key}; C{b""} with C{key} C{b"\\0"}
        or a range end of C{b"\\0"} means "to the end". Returns C{(kvs, count, more, revision)};
        raises L{CompactedError} / L{FutureRevisionError}.
        """
        rev = self._check_read_revision(revision)
        if range_end is None:
            kv = self._kv_at(key, rev)
            return ([kv] if kv is not None else []), (1 if kv is not None else 0), False, rev
        lo = bisect_left(self._sorted, key)
        hi = len(self._sorted) if range_end in (b"", b"\0") else bisect_left(self._sorted, range_end)
        kvs: list[KeyValue] = []
        count = 0
        for k in self._sorted[lo:hi]:
            kv = self._kv_at(k, rev)
            if kv is None:
                continue
            count += 1
            if not limit or len(kvs) < limit:
                kvs.append(kv)
        return kvs, count, bool(limit) and count > len(kvs), rev

    def _apply(self, ops: list[tuple]) -> int:
        """
        Apply C{("put", key, value, lease)} and C{("delete", key)} ops at one new revision and publish
        their events. Deletes of absent keys produce nothing; a batch that changes nothing does not
        bump the revision. Returns the store revision after the batch.
        """
        rev = self._rev + 1
        events: list[KVEvent] = []
        for op in ops:
            key = op[1]
            prev = self._current.get(key)
            if op[0] == "put":
                _, _, value, lease = op
                kv = KeyValue(
                    key=key,
                    value=value,
                    create_revision=prev.create_revision if prev else rev,
                    mod_revision=rev,
                    version=prev.version + 1 if prev else 1,
                    lease=lease,
                )
                if prev and prev.lease and prev.lease != lease and prev.lease in self._leases:
                    self._leases[prev.lease].keys.discard(key)
                if lease:
                    self._leases[lease].keys.add(key)
                self._record(key, rev, kv)
                events.append(KVEvent(PUT, kv, prev))
            else:
                if prev is None:
                    continue
                if prev.lease and prev.lease in self._leases:
                    self._leases[prev.lease].keys.discard(key)
                self._record(key, rev, None)
                events.append(KVEvent(DELETE, KeyValue(key, b"", 0, rev, 0), prev))
        if not events:
            return self._rev
        self._rev = rev
        self._log.append((rev, events))
        self._hub.publish(rev, events)
        return rev

    def _record(self, key: bytes, rev: int, kv: Optional[KeyValue]) -> None:
        hist = self._hist.get(key)
        if hist is None:
            hist = self._hist[key] = []
            i = bisect_left(self._sorted, key)
            self._sorted.insert(i, key)
        hist.append((rev, kv))
        if kv is None:
            self._current.pop(key, None)
        else:
            self._current[key] = kv

    def _check_op(self, op: tuple) -> None:
        if op[0] == "put":
            check_size(op[1], op[2])
            if op[3] and op[3] not in self._leases:
                raise LeaseNotFoundError("etcdserver: requested lease not found")

    def txn_sync(
        self,
        compares: list[tuple[bytes, int]],
        success: list[tuple],
        failure: list[tuple],
    ) -> tuple[bool, int, list[Any]]:
        """
        etcd's txn restricted to C{mod_revision == N} compares (C{(key, N)}; 0: absent) and ops
        C{("put", key, value, lease)}, C{("delete", key)}, C{("range", key, range_end_or_None)}.
        Writes happen at one revision. Returns C{(succeeded, revision_after, responses)} where a
        response is the previous KeyValue (or None) for a put, the list of deleted KeyValues for a
        delete and C{(kvs, count, more, revision)} for a range.
        """
        ok = all(
            (self._current[k].mod_revision if k in self._current else 0) == mod
            for k, mod in compares
        )
        ops = success if ok else failure
        for op in ops:
            self._check_op(op)
        responses: list[Any] = []
        writes: list[tuple] = []
        for op in ops:
            if op[0] == "put":
                responses.append(self._current.get(op[1]))
                writes.append(op)
            elif op[0] == "delete":
                prev = self._current.get(op[1])
                responses.append([prev] if prev is not None else [])
                writes.append(op)
        rev = self._apply(writes) if writes else self._rev
        out: list[Any] = []
        wi = iter(responses)
        for op in ops:
            if op[0] == "range":
                out.append(self.range_sync(op[1], op[2]))
            else:
                out.append(next(wi))
        return ok, rev, out

    def delete_range_sync(self, key: bytes, range_end: Optional[bytes]) -> tuple[list[KeyValue], int]:
        """
        Delete a key (C{range_end} None) or a range at one revision. Returns the deleted key-values
        and the revision after.
        """
        kvs = self.range_sync(key, range_end)[0]
        rev = self._apply([("delete", kv.key) for kv in kvs])
        return kvs, rev

    def history(self, from_revision: int) -> list[tuple[int, list[KVEvent]]]:
        """
        The committed revisions from C{from_revision} on, with their events. Raises
        L{CompactedError} when C{from_revision} is before the compact revision.
        """
        if from_revision < self._compact_rev:
            raise CompactedError(from_revision, self._compact_rev)
        if not self._log:
            return []
        base = self._log[0][0]
        return self._log[max(0, from_revision - base):]

    def compact_sync(self, revision: int) -> None:
        """
        Forget history before C{revision}: keep, per key, the newest version at or before it.
        """
        if revision > self._rev:
            raise FutureRevisionError(revision, self._rev)
        if revision <= self._compact_rev:
            raise CompactedError(revision, self._compact_rev)
        self._compact_rev = revision
        for key in list(self._hist):
            hist = self._hist[key]
            i = bisect_right(hist, revision, key=lambda e: e[0]) - 1
            if i <= 0 and not (i == 0 and hist[0][1] is None):
                continue
            keep_from = i if hist[i][1] is not None else i + 1
            del hist[:keep_from]
            if not hist:
                del self._hist[key]
                j = bisect_left(self._sorted, key)
                del self._sorted[j]
        while self._log and self._log[0][0] < revision:
            self._log.pop(0)

    def grant_lease_sync(self, ttl_seconds: int, lease_id: int = 0) -> int:
        """
        Grant a lease (with the given ID, or a new one) expiring after C{ttl_seconds} on the clock.
        """
        if not lease_id:
            self._next_lease += 1
            lease_id = self._next_lease
        lease = _Lease(ttl_seconds)
        lease.call = self._clock.callLater(ttl_seconds, self._expire, lease_id)
        self._leases[lease_id] = lease
        return lease_id

    def _expire(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id, None)
        if lease is not None:
            self._apply([("delete", k) for k in sorted(lease.keys)])

    def revoke_lease(self, lease_id: int) -> int:
        """
        Revoke a lease now, deleting its keys at one revision. Raises L{LeaseNotFoundError}.
        """
        lease = self._leases.get(lease_id)
        if lease is None:
            raise LeaseNotFoundError("etcdserver: requested lease not found")
        if lease.call.active():
            lease.call.cancel()
        self._expire(lease_id)
        return self._rev

    def lease_exists(self, lease_id: int) -> bool:
        """
        Whether the lease is live.
        """
        return lease_id in self._leases

    # -- IKV ----------------------------------------------------------------------------------

    def _guard(self, f: Callable[[], Any]) -> Deferred[Any]:
        if self._closed:
            return fail(UnavailableError("store closed"))
        try:
            return succeed(f())
        except Exception:
            return fail()

    def get(self, key: bytes, revision: int = 0) -> Deferred[Any]:
        """
        See L{IKV.get}.
        """

        def f() -> Any:
            rev = self._check_read_revision(revision)
            return (self._kv_at(key, rev), self._rev)

        return self._guard(f)

    def list(
        self, prefix: bytes, revision: int = 0, limit: int = 0, start_key: Optional[bytes] = None
    ) -> Deferred[Any]:
        """
        See L{IKV.list}.
        """

        def f() -> Any:
            kvs, count, more, rev = self.range_sync(
                start_key if start_key is not None else prefix,
                prefix_range_end(prefix),
                revision,
                limit,
            )
            return ListResult(tuple(kvs), rev, more, count)

        return self._guard(f)

    def count(self, prefix: bytes) -> Deferred[Any]:
        """
        See L{IKV.count}.
        """
        return self._guard(lambda: self.range_sync(prefix, prefix_range_end(prefix))[1])

    def optimistic_put(
        self, key: bytes, value: bytes, expected_mod_revision: int, lease: int = 0
    ) -> Deferred[Any]:
        """
        See L{IKV.optimistic_put}.
        """

        def f() -> Any:
            check_size(key, value)
            ok, rev, _ = self.txn_sync(
                [(key, expected_mod_revision)], [("put", key, value, lease)], []
            )
            return TxnResult(ok, rev, self._current.get(key))

        return self._guard(f)

    def optimistic_delete(self, key: bytes, expected_mod_revision: int) -> Deferred[Any]:
        """
        See L{IKV.optimistic_delete}.
        """

        def f() -> Any:
            current = self._current.get(key)
            if current is None:
                return TxnResult(False, self._rev, None)
            if expected_mod_revision and current.mod_revision != expected_mod_revision:
                return TxnResult(False, self._rev, current)
            rev = self._apply([("delete", key)])
            return TxnResult(True, rev, current)

        return self._guard(f)

    def put_all(self, items: Iterable[tuple[bytes, bytes]]) -> Deferred[Any]:
        """
        See L{IKV.put_all}.
        """

        def f() -> Any:
            ops = [("put", k, v, 0) for k, v in items]
            if len({op[1] for op in ops}) != len(ops):
                raise StorageError("etcdserver: duplicate key given in txn request")
            for op in ops:
                self._check_op(op)
            return self._apply(ops)

        return self._guard(f)

    def watch(
        self,
        prefix: bytes,
        start_revision: int,
        on_events: Callable[[List[KVEvent]], None],
    ) -> HubWatch:
        """
        See L{IKV.watch}. Events are delivered synchronously (see the module docstring).
        """
        w = HubWatch(self._hub, prefix, start_revision or self._rev + 1, on_events)
        if self._closed:
            w.fail(UnavailableError("store closed"))
            return w
        self._hub.attach(w, self.history)
        return w

    def grant_lease(self, ttl_seconds: int) -> Deferred[Any]:
        """
        See L{IKV.grant_lease}.
        """
        return self._guard(lambda: self.grant_lease_sync(ttl_seconds))

    def compact(self, revision: int) -> Deferred[Any]:
        """
        See L{IKV.compact}. Errbacks with L{CompactedError} when C{revision} is not past the last
        compaction and L{FutureRevisionError} when it is past the current revision, as etcd does.
        """
        return self._guard(lambda: self.compact_sync(revision))

    def current_revision(self) -> Deferred[Any]:
        """
        See L{IKV.current_revision}.
        """
        return self._guard(lambda: self._rev)

    def check_health(self) -> Deferred[Any]:
        """
        See L{IKV.check_health}.
        """
        return self._guard(lambda: None)

    def close(self) -> Deferred[Any]:
        """
        Cancel watches and lease timers.
        """
        self._closed = True
        self._hub.close()
        for lease in self._leases.values():
            if lease.call is not None and lease.call.active():
                lease.call.cancel()
        return succeed(None)
