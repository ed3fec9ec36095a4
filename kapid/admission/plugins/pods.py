"""
Pod admission plugins: C{ServiceAccount} (the default service account, the projected API token
volume, image pull secrets, mountable secrets), C{DefaultTolerationSeconds} (the not-ready and
unreachable tolerations) and C{Priority} (priority from PriorityClasses, one global default).
"""

from __future__ import annotations

import random
from typing import Any, Optional

from twisted.internet.task import deferLater
from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import (
    CREATE,
    UPDATE,
    Attributes,
    IMutatingAdmission,
    IValidatingAdmission,
    forbidden,
)
from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import bad_request

DEFAULT_SERVICE_ACCOUNT = "default"
ENFORCE_MOUNTABLE_SECRETS = "kubernetes.io/enforce-mountable-secrets"
TOKEN_VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
#: kube's WarnOnlyBoundTokenExpirationSeconds (one hour and seven seconds)
TOKEN_EXPIRATION_SECONDS = 3607


def is_pod(a: Attributes) -> bool:
    """
    Whether the request is for a pod proper (not a subresource) with an object.
    """
    return a.is_resource("", "pods") and isinstance(a.object, dict)


def _parse_bool(value: Any) -> bool:
    return str(value).lower() in ("1", "t", "true")


def token_volume_source() -> dict:
    """
    kube's C{TokenVolumeSource}: the projected volume of a service account token, the cluster CA
    and the namespace.
    """
    return {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
        "defaultMode": 420,
    }


@implementer(IMutatingAdmission, IValidatingAdmission)
class ServiceAccount:
    """
    kube's C{ServiceAccount} plugin (pods, on create).
    """

    name = "ServiceAccount"
    limit_secret_references = False
    mount_service_account_token = True

    def __init__(self, context: PluginContext, rng: Optional[random.Random] = None) -> None:
        self.context = context
        self.rng = rng or random.Random()

    def handles(self, operation: str) -> bool:
        """
        C{CREATE} only.
        """
        return operation == CREATE

    async def service_account(self, a: Attributes, name: str) -> dict:
        """
        The service account, looked up again (10 times for C{default}, which the controller
        makes) before kube's 403.
        """
        sa = await self.context.get("", "serviceaccounts", a.namespace, name, memo=a.memo)
        attempts = 10 if name == DEFAULT_SERVICE_ACCOUNT else 1
        interval = (self.rng.randrange(100) + 100) / 1000.0
        for i in range(attempts):
            if sa is not None:
                return sa
            if i and self.context.clock is not None:
                await deferLater(self.context.clock, interval, lambda: None)
            sa = await self.context.get("", "serviceaccounts", a.namespace, name, live=True)
        if sa is not None:
            return sa
        raise forbidden(
            a, f'error looking up service account {a.namespace}/{name}: serviceaccount "{name}" not found'
        )

    async def admit(self, a: Attributes) -> None:
        """
        Default the service account, mount its token, copy its image pull secrets.
        """
        if not is_pod(a) or a.subresource:
            return
        pod = a.object
        assert pod is not None
        if MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            return await self.validate(a)
        spec = pod.setdefault("spec", {})
        if not spec.get("serviceAccountName"):
            # v1's deprecated serviceAccount names it when serviceAccountName does not
            spec["serviceAccountName"] = spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
        # v1 shows the name in the deprecated field too (kube's conversion)
        spec["serviceAccount"] = spec["serviceAccountName"]
        sa = await self.service_account(a, spec["serviceAccountName"])
        if self.mount_service_account_token and _should_automount(sa, spec):
            self.mount_token(spec)
        if not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in sa["imagePullSecrets"]]
        # kube's Admit ends with its Validate; here the chain's validating phase runs it

    def mount_token(self, spec: dict) -> None:
        """
        Mount the projected token volume at kube's path in every container that has nothing there.
        """
        volumes = spec.get("volumes") or []
        volume_name = ""
        for v in volumes:
            if (v.get("name") or "").startswith(TOKEN_VOLUME_PREFIX):
                volume_name = v["name"]
                break
        has_volume = bool(volume_name)
        if not volume_name:
            volume_name = metautil.generate_name(TOKEN_VOLUME_PREFIX, self.rng)
        mount = {"name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
        needs = False
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in c.get("volumeMounts") or []):
                    continue
                c.setdefault("volumeMounts", []).append(dict(mount))
                needs = True
        if needs and not has_volume:
            spec["volumes"] = volumes + [{"name": volume_name, "projected": token_volume_source()}]

    async def validate(self, a: Attributes) -> None:
        """
        Mirror pods reference no service account or secret; the service account exists; its
        mountable secrets are enforced when it asks.
        """
        if not is_pod(a) or a.subresource:
            return
        pod = a.object
        assert pod is not None
        spec = pod.get("spec") or {}
        if MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            if spec.get("serviceAccountName"):
                raise forbidden(a, "a mirror pod may not reference service accounts")
            if _secret_names(spec):
                raise forbidden(a, "a mirror pod may not reference secrets")
            for v in spec.get("volumes") or []:
                for src in (v.get("projected") or {}).get("sources") or []:
                    if src.get("serviceAccountToken") is not None:
                        raise forbidden(a, "a mirror pod may not use ServiceAccountToken volume projections")
            return
        name = spec.get("serviceAccountName") or ""
        sa = await self.service_account(a, name)
        annotation = ((sa.get("metadata") or {}).get("annotations") or {}).get(ENFORCE_MOUNTABLE_SECRETS)
        if self.limit_secret_references or (annotation is not None and _parse_bool(annotation)):
            problem = _limit_secret_references(sa, spec)
            if problem:
                raise forbidden(a, problem)


