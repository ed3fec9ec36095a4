"""
Tests for the autoregister controller (Local APIServices for every served group/version, CRD ones
following the registry, availability of Local ones, two controllers on one storage) and the
aggregator link's routing table.
"""

from __future__ import annotations

from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from kapid.aggregator.autoregister import (
    AUTOMANAGED_LABEL,
    AutoRegisterController,
    desired_api_services,
)
from kapid.aggregator.link import AggregatorLink
from kapid.apiextensions.customresource import resource_for_crd
from kapid.endpoints.link import ResourceLink
from kapid.server.link import NotFoundResource
from tests.apiextensions.helpers import widget_crd
from tests.endpoints.helpers import API

BASE = "/apis/apiregistration.k8s.io/v1/apiservices"


def widgets() -> Any:
    """The custom resource of the helpers' widget CRD (its schema left uncompiled: not needed here)."""
    return resource_for_crd(widget_crd(), compile_schema=lambda schema: None)


def names(api: API) -> list[str]:
    """The stored APIServices' names."""
    code, body, _ = api.get(BASE)
    assert code == 200, body
    return [o["metadata"]["name"] for o in body["items"]]


class DesiredTests(SynchronousTestCase):
    """What the registry calls for."""

    def test_builtin(self):
        """Every built-in group/version kube knows, with kube's priorities; never apiregistration itself."""
        api = API(self)
        wanted = desired_api_services(api.registry)
        self.assertNotIn("v1.apiregistration.k8s.io", wanted)
        self.assertEqual(wanted["v1."]["spec"], {"group": "", "version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1})
        self.assertEqual(wanted["v2.autoscaling"]["spec"]["versionPriority"], 30)
        self.assertEqual(wanted["v1.flowcontrol.apiserver.k8s.io"]["spec"]["versionPriority"], 21)
        self.assertEqual(wanted["v1.apps"]["metadata"]["labels"], {AUTOMANAGED_LABEL: "onstart"})

    def test_crd(self):
        """A CRD group/version gets kube's CRD priorities and the continuous label."""
        api = API(self)
        api.registry.add(widgets())
        wanted = desired_api_services(api.registry)["v1.stable.example.com"]
        self.assertEqual((wanted["spec"]["groupPriorityMinimum"], wanted["spec"]["versionPriority"]), (1000, 100))
        self.assertEqual(wanted["metadata"]["labels"], {AUTOMANAGED_LABEL: "true"})


class ControllerTests(SynchronousTestCase):
    """The controller over an in-memory API."""

    def setUp(self) -> None:
        self.api = API(self)
        self.res = self.api.registry.lookup("apiregistration.k8s.io", "v1", "apiservices")
        self.seen: list[dict] = []
        self.controller = self.make()

    def make(self, registry: Any = None, link: Any = None) -> AutoRegisterController:
        """A controller over the API's storage (another server's when C{registry}/C{link} are given)."""
        link = link or self.api.link
        c = AutoRegisterController(
            link.store_for(self.res), registry or self.api.registry, self.api.clock, on_change=self.seen.append,
        )
        self.addCleanup(c.stop)
        return c

    def settle(self) -> None:
        """Let scheduled passes and watch events run."""
        for _ in range(5):
            self.api.clock.advance(0)
            self.api.treq.flush()

    def test_registers_and_marks_available(self):
        """The first pass creates every Local APIService, Available=True with kube's reason and message."""
        self.api.run(self.controller.start())
        self.settle()
        got = names(self.api)
        self.assertEqual(set(got), set(desired_api_services(self.api.registry)))
        code, obj, _ = self.api.get(f"{BASE}/v1.apps")
        cond = obj["status"]["conditions"][0]
        self.assertEqual(
            {k: cond[k] for k in ("type", "status", "reason", "message")},
            {"type": "Available", "status": "True", "reason": "Local", "message": "Local APIServices are always available"},
        )
        self.assertIn("v1.apps", self.seen[-1])

    def test_crd_comes_and_goes(self):
        """A CRD group/version added to the registry gets its APIService; removed, it goes."""
        self.api.run(self.controller.start())
        self.api.registry.add(widgets())
        self.settle()
        self.assertIn("v1.stable.example.com", names(self.api))
        self.api.registry.remove("stable.example.com", "widgets")
        self.settle()
        self.assertNotIn("v1.stable.example.com", names(self.api))

    def test_user_apiservices_left_alone(self):
        """An APIService without the automanaged label is never changed or deleted."""
        self.api.post(BASE, {
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.mine.example.com"},
            "spec": {"group": "mine.example.com", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1},
        })
        self.api.run(self.controller.start())
        self.settle()
        self.assertIn("v1.mine.example.com", names(self.api))

    def test_stale_builtin_removed_on_start(self):
        """A managed APIService of a group/version no longer served goes at the first pass."""
        self.api.post(BASE, {
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.batch", "labels": {AUTOMANAGED_LABEL: "onstart"}},
            "spec": {"group": "batch", "version": "v1beta1", "groupPriorityMinimum": 17400, "versionPriority": 9},
        })
        self.api.run(self.controller.start())
        self.settle()
        self.assertNotIn("v1beta1.batch", names(self.api))

    def test_two_servers_converge(self):
        """Two controllers on one storage write each APIService once and then stay quiet."""
        other_link = ResourceLink(NotFoundResource(), self.api.registry, self.api.storage, self.api.clock)
        other = self.make(link=other_link)
        self.api.run(self.controller.start())
        self.api.run(other.start())
        self.settle()
        code, body, _ = self.api.get(BASE)
        rv = body["metadata"]["resourceVersion"]
        self.api.registry.add(widgets())
        self.settle()
        code, body, _ = self.api.get(BASE)
        created = [o for o in body["items"] if o["metadata"]["name"] == "v1.stable.example.com"]
        self.assertEqual(len(created), 1)
        rv2 = body["metadata"]["resourceVersion"]
        self.settle()
        code, body, _ = self.api.get(BASE)
        self.assertEqual(body["metadata"]["resourceVersion"], rv2)
        self.assertNotEqual(rv, rv2)


class _Echo(Resource):
    """A delegate answering with the path it was given."""

    isLeaf = True

    def render(self, request: Any) -> bytes:
        return b"delegate " + b"/".join(request.postpath)


class LinkTests(SynchronousTestCase):
    """The aggregator's routing."""

    def setUp(self) -> None:
        self.link = AggregatorLink(_Echo())
        self.treq = StubTreq(self.link.resource())

    def get(self, path: str) -> tuple[int, bytes, Any]:
        """GET C{path}: (code, body, headers)."""
        d = self.treq.get("http://x" + path)
        self.treq.flush()
        resp = self.successResultOf(d)
        body = self.successResultOf(resp.content())
        return resp.code, body, resp.headers

    def remote(self, available: bool) -> dict:
        """An APIService of wardle.example.com/v1alpha1 naming a Service."""
        return {
            "metadata": {"name": "v1alpha1.wardle.example.com"},
            "spec": {"group": "wardle.example.com", "version": "v1alpha1", "service": {"namespace": "w", "name": "api"}},
            "status": {"conditions": [{"type": "Available", "status": "True" if available else "False"}]},
        }

    def test_local_passes(self):
        """Without remote APIServices every request reaches the delegate with its path."""
        self.link.update({"v1.apps": {"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1"}}})
        self.assertEqual(self.link.remote, {})
        self.assertEqual(self.get("/apis/apps/v1/deployments")[:2], (200, b"delegate apis/apps/v1/deployments"))

    def test_unavailable_remote(self):
        """A remote group/version whose APIService is unavailable gets kube's plain-text 503."""
        self.link.update({"v1alpha1.wardle.example.com": self.remote(False)})
        code, body, headers = self.get("/apis/wardle.example.com/v1alpha1/flunders")
        self.assertEqual((code, body), (503, b"service unavailable\n"))
        self.assertEqual(headers.getRawHeaders("content-type"), ["text/plain; charset=utf-8"])
        self.assertEqual(self.get("/apis/wardle.example.com/v1beta1/flunders")[0], 200)
        self.assertEqual(self.get("/apis/wardle.example.com")[0], 200)

    def test_available_remote_goes_to_proxy(self):
        """An available remote group/version is handed to the proxy with its APIService."""
        seen = []

        def proxy(request: Any, api_service: dict) -> bytes:
            seen.append(api_service["metadata"]["name"])
            return b"proxied"

        self.link.proxy = proxy
        self.link.update({"v1alpha1.wardle.example.com": self.remote(True)})
        self.assertEqual(self.get("/apis/wardle.example.com/v1alpha1/flunders")[:2], (200, b"proxied"))
        self.assertEqual(seen, ["v1alpha1.wardle.example.com"])


class ReadinessTests(SynchronousTestCase):
    """kube's autoregister-completion readiness check."""

    def test_ready_once_registered(self):
        """The check fails until every Local APIService of the first pass is available."""
        api = API(self)
        res = api.registry.lookup("apiregistration.k8s.io", "v1", "apiservices")
        link = AggregatorLink(NotFoundResource())
        link.controller = AutoRegisterController(api.link.store_for(res), api.registry, api.clock, on_change=link.update)
        self.addCleanup(link.controller.stop)
        [check] = link.health_checks()
        self.assertEqual(check.name, "autoregister-completion")
        self.assertRaises(RuntimeError, check.check)
        api.run(link.controller.start())
        for _ in range(5):
            api.clock.advance(0)
            api.treq.flush()
        check.check()
        self.assertEqual(AggregatorLink(NotFoundResource()).health_checks(), [])
