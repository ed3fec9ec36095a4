"""
CustomResourceDefinitions end to end with the official C{kubernetes} Python client
(C{ApiextensionsV1Api}, C{CustomObjectsApi}) against real C{twistd kapid} processes: on the embedded
store (namespaced and cluster-scoped kinds, status and scale subresources, watch, every patch type,
errors), two processes on one real etcd (a CRD created through one is served by the other, objects
written through either are read through both), and C{--crd-dir} (kinds served as soon as kapid is
ready; a bad file stops the start naming it).

The client is blocking: each session runs in a thread (L{deferToThread}) while kapid runs in its
own process. Every wait is bounded: watches have C{timeout_seconds}, polls a deadline.
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from typing import Any, Callable

import yaml
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from kapid.testing.etcd import shared_etcd
from kapid.testing.process import KapidProcess, KapidStartError
from tests.e2e.helpers import start_kapid

GROUP = "stable.example.com"

#: A namespaced kind with status and scale subresources, a map list and a default.
WIDGETS: dict = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {
                "status": {},
                "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                          "labelSelectorPath": ".status.selector"},
            },
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "color": {"type": "string", "enum": ["red", "green", "blue"]},
                            "replicas": {"type": "integer", "minimum": 0},
                            "size": {"type": "string", "default": "medium"},
                            "ports": {
                                "type": "array",
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["name"],
                                "items": {"type": "object", "required": ["name"], "properties": {
                                    "name": {"type": "string"}, "port": {"type": "integer"}}},
                            },
                        },
                    },
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"}, "selector": {"type": "string"}}},
                },
            }},
        }],
    },
}

#: A cluster-scoped kind with two served versions (v1 stored).
GADGETS: dict = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "Gadget", "plural": "gadgets"},
        "scope": "Cluster",
        "versions": [
            {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
             "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                 "spec": {"type": "object", "properties": {"model": {"type": "string"}}},
                 "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}},
            {"name": "v1beta1", "served": True, "storage": False,
             "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                 "spec": {"type": "object", "properties": {"model": {"type": "string"}}},
                 "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}},
        ],
    },
}


def widget(name: str, **spec: Any) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def _client(url: str) -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = url
    return client.ApiClient(cfg)


def _error(call: Callable[[], Any]) -> tuple[int, dict]:
    """
    The status code and decoded C{Status} body of a call that must fail.
    """
    try:
        call()
    except ApiException as e:
        return e.status, json.loads(e.body)
    raise AssertionError("the call succeeded")


def _conditions(crd: Any) -> dict[str, str]:
    return {c.type: c.status for c in (crd.status.conditions or [])}


def wait_established(ext: client.ApiextensionsV1Api, name: str, timeout: int = 20) -> None:
    """
    Watch the CRD C{name} (bounded by C{timeout}) until it is C{Established}.
    """
    w = watch.Watch()
    for event in w.stream(ext.list_custom_resource_definition, field_selector=f"metadata.name={name}",
                          timeout_seconds=timeout):
        if _conditions(event["object"]).get("Established") == "True":
            w.stop()
            return
    raise AssertionError(f"{name} was not established within {timeout}s")


def poll(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """
    Call C{check} until it returns something true, backing off from 10 ms to 200 ms, at most
    C{timeout} seconds (blocking: for session threads).
    """
    deadline = time.monotonic() + timeout
    step = 0.01
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)
        step = min(step * 1.5, 0.2)


def _raw_status(api: client.ApiClient, path: str) -> int:
    """
    The status code of a GET of C{path}.
    """
    response = api.call_api(*api.param_serialize("GET", path))
    response.read()
    return int(response.status)


def embedded_session(url: str) -> dict:
    """
    The whole client session against one kapid (blocking; run in a thread). Returns what the
    test checks.
    """
    api = _client(url)
    ext = client.ApiextensionsV1Api(api)
    co = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    out: dict = {}
    ns = "py-crd"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    # -- the CRDs
    created = ext.create_custom_resource_definition(copy.deepcopy(WIDGETS))
    out["crd_created"] = (created.metadata.name, created.spec.names.list_kind, created.spec.names.singular,
                          created.status.stored_versions)
    ext.create_custom_resource_definition(copy.deepcopy(GADGETS))
    wait_established(ext, f"widgets.{GROUP}")
    wait_established(ext, f"gadgets.{GROUP}")
    crd = ext.read_custom_resource_definition(f"widgets.{GROUP}")
    out["conditions"] = _conditions(crd)
    out["accepted"] = (crd.status.accepted_names.kind, crd.status.accepted_names.plural,
                       crd.status.accepted_names.short_names)
    out["resources"] = sorted(
        (r.name, r.namespaced, r.kind) for r in co.get_api_resources(GROUP, "v1").resources
    )
    out["crd_list"] = sorted(c.metadata.name for c in ext.list_custom_resource_definition().items)

    # -- namespaced CRUD, defaults, errors
    w = co.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w1", color="red", replicas=1))
    out["defaulted"] = w["spec"]
    out["exists"] = _error(lambda: co.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w1")))
    out["missing"] = _error(lambda: co.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "ghost"))
    out["invalid"] = _error(lambda: co.create_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", widget("bad", color="purple", replicas=-2)))
    out["unknown_version"] = _error(lambda: co.list_namespaced_custom_object(GROUP, "v9", ns, "widgets"))
    out["strict"] = _error(lambda: co.create_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", widget("typo", colour="red"), field_validation="Strict"))
    # unknown fields without fieldValidation (kube's default: Warn) are pruned with a Warning each
    data, code, headers = co.create_namespaced_custom_object_with_http_info(
        GROUP, "v1", ns, "widgets", widget("warned", color="red", colour="red", extra={"a": 1}))
    out["warn"] = (code, headers.get("Warning"), data["spec"])
    co.delete_namespaced_custom_object(GROUP, "v1", ns, "widgets", "warned")
    rv = co.list_namespaced_custom_object(GROUP, "v1", ns, "widgets")["metadata"]["resourceVersion"]
    got = co.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1")
    got["spec"]["color"] = "green"
    out["replaced"] = co.replace_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1", got)["spec"]
    out["stale"] = _error(lambda: co.replace_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1", got))[0]

    # -- patch types: merge (the client's default), JSON, apply; strategic merge is 415
    out["merge"] = co.patch_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", "w1", {"spec": {"ports": [{"name": "http", "port": 80}]}})["spec"]
    out["json"] = co.patch_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", "w1", [{"op": "replace", "path": "/spec/size", "value": "large"}],
        _content_type="application/json-patch+json")["spec"]
    applied = co.patch_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", "w1",
        {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w1"},
         "spec": {"ports": [{"name": "https", "port": 443}]}},
        field_manager="py-apply", _content_type="application/apply-patch+yaml")
    out["apply"] = applied["spec"]
    out["apply_managers"] = sorted(e["manager"] for e in applied["metadata"]["managedFields"])
    out["apply_conflict"] = _error(lambda: co.patch_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", "w1",
        {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"color": "blue"}},
        field_manager="py-apply", _content_type="application/apply-patch+yaml"))
    out["strategic"] = _error(lambda: co.patch_namespaced_custom_object(
        GROUP, "v1", ns, "widgets", "w1", {"spec": {"replicas": 2}},
        _content_type="application/strategic-merge-patch+json"))

    # -- status and scale subresources
    before = co.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1")
    status = co.patch_namespaced_custom_object_status(
        GROUP, "v1", ns, "widgets", "w1", {"status": {"replicas": 1, "selector": "app=w1"}, "spec": {"replicas": 7}})
    out["status_write"] = (status["status"], status["spec"]["replicas"],
                           status["metadata"]["generation"] - before["metadata"]["generation"])
    out["status_read"] = co.get_namespaced_custom_object_status(GROUP, "v1", ns, "widgets", "w1")["status"]
    main = co.patch_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1", {"status": {"replicas": 9}})
    out["status_via_main"] = main["status"]
    scale = co.get_namespaced_custom_object_scale(GROUP, "v1", ns, "widgets", "w1")
    out["scale"] = (scale["apiVersion"], scale["kind"], scale["spec"], scale["status"])
    co.patch_namespaced_custom_object_scale(GROUP, "v1", ns, "widgets", "w1", {"spec": {"replicas": 5}})
    out["scaled"] = co.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1")["spec"]["replicas"]

    # -- watch from the list's resourceVersion: every change in order
    co.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w2", color="blue"))
    co.delete_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w2")
    out["watch"] = []
    w = watch.Watch()
    for e in w.stream(co.list_namespaced_custom_object, GROUP, "v1", ns, "widgets", resource_version=rv,
                      timeout_seconds=10):
        out["watch"].append((e["type"], e["object"]["metadata"]["name"]))
        if e["type"] == "DELETED":
            w.stop()

    # -- label selectors, pagination, delete collection
    for i in range(3):
        co.create_namespaced_custom_object(GROUP, "v1", ns, "widgets",
                                           dict(widget(f"p{i}"), metadata={"name": f"p{i}", "labels": {"page": "y"}}))
    names, token = [], None
    while True:
        page = co.list_namespaced_custom_object(GROUP, "v1", ns, "widgets", label_selector="page=y", limit=2,
                                                _continue=token)
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    out["pages"] = names
    co.delete_collection_namespaced_custom_object(GROUP, "v1", ns, "widgets", label_selector="page=y")
    out["after_collection"] = [i["metadata"]["name"] for i in
                               co.list_namespaced_custom_object(GROUP, "v1", ns, "widgets")["items"]]

    # -- cluster scope, two versions
    g = co.create_cluster_custom_object(GROUP, "v1", "gadgets", {"apiVersion": f"{GROUP}/v1", "kind": "Gadget",
                                                                "metadata": {"name": "g1"}, "spec": {"model": "x"}})
    out["gadget_ns"] = g["metadata"].get("namespace")
    beta = co.get_cluster_custom_object(GROUP, "v1beta1", "gadgets", "g1")
    out["gadget_beta"] = (beta["apiVersion"], beta["spec"])
    co.patch_cluster_custom_object_status(GROUP, "v1", "gadgets", "g1", {"status": {"ready": True}})
    out["gadget_status"] = co.get_cluster_custom_object_status(GROUP, "v1", "gadgets", "g1")["status"]
    out["gadget_list"] = [i["metadata"]["name"] for i in co.list_cluster_custom_object(GROUP, "v1", "gadgets")["items"]]
    out["gadget_delete"] = co.delete_cluster_custom_object(GROUP, "v1", "gadgets", "g1")["status"]

    # -- deleting the CRD takes its objects, then its API
    ext.delete_custom_resource_definition(f"widgets.{GROUP}")
    poll("widgets to be gone", lambda: _raw_status(api, f"/apis/{GROUP}/v1/namespaces/{ns}/widgets") == 404)
    out["crd_gone"] = _error(lambda: ext.read_custom_resource_definition(f"widgets.{GROUP}"))[0]
    out["resources_after"] = sorted(r.name for r in co.get_api_resources(GROUP, "v1").resources)
    ext.create_custom_resource_definition(copy.deepcopy(WIDGETS))
    wait_established(ext, f"widgets.{GROUP}")
    out["recreated_items"] = co.list_namespaced_custom_object(GROUP, "v1", ns, "widgets")["items"]
    return out


def two_process_session(url_a: str, url_b: str) -> dict:
    """
    A CRD created through kapid A, served by kapid B; objects written through either, read through
    both; a schema change and the deletion through one seen by the other.
    """
    a, b = _client(url_a), _client(url_b)
    ext_a, ext_b = client.ApiextensionsV1Api(a), client.ApiextensionsV1Api(b)
    co_a, co_b = client.CustomObjectsApi(a), client.CustomObjectsApi(b)
    out: dict = {}
    ext_a.create_custom_resource_definition(copy.deepcopy(WIDGETS))
    # B learns of it through its own watch of CRDs: its discovery serves the group version
    poll("B to serve widgets", lambda: _raw_status(b, f"/apis/{GROUP}/v1") == 200)
    wait_established(ext_b, f"widgets.{GROUP}")
    out["b_resources"] = sorted(r.name for r in co_b.get_api_resources(GROUP, "v1").resources)
    co_a.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("from-a", color="red"))
    out["a_via_b"] = co_b.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "from-a")["spec"]
    co_b.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("from-b", color="blue"))
    out["list_via_a"] = [i["metadata"]["name"] for i in
                         co_a.list_namespaced_custom_object(GROUP, "v1", "default", "widgets")["items"]]
    # a watch through B sees a change made through A
    rv = co_b.list_namespaced_custom_object(GROUP, "v1", "default", "widgets")["metadata"]["resourceVersion"]
    co_a.patch_namespaced_custom_object(GROUP, "v1", "default", "widgets", "from-a", {"spec": {"color": "green"}})
    seen = []
    w = watch.Watch()
    for e in w.stream(co_b.list_namespaced_custom_object, GROUP, "v1", "default", "widgets",
                      resource_version=rv, timeout_seconds=10):
        seen.append((e["type"], e["object"]["metadata"]["name"], e["object"]["spec"]["color"]))
        w.stop()
    out["watch_b"] = seen
    # a schema change through A (a new enum value) is enforced by B once B has it
    crd = ext_a.read_custom_resource_definition(f"widgets.{GROUP}")
    body = a.sanitize_for_serialization(crd)
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["color"]["enum"].append(
        "yellow")
    ext_a.replace_custom_resource_definition(f"widgets.{GROUP}", body)

    def yellow_accepted() -> bool:
        try:
            co_b.create_namespaced_custom_object(GROUP, "v1", "default", "widgets", widget("yellow", color="yellow"))
        except ApiException as e:
            if e.status != 422:
                raise
            return False
        return True

    poll("B to accept the new enum value", yellow_accepted)
    out["yellow_via_a"] = co_a.get_namespaced_custom_object(GROUP, "v1", "default", "widgets", "yellow")["spec"]["color"]
    # deleted through B, A stops serving it
    ext_b.delete_custom_resource_definition(f"widgets.{GROUP}")
    poll("A to stop serving widgets", lambda: _raw_status(a, f"/apis/{GROUP}/v1") == 404)
    out["a_after_delete"] = _raw_status(a, f"/apis/{GROUP}/v1/namespaces/default/widgets")
    return out


class CRDPythonClientTests(TestCase):
    """
    The Python client on the embedded store.
    """

    timeout = 180

    async def test_session(self) -> None:
        """
        CRDs and custom objects through the client behave as against kube-apiserver.
        """
        kapid = await start_kapid(self)
        out = await deferToThread(embedded_session, kapid.insecure_url)
        self.assertEqual(out["crd_created"], (f"widgets.{GROUP}", "WidgetList", "widget", ["v1"]))
        self.assertEqual(out["conditions"], {"NamesAccepted": "True", "Established": "True"})
        self.assertEqual(out["accepted"], ("Widget", "widgets", ["wd"]))
        self.assertEqual(out["resources"], [
            ("gadgets", False, "Gadget"), ("gadgets/status", False, "Gadget"),
            ("widgets", True, "Widget"), ("widgets/scale", True, "Scale"), ("widgets/status", True, "Widget"),
        ])
        self.assertEqual(out["crd_list"], [f"gadgets.{GROUP}", f"widgets.{GROUP}"])
        self.assertEqual(out["defaulted"], {"color": "red", "replicas": 1, "size": "medium"})
        code, body = out["exists"]
        self.assertEqual((code, body["reason"], body["message"]),
                         (409, "AlreadyExists", f'widgets.{GROUP} "w1" already exists'))
        self.assertEqual(body["details"], {"name": "w1", "group": GROUP, "kind": "widgets"})
        code, body = out["missing"]
        self.assertEqual((code, body["reason"], body["message"]), (404, "NotFound", f'widgets.{GROUP} "ghost" not found'))
        code, body = out["invalid"]
        self.assertEqual((code, body["reason"], body["details"]["kind"], body["details"]["name"]),
                         (422, "Invalid", "Widget", "bad"))
        self.assertEqual(body["details"]["causes"], [
            {"reason": "FieldValueNotSupported", "message": 'Unsupported value: "purple": supported values: "red", "green", "blue"',
             "field": "spec.color"},
            {"reason": "FieldValueInvalid",
             "message": "Invalid value: -2: spec.replicas in body should be greater than or equal to 0",
             "field": "spec.replicas"},
            {"reason": "FieldValueInvalid", "message": "Invalid value: -2: should be a non-negative integer",
             "field": ".spec.replicas"},
        ])
        code, body = out["unknown_version"]
        self.assertEqual((code, body["reason"], body["message"]),
                         (404, "NotFound", "the server could not find the requested resource"))
        code, body = out["strict"]
        self.assertEqual((code, body["reason"], body["message"]), (
            400, "BadRequest",
            'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.colour"',
        ))
        self.assertEqual(out["warn"], (
            201, '299 - "unknown field \\"spec.colour\\"", 299 - "unknown field \\"spec.extra\\""',
            {"color": "red", "size": "medium"},
        ))
        self.assertEqual(out["replaced"], {"color": "green", "replicas": 1, "size": "medium"})
        self.assertEqual(out["stale"], 409)
        self.assertEqual(out["merge"]["ports"], [{"name": "http", "port": 80}])
        self.assertEqual(out["json"]["size"], "large")
        # apply merges the map list by key with the other manager's entry
        self.assertEqual(out["apply"]["ports"], [{"name": "http", "port": 80}, {"name": "https", "port": 443}])
        self.assertIn("py-apply", out["apply_managers"])
        code, body = out["apply_conflict"]
        self.assertEqual((code, body["reason"]), (409, "Conflict"))
        self.assertIn('.spec.color', body["message"])
        code, body = out["strategic"]
        self.assertEqual((code, body["reason"]), (415, "UnsupportedMediaType"))
        self.assertEqual(body["message"], (
            f"the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        ))
        # /status writes status only (no generation bump); the main resource ignores status
        self.assertEqual(out["status_write"], ({"replicas": 1, "selector": "app=w1"}, 1, 0))
        self.assertEqual(out["status_read"], {"replicas": 1, "selector": "app=w1"})
        self.assertEqual(out["status_via_main"], {"replicas": 1, "selector": "app=w1"})
        self.assertEqual(out["scale"], ("autoscaling/v1", "Scale", {"replicas": 1},
                                        {"replicas": 1, "selector": "app=w1"}))
        self.assertEqual(out["scaled"], 5)
        # replace, merge, JSON, apply, /status, /scale (the no-op main-resource status write is no event)
        self.assertEqual(out["watch"], [("MODIFIED", "w1")] * 6 + [("ADDED", "w2"), ("DELETED", "w2")])
        self.assertEqual(out["pages"], ["p0", "p1", "p2"])
        self.assertEqual(out["after_collection"], ["w1"])
        self.assertIsNone(out["gadget_ns"])
        self.assertEqual(out["gadget_beta"], (f"{GROUP}/v1beta1", {"model": "x"}))
        self.assertEqual(out["gadget_status"], {"ready": True})
        self.assertEqual(out["gadget_list"], ["g1"])
        self.assertEqual(out["gadget_delete"], "Success")
        self.assertEqual(out["crd_gone"], 404)
        self.assertEqual(out["resources_after"], ["gadgets", "gadgets/status"])
        self.assertEqual(out["recreated_items"], [])


class CRDTwoProcessesTests(TestCase):
    """
    Two kapid processes on one real etcd.
    """

    timeout = 180

    async def test_crd_served_by_both(self) -> None:
        """
        A CRD created through one process is served by the other without a restart; objects,
        watches, schema changes and the CRD's deletion cross between them.
        """
        etcd = await shared_etcd(__name__)
        prefix = "/kapid-crd-" + uuid.uuid4().hex[:8]
        a = await start_kapid(self, f"--etcd-servers={etcd.client_url}", f"--etcd-prefix={prefix}")
        b = await start_kapid(self, f"--etcd-servers={etcd.client_url}", f"--etcd-prefix={prefix}")
        out = await deferToThread(two_process_session, a.insecure_url, b.insecure_url)
        self.assertEqual(out["b_resources"], ["widgets", "widgets/scale", "widgets/status"])
        self.assertEqual(out["a_via_b"], {"color": "red", "size": "medium"})
        self.assertEqual(out["list_via_a"], ["from-a", "from-b"])
        self.assertEqual(out["watch_b"], [("MODIFIED", "from-a", "green")])
        self.assertEqual(out["yellow_via_a"], "yellow")
        self.assertEqual(out["a_after_delete"], 404)


class CRDDirectoryTests(TestCase):
    """
    C{--crd-dir}: CRDs installed before kapid reports ready.
    """

    timeout = 120

    def crd_dir(self, files: dict[str, str]) -> str:
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        for name, text in files.items():
            with open(os.path.join(path, name), "w") as f:
                f.write(text)
        return path

    async def test_served_when_ready(self) -> None:
        """
        Both CRDs of the directory (one YAML, one JSON) are established and served as soon as
        C{/readyz} is 200: no wait.
        """
        path = self.crd_dir({"widgets.yaml": yaml.safe_dump(WIDGETS), "gadgets.json": json.dumps(GADGETS)})
        kapid = await start_kapid(self, "--storage-backend=memory", f"--crd-dir={path}")

        def session() -> dict:
            api = _client(kapid.insecure_url)
            co = client.CustomObjectsApi(api)
            out = {"resources": sorted(r.name for r in co.get_api_resources(GROUP, "v1").resources)}
            out["widget"] = co.create_namespaced_custom_object(
                GROUP, "v1", "default", "widgets", widget("w", color="red"))["spec"]
            out["gadgets"] = co.list_cluster_custom_object(GROUP, "v1", "gadgets")["items"]
            crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
            out["established"] = sorted((c.metadata.name, _conditions(c).get("Established")) for c in crds)
            return out

        out = await deferToThread(session)
        self.assertEqual(out["resources"],
                         ["gadgets", "gadgets/status", "widgets", "widgets/scale", "widgets/status"])
        self.assertEqual(out["widget"], {"color": "red", "size": "medium"})
        self.assertEqual(out["gadgets"], [])
        self.assertEqual(out["established"], [(f"gadgets.{GROUP}", "True"), (f"widgets.{GROUP}", "True")])

    async def test_bad_file_stops_start(self) -> None:
        """
        A directory holding an invalid CRD: twistd exits 1 with an error naming the file and the
        problem, before anything listens.
        """
        bad = copy.deepcopy(GADGETS)
        bad["spec"]["group"] = "other.example.com"
        path = self.crd_dir({"widgets.yaml": yaml.safe_dump(WIDGETS), "bad.yaml": yaml.safe_dump(bad)})
        process = KapidProcess(self.mktemp(), ["--storage-backend=memory", f"--crd-dir={path}"])
        self.addCleanup(process.kill)
        with self.assertRaises(KapidStartError) as caught:
            await process.start()
        error = caught.exception
        self.assertEqual(error.returncode, 1, error.log[-2000:])
        self.assertIn(
            f"--crd-dir: {path}/bad.yaml: CustomResourceDefinition 'gadgets.{GROUP}': metadata.name: Invalid value: "
            f'"gadgets.{GROUP}": must be spec.names.plural+"."+spec.group',
            error.reason,
        )
        self.assertNotIn("widgets.yaml", error.reason)
        self.assertNotIn("Serving insecurely", error.log)
