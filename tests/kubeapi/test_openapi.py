"""Tests for kapid.kubeapi.openapi, in memory through the real web stack (StubTreq)."""

import orjson
from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from kapid.kubeapi.openapi import OpenAPILink, group_camel
from kapid.registry.builtin import builtin_registry
from kapid.registry.description import Resource, Version
from kapid.server.link import NotFoundResource


def supports_field_validation(doc, gvk):
    """kubectl's QueryParamVerifierV3: a PATCH op with the GVK declaring fieldValidation."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if not op:
            continue
        if op.get("x-kubernetes-group-version-kind") == gvk and any(
            p.get("name") == "fieldValidation" for p in op.get("parameters", [])
        ):
            return True
    return False


def explain(doc, group, version, plural, kind, field_path):
    """kubectl explain's lookup: find the GVK through paths, the schema by GVK, then walk fields."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    gvk = None
    for p in (f"{base}/{plural}", f"{base}/{plural}/{{name}}", f"{base}/namespaces/{{namespace}}/{plural}",
              f"{base}/namespaces/{{namespace}}/{plural}/{{name}}"):
        item = doc["paths"].get(p)
        if item:
            for verb in ("get", "post", "put", "patch", "delete"):
                if verb in item:
                    gvk = item[verb]["x-kubernetes-group-version-kind"]
                    break
        if gvk:
            break
    assert gvk == {"group": group, "version": version, "kind": kind}, gvk
    schemas = doc["components"]["schemas"]
    name = next(n for n, s in schemas.items() if gvk in s.get("x-kubernetes-group-version-kind", []))
    node = schemas[name]
    for f in field_path:
        node = node["properties"][f]
        while "$ref" in node or "allOf" in node:
            ref = node["$ref"] if "$ref" in node else node["allOf"][0]["$ref"]
            node = schemas[ref.rsplit("/", 1)[-1]]
    return node


