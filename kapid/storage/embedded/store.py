"""
L{EmbeddedKV}: the default L{IKV}: etcd semantics over SQLite in a data dir, kine-style.

Schema (table C{kv}): one row per change of one key, C{(id, revision, name, created, deleted,
create_revision, prev_revision, version, lease, value, old_value, old_lease)}. A write's rows carry
its revision (several rows share one when a transaction changes several keys, as L{put_all} and
lease expiry do); a deletion is a row with C{deleted = 1}. The latest row of a key at or before a
revision is the key at that revision, so reads at old revisions, watches from an old revision (with
C{prev_kv} rebuilt from C{old_value}) and compaction (deleting superseded rows and old tombstones
before the compact revision) behave as etcd's do. Table C{meta} holds the current and compact
revisions; table C{leases} holds leases (ID, TTL, expiry time on the injected clock), so leases
survive a restart and expire on schedule afterwards.

Durability: WAL journal with C{synchronous=NORMAL}. Every write is acknowledged only after its
transaction committed; in WAL mode a committed transaction survives the I{process} being killed
(C{kill -9}); only an OS crash or power loss can drop the last commits (C{synchronous=FULL} would
close that window at about a third of the write rate).

Threading: all SQLite writes run on one dedicated thread (a C{ThreadPool} of size 1) that owns the
writing connection. Point reads (L{EmbeddedKV.get}) issued while no job is queued or
running on the SQLite thread run in the reactor thread on a second, read-only connection: every
job submitted before has committed (results are handed back after the commit), and a WAL reader
sees every committed transaction without waiting for the writer, so the read answers exactly what
it would have answered on the SQLite thread (the revision it reports comes from the same snapshot,
table C{meta}). While jobs are pending, reads queue behind them on the SQLite thread as before. That connection
never waits for a lock (busy timeout 0): when SQLite cannot answer at once, the read goes to the
SQLite thread as before. Everything else runs on the SQLite thread. Jobs queue up while the thread is busy and the
next round runs all queued jobs in one transaction (one commit for a batch of writes under load,
each write in its own savepoint so one failing write does not affect the others). Results, and the
watch events of committed writes, go back to the reactor thread in commit order with
C{callFromThread}; watch events of a write are delivered (through the same ordered hub as
L{MemoryKV}) just before its Deferred fires.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import sqlite3
import threading
from typing import Any, Callable, Iterable, Optional, List

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from kapid.storage.interfaces import (
    DELETE,
    PUT,
    CompactedError,
    FutureRevisionError,
    IKV,
    KeyValue,
    KVEvent,
    LeaseNotFoundError,
    ListResult,
    StorageError,
    TxnResult,
    UnavailableError,
)
from kapid.storage.memory import HubWatch, WatchHub, check_size, prefix_range_end

log = Logger()

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    revision INTEGER NOT NULL,
    name BLOB NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lease INTEGER NOT NULL,
    value BLOB,
    old_value BLOB,
    old_lease INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kv_name_revision_deleted ON kv (name, revision, deleted);
CREATE INDEX IF NOT EXISTS kv_revision ON kv (revision);
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (k, v) VALUES ('revision', 1), ('compact_revision', 0);
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY,
    ttl INTEGER NOT NULL,
    expires REAL NOT NULL
);
"""

_COLS = "revision, name, created, deleted, create_revision, prev_revision, version, lease, value, old_value, old_lease"

_KCOLS = ", ".join("k." + c.strip() for c in _COLS.split(","))


_NO_BOUND = 1 << 62

# a point read with the current and compact revisions, in one statement (one read snapshot)
_POINT_READ = (
    f"SELECT r.v, c.v, {_KCOLS} FROM meta r JOIN meta c ON c.k = 'compact_revision'"
    " LEFT JOIN kv k ON k.id ="
    " (SELECT id FROM kv WHERE name = ? AND revision <= ? ORDER BY revision DESC LIMIT 1)"
    " WHERE r.k = 'revision'"
)


def _kv_of(row: tuple) -> Optional[KeyValue]:
    """
    The key-value a row leaves behind (None for a deletion).
    """
    rev, name, _created, deleted, create_rev, _prev, version, lease, value, _old, _ol = row
    if deleted:
        return None
    return KeyValue(name, value or b"", create_rev, rev, version, lease)


