"""
End-to-end tests of fault injection (L{kapid.server.faults}) on a real kapid, seen by the
C{kubernetes} client and kubectl, through the fixture's helper (L{kapid.testing.process.Faults}).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import urllib.parse

import kubernetes
from kubernetes.client.rest import ApiException
from twisted.trial.unittest import SynchronousTestCase

from kapid.testing.process import KapidProcess, KapidStartError

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"


class FaultInjectionTests(SynchronousTestCase):
    """
    A kapid with C{--enable-fault-injection=true} for each test.
    """

    def setUp(self) -> None:
        self.kapid = KapidProcess(self.mktemp(), ["--storage-backend=memory", "--enable-fault-injection=true"])
        self.addCleanup(self.kapid.stop_blocking)
        self.kapid.start_blocking()
        self.api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(self.kapid.client_configuration()))

    def test_conflict_on_update_then_retry(self) -> None:
        """
        A 409 on the next update of a ConfigMap: the client sees kube's Conflict; the retry works.
        """
        self.api.create_namespaced_config_map("default", {"metadata": {"name": "cm1"}, "data": {"a": "1"}})
        self.kapid.faults.inject(verb="update", resource="configmaps", namespace="default", name="cm1", code=409)
        cm = self.api.read_namespaced_config_map("cm1", "default")
        cm.data = {"a": "2"}
        with self.assertRaises(ApiException) as caught:
            self.api.replace_namespaced_config_map("cm1", "default", cm)
        self.assertEqual(caught.exception.status, 409)
        self.assertIn('"reason":"Conflict"', caught.exception.body)
        self.assertIn("the object has been modified", caught.exception.body)
        self.assertEqual(self.api.replace_namespaced_config_map("cm1", "default", cm).data, {"a": "2"})
        self.assertIn("Injected fault", self.kapid.log)

    def test_kubectl_sees_kubes_error(self) -> None:
        """
        kubectl prints kube's error for an injected 500 and exits 1; the fault is then spent.
        """
        self.kapid.faults.inject(verb="list", resource="namespaces", code=500)
        args = [KUBECTL, "get", "namespaces", "-o", "name"]
        done = subprocess.run(args, env=self.kapid.client_env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1)
        self.assertIn("Error from server (InternalError): Internal error occurred: etcdserver: request timed out",
                      done.stderr)
        done = subprocess.run(args, env=self.kapid.client_env, capture_output=True, text=True, timeout=60)
        self.assertEqual((done.returncode, "namespace/default" in done.stdout), (0, True), done.stderr)

    def test_list_and_remove(self) -> None:
        """
        The helper lists armed faults and removes one by id.
        """
        first = self.kapid.faults.inject(resource="pods", code=503, count=-1)
        second = self.kapid.faults.inject(resource="services", verb="get", delay=0.5)
        self.assertEqual([f["id"] for f in self.kapid.faults.list()], [first["id"], second["id"]])
        with self.assertRaises(ApiException) as caught:
            self.api.list_namespaced_pod("default")
        self.assertEqual(caught.exception.status, 503)
        self.kapid.faults.remove(first["id"])
        self.api.list_namespaced_pod("default")
        self.assertEqual([f["id"] for f in self.kapid.faults.list()], [second["id"]])
        with self.assertRaises(ValueError):
            self.kapid.faults.inject(verb="frobnicate", code=500)


    def open_watch(self, path: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        url = urllib.parse.urlsplit(self.kapid.insecure_url)
        connection = http.client.HTTPConnection(url.netloc, timeout=30)
        self.addCleanup(connection.close)
        connection.request("GET", path)
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        return connection, response

    def test_close_watches(self) -> None:
        """
        Closing watches ends the open streams: plainly (the stream just ends), or with a 410
        Expired ERROR event first; watches of other resources are left open when a resource is named.
        """
        self.api.create_namespaced_config_map("default", {"metadata": {"name": "w"}})
        rv = self.api.read_namespaced_config_map("w", "default").metadata.resource_version
        _, plain = self.open_watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}")
        _, expiring = self.open_watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}")
        _, secrets = self.open_watch("/api/v1/namespaces/default/secrets?watch=1")
        self.api.patch_namespaced_config_map("w", "default", {"data": {"a": "1"}})
        for stream in (plain, expiring):
            event = json.loads(stream.readline())
            self.assertEqual((event["type"], event["object"]["data"]), ("MODIFIED", {"a": "1"}))
        new_rv = event["object"]["metadata"]["resourceVersion"]
        self.assertEqual(self.kapid.faults.close_watches(), 3)
        self.assertEqual(plain.read(), b"")
        self.assertEqual(secrets.read(), b"")
        _, expiring = self.open_watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={new_rv}")
        _, secrets = self.open_watch("/api/v1/namespaces/default/secrets?watch=1")
        self.assertEqual(self.kapid.faults.close_watches(expired=True, resource="configmaps"), 1)
        error = json.loads(expiring.readline())
        self.assertEqual(error["type"], "ERROR")
        self.assertEqual({k: error["object"][k] for k in ("kind", "status", "reason", "code")},
                         {"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410})
        self.assertTrue(error["object"]["message"].startswith("too old resource version: "), error)
        self.assertEqual(expiring.read(), b"")
        self.kapid.faults.close_watches()
        self.assertEqual(secrets.read(), b"")

    def test_compact(self) -> None:
        """
        After compaction a list at an old exact resourceVersion is answered 410 Expired, as kube
        answers it once etcd has compacted.
        """
        self.api.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
        old = self.api.list_namespaced_config_map("default").metadata.resource_version
        self.api.patch_namespaced_config_map("c", "default", {"data": {"a": "1"}})
        code, _ = self.kapid.request(
            "GET", f"/api/v1/namespaces/default/configmaps?resourceVersion={old}&resourceVersionMatch=Exact")
        self.assertEqual(code, 200)
        revision = self.kapid.faults.compact()
        self.assertGreater(revision, int(old))
        code, status = self.kapid.request(
            "GET", f"/api/v1/namespaces/default/configmaps?resourceVersion={old}&resourceVersionMatch=Exact")
        self.assertEqual((code, status["reason"]), (410, "Expired"), status)


    def test_storage_unavailable(self) -> None:
        """
        While storage is unavailable /readyz is red and storage operations answer kube's 500
        ServerTimeout; when the outage ends (here: ended early) everything works again.
        """
        self.assertEqual(self.kapid.request("GET", "/readyz")[0], 200)
        self.kapid.faults.storage_unavailable(60)
        code, text = self.kapid.request("GET", "/readyz?verbose")
        self.assertEqual(code, 500, text)
        self.assertIn("[-]etcd failed", text)
        self.assertIn("[-]kapid-fault-injection failed", text)
        with self.assertRaises(ApiException) as caught:
            self.api.read_namespaced_config_map("kube-root-ca.crt", "default")
        self.assertEqual(caught.exception.status, 500)
        body = json.loads(caught.exception.body)
        self.assertEqual((body["reason"], body["message"], body.get("details", {}).get("retryAfterSeconds")),
                         ("ServerTimeout", "The get operation against configmaps could not be completed at this "
                          "time, please try again.", 2), body)
        with self.assertRaises(ApiException) as caught:
            self.api.create_namespaced_config_map("default", {"metadata": {"name": "down"}})
        self.assertEqual(caught.exception.status, 500)
        self.kapid.faults.storage_unavailable(0)
        code, text = self.kapid.request("GET", "/readyz?verbose")
        self.assertEqual(code, 200, text)
        self.assertIn("[+]kapid-fault-injection ok", text)
        self.api.create_namespaced_config_map("default", {"metadata": {"name": "down"}})


class FaultAuditTests(SynchronousTestCase):
    """
    Injected faults in the audit log.
    """

    def test_audit_annotation(self) -> None:
        """
        A request an injected fault hit carries the C{kapid.io/injected-fault} audit annotation
        (the fault); other requests do not.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        policy = os.path.join(base, "policy.yaml")
        with open(policy, "w") as f:
            f.write("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
        audit_log = os.path.join(base, "audit.log")
        with KapidProcess(base, ["--storage-backend=memory", "--enable-fault-injection=true",
                                 f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}"]) as kapid:
            fault = kapid.faults.inject(verb="get", resource="configmaps", name="nope", code=503)
            self.assertEqual(kapid.request("GET", "/api/v1/namespaces/default/configmaps/nope")[0], 503)
            self.assertEqual(kapid.request("GET", "/api/v1/namespaces/default/configmaps/other")[0], 404)
        with open(audit_log) as f:
            events = [json.loads(line) for line in f if '"ResponseComplete"' in line]
        by_uri = {e["requestURI"]: e for e in events}
        hit = by_uri["/api/v1/namespaces/default/configmaps/nope"]
        injected = json.loads(hit["annotations"]["kapid.io/injected-fault"])
        self.assertEqual((injected["id"], injected["code"], hit["responseStatus"]["code"]), (fault["id"], 503, 503))
        self.assertNotIn("kapid.io/injected-fault",
                         by_uri["/api/v1/namespaces/default/configmaps/other"].get("annotations", {}))


class FaultInjectionFlagTests(SynchronousTestCase):
    """
    The flag: off by default, refused beyond loopback.
    """

    def test_off_by_default(self) -> None:
        """
        Without the flag there is no faults API, and the helper says so.
        """
        with KapidProcess(args=["--storage-backend=memory"]) as kapid:
            self.assertEqual(kapid.request("GET", "/debug/kapid/faults")[0], 404)
            with self.assertRaises(RuntimeError) as caught:
                kapid.faults.list()
            self.assertIn("start kapid with --enable-fault-injection", str(caught.exception))

    def test_refused_beyond_loopback(self) -> None:
        """
        With a non-loopback bind kapid refuses to start.
        """
        kapid = KapidProcess(args=["--storage-backend=memory", "--enable-fault-injection=true",
                                   "--bind-address=0.0.0.0", "--secure-port=6443", "--insecure-port=0"])
        self.addCleanup(kapid.stop_blocking, check=False)
        with self.assertRaises(KapidStartError) as caught:
            kapid.start_blocking()
        self.assertIn("--enable-fault-injection: refused: only a server that listens on loopback addresses may "
                      "inject faults, and --bind-address=0.0.0.0 does not", caught.exception.reason)
