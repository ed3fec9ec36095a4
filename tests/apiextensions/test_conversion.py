"""
Tests for L{kapid.apiextensions.conversion} and the store's asynchronous conversion path: a real
HTTPS conversion webhook on loopback (certificates generated here) converting a test kind between
v1 (C{spec.size}) and v2 (C{spec.replicas}), driven through L{RegistryStore} over the memory store
with a hand-built custom L{Resource} (v1 stored, v2 served too).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource as WebResource
from twisted.web.server import Site

from kapid.apiextensions.conversion import NoneConverter, WebhookConverter, converter_for
from kapid.apimachinery import serialization as ser
from kapid.apimachinery.query import Query
from kapid.apimachinery.status import StatusError
from kapid.endpoints.request import Target
from kapid.endpoints.watch import WatchSet, WatchStream
from kapid.registry.description import Resource, Version
from kapid.registry.store import RegistryStore
from kapid.registry.strategy import GenericStrategy
from kapid.storage.interfaces import ListOptions
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.testing.tls import issue, make_ca, server_options
from kapid.transport.client import ClientFactory

GROUP = "stable.example.com"


def convert_widget(obj: dict, to: str) -> dict:
    """
    The webhook's conversion: v1 C{spec.size} <-> v2 C{spec.replicas}.
    """
    out = json.loads(json.dumps(obj))
    spec = out.setdefault("spec", {})
    if to.endswith("/v2") and "size" in spec:
        spec["replicas"] = spec.pop("size")
    if to.endswith("/v1") and "replicas" in spec:
        spec["size"] = spec.pop("replicas")
    out["apiVersion"] = to
    return out


class Webhook(WebResource):
    """
    A conversion webhook; C{mode} makes it misbehave.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.mode = ""
        self.reviews: list[dict] = []

    def render_POST(self, request: Any) -> bytes:
        review = json.loads(request.content.read())
        self.reviews.append(review)
        req = review["request"]
        if self.mode == "500":
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/plain")
            return b"boom"
        converted = [convert_widget(o, req["desiredAPIVersion"]) for o in req["objects"]]
        uid = req["uid"]
        result: dict[str, Any] = {"status": "Success"}
        if self.mode == "bad-uid":
            uid = "nope"
        elif self.mode == "wrong-count":
            converted = converted[1:]
        elif self.mode == "changed-name":
            for o in converted:
                o["metadata"]["name"] = "other"
        elif self.mode == "failure":
            result = {"status": "Failure", "message": "custom webhook conversion error"}
        elif self.mode == "metadata":
            for o in converted:
                o["metadata"].setdefault("labels", {})["converted"] = "true"
                o["metadata"]["finalizers"] = ["sneaky"]
                o["metadata"]["generation"] = 42
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": uid, "convertedObjects": converted, "result": result},
        }).encode()


class WidgetStrategy(GenericStrategy):
    """
    The test kind's strategy: generic, with the CRD's converter.
    """

    def __init__(self, converter: Any) -> None:
        super().__init__(GROUP, "Widget")
        self.converter = converter


def crd(url: str, ca: bytes, review_versions: tuple = ("v1",)) -> dict:
    """
    The CRD of the test kind with webhook conversion at C{url}.
    """
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": True, "storage": True}, {"name": "v2", "served": True, "storage": False}],
            "conversion": {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": list(review_versions),
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca).decode()},
            }},
        },
    }


def widgets(converter: Any) -> Resource:
    """
    The hand-built custom resource description.
    """
    return Resource(
        group=GROUP, kind="Widget", plural="widgets", singular="widget",
        versions=(Version("v1", {"type": "object"}, storage=True), Version("v2", {"type": "object"})),
        strategy=WidgetStrategy(converter), storage_path=f"{GROUP}/widgets",
    )


class Lines:
    """
    A stand-in for the watch request: collects the lines written, fires waiters at a count.
    """

    def __init__(self) -> None:
        self.lines: list[dict] = []
        self.waiting: list[tuple[int, Deferred]] = []
        self.partial = b""

    def write(self, data: bytes) -> None:
        *complete, self.partial = (self.partial + data).split(b"\n")
        for line in complete:
            if line:
                self.lines.append(json.loads(line))
        for n, d in list(self.waiting):
            if len(self.lines) >= n:
                self.waiting.remove((n, d))
                d.callback(self.lines)

    def until(self, n: int) -> Deferred:
        d: Deferred = Deferred()
        self.waiting.append((n, d))
        self.write(b"")
        return d


