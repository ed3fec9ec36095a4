"""
Tests for L{kapid.admission.context}: lookups through a link, per-request memos, and the watched
collections plugins read on every request.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.context import PluginContext, watched
from kapid.storage.interfaces import Event
from tests.endpoints.helpers import API

PCS = "/apis/scheduling.k8s.io/v1/priorityclasses"


def pc(name: str, value: int) -> dict:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value}


class ContextTests(SynchronousTestCase):
    """
    Lookups.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.context = PluginContext(self.api.link, self.api.clock)

    def test_get_and_memo(self) -> None:
        """
        get reads a stored object once per memo; a missing one is None.
        """
        memo: dict = {}
        ns = self.api.run(Deferred.fromCoroutine(self.context.get("", "namespaces", "", "default", memo=memo)))
        self.assertEqual(ns["metadata"]["name"], "default")
        self.assertIn(("get", "", "namespaces", "", "default"), memo)
        self.assertIsNone(self.api.run(Deferred.fromCoroutine(self.context.get("", "namespaces", "", "ghost"))))
        self.assertIsNone(self.context.store("nope", "things"))

    def test_watched_follows_changes(self) -> None:
        """
        A watched collection lists first, then follows the watch: additions and deletions show
        without another list; an ERROR event makes it list and watch again.
        """
        self.api.post(PCS, pc("a", 1))
        w = watched(self.context, "scheduling.k8s.io", "priorityclasses")
        self.assertIs(watched(self.context, "scheduling.k8s.io", "priorityclasses"), w)
        first = self.api.run(Deferred.fromCoroutine(w.items()))
        self.assertEqual([o["metadata"]["name"] for o in first], ["a"])
        self.assertTrue(w._ready)
        self.api.post(PCS, pc("b", 2))
        self.api.delete(PCS + "/a")
        self.api.treq.flush()
        names = [o["metadata"]["name"] for o in self.api.run(Deferred.fromCoroutine(w.items()))]
        self.assertEqual(names, ["b"])
        w._event(Event("ERROR", None, Exception("gone")))
        self.assertFalse(w._ready)
        names = [o["metadata"]["name"] for o in self.api.run(Deferred.fromCoroutine(w.items()))]
        self.assertEqual(names, ["b"])
        self.assertTrue(w._ready)
