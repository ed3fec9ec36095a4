"""
Tests for the core and review resources kube 1.33 lists that kapid added: bindings, componentstatuses,
the pods' ephemeralcontainers / resize / proxy subresources, tokenreviews, subjectaccessreviews,
localsubjectaccessreviews, selfsubjectrulesreviews, ipaddresses and servicecidrs, through the HTTP
API on the memory store.
"""

from __future__ import annotations

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from treq.testing import StubTreq
from twisted.internet.defer import fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from kapid.auth.authorizers import AlwaysAllow, AlwaysDeny, UnionAuthorizer, build_authorizer
from kapid.auth.interfaces import UserInfo
from kapid.auth.tokens import TokenIssuer
from kapid.kubeapi.discovery import DiscoveryLink
from kapid.registry.builtin import authentication, authorization
from kapid.registry.builtin.core import component_statuses
from kapid.server.link import NotFoundResource
from tests.endpoints.helpers import API

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
PODS = "/api/v1/namespaces/default/pods"
AUTHZ = "/apis/authorization.k8s.io/v1"


def _pod(name: str = "p") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "resources": {"requests": {"cpu": "100m"}}}]}}


class BindingsTests(SynchronousTestCase):
    """
    C{POST /api/v1/namespaces/<ns>/bindings} binds the pod the Binding names.
    """

    def test_bind(self) -> None:
        """
        The pod gets the node and the answer is kube's Success Status; a second bind conflicts.
        """
        api = API(self)
        api.post(PODS, _pod())
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                   "target": {"kind": "Node", "name": "n1"}}
        code, body, _ = api.post("/api/v1/namespaces/default/bindings", binding)
        self.assertEqual((code, body["kind"], body["status"]), (201, "Status", "Success"))
        self.assertEqual(api.get(f"{PODS}/p")[1]["spec"]["nodeName"], "n1")
        self.assertEqual(api.post("/api/v1/namespaces/default/bindings", binding)[0], 409)

    def test_missing_name_and_pod(self) -> None:
        """
        A Binding without a name is invalid; one for a missing pod is 404; GET is not a verb.
        """
        api = API(self)
        code, body, _ = api.post("/api/v1/namespaces/default/bindings",
                                 {"apiVersion": "v1", "kind": "Binding", "metadata": {}, "target": {"name": "n"}})
        self.assertEqual((code, body["details"]["causes"][0]["field"]), (422, "metadata.name"))
        code, body, _ = api.post("/api/v1/namespaces/default/bindings",
                                 {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "ghost"},
                                  "target": {"name": "n"}})
        self.assertEqual((code, body["message"]), (404, 'pods "ghost" not found'))
        self.assertEqual(api.get("/api/v1/namespaces/default/bindings")[0], 405)


class ComponentStatusTests(SynchronousTestCase):
    """
    C{componentstatuses} are computed on every read.
    """

    def test_list_and_get(self) -> None:
        """
        etcd-0 is healthy with a healthy storage; the absent scheduler and controller manager are
        Unhealthy with kube's refused-connection message; every answer carries kube's deprecation
        warning.
        """
        api = API(self)
        code, body, headers = api.get("/api/v1/componentstatuses")
        self.assertEqual((code, body["kind"]), (200, "ComponentStatusList"))
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["scheduler", "controller-manager", "etcd-0"])
        self.assertIn("v1 ComponentStatus is deprecated in v1.19+", headers.getRawHeaders("warning")[0])
        code, body, _ = api.get("/api/v1/componentstatuses/etcd-0")
        self.assertEqual((code, body["conditions"]), (200, [{"type": "Healthy", "status": "True", "message": "ok"}]))
        code, body, _ = api.get("/api/v1/componentstatuses", headers=TABLE)
        self.assertEqual([c["name"] for c in body["columnDefinitions"]], ["Name", "Status", "Message", "Error"])
        self.assertEqual(body["rows"][0]["cells"], [
            "scheduler", "Unhealthy",
            'Get "https://127.0.0.1:10259/healthz": dial tcp 127.0.0.1:10259: connect: connection refused', ""])
        self.assertEqual(api.get("/api/v1/componentstatuses/ghost")[1]["message"],
                         'componentstatuses "ghost" not found')
        self.assertEqual(api.post("/api/v1/componentstatuses", {"metadata": {"name": "x"}})[0], 405)

    def test_unhealthy_storage(self) -> None:
        """
        A failing storage check makes etcd-0 Unhealthy with the error.
        """
        api = API(self)
        api.registry.add(component_statuses(lambda: fail(RuntimeError("etcd is down"))))
        body = api.get("/api/v1/componentstatuses/etcd-0")[1]
        self.assertEqual(body["conditions"], [{"type": "Healthy", "status": "False", "error": "etcd is down"}])
        api.registry.add(component_statuses(lambda: succeed(None)))
        self.assertEqual(api.get("/api/v1/componentstatuses/etcd-0")[1]["conditions"][0]["status"], "True")


