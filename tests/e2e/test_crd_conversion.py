"""
A CRD with a conversion webhook end to end: a real HTTPS webhook server on loopback (in this test's
reactor, certificate from a test CA given to the CRD as its C{caBundle}) converting between two
versions that spell a field differently, and a real C{twistd kapid} calling it while the official
C{kubernetes} client writes and reads both versions (in a thread, so the reactor keeps serving the
webhook). Once the webhook is gone, reading through the other version is kube's 500.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from typing import Any

from kubernetes import client, watch
from twisted.internet import reactor as _global_reactor
from twisted.internet import ssl
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from kapid.testing.etcd import make_test_pki
from tests.e2e.helpers import start_kapid
from tests.e2e.test_crd_python import _client, _error, wait_established

GROUP = "conv.example.com"


class ConvertResource(Resource):
    """
    A conversion webhook: C{v1} says C{spec.color}, C{v2} says C{spec.colour}; every request's
    desired version and object names are recorded in C{calls}.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[str]]] = []

    def render_POST(self, request: Any) -> bytes:
        review = json.loads(request.content.read())
        req = review["request"]
        desired = req["desiredAPIVersion"]
        converted = []
        for obj in req["objects"]:
            out = copy.deepcopy(obj)
            spec = out.get("spec") or {}
            if desired.endswith("/v2") and "color" in spec:
                spec["colour"] = spec.pop("color")
            elif desired.endswith("/v1") and "colour" in spec:
                spec["color"] = spec.pop("colour")
            out["apiVersion"] = desired
            converted.append(out)
        self.calls.append((desired, [o["metadata"]["name"] for o in req["objects"]]))
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({
            "apiVersion": review["apiVersion"], "kind": "ConversionReview",
            "response": {"uid": req["uid"], "result": {"status": "Success"}, "convertedObjects": converted},
        }).encode()


class TrackingSite(Site):
    """
    A L{Site} that remembers its connections (to drop them: a stopped listener leaves the
    client's kept-alive connections open).
    """

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource)
        self.protocols: list[Any] = []

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        self.protocols.append(protocol)
        return protocol

    def drop_connections(self) -> None:
        for protocol in self.protocols:
            # an HTTP protocol wrapper: its channel holds the transport
            transport = getattr(getattr(protocol, "_channel", protocol), "transport", None)
            if transport is not None:
                transport.abortConnection()


def _schema(field: str) -> dict:
    return {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {field: {"type": "string"}, "size": {"type": "integer"}}}}}}


def thing_crd(url: str, ca_pem: bytes) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": _schema("color")},
                {"name": "v2", "served": True, "storage": False, "schema": _schema("colour")},
            ],
            "conversion": {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
            }},
        },
    }


def thing(version: str, name: str, **spec: Any) -> dict:
    return {"apiVersion": f"{GROUP}/{version}", "kind": "Thing", "metadata": {"name": name}, "spec": spec}


def converting_session(url: str, crd: dict) -> dict:
    """
    Writes and reads through both versions (blocking; run in a thread).
    """
    api = _client(url)
    ext, co = client.ApiextensionsV1Api(api), client.CustomObjectsApi(api)
    out: dict = {}
    ext.create_custom_resource_definition(crd)
    wait_established(ext, f"things.{GROUP}")
    co.create_namespaced_custom_object(GROUP, "v1", "default", "things", thing("v1", "one", color="red", size=1))
    got = co.get_namespaced_custom_object(GROUP, "v2", "default", "things", "one")
    out["one_v2"] = (got["apiVersion"], got["spec"])
    created = co.create_namespaced_custom_object(GROUP, "v2", "default", "things", thing("v2", "two", colour="blue"))
    out["two_created"] = (created["apiVersion"], created["spec"])
    listed = co.list_namespaced_custom_object(GROUP, "v1", "default", "things")
    out["list_v1"] = [(i["apiVersion"], i["metadata"]["name"], i["spec"]) for i in listed["items"]]
    listed = co.list_namespaced_custom_object(GROUP, "v2", "default", "things")
    out["list_v2"] = [(i["apiVersion"], i["metadata"]["name"], i["spec"]) for i in listed["items"]]
    # a v2 watch sees a change written through v1, converted
    rv = listed["metadata"]["resourceVersion"]
    co.patch_namespaced_custom_object(GROUP, "v1", "default", "things", "one", {"spec": {"color": "green"}})
    out["watch_v2"] = []
    w = watch.Watch()
    for e in w.stream(co.list_namespaced_custom_object, GROUP, "v2", "default", "things", resource_version=rv,
                      timeout_seconds=10):
        out["watch_v2"].append((e["type"], e["object"]["apiVersion"], e["object"]["spec"]))
        w.stop()
    # a merge patch through v2 is applied to the v2 form
    patched = co.patch_namespaced_custom_object(GROUP, "v2", "default", "things", "two", {"spec": {"colour": "red"}})
    out["patched_v2"] = patched["spec"]
    out["two_v1"] = co.get_namespaced_custom_object(GROUP, "v1", "default", "things", "two")["spec"]
    return out