class FakeLink:
    """
    What a L{WatchStream} needs of its link.
    """

    def __init__(self, store: RegistryStore, clock: Any) -> None:
        self.store = store
        self.clock = clock
        self.watches = WatchSet()
        self.bookmark_interval = 60.0

    def store_for(self, resource: Resource) -> RegistryStore:
        return self.store


class WebhookConversionTests(TestCase):
    """
    Custom objects converted by a real conversion webhook through the registry store.
    """

    def setUp(self) -> None:
        self.ca = make_ca()
        self.webhook = Webhook()
        pair = issue(self.ca, "webhook", ("localhost",), ("127.0.0.1",))
        port = reactor.listenSSL(0, Site(self.webhook), server_options(pair), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.factory = ClientFactory(reactor)
        self.addCleanup(self.factory.close)
        self.crd = crd(f"https://127.0.0.1:{port.getHost().port}/convert", self.ca.cert_pem())
        self.converter = converter_for(self.crd, None, self.factory)
        self.clock = Clock()
        self.storage = Store(MemoryKV(self.clock), self.clock)
        self.store = RegistryStore(widgets(self.converter), self.storage, self.clock)

    def widget(self, name: str, version: str, n: int) -> dict:
        field = "size" if version == "v1" else "replicas"
        return {"apiVersion": f"{GROUP}/{version}", "kind": "Widget", "metadata": {"name": name}, "spec": {field: n}}

    async def stored(self, name: str) -> Optional[dict]:
        return await self.storage.get(self.store.key("ns", name), "", True)  # type: ignore[no-any-return]

    async def failure(self, coro: Any) -> StatusError:
        try:
            await coro
        except StatusError as e:
            return e
        self.fail("no error")

    def test_converter_kind(self) -> None:
        """
        A webhook CRD gets a converter that needs the asynchronous path; the store takes it.
        """
        self.assertIsInstance(self.converter, WebhookConverter)
        self.assertTrue(self.converter.needs_async)
        self.assertIs(self.store.async_converter, self.converter)

    def test_create_v1_read_v2(self) -> None:
        """
        Created in the storage version (no call), read in v2 through the webhook.
        """
        async def go() -> None:
            out = await self.store.create("ns", self.widget("a", "v1", 3), "v1")
            self.assertEqual((out["apiVersion"], out["spec"]), (f"{GROUP}/v1", {"size": 3}))
            self.assertEqual(self.webhook.reviews, [])
            got = await self.store.get("ns", "a", "v2")
            self.assertEqual((got["apiVersion"], got["kind"], got["spec"]), (f"{GROUP}/v2", "Widget", {"replicas": 3}))
            self.assertEqual(got["metadata"]["uid"], out["metadata"]["uid"])
            [review] = self.webhook.reviews
            self.assertEqual(review["apiVersion"], "apiextensions.k8s.io/v1")
            self.assertEqual(review["kind"], "ConversionReview")
            self.assertEqual(review["request"]["desiredAPIVersion"], f"{GROUP}/v2")
            self.assertEqual([o["spec"] for o in review["request"]["objects"]], [{"size": 3}])
            self.assertTrue(review["request"]["uid"])

        return ensureDeferred(go())

    def test_create_v2_stored_v1(self) -> None:
        """
        Created in v2: converted to v1 for storage, answered in v2.
        """
        async def go() -> None:
            out = await self.store.create("ns", self.widget("a", "v2", 5), "v2")
            self.assertEqual((out["apiVersion"], out["spec"]), (f"{GROUP}/v2", {"replicas": 5}))
            stored = await self.stored("a")
            self.assertEqual((stored["apiVersion"], stored["spec"]), (f"{GROUP}/v1", {"size": 5}))
            self.assertEqual([r["request"]["desiredAPIVersion"] for r in self.webhook.reviews], [f"{GROUP}/v1", f"{GROUP}/v2"])

        return ensureDeferred(go())

    def test_list_batched(self) -> None:
        """
        A list in v2 sends every item in one review; a list in v1 sends none.
        """
        async def go() -> None:
            for i in range(3):
                await self.store.create("ns", self.widget(f"w{i}", "v1", i), "v1")
            res = await self.store.list("ns", ListOptions(), "v2")
            self.assertEqual([o["spec"] for o in res["items"]], [{"replicas": 0}, {"replicas": 1}, {"replicas": 2}])
            self.assertEqual({o["apiVersion"] for o in res["items"]}, {f"{GROUP}/v2"})
            self.assertEqual([len(r["request"]["objects"]) for r in self.webhook.reviews], [3])
            res = await self.store.list_encoded("ns", ListOptions(), "v1", True)
            self.assertEqual([o["spec"] for o in res["items"]], [{"size": 0}, {"size": 1}, {"size": 2}])
            self.assertEqual(len(self.webhook.reviews), 1)

        return ensureDeferred(go())

    def test_update_in_v2(self) -> None:
        """
        An update in v2 reads the current object through the webhook and stores its result in v1.
        """
        async def go() -> None:
            await self.store.create("ns", self.widget("a", "v1", 1), "v1")

            def bump(cur: Optional[dict]) -> dict:
                assert cur is not None
                self.assertEqual(cur["spec"], {"replicas": 1})
                cur["spec"]["replicas"] = 7
                return cur

            out, created = await self.store.update("ns", "a", bump, "v2")
            self.assertFalse(created)
            self.assertEqual((out["apiVersion"], out["spec"]), (f"{GROUP}/v2", {"replicas": 7}))
            self.assertEqual((await self.stored("a"))["spec"], {"size": 7})

        return ensureDeferred(go())

    def test_delete_answers_in_v2(self) -> None:
        """
        A delete answers with the object in the request's version.
        """
        async def go() -> None:
            await self.store.create("ns", self.widget("a", "v1", 2), "v1")
            out, deleted = await self.store.delete("ns", "a", {}, "v2")
            self.assertTrue(deleted)
            self.assertEqual(out["spec"], {"replicas": 2})
            self.assertIsNone(await self.stored("a"))

        return ensureDeferred(go())

    def test_watch_in_v2(self) -> None:
        """
        A v2 watch gets every event converted, in order.
        """
        async def go() -> None:
            link = FakeLink(self.store, self.clock)
            lines = Lines()
            target = Target(self.store.resource, "v2", "ns", "", "")
            stream = WatchStream(link, lines, target, Query({}), ser.Output())  # type: ignore[arg-type]
            stream.watcher = await self.store.watch("ns", "", ListOptions(), stream.on_event)
            self.addCleanup(stream.end, False)
            await self.store.create("ns", self.widget("a", "v1", 1), "v1")

            def bump(cur: Optional[dict]) -> dict:
                assert cur is not None
                cur["spec"]["size"] = 2
                return cur

            await self.store.update("ns", "a", bump, "v1")
            await self.store.delete("ns", "a", {}, "v1")
            events = await lines.until(3)
            self.assertEqual(
                [(e["type"], e["object"]["apiVersion"], e["object"]["spec"]) for e in events],
                [("ADDED", f"{GROUP}/v2", {"replicas": 1}), ("MODIFIED", f"{GROUP}/v2", {"replicas": 2}),
                 ("DELETED", f"{GROUP}/v2", {"replicas": 2})],
            )
            self.assertEqual([len(r["request"]["objects"]) for r in self.webhook.reviews], [1, 1, 1])

        return ensureDeferred(go())

    def test_watch_conversion_failure_ends_stream(self) -> None:
        """
        An event the webhook fails to convert ends the watch, as kube's watch server does.
        """
        async def go() -> None:
            link = FakeLink(self.store, self.clock)
            lines = Lines()
            stream = WatchStream(link, lines, Target(self.store.resource, "v2", "ns", "", ""), Query({}), ser.Output())  # type: ignore[arg-type]
            stream.watcher = await self.store.watch("ns", "", ListOptions(), stream.on_event)
            self.webhook.mode = "500"
            await self.store.create("ns", self.widget("a", "v1", 1), "v1")
            await stream.finished
            self.assertEqual(lines.lines, [])
            self.flushLoggedErrors(StatusError)

        return ensureDeferred(go())

    def test_metadata_changes(self) -> None:
        """
        Labels the webhook adds are kept; other metadata changes are dropped.
        """
        async def go() -> None:
            self.webhook.mode = "metadata"
            await self.store.create("ns", self.widget("a", "v1", 1), "v1")
            got = await self.store.get("ns", "a", "v2")
            self.assertEqual(got["metadata"]["labels"], {"converted": "true"})
            self.assertNotIn("finalizers", got["metadata"])
            self.assertNotIn("generation", got["metadata"])

        return ensureDeferred(go())

    def test_server_error(self) -> None:
        """
        A 500 from the webhook: kube's error (500, no reason) and nothing stored.
        """
        async def go() -> None:
            self.webhook.mode = "500"
            e = await self.failure(self.store.create("ns", self.widget("a", "v2", 1), "v2"))
            self.assertEqual((e.code, e.reason), (500, ""))
            self.assertEqual(
                e.message,
                f'conversion webhook for {GROUP}/v2, Kind=Widget failed: an error on the server ("boom") '
                "has prevented the request from succeeding",
            )
            self.assertIsNone(await self.stored("a"))

        return ensureDeferred(go())

    def test_bad_uid(self) -> None:
        """
        An answer for another request uid is refused.
        """
        async def go() -> None:
            self.converter.new_uid = lambda: "uid-1"
            self.webhook.mode = "bad-uid"
            e = await self.failure(self.store.create("ns", self.widget("a", "v2", 1), "v2"))
            self.assertEqual(e.message, f'conversion webhook for {GROUP}/v2, Kind=Widget failed: expected response.uid="uid-1", got "nope"')
            self.assertIsNone(await self.stored("a"))

        return ensureDeferred(go())

    def test_wrong_count(self) -> None:
        """
        Fewer objects back than sent: kube's count error.
        """
        async def go() -> None:
            self.webhook.mode = "wrong-count"
            e = await self.failure(self.store.create("ns", self.widget("a", "v2", 1), "v2"))
            self.assertEqual(e.message, f"conversion webhook for {GROUP}/v2, Kind=Widget returned 0 objects, expected 1")
            self.assertIsNone(await self.stored("a"))

        return ensureDeferred(go())

    def test_changed_name(self) -> None:
        """
        A converted object with another name is refused.
        """
        async def go() -> None:
            self.webhook.mode = "changed-name"
            e = await self.failure(self.store.create("ns", self.widget("a", "v2", 1), "v2"))
            self.assertEqual(
                e.message, f"conversion webhook for {GROUP}/v2, Kind=Widget returned invalid object: must have the same name: a != other"
            )
            self.assertIsNone(await self.stored("a"))

        return ensureDeferred(go())

    def test_failure_result(self) -> None:
        """
        A review answered with a Failure result: its message.
        """
        async def go() -> None:
            self.webhook.mode = "failure"
            e = await self.failure(self.store.create("ns", self.widget("a", "v2", 1), "v2"))
            self.assertEqual(e.message, f"conversion webhook for {GROUP}/v2, Kind=Widget failed: custom webhook conversion error")

        return ensureDeferred(go())

    def test_list_failure_names_the_list(self) -> None:
        """
        A failed list conversion names the list kind in the requested version; list index
        errors count as kube counts.
        """
        async def go() -> None:
            await self.store.create("ns", self.widget("a", "v1", 1), "v1")
            await self.store.create("ns", self.widget("b", "v1", 2), "v1")
            self.webhook.mode = "failure"
            e = await self.failure(self.store.list("ns", ListOptions(), "v2"))
            self.assertEqual(e.message, f"conversion webhook for {GROUP}/v2, Kind=WidgetList failed: custom webhook conversion error")
            self.webhook.mode = "changed-name"
            e = await self.failure(self.store.list("ns", ListOptions(), "v2"))
            self.assertEqual(
                e.message,
                f"conversion webhook for {GROUP}/v2, Kind=WidgetList returned invalid converted object at index 1: "
                "must have the same name: a != other",
            )

        return ensureDeferred(go())

    def test_unreachable_webhook(self) -> None:
        """
        A webhook nobody answers at: Go's dial error inside kube's text.
        """
        async def go() -> None:
            from socket import socket

            s = socket()
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
            s.close()
            conv = converter_for(crd(f"https://127.0.0.1:{free}/convert", self.ca.cert_pem()), None, self.factory)
            store = RegistryStore(widgets(conv), self.storage, self.clock)
            e = await self.failure(store.create("ns", self.widget("a", "v2", 1), "v2"))
            self.assertEqual(
                e.message,
                f'conversion webhook for {GROUP}/v2, Kind=Widget failed: Post "https://127.0.0.1:{free}/convert?timeout=30s": '
                f"dial tcp 127.0.0.1:{free}: connect: connection refused",
            )

        return ensureDeferred(go())

    def test_v1beta1_review(self) -> None:
        """
        A CRD preferring v1beta1 reviews gets v1beta1 reviews.
        """
        async def go() -> None:
            conv = converter_for(crd(self.crd["spec"]["conversion"]["webhook"]["clientConfig"]["url"], self.ca.cert_pem(),
                                     ("v1beta1", "v1")), None, self.factory)
            out = await conv.convert([self.widget("a", "v1", 4)], f"{GROUP}/v2")
            self.assertEqual(out[0]["spec"], {"replicas": 4})
            self.assertEqual(self.webhook.reviews[-1]["apiVersion"], "apiextensions.k8s.io/v1beta1")

        return ensureDeferred(go())

    def test_service_reference(self) -> None:
        """
        A webhook named by a Service reference is reached at the Service's endpoint, its
        certificate checked for C{<name>.<namespace>.svc}; a missing Service is kube's error.
        """
        async def go() -> None:
            from kapid.registry.builtin.core_cluster import ENDPOINTS, SERVICES
            from kapid.transport.resolver import ServiceResolver

            pair = issue(self.ca, "webhook", ("hook.webhooks.svc",))
            port = reactor.listenSSL(0, Site(self.webhook), server_options(pair), interface="127.0.0.1")
            self.addCleanup(port.stopListening)
            services = RegistryStore(SERVICES, self.storage, self.clock)
            endpoints = RegistryStore(ENDPOINTS, self.storage, self.clock)
            factory = ClientFactory(reactor, ServiceResolver(services, None, endpoints))
            self.addCleanup(factory.close)
            spec = crd("", self.ca.cert_pem())
            spec["spec"]["conversion"]["webhook"]["clientConfig"] = {
                "service": {"namespace": "webhooks", "name": "hook", "path": "/convert", "port": 8443},
                "caBundle": base64.b64encode(self.ca.cert_pem()).decode(),
            }
            conv = converter_for(spec, None, factory)
            obj = self.widget("a", "v1", 6)
            e = await self.failure(conv.convert([obj], f"{GROUP}/v2"))
            self.assertEqual(
                e.message,
                f'conversion webhook for {GROUP}/v1, Kind=Widget failed: Post "https://hook.webhooks.svc:8443/convert?timeout=30s": '
                'service "hook" not found',
            )
            svc = {"metadata": {"name": "hook"}, "spec": {"clusterIP": "10.0.0.9", "ports": [{"port": 8443}]}}
            SERVICES.strategy.default("v1", svc)
            await services.create("webhooks", svc, "v1")
            await endpoints.create("webhooks", {"metadata": {"name": "hook"}, "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port.getHost().port}]}]}, "v1")
            [out] = await conv.convert([obj], f"{GROUP}/v2")
            self.assertEqual(out["spec"], {"replicas": 6})

        return ensureDeferred(go())


class NoneConverterTests(SynchronousTestCase):
    """
    C{strategy: None}.
    """

    def test_none(self) -> None:
        """
        Only apiVersion changes; the store keeps its synchronous path.
        """
        conv = converter_for({"spec": {"conversion": {"strategy": "None"}}})
        self.assertIsInstance(conv, NoneConverter)
        self.assertFalse(conv.needs_async)
        obj = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "spec": {"size": 1}}
        self.assertEqual(conv.convert_sync([obj], f"{GROUP}/v2"), [dict(obj, apiVersion=f"{GROUP}/v2")])
        clock = Clock()
        store = RegistryStore(widgets(conv), Store(MemoryKV(clock), clock), clock)
        self.assertIsNone(store.async_converter)

    def test_unsupported_review_versions(self) -> None:
        """
        A CRD naming only review versions kapid does not speak fails its conversions.
        """
        conv = converter_for(crd("https://127.0.0.1:1/x", b"", ("v2",)), None, ClientFactory(Clock()))
        d = Deferred.fromCoroutine(conv.convert([{"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "a"}}], f"{GROUP}/v2"))
        e = self.failureResultOf(d, StatusError).value
        self.assertEqual((e.code, e.message), (500, "no supported conversion review versions"))


class HTTPTests(TestCase):
    """
    The same kind served by a L{kapid.endpoints.link.ResourceLink} on a real loopback port:
    every handler goes through the store's asynchronous conversion.
    """

    def setUp(self) -> None:
        from twisted.web.client import Agent, HTTPConnectionPool
        from treq.client import HTTPClient

        from kapid.endpoints.link import ResourceLink
        from kapid.registry.builtin import builtin_registry
        from kapid.server.link import NotFoundResource

        self.ca = make_ca()
        self.webhook = Webhook()
        pair = issue(self.ca, "webhook", ("localhost",), ("127.0.0.1",))
        hook = reactor.listenSSL(0, Site(self.webhook), server_options(pair), interface="127.0.0.1")
        self.addCleanup(hook.stopListening)
        self.factory = ClientFactory(reactor)
        self.addCleanup(self.factory.close)
        converter = converter_for(crd(f"https://127.0.0.1:{hook.getHost().port}/convert", self.ca.cert_pem()), None, self.factory)
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.storage = Store(MemoryKV(self.clock), self.clock)
        registry = builtin_registry()
        registry.add(widgets(converter))
        self.link = ResourceLink(NotFoundResource(), registry, self.storage, self.clock)
        self.successResultOf(self.link.ensure_system_namespaces())
        api = reactor.listenTCP(0, Site(self.link.resource()), interface="127.0.0.1")
        self.addCleanup(api.stopListening)
        self.base = f"http://127.0.0.1:{api.getHost().port}/apis/{GROUP}"
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.http = HTTPClient(Agent(reactor, pool=pool))

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        r = await self.http.request(method, self.base + path, data=data, headers={"Content-Type": "application/json"})
        text = await r.content()
        return r.code, json.loads(text) if text else None

    def test_verbs_across_versions(self) -> None:
        """
        POST in v2, GET in v1 and v2, list in v2 (one review), PATCH and DELETE in v2.
        """
        async def go() -> None:
            code, out = await self.call("POST", "/v2/namespaces/default/widgets",
                                        {"apiVersion": f"{GROUP}/v2", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"replicas": 2}})
            self.assertEqual((code, out["apiVersion"], out["spec"]), (201, f"{GROUP}/v2", {"replicas": 2}), out)
            code, out = await self.call("GET", "/v1/namespaces/default/widgets/a")
            self.assertEqual((code, out["spec"]), (200, {"size": 2}))
            await self.call("POST", "/v1/namespaces/default/widgets",
                            {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "b"}, "spec": {"size": 4}})
            n = len(self.webhook.reviews)
            code, out = await self.call("GET", "/v2/namespaces/default/widgets")
            self.assertEqual((code, out["kind"], out["apiVersion"]), (200, "WidgetList", f"{GROUP}/v2"))
            self.assertEqual([i["spec"] for i in out["items"]], [{"replicas": 2}, {"replicas": 4}])
            self.assertEqual([len(r["request"]["objects"]) for r in self.webhook.reviews[n:]], [2])
            r = await self.http.request("PATCH", self.base + "/v2/namespaces/default/widgets/a",
                                        data=b'{"spec":{"replicas":9}}', headers={"Content-Type": "application/merge-patch+json"})
            out = json.loads(await r.content())
            self.assertEqual((r.code, out["spec"]), (200, {"replicas": 9}))
            code, out = await self.call("GET", "/v1/namespaces/default/widgets/a")
            self.assertEqual(out["spec"], {"size": 9})
            code, out = await self.call("DELETE", "/v2/namespaces/default/widgets/a")
            self.assertEqual(code, 200)

        return ensureDeferred(go())

    def test_failure_status_on_the_wire(self) -> None:
        """
        A failing webhook: the client gets kube's 500 Status and nothing is stored.
        """
        async def go() -> None:
            self.webhook.mode = "failure"
            code, out = await self.call("POST", "/v2/namespaces/default/widgets",
                                        {"apiVersion": f"{GROUP}/v2", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"replicas": 2}})
            self.assertEqual(code, 500)
            self.assertEqual(out, {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": f"conversion webhook for {GROUP}/v2, Kind=Widget failed: custom webhook conversion error",
                "code": 500,
            })
            self.webhook.mode = ""
            code, out = await self.call("GET", "/v2/namespaces/default/widgets/a")
            self.assertEqual(code, 404)

        return ensureDeferred(go())

    def test_watch_over_http(self) -> None:
        """
        A v2 watch over HTTP streams converted events, in order.
        """
        async def go() -> None:
            import treq

            r = await self.http.get(self.base + "/v2/namespaces/default/widgets?watch=1&timeoutSeconds=100", unbuffered=True)
            self.assertEqual(r.code, 200)
            lines = Lines()
            done = treq.collect(r, lines.write)
            await self.call("POST", "/v1/namespaces/default/widgets",
                            {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"size": 1}})
            await self.call("DELETE", "/v1/namespaces/default/widgets/a")
            events = await lines.until(2)
            self.assertEqual([(e["type"], e["object"]["apiVersion"], e["object"]["spec"]) for e in events],
                             [("ADDED", f"{GROUP}/v2", {"replicas": 1}), ("DELETED", f"{GROUP}/v2", {"replicas": 1})])
            self.clock.advance(100)
            await done

        return ensureDeferred(go())
