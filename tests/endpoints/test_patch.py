"""
Tests for PATCH (JSON, merge, strategic merge, server-side apply), the status and scale
subresources, and deletion of pods and namespaces.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.endpoints.helpers import API, cm, deployment

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"

MERGE = "application/merge-patch+json"
JSONP = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


class PatchTests(SynchronousTestCase):
    """
    PATCH of the main resource.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.api.post(CMS, cm("a", {"x": "1", "y": "2"}))
        code, self.dep, _ = self.api.post(DEPLOYS, deployment("web"))
        assert code == 201, self.dep

    def test_merge_patch(self) -> None:
        """
        A merge patch sets and removes keys (null deletes).
        """
        code, body, _ = self.api.patch(CMS + "/a", {"data": {"x": None, "z": "3"}, "metadata": {"labels": {"l": "v"}}}, MERGE)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["data"], {"y": "2", "z": "3"})
        self.assertEqual(body["metadata"]["labels"], {"l": "v"})

    def test_json_patch(self) -> None:
        """
        A JSON patch applies its operations; a failing one is 422.
        """
        code, body, _ = self.api.patch(CMS + "/a", [{"op": "replace", "path": "/data/x", "value": "9"}], JSONP)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["data"]["x"], "9")
        code, body, _ = self.api.patch(CMS + "/a", [{"op": "remove", "path": "/data/nope"}], JSONP)
        self.assertEqual(code, 422)

    def test_strategic_merge_containers_by_name(self) -> None:
        """
        A strategic merge patch merges containers by name and can delete one with $patch.
        """
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}}
        code, body, _ = self.api.patch(DEPLOYS + "/web", patch, SMP)
        self.assertEqual(code, 200, body)
        names = [c["name"] for c in body["spec"]["template"]["spec"]["containers"]]
        self.assertEqual(names, ["web", "side"])
        self.assertEqual(body["metadata"]["generation"], 2)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "$patch": "delete"}]}}}}
        code, body, _ = self.api.patch(DEPLOYS + "/web", patch, SMP)
        self.assertEqual([c["name"] for c in body["spec"]["template"]["spec"]["containers"]], ["side"])

    def test_strategic_set_element_order_and_retain_keys(self) -> None:
        """
        $setElementOrder orders a merged list; $retainKeys drops other keys.
        """
        patch = {"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
            "containers": [{"name": "side", "image": "busybox"}]}},
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
        code, body, _ = self.api.patch(DEPLOYS + "/web", patch, SMP)
        self.assertEqual(code, 200, body)
        self.assertEqual([c["name"] for c in body["spec"]["template"]["spec"]["containers"]], ["side", "web"])
        self.assertEqual(body["spec"]["strategy"], {"type": "Recreate"})

    def test_patch_missing_is_404(self) -> None:
        """
        Patching a missing object is 404.
        """
        code, body, _ = self.api.patch(CMS + "/nope", {"data": {}}, MERGE)
        self.assertEqual(code, 404)

    def test_unsupported_patch_type(self) -> None:
        """
        An unknown patch Content-Type is 415.
        """
        code, body, _ = self.api.patch(CMS + "/a", {"data": {}}, "application/json")
        self.assertEqual(code, 415)

    def test_patch_dry_run(self) -> None:
        """
        dryRun=All answers the patched object and stores nothing.
        """
        code, body, _ = self.api.patch(CMS + "/a?dryRun=All", {"data": {"x": "dry"}}, MERGE)
        self.assertEqual(body["data"]["x"], "dry")
        _, got, _ = self.api.get(CMS + "/a")
        self.assertEqual(got["data"]["x"], "1")

    def test_managed_fields_for_field_manager(self) -> None:
        """
        Writes with a fieldManager record managedFields entries.
        """
        code, body, _ = self.api.patch(CMS + "/a?fieldManager=kubectl-label", {"metadata": {"labels": {"l": "v"}}}, MERGE)
        mf = body["metadata"]["managedFields"]
        self.assertEqual(mf[-1]["manager"], "kubectl-label")
        self.assertEqual(mf[-1]["operation"], "Update")
        self.assertEqual(mf[-1]["fieldsV1"], {"f:metadata": {"f:labels": {".": {}, "f:l": {}}}})


