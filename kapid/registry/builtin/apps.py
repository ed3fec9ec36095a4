"""
apps/v1 resources: deployments, replicasets, statefulsets (each with status and scale), daemonsets
(status) and controllerrevisions.
"""

from __future__ import annotations

from typing import Any

from kapid.registry.description import Resource, Subresource, Version
from kapid.registry.strategy import GenericStrategy

_SCALE = Subresource("scale", "Scale", "autoscaling", "v1")


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, "apps", "v1")


def _n(obj: dict, *path: str) -> int:
    v: Any = obj
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    return int(v or 0)


#: the status a create starts from: the counters kube writes even when zero (no omitempty)
_ZERO_STATUS = {
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0},
}


def _strategy(kind: str, status: bool = True) -> GenericStrategy:
    return GenericStrategy(
        "apps", kind, has_status=status, tracks_generation=True, reset_status=_ZERO_STATUS.get(kind, {})
    )


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
)

CONTROLLERREVISIONS = Resource(
    group="apps",
    kind="ControllerRevision",
    plural="controllerrevisions",
    singular="controllerrevision",
    versions=(Version("v1", "io.k8s.api.apps.v1.ControllerRevision", storage=True),),
    strategy=GenericStrategy("apps", "ControllerRevision"),
)

RESOURCES = (DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, CONTROLLERREVISIONS)
