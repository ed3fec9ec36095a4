"""
Tests of L{kapid.auth.node}: the Node authorizer's graph of what a node's Pods refer to, and its
decisions.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.auth.authorizers import build_authorizer
from kapid.auth.interfaces import ALLOW, NO_OPINION, Attributes, UserInfo
from kapid.auth.node import PV, PVC, POD, VOLUME_ATTACHMENT, NodeAuthorizer, NodeGraph

KUBELET = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))


def attrs(verb: str, resource: str, name: str = "", namespace: str = "ns", group: str = "", subresource: str = "",
          user: UserInfo = KUBELET) -> Attributes:
    return Attributes(user=user, verb=verb, is_resource_request=True, namespace=namespace, api_group=group,
                      resource=resource, subresource=subresource, name=name)


def pod(name: str, node: str, **spec: Any) -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": dict(spec, nodeName=node)}


class NodeAuthorizerTests(SynchronousTestCase):
    """
    A kubelet reads what its Pods need, and nothing else of those kinds.
    """

    def setUp(self) -> None:
        self.graph = NodeGraph()
        for kind in (POD, PVC, PV, VOLUME_ATTACHMENT):
            self.graph.replace(kind, [])
        self.graph.put(POD, pod("web", "n1", serviceAccountName="web-sa",
                                containers=[{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}],
                                             "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-secret"}}}]}],
                                volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "claim"}},
                                         {"name": "s", "secret": {"secretName": "vol-secret"}}]))
        self.graph.put(POD, pod("other", "n2", volumes=[{"name": "s", "secret": {"secretName": "n2-secret"}}]))
        self.graph.put(PVC, {"metadata": {"name": "claim", "namespace": "ns"}, "spec": {"volumeName": "pv1"}})
        self.graph.put(PV, {"metadata": {"name": "pv1"}, "spec": {"csi": {
            "nodePublishSecretRef": {"name": "csi-secret", "namespace": "storage"}}}})
        self.graph.put(VOLUME_ATTACHMENT, {"metadata": {"name": "va1"}, "spec": {"nodeName": "n1"}})
        self.authz = NodeAuthorizer(self.graph)

    def decide(self, a: Attributes) -> str:
        return self.authz.authorize(a).decision

    def test_related_objects(self) -> None:
        """
        Secrets, ConfigMaps, the PVC and its PV (and the PV's secret), the ServiceAccount's token:
        allowed for the node the Pod is on only.
        """
        for a in (attrs("get", "secrets", "env-secret"), attrs("get", "secrets", "vol-secret"),
                  attrs("get", "configmaps", "cfg"), attrs("get", "persistentvolumeclaims", "claim"),
                  attrs("get", "persistentvolumes", "pv1", namespace=""),
                  attrs("get", "secrets", "csi-secret", namespace="storage"),
                  attrs("create", "serviceaccounts", "web-sa", subresource="token"),
                  attrs("patch", "persistentvolumeclaims", "claim", subresource="status"),
                  attrs("get", "volumeattachments", "va1", namespace="", group="storage.k8s.io")):
            self.assertEqual(self.decide(a), ALLOW, a)
        denied = self.authz.authorize(attrs("get", "secrets", "n2-secret"))
        self.assertEqual((denied.decision, denied.reason),
                         (NO_OPINION, "no relationship found between node 'n1' and this object"))
        self.assertEqual(self.authz.authorize(attrs("list", "secrets")).reason, "can only read resources of this type")
        self.graph.delete(POD, pod("web", "n1"))
        self.assertEqual(self.decide(attrs("get", "secrets", "env-secret")), NO_OPINION)

    def test_own_lease_and_node_rules(self) -> None:
        """
        Its own Lease in kube-node-lease; what the system:node role grants (its node's status, pods);
        other users get no opinion.
        """
        self.assertEqual(self.decide(attrs("update", "leases", "n1", "kube-node-lease", "coordination.k8s.io")), ALLOW)
        self.assertEqual(self.decide(attrs("update", "leases", "n2", "kube-node-lease", "coordination.k8s.io")),
                         NO_OPINION)
        self.assertEqual(self.decide(attrs("patch", "nodes", "n1", "", subresource="status")), ALLOW)
        self.assertEqual(self.decide(attrs("list", "pods", namespace="")), ALLOW)
        self.assertEqual(self.decide(attrs("delete", "namespaces", "ns", "")), NO_OPINION)
        self.assertEqual(self.decide(attrs("get", "secrets", "env-secret", user=UserInfo("system:node:n1"))), NO_OPINION)
        union = build_authorizer(["Node", "RBAC"], node_graph=self.graph)
        self.assertEqual(union.authorize(attrs("get", "configmaps", "cfg")).decision, ALLOW)
