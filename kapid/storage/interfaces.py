"""
The storage seams: L{IKV} (etcd's minimal Kubernetes key-value interface) and L{IStorage}
(kube-apiserver's C{storage.Interface}), with their value types.

Providers of L{IKV}: the etcd v3 client over treq (L{kapid.storage.etcd3}), the embedded SQLite store
(L{kapid.storage.embedded}) and the memory store (L{kapid.storage.memory}). Providers of L{IStorage}:
the store (L{kapid.storage.store}, objects over any IKV) and the watch cache (L{kapid.storage.cacher},
a decorator of another IStorage). One contract suite per interface lives in L{kapid.testing}.

Every method that does I/O returns a L{Deferred}. Keys and values are L{bytes}.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import attr
from zope.interface import Attribute, Interface

# --------------------------------------------------------------------------------------------------
# IKV value types


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KeyValue:
    """
    One key at one revision, as etcd's C{mvccpb.KeyValue}.
    """

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ListResult:
    """
    The answer to L{IKV.list}: the key-values (sorted by key), the store revision the list was read
    at, whether more keys follow past C{limit}, and the total count of keys in the range (from the
    start key, as etcd counts).
    """

    kvs: tuple[KeyValue, ...]
    revision: int
    more: bool
    count: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TxnResult:
    """
    The answer to L{IKV.optimistic_put} and L{IKV.optimistic_delete}.

    @ivar succeeded: whether the compare held and the write happened.
    @ivar revision: the store revision after the operation.
    @ivar kv: on success, the key-value as written (for a delete: the deleted key-value); on failure,
        the current key-value (L{None} when the key is absent).
    """

    succeeded: bool
    revision: int
    kv: Optional[KeyValue]


PUT = "PUT"
DELETE = "DELETE"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KVEvent:
    """
    One watch event. For C{DELETE}, C{kv} carries the key and the deletion's mod revision (its value is
    empty); the last value is in C{prev_kv}.
    """

    type: str  # PUT or DELETE
    kv: KeyValue
    prev_kv: Optional[KeyValue]


# --------------------------------------------------------------------------------------------------
# Errors (shared by IKV and IStorage)


class StorageError(Exception):
    """
    Base of storage errors.
    """


class CompactedError(StorageError):
    """
    The revision asked for has been compacted away (etcd's C{ErrCompacted}).
    """

    def __init__(self, revision: int, compact_revision: int) -> None:
        super().__init__(
            f"required revision {revision} has been compacted (compact revision {compact_revision})"
        )
        self.revision = revision
        self.compact_revision = compact_revision


class FutureRevisionError(StorageError):
    """
    The revision asked for is newer than the store (etcd's C{ErrFutureRev}).
    """

    def __init__(self, revision: int, current_revision: int) -> None:
        super().__init__(
            f"required revision {revision} is a future revision (current {current_revision})"
        )
        self.revision = revision
        self.current_revision = current_revision


class UnavailableError(StorageError):
    """
    The backend cannot be reached (or did not answer in time). Maps to a 5xx C{Status}.
    """


class RequestTooLargeError(StorageError):
    """
    The value is larger than the backend accepts (etcd's C{request is too large}).
    """


class LeaseNotFoundError(StorageError):
    """
    The lease does not exist (expired or never granted).
    """


# IStorage-level errors carry the key; the registry turns them into Status errors with the
# resource's name (kube's C{interpretStorageError}).


class KeyNotFoundError(StorageError):
    """
    The key does not exist (kube's C{ErrCodeKeyNotFound}).
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class KeyExistsError(StorageError):
    """
    The key exists already (kube's C{ErrCodeKeyExists}).
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class ConflictError(StorageError):
    """
    A precondition failed (kube's C{ErrCodeResourceVersionConflicts}); C{message} is the text that
    follows C{Operation cannot be fulfilled on <resource> "<name>": }.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class InvalidObjectError(StorageError):
    """
    A stored value cannot be decoded (kube's C{ErrCodeInvalidObj}).
    """


class ExpiredError(StorageError):
    """
    A resourceVersion or continue token is too old (maps to 410 C{Expired}); C{message} is kube's
    text, e.g. C{too old resource version: 5 (10)}. For a compacted continue token,
    C{continue_token} is kube's fresh token (to go on at the newest revision) that the 410 Status
    carries in C{metadata.continue}; otherwise C{""}.
    """

    def __init__(self, message: str, continue_token: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.continue_token = continue_token


class TooLargeResourceVersionError(StorageError):
    """
    A read asked for a resourceVersion the storage has not reached within the wait
    (kube's C{NewTooLargeResourceVersionError}: 504 C{Timeout} with
    C{Too large resource version: N, current: M}).
    """

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"Too large resource version: {requested}, current: {current}")
        self.requested = requested
        self.current = current


# --------------------------------------------------------------------------------------------------
# IKV


class IKVWatch(Interface):
    """
    A running watch on a key range, returned by L{IKV.watch}.
    """

    started = Attribute("A Deferred that fires with None once the watch is established upstream.")
    done = Attribute(
        "A Deferred that fires with None when the watch ends by cancel(), or errbacks with "
        "CompactedError (start revision compacted) or another StorageError."
    )

    def cancel() -> None:
        """
        Stop the watch; no events are delivered after this returns. C{done} fires with None.
        """


class IKV(Interface):
    """
    etcd's minimal Kubernetes KV (client/v3/kubernetes/interface.go), plus leases and compaction.

    Revisions are etcd's: one store-wide counter bumped by every write. A revision of C{0} in a read
    means "the current revision".
    """

    def get(key: bytes, revision: int = 0) -> Any:
        """
        Read one key. Deferred fires with C{(KeyValue or None, store_revision)}. Errbacks with
        L{CompactedError} / L{FutureRevisionError} for a revision out of range.
        """

    def list(
        prefix: bytes, revision: int = 0, limit: int = 0, start_key: Optional[bytes] = None
    ) -> Any:
        """
        Read the keys that start with C{prefix}, from C{start_key} (inclusive; default C{prefix}),
        sorted by key, at most C{limit} (0: no limit), at C{revision} (0: current). Deferred fires
        with a L{ListResult} whose C{revision} is the revision read at.
        """

    def count(prefix: bytes) -> Any:
        """
        Deferred fires with the number of keys that start with C{prefix}.
        """

    def optimistic_put(
        key: bytes, value: bytes, expected_mod_revision: int, lease: int = 0
    ) -> Any:
        """
        Write C{value} if the key's mod revision equals C{expected_mod_revision} (0: the key must be
        absent). Deferred fires with a L{TxnResult}.
        """

    def optimistic_delete(key: bytes, expected_mod_revision: int) -> Any:
        """
        Delete the key if its mod revision equals C{expected_mod_revision} (0: whatever it is).
        Deferred fires with a L{TxnResult}; on success C{kv} is the deleted key-value; deleting an
        absent key fails with C{kv=None}.
        """

    def put_all(items: Any) -> Any:
        """
        Write several C{(key, value)} pairs in one transaction, unconditionally (one revision; a
        watcher sees them as one batch). Deferred fires with the new revision.
        """

    def watch(
        prefix: bytes,
        start_revision: int,
        on_events: Callable[[list[KVEvent]], None],
    ) -> IKVWatch:
        """
        Watch keys that start with C{prefix} from C{start_revision} (inclusive; 0: from now on).
        C{on_events} is called in the reactor thread, in revision order, with the events of one
        revision (one transaction) at a time; every event carries C{prev_kv} when there was one.
        Watches survive backend restarts by resuming after the last revision delivered.
        """

    def grant_lease(ttl_seconds: int) -> Any:
        """
        Deferred fires with the ID of a new lease of C{ttl_seconds}; keys put with it are deleted
        (with a DELETE watch event) when it expires.
        """

    def compact(revision: int) -> Any:
        """
        Forget history before C{revision}. Deferred fires with None.
        """

    def current_revision() -> Any:
        """
        Deferred fires with the store's current revision.
        """

    def check_health() -> Any:
        """
        Deferred fires with None when the backend answers, errbacks otherwise (for /readyz/etcd).
        """

    def close() -> Any:
        """
        Stop watches and release connections. Deferred fires when done.
        """


# --------------------------------------------------------------------------------------------------
# IStorage


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Preconditions:
    """
    Preconditions on a write (kube's C{storage.Preconditions}); L{None} means "any".
    """

    uid: Optional[str] = None
    resource_version: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SelectionPredicate:
    """
    Which objects a list or watch wants: a label selector and a field selector, as callables over
    an object (dict) that return True for a match. C{None} matches everything.
    C{label_selector} is handed the object's labels (a dict); C{field_selector} the whole object.
    """

    label_selector: Optional[Callable[[dict], bool]] = None
    field_selector: Optional[Callable[[dict], bool]] = None

    @property
    def empty(self) -> bool:
        """
        Whether everything matches.
        """
        return self.label_selector is None and self.field_selector is None

    def matches(self, obj: dict) -> bool:
        """
        Whether C{obj} is selected.
        """
        if self.label_selector is not None:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if not self.label_selector(labels):
                return False
        if self.field_selector is not None and not self.field_selector(obj):
            return False
        return True


EVERYTHING = SelectionPredicate()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ListOptions:
    """
    Kube's C{storage.ListOptions}.

    @ivar resource_version: C{""} (most recent, from storage), C{"0"} (any; the cache may answer)
        or a number.
    @ivar resource_version_match: C{""}, C{"NotOlderThan"} or C{"Exact"}.
    @ivar limit: page size (0: all).
    @ivar continue_token: kube's continue token from the previous page.
    @ivar allow_watch_bookmarks: for watches.
    @ivar send_initial_events: for watches (streaming lists); unused for now.
    """

    resource_version: str = ""
    resource_version_match: str = ""
    predicate: SelectionPredicate = EVERYTHING
    limit: int = 0
    continue_token: str = ""
    recursive: bool = True
    allow_watch_bookmarks: bool = False
    send_initial_events: Optional[bool] = None


ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Event:
    """
    One IStorage watch event: C{ADDED}, C{MODIFIED}, C{DELETED} or C{BOOKMARK} with the object at that
    revision (its C{metadata.resourceVersion} set), or C{ERROR} with a L{StorageError} as C{error}.
    """

    type: str
    object: Optional[dict]
    error: Optional[Exception] = None


class IWatcher(Interface):
    """
    A running IStorage watch, returned by L{IStorage.watch}.
    """

    done = Attribute(
        "A Deferred that fires with None when the watch ends: stop() was called, the watcher was "
        "cut off for being slow, or the storage closed. After an ERROR event the watch ends too."
    )

    def stop() -> None:
        """
        End the watch; no more events are delivered.
        """


class IStorage(Interface):
    """
    Kube-apiserver's C{storage.Interface} over JSON objects (dicts).

    Keys are text and absolute, e.g. C{/registry/configmaps/default/x} as
    L{kapid.registry.description.Resource.key} builds them: already under the store's
    C{--etcd-prefix}, and stored as they are (kube-apiserver's layout on disk).
    Objects are stored without C{metadata.resourceVersion}; every object handed back has it set to
    the revision it was read at (its mod revision).
    """

    def versioner() -> Any:
        """
        Unused placeholder for symmetry with kube; returns None.
        """

    def create(key: str, obj: dict, ttl: int = 0) -> Any:
        """
        Store a new object. Deferred fires with the stored object (resourceVersion set). Errbacks
        with L{KeyExistsError}.
        """

    def get(key: str, resource_version: str = "", ignore_not_found: bool = False) -> Any:
        """
        Read one object. C{resource_version} C{""}: the newest; C{"0"}: any (the cache may answer);
        a number: at least that new. Deferred fires with the object, or with None when absent and
        C{ignore_not_found}; otherwise errbacks with L{KeyNotFoundError}.
        """

    def get_list(key: str, opts: ListOptions) -> Any:
        """
        List the objects under C{key} (a prefix ending in C{/}). Deferred fires with a dict:
        C{{"items": [...], "resourceVersion": "N", "continue": "<token or ''>",
        "remainingItemCount": int or None}}. Errbacks with L{ExpiredError} for a compacted continue
        token or resourceVersion, L{TooLargeResourceVersionError} when a needed revision does not
        come in time.
        """

    def guaranteed_update(
        key: str,
        try_update: Callable[[Optional[dict]], Any],
        preconditions: Optional[Preconditions] = None,
        ignore_not_found: bool = False,
        cached_existing: Optional[dict] = None,
    ) -> Any:
        """
        Read-modify-write with retries on conflict. C{try_update(current)} gets the current object
        (L{None} when absent and C{ignore_not_found}) and returns (or fires a Deferred with) the new
        object, or raises to abort. Preconditions are checked against each current object
        (L{ConflictError} on mismatch, with kube's message). A new object equal to the current one is
        not written. Deferred fires with the stored object.
        """

    def delete(
        key: str,
        preconditions: Optional[Preconditions] = None,
        validate_deletion: Optional[Callable[[dict], Any]] = None,
        cached_existing: Optional[dict] = None,
    ) -> Any:
        """
        Delete one object. C{validate_deletion(current)} may raise to abort. Deferred fires with the
        deleted object (resourceVersion = the deletion's revision). Errbacks with
        L{KeyNotFoundError} / L{ConflictError}.
        """

    def watch(key: str, opts: ListOptions, on_event: Callable[[Event], None]) -> Any:
        """
        Watch one object (C{opts.recursive} False) or every object under a prefix. Deferred fires with
        an L{IWatcher} once the watch is established. Events start after C{opts.resource_version}
        (C{""} and C{"0"} both start with synthetic ADDED events for every existing object, as kube
        does; C{""} from a consistent read, C{"0"} possibly from a cache). Objects that stop matching the predicate arrive as
        DELETED, ones that start matching as ADDED. A resourceVersion that is too old gives an
        C{ERROR} event carrying L{ExpiredError} (kube's 410), then the watch ends.
        """

    def count(key: str) -> Any:
        """
        Deferred fires with the number of objects under the prefix C{key}.
        """

    def current_resource_version() -> Any:
        """
        Deferred fires with the store's current revision as an int.
        """

    def close() -> Any:
        """
        Stop watches; Deferred fires when done. (The IKV is closed by its owner.)
        """
