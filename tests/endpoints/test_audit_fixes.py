"""
Tests for the audit's conformance fixes through the HTTP API on the memory store: Scale and status
Tables, events.k8s.io columns, Go's reason phrases, Service clusterIP immutability, the apps
controllers' zero status counters and CSR approval conditions.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from kapid.apimachinery.status import StatusError
from kapid.auth.interfaces import UserInfo
from kapid.registry.allocator import ServiceAllocator
from kapid.registry.services import install_service_allocation
from kapid.server.link import reason_phrase, render_status
from tests.endpoints.helpers import API, deployment

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
APPS = "/apis/apps/v1/namespaces/default"


def _columns(body: dict) -> list[str]:
    return [c["name"] for c in body["columnDefinitions"]]


class SubresourceTableTests(SynchronousTestCase):
    """
    C{kubectl get deploy x --subresource=scale|status} asks for a Table of the subresource.
    """

    def test_scale_table(self) -> None:
        """
        The scale subresource answers kube's Name/Desired/Available Table.
        """
        api = API(self)
        api.post(f"{APPS}/deployments", deployment("web", replicas=3))
        code, body, _ = api.get(f"{APPS}/deployments/web/scale", headers=TABLE)
        self.assertEqual((code, body["kind"], _columns(body)), (200, "Table", ["Name", "Desired", "Available"]))
        self.assertEqual(body["rows"][0]["cells"], ["web", 3, 0])

    def test_status_table(self) -> None:
        """
        The status subresource answers the main resource's Table (kube's status REST converts too).
        """
        api = API(self)
        api.post(f"{APPS}/deployments", deployment("web"))
        code, body, _ = api.get(f"{APPS}/deployments/web/status", headers=TABLE)
        self.assertEqual((code, body["kind"]), (200, "Table"))
        self.assertEqual(_columns(body)[:5], ["Name", "Ready", "Up-to-date", "Available", "Age"])
        self.assertEqual(body["rows"][0]["cells"][:4], ["web", "0/1", 0, 0])


class EventTableTests(SynchronousTestCase):
    """
    events.k8s.io events print the core events' columns.
    """

    def test_same_columns(self) -> None:
        """
        Both groups' Tables start with Last Seen and end with the wide Name column, as kube's do.
        """
        api = API(self)
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}, "reason": "R", "message": "m",
              "type": "Normal", "involvedObject": {"kind": "ConfigMap", "name": "c", "namespace": "default"}}
        self.assertEqual(api.post("/api/v1/namespaces/default/events", ev)[0], 201)
        core = api.get("/api/v1/namespaces/default/events", headers=TABLE)[1]
        group = api.get("/apis/events.k8s.io/v1/namespaces/default/events", headers=TABLE)[1]
        self.assertEqual(_columns(group), _columns(core))
        self.assertEqual((_columns(group)[0], _columns(group)[-1]), ("Last Seen", "Name"))
        self.assertEqual(group["rows"][0]["cells"], core["rows"][0]["cells"])


class ReasonPhraseTests(SynchronousTestCase):
    """
    The status line carries Go's reason phrases, which Twisted lacks for 422 and 429.
    """

    def test_phrases(self) -> None:
        """
        422 and 429 get Go's phrases; an unknown code none.
        """
        self.assertEqual(reason_phrase(422), b"Unprocessable Entity")
        self.assertEqual(reason_phrase(429), b"Too Many Requests")
        self.assertEqual(reason_phrase(599), None)

    def test_rendered_429(self) -> None:
        """
        A 429 Status is written with C{Too Many Requests} in its status line.
        """
        request = DummyRequest([b""])
        render_status(request, StatusError(429, "TooManyRequests", "slow down"))
        self.assertEqual((request.responseCode, request.responseMessage), (429, b"Too Many Requests"))

    def test_invalid_over_http(self) -> None:
        """
        A 422 Invalid answer says C{Unprocessable Entity} on the wire.
        """
        api = API(self)
        d = api.treq.post("http://kapid/api/v1/namespaces/default/configmaps",
                          json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad"}})
        api.treq.flush()
        response = self.successResultOf(d)
        self.assertEqual((response.code, response.phrase), (422, b"Unprocessable Entity"))


class ServiceClusterIPTests(SynchronousTestCase):
    """
    A patch that changes only C{spec.clusterIP} is judged against C{clusterIPs} (kube's normalisation),
    with the daemon's allocating Service strategy.
    """

    def api(self) -> API:
        api = API(self)
        install_service_allocation(api.registry, ServiceAllocator(api.storage, "10.0.0.0/24", "30000-32767"))
        return api

    def test_changed_cluster_ip_refused(self) -> None:
        """
        Patching clusterIP to another address is kube's 422 on C{spec.clusterIPs[0]}.
        """
        api = self.api()
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80}]}}
        self.assertEqual(api.post("/api/v1/namespaces/default/services", svc)[0], 201)
        code, body, _ = api.patch("/api/v1/namespaces/default/services/s", {"spec": {"clusterIP": "10.0.0.6"}},
                                  "application/merge-patch+json")
        self.assertEqual(code, 422, body)
        self.assertEqual(body["details"]["causes"], [{
            "reason": "FieldValueInvalid", "field": "spec.clusterIPs[0]",
            "message": 'Invalid value: []string{"10.0.0.6"}: may not change once set',
        }])
        self.assertIn('Service "s" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.0.0.6"}: '
                      "may not change once set", body["message"])

    def test_unchanged_cluster_ip_kept(self) -> None:
        """
        A patch that leaves clusterIP alone keeps clusterIPs.
        """
        api = self.api()
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"clusterIP": "10.0.0.5", "clusterIPs": ["10.0.0.5"], "ports": [{"port": 80}]}}
        api.post("/api/v1/namespaces/default/services", svc)
        code, body, _ = api.patch("/api/v1/namespaces/default/services/s", {"metadata": {"labels": {"a": "b"}}},
                                  "application/merge-patch+json")
        self.assertEqual((code, body["spec"]["clusterIPs"]), (200, ["10.0.0.5"]))


class ZeroStatusTests(SynchronousTestCase):
    """
    The apps controllers' objects start with the counters kube writes even when zero.
    """

    def test_created_status(self) -> None:
        """
        StatefulSets, DaemonSets and ReplicaSets come back from create with kube's zero status.
        """
        api = API(self)
        template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        selector = {"matchLabels": {"a": "b"}}
        bodies = {
            "statefulsets": ("StatefulSet", {"serviceName": "s", "selector": selector, "template": template}),
            "daemonsets": ("DaemonSet", {"selector": selector, "template": template}),
            "replicasets": ("ReplicaSet", {"selector": selector, "template": template}),
        }
        statuses = {}
        for plural, (kind, spec) in bodies.items():
            code, body, _ = api.post(f"{APPS}/{plural}", {"apiVersion": "apps/v1", "kind": kind,
                                                           "metadata": {"name": "x", "labels": {"a": "b"}},
                                                           "status": {"replicas": 9}, "spec": spec})
            self.assertEqual(code, 201, body)
            statuses[kind] = body["status"]
        self.assertEqual(statuses, {
            "StatefulSet": {"replicas": 0, "availableReplicas": 0},
            "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                          "numberReady": 0},
            "ReplicaSet": {"replicas": 0},
        })


CSR = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
#: a PEM CERTIFICATE REQUEST body is not checked by the schema; any base64 will do
_REQUEST = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K"


def _csr(name: str) -> dict:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": _REQUEST, "signerName": "example.com/signer", "usages": ["client auth"]}}


class CSRApprovalTests(SynchronousTestCase):
    """
    C{kubectl certificate approve/deny} PUTs the CSR to C{/approval} with a new condition.
    """

    def approve(self, api: API, kind: str) -> dict:
        code, csr, _ = api.get(f"{CSR}/c")
        self.assertEqual(code, 200, csr)
        csr["spec"]["usages"] = ["server auth"]
        csr["status"] = {"conditions": [{"type": kind, "status": "True", "reason": "KubectlApprove",
                                         "message": "by test"}]}
        code, body, _ = api.put(f"{CSR}/c/approval", csr)
        self.assertEqual(code, 200, body)
        return body

    def test_approve(self) -> None:
        """
        The Approved condition is stored with timestamps; the spec is left as it was.
        """
        api = API(self)
        code, created, _ = api.post(CSR, _csr("c"))
        self.assertEqual(code, 201, created)
        body = self.approve(api, "Approved")
        stored = api.get(f"{CSR}/c")[1]
        for obj in (body, stored):
            [condition] = obj["status"]["conditions"]
            self.assertEqual((condition["type"], condition["status"], condition["reason"]),
                             ("Approved", "True", "KubectlApprove"))
            self.assertTrue(condition["lastUpdateTime"] and condition["lastTransitionTime"])
            self.assertEqual(obj["spec"]["usages"], ["client auth"])

    def test_requestor(self) -> None:
        """
        The requester's name, uid, groups and extra replace the client's spec.username/uid/groups/extra.
        """
        api = API(self).as_user(UserInfo("alice", "uid-a", ("devs", "system:authenticated"), {"k": ("v",)}))
        body = _csr("c")
        body["spec"].update(username="mallory", uid="x", groups=["system:masters"])
        code, created, _ = api.post(CSR, body)
        self.assertEqual(code, 201, created)
        spec = created["spec"]
        self.assertEqual((spec["username"], spec["uid"], spec["groups"], spec["extra"]),
                         ("alice", "uid-a", ["devs", "system:authenticated"], {"k": ["v"]}))
        self.assertEqual(api.get(f"{CSR}/c")[1]["spec"]["username"], "alice")

    def test_requestor_without_user(self) -> None:
        """
        Without a user on the request the requester fields are left empty.
        """
        api = API(self)
        body = _csr("c")
        body["spec"].update(username="mallory", groups=["system:masters"])
        spec = api.post(CSR, body)[1]["spec"]
        self.assertNotIn("username", spec)
        self.assertNotIn("groups", spec)

    def test_deny(self) -> None:
        """
        A Denied condition is stored the same way.
        """
        api = API(self)
        api.post(CSR, _csr("c"))
        self.approve(api, "Denied")
        self.assertEqual([c["type"] for c in api.get(f"{CSR}/c")[1]["status"]["conditions"]], ["Denied"])
