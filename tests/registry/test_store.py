"""
Tests for L{kapid.registry.store.RegistryStore} used directly: generated names, storage error
mapping, dry runs.
"""

import random

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import meta
from kapid.apimachinery.status import StatusError
from kapid.registry.builtin.core import CONFIGMAPS
from kapid.registry.store import RegistryStore, interpret_storage_error
from kapid.storage.interfaces import ConflictError, ExpiredError, KeyExistsError, KeyNotFoundError
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


class StoreTests(SynchronousTestCase):
    """
    The generic store over a memory storage.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.storage = Store(MemoryKV(self.clock), self.clock)
        self.store = RegistryStore(CONFIGMAPS, self.storage, self.clock, rng=random.Random(7))

    def wait(self, coro):  # type: ignore[no-untyped-def]
        return self.successResultOf(Deferred.fromCoroutine(coro))

    def test_generate_name_retries_on_collision(self) -> None:
        """
        A generated name that exists already is generated again.
        """
        taken = meta.generate_name("x-", random.Random(7))
        self.wait(self.store.create("default", {"metadata": {"name": taken}}, "v1"))
        out = self.wait(self.store.create("default", {"metadata": {"generateName": "x-"}}, "v1"))
        self.assertNotEqual(out["metadata"]["name"], taken)
        self.assertTrue(out["metadata"]["name"].startswith("x-"))

    def test_dry_run_create_stores_nothing(self) -> None:
        """
        A dry-run create answers the object without a resourceVersion and stores nothing.
        """
        out = self.wait(self.store.create("default", {"metadata": {"name": "a"}}, "v1", dry_run=True))
        self.assertNotIn("resourceVersion", out["metadata"])
        self.assertTrue(out["metadata"]["uid"])
        self.assertIsNone(self.successResultOf(self.storage.get(self.store.key("default", "a"), "", True)))

    def test_storage_errors_become_statuses(self) -> None:
        """
        Storage errors map to kube's Status errors with the resource's names.
        """
        self.assertEqual(interpret_storage_error(KeyNotFoundError("k"), CONFIGMAPS, "a").code, 404)
        e = interpret_storage_error(KeyExistsError("k"), CONFIGMAPS, "a")
        self.assertEqual((e.code, e.reason), (409, "AlreadyExists"))
        e = interpret_storage_error(ConflictError("k", "boom"), CONFIGMAPS, "a")
        self.assertEqual(e.message, 'Operation cannot be fulfilled on configmaps "a": boom')
        e = interpret_storage_error(ExpiredError("too old resource version: 1 (5)"), CONFIGMAPS, "")
        self.assertEqual((e.code, e.reason, e.message), (410, "Expired", "too old resource version: 1 (5)"))

    def test_update_keeps_system_fields(self) -> None:
        """
        An update cannot change uid or creationTimestamp and keeps them when omitted.
        """
        created = self.wait(self.store.create("default", {"metadata": {"name": "a"}}, "v1"))

        def updater(cur):  # type: ignore[no-untyped-def]
            return {"metadata": {"name": "a"}, "data": {"k": "v"}}

        out, created_now = self.wait(self.store.update("default", "a", updater, "v1"))
        self.assertFalse(created_now)
        self.assertEqual(out["metadata"]["uid"], created["metadata"]["uid"])
        self.assertEqual(out["metadata"]["creationTimestamp"], created["metadata"]["creationTimestamp"])

        def bad(cur):  # type: ignore[no-untyped-def]
            return {"metadata": {"name": "a", "uid": "other"}}

        err = self.failureResultOf(Deferred.fromCoroutine(self.store.update("default", "a", bad, "v1")), StatusError)
        self.assertEqual(err.value.code, 422)
        self.assertIn("metadata.uid: Invalid value", err.value.message)
        err = self.failureResultOf(
            Deferred.fromCoroutine(self.store.update("default", "a", bad, "v1", expect_uid="other")), StatusError)
        self.assertEqual(err.value.code, 409)
        self.assertIn("Precondition failed: UID in precondition: other", err.value.message)


class AdmissionStorageErrorTests(SynchronousTestCase):
    """
    A storage error met by admission (a plugin reading storage) answers as the storage would.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.storage = Store(MemoryKV(self.clock), self.clock)
        self.store = RegistryStore(CONFIGMAPS, self.storage, self.clock)

    def unavailable(self, *args: object) -> None:
        from kapid.storage.interfaces import UnavailableError

        raise UnavailableError("storage unavailable")

    def test_create_and_delete(self) -> None:
        """
        Create and delete answer kube's 500 ServerTimeout, not an InternalError.
        """
        d = Deferred.fromCoroutine(self.store.create("default", {"metadata": {"name": "a"}}, "v1", admit=self.unavailable))
        err = self.failureResultOf(d, StatusError).value
        self.assertEqual((err.code, err.reason), (500, "ServerTimeout"))
        self.successResultOf(Deferred.fromCoroutine(self.store.create("default", {"metadata": {"name": "b"}}, "v1")))
        d = Deferred.fromCoroutine(self.store.delete("default", "b", {}, "v1", admit=self.unavailable))
        err = self.failureResultOf(d, StatusError).value
        self.assertEqual((err.code, err.reason), (500, "ServerTimeout"))
