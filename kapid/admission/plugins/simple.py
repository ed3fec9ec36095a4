"""
kube's small optional plugins: C{AlwaysAdmit}, C{AlwaysDeny}, C{NamespaceExists},
C{NamespaceAutoProvision}, C{AlwaysPullImages}, C{ExtendedResourceToleration},
C{LimitPodHardAntiAffinityTopology} and C{PodNodeSelector}.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, UPDATE, Attributes, IMutatingAdmission, IValidatingAdmission, forbidden
from kapid.apimachinery.status import StatusError, not_found


class _Plugin:
    name = ""
    operations: tuple[str, ...] = (CREATE, UPDATE, "DELETE", "CONNECT")

    def __init__(self, context: PluginContext, config: Any = None) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        return operation in self.operations


@implementer(IMutatingAdmission, IValidatingAdmission)
class AlwaysAdmit(_Plugin):
    """
    Admits everything (deprecated in kube).
    """

    name = "AlwaysAdmit"

    def admit(self, a: Attributes) -> None:
        """
        Nothing to do.
        """

    def validate(self, a: Attributes) -> None:
        """
        Nothing to do.
        """


@implementer(IMutatingAdmission, IValidatingAdmission)
class AlwaysDeny(_Plugin):
    """
    Refuses every write (deprecated in kube).
    """

    name = "AlwaysDeny"

    def admit(self, a: Attributes) -> None:
        """
        Refuse.
        """
        raise forbidden(a, "admission control is denying all modifications")

    def validate(self, a: Attributes) -> None:
        """
        Refuse.
        """
        raise forbidden(a, "admission control is denying all modifications")


def _namespaced_content(a: Attributes) -> bool:
    return bool(a.namespace) and not (a.kind[0] == "" and a.kind[2] == "Namespace")


@implementer(IValidatingAdmission)
class NamespaceExists(_Plugin):
    """
    Writes into a namespace that does not exist are its 404.
    """

    name = "NamespaceExists"
    operations = (CREATE, UPDATE, "DELETE")

    async def validate(self, a: Attributes) -> None:
        """
        Refuse when the namespace is missing.
        """
        if not _namespaced_content(a):
            return
        ns = await self.context.get("", "namespaces", "", a.namespace, memo=a.memo)
        if ns is None:
            ns = await self.context.get("", "namespaces", "", a.namespace, live=True)
        if ns is None:
            raise not_found("namespaces", a.namespace)


@implementer(IMutatingAdmission)
class NamespaceAutoProvision(_Plugin):
    """
    A create into a namespace that does not exist creates the namespace first.
    """

    name = "NamespaceAutoProvision"
    operations = (CREATE,)

    async def admit(self, a: Attributes) -> None:
        """
        Create the namespace when it is missing.
        """
        if not _namespaced_content(a) or a.dry_run:
            return
        if await self.context.get("", "namespaces", "", a.namespace, memo=a.memo) is not None:
            return
        store = self.context.store("", "namespaces")
        if store is None or await self.context.get("", "namespaces", "", a.namespace, live=True) is not None:
            return
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.namespace}}
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default("v1", ns)
        try:
            await store.create("", ns, "v1")
        except StatusError as e:
            if e.code != 409:
                raise


@implementer(IMutatingAdmission, IValidatingAdmission)
class AlwaysPullImages(_Plugin):
    """
    Every container of a pod pulls its image always.
    """

    name = "AlwaysPullImages"
    operations = (CREATE, UPDATE)

    @staticmethod
    def _containers(pod: dict) -> list[tuple[str, dict]]:
        spec = pod.get("spec") or {}
        out = []
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for i, c in enumerate(spec.get(key) or []):
                if isinstance(c, dict):
                    out.append((f"spec.{key}[{i}].imagePullPolicy", c))
        return out

    def _applies(self, a: Attributes) -> bool:
        return a.is_resource("", "pods", a.subresource) and a.subresource in ("", "ephemeralcontainers") and isinstance(a.object, dict)

    def admit(self, a: Attributes) -> None:
        """
        Set C{imagePullPolicy: Always}.
        """
        if self._applies(a):
            assert a.object is not None
            for _, c in self._containers(a.object):
                c["imagePullPolicy"] = "Always"

    def validate(self, a: Attributes) -> None:
        """
        Refuse another pull policy.
        """
        if not self._applies(a):
            return
        assert a.object is not None
        from kapid.apimachinery import field

        for path, c in self._containers(a.object):
            if c.get("imagePullPolicy") != "Always":
                err = field.not_supported(path, c.get("imagePullPolicy") or "", ("Always",))
                raise forbidden(a, str(err))


def _extended_resource(name: str) -> bool:
    """
    kube's C{IsExtendedResourceName}: a domain-prefixed name outside C{kubernetes.io/}.
    """
    if name.startswith("requests.") or "/" not in name:
        return False
    return not (name.startswith("kubernetes.io/") or name.split("/", 1)[0].endswith(".kubernetes.io"))


@implementer(IMutatingAdmission)
class ExtendedResourceToleration(_Plugin):
    """
    A pod asking for an extended resource tolerates the taint named after it.
    """

    name = "ExtendedResourceToleration"
    operations = (CREATE, UPDATE)

    def admit(self, a: Attributes) -> None:
        """
        Add C{{key: <resource>, operator: Exists, effect: NoSchedule}} tolerations.
        """
        if a.subresource or not a.is_resource("", "pods") or not isinstance(a.object, dict):
            return
        spec = a.object.setdefault("spec", {})
        names: set[str] = set()
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                res = c.get("resources") or {}
                for table in (res.get("requests") or {}, res.get("limits") or {}):
                    names.update(n for n in table if _extended_resource(n))
        if not names:
            return
        tolerations = list(spec.get("tolerations") or [])
        for n in sorted(names):
            wanted = {"key": n, "operator": "Exists", "effect": "NoSchedule"}
            if not any(t.get("key") == n and t.get("operator") == "Exists" and t.get("effect") in ("NoSchedule", None, "")
                       for t in tolerations):
                tolerations.append(wanted)
        spec["tolerations"] = tolerations


@implementer(IValidatingAdmission)
class LimitPodHardAntiAffinityTopology(_Plugin):
    """
    Required pod anti-affinity may only use the C{kubernetes.io/hostname} topology key.
    """

    name = "LimitPodHardAntiAffinityTopology"
    operations = (CREATE, UPDATE)

    def validate(self, a: Attributes) -> None:
        """
        Refuse another topology key.
        """
        if a.subresource or not a.is_resource("", "pods") or not isinstance(a.object, dict):
            return
        anti = (((a.object.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity")) or {}
        for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            key = term.get("topologyKey") or ""
            if key != "kubernetes.io/hostname":
                raise forbidden(a, f"affinity.PodAntiAffinity.RequiredDuringScheduling has TopologyKey {key} but only "
                                   "key kubernetes.io/hostname is allowed")


for _cls in (AlwaysAdmit, AlwaysDeny, NamespaceExists, NamespaceAutoProvision, AlwaysPullImages,
             ExtendedResourceToleration, LimitPodHardAntiAffinityTopology):
    register(_cls.name)(_cls)


NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"


def _label_set(text: str) -> dict[str, str]:
    """
    kube's C{labels.ConvertSelectorToLabelsMap}: C{k=v,k2=v2}.
    """
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip()
    return out


@implementer(IMutatingAdmission, IValidatingAdmission)
class PodNodeSelector(_Plugin):
    """
    A namespace's node selector (its C{scheduler.alpha.kubernetes.io/node-selector} annotation,
    else the configured cluster default) is merged into its pods' and must not conflict with
    theirs; a pod's selector must stay within the namespace's configured whitelist.

    @param config: C{{"podNodeSelectorPluginConfig": {"clusterDefaultNodeSelector": "k=v",
        "<namespace>": "k=v"}}} (kube's configuration file).
    """

    name = "PodNodeSelector"
    operations = (CREATE, UPDATE)

    def __init__(self, context: PluginContext, config: Any = None) -> None:
        super().__init__(context)
        conf = (config or {}).get("podNodeSelectorPluginConfig") if isinstance(config, dict) else None
        self.conf: dict[str, str] = dict(conf or {})

    async def _namespace_selector(self, a: Attributes) -> dict[str, str]:
        ns = await self.context.get("", "namespaces", "", a.namespace, memo=a.memo) or {}
        annotations = (ns.get("metadata") or {}).get("annotations") or {}
        if NODE_SELECTOR_ANNOTATION in annotations:
            return _label_set(annotations[NODE_SELECTOR_ANNOTATION])
        return _label_set(self.conf.get("clusterDefaultNodeSelector", ""))

    def _applies(self, a: Attributes) -> bool:
        return not a.subresource and a.is_resource("", "pods") and isinstance(a.object, dict)

    async def admit(self, a: Attributes) -> None:
        """
        Merge the namespace's selector into the pod's (on create).
        """
        if not self._applies(a) or a.operation != CREATE:
            return
        assert a.object is not None
        spec = a.object.setdefault("spec", {})
        pod_selector = dict(spec.get("nodeSelector") or {})
        ns_selector = await self._namespace_selector(a)
        if any(k in pod_selector and pod_selector[k] != v for k, v in ns_selector.items()):
            raise forbidden(a, "pod node label selector conflicts with its namespace node label selector")
        merged = dict(ns_selector)
        merged.update(pod_selector)
        if merged:
            spec["nodeSelector"] = merged

    async def validate(self, a: Attributes) -> None:
        """
        The pod's selector agrees with the namespace's and stays within its whitelist.
        """
        if not self._applies(a):
            return
        assert a.object is not None
        pod_selector = ((a.object.get("spec") or {}).get("nodeSelector")) or {}
        ns_selector = await self._namespace_selector(a)
        if any(k in pod_selector and pod_selector[k] != v for k, v in ns_selector.items()):
            raise forbidden(a, "pod node label selector conflicts with its namespace node label selector")
        if a.namespace in self.conf:
            whitelist = _label_set(self.conf[a.namespace])
            if any(whitelist.get(k) != v for k, v in pod_selector.items()):
                raise forbidden(a, "pod node label selector labels conflict with its namespace whitelist")


register("PodNodeSelector")(PodNodeSelector)
