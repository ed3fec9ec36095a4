"""
Tests for the verb handlers of L{kapid.endpoints.link.ResourceLink}: get, list, create, update and
delete with kube's Status errors, in memory.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.endpoints.helpers import API, cm

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


class CreateGetTests(SynchronousTestCase):
    """
    POST and GET.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def test_create_returns_201_with_system_fields(self) -> None:
        """
        A created ConfigMap comes back 201 with uid, resourceVersion, creationTimestamp, in Go's order.
        """
        code, body, headers = self.api.post(CMS, cm("a", {"k": "v"}))
        self.assertEqual(code, 201, body)
        self.assertEqual(list(body), ["kind", "apiVersion", "metadata", "data"])
        meta = body["metadata"]
        self.assertEqual(list(meta)[:6], ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "managedFields"][: len(list(meta)[:6])])
        self.assertEqual(meta["namespace"], "default")
        self.assertEqual(meta["creationTimestamp"], "2023-11-14T22:13:20Z")
        self.assertEqual(headers.getRawHeaders("content-type"), ["application/json"])
        code, got, _ = self.api.get(CMS + "/a")
        self.assertEqual(code, 200)
        self.assertEqual(got["data"], {"k": "v"})
        self.assertEqual(got["metadata"]["uid"], meta["uid"])

    def test_get_missing_is_404(self) -> None:
        """
        A missing object is kube's NotFound Status, group omitted for core.
        """
        code, body, _ = self.api.get(CMS + "/x")
        self.assertEqual(code, 404)
        self.assertEqual(
            body,
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": 'configmaps "x" not found', "reason": "NotFound",
             "details": {"name": "x", "kind": "configmaps"}, "code": 404},
        )

    def test_get_missing_deployment_names_group(self) -> None:
        """
        NotFound on a grouped resource names resource.group.
        """
        code, body, _ = self.api.get(DEPLOYS + "/x")
        self.assertEqual(code, 404)
        self.assertEqual(body["message"], 'deployments.apps "x" not found')
        self.assertEqual(body["details"], {"name": "x", "group": "apps", "kind": "deployments"})

    def test_already_exists(self) -> None:
        """
        Creating twice is 409 AlreadyExists.
        """
        self.api.post(CMS, cm("a"))
        code, body, _ = self.api.post(CMS, cm("a"))
        self.assertEqual(code, 409)
        self.assertEqual(body["reason"], "AlreadyExists")
        self.assertEqual(body["message"], 'configmaps "a" already exists')

    def test_invalid_name_is_422(self) -> None:
        """
        A bad name is 422 Invalid with kube's message and causes.
        """
        code, body, _ = self.api.post(CMS, cm("Bad_Name"))
        self.assertEqual(code, 422)
        self.assertTrue(body["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'), body["message"])
        self.assertEqual(body["details"]["causes"][0]["field"], "metadata.name")
        self.assertEqual(body["details"]["kind"], "ConfigMap")

    def test_missing_namespace_is_404(self) -> None:
        """
        Creating in a namespace that does not exist is 404 for the namespace.
        """
        code, body, _ = self.api.post("/api/v1/namespaces/ghost/configmaps", cm("a"))
        self.assertEqual(code, 404)
        self.assertEqual(body["message"], 'namespaces "ghost" not found')

    def test_namespace_mismatch_is_400(self) -> None:
        """
        A body naming another namespace than the URL is 400.
        """
        code, body, _ = self.api.post(CMS, cm("a", namespace="kube-system"))
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], "the namespace of the provided object does not match the namespace sent on the request")

    def test_generate_name(self) -> None:
        """
        generateName gets 5 random characters.
        """
        code, body, _ = self.api.post(CMS, {"metadata": {"generateName": "x-"}})
        self.assertEqual(code, 201, body)
        self.assertEqual(len(body["metadata"]["name"]), 7)
        self.assertTrue(body["metadata"]["name"].startswith("x-"))

    def test_missing_content_type_is_json(self) -> None:
        """
        A body without Content-Type is read as JSON.
        """
        code, body, _ = self.api.post(CMS, cm("a"), content_type=None)
        self.assertEqual(code, 201, body)

    def test_unsupported_media_type(self) -> None:
        """
        A body in an unknown format is 415.
        """
        code, body, _ = self.api.post(CMS, cm("a"), content_type="text/plain")
        self.assertEqual(code, 415)
        self.assertEqual(body["reason"], "UnsupportedMediaType")

    def test_body_too_large(self) -> None:
        """
        Bodies over 3 MiB are 413.
        """
        code, body, _ = self.api.post(CMS, cm("a", {"k": "x" * (3 * 1024 * 1024)}))
        self.assertEqual(code, 413)
        self.assertEqual(body["reason"], "RequestEntityTooLarge")

    def test_yaml_in_and_out(self) -> None:
        """
        YAML bodies are read, and YAML is answered when asked.
        """
        code, body, _ = self.api.request(
            "POST", CMS, raw=b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: b\n",
            content_type="application/yaml", headers={"Accept": "application/yaml"},
        )
        self.assertEqual(code, 201)
        self.assertIn("name: y", body)

    def test_not_acceptable(self) -> None:
        """
        An Accept the server cannot produce is 406.
        """
        code, body, _ = self.api.get(CMS, headers={"Accept": "text/html"})
        self.assertEqual(code, 406)
        self.assertEqual(body["reason"], "NotAcceptable")

    def test_unknown_resource_falls_through(self) -> None:
        """
        A resource the registry does not have goes to the next link (404 path not found).
        """
        code, body, _ = self.api.get("/api/v1/namespaces/default/nosuch")
        self.assertEqual(code, 404)
        self.assertEqual(body["message"], "the server could not find the requested resource")

    def test_strict_unknown_field(self) -> None:
        """
        fieldValidation=Strict rejects unknown fields with kube's message.
        """
        body = cm("a")
        body["bogus"] = 1
        code, out, _ = self.api.post(CMS + "?fieldValidation=Strict", body)
        self.assertEqual(code, 400)
        self.assertEqual(out["message"], 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"')

    def test_warn_unknown_field(self) -> None:
        """
        fieldValidation=Warn (the default) answers with a Warning header and drops the field.
        """
        body = cm("a")
        body["bogus"] = 1
        code, out, headers = self.api.post(CMS, body)
        self.assertEqual(code, 201)
        self.assertNotIn("bogus", out)
        self.assertEqual(headers.getRawHeaders("warning"), ['299 - "unknown field \\"bogus\\""'])


class ListTests(SynchronousTestCase):
    """
    Lists.
    """

    def setUp(self) -> None:
        self.api = API(self)
        for n in ("a", "b", "c"):
            self.api.post(CMS, cm(n, labels={"app": n}))

    def test_list(self) -> None:
        """
        A list has kind, apiVersion, metadata.resourceVersion and typed items without kind.
        """
        code, body, _ = self.api.get(CMS)
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "ConfigMapList")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["a", "b", "c"])
        self.assertNotIn("kind", body["items"][0])
        self.assertTrue(body["metadata"]["resourceVersion"])

    def test_label_selector(self) -> None:
        """
        labelSelector filters.
        """
        code, body, _ = self.api.get(CMS + "?labelSelector=app%20in%20(a,c)")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["a", "c"])
        code, body, _ = self.api.get(CMS + "?labelSelector=app!%3Db")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["a", "c"])

    def test_field_selector(self) -> None:
        """
        fieldSelector on metadata.name works; unknown fields are 400.
        """
        code, body, _ = self.api.get(CMS + "?fieldSelector=metadata.name%3Db")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["b"])
        code, body, _ = self.api.get(CMS + "?fieldSelector=spec.x%3Db")
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], "field label not supported: spec.x")

    def test_pagination(self) -> None:
        """
        limit and continue page through the list.
        """
        code, body, _ = self.api.get(CMS + "?limit=2")
        self.assertEqual(len(body["items"]), 2)
        token = body["metadata"]["continue"]
        self.assertEqual(body["metadata"]["remainingItemCount"], 1)
        code, body, _ = self.api.get(CMS + "?limit=2&continue=" + token)
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["c"])

    def test_all_namespaces(self) -> None:
        """
        /api/v1/configmaps lists every namespace.
        """
        code, body, _ = self.api.get("/api/v1/configmaps")
        self.assertEqual(code, 200)
        self.assertEqual(len(body["items"]), 3)

    def test_table(self) -> None:
        """
        as=Table answers a Table with the resource's columns and PartialObjectMetadata rows.
        """
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        code, body, headers = self.api.get(CMS, headers={"Accept": accept})
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "Table")
        self.assertEqual([c["name"] for c in body["columnDefinitions"]], ["Name", "Data", "Age"])
        self.assertEqual(body["rows"][0]["cells"], ["a", 0, "0s"])
        self.assertEqual(body["rows"][0]["object"]["kind"], "PartialObjectMetadata")

    def test_partial_object_metadata_list(self) -> None:
        """
        as=PartialObjectMetadataList answers metadata only.
        """
        accept = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
        code, body, _ = self.api.get(CMS, headers={"Accept": accept})
        self.assertEqual(body["kind"], "PartialObjectMetadataList")
        self.assertEqual(body["items"][0]["metadata"]["name"], "a")


