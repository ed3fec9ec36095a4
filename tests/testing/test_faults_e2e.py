"""
End-to-end tests of fault injection (L{kapid.server.faults}) on a real kapid, seen by the
C{kubernetes} client and kubectl, through the fixture's helper (L{kapid.testing.process.Faults}).
"""

from __future__ import annotations

import subprocess

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
