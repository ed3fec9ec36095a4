"""Tests for kapid.kubeapi.discovery, in memory through the real web stack (StubTreq)."""

import orjson
from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from kapid.kubeapi.discovery import AGGREGATED_V2, DiscoveryLink, negotiate_discovery, storage_version_hash
from kapid.registry.builtin import builtin_registry
from kapid.registry.description import Resource, Version
from kapid.server.link import NotFoundResource

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


class DiscoveryTests(SynchronousTestCase):
    """Discovery documents served from the registry."""

    def setUp(self):
        self.registry = builtin_registry()
        self.link = DiscoveryLink(NotFoundResource(), self.registry)
        self.treq = StubTreq(self.link.resource())

    def get(self, path, accept="application/json", headers=None):
        """GET a path; returns (response, body bytes)."""
        h = {"Accept": [accept]}
        h.update(headers or {})
        resp = self.successResultOf(self.treq.get("http://kapid" + path, headers=h))
        body = self.successResultOf(resp.content())
        return resp, body

    def test_negotiation(self):
        """kubectl's Accept picks v2; a plain one picks the legacy form."""
        self.assertEqual(negotiate_discovery(KUBECTL_ACCEPT), "v2")
        self.assertEqual(negotiate_discovery("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"), "v2beta1")
        self.assertEqual(negotiate_discovery("application/json, */*"), "legacy")

    def test_aggregated_apis(self):
        """/apis in aggregated form has kube's Content-Type and every named group."""
        resp, body = self.get("/apis", KUBECTL_ACCEPT)
        self.assertEqual(resp.code, 200)
        self.assertEqual(resp.headers.getRawHeaders("content-type"), [AGGREGATED_V2])
        doc = orjson.loads(body)
        self.assertEqual((doc["kind"], doc["apiVersion"]), ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2"))
        names = [i["metadata"]["name"] for i in doc["items"]]
        self.assertEqual(names[:4], ["apiregistration.k8s.io", "apps", "events.k8s.io", "autoscaling"])
        self.assertIn("rbac.authorization.k8s.io", names)
        apps = doc["items"][1]["versions"][0]
        deploy = next(r for r in apps["resources"] if r["resource"] == "deployments")
        self.assertEqual(deploy["responseKind"], {"group": "apps", "version": "v1", "kind": "Deployment"})
        self.assertEqual(deploy["scope"], "Namespaced")
        self.assertEqual(deploy["shortNames"], ["deploy"])
        self.assertIn({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                       "verbs": ["get", "patch", "update"]}, deploy["subresources"])
        autoscaling = doc["items"][3]
        self.assertEqual([v["version"] for v in autoscaling["versions"]], ["v2", "v1"])

    def test_aggregated_api(self):
        """/api in aggregated form holds the core group with no name."""
        resp, body = self.get("/api", KUBECTL_ACCEPT)
        doc = orjson.loads(body)
        self.assertEqual(len(doc["items"]), 1)
        self.assertNotIn("name", doc["items"][0]["metadata"])
        plurals = [r["resource"] for r in doc["items"][0]["versions"][0]["resources"]]
        self.assertIn("services", plurals)
        self.assertIn("configmaps", plurals)

    def test_legacy(self):
        """A plain Accept gets APIVersions and APIGroupList with preferred versions."""
        resp, body = self.get("/api", "application/json, */*")
        self.assertEqual(resp.headers.getRawHeaders("content-type"), ["application/json"])
        doc = orjson.loads(body)
        self.assertEqual((doc["kind"], doc["versions"]), ("APIVersions", ["v1"]))
        resp, body = self.get("/apis")
        doc = orjson.loads(body)
        self.assertEqual(doc["kind"], "APIGroupList")
        autoscaling = next(g for g in doc["groups"] if g["name"] == "autoscaling")
        self.assertEqual(autoscaling["preferredVersion"], {"groupVersion": "autoscaling/v2", "version": "v2"})

    def test_resource_list(self):
        """/api/v1 lists resources and subresources like kube, with storage version hashes."""
        resp, body = self.get("/api/v1")
        doc = orjson.loads(body)
        self.assertEqual((doc["kind"], doc["groupVersion"]), ("APIResourceList", "v1"))
        by = {r["name"]: r for r in doc["resources"]}
        self.assertEqual(by["configmaps"]["storageVersionHash"], "qFsyl6wFWjQ=")
        self.assertEqual(
            by["serviceaccounts/token"],
            {"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
             "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]},
        )
        self.assertEqual(by["services/status"]["kind"], "Service")
        names = [r["name"] for r in doc["resources"]]
        self.assertEqual(names, sorted(names))

    def test_group_and_version(self):
        """/apis/batch is an APIGroup; /apis/autoscaling/v1 lists HPAs in v1; unknown ones fall through."""
        resp, body = self.get("/apis/batch")
        self.assertEqual(orjson.loads(body)["preferredVersion"]["groupVersion"], "batch/v1")
        resp, body = self.get("/apis/autoscaling/v1")
        doc = orjson.loads(body)
        hpa = {r["name"]: r for r in doc["resources"]}
        self.assertEqual(hpa["horizontalpodautoscalers"]["storageVersionHash"], storage_version_hash("autoscaling", "v2", "HorizontalPodAutoscaler"))
        self.assertEqual(hpa["horizontalpodautoscalers/status"]["kind"], "HorizontalPodAutoscaler")
        self.assertNotIn("version", hpa["horizontalpodautoscalers/status"])
        resp, body = self.get("/apis/nosuch.example.com/v1")
        self.assertEqual(resp.code, 404)

    def test_etag(self):
        """Responses carry ETags; If-None-Match answers 304; a registry change changes the ETag."""
        resp, _ = self.get("/apis", KUBECTL_ACCEPT)
        etag = resp.headers.getRawHeaders("etag")[0]
        resp, body = self.get("/apis", KUBECTL_ACCEPT, {"If-None-Match": [etag]})
        self.assertEqual((resp.code, body), (304, b""))
        self.registry.add(Resource("example.com", "Widget", "widgets", "widget", (Version("v1", {}, storage=True),)))
        resp, body = self.get("/apis", KUBECTL_ACCEPT, {"If-None-Match": [etag]})
        self.assertEqual(resp.code, 200)
        self.assertIn(b"widgets", body)
        resp, body = self.get("/apis/example.com/v1")
        self.assertEqual(resp.code, 200)


class StageTests(SynchronousTestCase):
    """The stage factories build links over the registry."""

    def test_stages(self):
        """discovery_stage and openapi_stage give links that fall through to their delegate."""
        from kapid.kubeapi.discovery import discovery_stage
        from kapid.kubeapi.openapi import OpenAPILink, openapi_stage

        reg = builtin_registry()
        openapi = openapi_stage(reg)(NotFoundResource())
        self.assertIsInstance(openapi, OpenAPILink)
        link = discovery_stage(reg)(openapi.resource())
        treq = StubTreq(link.resource())
        resp = self.successResultOf(treq.get("http://kapid/openapi/v3"))
        self.assertEqual(resp.code, 200)
        resp = self.successResultOf(treq.get("http://kapid/nothing"))
        self.assertEqual(resp.code, 404)


class ProfileParameterTests(SynchronousTestCase):
    """
    C{/debug/pprof/profile}'s parameters are checked before profiling starts.
    """

    def test_bad_parameters(self) -> None:
        """
        A bad C{seconds}, C{sort} or C{lines} is a 400 naming it.
        """
        from treq.testing import StubTreq
        from twisted.internet.task import Clock

        from kapid.kubeapi.link import KubeAPILink
        from kapid.server.healthz import HealthRegistry
        from kapid.server.link import NotFoundResource

        link = KubeAPILink(NotFoundResource(), health=HealthRegistry(), paths=lambda: [], clock=Clock())
        client = StubTreq(link.resource())
        for query, name in (("seconds=-1", "seconds"), ("sort=bogus", "sort"), ("lines=0", "lines")):
            response = self.successResultOf(client.get(f"http://kapid/debug/pprof/profile?{query}"))
            self.assertEqual(response.code, 400)
            self.assertEqual(self.successResultOf(response.content()), f'Bad Request: invalid value for "{name}"\n'.encode())
