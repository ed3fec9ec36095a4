"""
HTTP tests of the apiextensions link: CRDs established by the controller, their custom resources
served with every verb, schema validation, pruning and defaulting, subresources, Tables, field
selectors, discovery, naming conflicts and CRD deletion — over the memory store.
"""

from __future__ import annotations

import copy

from twisted.trial.unittest import TestCase

from tests.apiextensions.helpers import CRDS, CRDAPI, widget, widget_crd

W = "/apis/stable.example.com/v1/namespaces/default/widgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def condition(crd: dict, kind: str) -> dict:
    for c in crd.get("status", {}).get("conditions") or []:
        if c["type"] == kind:
            return c
    return {}


class EstablishTests(TestCase):
    """
    A created CRD gets its names accepted and is established, and its kind is served.
    """

    def test_established(self) -> None:
        """
        NamesAccepted and Established are true with kube's reasons; acceptedNames are the spec's
        names with kube's defaults; storedVersions names the storage version.
        """
        api = CRDAPI(self)
        crd = api.create_crd(widget_crd(shortNames=["wd"], categories=["all"]))
        self.assertEqual(
            {k: condition(crd, "NamesAccepted").get(k) for k in ("status", "reason", "message")},
            {"status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
        )
        self.assertEqual(
            {k: condition(crd, "Established").get(k) for k in ("status", "reason", "message")},
            {"status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
        )
        self.assertEqual(
            crd["status"]["acceptedNames"],
            {"plural": "widgets", "singular": "widget", "shortNames": ["wd"], "kind": "Widget",
             "listKind": "WidgetList", "categories": ["all"]},
        )
        self.assertEqual(crd["status"]["storedVersions"], ["v1"])
        code, body, _ = api.get(W)
        self.assertEqual(code, 200, body)
        self.assertEqual((body["kind"], body["apiVersion"], body["items"]), ("WidgetList", "stable.example.com/v1", []))

    def test_unknown_kind_404(self) -> None:
        """
        Before a CRD exists its paths are kube's 404 for an unknown path.
        """
        api = CRDAPI(self)
        code, body, _ = api.get(W)
        self.assertEqual(code, 404)
        self.assertEqual(body["reason"], "NotFound")

    def test_name_conflict(self) -> None:
        """
        A second CRD of the group asking for a kind already accepted is not established:
        NamesAccepted False with kube's message for the last conflicting name checked (the list
        kind, after the kind).
        """
        api = CRDAPI(self)
        api.create_crd(widget_crd())
        other = widget_crd(plural="gadgets", kind="Widget")
        crd = api.create_crd(other)
        cond = condition(crd, "NamesAccepted")
        self.assertEqual((cond["status"], cond["reason"], cond["message"]), ("False", "ListKindConflict", '"WidgetList" is already in use'))
        self.assertEqual(condition(crd, "Established").get("status"), "False")
        code, _, _ = api.get("/apis/stable.example.com/v1/namespaces/default/gadgets")
        self.assertEqual(code, 404)

    def test_plural_conflict_with_short_name(self) -> None:
        """
        A plural taken as another CRD's short name is a PluralConflict.
        """
        api = CRDAPI(self)
        api.create_crd(widget_crd(shortNames=["gizmos"]))
        crd = api.create_crd(widget_crd(plural="gizmos", kind="Gizmo"))
        cond = condition(crd, "NamesAccepted")
        self.assertEqual((cond["status"], cond["reason"]), ("False", "PluralConflict"))


class CustomResourceCRUDTests(TestCase):
    """
    Every verb on a namespaced and a cluster-scoped custom resource.
    """

    def setUp(self) -> None:
        self.api = CRDAPI(self)
        self.api.create_crd(widget_crd())

    def test_create_get_list_update_delete(self) -> None:
        """
        Create answers 201 with uid, generation 1 and the schema's default; get, list, update and
        delete follow kube's answers.
        """
        api = self.api
        code, body, _ = api.post(W, widget("a", color="red"))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"], {"color": "red", "size": 1})
        self.assertEqual(body["metadata"]["generation"], 1)
        self.assertEqual(body["metadata"]["namespace"], "default")
        code, got, _ = api.get(f"{W}/a")
        self.assertEqual((code, got["spec"]), (200, {"color": "red", "size": 1}))
        got["spec"]["size"] = 5
        code, upd, _ = api.put(f"{W}/a", got)
        self.assertEqual(code, 200, upd)
        self.assertEqual((upd["spec"]["size"], upd["metadata"]["generation"]), (5, 2))
        code, lst, _ = api.get(W)
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["a"])
        self.assertEqual(lst["items"][0]["kind"], "Widget")
        code, all_ns, _ = api.get("/apis/stable.example.com/v1/widgets")
        self.assertEqual(len(all_ns["items"]), 1)
        code, status, _ = api.delete(f"{W}/a")
        self.assertEqual(code, 200, status)
        self.assertEqual((status["kind"], status["status"]), ("Status", "Success"))
        self.assertEqual(status["details"], {"name": "a", "group": "stable.example.com", "kind": "widgets", "uid": body["metadata"]["uid"]})
        self.assertEqual(api.get(f"{W}/a")[0], 404)

    def test_patches(self) -> None:
        """
        JSON and merge patches apply; strategic merge patch is kube's 415 for custom resources.
        """
        api = self.api
        api.post(W, widget("p", color="red", size=2))
        code, body, _ = api.patch(f"{W}/p", {"spec": {"color": "blue"}}, "application/merge-patch+json")
        self.assertEqual((code, body["spec"]), (200, {"color": "blue", "size": 2}))
        code, body, _ = api.patch(f"{W}/p", [{"op": "replace", "path": "/spec/size", "value": 3}], "application/json-patch+json")
        self.assertEqual((code, body["spec"]["size"]), (200, 3))
        code, body, _ = api.patch(f"{W}/p", {"spec": {"size": 4}}, "application/strategic-merge-patch+json")
        self.assertEqual(code, 415, body)
        self.assertEqual(body["reason"], "UnsupportedMediaType")

    def test_cluster_scoped(self) -> None:
        """
        A cluster-scoped kind is served without namespaces; a namespaced path for it is 404.
        """
        api = self.api
        api.create_crd(widget_crd(group="cluster.example.com", scope="Cluster"))
        path = "/apis/cluster.example.com/v1/widgets"
        code, body, _ = api.post(path, widget("c", group="cluster.example.com"))
        self.assertEqual(code, 201, body)
        self.assertNotIn("namespace", body["metadata"])
        self.assertEqual(api.get(f"{path}/c")[0], 200)
        self.assertEqual(api.get("/apis/cluster.example.com/v1/namespaces/default/widgets/c")[0], 404)

    def test_generate_name_and_dry_run(self) -> None:
        """
        generateName and dryRun work as for built-ins: a dry-run create stores nothing.
        """
        api = self.api
        body = widget("")
        body["metadata"] = {"generateName": "w-"}
        code, out, _ = api.post(W + "?dryRun=All", body)
        self.assertEqual(code, 201, out)
        self.assertTrue(out["metadata"]["name"].startswith("w-"))
        self.assertEqual(api.get(W)[1]["items"], [])


class ValidationTests(TestCase):
    """
    Schema validation, pruning and field validation for custom resources.
    """

    def setUp(self) -> None:
        self.api = CRDAPI(self)
        self.api.create_crd(widget_crd())

    def test_invalid_422(self) -> None:
        """
        Schema violations are one 422 cause each, with kube's paths; nothing is stored.
        """
        code, body, _ = self.api.post(W, widget("bad", size=20, color="pink"))
        self.assertEqual(code, 422, body)
        self.assertEqual(body["reason"], "Invalid")
        self.assertEqual(body["details"]["kind"], "Widget")
        self.assertEqual(body["details"]["group"], "stable.example.com")
        fields = sorted(c["field"] for c in body["details"]["causes"])
        self.assertEqual(fields, ["spec.color", "spec.size"])
        self.assertIn('Widget.stable.example.com "bad" is invalid', body["message"])
        self.assertEqual(self.api.get(f"{W}/bad")[0], 404)

    def test_set_duplicates(self) -> None:
        """
        A C{set} list with a repeated item is a Duplicate value.
        """
        code, body, _ = self.api.post(W, widget("dup", tags=["a", "a"]))
        self.assertEqual(code, 422, body)
        self.assertEqual([c["reason"] for c in body["details"]["causes"]], ["FieldValueDuplicate"])

    def test_unknown_fields(self) -> None:
        """
        Unknown fields are pruned: a Warning under Warn (the default), a 400 under Strict, silence
        under Ignore.
        """
        api = self.api
        code, body, headers = api.post(W, widget("w", extra=1))
        self.assertEqual(code, 201, body)
        self.assertNotIn("extra", body["spec"])
        self.assertEqual(headers.getRawHeaders(b"warning"), [b'299 - "unknown field \\"spec.extra\\""'])
        code, body, _ = api.post(W + "?fieldValidation=Strict", widget("s", extra=1))
        self.assertEqual(code, 400, body)
        self.assertEqual(
            body["message"],
            'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.extra"',
        )
        code, body, headers = api.post(W + "?fieldValidation=Ignore", widget("i", extra=1))
        self.assertEqual(code, 201)
        self.assertIsNone(headers.getRawHeaders(b"warning"))

    def test_wrong_kind(self) -> None:
        """
        A body of another kind is kube's 400.
        """
        body = widget("k")
        body["kind"] = "Gadget"
        code, out, _ = self.api.post(W, body)
        self.assertEqual(code, 400, out)


class SubresourceTests(TestCase):
    """
    C{status} and C{scale}.
    """

    def setUp(self) -> None:
        self.api = CRDAPI(self)
        self.api.create_crd(widget_crd())
        code, self.obj, _ = self.api.post(W, {**widget("s", replicas=2), "status": {"replicas": 9}})
        self.assertEqual(code, 201, self.obj)

    def test_status_separate(self) -> None:
        """
        A create drops status; the main resource ignores status changes; the status subresource
        changes only status and does not bump generation.
        """
        api = self.api
        self.assertNotIn("status", self.obj)
        obj = copy.deepcopy(self.obj)
        obj["status"] = {"replicas": 3}
        code, out, _ = api.put(f"{W}/s/status", obj)
        self.assertEqual(code, 200, out)
        self.assertEqual((out["status"], out["metadata"]["generation"]), ({"replicas": 3}, 1))
        out["status"] = {"replicas": 7}
        out["spec"]["size"] = 4
        code, main, _ = api.put(f"{W}/s", out)
        self.assertEqual(code, 200, main)
        self.assertEqual((main["status"], main["spec"]["size"], main["metadata"]["generation"]), ({"replicas": 3}, 4, 2))

    def test_status_validated(self) -> None:
        """
        A status update is validated against the schema.
        """
        obj = copy.deepcopy(self.obj)
        obj["status"] = {"replicas": "many"}
        code, out, _ = self.api.put(f"{W}/s/status", obj)
        self.assertEqual(code, 422, out)
        self.assertEqual(out["details"]["causes"][0]["field"], "status.replicas")

    def test_scale(self) -> None:
        """
        The scale subresource reads and writes the CRD's replica paths as an autoscaling/v1 Scale.
        """
        api = self.api
        obj = copy.deepcopy(self.obj)
        obj["status"] = {"replicas": 1, "selector": "app=s"}
        api.put(f"{W}/s/status", obj)
        code, scale, _ = api.get(f"{W}/s/scale")
        self.assertEqual(code, 200, scale)
        self.assertEqual((scale["kind"], scale["apiVersion"]), ("Scale", "autoscaling/v1"))
        self.assertEqual((scale["spec"], scale["status"]), ({"replicas": 2}, {"replicas": 1, "selector": "app=s"}))
        scale["spec"]["replicas"] = 5
        code, out, _ = api.put(f"{W}/s/scale", scale)
        self.assertEqual((code, out["spec"]["replicas"]), (200, 5))
        self.assertEqual(api.get(f"{W}/s")[1]["spec"]["replicas"], 5)
        code, out, _ = api.patch(f"{W}/s/scale", {"spec": {"replicas": 6}}, "application/merge-patch+json")
        self.assertEqual((code, out["spec"]["replicas"]), (200, 6))


class TableAndSelectorTests(TestCase):
    """
    Printer columns and selectable fields.
    """

    def setUp(self) -> None:
        self.api = CRDAPI(self)
        self.api.create_crd(widget_crd())
        self.api.post(W, widget("r", color="red", size=2))
        self.api.post(W, widget("g", color="green"))

    def test_table(self) -> None:
        """
        A Table has Name, the printer columns (priority kept) and their cells, kube's descriptions.
        """
        code, table, _ = self.api.get(W, headers={"Accept": TABLE})
        self.assertEqual(code, 200, table)
        self.assertEqual(
            [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]],
            [("Name", "string", 0), ("Size", "integer", 0), ("Color", "string", 1), ("Age", "date", 0)],
        )
        self.assertEqual(
            table["columnDefinitions"][1]["description"],
            "Custom resource definition column (in JSONPath format): .spec.size",
        )
        self.assertEqual([r["cells"][:3] for r in table["rows"]], [["g", 1, "green"], ["r", 2, "red"]])
        self.assertEqual(table["rows"][0]["cells"][3], "0s")

    def test_field_selector(self) -> None:
        """
        Selectable fields filter lists; other fields are kube's 400.
        """
        code, lst, _ = self.api.get(W + "?fieldSelector=spec.color%3Dred")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["r"])
        code, lst, _ = self.api.get(W + "?fieldSelector=metadata.name%3Dg")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["g"])
        code, body, _ = self.api.get(W + "?fieldSelector=spec.size%3D1")
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], "field label not supported: spec.size")


