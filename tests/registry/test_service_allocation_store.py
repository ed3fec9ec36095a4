"""
Service allocation through the registry store's strategy hooks (before_create, before_update,
after_delete) over a Store on the memory KV.
"""

from __future__ import annotations

import random

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from kapid.apimachinery.status import StatusError
from kapid.endpoints.link import ResourceLink
from kapid.registry.allocator import ServiceAllocator
from kapid.registry.builtin import builtin_registry
from kapid.registry.services import install_service_allocation
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


def svc(name, stype="ClusterIP", **spec):
    s = {"type": stype, "ports": [{"port": 80}]}
    s.update(spec)
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name}, "spec": s}


class StoreAllocationTests(TestCase):
    """
    Creates, updates and deletes of Services allocate and release.
    """

    async def setUp(self):
        clock = Clock()
        self.storage = Store(MemoryKV(clock), clock)
        reg = builtin_registry()
        self.alloc = ServiceAllocator(self.storage, rng=random.Random(5))
        install_service_allocation(reg, self.alloc)
        self.link = ResourceLink(Resource(), reg, self.storage, clock)
        await self.link.ensure_system_namespaces()
        self.store = self.link.store_for(reg.lookup("", "v1", "services"))

    async def create(self, obj, dry_run=False):
        self.store.strategy.default("v1", obj)
        return await self.store.create("default", obj, "v1", dry_run=dry_run)

    async def test_create_allocates_and_delete_releases(self):
        """A created Service holds an IP and node port until deleted."""
        out = await self.create(svc("a", "NodePort"))
        self.assertEqual(await self.alloc.allocated_ips(), [out["spec"]["clusterIP"]])
        self.assertEqual(await self.alloc.allocated_ports(), [out["spec"]["ports"][0]["nodePort"]])
        await self.store.delete("default", "a", {}, "v1")
        self.assertEqual((await self.alloc.allocated_ips(), await self.alloc.allocated_ports()), ([], []))

    async def test_failed_create_leaks_nothing(self):
        """A create that fails after allocating (name taken) gives its IP back."""
        await self.create(svc("a"))
        with self.assertRaises(StatusError) as cm:
            await self.create(svc("a", clusterIP="10.0.0.50"))
        self.assertEqual(cm.exception.code, 409)
        self.assertNotIn("10.0.0.50", await self.alloc.allocated_ips())

    async def test_taken_ip_is_422(self):
        """An explicit IP that is taken answers kube's 422."""
        await self.create(svc("a", clusterIP="10.0.0.5"))
        with self.assertRaises(StatusError) as cm:
            await self.create(svc("b", clusterIP="10.0.0.5"))
        self.assertEqual(cm.exception.code, 422)
        self.assertIn("provided IP is already allocated", cm.exception.message)

    async def test_dry_run_create(self):
        """A dry-run create shows an IP but holds none."""
        out = await self.create(svc("d"), dry_run=True)
        self.assertTrue(out["spec"]["clusterIP"])
        self.assertEqual(await self.alloc.allocated_ips(), [])

    async def test_update_type_change_releases(self):
        """PUT NodePort -> ClusterIP (node ports left in) drops and releases them."""
        out = await self.create(svc("a", "NodePort"))
        new = dict(out)
        new["spec"] = dict(out["spec"], type="ClusterIP")
        new["spec"].pop("externalTrafficPolicy", None)
        got, _ = await self.store.update("default", "a", lambda cur: new, "v1")
        self.assertNotIn("nodePort", got["spec"]["ports"][0])
        self.assertEqual(await self.alloc.allocated_ports(), [])
        self.assertEqual(got["spec"]["clusterIP"], out["spec"]["clusterIP"])

    async def test_put_without_cluster_ip_keeps_it(self):
        """A PUT without clusterIP keeps the allocated one."""
        out = await self.create(svc("a"))
        new = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "a"}, "spec": {"type": "ClusterIP", "ports": [{"port": 81}]}}
        self.store.strategy.default("v1", new)
        got, _ = await self.store.update("default", "a", lambda cur: new, "v1")
        self.assertEqual(got["spec"]["clusterIP"], out["spec"]["clusterIP"])
        self.assertEqual(await self.alloc.allocated_ips(), [out["spec"]["clusterIP"]])

    async def test_conflict_retry_gives_back_first_attempt(self):
        """An update retried after a conflicting write holds only what its last attempt took."""
        await self.create(svc("a"))
        key = self.store.key("default", "a")
        calls = []

        async def updater(cur):
            calls.append(1)
            if len(calls) == 1:
                # a concurrent writer changes the object between this attempt's read and write
                def label(obj):
                    obj["metadata"].setdefault("labels", {})["x"] = "y"
                    return obj

                await self.storage.guaranteed_update(key, label, None, False)
            new = dict(cur)
            new["spec"] = dict(cur["spec"], type="NodePort")
            return new

        got, _ = await self.store.update("default", "a", updater, "v1")
        self.assertEqual(len(calls), 2)
        self.assertEqual(await self.alloc.allocated_ports(), [got["spec"]["ports"][0]["nodePort"]])

    async def test_dry_run_update_holds_nothing(self):
        """A dry-run type change to NodePort shows a node port but reserves none."""
        await self.create(svc("a"))

        def updater(cur):
            new = dict(cur)
            new["spec"] = dict(cur["spec"], type="NodePort")
            return new

        got, _ = await self.store.update("default", "a", updater, "v1", dry_run=True)
        self.assertTrue(got["spec"]["ports"][0]["nodePort"])
        self.assertEqual(await self.alloc.allocated_ports(), [])

    async def test_delete_after_restart_releases(self):
        """An allocator built again over the same storage (a restart) sees and releases old values."""
        out = await self.create(svc("a", "NodePort"))
        again = ServiceAllocator(self.storage, rng=random.Random(6))
        self.assertEqual(await again.allocated_ips(), [out["spec"]["clusterIP"]])
        install_service_allocation(self.link.registry, again)
        store = self.link.store_for(self.link.registry.lookup("", "v1", "services"))
        await store.delete("default", "a", {}, "v1")
        self.assertEqual((await again.allocated_ips(), await again.allocated_ports()), ([], []))
