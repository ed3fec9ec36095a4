"""
apps/v1 resources: deployments, replicasets, statefulsets (each with status and scale), daemonsets
(status) and controllerrevisions.
"""

from __future__ import annotations

from typing import Any

from kapid.registry.builtin.core import _age, _str_field
from kapid.registry.description import Resource, Subresource, TableColumn, Version
from kapid.registry.strategy import GenericStrategy

_SCALE = Subresource("scale", "Scale", "autoscaling", "v1")


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, "apps", "v1")


def _n(obj: dict, *path: str) -> int:
    v: Any = obj
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    return int(v or 0)


def _containers(obj: dict) -> str:
    cs = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    return ",".join(c.get("name", "") for c in cs)


def _images(obj: dict) -> str:
    cs = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    return ",".join(c.get("image", "") for c in cs)


def _selector(obj: dict) -> str:
    sel = (obj.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        vals = ",".join(e.get("values") or [])
        if op == "In":
            parts.append(f"{e.get('key')} in ({vals})")
        elif op == "NotIn":
            parts.append(f"{e.get('key')} notin ({vals})")
        elif op == "Exists":
            parts.append(f"{e.get('key')}")
        elif op == "DoesNotExist":
            parts.append(f"!{e.get('key')}")
    return ",".join(parts) if parts else "<none>"


_WIDE = (
    TableColumn("Containers", "string", _containers, priority=1, description="Names of each container in the template."),
    TableColumn("Images", "string", _images, priority=1, description="Images referenced by each container in the template."),
    TableColumn("Selector", "string", _selector, priority=1, description="Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
)


def _strategy(kind: str, status: bool = True) -> GenericStrategy:
    return GenericStrategy("apps", kind, has_status=status, tracks_generation=True, reset_status={})


DEPLOYMENTS = Resource(
    group="apps",
    kind="Deployment",
    plural="deployments",
    singular="deployment",
    versions=(Version("v1", "io.k8s.api.apps.v1.Deployment", storage=True),),
    short_names=("deploy",),
    categories=("all",),
    subresources=(_SCALE, _status("Deployment")),
    strategy=_strategy("Deployment"),
    table_columns=(
        TableColumn("Ready", "string", lambda o: f"{_n(o, 'status', 'readyReplicas')}/{_n(o, 'spec', 'replicas')}", description="Number of the pod with ready state"),
        TableColumn("Up-to-date", "integer", lambda o: _n(o, "status", "updatedReplicas"), description="Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
        TableColumn("Available", "integer", lambda o: _n(o, "status", "availableReplicas"), description="Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        _age(),
    ) + _WIDE,
)

REPLICASETS = Resource(
    group="apps",
    kind="ReplicaSet",
    plural="replicasets",
    singular="replicaset",
    versions=(Version("v1", "io.k8s.api.apps.v1.ReplicaSet", storage=True),),
    short_names=("rs",),
    categories=("all",),
    subresources=(_SCALE, _status("ReplicaSet")),
    strategy=_strategy("ReplicaSet"),
    table_columns=(
        TableColumn("Desired", "integer", lambda o: _n(o, "spec", "replicas"), description="Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"),
        TableColumn("Current", "integer", lambda o: _n(o, "status", "replicas"), description="Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"),
        TableColumn("Ready", "integer", lambda o: _n(o, "status", "readyReplicas"), description="The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."),
        _age(),
    ) + _WIDE,
    field_selectors={"status.replicas": lambda o: str(_n(o, "status", "replicas"))},
)

STATEFULSETS = Resource(
    group="apps",
    kind="StatefulSet",
    plural="statefulsets",
    singular="statefulset",
    versions=(Version("v1", "io.k8s.api.apps.v1.StatefulSet", storage=True),),
    short_names=("sts",),
    categories=("all",),
    subresources=(_SCALE, _status("StatefulSet")),
    strategy=_strategy("StatefulSet"),
    table_columns=(
        TableColumn("Ready", "string", lambda o: f"{_n(o, 'status', 'readyReplicas')}/{_n(o, 'spec', 'replicas')}", description="Number of the pod with ready state"),
        _age(),
        TableColumn("Containers", "string", _containers, priority=1, description="Names of each container in the template."),
        TableColumn("Images", "string", _images, priority=1, description="Images referenced by each container in the template."),
    ),
)

DAEMONSETS = Resource(
    group="apps",
    kind="DaemonSet",
    plural="daemonsets",
    singular="daemonset",
    versions=(Version("v1", "io.k8s.api.apps.v1.DaemonSet", storage=True),),
    short_names=("ds",),
    categories=("all",),
    subresources=(_status("DaemonSet"),),
    strategy=_strategy("DaemonSet"),
    table_columns=(
        TableColumn("Desired", "integer", lambda o: _n(o, "status", "desiredNumberScheduled"), description="The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"),
        TableColumn("Current", "integer", lambda o: _n(o, "status", "currentNumberScheduled"), description="The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"),
        TableColumn("Ready", "integer", lambda o: _n(o, "status", "numberReady"), description="numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
        TableColumn("Up-to-date", "integer", lambda o: _n(o, "status", "updatedNumberScheduled"), description="The total number of nodes that are running updated daemon pod"),
        TableColumn("Available", "integer", lambda o: _n(o, "status", "numberAvailable"), description="The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
        TableColumn("Node Selector", "string", lambda o: ",".join(f"{k}={v}" for k, v in sorted((((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeSelector", {}).items())) or "<none>", description="NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
        _age(),
    ) + _WIDE,
)

CONTROLLERREVISIONS = Resource(
    group="apps",
    kind="ControllerRevision",
    plural="controllerrevisions",
    singular="controllerrevision",
    versions=(Version("v1", "io.k8s.api.apps.v1.ControllerRevision", storage=True),),
    strategy=GenericStrategy("apps", "ControllerRevision"),
    table_columns=(
        TableColumn("Controller", "string", lambda o: next((f"{(r.get('kind') or '').lower()}.{(r.get('apiVersion') or '').split('/')[0]}/{r.get('name')}" for r in (o.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), "<none>"), description="Controller of the object"),
        TableColumn("Revision", "integer", lambda o: o.get("revision") or 0, description="Revision indicates the revision of the state represented by Data."),
        _age(),
    ),
)

RESOURCES = (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, CONTROLLERREVISIONS)
