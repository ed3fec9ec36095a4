"""
C{NodeRestriction} (kube's C{plugin/pkg/admission/noderestriction}, when enabled): a kubelet
(user C{system:node:<name>} in C{system:nodes}) may only touch its own Node (not its taints, nor
labels outside the kubelet's set), mirror pods bound to itself, the status and eviction of pods
bound to itself, the status of claims, tokens for its own pods, its own Lease and CSINode.
"""

from __future__ import annotations

from typing import Any, Optional

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, DELETE, UPDATE, Attributes, IMutatingAdmission, forbidden
from kapid.apimachinery.status import not_found

MIRROR = "kubernetes.io/config.mirror"
_KUBELET_LABELS = {
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
}
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def node_identity(user: Any) -> tuple[Optional[str], bool]:
    """
    kube's C{NodeIdentity}: C{(node name, is a node)}.
    """
    if user is None or "system:nodes" not in (getattr(user, "groups", ()) or ()):
        return None, False
    name = getattr(user, "name", "") or ""
    if not name.startswith("system:node:"):
        return None, False
    return name[len("system:node:"):], True


def _label_namespace(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def _is_kubelet_label(key: str) -> bool:
    if key in _KUBELET_LABELS:
        return True
    ns = _label_namespace(key)
    return any(ns == n or ns.endswith("." + n) for n in _KUBELET_LABEL_NAMESPACES)


def forbidden_labels(labels: dict, old: Optional[dict]) -> list[str]:
    """
    The changed labels a kubelet may not set (node-restriction ones, unknown kubernetes.io/k8s.io).
    """
    old = old or {}
    changed = {k for k in set(labels) | set(old) if labels.get(k) != old.get(k) or (k in labels) != (k in old)}
    out = set()
    for key in changed:
        ns = _label_namespace(key)
        if ns == "node-restriction.kubernetes.io" or ns.endswith(".node-restriction.kubernetes.io"):
            out.add(key)
        kube = ns in ("kubernetes.io", "k8s.io") or ns.endswith(".kubernetes.io") or ns.endswith(".k8s.io")
        if kube and not _is_kubelet_label(key):
            out.add(key)
    return sorted(out)


def _references(spec: dict) -> tuple[bool, bool, bool, bool]:
    """
    Whether a pod spec references secrets, config maps, cluster trust bundles, claims.
    """
    secrets = bool(spec.get("imagePullSecrets"))
    configmaps = bundles = claims = False
    for v in spec.get("volumes") or []:
        secrets = secrets or v.get("secret") is not None
        configmaps = configmaps or v.get("configMap") is not None
        claims = claims or v.get("persistentVolumeClaim") is not None
        for kind in ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "storageos", "iscsi", "azureFile", "csi"):
            if isinstance(v.get(kind), dict) and (v[kind].get("secretRef") or v[kind].get("nodePublishSecretRef")):
                secrets = True
        for src in (v.get("projected") or {}).get("sources") or []:
            secrets = secrets or src.get("secret") is not None
            configmaps = configmaps or src.get("configMap") is not None
            bundles = bundles or src.get("clusterTrustBundle") is not None
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            for e in c.get("envFrom") or []:
                secrets = secrets or bool(e.get("secretRef"))
                configmaps = configmaps or bool(e.get("configMapRef"))
            for e in c.get("env") or []:
                ref = e.get("valueFrom") or {}
                secrets = secrets or bool(ref.get("secretKeyRef"))
                configmaps = configmaps or bool(ref.get("configMapKeyRef"))
    return secrets, configmaps, bundles, claims


