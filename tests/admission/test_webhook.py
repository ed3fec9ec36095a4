"""
Tests for L{kapid.admission.webhook}: admission webhooks configured through the API and called
over real HTTPS on loopback (a CA made by the test), through a L{ResourceLink} on a real port.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Optional

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from kapid.admission.chain import AdmissionChain
from kapid.admission.context import PluginContext
from kapid.admission.plugins.namespace import NamespaceLifecycle
from kapid.admission.webhook import MutatingWebhook, ValidatingWebhook, rule_matches
from kapid.admission.interfaces import Attributes
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.server.link import NotFoundResource
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.testing.tls import issue, make_ca, server_options
from kapid.transport.client import ClientFactory
from twisted.trial.unittest import SynchronousTestCase

ADM = "/apis/admissionregistration.k8s.io/v1"
CMS = "/api/v1/namespaces/default/configmaps"


class Webhook(Resource):
    """
    A webhook server: C{/mutate} labels objects, C{/deny} refuses objects named C{bad},
    C{/hang} never answers, C{/garbage} answers garbage, C{/wronguid} answers for another uid,
    C{/rename} patches the name, C{/warn} allows with warnings and annotations.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.reviews: list[tuple[str, dict]] = []
        self.hanging: list[Any] = []

    def render_POST(self, request: Any) -> Any:
        path = request.path.decode()
        review = json.loads(request.content.read())
        self.reviews.append((path, review))
        req = review["request"]
        out: dict = {"uid": req["uid"], "allowed": True}
        obj = req.get("object") or {}
        if path == "/hang":
            self.hanging.append(request)
            return NOT_DONE_YET
        if path == "/garbage":
            return b"garbage"
        if path == "/wronguid":
            out["uid"] = "nope"
        if path == "/mutate" and req.get("object"):
            ops = [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]
            if (obj.get("metadata") or {}).get("labels"):
                ops = [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]
            out["patchType"] = "JSONPatch"
            out["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        if path == "/second" and req.get("object"):
            ops = [{"op": "add", "path": "/metadata/annotations", "value": {"second": str(len(self.reviews))}}]
            out["patchType"] = "JSONPatch"
            out["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        if path == "/rename":
            ops = [{"op": "replace", "path": "/metadata/name", "value": "other"}]
            out["patchType"] = "JSONPatch"
            out["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        if path == "/deny":
            name = (obj.get("metadata") or {}).get("name") or ((req.get("oldObject") or {}).get("metadata") or {}).get("name")
            if name == "bad":
                out = {"uid": req["uid"], "allowed": False,
                       "status": {"code": 403, "reason": "Forbidden", "message": "bad is a bad name"}}
        if path == "/badlabel" and req.get("object"):
            ops = [{"op": "add", "path": "/metadata/labels", "value": {"bad key!": "x"}}]
            out["patchType"] = "JSONPatch"
            out["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        if path == "/denyall":
            out = {"uid": req["uid"], "allowed": False}
        if path == "/warn":
            out["warnings"] = ["be careful"]
            out["auditAnnotations"] = {"seen": "yes"}
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "response": out}).encode()


def configuration(kind: str, name: str, hooks: list[dict]) -> dict:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name}, "webhooks": hooks}