class UpdateDeleteTests(SynchronousTestCase):
    """
    PUT and DELETE.
    """

    def setUp(self) -> None:
        self.api = API(self)
        _, self.obj, _ = self.api.post(CMS, cm("a", {"k": "v"}))

    def test_update(self) -> None:
        """
        PUT replaces the object and bumps resourceVersion.
        """
        new = dict(self.obj, data={"k": "w"})
        code, body, _ = self.api.put(CMS + "/a", new)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["data"], {"k": "w"})
        self.assertNotEqual(body["metadata"]["resourceVersion"], self.obj["metadata"]["resourceVersion"])

    def test_stale_update_conflicts(self) -> None:
        """
        A PUT with an old resourceVersion is 409 with the optimistic-lock message.
        """
        self.api.put(CMS + "/a", dict(self.obj, data={"k": "w"}))
        code, body, _ = self.api.put(CMS + "/a", dict(self.obj, data={"k": "x"}))
        self.assertEqual(code, 409)
        self.assertEqual(
            body["message"],
            'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again',
        )

    def test_update_missing_is_404(self) -> None:
        """
        PUT of a missing ConfigMap is 404 (no create on update).
        """
        code, body, _ = self.api.put(CMS + "/zz", cm("zz"))
        self.assertEqual(code, 404)

    def test_update_name_mismatch(self) -> None:
        """
        A body naming another object is 400.
        """
        code, body, _ = self.api.put(CMS + "/a", cm("b"))
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], "the name of the object (b) does not match the name on the URL (a)")

    def test_delete_returns_success_status(self) -> None:
        """
        Deleting a ConfigMap answers a Success Status with details.
        """
        code, body, _ = self.api.delete(CMS + "/a")
        self.assertEqual(code, 200)
        self.assertEqual(body["status"], "Success")
        self.assertEqual(body["details"]["name"], "a")
        self.assertEqual(body["details"]["kind"], "configmaps")
        code, _, _ = self.api.get(CMS + "/a")
        self.assertEqual(code, 404)

    def test_delete_with_finalizer_keeps_object(self) -> None:
        """
        An object with finalizers gets a deletionTimestamp and stays until they are removed.
        """
        self.api.post(CMS, cm("f", finalizers=["example.com/x"]))
        code, body, _ = self.api.delete(CMS + "/f")
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "ConfigMap")
        self.assertTrue(body["metadata"]["deletionTimestamp"])
        body["metadata"]["finalizers"] = []
        code, body, _ = self.api.put(CMS + "/f", body)
        self.assertEqual(code, 200, body)
        code, _, _ = self.api.get(CMS + "/f")
        self.assertEqual(code, 404)

    def test_delete_dry_run(self) -> None:
        """
        dryRun=All deletes nothing.
        """
        code, body, _ = self.api.delete(CMS + "/a?dryRun=All")
        self.assertEqual(code, 200)
        code, _, _ = self.api.get(CMS + "/a")
        self.assertEqual(code, 200)

    def test_immortal_namespace(self) -> None:
        """
        default cannot be deleted.
        """
        code, body, _ = self.api.delete("/api/v1/namespaces/default")
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'namespaces "default" is forbidden: this namespace may not be deleted')


