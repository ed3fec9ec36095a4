"""
Lists served from the watch cache as kept item bytes (L{RegistryStore.list_encoded}) are the same
bytes as lists encoded from objects.
"""

from __future__ import annotations

from typing import Any

from treq.testing import StubTreq
from twisted.trial.unittest import TestCase

from kapid.endpoints.link import ResourceLink
from kapid.server.link import NotFoundResource
from kapid.storage.cacher import CachingStorage
from tests.endpoints.helpers import API, cm, deployment


class EncodedListTests(TestCase):
    """
    The same lists through a link over the plain store and a link over the watch cache.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.cache = CachingStorage(self.api.storage, self.api.clock, cache_size=50)
        self.addCleanup(self.cache.close)
        cached = ResourceLink(NotFoundResource(), self.api.registry, self.cache, self.api.clock)
        self.cached = StubTreq(cached.resource())

    def raw(self, treq: Any, path: str, headers: Any = None) -> tuple[int, bytes, Any]:
        """
        C{(code, body bytes, headers)} of a GET.
        """
        d = treq.request("GET", "http://kapid" + path, headers=headers or {})
        treq.flush()
        resp = self.successResultOf(d)
        body = resp.content()
        treq.flush()
        return resp.code, self.successResultOf(body), resp.headers

    def same(self, path: str, headers: Any = None) -> bytes:
        """
        Assert both links answer C{path} with the same code, Content-Type and bytes; the body.
        """
        self.raw(self.cached, path, headers)  # starts the resource's cacher
        code, body, h = self.raw(self.api.treq, path, headers)
        for _ in range(2):  # once encoding, once from kept bytes
            ccode, cbody, ch = self.raw(self.cached, path, headers)
            self.assertEqual((ccode, cbody), (code, body))
            self.assertEqual(ch.getRawHeaders("content-type"), h.getRawHeaders("content-type"))
        return body

    def test_lists_match(self) -> None:
        """
        Namespaced, all-namespace, selected, converted, pretty, YAML and Table lists at
        resourceVersion 0 are byte for byte those of the plain store, also after changes.
        """
        for n in ("b", "a", "c"):
            code, _, _ = self.api.post(
                "/api/v1/namespaces/default/configmaps", cm(n, {"k": n}, labels={"app": n})
            )
            self.assertEqual(code, 201)
        self.assertEqual(self.api.post("/apis/apps/v1/namespaces/default/deployments", deployment("d"))[0], 201)
        paths = [
            "/api/v1/namespaces/default/configmaps?resourceVersion=0",
            "/api/v1/configmaps?resourceVersion=0",
            "/api/v1/configmaps?resourceVersion=0&labelSelector=app%3Da",
            "/apis/apps/v1/deployments?resourceVersion=0",
            "/api/v1/configmaps?resourceVersion=0&pretty=true",
        ]
        for p in paths:
            self.same(p)
        body = self.same(paths[0])
        self.assertIn(b'"items":[{"metadata":{"name":"a"', body)
        # the cached link did serve kept bytes
        self.assertEqual(len(self.cache.cachers["/registry/configmaps/"].encoded), 1)
        self.same(paths[0], {"Accept": "application/yaml"})
        self.same(paths[0], {"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"})
        code, _, _ = self.api.put(
            "/api/v1/namespaces/default/configmaps/a", cm("a", {"k": "changed"})
        )
        self.assertEqual(code, 200)
        self.assertEqual(self.api.delete("/api/v1/namespaces/default/configmaps/b")[0], 200)
        body = self.same(paths[0])
        self.assertIn(b'"changed"', body)
        self.assertNotIn(b'"name":"b"', body)
