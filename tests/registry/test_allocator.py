"""Tests for kapid.registry.allocator over the in-memory KV (etcd semantics)."""

import random

import orjson
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.status import StatusError
from kapid.registry.allocator import AllocationError, IPAllocator, PortAllocator, ServiceAllocator
from kapid.storage.memory import MemoryKV


def run(coro):
    """Run a coroutine over the synchronous in-memory KV and return its result."""
    return Deferred.fromCoroutine(coro)


class AllocatorTests(SynchronousTestCase):
    """Bitmap allocators for IPs and ports."""

    def setUp(self):
        self.kv = MemoryKV(Clock())
        self.ips = IPAllocator(self.kv, "10.0.0.0/24", rng=random.Random(1))
        self.ports = PortAllocator(self.kv, "30000-32767", rng=random.Random(1))

    def test_explicit_and_taken(self):
        """An explicit IP is taken once; a second request is refused with kube's text."""
        self.successResultOf(run(self.ips.allocate("10.0.0.10")))
        f = self.failureResultOf(run(self.ips.allocate("10.0.0.10")), AllocationError)
        self.assertEqual(f.value.message, "provided IP is already allocated")
        f = self.failureResultOf(run(self.ips.allocate("10.1.0.1")), AllocationError)
        self.assertEqual(
            f.value.message,
            "the provided IP (10.1.0.1) is not in the valid range. The range of valid IPs is 10.0.0.0/24",
        )

    def test_dynamic_upper_band_and_release(self):
        """Dynamic IPs come from above the static band; released ones can be taken again."""
        ip = self.successResultOf(run(self.ips.allocate_next()))
        self.assertGreaterEqual(self.ips.offset(ip), 16)
        self.successResultOf(run(self.ips.release(ip)))
        self.successResultOf(run(self.ips.allocate(ip)))

    def test_persisted_in_kube_layout(self):
        """The bitmap lives at /registry/ranges/serviceips as a RangeAllocation; a new allocator sees it."""
        self.successResultOf(run(self.ips.allocate("10.0.0.1")))
        kv, _ = self.successResultOf(self.kv.get(b"/registry/ranges/serviceips"))
        doc = orjson.loads(kv.value)
        self.assertEqual((doc["kind"], doc["range"], doc["data"]), ("RangeAllocation", "10.0.0.0/24", "AQ=="))
        again = IPAllocator(self.kv, "10.0.0.0/24")
        self.failureResultOf(run(again.allocate("10.0.0.1")), AllocationError)

    def test_never_twice(self):
        """Concurrent dynamic allocations from two allocators never return the same port."""
        other = PortAllocator(self.kv, "30000-30019", rng=random.Random(1))
        mine = PortAllocator(self.kv, "30000-30019", rng=random.Random(1))
        got = self.successResultOf(gatherResults([run(a.allocate_next()) for a in (mine, other) * 10]))
        self.assertEqual(len(set(got)), 20)
        f = self.failureResultOf(run(mine.allocate_next()), AllocationError)
        self.assertEqual(f.value.reason, "full")

    def test_port_range(self):
        """Ports outside the range are refused with kube's message."""
        f = self.failureResultOf(run(self.ports.allocate(80)), AllocationError)
        self.assertEqual(
            f.value.message,
            "provided port is not in the valid range. The range of valid ports is 30000-32767",
        )


class ServiceAllocatorTests(SynchronousTestCase):
    """Allocation for Service objects."""

    def setUp(self):
        kv = MemoryKV(Clock())
        self.alloc = ServiceAllocator(IPAllocator(kv), PortAllocator(kv))

    def test_create_update_delete(self):
        """A NodePort service gets an IP and node ports, keeps them on update, frees them on delete."""
        svc = {"metadata": {"name": "web"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}}
        self.successResultOf(run(self.alloc.allocate_create(svc)))
        ip, np = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        self.assertEqual(svc["spec"]["clusterIPs"], [ip])
        self.assertTrue(30000 <= np <= 32767)
        new = {"metadata": {"name": "web"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}}
        commit = self.successResultOf(run(self.alloc.allocate_update(new, svc)))
        self.successResultOf(run(commit()))
        self.assertEqual((new["spec"]["clusterIP"], new["spec"]["ports"][0]["nodePort"]), (ip, np))
        self.successResultOf(run(self.alloc.release(new)))
        self.successResultOf(run(self.alloc.ips.allocate(ip)))
        self.successResultOf(run(self.alloc.ports.allocate(np)))

    def test_refusals(self):
        """Taken IPs and node ports are refused as kube's 422s."""
        a = {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.0.0.5", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}
        self.successResultOf(run(self.alloc.allocate_create(a)))
        b = {"metadata": {"name": "b"}, "spec": {"clusterIP": "10.0.0.5", "ports": [{"port": 80}]}}
        err = self.failureResultOf(run(self.alloc.allocate_create(b)), StatusError).value
        self.assertEqual(err.code, 422)
        self.assertEqual(
            err.message,
            'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: '
            "failed to allocate IP 10.0.0.5: provided IP is already allocated",
        )
        c = {"metadata": {"name": "c"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}
        err = self.failureResultOf(run(self.alloc.allocate_create(c)), StatusError).value
        self.assertEqual(
            err.message,
            'Service "c" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
        )
        # the failed create gave back the IP it had taken
        self.assertEqual(self.successResultOf(run(self.alloc.ips.bitmap.used())), 1)

    def test_headless_and_dry_run(self):
        """Headless services get no IP; a dry run keeps nothing."""
        h = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
        self.successResultOf(run(self.alloc.allocate_create(h)))
        self.assertEqual(h["spec"]["clusterIPs"], ["None"])
        d = {"metadata": {"name": "d"}, "spec": {"ports": [{"port": 80}]}}
        self.successResultOf(run(self.alloc.allocate_create(d, dry_run=True)))
        self.assertTrue(d["spec"]["clusterIP"])
        self.assertEqual(self.successResultOf(run(self.alloc.ips.bitmap.used())), 0)


class ServiceStrategyTests(SynchronousTestCase):
    """The services description's strategy hooks drive the allocator."""

    def test_hooks(self):
        """before_create fills the IP, after_delete frees it; without an allocator they do nothing."""
        from kapid.registry.builtin.core_cluster import SERVICES, services_with_allocator

        kv = MemoryKV(Clock())
        alloc = ServiceAllocator(IPAllocator(kv), PortAllocator(kv))
        res = services_with_allocator(alloc)
        self.assertEqual(res.plural, "services")
        svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
        self.successResultOf(run(res.strategy.before_create(None, svc)))
        self.assertTrue(svc["spec"]["clusterIP"].startswith("10.0.0."))
        self.successResultOf(run(res.strategy.after_delete(None, svc)))
        self.assertEqual(self.successResultOf(run(alloc.ips.bitmap.used())), 0)
        plain = {"spec": {}}
        undo = self.successResultOf(run(SERVICES.strategy.before_create(None, plain)))
        self.successResultOf(run(undo()))
        self.assertEqual(plain, {"spec": {}})