@implementer(IMutatingAdmission)
class NodeRestriction:
    """
    The plugin.
    """

    name = "NodeRestriction"

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        """
        C{CREATE}, C{UPDATE}, C{DELETE}.
        """
        return operation in (CREATE, UPDATE, DELETE)

    async def admit(self, a: Attributes) -> None:
        """
        Restrict what a node may write.
        """
        node, is_node = node_identity(a.user)
        if not is_node:
            return
        if not node:
            raise forbidden(a, f'could not determine node from user "{getattr(a.user, "name", "")}"')
        group, _, plural = a.resource
        if (group, plural) == ("", "pods"):
            if a.subresource == "":
                await self._pod(node, a)
            elif a.subresource == "status":
                self._pod_status(node, a)
            elif a.subresource == "eviction":
                await self._eviction(node, a)
            else:
                raise forbidden(a, f"unexpected pod subresource \"{a.subresource}\", only 'status' and 'eviction' are allowed")
        elif (group, plural) == ("", "nodes"):
            self._node(node, a)
        elif (group, plural) == ("", "persistentvolumeclaims"):
            if a.subresource != "status":
                raise forbidden(a, "may only update PVC status")
        elif (group, plural) == ("", "serviceaccounts"):
            await self._token(node, a)
        elif (group, plural) == ("coordination.k8s.io", "leases"):
            if a.namespace != "kube-node-lease":
                raise forbidden(a, 'can only access leases in the "kube-node-lease" namespace')
            if a.name != node and ((a.object or {}).get("metadata") or {}).get("name") != node:
                raise forbidden(a, "can only access node lease with the same name as the requesting node")
        elif (group, plural) == ("storage.k8s.io", "csinodes"):
            if a.name != node and ((a.object or {}).get("metadata") or {}).get("name") != node:
                raise forbidden(a, "can only access CSINode with the same name as the requesting node")

    async def _existing_pod(self, a: Attributes, name: str) -> dict:
        pod = await self.context.get("", "pods", a.namespace, name, live=True)
        if pod is None:
            raise not_found("pods", name)
        return pod

    async def _pod(self, node: str, a: Attributes) -> None:
        if a.operation == DELETE:
            pod = await self._existing_pod(a, a.name)
            if (pod.get("spec") or {}).get("nodeName") != node:
                raise forbidden(a, f'node "{node}" can only delete pods with spec.nodeName set to itself')
            return
        if a.operation != CREATE:
            raise forbidden(a, f'unexpected operation "{a.operation}", node "{node}" can only create and delete mirror pods')
        pod = a.object or {}
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        if MIRROR not in (meta.get("annotations") or {}):
            raise forbidden(a, f'pod does not have "{MIRROR}" annotation, node "{node}" can only create mirror pods')
        if spec.get("nodeName") != node:
            raise forbidden(a, f'node "{node}" can only create pods with spec.nodeName set to itself')
        refs = meta.get("ownerReferences") or []
        if len(refs) > 1:
            raise forbidden(a, f'node "{node}" can only create pods with a single owner reference set to itself')
        if not refs:
            raise forbidden(a, f'node "{node}" can only create pods with an owner reference set to itself')
        owner = refs[0]
        if owner.get("apiVersion") != "v1" or owner.get("kind") != "Node" or owner.get("name") != node:
            raise forbidden(a, f'node "{node}" can only create pods with an owner reference set to itself')
        if not owner.get("controller"):
            raise forbidden(a, f'node "{node}" can only create pods with a controller owner reference set to itself')
        if owner.get("blockOwnerDeletion"):
            raise forbidden(a, f'node "{node}" must not set blockOwnerDeletion on an owner reference')
        node_obj = await self.context.get("", "nodes", "", node, live=True)
        if node_obj is None:
            raise not_found("nodes", node)
        uid = (node_obj.get("metadata") or {}).get("uid")
        if owner.get("uid") != uid:
            raise forbidden(a, f"node {node} UID mismatch: expected {owner.get('uid')} got {uid}")
        if spec.get("serviceAccountName"):
            raise forbidden(a, f'node "{node}" can not create pods that reference a service account')
        secrets, configmaps, bundles, claims = _references(spec)
        if secrets:
            raise forbidden(a, f'node "{node}" can not create pods that reference secrets')
        if configmaps:
            raise forbidden(a, f'node "{node}" can not create pods that reference configmaps')
        if bundles:
            raise forbidden(a, f'node "{node}" can not create pods that reference clustertrustbundles')
        if claims:
            raise forbidden(a, f'node "{node}" can not create pods that reference persistentvolumeclaims')

    def _pod_status(self, node: str, a: Attributes) -> None:
        if a.operation != UPDATE:
            raise forbidden(a, f'unexpected operation "{a.operation}"')
        old = a.old_object or {}
        if (old.get("spec") or {}).get("nodeName") != node:
            raise forbidden(a, f'node "{node}" can only update pod status for pods with spec.nodeName set to itself')
        new_labels = ((a.object or {}).get("metadata") or {}).get("labels") or {}
        if new_labels != ((old.get("metadata") or {}).get("labels") or {}):
            raise forbidden(a, f'node "{node}" cannot update labels through pod status')

    async def _eviction(self, node: str, a: Attributes) -> None:
        if a.operation != CREATE:
            raise forbidden(a, f"unexpected operation {a.operation}")
        name = a.name or ((a.object or {}).get("metadata") or {}).get("name") or ""
        if not name:
            raise forbidden(a, "could not determine pod from request data")
        pod = await self._existing_pod(a, name)
        if (pod.get("spec") or {}).get("nodeName") != node:
            raise forbidden(a, f"node {node} can only evict pods with spec.nodeName set to itself")

    def _node(self, node: str, a: Attributes) -> None:
        name = a.name or ((a.object or {}).get("metadata") or {}).get("name") or ""
        if name != node:
            raise forbidden(a, f'node "{node}" is not allowed to modify node "{name}"')
        obj = a.object or {}
        spec = obj.get("spec") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if a.operation == CREATE:
            if spec.get("configSource") is not None:
                raise forbidden(a, f'node "{node}" is not allowed to create pods with a non-nil configSource')
            bad = forbidden_labels(labels, None)
            if bad:
                raise forbidden(a, f'node "{node}" is not allowed to set the following labels: {", ".join(bad)}')
        elif a.operation == UPDATE:
            old = a.old_object or {}
            old_spec = old.get("spec") or {}
            if spec.get("configSource") is not None and spec.get("configSource") != old_spec.get("configSource"):
                raise forbidden(a, f'node "{node}" is not allowed to update configSource to a new non-nil configSource')
            if (spec.get("taints") or []) != (old_spec.get("taints") or []):
                raise forbidden(a, f'node "{node}" is not allowed to modify taints')
            bad = forbidden_labels(labels, (old.get("metadata") or {}).get("labels") or {})
            if bad:
                raise forbidden(a, f"is not allowed to modify labels: {', '.join(bad)}")

    async def _token(self, node: str, a: Attributes) -> None:
        if a.operation != CREATE or a.subresource != "token":
            return
        ref = ((a.object or {}).get("spec") or {}).get("boundObjectRef") or {}
        if ref.get("apiVersion") != "v1" or ref.get("kind") != "Pod" or not ref.get("name"):
            raise forbidden(a, "node requested token not bound to a pod")
        if not ref.get("uid"):
            raise forbidden(a, "node requested token with a pod binding without a uid")
        pod = await self._existing_pod(a, ref["name"])
        if ref["uid"] != (pod.get("metadata") or {}).get("uid"):
            raise forbidden(a, f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                               "The object might have been deleted and then recreated")
        if (pod.get("spec") or {}).get("nodeName") != node:
            raise forbidden(a, "node requested token bound to a pod scheduled on a different node")


@register("NodeRestriction")
def _factory(context: PluginContext, config: Any) -> NodeRestriction:
    return NodeRestriction(context)
