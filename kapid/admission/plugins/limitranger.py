"""
C{LimitRanger} (kube's C{plugin/pkg/admission/limitranger}): containers get the default requests
and limits of the namespace's LimitRanges (noted in the C{kubernetes.io/limit-ranger}
annotation); pods and PersistentVolumeClaims outside a LimitRange's min, max or limit/request
ratio are refused with kube's messages.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Optional

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, UPDATE, Attributes, IMutatingAdmission, IValidatingAdmission, forbidden
from kapid.registry.validation.core import parse_quantity

ANNOTATION = "kubernetes.io/limit-ranger"


def _q(value: Any) -> Fraction:
    v = parse_quantity(value)
    return v if v is not None else Fraction(0)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _milli(v: Fraction) -> int:
    """
    kube compares at milli precision (rounded up, as C{MilliValue} does).
    """
    scaled = v * 1000
    return -((-scaled.numerator) // scaled.denominator)


def _min(limit_type: str, name: str, enforced: Any, requests: dict, limits: dict) -> str:
    e = _milli(_q(enforced))
    if name not in requests:
        return f"minimum {name} usage per {limit_type} is {_text(enforced)}.  No request is specified"
    if _milli(_q(requests[name])) < e:
        return f"minimum {name} usage per {limit_type} is {_text(enforced)}, but request is {_text(requests[name])}"
    if name in limits and _milli(_q(limits[name])) < e:
        return f"minimum {name} usage per {limit_type} is {_text(enforced)}, but limit is {_text(limits[name])}"
    return ""


def _max(limit_type: str, name: str, enforced: Any, requests: dict, limits: dict) -> str:
    e = _milli(_q(enforced))
    if name not in limits:
        return f"maximum {name} usage per {limit_type} is {_text(enforced)}.  No limit is specified"
    if _milli(_q(limits[name])) > e:
        return f"maximum {name} usage per {limit_type} is {_text(enforced)}, but limit is {_text(limits[name])}"
    if name in requests and _milli(_q(requests[name])) > e:
        return f"maximum {name} usage per {limit_type} is {_text(enforced)}, but request is {_text(requests[name])}"
    return ""


def _max_request(limit_type: str, name: str, enforced: Any, requests: dict) -> str:
    if name not in requests:
        return f"maximum {name} usage per {limit_type} is {_text(enforced)}.  No request is specified"
    if _milli(_q(requests[name])) > _milli(_q(enforced)):
        return f"maximum {name} usage per {limit_type} is {_text(enforced)}, but request is {_text(requests[name])}"
    return ""


def _ratio(limit_type: str, name: str, enforced: Any, requests: dict, limits: dict) -> str:
    req = _milli(_q(requests[name])) if name in requests else 0
    lim = _milli(_q(limits[name])) if name in limits else 0
    if not req:
        return (f"{name} max limit to request ratio per {limit_type} is {_text(enforced)}, but no request is "
                "specified or request is 0")
    if not lim:
        return (f"{name} max limit to request ratio per {limit_type} is {_text(enforced)}, but no limit is "
                "specified or limit is 0")
    observed = Fraction(lim, req)
    if observed > _q(enforced):
        return (f"{name} max limit to request ratio per {limit_type} is {_text(enforced)}, but provided ratio "
                f"is {float(observed):f}")
    return ""


def _add(total: dict, more: dict) -> None:
    for k, v in more.items():
        total[k] = total.get(k, Fraction(0)) + _q(v)


def _max_into(total: dict, more: dict) -> None:
    for k, v in more.items():
        if k not in total or v > total[k]:
            total[k] = v


def pod_totals(spec: dict, which: str) -> dict:
    """
    kube's C{podRequests}/C{podLimits}: containers summed, (restartable) init containers as the
    scheduler counts them; values as quantity strings.
    """
    total: dict = {}
    for c in spec.get("containers") or []:
        _add(total, ((c.get("resources") or {}).get(which) or {}))
    restartable: dict = {}
    init: dict = {}
    for c in spec.get("initContainers") or []:
        res = (c.get("resources") or {}).get(which) or {}
        if c.get("restartPolicy") == "Always":
            _add(total, res)
            _add(restartable, res)
            current = dict(restartable)
        else:
            current = {}
            _add(current, res)
            for k, v in restartable.items():
                current[k] = current.get(k, Fraction(0)) + v
        _max_into(init, current)
    _max_into(total, init)
    return {k: _fraction_text(v) for k, v in total.items()}


def _fraction_text(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    m = v * 1000
    if m.denominator == 1:
        return f"{m.numerator}m"
    return str(float(v))


def _aggregate(errs: list[str]) -> str:
    """
    kube's C{utilerrors.NewAggregate(errs).Error()}.
    """
    if len(errs) == 1:
        return errs[0]
    return "[" + ", ".join(errs) + "]"


def validate_pod(limit_range: dict, pod: dict) -> list[str]:
    """
    kube's C{PodValidateLimitFunc}.
    """
    errs: list[str] = []
    spec = pod.get("spec") or {}
    for limit in (limit_range.get("spec") or {}).get("limits") or []:
        t = limit.get("type") or ""
        if t == "Container":
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                res = c.get("resources") or {}
                requests, limits = res.get("requests") or {}, res.get("limits") or {}
                for k, v in (limit.get("min") or {}).items():
                    errs.append(_min(t, k, v, requests, limits))
                for k, v in (limit.get("max") or {}).items():
                    errs.append(_max(t, k, v, requests, limits))
                for k, v in (limit.get("maxLimitRequestRatio") or {}).items():
                    errs.append(_ratio(t, k, v, requests, limits))
        if t == "Pod":
            requests, limits = pod_totals(spec, "requests"), pod_totals(spec, "limits")
            for k, v in (limit.get("min") or {}).items():
                errs.append(_min(t, k, v, requests, limits))
            for k, v in (limit.get("max") or {}).items():
                errs.append(_max(t, k, v, requests, limits))
            for k, v in (limit.get("maxLimitRequestRatio") or {}).items():
                errs.append(_ratio(t, k, v, requests, limits))
    return [e for e in errs if e]


def validate_claim(limit_range: dict, pvc: dict) -> list[str]:
    """
    kube's C{PersistentVolumeClaimValidateLimitFunc}: storage requests within min and max.
    """
    errs: list[str] = []
    requests = (((pvc.get("spec") or {}).get("resources") or {}).get("requests")) or {}
    for limit in (limit_range.get("spec") or {}).get("limits") or []:
        t = limit.get("type") or ""
        if t != "PersistentVolumeClaim":
            continue
        for k, v in (limit.get("min") or {}).items():
            errs.append(_min(t, k, v, requests, {}))
        for k, v in (limit.get("max") or {}).items():
            errs.append(_max_request(t, k, v, requests))
    return [e for e in errs if e]


def default_pod(limit_range: dict, pod: dict) -> None:
    """
    kube's C{PodMutateLimitFunc}: the Container limits' C{default}/C{defaultRequest} fill what
    containers do not set, recorded in the C{kubernetes.io/limit-ranger} annotation.
    """
    default_limits: dict = {}
    default_requests: dict = {}
    for limit in (limit_range.get("spec") or {}).get("limits") or []:
        if limit.get("type") == "Container":
            default_requests.update(limit.get("defaultRequest") or {})
            default_limits.update(limit.get("default") or {})
    notes: list[str] = []
    spec = pod.get("spec") or {}
    for key, prefix in (("containers", "container"), ("initContainers", "init container")):
        for c in spec.get(key) or []:
            res = c.setdefault("resources", {})
            limits = dict(res.get("limits") or {})
            requests = dict(res.get("requests") or {})
            set_limits = sorted(k for k in default_limits if k not in limits)
            set_requests = sorted(k for k in default_requests if k not in requests)
            for k in set_limits:
                limits[k] = default_limits[k]
            for k in set_requests:
                requests[k] = default_requests[k]
            if limits:
                res["limits"] = {k: limits[k] for k in sorted(limits)}
            if requests:
                res["requests"] = {k: requests[k] for k in sorted(requests)}
            if set_requests:
                notes.append(", ".join(set_requests) + f" request for {prefix} {c.get('name', '')}")
            if set_limits:
                notes.append(", ".join(set_limits) + f" limit for {prefix} {c.get('name', '')}")
    if notes:
        meta = pod.setdefault("metadata", {})
        annotations = dict(meta.get("annotations") or {})
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
        meta["annotations"] = annotations


@implementer(IMutatingAdmission, IValidatingAdmission)
class LimitRanger:
    """
    The plugin: pods (on create) and PersistentVolumeClaims (create and update).
    """

    name = "LimitRanger"

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        """
        C{CREATE} and C{UPDATE}.
        """
        return operation in (CREATE, UPDATE)

    def _supports(self, a: Attributes) -> Optional[str]:
        if a.subresource or not isinstance(a.object, dict):
            return None
        if a.is_kind("", "Pod"):
            return None if a.operation == UPDATE else "pods"
        if a.is_kind("", "PersistentVolumeClaim"):
            return "persistentvolumeclaims"
        return None

    async def _ranges(self, a: Attributes) -> list[dict]:
        if (a.old_object or {}).get("metadata", {}).get("deletionTimestamp"):
            return []
        return await self.context.list("", "limitranges", a.namespace, memo=a.memo)

    async def admit(self, a: Attributes) -> None:
        """
        Default pods' container resources.
        """
        if self._supports(a) != "pods":
            return
        for lr in await self._ranges(a):
            assert a.object is not None
            default_pod(lr, a.object)

    async def validate(self, a: Attributes) -> None:
        """
        Refuse what is outside a LimitRange.
        """
        kind = self._supports(a)
        if kind is None:
            return
        for lr in await self._ranges(a):
            assert a.object is not None
            errs = validate_pod(lr, a.object) if kind == "pods" else validate_claim(lr, a.object)
            if errs:
                raise forbidden(a, _aggregate(errs))


@register("LimitRanger")
def _factory(context: PluginContext, config: Any) -> LimitRanger:
    return LimitRanger(context)
