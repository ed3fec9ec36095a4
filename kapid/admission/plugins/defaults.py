"""
Small defaulting and protection plugins: C{DefaultStorageClass}, C{DefaultIngressClass},
C{StorageObjectInUseProtection}, C{TaintNodesByCondition}, C{PersistentVolumeClaimResize},
C{RuntimeClass} and C{CertificateSubjectRestriction}.
"""

from __future__ import annotations

import base64
from typing import Any, Optional

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, UPDATE, Attributes, IMutatingAdmission, IValidatingAdmission, forbidden
from kapid.registry.validation.core import parse_quantity


def _newest_default(items: list[dict], annotations: tuple[str, ...]) -> Optional[dict]:
    """
    The default among C{items} (an annotation C{"true"}); with several, the newest (then by name),
    as kube picks.
    """
    defaults = [i for i in items if any(((i.get("metadata") or {}).get("annotations") or {}).get(a) == "true"
                                        for a in annotations)]
    if not defaults:
        return None
    defaults.sort(key=lambda i: ((i.get("metadata") or {}).get("name") or ""))
    defaults.sort(key=lambda i: ((i.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    return defaults[0]


class _Plugin:
    name = ""
    operations: tuple[str, ...] = (CREATE,)

    def __init__(self, context: PluginContext, config: Any = None) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        return operation in self.operations


@implementer(IMutatingAdmission)
class DefaultStorageClass(_Plugin):
    """
    A PersistentVolumeClaim without C{storageClassName} gets the default StorageClass.
    """

    name = "DefaultStorageClass"

    async def admit(self, a: Attributes) -> None:
        """
        Set the default class.
        """
        if not a.is_resource("", "persistentvolumeclaims") or not isinstance(a.object, dict):
            return
        spec = a.object.setdefault("spec", {})
        if spec.get("storageClassName") is not None:
            return
        if "volume.beta.kubernetes.io/storage-class" in ((a.object.get("metadata") or {}).get("annotations") or {}):
            return
        classes = await self.context.list("storage.k8s.io", "storageclasses")
        default = _newest_default(classes, ("storageclass.kubernetes.io/is-default-class",
                                            "storageclass.beta.kubernetes.io/is-default-class"))
        if default is not None:
            spec["storageClassName"] = default["metadata"]["name"]


@implementer(IMutatingAdmission)
class DefaultIngressClass(_Plugin):
    """
    An Ingress without a class (field or annotation) gets the default IngressClass.
    """

    name = "DefaultIngressClass"

    async def admit(self, a: Attributes) -> None:
        """
        Set the default class.
        """
        if not a.is_resource("networking.k8s.io", "ingresses") or not isinstance(a.object, dict):
            return
        spec = a.object.setdefault("spec", {})
        if spec.get("ingressClassName") is not None:
            return
        if "kubernetes.io/ingress.class" in ((a.object.get("metadata") or {}).get("annotations") or {}):
            return
        classes = await self.context.list("networking.k8s.io", "ingressclasses")
        default = _newest_default(classes, ("ingressclass.kubernetes.io/is-default-class",))
        if default is not None:
            spec["ingressClassName"] = default["metadata"]["name"]


@implementer(IMutatingAdmission)
class StorageObjectInUseProtection(_Plugin):
    """
    New PersistentVolumes and PersistentVolumeClaims get their protection finalizer.
    """

    name = "StorageObjectInUseProtection"

    def admit(self, a: Attributes) -> None:
        """
        Add the finalizer.
        """
        if a.subresource or not isinstance(a.object, dict):
            return
        if a.is_resource("", "persistentvolumeclaims"):
            finalizer = "kubernetes.io/pvc-protection"
        elif a.is_resource("", "persistentvolumes"):
            finalizer = "kubernetes.io/pv-protection"
        else:
            return
        meta = a.object.setdefault("metadata", {})
        if finalizer not in (meta.get("finalizers") or []):
            meta["finalizers"] = list(meta.get("finalizers") or []) + [finalizer]


@implementer(IMutatingAdmission)
class TaintNodesByCondition(_Plugin):
    """
    A new Node is tainted C{node.kubernetes.io/not-ready:NoSchedule} until its kubelet says otherwise.
    """

    name = "TaintNodesByCondition"

    def admit(self, a: Attributes) -> None:
        """
        Add the taint.
        """
        if a.subresource or not a.is_resource("", "nodes") or not isinstance(a.object, dict):
            return
        spec = a.object.setdefault("spec", {})
        taints = list(spec.get("taints") or [])
        if any(t.get("key") == "node.kubernetes.io/not-ready" and t.get("effect") == "NoSchedule" for t in taints):
            return
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
        spec["taints"] = taints


@implementer(IValidatingAdmission)
class PersistentVolumeClaimResize(_Plugin):
    """
    A claim grows only when its StorageClass allows volume expansion.
    """

    name = "PersistentVolumeClaimResize"
    operations = (UPDATE,)

    async def validate(self, a: Attributes) -> None:
        """
        Refuse growing a claim its class cannot expand.
        """
        if a.subresource or not a.is_resource("", "persistentvolumeclaims") or not isinstance(a.object, dict):
            return
        def size(o: Optional[dict]) -> Any:
            return parse_quantity((((o or {}).get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage") or "0")

        new, old = size(a.object), size(a.old_object)
        if new is None or old is None or new <= old:
            return
        name = ((a.old_object or {}).get("spec") or {}).get("storageClassName") or ""
        sc = await self.context.get("storage.k8s.io", "storageclasses", "", name) if name else None
        if sc is None or not sc.get("allowVolumeExpansion"):
            raise forbidden(a, "only dynamically provisioned pvc can be resized and the storageclass that provisions "
                               "the pvc must support resize")


@implementer(IMutatingAdmission, IValidatingAdmission)
class RuntimeClass(_Plugin):
    """
    A pod's RuntimeClass exists, and its overhead and scheduling constraints are applied.
    """

    name = "RuntimeClass"

    async def _class(self, a: Attributes) -> Optional[dict]:
        spec = (a.object or {}).get("spec") or {}
        name = spec.get("runtimeClassName")
        if not name:
            return None
        rc = await self.context.get("node.k8s.io", "runtimeclasses", "", name)
        if rc is None:
            raise forbidden(a, f'pod rejected: RuntimeClass "{name}" not found')
        return rc

    async def admit(self, a: Attributes) -> None:
        """
        Copy the class's pod overhead and scheduling into the pod.
        """
        if a.subresource or not a.is_resource("", "pods") or not isinstance(a.object, dict):
            return
        rc = await self._class(a)
        if rc is None:
            return
        spec = a.object.setdefault("spec", {})
        fixed = (rc.get("overhead") or {}).get("podFixed")
        if fixed:
            if spec.get("overhead") is not None and spec["overhead"] != fixed:
                raise forbidden(a, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
            spec["overhead"] = dict(fixed)
        scheduling = rc.get("scheduling") or {}
        selector = scheduling.get("nodeSelector") or {}
        if selector:
            current = dict(spec.get("nodeSelector") or {})
            for k, v in selector.items():
                if k in current and current[k] != v:
                    raise forbidden(a, f"pod rejected: conflict: runtimeClass.scheduling.nodeSelector[{k}] = {v}; "
                                       f"pod.spec.nodeSelector[{k}] = {current[k]}")
                current[k] = v
            spec["nodeSelector"] = current
        tolerations = scheduling.get("tolerations") or []
        if tolerations:
            existing = list(spec.get("tolerations") or [])
            for t in tolerations:
                if t not in existing:
                    existing.append(t)
            spec["tolerations"] = existing

    async def validate(self, a: Attributes) -> None:
        """
        The pod's overhead is its class's.
        """
        if a.subresource or not a.is_resource("", "pods") or not isinstance(a.object, dict):
            return
        spec = a.object.get("spec") or {}
        if not spec.get("runtimeClassName"):
            if spec.get("overhead"):
                raise forbidden(a, "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")
            return
        rc = await self._class(a)
        fixed = ((rc or {}).get("overhead") or {}).get("podFixed")
        if spec.get("overhead") and spec.get("overhead") != fixed:
            raise forbidden(a, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")


@implementer(IValidatingAdmission)
class CertificateSubjectRestriction(_Plugin):
    """
    No client certificate for the C{system:masters} group through the kube-apiserver-client signer.
    """

    name = "CertificateSubjectRestriction"

    def validate(self, a: Attributes) -> None:
        """
        Refuse a CSR whose subject is in C{system:masters}.
        """
        if a.subresource or not a.is_resource("certificates.k8s.io", "certificatesigningrequests"):
            return
        spec = (a.object or {}).get("spec") or {}
        if spec.get("signerName") != "kubernetes.io/kube-apiserver-client":
            return
        organizations = _csr_organizations(spec.get("request"))
        if organizations is None:
            raise forbidden(a, "failed to parse CSR")
        if "system:masters" in organizations:
            raise forbidden(a, "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed")


def _csr_organizations(request: Any) -> Optional[list[str]]:
    """
    The subject organizations of a CSR's PEM request (base64 as the API carries it), or None.
    """
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        pem = base64.b64decode(request or "")
        csr = x509.load_pem_x509_csr(pem)
        return [str(attr.value) for attr in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    except Exception:
        return None


for _cls in (DefaultStorageClass, DefaultIngressClass, StorageObjectInUseProtection, TaintNodesByCondition,
             PersistentVolumeClaimResize, RuntimeClass, CertificateSubjectRestriction):
    register(_cls.name)(_cls)
