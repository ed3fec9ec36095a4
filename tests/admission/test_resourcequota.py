"""
Tests for L{kapid.admission.plugins.resourcequota}: charging, kube's messages, giving back on
failure and deletion, recounting, dry runs.
"""

from __future__ import annotations

from fractions import Fraction

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.plugins.resourcequota import format_quantity, usage
from tests.admission.helpers import api_with
from tests.endpoints.helpers import cm

NS = "/api/v1/namespaces/default"


def quota(name: str, **hard: str) -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
            "spec": {"hard": {k.replace("_", "/", 1) if k.startswith("count_") else k.replace("_", "."): v for k, v in hard.items()}}}


def pod(name: str, **resources: dict) -> dict:
    c: dict = {"name": "c", "image": "i"}
    if resources:
        c["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [c]}}


class QuotaTests(SynchronousTestCase):
    """
    Through the REST handlers.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["ResourceQuota"])

    def used(self, name: str) -> dict:
        return self.api.get(f"{NS}/resourcequotas/{name}")[1].get("status", {}).get("used")

    def test_count_and_exceed(self) -> None:
        """
        A new quota counts what exists; creates past the limit are kube's 403; a deletion gives
        the quota back.
        """
        self.api.post(NS + "/configmaps", cm("before"))
        self.assertEqual(self.api.post(NS + "/resourcequotas", quota("q", count_configmaps="2"))[0], 201)
        self.api.clock.advance(0)
        self.assertEqual(self.used("q"), {"count/configmaps": "1"})
        self.assertEqual(self.api.post(NS + "/configmaps", cm("a"))[0], 201)
        code, body, _ = self.api.post(NS + "/configmaps", cm("b"))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'configmaps "b" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=2, '
            "limited: count/configmaps=2",
        )
        self.assertEqual(self.api.get(NS + "/configmaps/b")[0], 404)
        self.assertEqual(self.api.delete(NS + "/configmaps/a")[0], 200)
        self.assertEqual(self.used("q"), {"count/configmaps": "1"})
        self.assertEqual(self.api.post(NS + "/configmaps", cm("b"))[0], 201)

    def test_failed_create_gives_back(self) -> None:
        """
        A create refused after admission (it exists already) and a dry run charge nothing.
        """
        self.api.post(NS + "/resourcequotas", quota("q", count_configmaps="5"))
        self.api.clock.advance(0)
        self.api.post(NS + "/configmaps", cm("a"))
        self.assertEqual(self.api.post(NS + "/configmaps", cm("a"))[0], 409)
        self.assertEqual(self.api.post(NS + "/configmaps?dryRun=All", cm("d"))[0], 201)
        self.assertEqual(self.used("q"), {"count/configmaps": "1"})

    def test_compute_resources(self) -> None:
        """
        A compute quota needs requests named, sums them and refuses past the limit.
        """
        self.api.post(NS + "/resourcequotas", quota("compute", requests_cpu="1", requests_memory="1Gi", pods="10"))
        self.api.clock.advance(0)
        code, body, _ = self.api.post(NS + "/pods", pod("p"))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'pods "p" is forbidden: failed quota: compute: must specify requests.cpu for: c; requests.memory for: c',
        )
        self.assertEqual(self.api.post(NS + "/pods", pod("a", requests={"cpu": "600m", "memory": "512Mi"}))[0], 201)
        self.assertEqual(self.used("compute"), {"pods": "1", "requests.cpu": "600m", "requests.memory": "512Mi"})
        code, body, _ = self.api.post(NS + "/pods", pod("b", requests={"cpu": "600m", "memory": "256Mi"}))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, '
            "limited: requests.cpu=1",
        )

    def test_edited_quota_recounted(self) -> None:
        """
        Raising a quota's hard limit recounts it; the new limit applies.
        """
        self.api.post(NS + "/resourcequotas", quota("q", count_configmaps="1"))
        self.api.clock.advance(0)
        self.api.post(NS + "/configmaps", cm("a"))
        self.assertEqual(self.api.post(NS + "/configmaps", cm("b"))[0], 403)
        code, body, _ = self.api.request("PATCH", NS + "/resourcequotas/q", {"spec": {"hard": {"count/configmaps": "3"}}},
                                         content_type="application/merge-patch+json")
        self.assertEqual(code, 200, body)
        self.api.clock.advance(0)
        self.assertEqual(self.api.post(NS + "/configmaps", cm("b"))[0], 201)
        self.assertEqual(self.used("q"), {"count/configmaps": "2"})


class HelperTests(SynchronousTestCase):
    """
    Usage and quantity text.
    """

    def test_usage(self) -> None:
        """
        Services count load balancers and node ports; claims their storage per class.
        """
        svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 1}, {"port": 2}]}}
        self.assertEqual(usage("", "services", svc), {"count/services": 1, "services": 1, "services.loadbalancers": 1,
                                                       "services.nodeports": 2})
        pvc = {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}}
        self.assertEqual(usage("", "persistentvolumeclaims", pvc)["fast.storageclass.storage.k8s.io/requests.storage"], 2**30)
        self.assertEqual(usage("apps", "deployments", {}), {"count/deployments.apps": 1})

    def test_format(self) -> None:
        """
        kube's canonical forms.
        """
        self.assertEqual(format_quantity(Fraction(3, 2), "1"), "1500m")
        self.assertEqual(format_quantity(Fraction(2**30 + 2**29), "1Gi"), "1536Mi")
        self.assertEqual(format_quantity(Fraction(2000), "1"), "2k")
        self.assertEqual(format_quantity(Fraction(0), "1"), "0")
