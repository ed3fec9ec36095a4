"""
Tests for L{kapid.apimachinery.meta}: names, labels, annotations, owner references and ordering.
"""

import random

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import meta


class NameTests(SynchronousTestCase):
    """
    Name validation with kube's messages.
    """

    def test_subdomain(self) -> None:
        """
        DNS subdomains: lower case, dots allowed, 253 characters.
        """
        self.assertEqual(meta.dns1123_subdomain_errors("a.b-c"), [])
        self.assertEqual(
            meta.dns1123_subdomain_errors("Bad_Name"),
            ["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"],
        )
        self.assertEqual(meta.dns1123_subdomain_errors("a" * 254)[0], "must be no more than 253 characters")

    def test_label(self) -> None:
        """
        DNS labels: no dots, 63 characters.
        """
        self.assertEqual(len(meta.dns1123_label_errors("a.b")), 1)
        self.assertIn("(e.g. 'my-name',  or '123-abc'", meta.dns1123_label_errors("a.b")[0])

    def test_qualified_names(self) -> None:
        """
        Label keys may carry a DNS prefix.
        """
        self.assertEqual(meta.qualified_name_errors("example.com/a_b"), [])
        self.assertEqual(meta.qualified_name_errors("/a"), ["prefix part must be non-empty"])
        self.assertTrue(meta.qualified_name_errors("a/b/c")[0].startswith("a qualified name must consist of"))

    def test_generate_name(self) -> None:
        """
        generateName appends 5 characters and truncates long bases.
        """
        name = meta.generate_name("x" * 70, random.Random(1))
        self.assertEqual(len(name), 63)


class ObjectMetaTests(SynchronousTestCase):
    """
    ObjectMeta validation.
    """

    def validate(self, m: dict, namespaced: bool = True) -> list:
        return [str(e) for e in meta.validate_object_meta(m, namespaced, meta.name_validator("subdomain"))]

    def test_name_required(self) -> None:
        """
        Without name or generateName: Required.
        """
        self.assertEqual(self.validate({"namespace": "d"}), ["metadata.name: Required value: name or generateName is required"])

    def test_labels_and_annotations(self) -> None:
        """
        Bad label keys and values are reported on metadata.labels.
        """
        errs = self.validate({"name": "a", "namespace": "d", "labels": {"a b": "c", "k": "-v"}})
        self.assertEqual(len(errs), 2)
        self.assertTrue(errs[0].startswith('metadata.labels: Invalid value: "a b": name part must consist of'))
        errs = self.validate({"name": "a", "namespace": "d", "annotations": {"k": "x" * (256 * 1024)}})
        self.assertEqual(errs, ["metadata.annotations: Too long: may not be more than 262144 bytes"])

    def test_owner_references(self) -> None:
        """
        Owner references need apiVersion, kind, name and uid.
        """
        errs = self.validate({"name": "a", "namespace": "d", "ownerReferences": [{"apiVersion": "v1", "kind": "X"}]})
        self.assertEqual(errs, [
            'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
            'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
        ])

    def test_finalizers(self) -> None:
        """
        Finalizers must be standard or qualified.
        """
        errs = self.validate({"name": "a", "namespace": "d", "finalizers": ["custom"]})
        self.assertEqual(errs, ['metadata.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified'])

    def test_cluster_scoped_namespace_forbidden(self) -> None:
        """
        A namespace on a cluster-scoped object is forbidden.
        """
        self.assertEqual(self.validate({"name": "a", "namespace": "d"}, namespaced=False),
                         ["metadata.namespace: Forbidden: not allowed on this type"])

    def test_order(self) -> None:
        """
        order_object puts kind, apiVersion, metadata (in Go's order) first.
        """
        obj = meta.order_object({"data": {}, "metadata": {"uid": "u", "name": "n", "labels": {}}, "kind": "K", "apiVersion": "v1"})
        self.assertEqual(list(obj), ["kind", "apiVersion", "metadata", "data"])
        self.assertEqual(list(obj["metadata"]), ["name", "uid"])
