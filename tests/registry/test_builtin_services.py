"""Tests for the services description's strategy hooks (kapid.registry.builtin.core_cluster)."""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kapid.registry.builtin.core_cluster import SERVICES, ServiceStrategy, services_with_allocator


class _RecordingAllocator:
    """An allocator stand-in that records the calls the strategy makes."""

    def __init__(self):
        self.calls = []

    async def allocate_create(self, obj, dry_run=False):
        self.calls.append(("create", obj["metadata"]["name"], dry_run))
        obj["spec"]["clusterIP"] = "10.0.0.7"
        return "txn-create"

    async def allocate_update(self, obj, old, dry_run=False):
        self.calls.append(("update", obj["metadata"]["name"], dry_run))
        return "txn-update"

    async def release(self, obj):
        self.calls.append(("release", obj["metadata"]["name"]))


def run(coro):
    """Run a coroutine that never waits."""
    return Deferred.fromCoroutine(coro)


class ServiceStrategyTests(SynchronousTestCase):
    """The hooks hand Services to the allocator the description was built with."""

    def test_hooks(self):
        """before_create, before_update and after_delete reach the allocator."""
        alloc = _RecordingAllocator()
        res = services_with_allocator(alloc)
        self.assertEqual((res.plural, res.storage_path), ("services", "services/specs"))
        self.assertIsInstance(res.strategy, ServiceStrategy)
        svc = {"metadata": {"name": "s"}, "spec": {}}
        self.assertEqual(self.successResultOf(run(res.strategy.before_create(None, svc, True))), "txn-create")
        self.assertEqual(svc["spec"]["clusterIP"], "10.0.0.7")
        self.assertEqual(self.successResultOf(run(res.strategy.before_update(None, svc, svc))), "txn-update")
        self.successResultOf(run(res.strategy.after_delete(None, svc)))
        self.assertEqual(alloc.calls, [("create", "s", True), ("update", "s", False), ("release", "s")])

    def test_without_allocator(self):
        """The plain description's hooks change nothing."""
        plain = {"metadata": {"name": "p"}, "spec": {}}
        undo = self.successResultOf(run(SERVICES.strategy.before_create(None, plain)))
        self.successResultOf(run(undo()))
        self.assertEqual(plain, {"metadata": {"name": "p"}, "spec": {}})

    def test_strategy_basics(self):
        """Services use DNS-1035 names and reset status to an empty load balancer on create."""
        s = SERVICES.strategy
        self.assertEqual(s.name_validation, "dns1035")
        obj = {"metadata": {}, "spec": {}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}
        s.prepare_for_create(obj)
        self.assertEqual(obj["status"], {"loadBalancer": {}})

    def test_proxy_writes_refused(self):
        """A write to services/<name>/proxy never reaches the Service: kube's 503."""
        from kapid.apimachinery.status import StatusError

        old = {"metadata": {"name": "web"}, "spec": {}}
        with self.assertRaises(StatusError) as cm:
            SERVICES.strategy.prepare_for_proxy({"metadata": {"name": "web"}}, old)
        self.assertEqual((cm.exception.code, cm.exception.message), (503, 'no endpoints available for service "web"'))
