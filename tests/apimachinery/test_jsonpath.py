"""
Tests for L{kapid.apimachinery.jsonpath}: kube's JSONPath as printer columns, selectable fields and
scale paths use it.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.jsonpath import compile_path, go_text

OBJ = {
    "metadata": {"name": "w", "labels": {"app.kubernetes.io/name": "web", "tier": "db"}},
    "spec": {"replicas": 3, "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
    "status": {
        "conditions": [
            {"type": "Progressing", "status": "False"},
            {"type": "Ready", "status": "True"},
        ],
    },
}


class FindTests(SynchronousTestCase):
    """
    L{compile_path} and C{find}.
    """

    def find(self, path: str) -> list:
        return compile_path(path).find(OBJ)

    def test_fields(self) -> None:
        """
        Dotted fields reach nested values; a missing key finds nothing (missing keys allowed).
        """
        self.assertEqual(self.find(".spec.replicas"), [3])
        self.assertEqual(self.find(".metadata.name"), ["w"])
        self.assertEqual(self.find(".spec.missing"), [])
        self.assertEqual(self.find(".spec.replicas.deeper"), [])

    def test_braces_and_dollar(self) -> None:
        """
        C{{...}} around the path and a leading C{$} are accepted, as in templates.
        """
        self.assertEqual(self.find("{.spec.replicas}"), [3])
        self.assertEqual(self.find("$.spec.replicas"), [3])

    def test_indexes_and_slices(self) -> None:
        """
        C{[n]}, negative indexes, C{[*]} and slices.
        """
        self.assertEqual(self.find(".spec.ports[1].port"), [443])
        self.assertEqual(self.find(".spec.ports[-1].name"), ["https"])
        self.assertEqual(self.find(".spec.ports[*].port"), [80, 443])
        self.assertEqual(self.find(".spec.ports[0:1].name"), ["http"])
        self.assertEqual(self.find(".spec.ports[5].name"), [])

    def test_quoted_names(self) -> None:
        """
        C{['a.b/c']} and escaped dots name keys holding dots and slashes.
        """
        self.assertEqual(self.find(".metadata.labels['app.kubernetes.io/name']"), ["web"])
        self.assertEqual(self.find(".metadata.labels.app\\.kubernetes\\.io/name"), ["web"])

    def test_filters(self) -> None:
        """
        C{[?(@.k=="v")]} keeps the items whose field compares; C{[?(@.k)]} those that have it.
        """
        self.assertEqual(self.find('.status.conditions[?(@.type=="Ready")].status'), ["True"])
        self.assertEqual(self.find(".status.conditions[?(@.type=='Progressing')].status"), ["False"])
        self.assertEqual(self.find(".spec.ports[?(@.port > 100)].name"), ["https"])
        self.assertEqual(self.find(".spec.ports[?(@.name)].port"), [80, 443])

    def test_recursive(self) -> None:
        """
        C{..name} finds the key at any depth, in document order (map keys sorted).
        """
        self.assertEqual(self.find("..port"), [80, 443])

    def test_refused(self) -> None:
        """
        Paths kube's parser refuses raise ValueError.
        """
        for bad in ("spec.replicas", ".spec.ports[", ".spec.ports[x]", ".a[?(@.b ~ 1)]"):
            self.assertRaises(ValueError, compile_path, bad)


class GoTextTests(SynchronousTestCase):
    """
    L{go_text} prints as Go's C{fmt.Print} of decoded JSON.
    """

    def test_scalars(self) -> None:
        """
        Strings as is, booleans and integers as Go prints them, null as C{<nil>}.
        """
        self.assertEqual([go_text(v) for v in ("a", True, False, 7, None)], ["a", "true", "false", "7", "<nil>"])

    def test_floats(self) -> None:
        """
        Floats in Go's shortest C{%v} form: exponent form from 1e+06 and below 1e-04.
        """
        self.assertEqual(
            [go_text(v) for v in (1.5, 100000.0, 1e6, 1234567.0, 0.0001, 0.00001, -2.5e-7, 3.0)],
            ["1.5", "100000", "1e+06", "1.234567e+06", "0.0001", "1e-05", "-2.5e-07", "3"],
        )

    def test_structures(self) -> None:
        """
        Lists as C{[a b]}, maps as C{map[k:v]} with sorted keys.
        """
        self.assertEqual(go_text([1, "x"]), "[1 x]")
        self.assertEqual(go_text({"b": 1, "a": [True]}), "map[a:[true] b:1]")