def failing_session(url: str) -> dict:
    """
    Reads once the webhook is gone (blocking; run in a thread).
    """
    co = client.CustomObjectsApi(_client(url))
    return {
        "same_version": co.get_namespaced_custom_object(GROUP, "v1", "default", "things", "one")["spec"],
        "other_version": _error(lambda: co.get_namespaced_custom_object(GROUP, "v2", "default", "things", "one")),
    }


class ConversionWebhookTests(TestCase):
    """
    kapid calling a real HTTPS conversion webhook on loopback.
    """

    timeout = 120

    async def test_webhook_converts(self) -> None:
        """
        Objects written in one version are read, listed, watched and patched in the other through
        the webhook, which the CRD's caBundle verifies; without the webhook, only the stored
        version can be read.
        """
        pki_dir = os.path.abspath(self.mktemp())
        os.makedirs(pki_dir)
        pki = make_test_pki(pki_dir)
        with open(pki.server_key, "rb") as f:
            key = f.read()
        with open(pki.server_cert, "rb") as f:
            cert = f.read()
        with open(pki.cafile, "rb") as f:
            ca_pem = f.read()
        options = ssl.PrivateCertificate.loadPEM(key + b"\n" + cert).options()
        webhook = ConvertResource()
        site = TrackingSite(webhook)
        port = _global_reactor.listenSSL(0, site, options, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        number = port.getHost().port
        url = f"https://127.0.0.1:{number}/convert"

        kapid = await start_kapid(self, "--storage-backend=memory")
        out = await deferToThread(converting_session, kapid.insecure_url, thing_crd(url, ca_pem))
        self.assertEqual(out["one_v2"], (f"{GROUP}/v2", {"colour": "red", "size": 1}))
        self.assertEqual(out["two_created"], (f"{GROUP}/v2", {"colour": "blue"}))
        self.assertEqual(out["list_v1"], [(f"{GROUP}/v1", "one", {"color": "red", "size": 1}),
                                          (f"{GROUP}/v1", "two", {"color": "blue"})])
        self.assertEqual(out["list_v2"], [(f"{GROUP}/v2", "one", {"colour": "red", "size": 1}),
                                          (f"{GROUP}/v2", "two", {"colour": "blue"})])
        self.assertEqual(out["watch_v2"], [("MODIFIED", f"{GROUP}/v2", {"colour": "green", "size": 1})])
        self.assertEqual(out["patched_v2"], {"colour": "red"})
        self.assertEqual(out["two_v1"], {"color": "red"})
        self.assertIn((f"{GROUP}/v2", ["one"]), webhook.calls)
        self.assertIn((f"{GROUP}/v1", ["two"]), webhook.calls)

        await port.stopListening()
        site.drop_connections()
        out = await deferToThread(failing_session, kapid.insecure_url)
        self.assertEqual(out["same_version"], {"color": "green", "size": 1})
        code, body = out["other_version"]
        self.assertEqual((code, body["status"], body.get("reason", "")), (500, "Failure", ""))
        self.assertEqual(body["message"], (
            f'conversion webhook for {GROUP}/v1, Kind=Thing failed: Post "{url}?timeout=30s": '
            f"dial tcp 127.0.0.1:{number}: connect: connection refused"
        ))
