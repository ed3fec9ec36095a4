"""
Tests for L{kapid.apimachinery.jsonpatch}: RFC 6902 with evanphx/json-patch v4's semantics and messages.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.jsonpatch import JSONPatchError, apply_patch

DOC = {"data": {"a": "1"}, "spec": {"replicas": 4, "ports": [{"port": 80}, {"port": 81}]}}


class ApplyPatchTests(SynchronousTestCase):
    """
    Operations that apply, and the messages of those that do not.
    """

    def error(self, patch: list) -> str:
        with self.assertRaises(JSONPatchError) as cm:
            apply_patch(DOC, patch)
        return str(cm.exception)

    def test_operations(self) -> None:
        """
        add/remove/replace/move/copy/test, negative and "-" indices; the input is not modified.
        """
        out = apply_patch(DOC, [
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/new", "value": "x"},
            {"op": "add", "path": "/spec/ports/-", "value": {"port": 82}},
            {"op": "remove", "path": "/spec/ports/-3"},
            {"op": "move", "from": "/data/a", "path": "/data/c"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
            {"op": "test", "path": "/spec/replicas", "value": 4},
            {"op": "test", "path": "/data/absent", "value": None},
        ])
        self.assertEqual(out, {"data": {"b": "2", "new": "x", "c": "1"},
                               "spec": {"replicas": 4, "ports": [{"port": 81}, {"port": 82}], "copied": 4}})
        self.assertEqual(DOC["data"], {"a": "1"})

    def test_messages(self) -> None:
        """
        Failures read as kube's.
        """
        self.assertEqual(self.error([{"op": "test", "path": "/spec/replicas", "value": 9}]),
                         "testing value /spec/replicas failed: test failed")
        self.assertEqual(self.error([{"op": "test", "path": "/spec/replicas", "value": "4"}]),
                         "testing value /spec/replicas failed: test failed")
        self.assertEqual(self.error([{"op": "remove", "path": "/spec/nope"}]),
                         "error in remove for path: '/spec/nope': Unable to remove nonexistent key: nope: missing value")
        self.assertEqual(self.error([{"op": "remove", "path": "/x/y"}]),
                         'remove operation does not apply: doc is missing path: "/x/y": missing value')
        self.assertEqual(self.error([{"op": "add", "path": "/x/y", "value": 1}]),
                         'add operation does not apply: doc is missing path: "/x/y": missing value')
        self.assertEqual(self.error([{"op": "add", "path": "/spec/ports/5", "value": 1}]),
                         "error in add for path: '/spec/ports/5': Unable to access invalid index: 5: invalid index referenced")
        self.assertEqual(self.error([{"op": "replace", "path": "/spec/ports/7", "value": 1}]),
                         "replace operation does not apply: doc is missing key: /spec/ports/7: missing value")
        self.assertEqual(self.error([{"op": "bogus", "path": "/a"}]), "Unexpected kind: bogus")
        self.assertEqual(self.error([{"op": "add", "path": "/spec/ports/a", "value": 1}]),
                         "error in add for path: '/spec/ports/a': value was not a proper array index: 'a': "
                         'strconv.Atoi: parsing "a": invalid syntax')