class QueryValidationTests(SynchronousTestCase):
    """
    Invalid query parameters.
    """

    def test_resource_version_match_without_resource_version(self) -> None:
        """
        resourceVersionMatch without resourceVersion is kube's 422 on ListOptions.
        """
        api = API(self)
        code, body, _ = api.get(CMS + "?resourceVersionMatch=NotOlderThan")
        self.assertEqual(code, 422)
        self.assertEqual(
            body["message"],
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
        )

    def test_create_with_resource_version(self) -> None:
        """
        A create naming a resourceVersion is kube's 500 without a reason.
        """
        api = API(self)
        code, body, _ = api.post(CMS, cm("a", resourceVersion="5"))
        self.assertEqual(code, 500)
        self.assertEqual(body, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "resourceVersion should not be set on objects to be created", "code": 500})


class DuplicateFieldTests(SynchronousTestCase):
    """
    Duplicate fields in JSON bodies.
    """

    def test_strict_duplicate_field(self) -> None:
        """
        fieldValidation=Strict rejects a repeated key with its path.
        """
        api = API(self)
        raw = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"a":"1","a":"2"}}'
        code, body, _ = api.request("POST", CMS + "?fieldValidation=Strict", raw=raw)
        self.assertEqual(code, 400)
        self.assertEqual(body["message"], 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data.a"')


class EventTableTests(SynchronousTestCase):
    """
    The Event table and its field selectors.
    """

    def test_event_columns_and_selectors(self) -> None:
        """
        Events print LAST SEEN first (an age on the server's clock) and Name last (wide only), and
        list by involvedObject.* field selectors.
        """
        api = API(self)
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
              "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
              "reason": "Tested", "message": "hi", "type": "Normal", "count": 1,
              "firstTimestamp": "2023-11-14T22:13:20Z", "lastTimestamp": "2023-11-14T22:13:20Z"}
        code, body, _ = api.post("/api/v1/namespaces/default/events", ev)
        self.assertEqual(code, 201, body)
        api.clock.advance(65)
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
        _, table, _ = api.get("/api/v1/namespaces/default/events", headers={"Accept": accept})
        names = [c["name"] for c in table["columnDefinitions"]]
        self.assertEqual(names[0], "Last Seen")
        self.assertEqual(names[-1], "Name")
        self.assertEqual(table["rows"][0]["cells"][:4], ["65s", "Normal", "Tested", "pod/p"])
        _, lst, _ = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dp,involvedObject.kind%3DPod")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["e1"])


