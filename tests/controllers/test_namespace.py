"""
Tests for L{kapid.controllers.namespace}: deleting a namespace empties it of every served kind
(custom ones included), reports kube's conditions while content remains, then removes it.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from kapid.controllers.namespace import NamespaceController
from tests.controllers.helpers import WIDGETS, World


def conditions(ns: dict) -> dict:
    return {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}


class NamespaceControllerTests(TestCase):
    """
    Namespace deletion as kube's namespace controller does it.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.world = w = World()
        await w.start()
        self.controller = NamespaceController(w.ctx)
        self.addCleanup(self.controller.stop)
        await self.controller.start()
        await w.create("", "namespaces", "", "tmp")
        self.namespaces = w.store("", "namespaces")

    async def test_empties_and_removes(self) -> None:
        """
        Objects of several kinds, a custom resource among them, go, then the namespace does.
        """
        w = self.world
        await w.create("", "configmaps", "tmp", "a")
        await w.create("", "secrets", "tmp", "s")
        await w.create("", "serviceaccounts", "tmp", "sa")
        await w.create("example.com", "widgets", "tmp", "w")
        await w.create("", "configmaps", "default", "other")
        await self.namespaces.delete("", "tmp", {}, "v1")
        await w.settle()
        self.assertIsNone(await w.get("", "namespaces", "", "tmp"))
        for group, plural in (("", "configmaps"), ("", "secrets"), ("", "serviceaccounts"), ("example.com", "widgets")):
            self.assertEqual(await w.names(group, plural, "tmp"), [])
        self.assertEqual(await w.names("", "configmaps", "default"), ["other"])

    async def test_finalizers_keep_it_terminating(self) -> None:
        """
        Content held by a finalizer keeps the namespace Terminating with kube's conditions, and
        the controller looks again after kube's estimate (not in a loop); once the finalizer goes
        the namespace goes.
        """
        w = self.world
        await w.create("example.com", "widgets", "tmp", "held", finalizers=["example.com/x"])
        await w.create("", "configmaps", "tmp", "plain")
        await self.namespaces.delete("", "tmp", {}, "v1")
        await w.settle()
        ns = await w.get("", "namespaces", "", "tmp")
        assert ns is not None
        self.assertEqual(ns["status"]["phase"], "Terminating")
        self.assertEqual(ns["spec"]["finalizers"], ["kubernetes"])
        c = conditions(ns)
        self.assertEqual(
            [c[t]["status"] for t in ("NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                                     "NamespaceDeletionContentFailure", "NamespaceContentRemaining",
                                     "NamespaceFinalizersRemaining")],
            ["False", "False", "False", "True", "True"],
        )
        self.assertEqual(c["NamespaceContentRemaining"]["reason"], "SomeResourcesRemain")
        self.assertEqual(
            c["NamespaceContentRemaining"]["message"],
            "Some resources are remaining: widgets.example.com has 1 resource instances",
        )
        self.assertEqual(
            c["NamespaceFinalizersRemaining"]["message"],
            "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances",
        )
        self.assertEqual(c["NamespaceDeletionContentFailure"]["message"],
                         "All content successfully deleted, may be waiting on finalization")
        self.assertEqual(await w.names("", "configmaps", "tmp"), [])
        # one look again after 15/2+1 seconds, nothing in between
        calls = [d for d in w.clock.getDelayedCalls() if d.getTime() > w.clock.seconds()]
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0].getTime() - w.clock.seconds(), 8)
        widgets = w.store("example.com", "widgets")

        def drop(cur: dict) -> dict:
            cur["metadata"]["finalizers"] = []
            return cur

        await widgets.update("tmp", "held", drop, "v1")
        await w.settle(rounds=10, step=1)
        self.assertIsNone(await w.get("", "namespaces", "", "tmp"))

    async def test_graceful_pods_estimate(self) -> None:
        """
        A pod in its grace period makes the controller look again when the period has ended.
        """
        w = self.world
        pods = w.store("", "pods")
        await pods.create("tmp", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                  "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 20,
                                           "containers": [{"name": "c", "image": "busybox"}]}}, "v1")
        await self.namespaces.delete("", "tmp", {}, "v1")
        await w.settle()
        self.assertIsNotNone(await w.get("", "namespaces", "", "tmp"))
        calls = sorted(d.getTime() - w.clock.seconds() for d in w.clock.getDelayedCalls())
        self.assertIn(11, calls)  # estimate 21 -> 21 // 2 + 1
        await w.settle(rounds=30, step=1)
        self.assertIsNone(await w.get("", "namespaces", "", "tmp"))

    async def test_resumes_after_restart(self) -> None:
        """
        A namespace left Terminating by a stopped controller is finished by a new one at start.
        """
        w = self.world
        await self.controller.stop()
        await w.create("", "configmaps", "tmp", "a")
        await self.namespaces.delete("", "tmp", {}, "v1")
        await w.settle()
        self.assertIsNotNone(await w.get("", "namespaces", "", "tmp"))
        again = NamespaceController(w.ctx)
        self.addCleanup(again.stop)
        await again.start()
        await w.settle()
        self.assertIsNone(await w.get("", "namespaces", "", "tmp"))

    async def test_custom_kind_added_later(self) -> None:
        """
        A kind served after the controller started (a new CRD) is emptied too.
        """
        from kapid.registry.description import Resource, Version
        from kapid.registry.strategy import GenericStrategy

        w = self.world
        gadgets = Resource(group="example.org", kind="Gadget", plural="gadgets", singular="gadget",
                           versions=(Version("v1", None, storage=True),), strategy=GenericStrategy("example.org", "Gadget"))
        w.registry.add(gadgets)
        await w.create("example.org", "gadgets", "tmp", "g")
        await self.namespaces.delete("", "tmp", {}, "v1")
        await w.settle()
        self.assertEqual(await w.names("example.org", "gadgets", "tmp"), [])
        self.assertIsNone(await w.get("", "namespaces", "", "tmp"))
        self.assertIs(w.registry.get("example.com", "widgets"), WIDGETS)
