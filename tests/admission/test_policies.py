"""
ValidatingAdmissionPolicy objects (and their bindings) are stored and served (their enforcement is
tested in L{tests.cel.test_policy}).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.admission.helpers import api_with

ADM = "/apis/admissionregistration.k8s.io/v1"

POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "replicas"},
    "spec": {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]},
        "validations": [{"expression": "object.spec.replicas <= 5"}],
    },
}
BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": "replicas-binding"},
    "spec": {"policyName": "replicas", "validationActions": ["Deny"]},
}


class PolicyTests(SynchronousTestCase):
    """
    CRUD of policies and bindings.
    """

    def test_store_and_serve(self) -> None:
        """
        A policy and its binding are created, read, listed and deleted; the policy has a status
        subresource.
        """
        api = api_with(self, names=["ValidatingAdmissionPolicy"])
        code, body, _ = api.post(f"{ADM}/validatingadmissionpolicies", POLICY)
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["validations"], [{"expression": "object.spec.replicas <= 5"}])
        code, body, _ = api.post(f"{ADM}/validatingadmissionpolicybindings", BINDING)
        self.assertEqual(code, 201, body)
        code, body, _ = api.get(f"{ADM}/validatingadmissionpolicies/replicas")
        self.assertEqual((code, body["metadata"]["generation"]), (200, 1))
        code, body, _ = api.get(f"{ADM}/validatingadmissionpolicybindings")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["replicas-binding"])
        code, body, _ = api.get(f"{ADM}/validatingadmissionpolicies/replicas/status")
        self.assertEqual(code, 200)
        self.assertEqual(api.delete(f"{ADM}/validatingadmissionpolicybindings/replicas-binding")[0], 200)
        self.assertEqual(api.delete(f"{ADM}/validatingadmissionpolicies/replicas")[0], 200)
