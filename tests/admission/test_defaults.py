"""
Tests for L{kapid.admission.plugins.defaults}: default StorageClass and IngressClass, protection
finalizers, the not-ready taint, claim resize, RuntimeClass and the CSR subject restriction.
"""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.trial.unittest import SynchronousTestCase

from tests.admission.helpers import api_with

PVCS = "/api/v1/namespaces/default/persistentvolumeclaims"
SCS = "/apis/storage.k8s.io/v1/storageclasses"


def claim(name: str = "c", size: str = "1Gi", **spec: object) -> dict:
    s: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": s}


def storage_class(name: str, default: bool = False, **fields: object) -> dict:
    meta: dict = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    out: dict = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta, "provisioner": "p"}
    out.update(fields)
    return out


class DefaultClassTests(SynchronousTestCase):
    """
    DefaultStorageClass and DefaultIngressClass.
    """

    def test_storage_class(self) -> None:
        """
        A claim without storageClassName gets the newest default; an explicit "" is kept.
        """
        api = api_with(self, names=["DefaultStorageClass"])
        api.post(SCS, storage_class("old", True))
        api.clock.advance(10)
        api.post(SCS, storage_class("new", True))
        api.post(SCS, storage_class("plain"))
        _, body, _ = api.post(PVCS, claim("a"))
        self.assertEqual(body["spec"]["storageClassName"], "new")
        _, body, _ = api.post(PVCS, claim("b", storageClassName=""))
        self.assertEqual(body["spec"]["storageClassName"], "")

    def test_ingress_class(self) -> None:
        """
        An Ingress without a class gets the default IngressClass.
        """
        api = api_with(self, names=["DefaultIngressClass"])
        api.post("/apis/networking.k8s.io/v1/ingressclasses", {
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {
                "name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "k8s.io/ingress-nginx"}})
        code, body, _ = api.post("/apis/networking.k8s.io/v1/namespaces/default/ingresses", {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
            "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}})
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["ingressClassName"], "nginx")


class ProtectionTests(SynchronousTestCase):
    """
    StorageObjectInUseProtection and TaintNodesByCondition.
    """

    def test_finalizers_and_taint(self) -> None:
        """
        Claims and volumes get their protection finalizer, nodes the not-ready taint.
        """
        api = api_with(self, names=["StorageObjectInUseProtection", "TaintNodesByCondition"])
        _, body, _ = api.post(PVCS, claim())
        self.assertEqual(body["metadata"]["finalizers"], ["kubernetes.io/pvc-protection"])
        _, body, _ = api.post("/api/v1/persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}})
        self.assertEqual(body["metadata"]["finalizers"], ["kubernetes.io/pv-protection"])
        code, body, _ = api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}})
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["taints"], [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])


class ResizeTests(SynchronousTestCase):
    """
    PersistentVolumeClaimResize.
    """

    def test_resize(self) -> None:
        """
        Growing a claim whose class does not allow expansion is kube's 403; with it, allowed.
        """
        api = api_with(self, names=["PersistentVolumeClaimResize"])
        api.post(SCS, storage_class("fixed"))
        api.post(SCS, storage_class("grow", allowVolumeExpansion=True))
        for name in ("fixed", "grow"):
            api.post(PVCS, claim(name, storageClassName=name, volumeName="pv-" + name))
        patch = {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}
        code, body, _ = api.request("PATCH", PVCS + "/fixed", patch, content_type="application/merge-patch+json")
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc can be resized and the '
            "storageclass that provisions the pvc must support resize",
        )
        code, body, _ = api.request("PATCH", PVCS + "/grow", patch, content_type="application/merge-patch+json")
        self.assertNotEqual(code, 403, body)


class RuntimeClassTests(SynchronousTestCase):
    """
    RuntimeClass.
    """

    def test_runtime_class(self) -> None:
        """
        A missing class is 403; an existing one's overhead and node selector are applied.
        """
        api = api_with(self, names=["RuntimeClass"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"runtimeClassName": "gvisor", "containers": [{"name": "c", "image": "i"}]}}
        code, body, _ = api.post("/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'pods "p" is forbidden: pod rejected: RuntimeClass "gvisor" not found')
        api.post("/apis/node.k8s.io/v1/runtimeclasses", {
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc",
            "overhead": {"podFixed": {"cpu": "250m"}}, "scheduling": {"nodeSelector": {"sandbox": "true"}}})
        code, body, _ = api.post("/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["overhead"], {"cpu": "250m"})
        self.assertEqual(body["spec"]["nodeSelector"], {"sandbox": "true"})


def csr_pem(org: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "me"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])).sign(key, hashes.SHA256())
    return base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode()


class SubjectRestrictionTests(SynchronousTestCase):
    """
    CertificateSubjectRestriction.
    """

    def test_system_masters(self) -> None:
        """
        A kube-apiserver-client CSR for system:masters is 403; another group passes.
        """
        api = api_with(self, names=["CertificateSubjectRestriction"])
        path = "/apis/certificates.k8s.io/v1/certificatesigningrequests"

        def csr(name: str, org: str) -> dict:
            return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
                    "spec": {"request": csr_pem(org), "signerName": "kubernetes.io/kube-apiserver-client",
                             "usages": ["client auth"]}}

        code, body, _ = api.post(path, csr("bad", "system:masters"))
        self.assertEqual(code, 403, body)
        self.assertEqual(
            body["message"],
            'certificatesigningrequests.certificates.k8s.io "bad" is forbidden: use of '
            "kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed",
        )
        code, body, _ = api.post(path, csr("good", "devs"))
        self.assertEqual(code, 201, body)
