"""Tests for kapid.registry.validation beyond core, apps and batch."""

from twisted.trial.unittest import SynchronousTestCase

from kapid.registry.defaults import apply_defaults
from kapid.registry.validation import validate


def strs(errs):
    """The errors as kube prints them."""
    return [str(e) for e in errs]


class GroupsTests(SynchronousTestCase):
    """networking, rbac, policy, autoscaling, scheduling, storage."""

    def test_ingress(self):
        """Ingress paths need a pathType and an absolute path, backends a service port."""
        ing = {"spec": {"rules": [{"http": {"paths": [
            {"path": "x", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}},
            {"path": "/", "backend": {"service": {"name": "s", "port": {}}}},
        ]}}]}}
        self.assertEqual(
            strs(validate("networking.k8s.io", "Ingress", ing)),
            ['spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path',
             "spec.rules[0].http.paths[1].pathType: Required value: pathType must be specified",
             "spec.rules[0].http.paths[1].backend.service.port: Required value: port name or number is required"],
        )

    def test_role_binding(self):
        """roleRef is checked and cannot change."""
        rb = {"kind": "RoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
              "subjects": [{"kind": "User", "name": "alice"}]}
        apply_defaults("rbac.authorization.k8s.io", "v1", "RoleBinding", rb)
        self.assertEqual(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io")
        self.assertEqual(validate("rbac.authorization.k8s.io", "RoleBinding", rb), [])
        new = dict(rb, roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "other"})
        self.assertEqual(
            strs(validate("rbac.authorization.k8s.io", "RoleBinding", new, rb)),
            ['roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", '
             'Name:"other"}: cannot change roleRef'],
        )

    def test_pdb_and_hpa(self):
        """PDBs take one of minAvailable/maxUnavailable; HPAs need max >= min."""
        pdb = {"spec": {"minAvailable": 1, "maxUnavailable": 1}}
        self.assertEqual(
            strs(validate("policy", "PodDisruptionBudget", pdb)),
            ["spec: Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and maxUnavailable cannot be both set"],
        )
        hpa = {"spec": {"minReplicas": 3, "maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment", "name": "d"}}}
        self.assertEqual(
            strs(validate("autoscaling", "HorizontalPodAutoscaler", hpa)),
            ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"],
        )

    def test_immutables(self):
        """PriorityClass value and StorageClass parameters cannot change."""
        pc = {"value": 10, "preemptionPolicy": "PreemptLowerPriority"}
        self.assertEqual(
            strs(validate("scheduling.k8s.io", "PriorityClass", dict(pc, value=11), pc)),
            ["value: Forbidden: may not be changed in an update."],
        )
        sc = {"provisioner": "example.com/x", "parameters": {"a": "1"}, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
        self.assertEqual(
            strs(validate("storage.k8s.io", "StorageClass", dict(sc, parameters={"a": "2"}), sc)),
            ["parameters: Forbidden: updates to parameters are forbidden."],
        )

    def test_unknown_kind(self):
        """Kinds without rules validate clean."""
        self.assertEqual(validate("example.com", "Widget", {"spec": {}}), [])