class PodSubresourceTests(SynchronousTestCase):
    """
    pods/ephemeralcontainers, pods/resize and pods/proxy.
    """

    def test_ephemeral_containers(self) -> None:
        """
        A patch to ephemeralcontainers adds one (and nothing else); changing it afterwards is refused.
        """
        api = API(self)
        api.post(PODS, _pod())
        patch = {"metadata": {"labels": {"x": "y"}},
                 "spec": {"ephemeralContainers": [{"name": "debug", "image": "busybox"}],
                          "containers": [{"name": "c", "image": "other"}]}}
        code, body, _ = api.patch(f"{PODS}/p/ephemeralcontainers", patch, "application/strategic-merge-patch+json")
        self.assertEqual(code, 200, body)
        self.assertEqual([c["name"] for c in body["spec"]["ephemeralContainers"]], ["debug"])
        stored = api.get(f"{PODS}/p/ephemeralcontainers")[1]
        self.assertEqual((stored["kind"], stored["spec"]["containers"][0]["image"]), ("Pod", "nginx"))
        self.assertNotIn("labels", stored["metadata"])
        code, body, _ = api.patch(f"{PODS}/p/ephemeralcontainers",
                                  [{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "x"}],
                                  "application/json-patch+json")
        self.assertEqual(code, 422, body)
        self.assertEqual(body["message"], 'Pod "p" is invalid: spec.ephemeralContainers[0]: Forbidden: existing '
                                          'ephemeral containers "debug" may not be changed')

    def test_resize(self) -> None:
        """
        A patch to resize changes the containers' resources only.
        """
        api = API(self)
        api.post(PODS, _pod())
        patch = {"spec": {"containers": [{"name": "c", "image": "other",
                                          "resources": {"requests": {"cpu": "200m"}}}]}}
        code, body, _ = api.patch(f"{PODS}/p/resize", patch, "application/strategic-merge-patch+json")
        self.assertEqual(code, 200, body)
        container = api.get(f"{PODS}/p")[1]["spec"]["containers"][0]
        self.assertEqual((container["image"], container["resources"]["requests"]["cpu"]), ("nginx", "200m"))

    def test_proxy(self) -> None:
        """
        Proxying to a pod without an IP is kube's 400 C{address not allowed}.
        """
        api = API(self)
        api.post(PODS, _pod())
        code, body, _ = api.get(f"{PODS}/p/proxy")
        self.assertEqual((code, body["reason"], body["message"]), (400, "BadRequest", "address not allowed"))


class ReviewTests(SynchronousTestCase):
    """
    The computed reviews of authentication.k8s.io and authorization.k8s.io.
    """

    def api(self, authorizer=None, user: UserInfo = UserInfo("alice", groups=("system:authenticated",))) -> API:
        api = API(self)
        for make in authorization.COMPUTED_RESOURCES:
            api.registry.add(make(authorizer or build_authorizer(["AlwaysAllow"])))
        self.issuer = TokenIssuer(ec.generate_private_key(ec.SECP256R1()), now=api.clock.seconds)
        api.registry.add(authentication.token_reviews(self.issuer))
        api.as_user(user)
        return api

    def test_token_review(self) -> None:
        """
        A token the issuer signed authenticates as its service account; another does not.
        """
        api = self.api()
        token = self.issuer.issue("default", "sa1", "uid-1", (), 3600).token
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        code, body, _ = api.post("/apis/authentication.k8s.io/v1/tokenreviews", review)
        self.assertEqual(code, 201, body)
        self.assertEqual(body["status"]["authenticated"], True)
        user = body["status"]["user"]
        self.assertEqual((user["username"], user["uid"], user["groups"]), (
            "system:serviceaccount:default:sa1", "uid-1",
            ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]))
        self.assertEqual(body["status"]["audiences"], [self.issuer.issuer])
        review["spec"]["token"] = token[:-4] + "AAAA"
        body = api.post("/apis/authentication.k8s.io/v1/tokenreviews", review)[1]
        self.assertNotIn("authenticated", body["status"])
        self.assertTrue(body["status"]["error"].startswith("[invalid bearer token, "), body)
        review["spec"] = {}
        code, body, _ = api.post("/apis/authentication.k8s.io/v1/tokenreviews", review)
        self.assertEqual((code, body["message"]), (400, "token is required for TokenReview in authentication"))

    def test_subject_access_review(self) -> None:
        """
        A SubjectAccessReview asks the authorizer about the spec's user; one without user or groups
        is invalid.
        """
        api = self.api(UnionAuthorizer([AlwaysDeny()]))
        sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods"}}}
        code, body, _ = api.post(f"{AUTHZ}/subjectaccessreviews", sar)
        self.assertEqual((code, body["status"]),
                         (201, {"allowed": False, "denied": True, "reason": "Everything is forbidden."}))
        del sar["spec"]["user"]
        code, body, _ = api.post(f"{AUTHZ}/subjectaccessreviews", sar)
        self.assertEqual((code, body["details"]["causes"][0]["message"]),
                         (422, 'Invalid value: "": at least one of user or group must be specified'))

    def test_local_subject_access_review(self) -> None:
        """
        A LocalSubjectAccessReview must ask about the URL's namespace.
        """
        api = self.api()
        lsar = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                "metadata": {"namespace": "default"},
                "spec": {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods",
                                                               "namespace": "default"}}}
        code, body, _ = api.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", lsar)
        self.assertEqual((code, body["status"]), (201, {"allowed": True}))
        lsar["spec"]["resourceAttributes"]["namespace"] = "other"
        code, body, _ = api.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", lsar)
        self.assertEqual((code, body["message"]), (400, "spec.resourceAttributes.namespace must match namespace: default"))

    def test_self_subject_rules_review(self) -> None:
        """
        With AlwaysAllow the rules are kube's wildcards; with AlwaysDeny there are none.
        """
        ssrr = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": "default"}}
        code, body, _ = self.api().post(f"{AUTHZ}/selfsubjectrulesreviews", ssrr)
        self.assertEqual((code, body["status"]), (201, {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }))
        body = self.api(build_authorizer(["AlwaysDeny"])).post(f"{AUTHZ}/selfsubjectrulesreviews", ssrr)[1]
        self.assertEqual(body["status"], {"resourceRules": [], "nonResourceRules": [], "incomplete": False})
        code, body, _ = self.api().post(f"{AUTHZ}/selfsubjectrulesreviews", {"spec": {}})
        self.assertEqual((code, body["message"]), (400, "no namespace on request"))

    def test_rules_incomplete(self) -> None:
        """
        An authorizer that cannot list its rules makes the answer incomplete.
        """

        class Opaque:
            def authorize(self, attributes):  # type: ignore[no-untyped-def]
                return None

        rules = self.successResultOf(UnionAuthorizer([AlwaysAllow(), Opaque()]).rules_for(None, "default"))
        self.assertEqual((len(rules[0]), rules[2]), (1, True))


