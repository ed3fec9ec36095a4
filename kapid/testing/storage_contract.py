"""
The L{IStorage} contract suite: L{IStorageContractMixin}, mixed into a trial C{TestCase} once per
provider (the store over each IKV, and the watch cache over each of those).

A subclass provides::

    async def make_storage(self) -> IStorage   # a started storage; register its cleanup; set self.kv
    async def let_time_pass(self, seconds)     # advance a Clock, or wait on the real reactor

C{self.kv} is the L{IKV} underneath (the cases compact it and look at raw values). A subclass may
set C{lease_ttl} (seconds of the TTL case) and C{fresh_wait} (how long a read of a future
resourceVersion may wait before L{TooLargeResourceVersionError}; the cases let that much time pass).
Every case uses its own resource prefix, so several cases may share one backend.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, Optional

import orjson
from twisted.internet.defer import Deferred, gatherResults
from zope.interface.verify import verifyObject

from kapid.apimachinery.status import StatusError
from kapid.storage.interfaces import (
    ADDED,
    BOOKMARK,
    DELETED,
    ERROR,
    MODIFIED,
    ConflictError,
    Event,
    ExpiredError,
    IStorage,
    IWatcher,
    KeyExistsError,
    KeyNotFoundError,
    ListOptions,
    Preconditions,
    SelectionPredicate,
    StorageError,
    TooLargeResourceVersionError,
)
from kapid.testing.kv_contract import wait_until


def obj(name: str, namespace: str = "ns", labels: Optional[dict] = None, **extra: Any) -> dict:
    """
    A small ConfigMap-like object.
    """
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if labels is not None:
        meta["labels"] = labels
    o: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    o.update(extra)
    return o


def rv(o: dict) -> int:
    """
    The resourceVersion of C{o} as an int.
    """
    return int(o["metadata"]["resourceVersion"])


def names(items: list[dict]) -> list[str]:
    """
    The names of C{items}, in order.
    """
    return [i["metadata"]["name"] for i in items]


class IStorageContractMixin:
    """
    Cases every L{IStorage} provider passes. Mix into a C{twisted.trial.unittest.TestCase}.
    """

    lease_ttl = 2
    fresh_wait = 3.5
    #: changes made before a too-old watch (more than a watch cache keeps)
    history_churn = 3
    kv: Any = None

    async def make_storage(self) -> Any:
        """
        Return a started storage and set C{self.kv} (override).
        """
        raise NotImplementedError

    async def let_time_pass(self, seconds: float) -> None:
        """
        Let C{seconds} of the storage's clock pass (override).
        """
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------------

    async def _setup(self) -> Any:
        s = await self.make_storage()
        self.res = f"/registry/t{uuid.uuid4().hex[:12]}/"
        return s

    def key(self, name: str, namespace: str = "ns") -> str:
        """
        The key of object C{name} in this case's resource.
        """
        return f"{self.res}{namespace}/{name}"

    async def watch(self, s: Any, opts: ListOptions, key: Optional[str] = None) -> tuple[Any, list[Event]]:
        """
        Start a watch collecting its events in a list.
        """
        events: list[Event] = []
        w = await s.watch(key or self.res, opts, events.append)
        self.addCleanup(w.stop)  # type: ignore[attr-defined]
        return w, events

    async def wait_events(self, events: list[Event], n: int) -> None:
        """
        Wait until C{events} holds at least C{n} events.
        """
        await wait_until(lambda: len(events) >= n)

    async def assert_fails(self, d: Any, exc: type) -> Any:
        """
        Await C{d}; assert it fails with C{exc}; return the exception.
        """
        try:
            await d
        except exc as e:
            return e
        raise AssertionError(f"did not fail with {exc.__name__}")

    # -- cases ------------------------------------------------------------------------------------

    async def test_provides_interface(self) -> None:
        """
        The provider implements IStorage.
        """
        s = await self._setup()
        verifyObject(IStorage, s)

    async def test_create_get(self) -> None:
        """
        A created object reads back with its mod revision as resourceVersion, which is not stored.
        """
        s = await self._setup()
        created = await s.create(self.key("a"), obj("a", data={"k": "v"}))
        self.assertEqual(created["data"], {"k": "v"})  # type: ignore[attr-defined]
        got = await s.get(self.key("a"))
        self.assertEqual(got, created)  # type: ignore[attr-defined]
        kv, _ = await self.kv.get(self.key("a").encode())
        self.assertEqual(rv(got), kv.mod_revision)  # type: ignore[attr-defined]
        self.assertNotIn("resourceVersion", orjson.loads(kv.value)["metadata"])  # type: ignore[attr-defined]
        self.assertEqual(await s.count(self.res), 1)  # type: ignore[attr-defined]

    async def test_create_conflict(self) -> None:
        """
        Creating an existing key fails with KeyExistsError and leaves the object alone.
        """
        s = await self._setup()
        first = await s.create(self.key("a"), obj("a", data={"n": "1"}))
        await self.assert_fails(s.create(self.key("a"), obj("a", data={"n": "2"})), KeyExistsError)
        self.assertEqual(await s.get(self.key("a")), first)  # type: ignore[attr-defined]

    async def test_create_with_resource_version(self) -> None:
        """
        An object to be created must not carry a resourceVersion (kube's message).
        """
        s = await self._setup()
        o = obj("a")
        o["metadata"]["resourceVersion"] = "12"
        e = await self.assert_fails(s.create(self.key("a"), o), StorageError)
        self.assertIn("resourceVersion should not be set", str(e))  # type: ignore[attr-defined]

    async def test_get_not_found(self) -> None:
        """
        A missing key is KeyNotFoundError, or None with ignore_not_found.
        """
        s = await self._setup()
        await self.assert_fails(s.get(self.key("nope")), KeyNotFoundError)
        self.assertIsNone(await s.get(self.key("nope"), ignore_not_found=True))  # type: ignore[attr-defined]

    async def test_get_resource_version(self) -> None:
        """
        Get at "", "0" and a reached revision answers the newest object; a future one is too large.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        b = await s.guaranteed_update(self.key("a"), lambda cur: {**cur, "data": {"x": "1"}})
        for v in ("", "0", str(rv(a)), str(rv(b))):
            got = await s.get(self.key("a"), resource_version=v)
            # "" is the newest; "0" and N any state not older than that (a cache may lag)
            self.assertIn(got, (b,) if v in ("", str(rv(b))) else (a, b))  # type: ignore[attr-defined]
        future = rv(b) + 1000
        d = s.get(self.key("a"), resource_version=str(future))
        await self.let_time_pass(self.fresh_wait)
        e = await self.assert_fails(d, TooLargeResourceVersionError)
        self.assertEqual(e.requested, future)  # type: ignore[attr-defined]

    async def test_list(self) -> None:
        """
        A list returns every object under the prefix, sorted by key, at the current revision.
        """
        s = await self._setup()
        for n in ("c", "a", "b"):
            await s.create(self.key(n), obj(n))
        await s.create(self.key("z", "other"), obj("z", "other"))
        res = await s.get_list(self.res, ListOptions())
        self.assertEqual(names(res["items"]), ["a", "b", "c", "z"])  # type: ignore[attr-defined]
        self.assertEqual(res["continue"], "")  # type: ignore[attr-defined]
        self.assertIsNone(res["remainingItemCount"])  # type: ignore[attr-defined]
        self.assertEqual(int(res["resourceVersion"]), await s.current_resource_version())  # type: ignore[attr-defined]
        ns = await s.get_list(self.res + "ns/", ListOptions())
        self.assertEqual(names(ns["items"]), ["a", "b", "c"])  # type: ignore[attr-defined]
        single = await s.get_list(self.key("b"), ListOptions(recursive=False))
        self.assertEqual(names(single["items"]), ["b"])  # type: ignore[attr-defined]

    async def test_list_resource_version(self) -> None:
        """
        An Exact list shows the state at that revision; a minimum newer than the store is too large.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        await s.create(self.key("b"), obj("b"))
        gone = await s.delete(self.key("a"))
        res = await s.get_list(
            self.res, ListOptions(resource_version=str(rv(a)), resource_version_match="Exact")
        )
        self.assertEqual(names(res["items"]), ["a"])  # type: ignore[attr-defined]
        self.assertEqual(res["resourceVersion"], str(rv(a)))  # type: ignore[attr-defined]
        for opts in (
            ListOptions(resource_version=str(rv(gone)), resource_version_match="NotOlderThan"),
            ListOptions(resource_version=str(rv(gone))),
        ):
            res = await s.get_list(self.res, opts)
            self.assertEqual(names(res["items"]), ["b"])  # type: ignore[attr-defined]
            self.assertGreaterEqual(int(res["resourceVersion"]), rv(gone))  # type: ignore[attr-defined]
        # "0" is any state, possibly a cached one not newer than the delete
        res = await s.get_list(self.res, ListOptions(resource_version="0"))
        self.assertIn(names(res["items"]), (["a", "b"], ["b"]))  # type: ignore[attr-defined]
        cur = await s.current_resource_version()
        d = s.get_list(
            self.res,
            ListOptions(resource_version=str(cur + 1000), resource_version_match="NotOlderThan"),
        )
        await self.let_time_pass(self.fresh_wait)
        await self.assert_fails(d, TooLargeResourceVersionError)

    async def test_list_exact_compacted(self) -> None:
        """
        An Exact list at a compacted revision is 410 with kube's message.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        await s.guaranteed_update(self.key("a"), lambda cur: {**cur, "data": {"x": "1"}})
        await self.kv.compact(await self.kv.current_revision())
        e = await self.assert_fails(
            s.get_list(
                self.res, ListOptions(resource_version=str(rv(a)), resource_version_match="Exact")
            ),
            ExpiredError,
        )
        self.assertEqual(  # type: ignore[attr-defined]
            e.message, "The resourceVersion for the provided list is too old."
        )

    async def test_pagination(self) -> None:
        """
        Pages follow continue tokens at the first page's revision, with remainingItemCount.
        """
        s = await self._setup()
        for i in range(5):
            await s.create(self.key(f"o{i}"), obj(f"o{i}"))
        p1 = await s.get_list(self.res, ListOptions(limit=2))
        self.assertEqual(names(p1["items"]), ["o0", "o1"])  # type: ignore[attr-defined]
        self.assertEqual(p1["remainingItemCount"], 3)  # type: ignore[attr-defined]
        token = orjson.loads(base64.urlsafe_b64decode(p1["continue"] + "=" * (-len(p1["continue"]) % 4)))
        self.assertEqual(  # type: ignore[attr-defined]
            token, {"v": "meta.k8s.io/v1", "rv": int(p1["resourceVersion"]), "start": "ns/o1\x00"}
        )
        # changes after the first page do not show up in later pages
        await s.create(self.key("o3a"), obj("o3a"))
        await s.delete(self.key("o4"))
        p2 = await s.get_list(self.res, ListOptions(limit=2, continue_token=p1["continue"]))
        self.assertEqual(names(p2["items"]), ["o2", "o3"])  # type: ignore[attr-defined]
        self.assertEqual(p2["resourceVersion"], p1["resourceVersion"])  # type: ignore[attr-defined]
        self.assertEqual(p2["remainingItemCount"], 1)  # type: ignore[attr-defined]
        p3 = await s.get_list(self.res, ListOptions(limit=2, continue_token=p2["continue"]))
        self.assertEqual(names(p3["items"]), ["o4"])  # type: ignore[attr-defined]
        self.assertEqual(p3["continue"], "")  # type: ignore[attr-defined]
        self.assertIsNone(p3["remainingItemCount"])  # type: ignore[attr-defined]
        self.assertEqual(p3["resourceVersion"], p1["resourceVersion"])  # type: ignore[attr-defined]

    async def test_bad_continue(self) -> None:
        """
        A malformed continue token, or one combined with a resourceVersion, is a 400.
        """
        s = await self._setup()
        await s.create(self.key("a"), obj("a"))
        e = await self.assert_fails(s.get_list(self.res, ListOptions(limit=1, continue_token="!!")), StatusError)
        self.assertEqual(e.code, 400)  # type: ignore[attr-defined]
        bad = base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":5,"start":"../../x"}').decode()
        e = await self.assert_fails(s.get_list(self.res, ListOptions(limit=1, continue_token=bad)), StatusError)
        self.assertEqual(e.code, 400)  # type: ignore[attr-defined]
        await s.create(self.key("b"), obj("b"))
        p1 = await s.get_list(self.res, ListOptions(limit=1))
        e = await self.assert_fails(
            s.get_list(
                self.res, ListOptions(limit=1, continue_token=p1["continue"], resource_version="5")
            ),
            StatusError,
        )
        self.assertEqual(e.code, 400)  # type: ignore[attr-defined]

    async def test_continue_expired(self) -> None:
        """
        A continue token whose revision was compacted is 410 with kube's message and a fresh token.
        """
        s = await self._setup()
        for i in range(3):
            await s.create(self.key(f"o{i}"), obj(f"o{i}"))
        p1 = await s.get_list(self.res, ListOptions(limit=1))
        await s.guaranteed_update(self.key("o1"), lambda cur: {**cur, "data": {"x": "1"}})
        await self.kv.compact(await self.kv.current_revision())
        e = await self.assert_fails(
            s.get_list(self.res, ListOptions(limit=1, continue_token=p1["continue"])), ExpiredError
        )
        self.assertTrue(  # type: ignore[attr-defined]
            e.message.startswith(
                "The provided continue parameter is too old to display a consistent list result."
            )
        )
        rest = await s.get_list(self.res, ListOptions(continue_token=e.continue_token))
        self.assertEqual(names(rest["items"]), ["o1", "o2"])  # type: ignore[attr-defined]
        self.assertEqual(rest["items"][0]["data"], {"x": "1"})  # type: ignore[attr-defined]

    async def test_filtered_pagination(self) -> None:
        """
        A filtered list with a limit reads on until each page is full, without remainingItemCount.
        """
        s = await self._setup()
        for i in range(10):
            await s.create(self.key(f"o{i}"), obj(f"o{i}", labels={"even": str(i % 2 == 0)}))
        pred = SelectionPredicate(label_selector=lambda labels: labels.get("even") == "True")
        seen: list[str] = []
        token = ""
        pages = 0
        first_rv = None
        while True:
            page = await s.get_list(self.res, ListOptions(limit=2, predicate=pred, continue_token=token))
            pages += 1
            first_rv = first_rv or page["resourceVersion"]
            self.assertEqual(page["resourceVersion"], first_rv)  # type: ignore[attr-defined]
            self.assertIsNone(page["remainingItemCount"])  # type: ignore[attr-defined]
            if page["continue"]:
                self.assertEqual(len(page["items"]), 2)  # type: ignore[attr-defined]
            seen += names(page["items"])
            token = page["continue"]
            if not token:
                break
        self.assertEqual(seen, ["o0", "o2", "o4", "o6", "o8"])  # type: ignore[attr-defined]
        self.assertLessEqual(pages, 4)  # type: ignore[attr-defined]
        field = SelectionPredicate(field_selector=lambda o: o["metadata"]["name"] == "o7")
        res = await s.get_list(self.res, ListOptions(predicate=field))
        self.assertEqual(names(res["items"]), ["o7"])  # type: ignore[attr-defined]

    async def test_guaranteed_update(self) -> None:
        """
        An update writes the new object; an unchanged one is not written; try_update may be async.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        b = await s.guaranteed_update(self.key("a"), lambda cur: {**cur, "data": {"x": "1"}})
        self.assertGreater(rv(b), rv(a))  # type: ignore[attr-defined]
        self.assertEqual(await s.get(self.key("a")), b)  # type: ignore[attr-defined]
        same = await s.guaranteed_update(self.key("a"), lambda cur: cur)
        self.assertEqual(rv(same), rv(b))  # type: ignore[attr-defined]

        async def later(cur: dict) -> dict:
            return {**cur, "data": {"x": "2"}}

        c = await s.guaranteed_update(self.key("a"), later)
        self.assertEqual(c["data"], {"x": "2"})  # type: ignore[attr-defined]
        d = await s.guaranteed_update(
            self.key("a"), lambda cur: Deferred.fromCoroutine(later({**cur, "data": {}}))
        )
        self.assertEqual(d["data"], {"x": "2"})  # type: ignore[attr-defined]
        self.assertEqual(rv(d), rv(c))  # type: ignore[attr-defined]

    async def test_guaranteed_update_missing(self) -> None:
        """
        Updating a missing key is KeyNotFoundError, or a create with ignore_not_found.
        """
        s = await self._setup()
        await self.assert_fails(s.guaranteed_update(self.key("a"), lambda cur: cur), KeyNotFoundError)
        seen = []

        def create(cur: Optional[dict]) -> dict:
            seen.append(cur)
            return obj("a")

        made = await s.guaranteed_update(self.key("a"), create, ignore_not_found=True)
        self.assertEqual(seen, [None])  # type: ignore[attr-defined]
        self.assertEqual(await s.get(self.key("a")), made)  # type: ignore[attr-defined]

    async def test_guaranteed_update_concurrent(self) -> None:
        """
        Twenty concurrent read-modify-write increments lose none (their updates interleave, so
        conflicts are retried).
        """
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        s = await self._setup()
        await s.create(self.key("n"), obj("n", data={"n": "0"}))
        calls = []

        def inc(cur: dict) -> Any:
            calls.append(cur["data"]["n"])
            cur["data"]["n"] = str(int(cur["data"]["n"]) + 1)
            return deferLater(reactor, 0, lambda: cur)  # type: ignore[arg-type]

        await gatherResults([s.guaranteed_update(self.key("n"), inc) for _ in range(20)])
        final = await s.get(self.key("n"))
        self.assertEqual(final["data"]["n"], "20")  # type: ignore[attr-defined]
        self.assertGreater(len(calls), 20)  # type: ignore[attr-defined]

    async def test_guaranteed_update_preconditions(self) -> None:
        """
        UID and resourceVersion preconditions and a stale resourceVersion fail with kube's messages.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        e = await self.assert_fails(
            s.guaranteed_update(self.key("a"), lambda cur: cur, Preconditions(uid="other")),
            ConflictError,
        )
        self.assertIn(  # type: ignore[attr-defined]
            "Precondition failed: UID in precondition: other, UID in object meta: uid-a", e.message
        )
        e = await self.assert_fails(
            s.guaranteed_update(self.key("a"), lambda cur: cur, Preconditions(resource_version="1")),
            ConflictError,
        )
        self.assertIn(  # type: ignore[attr-defined]
            f"Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {rv(a)}",
            e.message,
        )
        ok = await s.guaranteed_update(
            self.key("a"),
            lambda cur: {**cur, "data": {"x": "1"}},
            Preconditions(uid="uid-a", resource_version=str(rv(a))),
        )
        stale = dict(a, data={"x": "2"})
        e = await self.assert_fails(s.guaranteed_update(self.key("a"), lambda cur: stale), ConflictError)
        self.assertEqual(  # type: ignore[attr-defined]
            e.message,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
        self.assertEqual(await s.get(self.key("a")), ok)  # type: ignore[attr-defined]

    async def test_guaranteed_update_abort(self) -> None:
        """
        An exception from try_update aborts the update and reaches the caller.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))

        def boom(cur: dict) -> dict:
            raise ValueError("no")

        await self.assert_fails(s.guaranteed_update(self.key("a"), boom), ValueError)
        self.assertEqual(await s.get(self.key("a")), a)  # type: ignore[attr-defined]

    async def test_delete(self) -> None:
        """
        Delete answers the last state at the deletion's revision; a second delete is not found.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a", data={"k": "v"}))
        gone = await s.delete(self.key("a"))
        self.assertEqual(gone["data"], {"k": "v"})  # type: ignore[attr-defined]
        self.assertGreater(rv(gone), rv(a))  # type: ignore[attr-defined]
        self.assertEqual(rv(gone), await s.current_resource_version())  # type: ignore[attr-defined]
        await self.assert_fails(s.get(self.key("a")), KeyNotFoundError)
        await self.assert_fails(s.delete(self.key("a")), KeyNotFoundError)

    async def test_delete_preconditions(self) -> None:
        """
        Delete checks UID and resourceVersion preconditions and validate_deletion first.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        e = await self.assert_fails(s.delete(self.key("a"), Preconditions(uid="x")), ConflictError)
        self.assertIn("UID in precondition: x, UID in object meta: uid-a", e.message)  # type: ignore[attr-defined]
        await self.assert_fails(
            s.delete(self.key("a"), Preconditions(resource_version=str(rv(a) + 1))), ConflictError
        )

        def refuse(cur: dict) -> None:
            raise ValueError("protected")

        await self.assert_fails(s.delete(self.key("a"), validate_deletion=refuse), ValueError)
        self.assertEqual(await s.get(self.key("a")), a)  # type: ignore[attr-defined]
        checked = []
        await s.delete(
            self.key("a"),
            Preconditions(uid="uid-a", resource_version=str(rv(a))),
            validate_deletion=checked.append,
            cached_existing=a,
        )
        self.assertEqual(names(checked), ["a"])  # type: ignore[attr-defined]
        await self.assert_fails(s.get(self.key("a")), KeyNotFoundError)

    async def test_watch_events(self) -> None:
        """
        A watch from a revision sees ADDED, MODIFIED and DELETED in order with their revisions.
        """
        s = await self._setup()
        await s.create(self.key("old"), obj("old"))
        start = await s.current_resource_version()
        w, events = await self.watch(s, ListOptions(resource_version=str(start)))
        verifyObject(IWatcher, w)
        a = await s.create(self.key("a"), obj("a"))
        b = await s.guaranteed_update(self.key("a"), lambda cur: {**cur, "data": {"x": "1"}})
        c = await s.delete(self.key("a"))
        await self.wait_events(events, 3)
        self.assertEqual([e.type for e in events], [ADDED, MODIFIED, DELETED])  # type: ignore[attr-defined]
        self.assertEqual([e.object for e in events], [a, b, c])  # type: ignore[attr-defined]
        self.assertEqual(events[2].object["data"], {"x": "1"})  # type: ignore[attr-defined]
        w.stop()
        await w.done
        await s.create(self.key("later"), obj("later"))
        self.assertEqual(len(events), 3)  # type: ignore[attr-defined]

    async def test_watch_from_history(self) -> None:
        """
        A watch from an older revision replays the changes made since.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        b = await s.create(self.key("b"), obj("b"))
        _, events = await self.watch(s, ListOptions(resource_version=str(rv(a))))
        await self.wait_events(events, 1)
        self.assertEqual([(e.type, e.object) for e in events], [(ADDED, b)])  # type: ignore[attr-defined]

    async def test_watch_initial_state(self) -> None:
        """
        A watch at "0" or "" starts with synthetic ADDED events for existing objects, then changes.
        """
        s = await self._setup()
        await s.create(self.key("a"), obj("a"))
        b = await s.create(self.key("b"), obj("b"))
        for v in ("0", ""):
            a = await s.get(self.key("a"))
            _, events = await self.watch(s, ListOptions(resource_version=v))
            await self.wait_events(events, 2)
            self.assertEqual(  # type: ignore[attr-defined]
                sorted((e.type, e.object["metadata"]["name"]) for e in events),
                [(ADDED, "a"), (ADDED, "b")],
            )
            self.assertEqual({rv(e.object) for e in events}, {rv(a), rv(b)})  # type: ignore[attr-defined]
            n = len(events)
            await s.guaranteed_update(self.key("a"), lambda cur: {**cur, "data": {"v": v}})
            await self.wait_events(events, n + 1)
            self.assertEqual(events[n].type, MODIFIED)  # type: ignore[attr-defined]

    async def test_watch_single_object(self) -> None:
        """
        A non-recursive watch sees only its key, not keys that merely share its text as a prefix.
        """
        s = await self._setup()
        start = await s.current_resource_version()
        _, events = await self.watch(
            s, ListOptions(resource_version=str(start), recursive=False), key=self.key("a")
        )
        await s.create(self.key("ab"), obj("ab"))
        await s.create(self.key("a"), obj("a"))
        await self.wait_events(events, 1)
        await s.create(self.key("ac"), obj("ac"))
        await s.delete(self.key("a"))
        await self.wait_events(events, 2)
        self.assertEqual(  # type: ignore[attr-defined]
            [(e.type, e.object["metadata"]["name"]) for e in events], [(ADDED, "a"), (DELETED, "a")]
        )

    async def test_watch_selector_transitions(self) -> None:
        """
        Objects entering a selector arrive as ADDED, leaving it as DELETED, others not at all.
        """
        s = await self._setup()
        pred = SelectionPredicate(label_selector=lambda labels: labels.get("x") == "yes")
        start = await s.current_resource_version()
        _, events = await self.watch(s, ListOptions(resource_version=str(start), predicate=pred))

        def label(value: str) -> Any:
            def f(cur: dict) -> dict:
                cur["metadata"]["labels"] = {"x": value}
                return cur

            return f

        await s.create(self.key("a"), obj("a", labels={"x": "no"}))
        entered = await s.guaranteed_update(self.key("a"), label("yes"))
        changed = await s.guaranteed_update(self.key("a"), lambda cur: {**cur, "data": {"d": "1"}})
        left = await s.guaranteed_update(self.key("a"), label("no"))
        await s.delete(self.key("a"))
        await self.wait_events(events, 3)
        await s.create(self.key("z"), obj("z", labels={"x": "yes"}))
        await self.wait_events(events, 4)
        self.assertEqual([e.type for e in events], [ADDED, MODIFIED, DELETED, ADDED])  # type: ignore[attr-defined]
        self.assertEqual(events[0].object, entered)  # type: ignore[attr-defined]
        self.assertEqual(events[1].object, changed)  # type: ignore[attr-defined]
        self.assertEqual(events[2].object["metadata"]["labels"], {"x": "yes"})  # type: ignore[attr-defined]
        self.assertEqual(rv(events[2].object), rv(left))  # type: ignore[attr-defined]

    async def test_watch_too_old(self) -> None:
        """
        A watch from a compacted resourceVersion gets one ERROR event with a 410 and ends.
        """
        s = await self._setup()
        a = await s.create(self.key("a"), obj("a"))
        last = a
        for i in range(self.history_churn):
            last = await s.guaranteed_update(
                self.key("a"), lambda cur, i=i: {**cur, "data": {"i": str(i)}}
            )
        # a watch cache may take the changes in later: a watch of the last one waits for it
        _, probe = await self.watch(s, ListOptions(resource_version=str(rv(last) - 1)))
        await self.wait_events(probe, 1)
        await self.kv.compact(await self.kv.current_revision())
        w, events = await self.watch(s, ListOptions(resource_version=str(rv(a) - 1)))
        await self.wait_events(events, 1)
        await w.done
        self.assertEqual(len(events), 1)  # type: ignore[attr-defined]
        self.assertEqual(events[0].type, ERROR)  # type: ignore[attr-defined]
        self.assertIsInstance(events[0].error, ExpiredError)  # type: ignore[attr-defined]
        self.assertTrue(  # type: ignore[attr-defined]
            events[0].error.message.startswith(f"too old resource version: {rv(a) - 1} (")
        )

    async def test_ttl(self) -> None:
        """
        An object created with a TTL disappears after it, with a DELETED event.
        """
        s = await self._setup()
        start = await s.current_resource_version()
        _, events = await self.watch(s, ListOptions(resource_version=str(start)))
        await s.create(self.key("e"), obj("e"), ttl=self.lease_ttl)
        await s.create(self.key("keep"), obj("keep"))
        self.assertEqual(names((await s.get_list(self.res, ListOptions()))["items"]), ["e", "keep"])  # type: ignore[attr-defined]
        await self.let_time_pass(self.lease_ttl + 1)
        await self.wait_events(events, 3)
        self.assertEqual(events[2].type, DELETED)  # type: ignore[attr-defined]
        await self.assert_fails(s.get(self.key("e")), KeyNotFoundError)
        self.assertEqual(names((await s.get_list(self.res, ListOptions()))["items"]), ["keep"])  # type: ignore[attr-defined]

    async def test_ttl_kept_on_update(self) -> None:
        """
        An update keeps the object's TTL: it still disappears when the lease ends.
        """
        s = await self._setup()
        await s.create(self.key("e"), obj("e"), ttl=self.lease_ttl)
        await s.guaranteed_update(self.key("e"), lambda cur: {**cur, "data": {"x": "1"}})
        await self.let_time_pass(self.lease_ttl + 1)
        for _ in range(100):
            if await s.get(self.key("e"), ignore_not_found=True) is None:
                break
            await self.let_time_pass(0.1)
        await self.assert_fails(s.get(self.key("e")), KeyNotFoundError)

    async def test_watch_send_initial_events(self) -> None:
        """
        sendInitialEvents=true sends the current state, then kube's initial-events-end BOOKMARK,
        then changes; false with resourceVersion "" sends only changes.
        """
        s = await self._setup()
        await s.create(self.key("a"), obj("a"))
        _, events = await self.watch(
            s,
            ListOptions(
                resource_version="",
                resource_version_match="NotOlderThan",
                send_initial_events=True,
                allow_watch_bookmarks=True,
            ),
        )
        await self.wait_events(events, 2)
        self.assertEqual([e.type for e in events[:2]], [ADDED, BOOKMARK])  # type: ignore[attr-defined]
        mark = events[1].object
        self.assertEqual(  # type: ignore[attr-defined]
            mark["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"}
        )
        self.assertGreaterEqual(int(mark["metadata"]["resourceVersion"]), rv(events[0].object))  # type: ignore[attr-defined]
        _, quiet = await self.watch(s, ListOptions(resource_version="", send_initial_events=False))
        b = await s.create(self.key("b"), obj("b"))
        await self.wait_events(events, 3)
        await self.wait_events(quiet, 1)
        self.assertEqual((events[2].type, events[2].object), (ADDED, b))  # type: ignore[attr-defined]
        self.assertEqual([(e.type, e.object) for e in quiet], [(ADDED, b)])  # type: ignore[attr-defined]