def _should_automount(sa: dict, spec: dict) -> bool:
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if sa.get("automountServiceAccountToken") is not None:
        return bool(sa["automountServiceAccountToken"])
    return True


def _secret_names(spec: dict) -> list[str]:
    """
    Every secret a pod spec references (volumes, env, envFrom, image pull secrets).
    """
    out = [s.get("name", "") for s in spec.get("imagePullSecrets") or []]
    for v in spec.get("volumes") or []:
        if v.get("secret") is not None:
            out.append((v["secret"] or {}).get("secretName", ""))
        for src in (v.get("projected") or {}).get("sources") or []:
            if src.get("secret") is not None:
                out.append((src["secret"] or {}).get("name", ""))
        for kind in ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "storageos", "iscsi", "azureFile", "csi"):
            ref = (v.get(kind) or {}).get("secretRef") if isinstance(v.get(kind), dict) else None
            if ref:
                out.append(ref.get("name", ""))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            for e in c.get("envFrom") or []:
                if e.get("secretRef"):
                    out.append(e["secretRef"].get("name", ""))
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    out.append(ref.get("name", ""))
    return out


def _limit_secret_references(sa: dict, spec: dict) -> str:
    """
    kube's C{limitSecretReferences}: the first reference the service account does not allow, as
    kube words it, or "".
    """
    sa_name = (sa.get("metadata") or {}).get("name", "")
    mountable = {s.get("name") for s in sa.get("secrets") or []}
    for v in spec.get("volumes") or []:
        if v.get("secret") is None:
            continue
        secret = (v["secret"] or {}).get("secretName", "")
        if secret not in mountable:
            return (f'volume with secret.secretName="{secret}" is not allowed because service account '
                    f"{sa_name} does not reference that secret")
    for key, what in (("initContainers", "init container"), ("containers", "container"),
                      ("ephemeralContainers", "ephemeral container")):
        for c in spec.get(key) or []:
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") not in mountable:
                    return (f'{what} {c.get("name", "")} with envVar {e.get("name", "")} referencing '
                            f'secret.secretName="{ref.get("name", "")}" is not allowed because service account '
                            f"{sa_name} does not reference that secret")
    pull = {s.get("name") for s in sa.get("imagePullSecrets") or []}
    for i, ref in enumerate(spec.get("imagePullSecrets") or []):
        if ref.get("name") not in pull:
            return (f'imagePullSecrets[{i}].name="{ref.get("name", "")}" is not allowed because service account '
                    f"{sa_name} does not reference that imagePullSecret")
    return ""


@register("ServiceAccount")
def _service_account(context: PluginContext, config: Any) -> ServiceAccount:
    return ServiceAccount(context)


# -------------------------------------------------------------------------------------------------
# DefaultTolerationSeconds

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


@implementer(IMutatingAdmission)
class DefaultTolerationSeconds:
    """
    kube's C{DefaultTolerationSeconds}: pods tolerate a not-ready or unreachable node for
    C{--default-not-ready-toleration-seconds} / C{--default-unreachable-toleration-seconds}.
    """

    name = "DefaultTolerationSeconds"

    def __init__(self, not_ready: int = 300, unreachable: int = 300) -> None:
        self.not_ready = not_ready
        self.unreachable = unreachable

    def handles(self, operation: str) -> bool:
        """
        C{CREATE} and C{UPDATE}.
        """
        return operation in (CREATE, UPDATE)

    def admit(self, a: Attributes) -> None:
        """
        Add the two tolerations a pod lacks.
        """
        if not a.is_resource("", "pods"):
            return
        if not isinstance(a.object, dict):
            raise bad_request(f"expected *api.Pod but got {type(a.object).__name__}")
        spec = a.object.setdefault("spec", {})
        tolerations = spec.get("tolerations") or []
        not_ready = unreachable = False
        for t in tolerations:
            key, effect = t.get("key") or "", t.get("effect") or ""
            if key in (NOT_READY_TAINT, "") and effect in ("NoExecute", ""):
                not_ready = True
            if key in (UNREACHABLE_TAINT, "") and effect in ("NoExecute", ""):
                unreachable = True
        added = list(tolerations)
        if not not_ready:
            added.append({"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute",
                          "tolerationSeconds": self.not_ready})
        if not unreachable:
            added.append({"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute",
                          "tolerationSeconds": self.unreachable})
        if len(added) != len(tolerations):
            spec["tolerations"] = added


