"""
Tests for the C{Scale} Table of L{kapid.endpoints.scale} (C{kubectl get deploy x --subresource=scale}).
"""

import orjson
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from kapid.apimachinery.query import Query
from kapid.endpoints.scale import render_scale, to_scale

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class _Link:
    """
    The part of a ResourceLink that render_scale uses.
    """

    def __init__(self) -> None:
        self.clock = Clock()
        self.rendered = []

    def render_object(self, request, query, target, obj, code=200):  # type: ignore[no-untyped-def]
        self.rendered.append(obj)
        return b"plain"


class ScaleTableTests(SynchronousTestCase):
    """
    kube's Scale columns: Name, Desired, Available.
    """

    def scale(self) -> dict:
        return to_scale({"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"},
                         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
                         "status": {"replicas": 2}})

    def test_table(self) -> None:
        """
        A Table Accept gets one row with the desired and available replicas and the row's metadata.
        """
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"accept", [TABLE.encode()])
        body = orjson.loads(render_scale(_Link(), request, Query({}), None, self.scale()))
        self.assertEqual([c["name"] for c in body["columnDefinitions"]], ["Name", "Desired", "Available"])
        self.assertEqual(body["rows"][0]["cells"], ["web", 3, 2])
        self.assertEqual(body["rows"][0]["object"]["kind"], "PartialObjectMetadata")
        self.assertEqual(body["metadata"], {"resourceVersion": "7"})

    def test_plain(self) -> None:
        """
        Without a Table Accept the Scale goes to the link's normal rendering.
        """
        link = _Link()
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"accept", [b"application/json"])
        self.assertEqual(render_scale(link, request, Query({}), None, self.scale()), b"plain")
        self.assertEqual(link.rendered[0]["kind"], "Scale")