class OpenAPITests(SynchronousTestCase):
    """OpenAPI v3 and v2 documents."""

    def setUp(self):
        self.registry = builtin_registry()
        self.treq = StubTreq(OpenAPILink(NotFoundResource(), self.registry).resource())

    def get(self, path, headers=None):
        """GET a path without following redirects; returns (response, body bytes)."""
        resp = self.successResultOf(
            self.treq.get("http://kapid" + path, headers=headers or {}, allow_redirects=False)
        )
        return resp, self.successResultOf(resp.content())

    def doc(self, gv):
        """Fetch a group version's document through the index, as kubectl does."""
        _, body = self.get("/openapi/v3")
        url = orjson.loads(body)["paths"][gv]["serverRelativeURL"]
        resp, body = self.get(url)
        self.assertEqual(resp.code, 200)
        self.assertEqual(resp.headers.getRawHeaders("cache-control"), ["public, immutable"])
        return orjson.loads(body)

    def test_group_camel(self):
        """Operation ids name groups like kube."""
        self.assertEqual(group_camel(""), "Core")
        self.assertEqual(group_camel("rbac.authorization.k8s.io"), "RbacAuthorization")
        self.assertEqual(group_camel("apps"), "Apps")

    def test_index(self):
        """The index lists every group version with a hashed URL."""
        _, body = self.get("/openapi/v3")
        paths = orjson.loads(body)["paths"]
        self.assertIn("api/v1", paths)
        self.assertIn("apis/apps/v1", paths)
        self.assertIn("apis/autoscaling/v2", paths)
        self.assertTrue(paths["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash="))

    def test_field_validation_for_every_kind(self):
        """Every kind of every group version passes kubectl's server-side validation check."""
        _, body = self.get("/openapi/v3")
        for gv in orjson.loads(body)["paths"]:
            doc = self.doc(gv)
            parts = gv.split("/")
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            for r in self.registry.all():
                if r.group == group and r.version(version) and "patch" in r.verbs:
                    gvk = {"group": group, "version": version, "kind": r.kind}
                    self.assertTrue(supports_field_validation(doc, gvk), gvk)

    def test_explain(self):
        """kubectl explain's walk finds deployment.spec.strategy and service.spec.ports."""
        node = explain(self.doc("apis/apps/v1"), "apps", "v1", "deployments", "Deployment", ["spec", "strategy"])
        self.assertIn("rollingUpdate", node["properties"])
        self.assertEqual(node["type"], "object")
        node = explain(self.doc("api/v1"), "", "v1", "services", "Service", ["spec", "ports"])
        self.assertEqual(node["type"], "array")
        node = explain(self.doc("apis/batch/v1"), "batch", "v1", "cronjobs", "CronJob", ["spec", "schedule"])
        self.assertEqual(node["type"], "string")

    def test_refs_resolve(self):
        """Every $ref in a document points into its components.schemas."""
        doc = self.doc("apis/apps/v1")
        schemas = doc["components"]["schemas"]
        refs = []

        def walk(n):
            if isinstance(n, dict):
                if "$ref" in n:
                    refs.append(n["$ref"])
                for v in n.values():
                    walk(v)
            elif isinstance(n, list):
                for v in n:
                    walk(v)

        walk(doc)
        self.assertTrue(refs)
        for ref in refs:
            self.assertTrue(ref.startswith("#/components/schemas/"), ref)
            self.assertIn(ref.rsplit("/", 1)[-1], schemas)
        self.assertNotIn("null", orjson.dumps(schemas["io.k8s.api.apps.v1.DeploymentSpec"]).decode())

    def test_stale_hash_redirects(self):
        """A stale hash is redirected to the current document; unknown group versions fall through."""
        resp, _ = self.get("/openapi/v3/apis/apps/v1?hash=OLD")
        self.assertEqual(resp.code, 301)
        self.assertIn(b"/openapi/v3/apis/apps/v1?hash=", resp.headers.getRawHeaders("location")[0].encode())
        resp, _ = self.get("/openapi/v3/apis/nosuch.io/v1")
        self.assertEqual(resp.code, 404)

    def test_custom_resource(self):
        """A resource with an inline schema appears with kube's definition name and GVK."""
        self.registry.add(Resource("example.com", "Widget", "widgets", "widget", (
            Version("v1", {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}, storage=True),)))
        doc = self.doc("apis/example.com/v1")
        self.assertIn("com.example.v1.Widget", doc["components"]["schemas"])
        node = explain(doc, "example.com", "v1", "widgets", "Widget", ["spec", "size"])
        self.assertEqual(node["type"], "integer")

    def test_v2(self):
        """/openapi/v2 is Swagger 2.0 JSON with definitions and GVK-tagged operations."""
        resp, body = self.get("/openapi/v2", {"Accept": ["application/json"]})
        doc = orjson.loads(body)
        self.assertEqual(doc["swagger"], "2.0")
        self.assertIn("io.k8s.api.apps.v1.Deployment", doc["definitions"])
        op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        self.assertEqual(op["operationId"], "patchAppsV1NamespacedDeployment")
        self.assertEqual(op["x-kubernetes-group-version-kind"], {"group": "apps", "version": "v1", "kind": "Deployment"})
        self.assertIn("fieldValidation", [p["name"] for p in op["parameters"]])
        self.assertTrue(resp.headers.getRawHeaders("etag"))

    def test_v2_protobuf(self):
        """/openapi/v2 in gnostic protobuf when asked for (kubectl's client-side validation), with
        the definitions and their GVK vendor extensions; both Accept spellings get the parseable type."""
        from kapid.apimachinery.protobuf import fields

        for accept in ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                       "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"):
            resp, body = self.get("/openapi/v2", {"Accept": [accept]})
            self.assertEqual(resp.headers.getRawHeaders("content-type"),
                             ["application/com.github.proto-openapi.spec.v2.v1.0+protobuf"])
        doc = {n: v for n, _, v in fields(body)}
        self.assertEqual(doc[1], b"2.0")
        definitions = {}
        for _, _, named in fields(doc[9]):
            entry = {n: v for n, _, v in fields(named)}
            definitions[entry[1].decode()] = entry[2]
        cm = list(fields(definitions["io.k8s.api.core.v1.ConfigMap"]))
        props = {}
        for n, _, v in cm:
            if n == 25:
                for _, _, named in fields(v):
                    entry = {k: x for k, _, x in fields(named)}
                    props[entry[1].decode()] = entry[2]
        self.assertEqual(sorted(props), ["apiVersion", "binaryData", "data", "immutable", "kind", "metadata"])
        data = {n: v for n, _, v in fields(props["data"])}
        self.assertEqual(list(fields(data[22])), [(1, 2, b"object")])
        extras = {}
        for n, _, v in cm:
            if n == 31:
                entry = {k: x for k, _, x in fields(v)}
                extras[entry[1].decode()] = orjson.loads({k: x for k, _, x in fields(entry[2])}[2])
        self.assertEqual(extras["x-kubernetes-group-version-kind"], [{"group": "", "kind": "ConfigMap", "version": "v1"}])

    def test_v2_json_by_default(self):
        """kubectl get --raw /openapi/v2 (Accept application/json, */*) gets JSON."""
        resp, body = self.get("/openapi/v2", {"Accept": ["application/json, */*"]})
        self.assertEqual(resp.headers.getRawHeaders("content-type"), ["application/json"])
        self.assertEqual(orjson.loads(body)["swagger"], "2.0")