class DiscoveryTests(TestCase):
    """
    The group appears in discovery once established, with names, verbs and subresources.
    """

    def test_discovery(self) -> None:
        api = CRDAPI(self)
        code, before, _ = api.get("/apis")
        self.assertNotIn("stable.example.com", [g["name"] for g in before["groups"]])
        api.create_crd(widget_crd(shortNames=["wd"], categories=["all"]))
        code, after, _ = api.get("/apis")
        self.assertIn("stable.example.com", [g["name"] for g in after["groups"]])
        code, rl, _ = api.get("/apis/stable.example.com/v1")
        self.assertEqual(code, 200, rl)
        by_name = {r["name"]: r for r in rl["resources"]}
        self.assertEqual(sorted(by_name), ["widgets", "widgets/scale", "widgets/status"])
        w = by_name["widgets"]
        self.assertEqual(
            (w["kind"], w["singularName"], w["namespaced"], w["shortNames"], w["categories"]),
            ("Widget", "widget", True, ["wd"], ["all"]),
        )
        self.assertEqual(w["verbs"], ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"])
        self.assertEqual(by_name["widgets/scale"]["group"], "autoscaling")


class DeletionTests(TestCase):
    """
    Deleting a CRD removes its objects first, then its API.
    """

    def test_delete_crd(self) -> None:
        """
        DELETE answers the CRD with the cleanup finalizer and Terminating; the controller deletes
        every object, then the CRD goes and its paths are 404; a re-created CRD starts empty.
        """
        api = CRDAPI(self)
        api.create_crd(widget_crd())
        api.post(W, widget("one"))
        api.post("/apis/stable.example.com/v1/namespaces/kube-system/widgets", widget("two"))
        code, body, _ = api.delete(f"{CRDS}/widgets.stable.example.com")
        self.assertEqual(code, 200, body)
        self.assertIn("customresourcecleanup.apiextensions.k8s.io", body["metadata"]["finalizers"])
        self.assertEqual(condition(body, "Terminating")["reason"], "InstanceDeletionPending")
        api.settle()
        self.assertEqual(api.get(f"{CRDS}/widgets.stable.example.com")[0], 404)
        self.assertEqual(api.get(W)[0], 404)
        api.create_crd(widget_crd())
        self.assertEqual(api.get(W)[1]["items"], [])

    def test_finalizer_keeps_terminating(self) -> None:
        """
        An object with its own finalizer keeps the CRD terminating; creates are refused with
        kube's 405 meanwhile; when the finalizer goes, so do the object and the CRD.
        """
        api = CRDAPI(self)
        api.create_crd(widget_crd())
        obj = widget("held")
        obj["metadata"]["finalizers"] = ["example.com/hold"]
        api.post(W, obj)
        api.delete(f"{CRDS}/widgets.stable.example.com")
        api.settle()
        code, crd, _ = api.get(f"{CRDS}/widgets.stable.example.com")
        self.assertEqual(code, 200)
        self.assertEqual(condition(crd, "Terminating")["status"], "True")
        code, body, _ = api.post(W, widget("new"))
        self.assertEqual(code, 405, body)
        self.assertEqual(body["message"], "create not allowed while custom resource definition is terminating")
        code, held, _ = api.get(f"{W}/held")
        self.assertTrue(held["metadata"].get("deletionTimestamp"))
        api.patch(f"{W}/held", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
        api.clock.advance(5)
        api.settle()
        self.assertEqual(api.get(f"{CRDS}/widgets.stable.example.com")[0], 404)


class VersionTests(TestCase):
    """
    Several versions, one stored; schema changes of a live CRD.
    """

    def two_versions(self) -> dict:
        crd = widget_crd()
        v1 = crd["spec"]["versions"][0]
        v2 = copy.deepcopy(v1)
        v2["name"] = "v2"
        v2["storage"] = False
        v1beta1 = copy.deepcopy(v1)
        v1beta1.update(name="v1beta1", storage=False, deprecated=True)
        crd["spec"]["versions"] = [v1, v2, v1beta1]
        return crd

    def test_read_in_other_version(self) -> None:
        """
        An object created in one version reads in every served version (strategy None rewrites
        apiVersion); a deprecated version answers with kube's Warning.
        """
        api = CRDAPI(self)
        api.create_crd(self.two_versions())
        api.post(W, widget("x", size=3))
        code, body, _ = api.get("/apis/stable.example.com/v2/namespaces/default/widgets/x")
        self.assertEqual((code, body["apiVersion"], body["spec"]["size"]), (200, "stable.example.com/v2", 3))
        code, body, headers = api.get("/apis/stable.example.com/v1beta1/namespaces/default/widgets/x")
        self.assertEqual(body["apiVersion"], "stable.example.com/v1beta1")
        self.assertEqual(headers.getRawHeaders(b"warning"), [b'299 - "stable.example.com/v1beta1 Widget is deprecated"'])

    def test_schema_change_takes_effect(self) -> None:
        """
        Tightening the schema of a live CRD applies to the next request.
        """
        api = CRDAPI(self)
        crd = api.create_crd(widget_crd())
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]["maximum"] = 3
        code, out, _ = api.put(f"{CRDS}/widgets.stable.example.com", crd)
        self.assertEqual(code, 200, out)
        api.settle()
        code, body, _ = api.post(W, widget("big", size=5))
        self.assertEqual(code, 422, body)


class SharedStorageTests(TestCase):
    """
    Two servers on one storage (two kapid processes on one etcd): each runs the CRD controller.
    """

    def test_crd_through_one_served_by_other(self) -> None:
        """
        A CRD created through one server is established and served by the other; objects written
        through one are read through the other; deleting it through the other removes it from both.
        """
        from kapid.storage.store import Store

        one = CRDAPI(self)
        two = CRDAPI(self, storage=Store(one.kv, one.clock), kv=one.kv, clock=one.clock)
        one.create_crd(widget_crd())
        two.settle()
        code, body, _ = two.post(W, widget("via-two", size=2))
        self.assertEqual(code, 201, body)
        code, body, _ = one.get(f"{W}/via-two")
        self.assertEqual((code, body["spec"]["size"]), (200, 2))
        two.delete(f"{CRDS}/widgets.stable.example.com")
        for _ in range(3):
            one.settle()
            two.settle()
        self.assertEqual(one.get(W)[0], 404)
        self.assertEqual(two.get(W)[0], 404)


class CRDFilesTests(TestCase):
    """
    The CRDs of C{--crd-dir} are installed and established by the link's post-start hook.
    """

    def test_install_files(self) -> None:
        """
        The hook creates each CRD (updating one that exists) and fires once all are established.
        """
        api = CRDAPI(self)
        api.create_crd(widget_crd())
        changed = widget_crd()
        changed["spec"]["names"]["shortNames"] = ["wdg"]
        api.apiext.crd_files = [("a.yaml", changed), ("b.yaml", widget_crd(group="other.example.com"))]
        hooks = dict(api.apiext.post_start_hooks())
        d = hooks["kapid-crd-directory"](None)
        api.settle()
        self.successResultOf(d)
        code, crd, _ = api.get(f"{CRDS}/widgets.stable.example.com")
        self.assertEqual(crd["status"]["acceptedNames"]["shortNames"], ["wdg"])
        self.assertEqual(api.get("/apis/other.example.com/v1/namespaces/default/widgets")[0], 200)


class ReadDefaultingTests(TestCase):
    """
    Objects read from storage get the defaults of the storage version's schema.
    """

    def test_default_added_later(self) -> None:
        """
        An object stored before a default was added to the schema reads with it (storage keeps
        the object as written).
        """
        api = CRDAPI(self)
        crd = widget_crd()
        del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]["default"]
        crd = api.create_crd(crd)
        api.post(W, widget("old"))
        self.assertEqual(api.get(f"{W}/old")[1]["spec"], {})
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]["default"] = 4
        self.assertEqual(api.put(f"{CRDS}/widgets.stable.example.com", crd)[0], 200)
        api.settle()
        self.assertEqual(api.get(f"{W}/old")[1]["spec"], {"size": 4})
        self.assertEqual([i["spec"] for i in api.get(W)[1]["items"]], [{"size": 4}])
        stored = self.successResultOf(api.storage.get("/registry/stable.example.com/widgets/default/old"))
        self.assertEqual(stored["spec"], {})