class NetworkingTests(SynchronousTestCase):
    """
    networking.k8s.io/v1 ipaddresses and servicecidrs are stored, cluster-scoped, with kube's columns.
    """

    def test_stored(self) -> None:
        """
        Both are created and listed as Tables with their 1.33 columns; a ServiceCIDR's status is reset.
        """
        api = API(self)
        ip = {"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress", "metadata": {"name": "10.0.0.9"},
              "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default", "name": "s"}}}
        code, body, _ = api.post("/apis/networking.k8s.io/v1/ipaddresses", ip)
        self.assertEqual(code, 201, body)
        cidr = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": "extra"},
                "spec": {"cidrs": ["10.1.0.0/24"]}, "status": {"conditions": []}}
        code, body, _ = api.post("/apis/networking.k8s.io/v1/servicecidrs", cidr)
        self.assertEqual((code, body.get("status")), (201, {}))
        table = api.get("/apis/networking.k8s.io/v1/ipaddresses", headers=TABLE)[1]
        self.assertEqual([c["name"] for c in table["columnDefinitions"]], ["Name", "ParentRef", "Age"])
        self.assertEqual(table["rows"][0]["cells"][:2], ["10.0.0.9", "services/default/s"])
        table = api.get("/apis/networking.k8s.io/v1/servicecidrs", headers=TABLE)[1]
        self.assertEqual([c["name"] for c in table["columnDefinitions"]], ["Name", "CIDRs", "Age"])
        self.assertEqual(table["rows"][0]["cells"][:2], ["extra", "10.1.0.0/24"])

    def test_discovery(self) -> None:
        """
        The new resources and subresources are in discovery with kube's verbs.
        """
        api = API(self)
        api.registry.add(authorization.self_subject_rules_reviews(AlwaysAllow()))
        core = {r["name"]: r for r in self._resources(api, "/api/v1")}
        self.assertEqual(core["bindings"]["verbs"], ["create"])
        self.assertEqual((core["componentstatuses"]["verbs"], core["componentstatuses"]["shortNames"]),
                         (["get", "list"], ["cs"]))
        for sub in ("pods/ephemeralcontainers", "pods/resize"):
            self.assertEqual(core[sub]["verbs"], ["get", "patch", "update"])
        self.assertEqual(core["pods/proxy"]["kind"], "PodProxyOptions")
        net = {r["name"] for r in self._resources(api, "/apis/networking.k8s.io/v1")}
        self.assertTrue({"ipaddresses", "servicecidrs", "servicecidrs/status"} <= net, net)

    def _resources(self, api: API, path: str) -> list[dict]:
        treq = StubTreq(DiscoveryLink(NotFoundResource(), api.registry).resource())
        response = self.successResultOf(treq.get("http://kapid" + path))
        return orjson.loads(self.successResultOf(response.content()))["resources"]
