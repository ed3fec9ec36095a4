"""
Tests for L{kapid.controllers.serviceaccounts}: the C{default} ServiceAccount of every namespace,
on the controller framework over a ResourceLink's stores on the memory KV.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from kapid.apimachinery.status import StatusError
from kapid.controllers.serviceaccounts import ServiceAccountsController
from tests.controllers.helpers import World


class ServiceAccountsControllerTests(TestCase):
    """
    The controller keeps C{default} in every namespace.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.world = World(custom=False)
        await self.world.start()
        self.controller = ServiceAccountsController(self.world.ctx)
        self.addCleanup(self.controller.stop)
        self.accounts = self.world.store("", "serviceaccounts")

    async def names(self) -> list[tuple[str, str]]:
        out = []
        for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "team", "late", "quiet"):
            out += [(ns, n) for n in await self.world.names("", "serviceaccounts", ns)]
        return sorted(out)

    async def test_existing_namespaces_on_start(self) -> None:
        """
        Every namespace there at start gets C{default}.
        """
        await self.controller.start()
        await self.world.settle()
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
        await self.world.create("", "namespaces", "", "team")
        await self.world.settle()
        self.assertIn(("team", "default"), await self.names())
        await self.accounts.delete("team", "default", {}, "v1")
        await self.world.settle()
        got = await self.accounts.get("team", "default", "v1")
        self.assertEqual(got["metadata"]["name"], "default")

    async def test_terminating_namespace_gets_none(self) -> None:
        """
        A terminating namespace whose C{default} goes does not get it back.
        """
        await self.controller.start()
        await self.world.create("", "namespaces", "", "late")
        await self.world.settle()
        await self.world.store("", "namespaces").delete("", "late", {}, "v1")
        await self.accounts.delete("late", "default", {}, "v1")
        await self.world.settle()
        self.assertNotIn(("late", "default"), await self.names())

    async def test_stopped_creates_nothing(self) -> None:
        """
        After stop(), new namespaces get no account.
        """
        await self.controller.start()
        await self.controller.stop()
        await self.world.create("", "namespaces", "", "quiet")
        self.world.clock.advance(10)
        await self.world.settle()
        with self.assertRaises(StatusError):
            await self.accounts.get("quiet", "default", "v1")
