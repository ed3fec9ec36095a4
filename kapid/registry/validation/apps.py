"""
Validation of apps/v1 kinds beyond their schema (kube's pkg/apis/apps/validation).
"""

from __future__ import annotations

import re
from typing import Any, Optional

from kapid.apimachinery import field

from .common import (
    Errs,
    go_label_selector,
    go_string_map,
    nonnegative,
    selector_is_empty,
    selector_matches,
    validate_label_selector,
)
from .core import validate_pod_template

_MATCH_MSG = "`selector` does not match template `labels`"
_PERCENT = re.compile(r"^[0-9]+%$")


def _selector_and_template(
    spec: dict, kind_word: str, errs: Errs, restart_always: bool = True
) -> None:
    """
    The selector/template rules shared by ReplicaSets, Deployments, DaemonSets and StatefulSets.
    """
    sel = spec.get("selector")
    if sel is None:
        errs.append(field.required("spec.selector"))
    else:
        errs.extend(validate_label_selector(sel, "spec.selector"))
        if selector_is_empty(sel):
            errs.append(
                field.invalid("spec.selector", go_label_selector(sel), f"empty selector is invalid for {kind_word}")
            )
    template = spec.get("template")
    if template is None:
        errs.append(field.required("spec.template"))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if sel is not None and not selector_is_empty(sel) and not selector_matches(sel, labels):
        errs.append(
            field.invalid("spec.template.metadata.labels", go_string_map(labels), _MATCH_MSG)
        )
    errs.extend(validate_pod_template(template, "spec.template"))
    rp = (template.get("spec") or {}).get("restartPolicy")
    if restart_always and rp is not None and rp != "Always":
        errs.append(field.not_supported("spec.template.spec.restartPolicy", rp, ("Always",)))
    ads = (template.get("spec") or {}).get("activeDeadlineSeconds")
    if ads is not None:
        errs.append(
            field.forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        )


def _int_or_percent(value: Any, path: str, errs: Errs) -> Optional[int]:
    """
    Check an IntOrString that must be a non-negative int or a percentage; returns its number.
    """
    if isinstance(value, str):
        if not _PERCENT.match(value):
            errs.append(field.invalid(path, value, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))
            return None
        n = int(value[:-1])
        if n > 100:
            errs.append(field.invalid(path, value, "must not be greater than 100%"))
        return n
    if isinstance(value, int):
        errs.extend(nonnegative(value, path))
        return value
    return None


def _update_selector(obj: dict, old: Optional[dict], errs: Errs) -> None:
    if old is None:
        return
    new_sel = (obj.get("spec") or {}).get("selector")
    old_sel = (old.get("spec") or {}).get("selector")
    if new_sel != old_sel:
        errs.append(field.invalid("spec.selector", go_label_selector(new_sel), "field is immutable"))


def _deployment(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    errs += nonnegative(spec.get("replicas"), "spec.replicas")
    _selector_and_template(spec, "deployment", errs)
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type")
    if stype not in (None, "Recreate", "RollingUpdate"):
        errs.append(field.not_supported("spec.strategy.type", stype, ("Recreate", "RollingUpdate")))
    ru = strategy.get("rollingUpdate")
    if stype == "Recreate" and ru is not None:
        errs.append(
            field.forbidden(
                "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
            )
        )
    if stype == "RollingUpdate" and isinstance(ru, dict):
        p = "spec.strategy.rollingUpdate"
        mu = _int_or_percent(ru.get("maxUnavailable"), f"{p}.maxUnavailable", errs)
        ms = _int_or_percent(ru.get("maxSurge"), f"{p}.maxSurge", errs)
        if mu == 0 and ms == 0:
            errs.append(
                field.invalid(f"{p}.maxUnavailable", ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0")
            )
    errs += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    pds = spec.get("progressDeadlineSeconds")
    if isinstance(pds, int):
        errs += nonnegative(pds, "spec.progressDeadlineSeconds")
        if pds <= (spec.get("minReadySeconds") or 0):
            errs.append(
                field.invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds")
            )
    _update_selector(obj, old, errs)
    return errs


def _replica_set(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    errs += nonnegative(spec.get("replicas"), "spec.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    _selector_and_template(spec, "deployment", errs)
    _update_selector(obj, old, errs)
    return errs


def _daemon_set(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    _selector_and_template(spec, "daemonset", errs)
    us = spec.get("updateStrategy") or {}
    t = us.get("type")
    if t not in (None, "OnDelete", "RollingUpdate"):
        errs.append(field.not_supported("spec.updateStrategy.type", t, ("OnDelete", "RollingUpdate")))
    ru = us.get("rollingUpdate")
    if t == "RollingUpdate" and isinstance(ru, dict):
        p = "spec.updateStrategy.rollingUpdate"
        mu = _int_or_percent(ru.get("maxUnavailable"), f"{p}.maxUnavailable", errs)
        ms = _int_or_percent(ru.get("maxSurge"), f"{p}.maxSurge", errs)
        if mu == 0 and ms == 0:
            errs.append(
                field.invalid(f"{p}.maxUnavailable", ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0")
            )
    errs += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    _update_selector(obj, old, errs)
    return errs


_STS_UPDATE_MSG = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


def _stateful_set(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    pmp = spec.get("podManagementPolicy")
    if pmp not in (None, "OrderedReady", "Parallel"):
        errs.append(
            field.not_supported("spec.podManagementPolicy", pmp, ("OrderedReady", "Parallel"))
        )
    us = spec.get("updateStrategy") or {}
    t = us.get("type")
    if t not in (None, "OnDelete", "RollingUpdate"):
        errs.append(field.not_supported("spec.updateStrategy.type", t, ("OnDelete", "RollingUpdate")))
    if t == "OnDelete" and us.get("rollingUpdate") is not None:
        errs.append(
            field.invalid(
                "spec.updateStrategy.rollingUpdate",
                field.GoValue("&apps.RollingUpdateStatefulSetStrategy{}"),
                "only allowed for updateStrategy 'RollingUpdate'",
            )
        )
    ru = us.get("rollingUpdate")
    if isinstance(ru, dict):
        errs += nonnegative(ru.get("partition"), "spec.updateStrategy.rollingUpdate.partition")
    errs += nonnegative(spec.get("replicas"), "spec.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    _selector_and_template(spec, "statefulset", errs)
    if old is not None:
        mutable = (
            "replicas", "ordinals", "template", "updateStrategy",
            "persistentVolumeClaimRetentionPolicy", "minReadySeconds",
        )
        a = {k: v for k, v in spec.items() if k not in mutable}
        b = {k: v for k, v in (old.get("spec") or {}).items() if k not in mutable}
        if a != b:
            errs.append(field.forbidden("spec", _STS_UPDATE_MSG))
    return errs


def _controller_revision(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    errs += nonnegative(obj.get("revision"), "revision")
    if obj.get("data") is None:
        errs.append(field.required("data"))
    if old is not None and obj.get("data") != old.get("data"):
        errs.append(field.invalid("data", field.GoValue("runtime.RawExtension{...}"), "field is immutable"))
    return errs


VALIDATORS = {
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "DaemonSet": _daemon_set,
    "StatefulSet": _stateful_set,
    "ControllerRevision": _controller_revision,
}
