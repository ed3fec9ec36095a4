"""
Tests for L{kapid.admission.plugins.namespace}: NamespaceLifecycle as kube's plugin answers.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.admission.helpers import Recorder, api_with
from tests.endpoints.helpers import API, cm

NS = "/api/v1/namespaces"


class NamespaceLifecycleTests(SynchronousTestCase):
    """
    Missing, terminating and immortal namespaces.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["NamespaceLifecycle"])

    def test_missing_namespace_before_validation(self) -> None:
        """
        A create in a missing namespace is the namespace's 404 even when the object is invalid
        (the plugin is a mutating one, run before validation).
        """
        code, body, _ = self.api.post(NS + "/ghost/configmaps", cm("Bad_Name"))
        self.assertEqual(code, 404)
        self.assertEqual(body["message"], 'namespaces "ghost" not found')
        self.assertEqual(body["details"], {"name": "ghost", "kind": "namespaces"})

    def test_terminating(self) -> None:
        """
        A create in a terminating namespace is 403 with the NamespaceTerminating cause; the name
        is the generateName when there is no name yet; updates and deletes go on.
        """
        self.api.post(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})
        self.api.post(NS + "/tmp/configmaps", cm("keep", finalizers=["example.com/x"]))
        self.assertEqual(self.api.delete(NS + "/tmp")[0], 200)
        code, body, _ = self.api.post(NS + "/tmp/configmaps", cm("b"))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'configmaps "b" is forbidden: unable to create new content in namespace tmp because it is being terminated',
        )
        self.assertEqual(
            body["details"],
            {"name": "b", "kind": "configmaps", "causes": [{
                "reason": "NamespaceTerminating", "message": "namespace tmp is being terminated",
                "field": "metadata.namespace"}]},
        )
        code, body, _ = self.api.post(
            NS + "/tmp/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "g-"}}
        )
        self.assertEqual(code, 403)
        self.assertTrue(body["message"].startswith('configmaps "g-" is forbidden: '))
        code, body, _ = self.api.request(
            "PATCH", NS + "/tmp/configmaps/keep", {"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
        self.assertEqual(code, 200, body)

    def test_immortal(self) -> None:
        """
        default, kube-system and kube-public may not be deleted.
        """
        for name in ("default", "kube-system", "kube-public"):
            code, body, _ = self.api.delete(NS + "/" + name)
            self.assertEqual(code, 403)
            self.assertEqual(body["message"], f'namespaces "{name}" is forbidden: this namespace may not be deleted')

    def test_update_in_missing_namespace(self) -> None:
        """
        An apply (a create through update) in a namespace that does not exist is the namespace's
        404; a PUT of a kind that cannot be created by update is the object's 404 (kube checks
        that before admission).
        """
        body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
        code, out, _ = self.api.request(
            "PATCH", NS + "/ghost/configmaps/a?fieldManager=m", raw=body, content_type="application/apply-patch+yaml"
        )
        self.assertEqual(code, 404)
        self.assertEqual(out["message"], 'namespaces "ghost" not found')
        code, out, _ = self.api.put(NS + "/ghost/configmaps/a", cm("a"))
        self.assertEqual(code, 404)
        self.assertEqual(out["message"], 'configmaps "a" not found')

    def test_cluster_scoped_pass(self) -> None:
        """
        Cluster-scoped objects are not looked at.
        """
        code, _, _ = self.api.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}})
        self.assertEqual(code, 201)

    def test_disabled(self) -> None:
        """
        With the plugin off, a create in a missing namespace is stored (as kube does).
        """
        api = api_with(self, [Recorder()])
        code, body, _ = api.post(NS + "/ghost/configmaps", cm("a"))
        self.assertEqual(code, 201, body)

    def test_link_default_chain(self) -> None:
        """
        A link built without a chain runs NamespaceLifecycle.
        """
        api = API(self)
        self.assertEqual(api.link.admission.names, ["NamespaceLifecycle"])
