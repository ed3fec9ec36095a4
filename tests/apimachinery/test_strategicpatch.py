"""
Tests for L{kapid.apimachinery.strategicpatch}.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.schema import Schema
from kapid.apimachinery.strategicpatch import apply_strategic_patch, merge_patch

POD = Schema.of("io.k8s.api.core.v1.Pod")


def pod(*containers: dict) -> dict:
    return {"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"containers": list(containers)}}


class StrategicTests(SynchronousTestCase):
    """
    Strategic merge patch.
    """

    def test_merge_by_key(self) -> None:
        """
        Lists with a patch merge key merge item by item.
        """
        out = apply_strategic_patch(pod({"name": "a", "image": "x"}), {"spec": {"containers": [{"name": "a", "image": "y"}]}}, POD)
        self.assertEqual(out["spec"]["containers"], [{"name": "a", "image": "y"}])

    def test_null_deletes(self) -> None:
        """
        null removes a map key.
        """
        out = apply_strategic_patch(pod(), {"metadata": {"labels": {"a": None}}}, POD)
        self.assertEqual(out["metadata"]["labels"], {})

    def test_replace_directive(self) -> None:
        """
        $patch: replace on a map replaces it; on a list it replaces the list.
        """
        out = apply_strategic_patch(pod(), {"metadata": {"labels": {"b": "2", "$patch": "replace"}}}, POD)
        self.assertEqual(out["metadata"]["labels"], {"b": "2"})
        out = apply_strategic_patch(pod({"name": "a"}, {"name": "b"}), {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}, POD)
        self.assertEqual(out["spec"]["containers"], [{"name": "c"}])

    def test_delete_from_primitive_list(self) -> None:
        """
        $deleteFromPrimitiveList removes values from a merged primitive list.
        """
        obj = {"metadata": {"finalizers": ["a", "b"]}}
        out = apply_strategic_patch(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, POD)
        self.assertEqual(out["metadata"]["finalizers"], ["b"])

    def test_lists_without_strategy_replace(self) -> None:
        """
        Lists without a merge strategy are replaced.
        """
        obj = {"spec": {"containers": [{"name": "a", "args": ["1", "2"]}]}}
        out = apply_strategic_patch(obj, {"spec": {"containers": [{"name": "a", "args": ["3"]}]}}, POD)
        self.assertEqual(out["spec"]["containers"][0]["args"], ["3"])

    def test_merge_patch(self) -> None:
        """
        RFC 7386.
        """
        self.assertEqual(merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}), {"a": {"c": 2, "d": 3}})
        self.assertEqual(merge_patch({"a": [1]}, {"a": [2]}), {"a": [2]})

    def test_merge_into_missing_list_drops_delete_directives(self) -> None:
        """
        Merging into an absent list keeps added items and drops $patch: delete ones.
        """
        obj = {"spec": {}}
        out = apply_strategic_patch(obj, {"spec": {"containers": [{"name": "a"}, {"name": "b", "$patch": "delete"}]}}, POD)
        self.assertEqual(out["spec"]["containers"], [{"name": "a"}])
