"""
Tests for L{kapid.controllers.serviceaccounts}: the C{default} ServiceAccount of every namespace,
over a ResourceLink's stores on the memory KV.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from kapid.apimachinery.status import StatusError
from kapid.controllers.serviceaccounts import ServiceAccountsController, controller_for
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.storage.interfaces import ListOptions
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


class ServiceAccountsControllerTests(TestCase):
    """
    The controller keeps C{default} in every namespace.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.clock = Clock()
        storage = Store(MemoryKV(self.clock), self.clock)
        self.link = ResourceLink(Resource(), builtin_registry(), storage, self.clock)
        await self.link.ensure_system_namespaces()
        controller = controller_for(self.link, self.clock)
        assert isinstance(controller, ServiceAccountsController)
        self.controller = controller
        self.addCleanup(controller.stop)
        self.namespaces = controller.namespaces
        self.accounts = controller.service_accounts

    async def names(self) -> list[tuple[str, str]]:
        res = await self.accounts.storage.get_list(self.accounts.list_key(""), ListOptions())
        return sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in res["items"])

    async def settle(self) -> None:
        for _ in range(5):
            self.clock.advance(0)
            if self.controller._working is not None:
                await self.controller._working

    async def create_namespace(self, name: str) -> None:
        await self.namespaces.create("", {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}}, "v1")

    async def test_existing_namespaces_on_start(self) -> None:
        """
        Starting creates C{default} in every existing namespace before it fires.
        """
        await self.controller.start()
        self.assertEqual(
            await self.names(),
            [("default", "default"), ("kube-node-lease", "default"), ("kube-public", "default"),
             ("kube-system", "default")],
        )

    async def test_new_namespace_and_deleted_account(self) -> None:
        """
        A namespace created later gets C{default}; a deleted C{default} comes back.
        """
        await self.controller.start()
        await self.create_namespace("team")
        await self.settle()
        self.assertIn(("team", "default"), await self.names())
        await self.accounts.delete("team", "default", {}, "v1")
        await self.settle()
        got = await self.accounts.get("team", "default", "v1")
        self.assertEqual(got["metadata"]["name"], "default")

    async def test_watch_restarts_after_ending(self) -> None:
        """
        When its watch ends the controller starts again after the retry delay.
        """
        await self.controller.start()
        self.controller._stop_watchers()
        await self.create_namespace("late")
        await self.settle()
        self.assertNotIn(("late", "default"), await self.names())
        self.clock.advance(self.controller.retry_delay)
        await self.settle()
        self.assertIn(("late", "default"), await self.names())

    async def test_stopped_creates_nothing(self) -> None:
        """
        After stop(), new namespaces get no account.
        """
        await self.controller.start()
        self.controller.stop()
        await self.create_namespace("quiet")
        self.clock.advance(10)
        await self.settle()
        with self.assertRaises(StatusError):
            await self.accounts.get("quiet", "default", "v1")
