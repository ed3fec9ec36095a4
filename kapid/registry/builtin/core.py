"""
core/v1 resources owned by the API machinery: namespaces (+status, +finalize), configmaps, secrets,
pods (+status, +ephemeralcontainers, +resize, +proxy; graceful deletion), bindings (create-only: a pod's
binding by the Binding's name), componentstatuses (computed on every read) and events (TTL one hour;
C{involvedObject.*} field selectors).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from kapid.apimachinery import field as fielderr
from kapid.apimachinery.status import StatusError, bad_request, forbidden, invalid
from kapid.registry.description import Resource, Subresource, Version
from kapid.registry.strategy import GenericStrategy

log = Logger()


def _get(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _str_field(*path: str) -> Any:
    def get(obj: dict) -> str:
        v = _get(obj, *path)
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return get


# ---------------------------------------------------------------------------------------------------
# namespaces


class NamespaceStrategy(GenericStrategy):
    """
    Namespaces: DNS-label names, the C{kubernetes} finalizer and C{Active} phase on create, status
    and spec.finalizers kept on update, deletion as a process (C{Terminating}, content removed,
    finalized, gone); the system namespaces cannot be deleted.
    """

    def __init__(self) -> None:
        super().__init__("", "Namespace", has_status=True, name_validation="label")

    def prepare_for_create(self, obj: dict) -> None:
        meta = obj["metadata"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        name = meta.get("name") or ""
        if name:
            labels = dict(meta.get("labels") or {})
            labels["kubernetes.io/metadata.name"] = name
            meta["labels"] = labels

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        obj["spec"] = dict(obj.get("spec") or {})
        fin = (old.get("spec") or {}).get("finalizers")
        if fin is not None:
            obj["spec"]["finalizers"] = fin
        else:
            obj["spec"].pop("finalizers", None)
        name = obj["metadata"].get("name") or ""
        labels = dict(obj["metadata"].get("labels") or {})
        labels["kubernetes.io/metadata.name"] = name
        obj["metadata"]["labels"] = labels

    def prepare_for_finalize(self, obj: dict, old: dict) -> None:
        """
        The finalize subresource changes only C{spec.finalizers}.
        """
        fin = (obj.get("spec") or {}).get("finalizers")
        new = {k: v for k, v in old.items() if k != "spec"}
        new["spec"] = dict(old.get("spec") or {})
        if fin:
            new["spec"]["finalizers"] = fin
        else:
            new["spec"].pop("finalizers", None)
        new["metadata"] = dict(old["metadata"])
        new["metadata"]["resourceVersion"] = obj["metadata"].get("resourceVersion")
        obj.clear()
        obj.update(new)

    async def delete(self, store: Any, current: dict, options: dict, version: str, dry_run: bool) -> Optional[tuple]:
        """
        kube's namespace REST Delete.
        """
        from kapid.registry.store import IMMORTAL_NAMESPACES, Preconditions

        name = current["metadata"]["name"]
        if name in IMMORTAL_NAMESPACES:
            raise forbidden("namespaces", name, "this namespace may not be deleted")
        meta = current["metadata"]
        key = store.key("", name)
        if not meta.get("deletionTimestamp"):
            now = store.now()

            def mark(cur: Optional[dict]) -> dict:
                assert cur is not None
                cur["metadata"]["deletionTimestamp"] = cur["metadata"].get("deletionTimestamp") or now
                cur.setdefault("status", {})["phase"] = "Terminating"
                from kapid.apimachinery.meta import order_meta

                cur["metadata"] = order_meta(cur["metadata"])
                return cur

            if dry_run:
                import copy

                out = mark(copy.deepcopy(current))
                return store.to_version(out, version), False
            try:
                out = await store.storage.guaranteed_update(key, mark, Preconditions(uid=meta.get("uid")))
            except Exception as e:
                raise store._error(e, name)
            current = out
        if (current.get("spec") or {}).get("finalizers") or current["metadata"].get("finalizers"):
            return store.to_version(current, version), False
        if dry_run:
            return store.to_version(current, version), True
        try:
            deleted = await store.storage.delete(key, Preconditions(uid=meta.get("uid")))
        except Exception as e:
            raise store._error(e, name)
        return store.to_version(deleted, version), True


NAMESPACES = Resource(
    group="",
    kind="Namespace",
    plural="namespaces",
    singular="namespace",
    versions=(Version("v1", "io.k8s.api.core.v1.Namespace", storage=True),),
    namespaced=False,
    short_names=("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    subresources=(
        Subresource("finalize", "Namespace", "", "v1", ("update",)),
        Subresource("status", "Namespace", "", "v1"),
    ),
    strategy=NamespaceStrategy(),
    field_selectors={"status.phase": _str_field("status", "phase")},
    return_deleted_object=True,
)


# ---------------------------------------------------------------------------------------------------
# configmaps, secrets


CONFIGMAPS = Resource(
    group="",
    kind="ConfigMap",
    plural="configmaps",
    singular="configmap",
    versions=(Version("v1", "io.k8s.api.core.v1.ConfigMap", storage=True),),
    short_names=("cm",),
    strategy=GenericStrategy("", "ConfigMap"),
)


class SecretStrategy(GenericStrategy):
    """
    Secrets: C{stringData} is written into C{data} (base64) and dropped, as kube's v1 conversion
    does on decode.
    """

    def __init__(self) -> None:
        super().__init__("", "Secret")

    def default(self, version: str, obj: dict) -> None:
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            import base64

            data = dict(obj.get("data") or {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode("utf-8")).decode("ascii")
            obj["data"] = data
        super().default(version, obj)


SECRETS = Resource(
    group="",
    kind="Secret",
    plural="secrets",
    singular="secret",
    versions=(Version("v1", "io.k8s.api.core.v1.Secret", storage=True),),
    strategy=SecretStrategy(),
    field_selectors={"type": _str_field("type")},
)


# ---------------------------------------------------------------------------------------------------
# pods


def _qos_class(spec: dict) -> str:
    requests_limits = []
    guaranteed = True
    any_set = False
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        requests_limits.append((req, lim))
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class PodStrategy(GenericStrategy):
    """
    Pods: C{Pending} phase and QoS class on create; graceful deletion (immediate for pods that are
    not scheduled or are finished).
    """

    def __init__(self) -> None:
        super().__init__("", "Pod", has_status=True)

    def prepare_for_create(self, obj: dict) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}

    def _keep_old_except(self, obj: dict, old: dict) -> None:
        """
        Turn C{obj} into C{old} with only C{obj}'s resourceVersion and managedFields (kube's
        C{ResetObjectMetaForStatus} and a copy of the old spec and status).
        """
        obj["status"] = copy.deepcopy(old.get("status"))
        if obj["status"] is None:
            obj.pop("status")
        self.prepare_for_status_update(obj, old)
        obj["spec"] = copy.deepcopy(old.get("spec") or {})

    def prepare_for_ephemeralcontainers(self, obj: dict, old: dict) -> None:
        """
        kube's C{podEphemeralContainersStrategy}: a write to C{pods/<name>/ephemeralcontainers}
        changes only C{spec.ephemeralContainers}, which may be added to but never changed or
        removed.
        """
        wanted = copy.deepcopy((obj.get("spec") or {}).get("ephemeralContainers") or [])
        self._keep_old_except(obj, old)
        name = old["metadata"].get("name", "")
        errs = []
        before = {c.get("name"): c for c in (old.get("spec") or {}).get("ephemeralContainers") or []}
        after = {c.get("name") for c in wanted}
        for i, c in enumerate(wanted):
            path = f"spec.ephemeralContainers[{i}]"
            if not c.get("name"):
                errs.append(fielderr.required(f"{path}.name"))
            if not c.get("image"):
                errs.append(fielderr.required(f"{path}.image"))
            prior = before.get(c.get("name"))
            if prior is not None and prior != c:
                errs.append(fielderr.forbidden(path, f'existing ephemeral containers "{c.get("name")}" may not be changed'))
        for gone in before:
            if gone not in after:
                errs.append(fielderr.forbidden("spec.ephemeralContainers",
                                               f'existing ephemeral containers "{gone}" may not be removed\n'))
        if errs:
            raise invalid("Pod", name, errs)
        if wanted:
            obj["spec"]["ephemeralContainers"] = wanted
        else:
            obj["spec"].pop("ephemeralContainers", None)

    def prepare_for_resize(self, obj: dict, old: dict) -> None:
        """
        kube 1.33's C{podResizeStrategy}: a write to C{pods/<name>/resize} changes only the
        C{resources} and C{resizePolicy} of the pod's existing containers (and restartable init
        containers), matched by name.
        """
        new_spec = obj.get("spec") or {}
        self._keep_old_except(obj, old)
        for key in ("containers", "initContainers"):
            wanted = {c.get("name"): c for c in new_spec.get(key) or [] if isinstance(c, dict)}
            for c in obj["spec"].get(key) or []:
                if key == "initContainers" and c.get("restartPolicy") != "Always":
                    continue
                w = wanted.get(c.get("name"))
                if w is None:
                    continue
                for part in ("resources", "resizePolicy"):
                    if part in w:
                        c[part] = copy.deepcopy(w[part])
                    else:
                        c.pop(part, None)

    def prepare_for_proxy(self, obj: dict, old: dict) -> None:
        """
        C{pods/<name>/proxy}: kube refuses a pod without an IP (C{address not allowed}); with one,
        the link's answer for an unreachable backend follows.
        """
        if not _get(old, "status", "podIP"):
            raise bad_request("address not allowed")

    def check_graceful_delete(self, obj: dict, options: dict) -> Optional[int]:
        spec = obj.get("spec") or {}
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds")
            if grace is None:
                grace = 30
        if not spec.get("nodeName"):
            return 0
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        return max(int(grace), 0)


PODS = Resource(
    group="",
    kind="Pod",
    plural="pods",
    singular="pod",
    versions=(Version("v1", "io.k8s.api.core.v1.Pod", storage=True),),
    short_names=("po",),
    categories=("all",),
    subresources=(
        Subresource("attach", "PodAttachOptions", "", "v1", ("create", "get")),
        Subresource("binding", "Binding", "", "v1", ("create",)),
        Subresource("ephemeralcontainers", "Pod", "", "v1"),
        Subresource("eviction", "Eviction", "policy", "v1", ("create",)),
        Subresource("exec", "PodExecOptions", "", "v1", ("create", "get")),
        Subresource("log", "Pod", "", "v1", ("get",)),
        Subresource("portforward", "PodPortForwardOptions", "", "v1", ("create", "get")),
        Subresource("proxy", "PodProxyOptions", "", "v1", ("create", "delete", "get", "patch", "update")),
        Subresource("resize", "Pod", "", "v1"),
        Subresource("status", "Pod", "", "v1"),
    ),
    strategy=PodStrategy(),
    field_selectors={
        "spec.nodeName": _str_field("spec", "nodeName"),
        "spec.restartPolicy": _str_field("spec", "restartPolicy"),
        "spec.schedulerName": _str_field("spec", "schedulerName"),
        "spec.serviceAccountName": _str_field("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda o: "true" if _get(o, "spec", "hostNetwork") else "false",
        "status.phase": _str_field("status", "phase"),
        "status.podIP": _str_field("status", "podIP"),
        "status.nominatedNodeName": _str_field("status", "nominatedNodeName"),
    },
    return_deleted_object=True,
)


# ---------------------------------------------------------------------------------------------------
# events


EVENTS = Resource(
    group="",
    kind="Event",
    plural="events",
    singular="event",
    versions=(Version("v1", "io.k8s.api.core.v1.Event", storage=True),),
    short_names=("ev",),
    strategy=GenericStrategy("", "Event", allow_create_on_update=True),
    field_selectors={
        "involvedObject.kind": _str_field("involvedObject", "kind"),
        "involvedObject.namespace": _str_field("involvedObject", "namespace"),
        "involvedObject.name": _str_field("involvedObject", "name"),
        "involvedObject.uid": _str_field("involvedObject", "uid"),
        "involvedObject.apiVersion": _str_field("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _str_field("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _str_field("involvedObject", "fieldPath"),
        "reason": _str_field("reason"),
        "reportingComponent": _str_field("reportingComponent"),
        "source": lambda o: (o.get("reportingComponent") or _get(o, "source", "component") or ""),
        "type": _str_field("type"),
    },
    ttl=3600,
)


# ---------------------------------------------------------------------------------------------------
# bindings and componentstatuses


BINDINGS = Resource(
    group="",
    kind="Binding",
    plural="bindings",
    singular="binding",
    versions=(Version("v1", "io.k8s.api.core.v1.Binding", storage=True),),
    verbs=("create",),
    strategy=GenericStrategy("", "Binding"),
)

#: kube's probes of the components it expects next to it (the secure ports of kube-scheduler and
#: kube-controller-manager); kapid runs neither, so they answer as a refused connection does.
_COMPONENT_PORTS = (("scheduler", 10259), ("controller-manager", 10257))


def _component(name: str, condition: dict) -> dict:
    return {
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": None},
        "conditions": [dict({"type": "Healthy"}, **condition)],
    }


class ComponentStatusStrategy(GenericStrategy):
    """
    kube's deprecated C{componentstatuses}: computed on every read, never stored. C{etcd-0} is the
    storage's health (C{check}, a callable answering or raising, possibly through a Deferred; no
    check means healthy); the scheduler and controller manager are reported as kube-apiserver
    reports them when nothing listens on their ports.
    """

    read_warnings = ("v1 ComponentStatus is deprecated in v1.19+",)

    def __init__(self, check: Optional[Callable[[], Any]] = None) -> None:
        super().__init__("", "ComponentStatus")
        self.check = check

    def compute_list(self) -> Deferred:
        """
        A Deferred firing with the C{ComponentStatus} objects.
        """
        return Deferred.fromCoroutine(self._list())

    async def _list(self) -> list[dict]:
        out = []
        for name, port in _COMPONENT_PORTS:
            url = f"https://127.0.0.1:{port}/healthz"
            message = f'Get "{url}": dial tcp 127.0.0.1:{port}: connect: connection refused'
            out.append(_component(name, {"status": "False", "message": message}))
        try:
            if self.check is not None:
                await maybeDeferred(self.check)
        except Exception as e:
            out.append(_component("etcd-0", {"status": "False", "error": str(e) or type(e).__name__}))
        else:
            out.append(_component("etcd-0", {"status": "True", "message": "ok"}))
        return out


def component_statuses(check: Optional[Callable[[], Any]] = None) -> Resource:
    """
    The description of C{componentstatuses} reporting the storage through C{check}.
    """
    return Resource(
        group="",
        kind="ComponentStatus",
        plural="componentstatuses",
        singular="componentstatus",
        versions=(Version("v1", "io.k8s.api.core.v1.ComponentStatus", storage=True),),
        namespaced=False,
        short_names=("cs",),
        verbs=("get", "list"),
        strategy=ComponentStatusStrategy(check),
    )


COMPONENT_STATUSES = component_statuses()

RESOURCES = (NAMESPACES, CONFIGMAPS, SECRETS, PODS, EVENTS, BINDINGS, COMPONENT_STATUSES)