class SecretTests(SynchronousTestCase):
    """
    Secrets.
    """

    def test_string_data_goes_into_data(self) -> None:
        """
        stringData is base64-encoded into data and not stored.
        """
        api = API(self)
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "y"}}
        code, out, _ = api.post("/api/v1/namespaces/default/secrets", body)
        self.assertEqual(code, 201, out)
        self.assertEqual(out["data"], {"a": "eA==", "b": "eQ=="})
        self.assertNotIn("stringData", out)
        self.assertEqual(out["type"], "Opaque")


class ComputedResourceTests(SynchronousTestCase):
    """
    Create-only resources whose answer is computed (reviews).
    """

    def test_compute_create(self) -> None:
        """
        A strategy with compute_create answers 201 with its result and stores nothing.
        """
        from kapid.registry.description import Resource, Version

        class Echo:
            def compute_create(self, obj, user):  # type: ignore[no-untyped-def]
                return dict(obj, status={"seen": True, "user": user})

        api = API(self)
        api.registry.add(Resource(
            group="example.com", kind="Review", plural="reviews", singular="review",
            versions=(Version("v1", None, storage=True),), namespaced=False, verbs=("create",),
            strategy=Echo(),
        ))
        code, body, _ = api.post("/apis/example.com/v1/reviews", {"apiVersion": "example.com/v1", "kind": "Review", "spec": {}})
        self.assertEqual(code, 201, body)
        self.assertEqual(body["status"], {"seen": True, "user": None})
        code, body, _ = api.get("/apis/example.com/v1/reviews")
        self.assertEqual(code, 405)