def _event_of(row: tuple) -> KVEvent:
    """
    The watch event of a row, with C{prev_kv} rebuilt from its C{old_*} columns.
    """
    rev, name, created, deleted, create_rev, prev_rev, version, lease, value, old, old_lease = row
    if deleted:
        prev = KeyValue(name, old or b"", create_rev, prev_rev, version, old_lease)
        return KVEvent(DELETE, KeyValue(name, b"", 0, rev, 0), prev)
    kv = KeyValue(name, value or b"", create_rev, rev, version, lease)
    if created:
        return KVEvent(PUT, kv, None)
    return KVEvent(PUT, kv, KeyValue(name, old or b"", create_rev, prev_rev, version - 1, old_lease))


class _Job:
    __slots__ = ("fn", "deferred", "close")

    def __init__(
        self, fn: Callable[[sqlite3.Connection], Any], deferred: Deferred[Any], close: bool = False
    ) -> None:
        self.fn = fn
        self.deferred = deferred
        self.close = close


@implementer(IKV)
class EmbeddedKV:
    """
    The SQLite-backed L{IKV}. Open it with L{EmbeddedKV.open}; see the module docstring.
    """

    def __init__(self, path: str, reactor: Any, clock: Any = None) -> None:
        self.path = path
        self._reactor = reactor
        self._clock = clock if clock is not None else reactor
        self._pool = ThreadPool(1, 1, name="kapid-sqlite")
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._scheduled = False
        self._conn: Optional[sqlite3.Connection] = None
        # owned by the reactor thread: the read-only connection for point reads
        self._reader: Optional[sqlite3.Connection] = None
        # jobs submitted and not yet delivered (reactor thread)
        self._pending = 0
        # owned by the SQLite thread
        self._w_rev = 1
        self._w_compact = 0
        # owned by the reactor thread
        self._published = 1
        self._compact = 0
        self._hub = WatchHub()
        self._lease_calls: dict[int, Any] = {}
        self._closed = False
        self._shutdown_trigger: Any = None
        self._lock_fd: Optional[int] = None

    # -- life ---------------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str, reactor: Any, clock: Any = None) -> "EmbeddedKV":
        """
        Open (creating it if needed) the store in directory C{path}, start its SQLite thread, and
        schedule the expiry of stored leases on C{clock} (default: C{reactor}).
        """
        os.makedirs(path, exist_ok=True)
        store = cls(path, reactor, clock)
        store._take_lock()
        store._pool.start()
        store._shutdown_trigger = reactor.addSystemEventTrigger(
            "during", "shutdown", store._shutdown
        )
        try:
            leases = await store._submit(store._init)
        except BaseException:
            store._stop_pool()
            store._release_lock()
            raise
        now = store._clock.seconds()
        for lease_id, expires in leases:
            store._schedule_expiry(lease_id, max(0.0, expires - now))
        return store

    def _take_lock(self) -> None:
        """
        Hold an exclusive lock on C{<path>/LOCK} while open: a second process (or store) on the
        same data dir is refused. The OS drops the lock when the process dies, even by SIGKILL.
        """
        fd = os.open(os.path.join(self.path, "LOCK"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(f"the data dir {self.path} is in use by another kapid process")
        self._lock_fd = fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _init(self, c: sqlite3.Connection) -> list[tuple[int, float]]:
        rev = c.execute("SELECT v FROM meta WHERE k = 'revision'").fetchone()[0]
        comp = c.execute("SELECT v FROM meta WHERE k = 'compact_revision'").fetchone()[0]
        self._w_rev, self._w_compact = rev, comp
        self._reactor.callFromThread(self._set_known, rev, comp)
        return c.execute("SELECT id, expires FROM leases").fetchall()

    def _set_known(self, rev: int, comp: int) -> None:
        self._published = rev
        self._compact = comp

    def _connect(self) -> sqlite3.Connection:
        c = sqlite3.connect(
            os.path.join(self.path, "kapid.db"), isolation_level=None, check_same_thread=True
        )
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA busy_timeout=5000")
        c.executescript("BEGIN;" + SCHEMA + "COMMIT;")
        return c

    def _stop_pool(self) -> None:
        if self._pool.started:
            self._pool.stop()

    def _shutdown(self) -> Deferred[Any]:
        self._shutdown_trigger = None
        return self.close()

    def close(self) -> Deferred[Any]:
        """
        Cancel watches and lease timers, close the database and stop the SQLite thread.
        """
        if self._closed:
            return succeed(None)
        self._closed = True
        self._close_reader()
        self._hub.close()
        for call in self._lease_calls.values():
            if call.active():
                call.cancel()
        self._lease_calls.clear()
        if self._shutdown_trigger is not None:
            self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            self._shutdown_trigger = None

        d = self._submit(lambda c: None, close=True)

        def stopped(result: Any) -> Any:
            self._stop_pool()
            self._release_lock()
            return None

        d.addBoth(stopped)
        return d

    # -- the SQLite thread --------------------------------------------------------------------

    def _submit(self, fn: Callable[[sqlite3.Connection], Any], close: bool = False) -> Deferred[Any]:
        if self._closed and not close:
            return fail(UnavailableError("embedded store closed"))
        d: Deferred[Any] = Deferred()
        self._pending += 1
        with self._lock:
            self._queue.append(_Job(fn, d, close))
            start = not self._scheduled
            self._scheduled = True
        if start:
            self._pool.callInThread(self._drain)
        return d

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._scheduled = False
                    return
            self._reactor.callFromThread(self._deliver, self._run_batch(batch))

    def _run_batch(self, batch: list[_Job]) -> list[tuple]:
        if self._conn is None:
            if all(job.close for job in batch):
                return [(job.deferred, True, None, 0, None) for job in batch]
            try:
                self._conn = self._connect()
            except Exception as e:
                err = UnavailableError(f"cannot open {self.path}: {e}")
                return [(job.deferred, False, err, 0, None) for job in batch]
        c = self._conn
        results: list[tuple] = []
        rev_before, compact_before = self._w_rev, self._w_compact
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            err = UnavailableError(f"embedded store: {e}")
            return [(job.deferred, False, err, 0, None) for job in batch]
        rest: list[_Job] = []
        for i, job in enumerate(batch):
            if job.close:
                rest = batch[i:]
                break
            rev0 = self._w_rev
            c.execute("SAVEPOINT job")
            try:
                out = job.fn(c)
            except BaseException as e:
                c.execute("ROLLBACK TO job")
                c.execute("RELEASE job")
                self._w_rev = rev0
                if not isinstance(e, StorageError):
                    e = StorageError(f"embedded store: {e!r}")
                results.append((job.deferred, False, e, 0, None))
                continue
            c.execute("RELEASE job")
            if isinstance(out, _Written):
                results.append((job.deferred, True, out.result, out.revision, out.events))
            else:
                results.append((job.deferred, True, out, 0, None))
        try:
            if self._w_rev != rev_before:
                c.execute("UPDATE meta SET v = ? WHERE k = 'revision'", (self._w_rev,))
            c.execute("COMMIT")
        except sqlite3.Error as e:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._w_rev, self._w_compact = rev_before, compact_before
            err = UnavailableError(f"embedded store commit failed: {e}")
            results = [(d, False, err, 0, None) for d, *_ in results]
        if rest:
            c.close()
            self._conn = None
            results.append((rest[0].deferred, True, None, 0, None))
            closed = UnavailableError("embedded store closed")
            results.extend((job.deferred, False, closed, 0, None) for job in rest[1:])
        return results

    def _deliver(self, results: list[tuple]) -> None:
        self._pending -= len(results)
        for d, ok, value, rev, events in results:
            if events:
                self._published = rev
                self._hub.publish(rev, events)
            if ok:
                d.callback(value)
            else:
                d.errback(value)

    # -- SQLite thread helpers ----------------------------------------------------------------

    def _read_rev(self, revision: int) -> int:
        if revision <= 0:
            return self._w_rev
        if revision > self._w_rev:
            raise FutureRevisionError(revision, self._w_rev)
        if revision < self._w_compact:
            raise CompactedError(revision, self._w_compact)
        return revision

    def _latest_row(self, c: sqlite3.Connection, key: bytes, revision: int) -> Optional[tuple]:
        row: Optional[tuple] = c.execute(
            f"SELECT {_COLS} FROM kv WHERE name = ? AND revision <= ? "
            "ORDER BY revision DESC LIMIT 1",
            (key, revision),
        ).fetchone()
        return row

    def _current(self, c: sqlite3.Connection, key: bytes) -> Optional[KeyValue]:
        row = self._latest_row(c, key, self._w_rev)
        return _kv_of(row) if row else None

    def _put_row(
        self, c: sqlite3.Connection, rev: int, key: bytes, value: bytes, lease: int,
        prev: Optional[KeyValue],
    ) -> KVEvent:
        if prev is None:
            c.execute(
                "INSERT INTO kv (revision, name, created, deleted, create_revision, prev_revision,"
                " version, lease, value, old_value, old_lease) VALUES (?,?,1,0,?,0,1,?,?,NULL,0)",
                (rev, key, rev, lease, value),
            )
            return KVEvent(PUT, KeyValue(key, value, rev, rev, 1, lease), None)
        c.execute(
            "INSERT INTO kv (revision, name, created, deleted, create_revision, prev_revision,"
            " version, lease, value, old_value, old_lease) VALUES (?,?,0,0,?,?,?,?,?,?,?)",
            (rev, key, prev.create_revision, prev.mod_revision, prev.version + 1, lease, value,
             prev.value, prev.lease),
        )
        kv = KeyValue(key, value, prev.create_revision, rev, prev.version + 1, lease)
        return KVEvent(PUT, kv, prev)

    def _delete_row(self, c: sqlite3.Connection, rev: int, prev: KeyValue) -> KVEvent:
        c.execute(
            "INSERT INTO kv (revision, name, created, deleted, create_revision, prev_revision,"
            " version, lease, value, old_value, old_lease) VALUES (?,?,0,1,?,?,?,0,NULL,?,?)",
            (rev, prev.key, prev.create_revision, prev.mod_revision, prev.version, prev.value,
             prev.lease),
        )
        return KVEvent(DELETE, KeyValue(prev.key, b"", 0, rev, 0), prev)

    def _check_lease(self, c: sqlite3.Connection, lease: int) -> None:
        if lease and c.execute("SELECT 1 FROM leases WHERE id = ?", (lease,)).fetchone() is None:
            raise LeaseNotFoundError("etcdserver: requested lease not found")

    def _range_sql(self, lo: bytes, end: bytes) -> tuple[str, tuple]:
        if end:
            return "name >= ? AND name < ?", (lo, end)
        return "name >= ?", (lo,)

    # -- IKV ----------------------------------------------------------------------------------

    def get(self, key: bytes, revision: int = 0) -> Deferred[Any]:
        """
        See L{IKV.get}: answered in the reactor thread from the read-only connection when no job
        is pending (see the module docstring), else (or when that connection cannot answer at
        once) on the SQLite thread.
        """
        if self._pending == 0 and not self._closed:
            try:
                return succeed(self._read_now(key, revision))
            except StorageError:
                return fail()
            except sqlite3.Error as e:
                log.debug("embedded store: point read on the SQLite thread ({e})", e=e)
                self._close_reader()

        def job(c: sqlite3.Connection) -> tuple[Optional[KeyValue], int]:
            rev = self._read_rev(revision)
            row = self._latest_row(c, key, rev)
            return (_kv_of(row) if row else None), self._w_rev

        return self._submit(job)

    def _read_now(self, key: bytes, revision: int) -> tuple[Optional[KeyValue], int]:
        """
        A point read in the reactor thread: one statement, so one snapshot for the row and the
        revisions in C{meta}. Raises C{sqlite3.Error} when SQLite cannot answer at once.
        """
        c = self._reader
        if c is None:
            uri = pathlib.Path(os.path.abspath(os.path.join(self.path, "kapid.db"))).as_uri()
            c = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=0)
            self._reader = c
        # every committed row is at or before meta's revision (both change in one transaction),
        # so "the latest row" needs no bound when no revision is asked for
        row = c.execute(_POINT_READ, (key, revision if revision > 0 else _NO_BOUND)).fetchone()
        current, compact = row[0], row[1]
        if revision > current:
            raise FutureRevisionError(revision, current)
        if 0 < revision < compact:
            raise CompactedError(revision, compact)
        kv_row = row[2:]
        return (_kv_of(kv_row) if kv_row[0] is not None else None), current

    def _close_reader(self) -> None:
        c, self._reader = self._reader, None
        if c is not None:
            try:
                c.close()
            except sqlite3.Error:
                pass

    def list(
        self, prefix: bytes, revision: int = 0, limit: int = 0, start_key: Optional[bytes] = None
    ) -> Deferred[Any]:
        """
        See L{IKV.list}.
        """

        def job(c: sqlite3.Connection) -> ListResult:
            rev = self._read_rev(revision)
            where, args = self._range_sql(
                start_key if start_key is not None else prefix, prefix_range_end(prefix)
            )
            # the rows that are the latest of their key at `rev`, walked in key order on the
            # (name, revision, deleted) index; the count is read from the index alone
            latest = (
                f"FROM kv k WHERE {where.replace('name', 'k.name')} AND k.revision ="
                " (SELECT MAX(revision) FROM kv WHERE name = k.name AND revision <= ?)"
                " AND k.deleted = 0"
            )
            rows = c.execute(
                f"SELECT {_KCOLS} {latest} ORDER BY k.name" + (" LIMIT ?" if limit else ""),
                args + (rev,) + ((limit,) if limit else ()),
            ).fetchall()
            kvs = tuple(_kv_of(r) for r in rows)
            if limit and len(rows) == limit:
                count = c.execute(f"SELECT COUNT(*) {latest}", args + (rev,)).fetchone()[0]
            else:
                count = len(rows)
            return ListResult(kvs, rev, count > len(kvs), count)  # type: ignore[arg-type]

        return self._submit(job)

    def count(self, prefix: bytes) -> Deferred[Any]:
        """
        See L{IKV.count}.
        """
        d = self.list(prefix, limit=1)
        d.addCallback(lambda r: r.count)
        return d

    def optimistic_put(
        self, key: bytes, value: bytes, expected_mod_revision: int, lease: int = 0
    ) -> Deferred[Any]:
        """
        See L{IKV.optimistic_put}.
        """
        try:
            check_size(key, value)
        except StorageError:
            return fail()

        def job(c: sqlite3.Connection) -> Any:
            prev = self._current(c, key)
            if (prev.mod_revision if prev else 0) != expected_mod_revision:
                return TxnResult(False, self._w_rev, prev)
            self._check_lease(c, lease)
            rev = self._w_rev + 1
            ev = self._put_row(c, rev, key, value, lease, prev)
            self._w_rev = rev
            return _Written(TxnResult(True, rev, ev.kv), rev, [ev])

        return self._submit(job)

    def optimistic_delete(self, key: bytes, expected_mod_revision: int) -> Deferred[Any]:
        """
        See L{IKV.optimistic_delete}.
        """

        def job(c: sqlite3.Connection) -> Any:
            prev = self._current(c, key)
            if prev is None:
                return TxnResult(False, self._w_rev, None)
            if expected_mod_revision and prev.mod_revision != expected_mod_revision:
                return TxnResult(False, self._w_rev, prev)
            rev = self._w_rev + 1
            ev = self._delete_row(c, rev, prev)
            self._w_rev = rev
            return _Written(TxnResult(True, rev, prev), rev, [ev])

        return self._submit(job)

    def put_all(self, items: Iterable[tuple[bytes, bytes]]) -> Deferred[Any]:
        """
        See L{IKV.put_all}.
        """
        pairs = list(items)
        try:
            for k, v in pairs:
                check_size(k, v)
            if len({k for k, _ in pairs}) != len(pairs):
                raise StorageError("etcdserver: duplicate key given in txn request")
        except StorageError:
            return fail()

        def job(c: sqlite3.Connection) -> Any:
            if not pairs:
                return self._w_rev
            rev = self._w_rev + 1
            events = [self._put_row(c, rev, k, v, 0, self._current(c, k)) for k, v in pairs]
            self._w_rev = rev
            return _Written(rev, rev, events)

        return self._submit(job)

    def watch(
        self,
        prefix: bytes,
        start_revision: int,
        on_events: Callable[[List[KVEvent]], None],
    ) -> HubWatch:
        """
        See L{IKV.watch}. History before the last delivered revision is read on the SQLite thread;
        live events come from commits, in order.
        """
        w = HubWatch(self._hub, prefix, start_revision or self._published + 1, on_events)
        if self._closed:
            w.fail(UnavailableError("embedded store closed"))
            return w
        if start_revision and start_revision < self._compact:
            w.fail(CompactedError(start_revision, self._compact))
            return w
        if not start_revision or start_revision > self._published:
            self._hub.attach(w, lambda _: [])
            return w
        end = prefix_range_end(prefix)

        def job(c: sqlite3.Connection) -> list[tuple[int, list[KVEvent]]]:
            if start_revision < self._w_compact:
                raise CompactedError(start_revision, self._w_compact)
            where, args = self._range_sql(prefix, end)
            out: list[tuple[int, list[KVEvent]]] = []
            for row in c.execute(
                f"SELECT {_COLS} FROM kv WHERE revision >= ? AND {where} ORDER BY revision, id",
                (start_revision,) + args,
            ):
                ev = _event_of(row)
                if out and out[-1][0] == row[0]:
                    out[-1][1].append(ev)
                else:
                    out.append((row[0], [ev]))
            return out

        def replay(past: list[tuple[int, list[KVEvent]]]) -> None:
            self._hub.attach(w, lambda frm: [(r, e) for r, e in past if r >= frm])

        def failed(f: Any) -> None:
            w.fail(f.value if isinstance(f.value, StorageError) else StorageError(str(f.value)))

        self._submit(job).addCallbacks(replay, failed)
        return w

    def grant_lease(self, ttl_seconds: int) -> Deferred[Any]:
        """
        See L{IKV.grant_lease}. The lease is stored with its expiry time on the clock.
        """
        expires = self._clock.seconds() + ttl_seconds

        def job(c: sqlite3.Connection) -> int:
            row = c.execute("SELECT MAX(id) FROM leases").fetchone()
            lease_id = max(int(row[0] or 0) + 1, 0x1000)
            c.execute(
                "INSERT INTO leases (id, ttl, expires) VALUES (?, ?, ?)",
                (lease_id, ttl_seconds, expires),
            )
            return lease_id

        d = self._submit(job)

        def granted(lease_id: int) -> int:
            self._schedule_expiry(lease_id, ttl_seconds)
            return lease_id

        d.addCallback(granted)
        return d

    def _schedule_expiry(self, lease_id: int, delay: float) -> None:
        if not self._closed:
            self._lease_calls[lease_id] = self._clock.callLater(delay, self._expire, lease_id)

    def _expire(self, lease_id: int) -> None:
        self._lease_calls.pop(lease_id, None)

        def job(c: sqlite3.Connection) -> Any:
            c.execute("DELETE FROM leases WHERE id = ?", (lease_id,))
            names = [
                r[0] for r in c.execute(
                    "SELECT DISTINCT name FROM kv WHERE lease = ? ORDER BY name", (lease_id,)
                )
            ]
            prevs = [p for p in (self._current(c, n) for n in names) if p and p.lease == lease_id]
            if not prevs:
                return None
            rev = self._w_rev + 1
            events = [self._delete_row(c, rev, p) for p in prevs]
            self._w_rev = rev
            return _Written(None, rev, events)

        d = self._submit(job)
        d.addErrback(lambda f: log.failure("expiring lease {lease}", f, lease=lease_id))

    def compact(self, revision: int) -> Deferred[Any]:
        """
        See L{IKV.compact}: deletes superseded rows and tombstones before C{revision}.
        """

        def job(c: sqlite3.Connection) -> int:
            if revision > self._w_rev:
                raise FutureRevisionError(revision, self._w_rev)
            if revision <= self._w_compact:
                raise CompactedError(revision, self._w_compact)
            c.execute(
                "DELETE FROM kv WHERE revision < ? AND id NOT IN"
                " (SELECT MAX(id) FROM kv WHERE revision <= ? GROUP BY name)",
                (revision, revision),
            )
            c.execute("DELETE FROM kv WHERE revision < ? AND deleted = 1", (revision,))
            c.execute("UPDATE meta SET v = ? WHERE k = 'compact_revision'", (revision,))
            self._w_compact = revision
            return revision

        d = self._submit(job)

        def done(rev: int) -> None:
            self._compact = max(self._compact, rev)

        d.addCallback(done)
        return d

    def current_revision(self) -> Deferred[Any]:
        """
        See L{IKV.current_revision}.
        """
        return self._submit(lambda c: self._w_rev)

    def check_health(self) -> Deferred[Any]:
        """
        See L{IKV.check_health}: a round trip through the SQLite thread.
        """
        return self._submit(lambda c: c.execute("SELECT 1").fetchone() and None)


class _Written:
    """
    A write job's outcome: the caller's result, the new revision and its watch events.
    """

    __slots__ = ("result", "revision", "events")

    def __init__(self, result: Any, revision: int, events: list[KVEvent]) -> None:
        self.result = result
        self.revision = revision
        self.events = events
