"""
Tests for C{flowcontrol.apiserver.k8s.io/v1}: kube's bootstrap configuration, defaults, Tables and
the idempotent ensurer several servers may run at once.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kapid.registry.builtin import flowcontrol
from tests.endpoints.helpers import API

BASE = "/apis/flowcontrol.apiserver.k8s.io/v1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class BootstrapTests(SynchronousTestCase):
    """The mandatory and suggested objects, as kube creates them."""

    def setUp(self) -> None:
        self.api = API(self)
        reg = self.api.registry
        self.fs = self.api.link.store_for(reg.lookup(flowcontrol.GROUP, "v1", "flowschemas"))
        self.plc = self.api.link.store_for(reg.lookup(flowcontrol.GROUP, "v1", "prioritylevelconfigurations"))

    def ensure(self) -> None:
        """Run the ensurer to completion."""
        self.api.run(Deferred.fromCoroutine(flowcontrol.ensure_bootstrap(self.fs, self.plc)))

    def test_tables(self):
        """kubectl get flowschemas / prioritylevelconfigurations print kube's rows for the bootstrap objects."""
        self.ensure()
        code, table, _ = self.api.get(f"{BASE}/prioritylevelconfigurations", headers={"Accept": TABLE})
        self.assertEqual(code, 200, table)
        self.assertEqual(
            [c["name"] for c in table["columnDefinitions"]],
            ["Name", "Type", "NominalConcurrencyShares", "Queues", "HandSize", "QueueLengthLimit", "Age"],
        )
        self.assertEqual(
            [r["cells"][:6] for r in table["rows"]],
            [
                ["catch-all", "Limited", 5, "<none>", "<none>", "<none>"],
                ["exempt", "Exempt", "<none>", "<none>", "<none>", "<none>"],
                ["global-default", "Limited", 20, 128, 6, 50],
                ["leader-election", "Limited", 10, 16, 4, 50],
                ["node-high", "Limited", 40, 64, 6, 50],
                ["system", "Limited", 30, 64, 6, 50],
                ["workload-high", "Limited", 40, 128, 6, 50],
                ["workload-low", "Limited", 100, 128, 6, 50],
            ],
        )
        code, table, _ = self.api.get(f"{BASE}/flowschemas", headers={"Accept": TABLE})
        self.assertEqual(
            [c["name"] for c in table["columnDefinitions"]],
            ["Name", "PriorityLevel", "MatchingPrecedence", "DistinguisherMethod", "Age", "MissingPL"],
        )
        rows = {r["cells"][0]: r["cells"][1:4] + r["cells"][5:] for r in table["rows"]}
        self.assertEqual(len(rows), 13)
        self.assertEqual(rows["exempt"], ["exempt", 1, "<none>", "False"])
        self.assertEqual(rows["probes"], ["exempt", 2, "<none>", "False"])
        self.assertEqual(rows["kube-scheduler"], ["workload-high", 800, "ByNamespace", "False"])
        self.assertEqual(rows["catch-all"], ["catch-all", 10000, "ByUser", "False"])

    def test_idempotent(self):
        """A second run (another server on the same storage) writes nothing."""
        self.ensure()
        _, before, _ = self.api.get(f"{BASE}/flowschemas")
        self.ensure()
        _, after, _ = self.api.get(f"{BASE}/flowschemas")
        self.assertEqual(before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"])

    def test_auto_update(self):
        """An edited object marked for auto-update gets kube's spec back; one marked false is left alone."""
        self.ensure()
        _, obj, _ = self.api.get(f"{BASE}/prioritylevelconfigurations/system")
        obj["spec"]["limited"]["nominalConcurrencyShares"] = 7
        self.api.put(f"{BASE}/prioritylevelconfigurations/system", obj)
        _, obj, _ = self.api.get(f"{BASE}/prioritylevelconfigurations/workload-low")
        obj["spec"]["limited"]["nominalConcurrencyShares"] = 7
        obj["metadata"]["annotations"][flowcontrol.AUTO_UPDATE_ANNOTATION] = "false"
        self.api.put(f"{BASE}/prioritylevelconfigurations/workload-low", obj)
        self.ensure()
        _, obj, _ = self.api.get(f"{BASE}/prioritylevelconfigurations/system")
        self.assertEqual(obj["spec"]["limited"]["nominalConcurrencyShares"], 30)
        _, obj, _ = self.api.get(f"{BASE}/prioritylevelconfigurations/workload-low")
        self.assertEqual(obj["spec"]["limited"]["nominalConcurrencyShares"], 7)

    def test_dangling(self):
        """A FlowSchema naming a missing priority level is Dangling=True with kube's message."""
        self.ensure()
        code, body, _ = self.api.post(f"{BASE}/flowschemas", {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": "mine"},
            "spec": {"priorityLevelConfiguration": {"name": "nope"}},
        })
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["matchingPrecedence"], 1000)
        self.ensure()
        _, obj, _ = self.api.get(f"{BASE}/flowschemas/mine")
        cond = obj["status"]["conditions"][0]
        self.assertEqual((cond["type"], cond["status"], cond["reason"]), ("Dangling", "True", "NotFound"))
        self.assertEqual(
            cond["message"],
            'This FlowSchema references the PriorityLevelConfiguration object named "nope" but there is no such object',
        )


class ValidationTests(SynchronousTestCase):
    """The rules kapid checks, with kube's fields."""

    def setUp(self) -> None:
        self.api = API(self)

    def test_priority_level_type(self):
        """The type must be Exempt or Limited; a limited one needs its limits."""
        code, err, _ = self.api.post(f"{BASE}/prioritylevelconfigurations", {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "x"}, "spec": {"type": "Limited"},
        })
        self.assertEqual(code, 422, err)
        self.assertEqual(err["details"]["causes"][0]["field"], "spec.limited")

    def test_defaults(self):
        """A limited level gets 30 shares, 0 lendable, and queuing 64/8/50."""
        code, obj, _ = self.api.post(f"{BASE}/prioritylevelconfigurations", {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "x"},
            "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}},
        })
        self.assertEqual(code, 201, obj)
        limited = obj["spec"]["limited"]
        self.assertEqual((limited["nominalConcurrencyShares"], limited["lendablePercent"]), (30, 0))
        self.assertEqual(limited["limitResponse"]["queuing"], {"queues": 64, "handSize": 8, "queueLengthLimit": 50})