class WatchTests(TestCase):
    """
    Watches of custom resources.
    """

    def test_watch_then_crd_deleted(self) -> None:
        """
        A watch sees the kind's changes in its version; when the CRD goes, the stream ends after
        the objects' DELETED events.
        """
        from tests.endpoints.test_watch import Stream

        api = CRDAPI(self)
        api.create_crd(widget_crd())
        s = Stream(api, f"{W}?watch=true")
        api.post(W, widget("a", size=2))
        api.patch(f"{W}/a", {"spec": {"size": 3}}, "application/merge-patch+json")
        evs = s.events()
        self.assertEqual([(e["type"], e["object"]["spec"]["size"]) for e in evs], [("ADDED", 2), ("MODIFIED", 3)])
        self.assertEqual(evs[0]["object"]["kind"], "Widget")
        self.assertFalse(s.done)
        api.delete(f"{CRDS}/widgets.stable.example.com")
        api.settle()
        evs = s.events()
        self.assertEqual(evs[-1]["type"], "DELETED")
        self.assertTrue(s.done)


class ValidationRuleTests(TestCase):
    """
    CEL validation rules (C{x-kubernetes-validations}) are enforced on custom resources.
    """

    def test_rule_and_transition_rule(self) -> None:
        """
        A rule refuses a create with kube's 422 cause; a transition rule (C{oldSelf}) refuses an
        update that breaks it while creates are unaffected.
        """
        api = CRDAPI(self)
        crd = widget_crd()
        spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        spec_schema["x-kubernetes-validations"] = [
            {"rule": "!has(self.replicas) || self.replicas <= self.size * 2", "message": "replicas must not exceed twice the size"},
        ]
        spec_schema["properties"]["color"]["x-kubernetes-validations"] = [
            {"rule": "self == oldSelf", "message": "color is immutable"},
        ]
        code, body, headers = api.post(CRDS, crd)
        self.assertEqual(code, 201, body)
        self.assertIsNone(headers.getRawHeaders(b"warning"))
        api.settle()
        code, body, _ = api.post(W, widget("bad", size=1, replicas=5))
        self.assertEqual(code, 422, body)
        self.assertEqual(
            [(c["field"], c["message"]) for c in body["details"]["causes"]],
            [("spec", 'Invalid value: "object": replicas must not exceed twice the size')],
        )
        code, obj, _ = api.post(W, widget("ok", size=2, replicas=4, color="red"))
        self.assertEqual(code, 201, obj)
        obj["spec"]["color"] = "blue"
        code, body, _ = api.put(f"{W}/ok", obj)
        self.assertEqual(code, 422, body)
        self.assertEqual(body["details"]["causes"][0]["field"], "spec.color")
        self.assertEqual(api.get(f"{W}/ok")[1]["spec"]["color"], "red")
