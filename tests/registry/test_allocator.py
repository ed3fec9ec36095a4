"""
Tests for L{kapid.registry.allocator}: Service cluster IP and node port allocation over a Store on
the memory KV and on a real etcd.
"""

from __future__ import annotations

import base64
import random
import uuid
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.registry.allocator import (
    AllocationError,
    Bitmap,
    IPRange,
    PortRange,
    ServiceAllocator,
    drop_type_dependent_fields,
    patch_allocated_values,
)
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


def svc(name: str, stype: str = "ClusterIP", ports: Any = None, **spec: Any) -> dict:
    """
    A defaulted Service named C{name}.
    """
    s: dict = {"type": stype, "ports": ports if ports is not None else [{"port": 80, "protocol": "TCP"}]}
    s.update(spec)
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default"}, "spec": s}


class RangeTests(TestCase):
    """
    Ranges and bitmaps.
    """

    def test_ip_range_excludes_network_and_broadcast(self) -> None:
        """A /24 holds .1 to .254; the network and broadcast addresses are out of range."""
        r = IPRange.parse("10.0.0.0/24")
        self.assertEqual((r.size, r.first(), r.value_at(r.size - 1)), (254, "10.0.0.1", "10.0.0.254"))
        self.assertIsNone(r.offset_of("10.0.0.0"))
        self.assertIsNone(r.offset_of("10.0.0.255"))
        self.assertEqual(r.dynamic_offset, 16)

    def test_port_range_forms(self) -> None:
        """Port ranges parse as kube's (a-b, a+n, one port) and print as a-b."""
        self.assertEqual(PortRange.parse("30000-32767").text, "30000-32767")
        self.assertEqual(PortRange.parse("30000+9").text, "30000-30009")
        self.assertEqual(PortRange.parse("30000").size, 1)
        self.assertEqual(PortRange.parse("30000-32767").dynamic_offset, 86)

    def test_bitmap_encoding_is_big_endian(self) -> None:
        """Offset 0 is the low bit of the last byte, as Go's big.Int.Bytes()."""
        b = Bitmap(254)
        b.set(0)
        b.set(9)
        self.assertEqual(base64.b64decode(b.encode()), b"\x02\x01")
        self.assertEqual(Bitmap.decode(254, b.encode()).offsets(), [0, 9])


if TYPE_CHECKING:
    _MixinBase = TestCase
else:
    _MixinBase = object


