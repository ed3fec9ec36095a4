"""
The Node authorizer (C{--authorization-mode=Node}, kube's C{plugin/pkg/auth/authorizer/node}): a
kubelet (user C{system:node:<name>} in group C{system:nodes}) may read the Secrets, ConfigMaps,
PersistentVolumeClaims, PersistentVolumes and ServiceAccounts (token requests) that Pods bound to
its node refer to, its VolumeAttachments, its own Lease in C{kube-node-lease} and its own CSINode;
everything else it may do is what the C{system:node} ClusterRole's rules grant. Other users get no
opinion.

The relationships are kept in memory (L{NodeGraph}), fed by list+watch of Pods, PVCs, PVs and
VolumeAttachments (L{kapid.auth.rbac.RBACInformer} over the served storage): a decision never reads
the storage.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from zope.interface import implementer

from kapid.auth.interfaces import ALLOW, NO_OPINION, Attributes, Decision, IAuthorizer

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"

POD = "Pod"
PVC = "PersistentVolumeClaim"
PV = "PersistentVolume"
VOLUME_ATTACHMENT = "VolumeAttachment"
KINDS = (POD, PVC, PV, VOLUME_ATTACHMENT)

#: (group, plural) of the resources the graph watches, by kind.
RESOURCES = {POD: ("", "pods"), PVC: ("", "persistentvolumeclaims"), PV: ("", "persistentvolumes"),
             VOLUME_ATTACHMENT: ("storage.k8s.io", "volumeattachments")}


def node_identity(user: Any) -> tuple[Optional[str], bool]:
    """
    kube's C{NodeIdentifier}: (node name, is a node) for a user in C{system:nodes} named
    C{system:node:<name>}.
    """
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None, False
    return user.name[len(NODE_PREFIX):], True


def _pod_references(pod: dict) -> Iterator[tuple[str, str]]:
    """
    (kind, name) of what a Pod refers to: secrets, configmaps, PVCs, its ServiceAccount.
    """
    spec = pod.get("spec") or {}
    yield "serviceaccount", spec.get("serviceAccountName") or "default"
    for ref in spec.get("imagePullSecrets") or ():
        if ref.get("name"):
            yield "secret", ref["name"]
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    containers += list(spec.get("ephemeralContainers") or ())
    for c in containers:
        for source in c.get("envFrom") or ():
            if (source.get("secretRef") or {}).get("name"):
                yield "secret", source["secretRef"]["name"]
            if (source.get("configMapRef") or {}).get("name"):
                yield "configmap", source["configMapRef"]["name"]
        for env in c.get("env") or ():
            value_from = env.get("valueFrom") or {}
            if (value_from.get("secretKeyRef") or {}).get("name"):
                yield "secret", value_from["secretKeyRef"]["name"]
            if (value_from.get("configMapKeyRef") or {}).get("name"):
                yield "configmap", value_from["configMapKeyRef"]["name"]
    for volume in spec.get("volumes") or ():
        if (volume.get("secret") or {}).get("secretName"):
            yield "secret", volume["secret"]["secretName"]
        if (volume.get("configMap") or {}).get("name"):
            yield "configmap", volume["configMap"]["name"]
        if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
            yield "pvc", volume["persistentVolumeClaim"]["claimName"]
        if volume.get("ephemeral") is not None:
            yield "pvc", f"{(pod.get('metadata') or {}).get('name', '')}-{volume.get('name', '')}"
        for source in (volume.get("projected") or {}).get("sources") or ():
            if (source.get("secret") or {}).get("name"):
                yield "secret", source["secret"]["name"]
            if (source.get("configMap") or {}).get("name"):
                yield "configmap", source["configMap"]["name"]
        for key in ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos", "azureFile", "csi"):
            source = volume.get(key) or {}
            ref = source.get("secretRef") or source.get("nodePublishSecretRef") or {}
            if ref.get("name"):
                yield "secret", ref["name"]
            if key == "azureFile" and source.get("secretName"):
                yield "secret", source["secretName"]


def _pv_secrets(pv: dict) -> Iterator[tuple[str, str]]:
    """
    (namespace, name) of the Secrets a PersistentVolume refers to.
    """
    spec = pv.get("spec") or {}
    for key, value in spec.items():
        if not isinstance(value, dict):
            continue
        for ref_key in ("secretRef", "nodePublishSecretRef", "nodeStageSecretRef", "nodeExpandSecretRef",
                        "controllerPublishSecretRef"):
            ref = value.get(ref_key) or {}
            if ref.get("name"):
                yield ref.get("namespace") or "", ref["name"]


class NodeGraph:
    """
    Which objects each node's Pods refer to (the parts of kube's node graph kapid needs).
    """

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], dict] = {}
        self.pods_by_node: dict[str, set[tuple[str, str]]] = {}
        self.pvcs: dict[tuple[str, str], dict] = {}
        self.pvs: dict[str, dict] = {}
        self.attachments: dict[str, str] = {}
        self.synced_kinds: set[str] = set()

    @property
    def synced(self) -> bool:
        """
        Every kind has been listed.
        """
        return len(self.synced_kinds) == len(KINDS)

    @staticmethod
    def _ns_name(obj: dict) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace") or "", meta.get("name") or ""

    def put(self, kind: str, obj: dict) -> None:
        """
        Add or replace one object.
        """
        self.delete(kind, obj)
        key = self._ns_name(obj)
        if kind == POD:
            node = (obj.get("spec") or {}).get("nodeName") or ""
            self.pods[key] = obj
            if node:
                self.pods_by_node.setdefault(node, set()).add(key)
        elif kind == PVC:
            self.pvcs[key] = obj
        elif kind == PV:
            self.pvs[key[1]] = obj
        elif kind == VOLUME_ATTACHMENT:
            self.attachments[key[1]] = (obj.get("spec") or {}).get("nodeName") or ""

    def delete(self, kind: str, obj: dict) -> None:
        """
        Remove one object.
        """
        key = self._ns_name(obj)
        if kind == POD:
            old = self.pods.pop(key, None)
            if old is not None:
                node = (old.get("spec") or {}).get("nodeName") or ""
                pods = self.pods_by_node.get(node)
                if pods is not None:
                    pods.discard(key)
                    if not pods:
                        del self.pods_by_node[node]
        elif kind == PVC:
            self.pvcs.pop(key, None)
        elif kind == PV:
            self.pvs.pop(key[1], None)
        elif kind == VOLUME_ATTACHMENT:
            self.attachments.pop(key[1], None)

    def replace(self, kind: str, objs: list[dict]) -> None:
        """
        Replace every object of C{kind}; marks it synced.
        """
        if kind == POD:
            self.pods.clear()
            self.pods_by_node.clear()
        elif kind == PVC:
            self.pvcs.clear()
        elif kind == PV:
            self.pvs.clear()
        elif kind == VOLUME_ATTACHMENT:
            self.attachments.clear()
        for obj in objs:
            self.put(kind, obj)
        self.synced_kinds.add(kind)

    def related(self, node: str, kind: str, namespace: str, name: str) -> bool:
        """
        Whether a Pod on C{node} refers (through PVCs and PVs too) to the object.
        """
        for pod_key in self.pods_by_node.get(node, ()):
            pod = self.pods[pod_key]
            pod_ns = pod_key[0]
            for ref_kind, ref_name in _pod_references(pod):
                if ref_kind == kind and pod_ns == namespace and ref_name == name:
                    return True
                if ref_kind != "pvc" or kind not in ("pv", "secret"):
                    continue
                pvc = self.pvcs.get((pod_ns, ref_name))
                volume = ((pvc or {}).get("spec") or {}).get("volumeName") or ""
                if kind == "pv" and volume and volume == name:
                    return True
                if kind == "secret" and volume in self.pvs:
                    if (namespace, name) in set(_pv_secrets(self.pvs[volume])):
                        return True
        return False


def _no_relationship(node: str) -> Decision:
    return Decision(NO_OPINION, f"no relationship found between node '{node}' and this object")


@implementer(IAuthorizer)
class NodeAuthorizer:
    """
    kube's C{NodeAuthorizer} over a L{NodeGraph}.

    @ivar node_rules: the rules a node gets outside the graph (the C{system:node} role's).
    """

    def __init__(self, graph: NodeGraph, node_rules: Optional[list[dict]] = None) -> None:
        from kapid.auth.bootstrappolicy import CLUSTER_ROLES

        self.graph = graph
        self.node_rules = node_rules if node_rules is not None else list(CLUSTER_ROLES["system:node"][0])

    def authorize(self, attributes: Attributes) -> Decision:
        """
        Allow a node what its Pods need; no opinion for other users.
        """
        from kapid.auth.rbac import rule_allows

        node, is_node = node_identity(attributes.user)
        if not is_node:
            return Decision(NO_OPINION)
        if not node:
            return Decision(NO_OPINION, "unknown node")
        if attributes.is_resource_request:
            decision = self._resource(node, attributes)
            if decision is not None:
                return decision
        if any(rule_allows(attributes, rule) for rule in self.node_rules):
            return Decision(ALLOW)
        return Decision(NO_OPINION)

    def _resource(self, node: str, a: Attributes) -> Optional[Decision]:
        group, resource = a.api_group, a.resource
        if group == "" and resource in ("secrets", "configmaps"):
            return self._read(node, resource[:-1], a)
        if group == "" and resource == "persistentvolumeclaims":
            if a.subresource == "status":
                if a.verb not in ("update", "patch"):
                    return Decision(NO_OPINION, "can only update or patch resources of this type")
                return self._related(node, "pvc", a)
            return self._read(node, "pvc", a)
        if group == "" and resource == "persistentvolumes":
            return self._read(node, "pv", a)
        if group == "" and resource == "serviceaccounts" and a.subresource == "token":
            if a.verb != "create":
                return Decision(NO_OPINION, "can only create tokens for individual service accounts")
            return self._related(node, "serviceaccount", a)
        if group == "storage.k8s.io" and resource == "volumeattachments":
            if a.verb != "get" or not a.name:
                return Decision(NO_OPINION, "can only get individual resources of this type")
            return Decision(ALLOW) if self.graph.attachments.get(a.name) == node else _no_relationship(node)
        if group == "coordination.k8s.io" and resource == "leases":
            if a.verb not in ("get", "create", "update", "patch", "delete"):
                return Decision(NO_OPINION, "can only get, create, update, patch, or delete a node lease")
            if a.namespace != "kube-node-lease":
                return Decision(NO_OPINION, "can only access leases in the kube-node-lease namespace")
            if a.verb != "create" and a.name != node:
                return Decision(NO_OPINION, "can only access node lease with the same name as the requesting node")
            return Decision(ALLOW)
        if group == "storage.k8s.io" and resource == "csinodes":
            if a.verb not in ("get", "create", "update", "patch", "delete"):
                return Decision(NO_OPINION, "can only get, create, update, patch, or delete a CSINode")
            if a.verb != "create" and a.name != node:
                return Decision(NO_OPINION, "can only access CSINode with the same name as the requesting node")
            return Decision(ALLOW)
        return None

    def _read(self, node: str, kind: str, a: Attributes) -> Decision:
        if a.verb != "get":
            return Decision(NO_OPINION, "can only read resources of this type")
        if a.subresource:
            return Decision(NO_OPINION, "cannot read subresource")
        return self._related(node, kind, a)

    def _related(self, node: str, kind: str, a: Attributes) -> Decision:
        if not a.name:
            return Decision(NO_OPINION, "No Object name found")
        namespace = "" if kind == "pv" else a.namespace
        if self.graph.related(node, kind, namespace, a.name):
            return Decision(ALLOW)
        return _no_relationship(node)


def node_for_service(service: Any) -> NodeAuthorizer:
    """
    The server's one Node authorizer (kept as C{service.node_authorizer}), its graph fed by list+
    watch of the served storage.
    """
    existing = getattr(service, "node_authorizer", None)
    if existing is not None:
        return existing
    from kapid.auth.rbac import RBACInformer

    graph = NodeGraph()
    authorizer = NodeAuthorizer(graph)
    service.node_authorizer = authorizer
    storage = getattr(service, "api_storage", None)
    registry = getattr(service, "registry", None)
    if storage is None or registry is None:
        return authorizer
    prefixes = {}
    for kind, (group, plural) in RESOURCES.items():
        res = registry.lookup(group, "v1", plural)
        if res is None:
            graph.replace(kind, [])
        else:
            prefixes[kind] = res.key_prefix(service.config.etcd.etcd_prefix)
    informer = RBACInformer(storage, prefixes, graph, service.reactor)  # type: ignore[arg-type]
    stage = getattr(service, "shutdown_initiated", None)
    if stage is not None:
        stage.when_reached().addCallback(lambda _: informer.stop())
    informer.start()
    return authorizer
