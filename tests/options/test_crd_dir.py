"""
Tests of C{--crd-dir}: CRD manifests read and checked before anything starts, every problem named
with its file.
"""

from __future__ import annotations

import os

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from kapid import tap

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {{plural: {plural}, kind: {kind}}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, properties: {{spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}
"""


class CRDDirTests(SynchronousTestCase):
    """
    C{--crd-dir} reads every manifest of its directories (and files).
    """

    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def parse(self, *argv: str) -> tap.Options:
        options = tap.Options()
        options.parseOptions(list(argv))
        return options

    def error(self, *argv: str) -> str:
        return str(self.assertRaises(usage.UsageError, self.parse, *argv))

    def test_reads_manifests(self) -> None:
        """
        YAML and JSON files of the directory, several documents a file, in file order; documents of
        other kinds are skipped; other file types are ignored.
        """
        self.write("b.yaml", CRD.format(plural="widgets", kind="Widget") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n" + CRD.format(plural="gadgets", kind="Gadget"))
        self.write("a.json", '{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "things.example.com"}, "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "things", "kind": "Thing"}, "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}}')
        self.write("notes.txt", "not a manifest")
        config = self.parse(f"--crd-dir={self.dir}").config
        assert config is not None
        files = [(os.path.basename(p), crd["metadata"]["name"]) for p, crd in config.apiextensions.crd_files]
        self.assertEqual(files, [("a.json", "things.example.com"), ("b.yaml", "widgets.example.com"), ("b.yaml", "gadgets.example.com")])

    def test_default_is_none(self) -> None:
        """
        Without the flag no CRDs are installed.
        """
        config = self.parse().config
        assert config is not None
        self.assertEqual(config.apiextensions.crd_files, ())

    def test_every_problem_named(self) -> None:
        """
        A missing directory, a file that is not YAML, a CRD of another API version and a name given
        twice are reported together, each with its file.
        """
        bad = self.write("bad.yaml", "a: [b\n")
        old = self.write("old.yaml", CRD.format(plural="widgets", kind="Widget").replace("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1", 1))
        self.write("one.yaml", CRD.format(plural="gadgets", kind="Gadget"))
        two = self.write("two.yaml", CRD.format(plural="gadgets", kind="Gadget"))
        text = self.error(f"--crd-dir={self.dir},/no/such/dir")
        self.assertIn("--crd-dir: '/no/such/dir' does not exist", text)
        self.assertIn(f"--crd-dir: {bad}: not valid YAML or JSON", text)
        self.assertIn(f"--crd-dir: {old}: document 1: apiVersion 'apiextensions.k8s.io/v1beta1' is not served", text)
        self.assertIn(f"--crd-dir: {two}: CustomResourceDefinition 'gadgets.example.com' is also in", text)

    def test_invalid_crd(self) -> None:
        """
        A CRD kube would refuse stops start-up with kube's field error, naming the file.
        """
        path = self.write("w.yaml", CRD.format(plural="widgets", kind="Widget").replace("name: widgets.example.com", "name: wrong.example.com"))
        text = self.error(f"--crd-dir={path}")
        self.assertIn(f"--crd-dir: {path}: CustomResourceDefinition 'wrong.example.com': metadata.name: Invalid value: \"wrong.example.com\"", text)