class ApplyTests(SynchronousTestCase):
    """
    Server-side apply.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def apply(self, body: str, manager: str = "kubectl", force: bool = False, name: str = "a"):
        q = f"?fieldManager={manager}&force={'true' if force else 'false'}"
        return self.api.request("PATCH", f"{CMS}/{name}{q}", raw=body.encode(), content_type=APPLY)

    def test_apply_creates_then_updates(self) -> None:
        """
        Apply creates an absent object (201), then updates it (200), owning its fields.
        """
        code, body, _ = self.apply('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}\n')
        self.assertEqual(code, 201, body)
        self.assertEqual(body["metadata"]["managedFields"][0]["manager"], "kubectl")
        self.assertEqual(body["metadata"]["managedFields"][0]["operation"], "Apply")
        self.assertEqual(body["metadata"]["managedFields"][0]["fieldsV1"], {"f:data": {".": {}, "f:k": {}}})
        code, body, _ = self.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k2: v2\n")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["data"], {"k2": "v2"})

    def test_apply_conflict_and_force(self) -> None:
        """
        Applying a field another manager set is 409 naming it, unless forced.
        """
        self.apply('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}')
        code, body, _ = self.apply('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"other"}}', manager="other")
        self.assertEqual(code, 409, body)
        self.assertEqual(body["reason"], "Conflict")
        self.assertEqual(body["message"], 'Apply failed with 1 conflict: conflict with "kubectl": .data.k')
        code, body, _ = self.apply('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"other"}}', manager="other", force=True)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["data"]["k"], "other")
        # forcing takes only the conflicting field: the first manager keeps the (now empty) map
        managers = [(e["manager"], e["fieldsV1"]) for e in body["metadata"]["managedFields"]]
        self.assertEqual(managers, [("kubectl", {"f:data": {}}), ("other", {"f:data": {".": {}, "f:k": {}}})])

    def test_apply_requires_field_manager(self) -> None:
        """
        Apply without a fieldManager is 422.
        """
        code, body, _ = self.api.request("PATCH", CMS + "/a", raw=b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}', content_type=APPLY)
        self.assertEqual(code, 422)

    def test_apply_refuses_what_kube_refuses(self) -> None:
        """
        Another version, managedFields in the configuration, or a field the schema does not declare
        are refused as kube refuses them.
        """
        code, body, _ = self.apply('{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"a"}}')
        self.assertEqual((code, body["reason"], body["message"]), (400, "BadRequest", (
            "Incorrect version specified in apply patch. Specified patch version: v2, expected: v1")))
        code, body, _ = self.apply('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","managedFields":[]}}')
        self.assertEqual((code, body["message"]), (400, "metadata.managedFields must be nil"))
        code, body, _ = self.apply('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"dataa":{}}')
        self.assertEqual((code, "reason" in body, body["message"]), (500, False, (
            "failed to create typed patch object (/a; /v1, Kind=ConfigMap): .dataa: field not declared in schema")))


class SubresourceTests(SynchronousTestCase):
    """
    status and scale.
    """

    def setUp(self) -> None:
        self.api = API(self)
        _, self.dep, _ = self.api.post(DEPLOYS, deployment("web", 2))

    def test_main_resource_ignores_status(self) -> None:
        """
        Status in a PUT of the main resource is ignored; the status subresource changes only status.
        """
        new = dict(self.dep, status={"replicas": 5})
        code, body, _ = self.api.put(DEPLOYS + "/web", new)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"], {})
        new = dict(body, status={"replicas": 5})
        new["spec"] = dict(new["spec"], replicas=9)
        code, body, _ = self.api.put(DEPLOYS + "/web/status", new)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"], {"replicas": 5})
        self.assertEqual(body["spec"]["replicas"], 2)

    def test_scale(self) -> None:
        """
        GET scale answers an autoscaling/v1 Scale; a merge patch of it changes spec.replicas.
        """
        code, body, _ = self.api.get(DEPLOYS + "/web/scale")
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "Scale")
        self.assertEqual(body["apiVersion"], "autoscaling/v1")
        self.assertEqual(body["spec"], {"replicas": 2})
        self.assertEqual(body["status"], {"replicas": 0, "selector": "app=web"})
        code, body, _ = self.api.patch(DEPLOYS + "/web/scale", {"spec": {"replicas": 3}}, MERGE)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["spec"]["replicas"], 3)
        _, dep, _ = self.api.get(DEPLOYS + "/web")
        self.assertEqual(dep["spec"]["replicas"], 3)

    def test_scale_put_stale_conflicts(self) -> None:
        """
        A Scale PUT with an old resourceVersion is 409.
        """
        _, scale, _ = self.api.get(DEPLOYS + "/web/scale")
        self.api.patch(DEPLOYS + "/web", {"metadata": {"labels": {"a": "b"}}}, MERGE)
        scale["spec"]["replicas"] = 4
        code, body, _ = self.api.put(DEPLOYS + "/web/scale", scale)
        self.assertEqual(code, 409)
        self.assertEqual(body["details"]["group"], "apps")


class DeletionTests(SynchronousTestCase):
    """
    Graceful pod deletion, propagation policies, preconditions, namespaces.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def pod(self, name: str, node: str = "") -> dict:
        spec = {"containers": [{"name": "c", "image": "busybox"}]}
        if node:
            spec["nodeName"] = node
        code, body, _ = self.api.post(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
        assert code == 201, body
        return body

    def test_unscheduled_pod_goes_at_once_and_is_returned(self) -> None:
        """
        A pod without a node is deleted at once; DELETE answers the pod itself.
        """
        self.pod("p")
        code, body, _ = self.api.delete(PODS + "/p")
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "Pod")
        self.assertEqual(self.api.get(PODS + "/p")[0], 404)

    def test_scheduled_pod_graceful(self) -> None:
        """
        A scheduled pod gets deletionTimestamp + grace period and goes when it ends.
        """
        self.pod("p", node="n1")
        code, body, _ = self.api.delete(PODS + "/p", {"gracePeriodSeconds": 10})
        self.assertEqual(body["metadata"]["deletionGracePeriodSeconds"], 10)
        self.assertEqual(self.api.get(PODS + "/p")[0], 200)
        self.api.clock.advance(10)
        self.assertEqual(self.api.get(PODS + "/p")[0], 404)

    def test_foreground_adds_finalizer(self) -> None:
        """
        propagationPolicy=Foreground adds the foregroundDeletion finalizer.
        """
        self.api.post(CMS, cm("a"))
        code, body, _ = self.api.delete(CMS + "/a?propagationPolicy=Foreground")
        self.assertEqual(body["metadata"]["finalizers"], ["foregroundDeletion"])
        self.assertTrue(body["metadata"]["deletionTimestamp"])

    def test_precondition_uid(self) -> None:
        """
        A uid precondition that does not hold is 409.
        """
        self.api.post(CMS, cm("a"))
        code, body, _ = self.api.delete(CMS + "/a", {"preconditions": {"uid": "nope"}})
        self.assertEqual(code, 409)
        self.assertIn("Precondition failed: UID in precondition: nope", body["message"])

    def test_namespace_lifecycle(self) -> None:
        """
        Deleting a namespace makes it Terminating and creates in it are 403 (emptying and
        removing it is the namespace controller's: tests.controllers.test_namespace).
        """
        self.api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})
        self.api.post("/api/v1/namespaces/tmp/configmaps", cm("a"))
        self.api.post("/api/v1/namespaces/tmp/configmaps", cm("f", finalizers=["example.com/x"]))
        code, body, _ = self.api.delete("/api/v1/namespaces/tmp")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"]["phase"], "Terminating")
        code, body, _ = self.api.post("/api/v1/namespaces/tmp/configmaps", cm("b"))
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'configmaps "b" is forbidden: unable to create new content in namespace tmp because it is being terminated')

    def test_delete_collection(self) -> None:
        """
        DELETE on a collection deletes the selected objects.
        """
        self.api.post(CMS, cm("a", labels={"x": "1"}))
        self.api.post(CMS, cm("b"))
        code, body, _ = self.api.delete(CMS + "?labelSelector=x%3D1")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["kind"], "ConfigMapList")
        _, lst, _ = self.api.get(CMS)
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["b"])


