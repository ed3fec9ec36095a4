"""
The housekeeping controllers end to end with real C{twistd kapid} processes and C{kubectl.1.33}:
namespace deletion with objects of several kinds (a custom resource among them), an owner chain
(a ConfigMap owned by a namespaced custom resource owned by a cluster-scoped one) under background,
foreground and orphan deletion, the root CA ConfigMap, CSR signing after
C{kubectl certificate approve}, the identity Lease, C{/readyz} and C{/metrics}; and three
processes on one etcd where the leader is killed and another takes over the controllers.
"""

from __future__ import annotations

import base64
import json
import signal
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.trial.unittest import TestCase

from tests.e2e.helpers import KapidProcess, _sleep, run_kubectl, start_kapid

CRDS = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: fleets.example.com}
spec:
  group: example.com
  names: {kind: Fleet, listKind: FleetList, plural: fleets, singular: fleet}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


class Kubectl:
    """
    kubectl 1.33 against one kapid.
    """

    def __init__(self, test: TestCase, kapid: KapidProcess) -> None:
        self.test = test
        self.kapid = kapid
        self.home = test.mktemp()

    def __call__(self, *args: str, input: Any = None, ok: bool = True) -> Any:
        result = run_kubectl("1.33", list(args), kubeconfig=self.kapid.kubeconfig, home=self.home, input=input, timeout=90)
        if ok:
            self.test.assertEqual(result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}")
        return result

    def obj(self, *args: str) -> dict:
        return json.loads(self("get", *args, "-o", "json").stdout)

    def apply(self, doc: dict) -> dict:
        return json.loads(self("apply", "-o", "json", "-f", "-", input=json.dumps(doc)).stdout)


def _meta(kind: str, api_version: str, name: str, namespace: str = "", owner: Any = None, **extra: Any) -> dict:
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if owner is not None:
        meta["ownerReferences"] = [{
            "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True,
        }]
    meta.update(extra)
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


async def _until(check: Any, timeout: float = 30.0) -> None:
    waited = 0.0
    while not check():
        if waited >= timeout:
            raise AssertionError("condition not reached in time")
        await _sleep(0.25)
        waited += 0.25


