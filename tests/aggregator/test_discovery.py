"""
Tests for merged discovery: remote group/versions (from their backends' C{APIResourceList}s) in
C{/apis} (aggregated and legacy) and C{/apis/<group>}, ordered by their APIServices' priorities,
with ETags that change when they do.
"""

from __future__ import annotations

from typing import Any

import orjson
from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from kapid.aggregator.discovery import RemoteDiscovery, aggregated_resources
from kapid.kubeapi.discovery import AGGREGATED_V2, DiscoveryLink
from kapid.registry.builtin import builtin_registry
from kapid.server.link import NotFoundResource

FLUNDERS = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "wardle.example.com/v1alpha1",
    "resources": [
        {"name": "flunders", "singularName": "flunder", "namespaced": True, "kind": "Flunder",
         "verbs": ["get", "list", "watch"], "shortNames": ["fl"], "categories": ["all"]},
        {"name": "flunders/status", "singularName": "", "namespaced": True, "kind": "Flunder", "verbs": ["get", "patch"]},
        {"name": "fischers", "singularName": "fischer", "namespaced": False, "kind": "Fischer", "verbs": ["get"]},
    ],
}


class AggregatedResourcesTests(SynchronousTestCase):
    """The legacy-to-aggregated conversion."""

    def test_convert(self):
        """Resources sorted, scope from namespaced, subresources attached to their parent."""
        out = aggregated_resources(FLUNDERS, "wardle.example.com", "v1alpha1")
        self.assertEqual([r["resource"] for r in out], ["fischers", "flunders"])
        fl = out[1]
        self.assertEqual(fl["scope"], "Namespaced")
        self.assertEqual(fl["responseKind"], {"group": "wardle.example.com", "version": "v1alpha1", "kind": "Flunder"})
        self.assertEqual(fl["shortNames"], ["fl"])
        self.assertEqual(fl["subresources"], [{
            "subresource": "status", "responseKind": {"group": "wardle.example.com", "version": "v1alpha1", "kind": "Flunder"},
            "verbs": ["get", "patch"]}])
        self.assertEqual(out[0]["scope"], "Cluster")


class MergedDiscoveryTests(SynchronousTestCase):
    """The discovery stage with remote group/versions."""

    def setUp(self) -> None:
        self.remote = RemoteDiscovery()
        self.link = DiscoveryLink(NotFoundResource(), builtin_registry(), self.remote)
        self.treq = StubTreq(self.link.resource())

    def get(self, path: str, accept: str = "application/json") -> tuple[int, Any, Any]:
        """(code, JSON body, headers)."""
        d = self.treq.get("http://x" + path, headers={"Accept": accept})
        resp = self.successResultOf(d)
        body = self.successResultOf(resp.content())
        return resp.code, (orjson.loads(body) if body else None), resp.headers

    def test_remote_group_listed(self):
        """A remote group appears in aggregated /apis at its priority with the backend's resources; the ETag changes; it goes again."""
        code, before, h1 = self.get("/apis", AGGREGATED_V2)
        self.assertTrue(self.remote.set("wardle.example.com", "v1alpha1", 17900, 15, orjson.dumps(FLUNDERS)))
        code, doc, h2 = self.get("/apis", AGGREGATED_V2)
        names = [i["metadata"]["name"] for i in doc["items"]]
        self.assertEqual(names[:3], ["apiregistration.k8s.io", "wardle.example.com", "apps"])
        wardle = doc["items"][1]
        self.assertEqual(wardle["versions"][0]["version"], "v1alpha1")
        self.assertEqual([r["resource"] for r in wardle["versions"][0]["resources"]], ["fischers", "flunders"])
        self.assertNotEqual(h1.getRawHeaders("etag"), h2.getRawHeaders("etag"))
        code, legacy, _ = self.get("/apis")
        self.assertIn("wardle.example.com", [g["name"] for g in legacy["groups"]])
        code, group, _ = self.get("/apis/wardle.example.com")
        self.assertEqual((code, group["preferredVersion"]["groupVersion"]), (200, "wardle.example.com/v1alpha1"))
        self.remote.keep_only(set())
        code, doc, _ = self.get("/apis", AGGREGATED_V2)
        self.assertNotIn("wardle.example.com", [i["metadata"]["name"] for i in doc["items"]])

    def test_not_a_resource_list(self):
        """A backend answer that is not an APIResourceList is not listed."""
        self.assertFalse(self.remote.set("wardle.example.com", "v1alpha1", 1000, 15, b"{}"))
        self.assertFalse(self.remote.set("wardle.example.com", "v1alpha1", 1000, 15, b"garbage"))
        self.assertEqual(self.remote.priorities(), {})


