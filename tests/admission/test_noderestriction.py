"""
Tests for L{kapid.admission.plugins.noderestriction}: what a kubelet may write.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.plugins.noderestriction import forbidden_labels, node_identity
from kapid.auth.interfaces import UserInfo
from tests.admission.helpers import api_with

NODE = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))
PODS = "/api/v1/namespaces/default/pods"


class NodeRestrictionTests(SynchronousTestCase):
    """
    Nodes, pods and leases.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["NodeRestriction"])
        _, self.node, _ = self.api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        self.api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}})

    def test_identity(self) -> None:
        """
        Only system:node:<name> in system:nodes is a node.
        """
        self.assertEqual(node_identity(NODE), ("n1", True))
        self.assertEqual(node_identity(UserInfo("system:node:n1")), (None, False))

    def test_nodes(self) -> None:
        """
        A node may change its own Node but not another's, nor its taints, nor restricted labels.
        """
        api = self.api.as_user(NODE)
        merge = "application/merge-patch+json"
        code, body, _ = api.patch("/api/v1/nodes/n2", {"metadata": {"labels": {"a": "b"}}}, merge)
        self.assertEqual((code, body["message"]), (403, 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'))
        code, _, _ = api.patch("/api/v1/nodes/n1", {"metadata": {"labels": {"topology.kubernetes.io/zone": "z"}}}, merge)
        self.assertEqual(code, 200)
        code, body, _ = api.patch("/api/v1/nodes/n1", {"metadata": {"labels": {"node-restriction.kubernetes.io/x": "y"}}}, merge)
        self.assertEqual((code, body["message"]),
                         (403, 'nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/x'))
        code, body, _ = api.patch("/api/v1/nodes/n1", {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}, merge)
        self.assertEqual((code, body["message"]), (403, 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints'))

    def test_pods(self) -> None:
        """
        A node creates only mirror pods bound to itself and owned by its Node.
        """
        api = self.api.as_user(NODE)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}}
        code, body, _ = api.post(PODS, pod)
        self.assertEqual((code, body["message"]), (403, 'pods "p" is forbidden: pod does not have '
                                                        '"kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods'))
        pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
        pod["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": "n1",
                                               "uid": self.node["metadata"]["uid"], "controller": True}]
        code, body, _ = api.post(PODS, pod)
        self.assertEqual(code, 201, body)
        pod["metadata"]["name"] = "q"
        pod["spec"]["nodeName"] = "n2"
        code, body, _ = api.post(PODS, pod)
        self.assertEqual((code, body["message"]),
                         (403, 'pods "q" is forbidden: node "n1" can only create pods with spec.nodeName set to itself'))

    def test_leases(self) -> None:
        """
        A node writes only its own Lease in kube-node-lease.
        """
        api = self.api.as_user(NODE)
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n2"}, "spec": {}}
        code, body, _ = api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)
        self.assertEqual((code, body["message"]), (403, 'leases.coordination.k8s.io "n2" is forbidden: can only access '
                                                        "node lease with the same name as the requesting node"))
        lease["metadata"]["name"] = "n1"
        self.assertEqual(api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)[0], 201)

    def test_labels(self) -> None:
        """
        kubelet labels pass; other kubernetes.io labels do not.
        """
        self.assertEqual(forbidden_labels({"kubernetes.io/hostname": "a", "node.kubernetes.io/x": "y",
                                           "example.kubernetes.io/z": "1", "app": "x"}, None), ["example.kubernetes.io/z"])
