"""
Tests for L{kapid.apimachinery.apply}: field sets, managedFields, apply merges and conflicts.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import apply as ssa
from kapid.apimachinery.schema import Schema
from kapid.apimachinery.status import StatusError

DEPLOY = Schema.of("io.k8s.api.apps.v1.Deployment")


def dep(containers: list, replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}}


class FieldSetTests(SynchronousTestCase):
    """
    fieldsV1.
    """

    def test_fields_v1_of_keyed_list(self) -> None:
        """
        List items with map keys appear as k:{...} with a "." member.
        """
        m = ssa.members(dep([{"name": "web", "image": "nginx"}]), DEPLOY)
        tree = ssa.to_fields_v1(m)
        containers = tree["f:spec"]["f:template"]["f:spec"]["f:containers"]
        self.assertEqual(containers, {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}})
        self.assertEqual(ssa.from_fields_v1(tree), set(m))

    def test_record_update_moves_ownership(self) -> None:
        """
        A manager that changes a field takes it from the one that set it.
        """
        a = dep([{"name": "web", "image": "nginx"}])
        ssa.record_update(None, a, "one", "apps/v1", 0, DEPLOY)
        b = dep([{"name": "web", "image": "nginx"}], replicas=3)
        b["metadata"]["managedFields"] = a["metadata"]["managedFields"]
        ssa.record_update(a, b, "two", "apps/v1", 0, DEPLOY)
        entries = {e["manager"]: e["fieldsV1"] for e in b["metadata"]["managedFields"]}
        self.assertEqual(entries["two"], {"f:spec": {"f:replicas": {}}})
        self.assertNotIn("f:replicas", entries["one"]["f:spec"])

    def test_record_update_takes_managed_fields_the_request_sets(self) -> None:
        """
        An update that rewrites managedFields (kubectl's client-side-apply upgrade) is honoured; a
        reset ([{}]) empties them; a subresource write keeps the live ones.
        """
        cm = Schema.of("io.k8s.api.core.v1.ConfigMap")
        live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
        ssa.record_update(None, live, "kubectl-client-side-apply", "v1", 0, cm)
        migrated = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "2024-01-01T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}, "f:a": {}}}}]
        new = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": migrated},
               "data": {"a": "1"}}
        ssa.record_update(live, new, "kubectl", "v1", 10, cm)
        self.assertEqual(new["metadata"]["managedFields"], migrated)
        reset = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [{}]},
                 "data": {"a": "1"}}
        ssa.record_update(live, reset, "kubectl", "v1", 10, cm)
        self.assertNotIn("managedFields", reset["metadata"])
        status = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": migrated},
                  "data": {"a": "1"}}
        ssa.record_update(live, status, "kubectl", "v1", 10, cm, subresource="status")
        self.assertEqual([e["manager"] for e in status["metadata"]["managedFields"]], ["kubectl-client-side-apply"])


class ApplyTests(SynchronousTestCase):
    """
    Server-side apply.
    """

    def test_apply_merges_keyed_lists(self) -> None:
        """
        Applied containers merge with other managers' containers by name.
        """
        live = ssa.apply(None, dep([{"name": "a", "image": "x"}]), "m1", False, "apps/v1", 0, DEPLOY)
        live = ssa.apply(live, dep([{"name": "b", "image": "y"}]), "m2", False, "apps/v1", 0, DEPLOY)
        names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
        self.assertEqual(names, ["a", "b"])

    def test_apply_removes_fields_no_longer_applied(self) -> None:
        """
        A field the manager applied before and no longer applies is removed.
        """
        live = ssa.apply(None, dep([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]), "m1", False, "apps/v1", 0, DEPLOY)
        live = ssa.apply(live, dep([{"name": "a", "image": "x"}]), "m1", False, "apps/v1", 0, DEPLOY)
        self.assertEqual([c["name"] for c in live["spec"]["template"]["spec"]["containers"]], ["a"])

    def test_apply_removes_list_items_of_a_field_no_longer_applied(self) -> None:
        """
        A manager whose configuration no longer has a keyed list at all loses the items it applied
        there; another manager's items stay.
        """
        svc = Schema.of("io.k8s.api.core.v1.Service")

        def service(*ports: str) -> dict:
            spec: dict = {"ports": [{"name": n, "port": 80 + i, "protocol": "TCP"} for i, n in enumerate(ports)]}
            if not ports:
                spec = {"type": "ClusterIP"}
            return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}

        live = ssa.apply(None, service("a"), "m1", False, "v1", 0, svc)
        live = ssa.apply(live, dict(service("b"), spec={"ports": [{"name": "b", "port": 90, "protocol": "TCP"}]}),
                         "m2", False, "v1", 0, svc)
        self.assertEqual([p["name"] for p in live["spec"]["ports"]], ["a", "b"])
        live = ssa.apply(live, service(), "m2", False, "v1", 0, svc)
        self.assertEqual([p["name"] for p in live["spec"]["ports"]], ["a"])
        managers = {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]}
        self.assertEqual(managers["m2"], {"f:spec": {"f:type": {}}})

    def test_conflict(self) -> None:
        """
        Changing a field another manager owns is a 409 naming it.
        """
        live = ssa.apply(None, dep([], replicas=1), "m1", False, "apps/v1", 0, DEPLOY)
        e = self.assertRaises(StatusError, ssa.apply, live, dep([], replicas=2), "m2", False, "apps/v1", 0, DEPLOY)
        self.assertEqual(e.code, 409)
        self.assertEqual(e.message, 'Apply failed with 1 conflict: conflict with "m1": .spec.replicas')
        out = ssa.apply(live, dep([], replicas=2), "m2", True, "apps/v1", 0, DEPLOY)
        self.assertEqual(out["spec"]["replicas"], 2)

    def test_shared_fields_stay_when_one_manager_stops_applying(self) -> None:
        """
        A field two managers applied stays when one of them no longer applies it.
        """
        both = dep([{"name": "a", "image": "x"}], replicas=2)
        live = ssa.apply(None, both, "m1", False, "apps/v1", 0, DEPLOY)
        live = ssa.apply(live, both, "m2", False, "apps/v1", 0, DEPLOY)
        without = dep([{"name": "a", "image": "x"}])
        del without["spec"]["replicas"]
        live = ssa.apply(live, without, "m1", False, "apps/v1", 0, DEPLOY)
        self.assertEqual(live["spec"]["replicas"], 2)

    def test_force_takes_only_conflicting_fields(self) -> None:
        """
        A forced apply takes the conflicting fields; fields applied with the same value stay shared.
        """
        cm = Schema.of("io.k8s.api.core.v1.ConfigMap")

        def doc(**data: str) -> dict:
            return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}

        live = ssa.apply(None, doc(a="1", b="2"), "kubectl", False, "v1", 10, cm)
        live = ssa.apply(live, doc(a="1", b="3"), "other", True, "v1", 20, cm)
        entries = [(e["manager"], e["fieldsV1"]) for e in live["metadata"]["managedFields"]]
        self.assertEqual(entries, [
            ("kubectl", {"f:data": {".": {}, "f:a": {}}}),
            ("other", {"f:data": {".": {}, "f:a": {}, "f:b": {}}}),
        ])

    def test_managed_fields_sorted_as_kube_encodes_them(self) -> None:
        """
        Entries are ordered by operation (Apply first), then time, then manager.
        """
        entries = [
            {"manager": "z", "operation": "Update", "time": "2024-01-01T00:00:01Z"},
            {"manager": "b", "operation": "Apply", "time": "2024-01-01T00:00:02Z"},
            {"manager": "a", "operation": "Apply", "time": "2024-01-01T00:00:02Z"},
            {"manager": "c", "operation": "Apply", "time": "2024-01-01T00:00:01Z"},
        ]
        self.assertEqual([e["manager"] for e in ssa.sort_managed_fields(entries)], ["c", "a", "b", "z"])


class TypedPatchTests(SynchronousTestCase):
    """
    Apply configurations the schema cannot type.
    """

    def test_undeclared_fields_named_as_structured_merge_diff_does(self) -> None:
        """
        Unknown fields are named with their keyed-list path; the error is kube's 500 without a reason.
        """
        obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
               "spec": {"template": {"spec": {"containers": [{"name": "c", "imagePullPolicyy": "Always"}]}}}}
        errors = ssa.undeclared_fields(obj, DEPLOY)
        self.assertEqual(errors, ['.spec.template.spec.containers[name="c"].imagePullPolicyy: field not declared in schema'])
        err = ssa.typed_patch_error(obj, errors)
        self.assertEqual(err.encode(), (
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"failed to create typed '
            b'patch object (ns/d; apps/v1, Kind=Deployment): .spec.template.spec.containers[name=\\"c\\"].'
            b'imagePullPolicyy: field not declared in schema","code":500}\n'
        ))
        two = ssa.typed_patch_error({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                                    [".a: field not declared in schema", ".b: field not declared in schema"])
        self.assertEqual(two.message, "failed to create typed patch object (/c; /v1, Kind=ConfigMap): errors:\n"
                                      "  .a: field not declared in schema\n  .b: field not declared in schema")

    def test_declared_fields_pass(self) -> None:
        """
        A configuration with only declared fields (maps included) has nothing undeclared.
        """
        obj = dep([{"name": "c", "image": "x", "env": [{"name": "A", "value": "1"}]}])
        obj["metadata"]["labels"] = {"any": "thing"}
        self.assertEqual(ssa.undeclared_fields(obj, DEPLOY), [])