class MergedOpenAPITests(SynchronousTestCase):
    """The OpenAPI stage with remote v3 documents."""

    def test_v3_index_and_document(self):
        """A remote group/version's v3 document is listed in /openapi/v3 with its hash and served as the backend wrote it."""
        from kapid.kubeapi.openapi import OpenAPILink

        remote = RemoteDiscovery()
        link = OpenAPILink(NotFoundResource(), builtin_registry(), remote)
        treq = StubTreq(link.resource())

        def get(path: str) -> tuple[int, bytes]:
            resp = self.successResultOf(treq.get("http://x" + path))
            return resp.code, self.successResultOf(resp.content())

        doc = orjson.dumps({"openapi": "3.0.0", "info": {"title": "wardle"}, "paths": {}})
        self.assertFalse(remote.set_openapi("wardle.example.com", "v1alpha1", b"[]"))
        self.assertTrue(remote.set_openapi("wardle.example.com", "v1alpha1", doc))
        code, body = get("/openapi/v3")
        url = orjson.loads(body)["paths"]["apis/wardle.example.com/v1alpha1"]["serverRelativeURL"]
        self.assertTrue(url.startswith("/openapi/v3/apis/wardle.example.com/v1alpha1?hash="))
        self.assertEqual(get(url), (200, doc))
        remote.remove("wardle.example.com", "v1alpha1")
        code, body = get("/openapi/v3")
        self.assertNotIn("apis/wardle.example.com/v1alpha1", orjson.loads(body)["paths"])


class OpenAPIV2MergeTests(SynchronousTestCase):
    """kube-aggregator's Swagger 2.0 merge."""

    def test_portion_and_merge(self) -> None:
        """A backend's paths under its group/version and the definitions they reach join the local document; same-named different definitions are renamed."""
        from kapid.aggregator.discovery import merge_v2, v2_portion

        ref = lambda n: {"$ref": "#/definitions/" + n}  # noqa: E731
        backend = {
            "swagger": "2.0",
            "paths": {
                "/apis/wardle.example.com/v1alpha1/flunders": {"get": {"responses": {"200": {"schema": ref("w.Flunder")}}}},
                "/apis/wardle.example.com/v1alpha1": {"get": {"responses": {"200": {"schema": ref("Shared")}}}},
                "/api/v1/pods": {"get": {"responses": {"200": {"schema": ref("Pod")}}}},
                "/apis/wardle.example.com/v1alpha10/x": {"get": {}},
            },
            "definitions": {
                "w.Flunder": {"properties": {"metadata": ref("Meta")}},
                "Meta": {"type": "object", "description": "backend's"},
                "Shared": {"type": "object"},
                "Pod": {"type": "object"},
                "Unused": {"type": "object"},
            },
        }
        portion = v2_portion(backend, "wardle.example.com", "v1alpha1")
        self.assertEqual(sorted(portion["paths"]), ["/apis/wardle.example.com/v1alpha1", "/apis/wardle.example.com/v1alpha1/flunders"])
        self.assertEqual(sorted(portion["definitions"]), ["Meta", "Shared", "w.Flunder"])
        local = {"swagger": "2.0", "paths": {"/api/v1/pods": {"get": {}}},
                 "definitions": {"Meta": {"type": "object", "description": "local"}, "Shared": {"type": "object"}}}
        merged = merge_v2(local, [("wardle.example.com", "v1alpha1", portion)])
        self.assertEqual(merged["paths"]["/api/v1/pods"], {"get": {}})
        self.assertEqual(sorted(merged["definitions"]), ["Meta", "Meta_v2", "Shared", "w.Flunder"])
        self.assertEqual(merged["definitions"]["Meta"]["description"], "local")
        self.assertEqual(merged["definitions"]["w.Flunder"]["properties"]["metadata"], ref("Meta_v2"))
        self.assertEqual(merged["definitions"]["Meta_v2"]["description"], "backend's")

    def test_documents_follow_the_table(self) -> None:
        """/openapi/v2 of the documents includes a remote portion once set, and drops it when removed."""
        from kapid.aggregator.discovery import RemoteDiscovery
        from kapid.kubeapi.openapi import OpenAPIDocuments

        remote = RemoteDiscovery()
        docs = OpenAPIDocuments(builtin_registry(), remote=remote)
        body = orjson.dumps({"swagger": "2.0", "paths": {"/apis/g.example.com/v1/things": {"get": {}}}, "definitions": {}})
        self.assertNotIn("/apis/g.example.com/v1/things", docs.encoded("v2", docs.v2)[0].decode())
        self.assertTrue(remote.set_openapi_v2("g.example.com", "v1", body, '"e1"'))
        self.assertEqual(remote.openapi_v2_etag("g.example.com", "v1"), '"e1"')
        self.assertIn("/apis/g.example.com/v1/things", docs.encoded("v2", docs.v2)[0].decode())
        remote.remove("g.example.com", "v1")
        self.assertNotIn("/apis/g.example.com/v1/things", docs.encoded("v2", docs.v2)[0].decode())
        self.assertFalse(remote.set_openapi_v2("g.example.com", "v1", b"not json"))