class WebhookFixture(TestCase):
    """
    A link with both webhook plugins on a real port, and a webhook server with a test CA.
    """

    def setUp(self) -> None:
        self.ca = make_ca()
        self.webhook = Webhook()
        pair = issue(self.ca, "webhook", ("localhost",), ("127.0.0.1",))
        port = reactor.listenSSL(0, Site(self.webhook), server_options(pair), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.hook_base = f"https://127.0.0.1:{port.getHost().port}"
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.storage = Store(MemoryKV(self.clock), self.clock)
        self.link = ResourceLink(NotFoundResource(), builtin_registry(), self.storage, self.clock)
        context = PluginContext(self.link, reactor)
        factory = ClientFactory(reactor)
        self.addCleanup(factory.close)
        context.extras["client_factory"] = factory
        self.mutating = MutatingWebhook(context)
        self.validating = ValidatingWebhook(context)
        self.link.admission = AdmissionChain([NamespaceLifecycle(context), self.mutating, self.validating])
        self.successResultOf(self.link.ensure_system_namespaces())
        api = reactor.listenTCP(0, Site(self.link.resource()), interface="127.0.0.1")
        self.addCleanup(api.stopListening)
        self.base = f"http://127.0.0.1:{api.getHost().port}"
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.http = HTTPClient(Agent(reactor, pool=pool))

        def release() -> None:
            for r in self.webhook.hanging:
                if not r.finished:
                    r.finish()

        self.addCleanup(release)

    def hook(self, name: str, path: str, **fields: Any) -> dict:
        h = {
            "name": name,
            "clientConfig": {"url": self.hook_base + path, "caBundle": base64.b64encode(self.ca.cert_pem()).decode()},
            "rules": [{"operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["configmaps"]}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
        h.update(fields)
        return h

    async def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Any, Any]:
        data = json.dumps(body).encode() if body is not None else None
        r = await self.http.request(method, self.base + path, data=data, headers={"Content-Type": content_type})
        text = await r.content()
        return r.code, json.loads(text) if text else None, r.headers

    async def configure(self, kind: str, name: str, hooks: list[dict]) -> None:
        plural = "mutatingwebhookconfigurations" if kind.startswith("Mutating") else "validatingwebhookconfigurations"
        code, out, _ = await self.call("POST", f"{ADM}/{plural}", configuration(kind, name, hooks))
        assert code == 201, out


class WebhookTests(WebhookFixture):
    """
    Mutating and validating webhooks through the REST handlers.
    """

    def test_mutating_adds_label_and_review_shape(self) -> None:
        """
        A mutating webhook's JSON patch is applied and stored; the review is kube's v1 shape.
        """
        async def go() -> None:
            await self.configure("MutatingWebhookConfiguration", "m", [self.hook("m.example.com", "/mutate")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201, out)
            self.assertEqual(out["metadata"]["labels"], {"mutated": "yes"})
            _, got, _ = await self.call("GET", CMS + "/a")
            self.assertEqual(got["metadata"]["labels"], {"mutated": "yes"})
            path, review = self.webhook.reviews[-1]
            self.assertEqual((review["kind"], review["apiVersion"]), ("AdmissionReview", "admission.k8s.io/v1"))
            req = review["request"]
            self.assertEqual(list(req), ["uid", "kind", "resource", "requestKind", "requestResource", "name", "namespace",
                                         "operation", "userInfo", "object", "oldObject", "dryRun", "options"])
            self.assertEqual(req["kind"], {"group": "", "version": "v1", "kind": "ConfigMap"})
            self.assertEqual(req["resource"], {"group": "", "version": "v1", "resource": "configmaps"})
            self.assertEqual((req["name"], req["namespace"], req["operation"], req["dryRun"]), ("a", "default", "CREATE", False))
            self.assertIsNone(req["oldObject"])
            self.assertEqual(req["options"], {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"})

        return ensureDeferred(go())

    def test_validating_denies_by_name(self) -> None:
        """
        A denial is kube's message with the webhook's code and reason; nothing is stored; other
        objects pass; delete is judged on the old object.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "v", [self.hook("deny.example.com", "/deny")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}})
            self.assertEqual(code, 403)
            self.assertEqual(out, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": 'admission webhook "deny.example.com" denied the request: bad is a bad name',
                                   "reason": "Forbidden", "code": 403})
            self.assertEqual((await self.call("GET", CMS + "/bad"))[0], 404)
            code, _, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good"}})
            self.assertEqual(code, 201)

        return ensureDeferred(go())

    def test_garbage_wrong_uid_fail_and_ignore(self) -> None:
        """
        Garbage and a wrong uid are kube's 500s under failurePolicy Fail; ignored under Ignore.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "g", [self.hook("garbage.example.com", "/garbage")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 500)
            self.assertEqual(out["reason"], "InternalError")
            self.assertEqual(
                out["message"],
                'Internal error occurred: failed calling webhook "garbage.example.com": failed to call webhook: '
                "couldn't get version/kind; json parse error: invalid character 'g' looking for beginning of value",
            )
            await self.call("DELETE", f"{ADM}/validatingwebhookconfigurations/g")
            await self.configure("ValidatingWebhookConfiguration", "u", [self.hook("uid.example.com", "/wronguid")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 500)
            uid = self.webhook.reviews[-1][1]["request"]["uid"]
            self.assertEqual(
                out["message"],
                'Internal error occurred: failed calling webhook "uid.example.com": received invalid webhook response: '
                f'expected response.uid="{uid}", got "nope"',
            )
            await self.call("DELETE", f"{ADM}/validatingwebhookconfigurations/u")
            await self.configure("ValidatingWebhookConfiguration", "i", [
                self.hook("garbage.example.com", "/garbage", failurePolicy="Ignore")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201, out)

        return ensureDeferred(go())

    def test_hang_times_out(self) -> None:
        """
        A webhook that does not answer fails the request after timeoutSeconds with kube's text.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "h", [self.hook("hang.example.com", "/hang", timeoutSeconds=1)])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 500)
            self.assertEqual(
                out["message"],
                'Internal error occurred: failed calling webhook "hang.example.com": failed to call webhook: '
                f'Post "{self.hook_base}/hang?timeout=1s": context deadline exceeded',
            )

        return ensureDeferred(go())

    def test_dry_run_and_side_effects(self) -> None:
        """
        A dry run is refused by a webhook with side effects (kube's 400) and reaches one without.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "s", [
                self.hook("some.example.com", "/warn", sideEffects="Some")])
            code, out, _ = await self.call("POST", CMS + "?dryRun=All", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 400)
            self.assertEqual(out["message"], 'admission webhook "some.example.com" does not support dry run')
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201)

        return ensureDeferred(go())

    def test_warnings_and_match_conditions(self) -> None:
        """
        Response warnings are Warning headers; matchConditions that hold call the webhook.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "w", [self.hook(
                "warn.example.com", "/warn", matchConditions=[{"name": "c", "expression": "true"}])])
            code, _, headers = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201)
            self.assertEqual(headers.getRawHeaders("warning"), ['299 - "be careful"'])

        return ensureDeferred(go())

    def test_match_conditions(self) -> None:
        """
        A false matchCondition skips the webhook; one that fails to evaluate is kube's 403 unless
        failurePolicy is Ignore.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "mc", [self.hook(
                "deny.example.com", "/denyall", matchConditions=[
                    {"name": "checked", "expression": "has(object.metadata.labels) && object.metadata.labels.check == 'yes'"}])])
            code, _, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201)
            code, _, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "b", "labels": {"check": "yes"}}})
            self.assertEqual(code, 400)
            self.assertEqual([p for p, _ in self.webhook.reviews], ["/denyall"])
            await self.configure("ValidatingWebhookConfiguration", "err", [self.hook(
                "err.example.com", "/deny", matchConditions=[{"name": "e", "expression": "object.nope == 1"}])])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
            self.assertEqual(code, 403, out)
            self.assertEqual(out["message"], 'configmaps "c" is forbidden: failed calling webhook "err.example.com": '
                                             "no such key: nope")

        return ensureDeferred(go())

    def test_selectors(self) -> None:
        """
        objectSelector and namespaceSelector decide whether a webhook is called.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "sel", [self.hook(
                "deny.example.com", "/deny", objectSelector={"matchLabels": {"check": "yes"}},
                namespaceSelector={"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["default"]}]})])
            code, _, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}})
            self.assertEqual(code, 201)
            code, _, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "bad2", "labels": {"check": "yes"}}})
            self.assertEqual(code, 201)
            n = len(self.webhook.reviews)
            await self.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
            code, _, _ = await self.call("POST", "/api/v1/namespaces/other/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "labels": {"check": "yes"}}})
            self.assertEqual(code, 201)
            self.assertEqual(len(self.webhook.reviews), n)

        return ensureDeferred(go())

    def test_rename_on_update_is_refused(self) -> None:
        """
        A patch that renames the object on update is kube's 400 name mismatch; nothing changes.
        """
        async def go() -> None:
            await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "1"}})
            hook = self.hook("rename.example.com", "/rename")
            hook["rules"][0]["operations"] = ["UPDATE"]
            await self.configure("MutatingWebhookConfiguration", "r", [hook])
            code, out, _ = await self.call("PATCH", CMS + "/a", {"data": {"k": "2"}}, "application/merge-patch+json")
            self.assertEqual(code, 400, out)
            self.assertEqual(out["message"], "the name of the object (other) does not match the name on the URL (a)")
            _, got, _ = await self.call("GET", CMS + "/a")
            self.assertEqual(got["data"], {"k": "1"})

        return ensureDeferred(go())

    def test_reinvocation(self) -> None:
        """
        An IfNeeded webhook is called again when a later webhook changed the object.
        """
        async def go() -> None:
            await self.configure("MutatingWebhookConfiguration", "a", [
                self.hook("first.example.com", "/mutate", reinvocationPolicy="IfNeeded")])
            await self.configure("MutatingWebhookConfiguration", "b", [self.hook("second.example.com", "/second")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201, out)
            self.assertEqual([p for p, _ in self.webhook.reviews], ["/mutate", "/second", "/mutate"])
            self.assertEqual(self.webhook.reviews[-1][1]["request"]["object"]["metadata"]["annotations"], {"second": "2"})

        return ensureDeferred(go())

    def test_missing_service(self) -> None:
        """
        A webhook behind a Service that does not exist fails as kube's does.
        """
        async def go() -> None:
            hook = self.hook("svc.example.com", "")
            hook["clientConfig"] = {"service": {"namespace": "hooks", "name": "gone", "path": "/validate"},
                                    "caBundle": base64.b64encode(self.ca.cert_pem()).decode()}
            from kapid.transport import transport_for
            from kapid.controllers.kubernetes_service import link_store_for

            _, factory = transport_for(link_store_for(self.link), reactor)
            self.addCleanup(factory.close)
            self.validating.context.extras["client_factory"] = factory
            await self.configure("ValidatingWebhookConfiguration", "svc", [hook])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 500)
            self.assertEqual(
                out["message"],
                'Internal error occurred: failed calling webhook "svc.example.com": failed to call webhook: '
                'Post "https://gone.hooks.svc:443/validate?timeout=10s": service "gone" not found',
            )

        return ensureDeferred(go())


class MoreWebhookTests(WebhookFixture):
    """
    Review versions, equivalent versions, CONNECT and updates.
    """

    def test_v1beta1_review(self) -> None:
        """
        A webhook that lists only v1beta1 gets (and must answer) a v1beta1 AdmissionReview.
        """
        async def go() -> None:
            await self.configure("ValidatingWebhookConfiguration", "b", [
                self.hook("beta.example.com", "/warn", admissionReviewVersions=["v1beta1"])])
            code, _, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 201)
            self.assertEqual(self.webhook.reviews[-1][1]["apiVersion"], "admission.k8s.io/v1beta1")

        return ensureDeferred(go())

    def test_equivalent_version(self) -> None:
        """
        matchPolicy Equivalent calls a webhook registered for autoscaling/v1 on a v2 request, with
        the object in v1; Exact does not.
        """
        async def go() -> None:
            hook = self.hook("hpa.example.com", "/mutate")
            hook["rules"] = [{"operations": ["CREATE"], "apiGroups": ["autoscaling"], "apiVersions": ["v1"],
                              "resources": ["horizontalpodautoscalers"]}]
            await self.configure("MutatingWebhookConfiguration", "hpa", [hook])
            hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                            "minReplicas": 1, "maxReplicas": 3}}
            code, out, _ = await self.call("POST", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", hpa)
            self.assertEqual(code, 201, out)
            self.assertEqual(out["metadata"]["labels"], {"mutated": "yes"})
            self.assertEqual(out["apiVersion"], "autoscaling/v2")
            req = self.webhook.reviews[-1][1]["request"]
            self.assertEqual(req["kind"], {"group": "autoscaling", "version": "v1", "kind": "HorizontalPodAutoscaler"})
            self.assertEqual(req["requestKind"], {"group": "autoscaling", "version": "v2", "kind": "HorizontalPodAutoscaler"})
            self.assertEqual(req["object"]["apiVersion"], "autoscaling/v1")
            n = len(self.webhook.reviews)
            await self.call("DELETE", f"{ADM}/mutatingwebhookconfigurations/hpa")
            await self.configure("MutatingWebhookConfiguration", "hpa2", [dict(hook, matchPolicy="Exact")])
            hpa["metadata"]["name"] = "h2"
            code, out, _ = await self.call("POST", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", hpa)
            self.assertEqual(code, 201, out)
            self.assertEqual(len(self.webhook.reviews), n)

        return ensureDeferred(go())

    def test_connect_and_denial_without_explanation(self) -> None:
        """
        A CONNECT rule on pods/exec is called with PodExecOptions; a bare denial is kube's 400
        without explanation.
        """
        async def go() -> None:
            await self.call("POST", "/api/v1/namespaces/default/pods", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "i"}]}})
            hook = self.hook("exec.example.com", "/denyall")
            hook["rules"] = [{"operations": ["CONNECT"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/exec"]}]
            await self.configure("ValidatingWebhookConfiguration", "x", [hook])
            code, out, _ = await self.call("POST", "/api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true")
            self.assertEqual(code, 400, out)
            self.assertEqual(out["message"], 'admission webhook "exec.example.com" denied the request without explanation')
            req = self.webhook.reviews[-1][1]["request"]
            self.assertEqual((req["operation"], req["kind"]["kind"], req["subResource"]), ("CONNECT", "PodExecOptions", "exec"))
            self.assertEqual(req["object"]["command"], ["ls"])

        return ensureDeferred(go())

    def test_update_sees_old_object(self) -> None:
        """
        An update's review carries oldObject and UpdateOptions; a delete's carries the object
        as oldObject and DeleteOptions.
        """
        async def go() -> None:
            await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "1"}})
            await self.configure("ValidatingWebhookConfiguration", "u", [self.hook("deny.example.com", "/deny")])
            code, _, _ = await self.call("PATCH", CMS + "/a", {"data": {"k": "2"}}, "application/merge-patch+json")
            self.assertEqual(code, 200)
            req = self.webhook.reviews[-1][1]["request"]
            self.assertEqual((req["operation"], req["oldObject"]["data"], req["object"]["data"]), ("UPDATE", {"k": "1"}, {"k": "2"}))
            self.assertEqual(req["options"]["kind"], "UpdateOptions")
            code, _, _ = await self.call("DELETE", CMS + "/a")
            self.assertEqual(code, 200)
            req = self.webhook.reviews[-1][1]["request"]
            self.assertEqual((req["operation"], req["object"], req["oldObject"]["metadata"]["name"]), ("DELETE", None, "a"))
            self.assertEqual(req["options"]["kind"], "DeleteOptions")

        return ensureDeferred(go())


class BadInputTests(WebhookFixture):
    """
    Webhooks that break things, and other requests meanwhile.
    """

    def test_patch_making_object_invalid(self) -> None:
        """
        A patch that makes the object invalid is the strategy's 422; nothing is stored.
        """
        async def go() -> None:
            await self.configure("MutatingWebhookConfiguration", "bad", [self.hook("bad.example.com", "/badlabel")])
            code, out, _ = await self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
            self.assertEqual(code, 422, out)
            self.assertEqual(out["reason"], "Invalid")
            self.assertIn("metadata.labels: Invalid value: \"bad key!\"", out["message"])
            self.assertEqual((await self.call("GET", CMS + "/a"))[0], 404)

        return ensureDeferred(go())

    def test_hanging_webhook_leaves_others_alone(self) -> None:
        """
        While a request waits on a hanging webhook, requests it does not match are answered.
        """
        async def go() -> None:
            from twisted.internet.task import deferLater

            await self.configure("ValidatingWebhookConfiguration", "h", [self.hook("hang.example.com", "/hang", timeoutSeconds=2)])
            waiting = ensureDeferred(self.call("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))
            await deferLater(reactor, 0.2, lambda: None)
            self.assertFalse(waiting.called)
            code, _, _ = await self.call("POST", "/api/v1/namespaces/default/secrets",
                                         {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
            self.assertEqual(code, 201)
            self.assertFalse(waiting.called)
            code, out, _ = await waiting
            self.assertEqual(code, 500)
            self.assertIn("context deadline exceeded", out["message"])

        return ensureDeferred(go())


class RuleTests(SynchronousTestCase):
    """
    kube's rule matcher.
    """

    def attrs(self, **kw: Any) -> Attributes:
        base: dict = dict(kind=("apps", "v1", "Deployment"), resource=("apps", "v1", "deployments"), operation="CREATE",
                          namespace="default")
        base.update(kw)
        return Attributes(**base)

    def test_rules(self) -> None:
        """
        Wildcards, subresources and scope.
        """
        rule = {"operations": ["*"], "apiGroups": ["apps"], "apiVersions": ["*"], "resources": ["deployments"]}
        a = self.attrs()
        self.assertTrue(rule_matches(rule, a, a.resource))
        sub = self.attrs(subresource="scale")
        self.assertFalse(rule_matches(rule, sub, sub.resource))
        self.assertTrue(rule_matches(dict(rule, resources=["deployments/*"]), sub, sub.resource))
        self.assertTrue(rule_matches(dict(rule, resources=["*/scale"]), sub, sub.resource))
        self.assertFalse(rule_matches(dict(rule, scope="Cluster"), a, a.resource))
        self.assertTrue(rule_matches(dict(rule, scope="Namespaced"), a, a.resource))
        self.assertFalse(rule_matches(dict(rule, operations=["UPDATE"]), a, a.resource))