class NamespaceFinalizeTests(SynchronousTestCase):
    """
    The namespace finalize subresource.
    """

    def test_finalize_changes_only_spec_finalizers(self) -> None:
        """
        PUT .../finalize sets spec.finalizers and nothing else.
        """
        api = API(self)
        _, ns, _ = api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
        self.assertEqual(ns["spec"], {"finalizers": ["kubernetes"]})
        ns["spec"] = {"finalizers": []}
        ns["metadata"]["labels"]["extra"] = "x"
        code, body, _ = api.put("/api/v1/namespaces/n/finalize", ns)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["spec"], {})
        self.assertNotIn("extra", body["metadata"]["labels"])


class PodActionTests(SynchronousTestCase):
    """
    Pod binding and eviction.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.api.post(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}})

    def test_binding(self) -> None:
        """
        A Binding assigns the node once; a second one is 409.
        """
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
        code, body, _ = self.api.post(PODS + "/p/binding", binding)
        self.assertEqual((code, body["status"], body["code"]), (201, "Success", 201))
        _, pod, _ = self.api.get(PODS + "/p")
        self.assertEqual(pod["spec"]["nodeName"], "n1")
        self.assertEqual(pod["status"]["conditions"][-1]["type"], "PodScheduled")
        code, body, _ = self.api.post(PODS + "/p/binding", binding)
        self.assertEqual(code, 409)
        self.assertEqual(body["message"], 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"')

    def test_eviction(self) -> None:
        """
        An Eviction deletes the pod.
        """
        ev = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "default"}}
        code, body, _ = self.api.post(PODS + "/p/eviction", ev)
        self.assertEqual(code, 201)
        self.assertEqual(self.api.get(PODS + "/p")[0], 404)


    def test_log_and_exec_without_a_node(self) -> None:
        """
        Logs of an unscheduled pod are empty; exec is kube's 400 "does not have a host assigned".
        """
        code, body, headers = self.api.get(PODS + "/p/log")
        self.assertEqual((code, body), (200, ""))
        code, body, _ = self.api.request("POST", PODS + "/p/exec?command=ls", content_type=None)
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], "pod p does not have a host assigned")
        code, body, _ = self.api.get(PODS + "/p/log?container=nope")
        self.assertEqual(body["message"], "container nope is not valid for pod p")


class ManagedFieldsTests(SynchronousTestCase):
    """
    managedFields on the main resource of a kind with a status subresource.
    """

    def test_status_not_owned_by_main_resource_writers(self) -> None:
        """
        A create of a Deployment records spec and metadata fields, not status.
        """
        api = API(self)
        code, body, _ = api.post(DEPLOYS + "?fieldManager=kubectl-create", deployment("web"))
        self.assertEqual(code, 201)
        entry = body["metadata"]["managedFields"][0]
        self.assertEqual(entry["manager"], "kubectl-create")
        self.assertNotIn("f:status", entry["fieldsV1"])
        self.assertIn("f:spec", entry["fieldsV1"])


    def test_noop_apply_and_update_write_nothing(self) -> None:
        """
        Applying the same configuration again, or a PUT that changes nothing, keeps the resourceVersion.
        """
        api = API(self)
        body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}'
        _, first, _ = api.request("PATCH", CMS + "/a?fieldManager=m", raw=body, content_type=APPLY)
        api.clock.advance(10)
        _, second, _ = api.request("PATCH", CMS + "/a?fieldManager=m", raw=body, content_type=APPLY)
        self.assertEqual(first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"])
        code, third, _ = api.put(CMS + "/a?fieldManager=x", second)
        self.assertEqual(code, 200, third)
        self.assertEqual(third["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"])


class RestartTests(SynchronousTestCase):
    """
    Deletions under way survive a restart of the link.
    """

    def test_terminating_namespace_and_graceful_pod_resume(self) -> None:
        """
        A new link over the same storage finishes a pod's grace period.
        """
        from kapid.endpoints.link import ResourceLink
        from kapid.server.link import NotFoundResource

        api = API(self)
        api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})
        api.post(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}})
        api.delete(PODS + "/p", {"gracePeriodSeconds": 20})
        api.delete("/api/v1/namespaces/tmp")
        # a restart: the old link's timers are lost, a new link takes over the same storage
        for call in api.clock.getDelayedCalls():
            call.cancel()
        api.link = ResourceLink(NotFoundResource(), api.registry, api.storage, api.clock)
        from treq.testing import StubTreq

        api.treq = StubTreq(api.link.resource())
        api.run(api.link.ensure_system_namespaces())
        api.clock.advance(1)
        self.assertEqual(api.get(PODS + "/p")[0], 200)
        api.clock.advance(20)
        self.assertEqual(api.get(PODS + "/p")[0], 404)