@register("DefaultTolerationSeconds")
def _default_toleration_seconds(context: PluginContext, config: Any) -> DefaultTolerationSeconds:
    admission = getattr(context.config, "admission", None)
    return DefaultTolerationSeconds(
        getattr(admission, "not_ready_toleration_seconds", 300),
        getattr(admission, "unreachable_toleration_seconds", 300),
    )


# -------------------------------------------------------------------------------------------------
# Priority

#: kube's system PriorityClasses (C{scheduling/bootstrap-system-priority-classes}).
SYSTEM_PRIORITY_CLASSES = (
    ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
)


def system_priority_class(name: str, value: int, description: str) -> dict:
    """
    One of kube's system PriorityClasses.
    """
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "globalDefault": False,
        "description": description,
        "preemptionPolicy": "PreemptLowerPriority",
    }


@implementer(IMutatingAdmission, IValidatingAdmission)
class Priority:
    """
    kube's C{Priority} plugin: a pod's priority comes from its PriorityClass (or the global
    default, else 0); only one PriorityClass may be the global default.
    """

    name = "Priority"

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        """
        C{CREATE}, C{UPDATE}, C{DELETE}.
        """
        return operation in (CREATE, UPDATE, "DELETE")

    async def default_class(self, memo: Optional[dict] = None) -> Optional[dict]:
        """
        The global default PriorityClass with the lowest value, or None.
        """
        best = None
        from kapid.admission.context import watched

        for pc in await watched(self.context, "scheduling.k8s.io", "priorityclasses").items():
            if pc.get("globalDefault") and (best is None or (pc.get("value") or 0) < (best.get("value") or 0)):
                best = pc
        return best

    async def admit(self, a: Attributes) -> None:
        """
        Resolve a pod's priority on create; keep it on update.
        """
        if a.subresource or not a.is_resource("", "pods") or not isinstance(a.object, dict):
            return
        spec = a.object.setdefault("spec", {})
        if a.operation == UPDATE:
            old = (a.old_object or {}).get("spec") or {}
            for k in ("priority", "priorityClassName", "preemptionPolicy"):
                if k in old:
                    spec[k] = old[k]
                else:
                    spec.pop(k, None)
            return
        if a.operation != CREATE:
            return
        name: str = spec.get("priorityClassName") or ""
        policy: Any = None
        if not name:
            pc = await self.default_class(a.memo)
            if pc is None:
                priority, policy, name = 0, "PreemptLowerPriority", ""
            else:
                priority, policy = pc.get("value") or 0, pc.get("preemptionPolicy")
                name = pc["metadata"]["name"]
            if name:
                spec["priorityClassName"] = name
        else:
            pc = await self.context.get("scheduling.k8s.io", "priorityclasses", "", name)
            if pc is None:
                raise forbidden(a, f"no PriorityClass with name {name} was found")
            priority, policy = pc.get("value") or 0, pc.get("preemptionPolicy")
        given = spec.get("priority")
        if given is not None and given != priority:
            raise forbidden(
                a, f"the integer value of priority ({given}) must not be provided in pod spec; priority "
                   f"admission controller computed {priority} from the given PriorityClass name",
            )
        spec["priority"] = priority
        if policy:
            given_policy = spec.get("preemptionPolicy")
            if given_policy is not None and given_policy != policy:
                raise forbidden(
                    a, f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod spec; "
                       f"priority admission controller computed {policy} from the given PriorityClass name",
                )
            spec["preemptionPolicy"] = policy

    async def validate(self, a: Attributes) -> None:
        """
        Only one global default PriorityClass.
        """
        if a.subresource or not a.is_resource("scheduling.k8s.io", "priorityclasses"):
            return
        if a.operation not in (CREATE, UPDATE) or not isinstance(a.object, dict):
            return
        if not a.object.get("globalDefault"):
            return
        current = await self.default_class()
        if current is None:
            return
        cname = current["metadata"]["name"]
        if a.operation == CREATE or cname != (a.object.get("metadata") or {}).get("name"):
            raise forbidden(a, f"PriorityClass {cname} is already marked as default. Only one default can exist")


@register("Priority")
def _priority(context: PluginContext, config: Any) -> Priority:
    return Priority(context)


async def ensure_system_priority_classes(link: Any) -> None:
    """
    Create kube's system PriorityClasses that are missing (kube's
    C{scheduling/bootstrap-system-priority-classes} post-start hook).
    """
    res = link.registry.lookup("scheduling.k8s.io", "v1", "priorityclasses")
    if res is None:
        return
    store = link.store_for(res)
    from kapid.apimachinery.status import StatusError

    for name, value, description in SYSTEM_PRIORITY_CLASSES:
        if await store.storage.get(store.key("", name), "", True) is not None:
            continue
        obj = system_priority_class(name, value, description)
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default("v1", obj)
        try:
            await store.create("", obj, "v1")
        except StatusError as e:
            if e.code != 409:
                raise


def post_start_hook(service: Any) -> Any:
    """
    The daemon's C{scheduling/bootstrap-system-priority-classes} hook.
    """
    from twisted.internet.defer import Deferred, succeed

    link = getattr(service, "resource_link", None)
    if link is None:
        return succeed(None)
    return Deferred.fromCoroutine(ensure_system_priority_classes(link))