class AllocatorMixin(_MixinBase):
    """
    Allocation behaviour, run over several storages (C{make_storage}).
    """

    prefix = "/registry"

    async def make_storage(self) -> Any:
        raise NotImplementedError

    async def allocator(self, ip_range: str = "10.0.0.0/24", port_range: str = "30000-32767", seed: int = 1) -> ServiceAllocator:
        if not hasattr(self, "storage"):
            self.storage = await self.make_storage()
        return ServiceAllocator(self.storage, ip_range, port_range, prefix=self.prefix, rng=random.Random(seed))

    async def second_storage(self) -> Any:
        """
        Another storage over the same data (another process's view); by default the same one.
        """
        return self.storage

    async def stored(self, alloc: ServiceAllocator, obj: dict) -> dict:
        """
        Store C{obj} as a Service the way the registry would.
        """
        return await self.storage.create(f"{self.prefix}/services/specs/default/{obj['metadata']['name']}", obj)

    async def test_sequential_dynamic(self) -> None:
        """Dynamic IPs are distinct, in range, above the static band, never the first address."""
        a = await self.allocator()
        ips = []
        for i in range(5):
            s = svc(f"s{i}")
            await a.allocate(s)
            self.assertEqual(s["spec"]["clusterIPs"], [s["spec"]["clusterIP"]])
            ips.append(s["spec"]["clusterIP"])
        self.assertEqual(len(set(ips)), 5)
        for ip in ips:
            off = a.ip_range.offset_of(ip)
            assert off is not None
            self.assertGreaterEqual(off, 16)
        self.assertEqual(sorted(await a.allocated_ips()), sorted(ips))

    async def test_explicit_honoured_then_taken(self) -> None:
        """An explicit IP is given; asking for it again is kube's 422."""
        a = await self.allocator()
        s = svc("a", clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"])
        await a.allocate(s)
        self.assertEqual(s["spec"]["clusterIP"], "10.0.0.5")
        with self.assertRaises(AllocationError) as cm:
            await a.allocate(svc("b", clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"]))
        self.assertEqual(cm.exception.code, 422)
        self.assertEqual(
            cm.exception.message,
            'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: '
            "failed to allocate IP 10.0.0.5: provided IP is already allocated",
        )
        self.assertEqual(cm.exception.details["causes"][0]["field"], "spec.clusterIPs")

    async def test_out_of_range(self) -> None:
        """IPs outside the range (and the network/broadcast addresses) are kube's 422."""
        a = await self.allocator()
        for ip in ("10.1.0.5", "10.0.0.0", "10.0.0.255"):
            with self.assertRaises(AllocationError) as cm:
                await a.allocate(svc("c", clusterIP=ip, clusterIPs=[ip]))
            self.assertEqual(
                cm.exception.message,
                f'Service "c" is invalid: spec.clusterIPs: Invalid value: []string{{"{ip}"}}: '
                f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                "The range of valid IPs is 10.0.0.0/24",
            )
        self.assertEqual(await a.allocated_ips(), [])

    async def test_headless_and_external_name(self) -> None:
        """Headless and ExternalName Services get no IP."""
        a = await self.allocator()
        h = svc("h", clusterIP="None")
        await a.allocate(h)
        self.assertEqual(h["spec"]["clusterIPs"], ["None"])
        e = svc("e", "ExternalName", ports=[], externalName="example.com")
        await a.allocate(e)
        self.assertNotIn("clusterIP", e["spec"])
        self.assertEqual(await a.allocated_ips(), [])

    async def test_node_ports(self) -> None:
        """NodePort Services get a node port per port; explicit ones are honoured or refused."""
        a = await self.allocator()
        n = svc("n", "NodePort", ports=[{"name": "a", "port": 80, "protocol": "TCP"},
                                        {"name": "b", "port": 81, "protocol": "TCP", "nodePort": 30080}])
        await a.allocate(n)
        got = [p["nodePort"] for p in n["spec"]["ports"]]
        self.assertEqual(got[1], 30080)
        self.assertTrue(30000 + 86 <= got[0] <= 32767)
        self.assertEqual(sorted(await a.allocated_ports()), sorted(got))
        with self.assertRaises(AllocationError) as cm:
            await a.allocate(svc("n2", "NodePort", ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}]))
        self.assertEqual(
            cm.exception.message,
            'Service "n2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
        )
        with self.assertRaises(AllocationError) as cm:
            await a.allocate(svc("n3", "NodePort", ports=[{"port": 80, "protocol": "TCP", "nodePort": 8080}]))
        self.assertEqual(
            cm.exception.message,
            'Service "n3" is invalid: spec.ports[0].nodePort: Invalid value: 8080: '
            "provided port is not in the valid range. The range of valid ports is 30000-32767",
        )
        # the refused creates hold nothing
        self.assertEqual(len(await a.allocated_ips()), 1)
        self.assertEqual(sorted(await a.allocated_ports()), sorted(got))

    async def test_same_port_number_shares_node_port(self) -> None:
        """TCP and UDP ports of one number share one node port, as kube allocates them."""
        a = await self.allocator()
        n = svc("dns", "NodePort", ports=[{"name": "t", "port": 53, "protocol": "TCP"},
                                          {"name": "u", "port": 53, "protocol": "UDP"}])
        await a.allocate(n)
        ports = [p["nodePort"] for p in n["spec"]["ports"]]
        self.assertEqual(ports[0], ports[1])
        self.assertEqual(await a.allocated_ports(), [ports[0]])

    async def test_load_balancer_health_check_and_no_node_ports(self) -> None:
        """A Local LoadBalancer gets a health check node port; allocateLoadBalancerNodePorts false gets none."""
        a = await self.allocator()
        lb = svc("lb", "LoadBalancer", externalTrafficPolicy="Local")
        await a.allocate(lb)
        self.assertIn("healthCheckNodePort", lb["spec"])
        self.assertEqual(len(await a.allocated_ports()), 2)
        bare = svc("bare", "LoadBalancer", allocateLoadBalancerNodePorts=False)
        await a.allocate(bare)
        self.assertNotIn("nodePort", bare["spec"]["ports"][0])
        self.assertEqual(len(await a.allocated_ports()), 2)

    async def test_release_on_delete(self) -> None:
        """Releasing a deleted Service frees its IP and node ports for others."""
        a = await self.allocator()
        n = svc("n", "NodePort", clusterIP="10.0.0.7", clusterIPs=["10.0.0.7"],
                ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}])
        await a.allocate(n)
        await a.release(n)
        self.assertEqual((await a.allocated_ips(), await a.allocated_ports()), ([], []))
        again = svc("m", "NodePort", clusterIP="10.0.0.7", clusterIPs=["10.0.0.7"],
                    ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}])
        await a.allocate(again)

    async def test_type_change_releases_on_commit(self) -> None:
        """NodePort -> ClusterIP drops and releases the node ports once committed; a revert keeps them."""
        a = await self.allocator()
        old = svc("n", "NodePort")
        await a.allocate(old)
        np = old["spec"]["ports"][0]["nodePort"]
        new = svc("n", "ClusterIP", clusterIP=old["spec"]["clusterIP"], clusterIPs=old["spec"]["clusterIPs"],
                  ports=[dict(old["spec"]["ports"][0])])
        txn = await a.allocate_update(new, old)
        self.assertNotIn("nodePort", new["spec"]["ports"][0])
        self.assertEqual(await a.allocated_ports(), [np])
        await txn.revert()
        self.assertEqual(await a.allocated_ports(), [np])
        txn = await a.allocate_update(svc("n", "ClusterIP", ports=[dict(old["spec"]["ports"][0])]), old)
        await txn()  # an update's transaction commits when called
        self.assertEqual(await a.allocated_ports(), [])
        self.assertEqual(await a.allocated_ips(), [old["spec"]["clusterIP"]])

    async def test_update_keeps_allocations_and_external_name_releases(self) -> None:
        """An update without clusterIP keeps the old one; switching to ExternalName releases it on commit."""
        a = await self.allocator()
        old = svc("s")
        await a.allocate(old)
        put = svc("s")
        txn = await a.allocate_update(put, old)
        await txn.commit()
        self.assertEqual(put["spec"]["clusterIP"], old["spec"]["clusterIP"])
        self.assertEqual(len(await a.allocated_ips()), 1)
        ext = svc("s", "ExternalName", ports=[], externalName="example.com",
                  clusterIP=old["spec"]["clusterIP"], clusterIPs=old["spec"]["clusterIPs"])
        txn = await a.allocate_update(ext, old)
        self.assertNotIn("clusterIP", ext["spec"])
        await txn.commit()
        self.assertEqual(await a.allocated_ips(), [])
        back = svc("s")
        await a.allocate_update(back, ext)
        self.assertEqual(len(await a.allocated_ips()), 1)

    async def test_revert_after_failed_create(self) -> None:
        """A create's transaction gives everything back when reverted (called)."""
        a = await self.allocator()
        s = svc("s", "NodePort")
        txn = await a.allocate_create(s)
        await txn()
        self.assertEqual((await a.allocated_ips(), await a.allocated_ports()), ([], []))
        await txn.commit()  # finished already: nothing happens
        self.assertEqual(await a.allocated_ips(), [])

    async def test_failed_port_gives_back_ip(self) -> None:
        """When the node port is refused, the IP allocated for the same create is given back."""
        a = await self.allocator()
        await a.allocate(svc("x", "NodePort", ports=[{"port": 80, "protocol": "TCP", "nodePort": 30001}]))
        with self.assertRaises(AllocationError):
            await a.allocate(svc("y", "NodePort", clusterIP="10.0.0.9", clusterIPs=["10.0.0.9"],
                                 ports=[{"port": 80, "protocol": "TCP", "nodePort": 30001}]))
        self.assertNotIn("10.0.0.9", await a.allocated_ips())

    async def test_persisted_as_range_allocation_and_restart(self) -> None:
        """The bitmaps are RangeAllocations in storage; a new allocator on the same storage sees them."""
        a = await self.allocator()
        await a.allocate(svc("k", clusterIP="10.0.0.1", clusterIPs=["10.0.0.1"]))
        obj = await self.storage.get(f"{self.prefix}/ranges/serviceips")
        self.assertEqual((obj["kind"], obj["range"], obj["data"]), ("RangeAllocation", "10.0.0.0/24", "AQ=="))
        b = await self.allocator(seed=2)
        self.assertEqual(await b.allocated_ips(), ["10.0.0.1"])
        with self.assertRaises(AllocationError):
            await b.allocate(svc("k2", clusterIP="10.0.0.1", clusterIPs=["10.0.0.1"]))

    async def test_two_allocators_never_hand_out_twice(self) -> None:
        """50 concurrent allocations through two allocators on one storage get 50 different IPs and ports."""
        a = await self.allocator(seed=7)
        b = ServiceAllocator(await self.second_storage(), prefix=self.prefix, rng=random.Random(7))
        services = [svc(f"c{i}", "NodePort") for i in range(50)]
        await gatherResults(
            [Deferred.fromCoroutine((a if i % 2 else b).allocate(s)) for i, s in enumerate(services)]
        )
        ips = [s["spec"]["clusterIP"] for s in services]
        ports = [s["spec"]["ports"][0]["nodePort"] for s in services]
        self.assertEqual((len(set(ips)), len(set(ports))), (50, 50))
        self.assertEqual(sorted(await a.allocated_ips()), sorted(ips))
        self.assertEqual(sorted(await b.allocated_ports()), sorted(ports))

    async def test_exhaustion(self) -> None:
        """A /29 hands out its five dynamic addresses, then answers kube's 500 range is full."""
        a = await self.allocator("10.9.0.0/29")
        for i in range(5):
            await a.allocate(svc(f"f{i}"))
        with self.assertRaises(AllocationError) as cm:
            await a.allocate(svc("full"))
        self.assertEqual((cm.exception.code, cm.exception.reason), (500, "InternalError"))
        self.assertEqual(cm.exception.message, "Internal error occurred: failed to allocate a serviceIP: range is full")
        # the first address stays for the kubernetes Service
        await a.allocate(svc("kubernetes", clusterIP="10.9.0.1", clusterIPs=["10.9.0.1"]))
        self.assertEqual(len(await a.allocated_ips()), 6)

    async def test_node_port_exhaustion(self) -> None:
        """A full node port range answers kube's 500 and the IP taken for that create is given back."""
        a = await self.allocator(port_range="30000-30001")
        await a.allocate(svc("p", "NodePort", ports=[{"name": "a", "port": 1, "protocol": "TCP"},
                                                     {"name": "b", "port": 2, "protocol": "TCP"}]))
        with self.assertRaises(AllocationError) as cm:
            await a.allocate(svc("q", "NodePort"))
        self.assertEqual(cm.exception.message, "Internal error occurred: failed to allocate a nodePort: range is full")
        self.assertEqual(len(await a.allocated_ips()), 1)

    async def test_dry_run_allocates_nothing(self) -> None:
        """A dry run fills the values but stores no allocation."""
        a = await self.allocator()
        s = svc("d", "NodePort")
        txn = await a.allocate(s, dry_run=True)
        self.assertIsNotNone(a.ip_range.offset_of(s["spec"]["clusterIP"]))
        self.assertIn("nodePort", s["spec"]["ports"][0])
        await txn.revert()
        self.assertIsNone(await self.storage.get(f"{self.prefix}/ranges/serviceips", "", True))
        self.assertIsNone(await self.storage.get(f"{self.prefix}/ranges/servicenodeports", "", True))
        await a.allocate(svc("t", clusterIP="10.0.0.3", clusterIPs=["10.0.0.3"]))
        with self.assertRaises(AllocationError):
            await a.allocate(svc("u", clusterIP="10.0.0.3", clusterIPs=["10.0.0.3"]), dry_run=True)

    async def test_repair_rebuilds_missing_bitmap(self) -> None:
        """Services stored without a bitmap are found by the repair pass and by the first allocation."""
        a = await self.allocator()
        await self.stored(a, svc("old", "NodePort", clusterIP="10.0.0.200", clusterIPs=["10.0.0.200"],
                                 ports=[{"port": 80, "protocol": "TCP", "nodePort": 30500}]))
        b = await self.allocator()
        with self.assertRaises(AllocationError):
            await b.allocate(svc("new", clusterIP="10.0.0.200", clusterIPs=["10.0.0.200"]))
        await a.repair()
        self.assertEqual(await a.allocated_ips(), ["10.0.0.200"])
        self.assertEqual(await a.allocated_ports(), [30500])

    async def test_single_stack_refusals(self) -> None:
        """RequireDualStack and a second family are refused on a single-stack cluster."""
        a = await self.allocator()
        with self.assertRaises(AllocationError) as cm:
            await a.allocate(svc("d", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"]))
        self.assertIn(
            'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
            cm.exception.message,
        )
        self.assertIn('spec.ipFamilies[1]: Invalid value: "IPv6": not configured on this cluster', cm.exception.message)


class MemoryAllocatorTests(AllocatorMixin, TestCase):
    """
    Allocation over a Store on the memory KV.
    """

    async def make_storage(self) -> Any:
        return Store(MemoryKV(Clock()), Clock())


class EtcdAllocatorTests(AllocatorMixin, TestCase):
    """
    Allocation over a Store on a real etcd (one per module; a key prefix per test).
    """

    timeout = 60

    async def make_storage(self) -> Any:
        from twisted.internet import reactor

        from kapid.storage.etcd3 import EtcdKV
        from kapid.testing.etcd import shared_etcd

        etcd = await shared_etcd(__name__)
        kv = EtcdKV([etcd.client_url], reactor, request_timeout=10.0)
        self.addCleanup(kv.close)
        self.prefix = f"/t{uuid.uuid4().hex[:12]}/registry"
        self.etcd_url = etcd.client_url
        return Store(kv, reactor, prefix=self.prefix)

    async def second_storage(self) -> Any:
        """
        A second client and Store on the same etcd, as a second kapid process has.
        """
        from twisted.internet import reactor

        from kapid.storage.etcd3 import EtcdKV

        kv = EtcdKV([self.etcd_url], reactor, request_timeout=10.0)
        self.addCleanup(kv.close)
        return Store(kv, reactor, prefix=self.prefix)


class StrategyHelperTests(TestCase):
    """
    kube's update preparation of allocated fields.
    """

    def test_patch_keeps_node_ports_by_name(self) -> None:
        """An update that omits node ports keeps the old ones, matched by port name."""
        old = svc("s", "NodePort", clusterIP="10.0.0.4", clusterIPs=["10.0.0.4"],
                  ports=[{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30002}])
        new = svc("s", "NodePort", ports=[{"name": "b", "port": 82}, {"name": "a", "port": 80}])
        patch_allocated_values(new, old)
        self.assertEqual([p["nodePort"] for p in new["spec"]["ports"]], [30002, 30001])
        self.assertEqual(new["spec"]["clusterIPs"], ["10.0.0.4"])

    def test_drop_only_unchanged(self) -> None:
        """Switching to ClusterIP drops node ports left unchanged, not ones the user changed."""
        old = svc("s", "NodePort", ports=[{"port": 80, "nodePort": 30001}])
        same = svc("s", "ClusterIP", ports=[{"port": 80, "nodePort": 30001}])
        drop_type_dependent_fields(same, old)
        self.assertNotIn("nodePort", same["spec"]["ports"][0])
        changed = svc("s", "ClusterIP", ports=[{"port": 80, "nodePort": 30009}])
        drop_type_dependent_fields(changed, old)
        self.assertEqual(changed["spec"]["ports"][0]["nodePort"], 30009)


