"""
Tests for L{kapid.admission.plugins.simple}: AlwaysDeny, NamespaceExists, NamespaceAutoProvision
and AlwaysPullImages.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.admission.helpers import api_with
from tests.endpoints.helpers import cm


class SimpleTests(SynchronousTestCase):
    """
    The small plugins.
    """

    def test_always_deny(self) -> None:
        """
        Every write is kube's 403.
        """
        api = api_with(self, names=["AlwaysDeny"])
        code, body, _ = api.post("/api/v1/namespaces/default/configmaps", cm("a"))
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'configmaps "a" is forbidden: admission control is denying all modifications')

    def test_namespace_exists(self) -> None:
        """
        A create in a missing namespace is its 404.
        """
        api = api_with(self, names=["NamespaceExists"])
        code, body, _ = api.post("/api/v1/namespaces/ghost/configmaps", cm("a"))
        self.assertEqual((code, body["message"]), (404, 'namespaces "ghost" not found'))

    def test_namespace_auto_provision(self) -> None:
        """
        A create in a missing namespace creates it.
        """
        api = api_with(self, names=["NamespaceAutoProvision", "NamespaceLifecycle"])
        code, body, _ = api.post("/api/v1/namespaces/fresh/configmaps", cm("a"))
        self.assertEqual(code, 201, body)
        self.assertEqual(api.get("/api/v1/namespaces/fresh")[0], 200)

    def test_always_pull_images(self) -> None:
        """
        A pod's containers pull their images always.
        """
        api = api_with(self, names=["AlwaysPullImages"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "IfNotPresent"}]}}
        code, body, _ = api.post("/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["containers"][0]["imagePullPolicy"], "Always")

    def test_extended_resources_and_anti_affinity(self) -> None:
        """
        Extended resources bring their tolerations; required anti-affinity needs the hostname key.
        """
        api = api_with(self, names=["ExtendedResourceToleration", "LimitPodHardAntiAffinityTopology"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "1"}}}]}}
        code, body, _ = api.post("/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["tolerations"], [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
        pod["metadata"]["name"] = "q"
        pod["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": "topology.kubernetes.io/zone"}]}}
        code, body, _ = api.post("/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'pods "q" is forbidden: affinity.PodAntiAffinity.RequiredDuringScheduling has '
                                          "TopologyKey topology.kubernetes.io/zone but only key kubernetes.io/hostname is allowed")

    def test_pod_node_selector(self) -> None:
        """
        The namespace's selector is merged into its pods; a conflicting pod is kube's 403; the
        configured whitelist bounds the pod's selector.
        """
        api = api_with(self, names=["PodNodeSelector"], config={"PodNodeSelector": {"podNodeSelectorPluginConfig": {
            "clusterDefaultNodeSelector": "", "sel": "env=prod,zone=a"}}})
        api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "sel", "annotations": {"scheduler.alpha.kubernetes.io/node-selector": "env=prod"}}})

        def pod(name: str, selector: dict) -> dict:
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"nodeSelector": selector, "containers": [{"name": "c", "image": "i"}]}}

        code, body, _ = api.post("/api/v1/namespaces/sel/pods", pod("a", {"zone": "a"}))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["nodeSelector"], {"env": "prod", "zone": "a"})
        code, body, _ = api.post("/api/v1/namespaces/sel/pods", pod("b", {"env": "dev"}))
        self.assertEqual((code, body["message"]), (403, 'pods "b" is forbidden: pod node label selector conflicts with its '
                                                        "namespace node label selector"))
        code, body, _ = api.post("/api/v1/namespaces/sel/pods", pod("c", {"disk": "ssd"}))
        self.assertEqual((code, body["message"]), (403, 'pods "c" is forbidden: pod node label selector labels conflict '
                                                        "with its namespace whitelist"))
