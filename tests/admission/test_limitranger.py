"""
Tests for L{kapid.admission.plugins.limitranger}: LimitRange defaults and limits as kube's
LimitRanger applies them.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.plugins.limitranger import pod_totals
from tests.admission.helpers import api_with

PODS = "/api/v1/namespaces/default/pods"
PVCS = "/api/v1/namespaces/default/persistentvolumeclaims"
LRS = "/api/v1/namespaces/default/limitranges"


def pod(name: str, resources: object = None, init: object = None) -> dict:
    c: dict = {"name": "c", "image": "busybox"}
    if resources is not None:
        c["resources"] = resources
    spec: dict = {"containers": [c]}
    if init is not None:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def limit_range(*limits: dict) -> dict:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"}, "spec": {"limits": list(limits)}}


class LimitRangerTests(SynchronousTestCase):
    """
    Defaults, min/max, ratios, pod totals and claims.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["LimitRanger"])

    def test_defaults_and_annotation(self) -> None:
        """
        A container without resources gets the defaults; the annotation says what was set.
        """
        code, body, _ = self.api.post(LRS, limit_range(
            {"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"}, "defaultRequest": {"cpu": "100m"}}))
        self.assertEqual(code, 201, body)
        code, body, _ = self.api.post(PODS, pod("p"))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["containers"][0]["resources"], {
            "limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
        self.assertEqual(
            body["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
            "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c",
        )

    def test_no_limit_range_no_change(self) -> None:
        """
        Without LimitRanges a pod is untouched.
        """
        _, body, _ = self.api.post(PODS, pod("p"))
        self.assertNotIn("annotations", body["metadata"])

    def test_max(self) -> None:
        """
        A limit above the max is 403 with kube's message; a missing limit too.
        """
        self.api.post(LRS, limit_range({"type": "Container", "max": {"cpu": "1"}, "default": {"cpu": "1"}}))
        code, body, _ = self.api.post(PODS, pod("p", {"limits": {"cpu": "2"}}))
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2')
        code, body, _ = self.api.post(PODS, pod("q", {"limits": {"cpu": "500m"}}))
        self.assertEqual(code, 201, body)

    def test_min_and_aggregate(self) -> None:
        """
        Several violations are kube's aggregate.
        """
        self.api.post(LRS, limit_range({"type": "Container", "min": {"memory": "64Mi"}, "maxLimitRequestRatio": {"cpu": "2"}}))
        code, body, _ = self.api.post(PODS, pod("p", {"requests": {"memory": "32Mi", "cpu": "100m"}, "limits": {"cpu": "1", "memory": "32Mi"}}))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'pods "p" is forbidden: [minimum memory usage per Container is 64Mi, but request is 32Mi, '
            "cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000]",
        )

    def test_pod_type(self) -> None:
        """
        A Pod limit counts every container's requests.
        """
        self.api.post(LRS, limit_range({"type": "Pod", "max": {"cpu": "1"}}))
        p = pod("p", {"limits": {"cpu": "800m"}}, init=[{"name": "i", "image": "b", "resources": {"limits": {"cpu": "2"}}}])
        code, body, _ = self.api.post(PODS, p)
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'pods "p" is forbidden: maximum cpu usage per Pod is 1, but limit is 2')

    def test_pod_totals(self) -> None:
        """
        Sidecars (restartable init containers) add to the containers; plain init containers count
        at their maximum.
        """
        spec = {
            "containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}],
            "initContainers": [
                {"restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"resources": {"requests": {"cpu": "1"}}},
            ],
        }
        self.assertEqual(pod_totals(spec, "requests"), {"cpu": "1050m"})

    def test_claims(self) -> None:
        """
        A claim's storage request must be within the PersistentVolumeClaim min and max.
        """
        self.api.post(LRS, limit_range({"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}, "min": {"storage": "1Gi"}}))
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
                 "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}
        code, body, _ = self.api.post(PVCS, claim)
        self.assertEqual(code, 403, body)
        self.assertEqual(
            body["message"],
            'persistentvolumeclaims "c" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi',
        )
        claim["spec"]["resources"]["requests"]["storage"] = "1Gi"
        self.assertEqual(self.api.post(PVCS, claim)[0], 201)