class ControllersTests(TestCase):
    """
    Namespace deletion and garbage collection on one kapid.
    """

    timeout = 240

    async def test_namespace_and_garbage_collection(self) -> None:
        """
        C{kubectl delete ns} with objects of several kinds returns and the namespace is then 404;
        an owner chain across a cluster-scoped custom resource, a namespaced one and a ConfigMap is
        collected in the background, in the foreground (the owner last) and orphaned.
        """
        kapid = await start_kapid(self, "--storage-backend=memory")
        k = Kubectl(self, kapid)
        k("apply", "-f", "-", input=CRDS)
        k("wait", "--for=condition=Established", "crd/widgets.example.com", "crd/fleets.example.com", "--timeout=30s")
        # namespace deletion
        k("create", "namespace", "doomed")
        k("-n", "doomed", "create", "configmap", "c", "--from-literal=a=b")
        k("-n", "doomed", "create", "secret", "generic", "s", "--from-literal=a=b")
        k("-n", "doomed", "create", "serviceaccount", "robot")
        k.apply(_meta("Widget", "example.com/v1", "w", "doomed"))
        out = k("delete", "namespace", "doomed", "--timeout=60s")
        self.assertIn('namespace "doomed" deleted', out.stdout)
        missing = k("get", "namespace", "doomed", ok=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn('namespaces "doomed" not found', missing.stderr)
        # owner chains
        for cascade in ("background", "foreground", "orphan"):
            fleet = k.apply(_meta("Fleet", "example.com/v1", f"f-{cascade}"))
            widget = k.apply(_meta("Widget", "example.com/v1", f"w-{cascade}", "default", fleet))
            k.apply(_meta("ConfigMap", "v1", f"c-{cascade}", "default", widget))
            k("delete", "fleet", f"f-{cascade}", f"--cascade={cascade}", "--wait=true", "--timeout=60s")
            names = ("widget", f"w-{cascade}"), ("configmap", f"c-{cascade}")

            def gone(kind: str, name: str) -> bool:
                return k("-n", "default", "get", kind, name, ok=False).returncode != 0

            if cascade == "orphan":
                for kind, name in names:
                    self.assertFalse(gone(kind, name))
                self.assertNotIn("ownerReferences", k.obj("-n", "default", "widget", f"w-{cascade}")["metadata"])
                self.assertIn("ownerReferences", k.obj("-n", "default", "configmap", f"c-{cascade}")["metadata"])
            elif cascade == "foreground":
                # the owner went last: its dependents were gone when kubectl's wait ended
                for kind, name in names:
                    self.assertTrue(gone(kind, name), (kind, name))
            else:
                await _until(lambda: all(gone(kind, name) for kind, name in names))
        # the rest: kube-root-ca.crt, CSR signing, identity lease, readyz and metrics
        ca = k.obj("-n", "default", "configmap", "kube-root-ca.crt")
        self.assertIn("BEGIN CERTIFICATE", ca["data"]["ca.crt"])
        key = ec.generate_private_key(ec.SECP256R1())
        request = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carol")])
        ).sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        k.apply({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                 "metadata": {"name": "carol"},
                 "spec": {"request": base64.b64encode(request).decode(), "usages": ["client auth"],
                          "signerName": "kubernetes.io/kube-apiserver-client"}})
        k("certificate", "approve", "carol")
        await _until(lambda: bool(k.obj("csr", "carol").get("status", {}).get("certificate")))
        cert = x509.load_pem_x509_certificate(base64.b64decode(k.obj("csr", "carol")["status"]["certificate"]))
        self.assertEqual(cert.subject.rfc4514_string(), "CN=carol")
        leases = k.obj("-n", "kube-system", "lease", "-l", "apiserver.kubernetes.io/identity=kube-apiserver")
        self.assertEqual(len(leases["items"]), 1)
        readyz = k("get", "--raw", "/readyz?verbose").stdout
        for hook in ("kapid-controller-manager", "start-namespace-controller", "start-garbage-collector-controller"):
            self.assertIn(f"[+]poststarthook/{hook} ok", readyz)
        metrics = k("get", "--raw", "/metrics").stdout
        for series in ('workqueue_adds_total{name="namespace"}', 'workqueue_depth{name="garbage_collector_attempt_to_delete"}',
                       'workqueue_retries_total{name="certificate"}'):
            self.assertTrue(series in metrics, series)


class LeaderElectionTests(TestCase):
    """
    Three kapid processes on one etcd run the controllers once; one other takes over when the
    leader is killed.
    """

    timeout = 300

    async def test_takeover_after_kill(self) -> None:
        """
        One process leads the Lease; a namespace whose deletion waits on a finalizer is finished
        by the other process after the leader is killed with SIGKILL, within the lease duration
        (plus the retry period).
        """
        from kapid.testing.etcd import EtcdServer

        etcd = await EtcdServer.start()
        self.addCleanup(etcd.stop)
        flags = (f"--etcd-servers={etcd.client_url}", "--leader-elect-lease-duration=4s",
                 "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s")
        processes = [await start_kapid(self, *flags) for _ in range(3)]
        lease = Kubectl(self, processes[1]).obj("-n", "kube-system", "lease", "kube-controller-manager")
        holder = lease["spec"]["holderIdentity"]
        leaders = [p for p in processes if f"{holder} is the leader now" in p.log]
        self.assertEqual(len(leaders), 1)
        leader = leaders[0]
        others = [p for p in processes if p is not leader]
        k = Kubectl(self, others[0])
        k("create", "namespace", "held")
        k("-n", "held", "create", "configmap", "plain")
        k.apply(_meta("ConfigMap", "v1", "pinned", "held", finalizers=["example.com/hold"]))
        k("delete", "namespace", "held", "--wait=false")
        await _until(lambda: k("-n", "held", "get", "configmap", "plain", ok=False).returncode != 0)
        leader.send_signal(signal.SIGKILL)
        k("-n", "held", "patch", "configmap", "pinned", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        await _until(lambda: any("is the leader now" in p.log for p in others), timeout=20)
        await _until(lambda: k("get", "namespace", "held", ok=False).returncode != 0, timeout=30)
        lease = k.obj("-n", "kube-system", "lease", "kube-controller-manager")
        self.assertNotEqual(lease["spec"]["holderIdentity"], holder)
        self.assertEqual(lease["spec"]["leaseTransitions"], 1)
        # exactly one of the survivors leads
        self.assertEqual(sum("is the leader now" in p.log for p in others), 1)