class ServiceAllocationTests(SynchronousTestCase):
    """
    The Store runs a strategy's write hooks (Service IP allocation).
    """

    def test_cluster_ip_allocated_and_released(self) -> None:
        """
        A created Service gets a cluster IP; a dry run takes none; deleting releases it for reuse.
        """
        from kapid.registry.allocator import ServiceAllocator
        from kapid.registry.services import install_service_allocation

        api = API(self)
        install_service_allocation(api.registry, ServiceAllocator(api.storage, "10.0.0.0/29", "30000-30010"))
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}}
        code, dry, _ = api.post("/api/v1/namespaces/default/services?dryRun=All", svc)
        self.assertEqual(code, 201, dry)
        code, out, _ = api.post("/api/v1/namespaces/default/services", svc)
        self.assertEqual(code, 201, out)
        ip = out["spec"]["clusterIP"]
        self.assertTrue(ip.startswith("10.0.0."), ip)
        code, body, _ = api.delete("/api/v1/namespaces/default/services/s")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["kind"], "Service")


class ProxyTests(SynchronousTestCase):
    """
    Proxy subresources.
    """

    def test_service_proxy_is_503(self) -> None:
        """
        GET services/<name>/proxy answers kube's 404 for a Service without an Endpoints object (the
        Endpoints' NotFound) and 503 for one whose Endpoints have no addresses.
        """
        api = API(self)
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
        api.post("/api/v1/namespaces/default/services", svc)
        code, body, _ = api.get("/api/v1/namespaces/default/services/s/proxy")
        self.assertEqual((code, body["message"]), (404, 'endpoints "s" not found'))
        api.post("/api/v1/namespaces/default/endpoints", {"metadata": {"name": "s"}})
        code, body, _ = api.get("/api/v1/namespaces/default/services/s/proxy")
        self.assertEqual(code, 503)
        self.assertEqual(body["message"], 'no endpoints available for service "s"')
        code, body, _ = api.get("/api/v1/namespaces/default/services/nope/proxy")
        self.assertEqual(code, 404)


class OptionsValidationTests(SynchronousTestCase):
    """
    Invalid write options are kube's 422 on the options kind.
    """

    def test_bad_dry_run_and_field_validation(self) -> None:
        """
        dryRun other than All and unknown fieldValidation values are 422 on CreateOptions.
        """
        api = API(self)
        code, body, _ = api.post(CMS + "?dryRun=Yes", cm("a"))
        self.assertEqual(code, 422)
        self.assertEqual(body["message"], 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Yes"}: supported values: "All"')
        code, body, _ = api.post(CMS + "?fieldValidation=Loud", cm("a"))
        self.assertEqual(code, 422)
        self.assertIn('fieldValidation: Unsupported value: "Loud"', body["message"])


class OutputFormTests(SynchronousTestCase):
    """
    Response forms.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.api.post(CMS, cm("a", {"k": "v"}))

    def test_include_object(self) -> None:
        """
        includeObject=Object puts the full object in Table rows; None leaves it out.
        """
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
        _, t, _ = self.api.get(CMS + "?includeObject=Object", headers={"Accept": accept})
        self.assertEqual(t["rows"][0]["object"]["kind"], "ConfigMap")
        self.assertEqual(t["rows"][0]["object"]["data"], {"k": "v"})
        _, t, _ = self.api.get(CMS + "?includeObject=None", headers={"Accept": accept})
        self.assertNotIn("object", t["rows"][0])

    def test_single_object_forms(self) -> None:
        """
        One object as a one-row Table (v1beta1 too) or as PartialObjectMetadata.
        """
        accept = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
        code, t, headers = self.api.get(CMS + "/a", headers={"Accept": accept})
        self.assertEqual((code, t["kind"], t["apiVersion"]), (200, "Table", "meta.k8s.io/v1beta1"))
        self.assertEqual(headers.getRawHeaders("content-type"), ["application/json;as=Table;g=meta.k8s.io;v=v1beta1"])
        self.assertEqual(t["metadata"]["resourceVersion"], t["rows"][0]["object"]["metadata"]["resourceVersion"])
        accept = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
        _, p, _ = self.api.get(CMS + "/a", headers={"Accept": accept})
        self.assertEqual(list(p), ["kind", "apiVersion", "metadata"])
        self.assertEqual(p["kind"], "PartialObjectMetadata")

    def test_pretty(self) -> None:
        """
        pretty=true indents the JSON.
        """
        d = self.api.treq.get("http://kapid" + CMS + "/a?pretty=true")
        self.api.treq.flush()
        raw = self.successResultOf(d)
        body = self.successResultOf(raw.content())
        self.assertTrue(body.startswith(b'{\n  "kind": "ConfigMap"'), body[:40])
        self.assertTrue(body.endswith(b"}\n"))
