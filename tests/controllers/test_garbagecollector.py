"""
Tests for L{kapid.controllers.garbagecollector}: background, foreground and orphan deletion over
built-in and custom kinds, cluster-scoped owners, invalid references, cycles and a rebuilt graph.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from kapid.controllers.garbagecollector import GarbageCollector
from tests.controllers.helpers import World, ref


class GarbageCollectorTests(TestCase):
    """
    The garbage collector over a memory store.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.world = w = World()
        await w.start()
        self.gc = GarbageCollector(w.ctx)
        self.addCleanup(lambda: self.gc.stop())
        await self.gc.start()

    async def chain(self) -> tuple[dict, dict, dict]:
        """
        A cluster-scoped Cluster owning a Widget owning a ConfigMap (blocking its owner).
        """
        w = self.world
        top = await w.create("example.com", "clusters", "", "top")
        mid = await w.create("example.com", "widgets", "default", "mid", ownerReferences=[ref(top, block=True)])
        leaf = await w.create("", "configmaps", "default", "leaf", ownerReferences=[ref(mid, block=True)])
        await w.settle()
        return top, mid, leaf

    async def test_background(self) -> None:
        """
        Deleting the owner (default propagation) deletes its dependents, transitively.
        """
        w = self.world
        await self.chain()
        await w.store("example.com", "clusters").delete("", "top", {}, "v1")
        await w.settle()
        self.assertIsNone(await w.get("example.com", "widgets", "default", "mid"))
        self.assertIsNone(await w.get("", "configmaps", "default", "leaf"))

    async def test_foreground(self) -> None:
        """
        Foreground deletion keeps the owner (with its finalizer) until its blocking dependents are
        gone, deleting them first; a dependent held by another finalizer holds the owner.
        """
        w = self.world
        await self.chain()
        leaves = w.store("", "configmaps")

        def hold(cur: dict) -> dict:
            cur["metadata"]["finalizers"] = ["example.com/hold"]
            return cur

        await leaves.update("default", "leaf", hold, "v1")
        out, deleted = await w.store("example.com", "clusters").delete("", "top", {"propagationPolicy": "Foreground"}, "v1")
        self.assertFalse(deleted)
        await w.settle()
        top = await w.get("example.com", "clusters", "", "top")
        mid = await w.get("example.com", "widgets", "default", "mid")
        leaf = await w.get("", "configmaps", "default", "leaf")
        assert top is not None and mid is not None and leaf is not None
        self.assertEqual(top["metadata"]["finalizers"], ["foregroundDeletion"])
        self.assertEqual(mid["metadata"]["finalizers"], ["foregroundDeletion"])
        self.assertTrue(leaf["metadata"]["deletionTimestamp"])

        def release(cur: dict) -> dict:
            cur["metadata"]["finalizers"] = []
            return cur

        await leaves.update("default", "leaf", release, "v1")
        await w.settle()
        self.assertIsNone(await w.get("", "configmaps", "default", "leaf"))
        self.assertIsNone(await w.get("example.com", "widgets", "default", "mid"))
        self.assertIsNone(await w.get("example.com", "clusters", "", "top"))

    async def test_foreground_non_blocking(self) -> None:
        """
        A dependent without blockOwnerDeletion does not hold a foreground owner.
        """
        w = self.world
        owner = await w.create("", "configmaps", "default", "owner")
        await w.create("", "secrets", "default", "dep", ownerReferences=[ref(owner)], finalizers=["example.com/hold"])
        await w.settle()
        await w.store("", "configmaps").delete("default", "owner", {"propagationPolicy": "Foreground"}, "v1")
        await w.settle()
        self.assertIsNone(await w.get("", "configmaps", "default", "owner"))
        dep = await w.get("", "secrets", "default", "dep")
        assert dep is not None
        self.assertTrue(dep["metadata"]["deletionTimestamp"])

    async def test_orphan(self) -> None:
        """
        Orphan deletion removes the owner's references from its dependents, then the owner goes;
        other owners' references stay.
        """
        w = self.world
        owner = await w.create("", "configmaps", "default", "owner")
        other = await w.create("", "configmaps", "default", "other")
        await w.create("example.com", "widgets", "default", "dep", ownerReferences=[ref(owner), ref(other)])
        await w.settle()
        await w.store("", "configmaps").delete("default", "owner", {"propagationPolicy": "Orphan"}, "v1")
        await w.settle()
        self.assertIsNone(await w.get("", "configmaps", "default", "owner"))
        dep = await w.get("example.com", "widgets", "default", "dep")
        assert dep is not None
        self.assertEqual([r["name"] for r in dep["metadata"]["ownerReferences"]], ["other"])

    async def test_dangling_and_partial(self) -> None:
        """
        A dependent whose owner does not exist (or has another uid) is deleted; one with a live
        owner too only loses the dangling reference.
        """
        w = self.world
        live = await w.create("", "configmaps", "default", "live")
        ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"}
        renamed = {"apiVersion": "v1", "kind": "ConfigMap", "name": "live", "uid": "stale-uid"}
        await w.create("", "secrets", "default", "orphaned", ownerReferences=[ghost])
        await w.create("", "secrets", "default", "stale", ownerReferences=[renamed])
        await w.create("", "secrets", "default", "kept", ownerReferences=[ghost, ref(live)])
        await w.settle()
        self.assertEqual(await w.names("", "secrets", "default"), ["kept"])
        kept = await w.get("", "secrets", "default", "kept")
        assert kept is not None
        self.assertEqual([r["name"] for r in kept["metadata"]["ownerReferences"]], ["live"])

    async def test_invalid_namespace_reference(self) -> None:
        """
        A cluster-scoped dependent naming a namespaced owner kind is never deleted; a warning
        Event with reason OwnerRefInvalidNamespace is recorded.
        """
        w = self.world
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u-1"}
        await w.create("example.com", "clusters", "", "odd", ownerReferences=[cm])
        await w.settle()
        self.assertIsNotNone(await w.get("example.com", "clusters", "", "odd"))
        events = w.store("", "events")
        from kapid.storage.interfaces import ListOptions

        res = await events.storage.get_list(events.list_key("default"), ListOptions())
        self.assertEqual([e["reason"] for e in res["items"]], ["OwnerRefInvalidNamespace"])

    async def test_unserved_kind_is_retried_with_backoff(self) -> None:
        """
        A reference to a kind nobody serves keeps the dependent; it is retried with growing delays.
        """
        w = self.world
        bogus = {"apiVersion": "nope.example/v1", "kind": "Nothing", "name": "n", "uid": "u-2"}
        created = await w.create("", "configmaps", "default", "dep", ownerReferences=[bogus])
        await w.settle(rounds=20, step=0.001)
        self.assertIsNotNone(await w.get("", "configmaps", "default", "dep"))
        self.assertGreater(self.gc.queue.num_requeues(created["metadata"]["uid"]), 1)

    async def test_cycle(self) -> None:
        """
        Two objects owning each other: deleting one deletes the other, in bounded work.
        """
        w = self.world
        a = await w.create("", "configmaps", "default", "a")
        b = await w.create("", "configmaps", "default", "b", ownerReferences=[ref(a)])
        cms = w.store("", "configmaps")

        def own(cur: dict) -> dict:
            cur["metadata"]["ownerReferences"] = [ref(b)]
            return cur

        await cms.update("default", "a", own, "v1")
        await w.settle()
        self.assertEqual(await w.names("", "configmaps", "default"), ["a", "b"])
        await cms.delete("default", "a", {}, "v1")
        await w.settle()
        self.assertEqual(await w.names("", "configmaps", "default"), [])

    async def test_rebuilt_after_restart(self) -> None:
        """
        Owners deleted while no collector ran, and an orphan deletion left half done, are finished
        by a new collector from its first lists.
        """
        w = self.world
        await self.gc.stop()
        owner = await w.create("", "configmaps", "default", "owner")
        await w.create("", "secrets", "default", "dep", ownerReferences=[ref(owner)])
        keeper = await w.create("", "configmaps", "default", "keeper")
        await w.create("", "secrets", "default", "kid", ownerReferences=[ref(keeper)])
        await w.store("", "configmaps").delete("default", "owner", {}, "v1")
        await w.store("", "configmaps").delete("default", "keeper", {"propagationPolicy": "Orphan"}, "v1")
        await w.settle()
        self.assertEqual(await w.names("", "secrets", "default"), ["dep", "kid"])
        fresh = GarbageCollector(w.ctx)
        self.addCleanup(lambda: fresh.stop())
        await fresh.start()
        await w.settle()
        self.assertEqual(await w.names("", "secrets", "default"), ["kid"])
        kid = await w.get("", "secrets", "default", "kid")
        assert kid is not None
        self.assertNotIn("ownerReferences", kid["metadata"])
        self.assertIsNone(await w.get("", "configmaps", "default", "keeper"))

    async def test_idle_does_nothing(self) -> None:
        """
        With settled objects nothing is queued and no timer is pending (no polling).
        """
        w = self.world
        await self.chain()
        await w.settle()
        self.assertEqual(len(self.gc.queue), 0)
        self.assertEqual([d for d in w.clock.getDelayedCalls() if d.active()], [])

    async def test_foreground_cycle(self) -> None:
        """
        Foreground deletion of one of two objects blocking each other ends with both gone.
        """
        w = self.world
        a = await w.create("", "configmaps", "default", "a")
        b = await w.create("", "configmaps", "default", "b", ownerReferences=[ref(a, block=True)])
        cms = w.store("", "configmaps")

        def own(cur: dict) -> dict:
            cur["metadata"]["ownerReferences"] = [ref(b, block=True)]
            return cur

        await cms.update("default", "a", own, "v1")
        await w.settle()
        await cms.delete("default", "a", {"propagationPolicy": "Foreground"}, "v1")
        await w.settle(rounds=60)
        self.assertEqual(await w.names("", "configmaps", "default"), [])
