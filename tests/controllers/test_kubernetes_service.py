"""
Tests for L{kapid.controllers.kubernetes_service}: the C{kubernetes} Service, Endpoints and
EndpointSlice, reconciled through the registry stores over a Store on the memory KV.
"""

from __future__ import annotations

import random
from typing import Any

import attr
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from kapid.controllers.kubernetes_service import (
    KubernetesServiceController,
    link_store_for,
    post_start_hook,
)
from kapid.endpoints.link import ResourceLink
from kapid.options.config import config_from_args
from kapid.registry.allocator import ServiceAllocator
from kapid.registry.builtin import builtin_registry
from kapid.registry.services import ServiceStrategy, install_service_allocation
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


@attr.s(auto_attribs=True)
class StartedServer:
    """
    What the post-start hook reads of a started KapidService.
    """

    config: Any
    resource_link: Any
    secure_url: str
    insecure_url: Any = None


class KubernetesServiceTests(TestCase):
    """
    The controller over a ResourceLink's stores.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        clock = Clock()
        self.storage = Store(MemoryKV(clock), clock)
        self.registry = builtin_registry()
        self.allocator = ServiceAllocator(self.storage, rng=random.Random(3))
        install_service_allocation(self.registry, self.allocator)
        self.link = ResourceLink(Resource(), self.registry, self.storage, clock)
        await self.link.ensure_system_namespaces()

    def controller(self, port: int = 6443, address: str = "192.0.2.10") -> KubernetesServiceController:
        return KubernetesServiceController(link_store_for(self.link), self.allocator, address, port)

    async def get(self, key: str) -> dict:
        return await self.storage.get(f"/registry/{key}")

    async def test_creates_the_three_objects(self) -> None:
        """The Service gets the first IP and port 443 -> the secure port; Endpoints and slice point at kapid."""
        await self.controller().reconcile()
        svc = await self.get("services/specs/default/kubernetes")
        self.assertEqual(svc["metadata"]["labels"], {"component": "apiserver", "provider": "kubernetes"})
        self.assertEqual((svc["spec"]["clusterIP"], svc["spec"]["clusterIPs"]), ("10.0.0.1", ["10.0.0.1"]))
        self.assertEqual(
            svc["spec"]["ports"], [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}]
        )
        self.assertEqual((svc["spec"]["type"], svc["spec"]["sessionAffinity"]), ("ClusterIP", "None"))
        self.assertTrue(svc["metadata"]["uid"])
        ep = await self.get("services/endpoints/default/kubernetes")
        self.assertEqual(
            ep["subsets"],
            [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}],
        )
        self.assertEqual(ep["metadata"]["labels"], {"endpointslice.kubernetes.io/skip-mirror": "true"})
        es = await self.get("endpointslices/default/kubernetes")
        self.assertEqual(es["addressType"], "IPv4")
        self.assertEqual(es["endpoints"], [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}])
        self.assertEqual(es["ports"], [{"name": "https", "port": 6443, "protocol": "TCP"}])
        self.assertEqual(es["metadata"]["labels"], {"kubernetes.io/service-name": "kubernetes"})
        self.assertEqual(await self.allocator.allocated_ips(), ["10.0.0.1"])

    async def test_second_run_changes_nothing(self) -> None:
        """Reconciling again leaves every object at its resourceVersion."""
        await self.controller().reconcile()
        keys = ("services/specs/default/kubernetes", "services/endpoints/default/kubernetes",
                "endpointslices/default/kubernetes")
        before = [(await self.get(k))["metadata"]["resourceVersion"] for k in keys]
        await self.controller().reconcile()
        after = [(await self.get(k))["metadata"]["resourceVersion"] for k in keys]
        self.assertEqual(before, after)

    async def test_new_port_and_address_are_corrected(self) -> None:
        """A restart on another port and address corrects the Service, Endpoints and slice."""
        await self.controller().reconcile()
        await self.controller(7443, "192.0.2.20").reconcile()
        svc = await self.get("services/specs/default/kubernetes")
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], 7443)
        self.assertEqual(svc["spec"]["clusterIP"], "10.0.0.1")
        ep = await self.get("services/endpoints/default/kubernetes")
        self.assertEqual(ep["subsets"][0]["addresses"], [{"ip": "192.0.2.20"}])
        self.assertEqual(ep["subsets"][0]["ports"][0]["port"], 7443)
        es = await self.get("endpointslices/default/kubernetes")
        self.assertEqual(es["endpoints"][0]["addresses"], ["192.0.2.20"])

    async def test_post_start_hook_reads_the_server(self) -> None:
        """The post-start hook takes the advertise address from the config and the port kapid listens on."""
        config = config_from_args(storage_backend="memory", advertise_address="192.0.2.30")
        await post_start_hook(StartedServer(config, self.link, "https://127.0.0.1:41234"))
        ep = await self.get("services/endpoints/default/kubernetes")
        self.assertEqual(
            ep["subsets"][0],
            {"addresses": [{"ip": "192.0.2.30"}], "ports": [{"name": "https", "port": 41234, "protocol": "TCP"}]},
        )
        self.assertIsInstance(self.registry.lookup("", "v1", "services").strategy, ServiceStrategy)

    async def test_kubernetes_ip_never_handed_out(self) -> None:
        """After the controller ran, dynamic allocations of a tiny range skip the kubernetes IP."""
        await self.controller().reconcile()
        got = set()
        for i in range(20):
            s = {"metadata": {"name": f"s{i}"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
            await self.allocator.allocate(s)
            got.add(s["spec"]["clusterIP"])
        self.assertNotIn("10.0.0.1", got)


class ConcurrentStartTests(TestCase):
    """
    Several servers starting on one storage.
    """

    async def test_ip_held_by_another_server(self) -> None:
        """
        While another server holds the Service's IP without having written the Service (a 422 on
        create), the controller tries again after a short wait instead of failing its hook.
        """
        from kapid.apimachinery.status import invalid
        from kapid.controllers.kubernetes_service import reconcile_until_done

        clock = Clock()
        storage = Store(MemoryKV(clock), clock)
        registry = builtin_registry()
        allocator = ServiceAllocator(storage, rng=random.Random(3))
        install_service_allocation(registry, allocator)
        link = ResourceLink(Resource(), registry, storage, clock)
        await link.ensure_system_namespaces()
        real = link_store_for(link)
        refusals = [1]

        class Busy:
            def __init__(self, store: Any) -> None:
                self.store = store

            def __getattr__(self, name: str) -> Any:
                return getattr(self.store, name)

            async def create(self, *args: Any, **kw: Any) -> Any:
                if refusals[0]:
                    refusals[0] -= 1
                    raise invalid("Service", "kubernetes", [])
                return await self.store.create(*args, **kw)

        def store_for(group: str, plural: str) -> Any:
            store = real(group, plural)
            return Busy(store) if plural == "services" and store is not None else store

        controller = KubernetesServiceController(store_for, allocator, "192.0.2.10", 6443)
        d = Deferred.fromCoroutine(reconcile_until_done(controller, clock))
        self.assertNoResult(d)
        clock.advance(0.05)
        await d
        svc = await storage.get("/registry/services/specs/default/kubernetes")
        self.assertEqual(svc["spec"]["clusterIP"], "10.0.0.1")
