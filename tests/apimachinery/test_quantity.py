"""
Tests for L{kapid.apimachinery.quantity}: quantities as kube encodes them after decoding (issue 18,
item 3), and through the API.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.quantity import canonical
from tests.endpoints.helpers import API

#: sent -> what kube-apiserver answers
CASES = {
    # kept as sent (kube's parsing fast path)
    "100m": "100m", "1Gi": "1Gi", "10Mi": "10Mi", "500M": "500M", "1e3": "1e3", "-1": "-1",
    "1023Ki": "1023Ki", "123Mi": "123Mi", "1024": "1024", "128974848": "128974848",
    # rewritten
    "1000m": "1", "1.5": "1500m", "1000": "1k", "2000": "2k", "0.5": "500m", "0.1": "100m",
    "1.0": "1", "0": "0", "0.001": "1m", "0.0001": "100u", "-1.5": "-1500m",
    "0.5Gi": "512Mi", "1.5Gi": "1536Mi", "2048Ki": "2Mi", "1024Ki": "1Mi", "8Mi": "8Mi",
    "0.5Ki": "512", "1.1Gi": "1181116006400m", "5.5e-3": "5500e-6",
    "0.1n": "1n", "1000000000000000000000": "1e21", "12345678901234567890": "12345678901234567890",
}


class CanonicalTests(SynchronousTestCase):
    """
    kube's canonical forms: DecimalSI, BinarySI (integers from 1024 up) and DecimalExponent,
    rounded up to nano precision.
    """

    def test_cases(self) -> None:
        self.assertEqual({k: canonical(k) for k in CASES}, CASES)

    def test_unparseable_left_alone(self) -> None:
        self.assertEqual(canonical("lots"), "lots")


class APITests(SynchronousTestCase):
    """
    Stored and answered in canonical form; validation names the canonical values.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def pod(self, name: str, requests: dict, limits: dict) -> dict:
        return {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "resources": {"requests": requests, "limits": limits}}]},
        }

    def test_pod_resources(self) -> None:
        code, obj, _ = self.api.post(
            "/api/v1/namespaces/default/pods",
            self.pod("p", {"cpu": "1000m", "memory": "0.5Gi"}, {"cpu": 2, "memory": "1024Mi"}),
        )
        self.assertEqual(code, 201, obj)
        self.assertEqual(obj["spec"]["containers"][0]["resources"], {
            "requests": {"cpu": "1", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        })

    def test_validation_message(self) -> None:
        code, body, _ = self.api.post(
            "/api/v1/namespaces/default/pods",
            self.pod("q", {"memory": "0.5Gi"}, {"memory": "1000"}),
        )
        self.assertEqual(code, 422)
        self.assertEqual(
            body["details"]["causes"][0]["message"],
            'Invalid value: "512Mi": must be less than or equal to memory limit of 1k',
        )
