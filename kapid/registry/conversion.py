"""
Version conversion through a hub.

An object is stored once, in its resource's storage version, and served in every served version.
For each family of kinds that needs more than a new C{apiVersion}, a L{Family} names a hub form
(kube's internal version, written here as the JSON of one served version) and, per other version,
a function into the hub and one out of it. L{convert} goes source -> hub -> target; kinds without a
family are converted by rewriting C{apiVersion} only.

Families:
  - C{autoscaling} C{HorizontalPodAutoscaler}: hub C{autoscaling/v2}. C{v1} keeps only the CPU
    utilization target and current value; everything else v2 has (other metrics, behavior, current
    metrics, conditions) travels in kube's round-trip annotations (L{HPA_ANNOTATIONS}), written when
    converting to v1 and lifted back out (and removed) when converting from it, in the formats kube
    uses: v1's own metric types for metrics, current metrics and conditions, and the field names of
    kube's internal type for behavior.
  - C{Event}: hub core C{v1} C{Event}; C{events.k8s.io/v1} C{Event} renames fields (C{involvedObject}
    <-> C{regarding}, C{message} <-> C{note}, C{source} <-> C{deprecatedSource}, ...).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

import attr
import orjson

#: kube's annotations carrying autoscaling/v2 data through an autoscaling/v1 object.
METRIC_SPECS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
METRIC_STATUSES_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
HPA_ANNOTATIONS = (
    METRIC_SPECS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    CONDITIONS_ANNOTATION,
)

#: What an autoscaling/v1 HPA without a CPU target means (kube's C{DefaultCPUUtilization}).
DEFAULT_CPU_UTILIZATION = 80

Converter = Callable[[dict], dict]


@attr.s(frozen=True, auto_attribs=True)
class Family:
    """
    Kinds converted through one hub.

    @ivar hub: the C{apiVersion} whose JSON form is the hub.
    @ivar kind: the kind in the hub version.
    @ivar to_hub: C{apiVersion} -> function from that version's object to the hub form.
    @ivar from_hub: C{apiVersion} -> function from the hub form to that version's object.
    @ivar kinds: C{apiVersion} -> kind, for versions whose kind differs from C{kind}.
    """

    hub: str
    kind: str
    to_hub: dict[str, Converter]
    from_hub: dict[str, Converter]
    kinds: dict[str, str] = attr.ib(factory=dict)


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def go_json(value: Any) -> str:
    """
    JSON text as Go's C{encoding/json} writes it: compact, with C{<}, C{>} and C{&} escaped.
    """
    text = orjson.dumps(value).decode("utf-8")
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _put(out: dict, key: str, value: Any) -> None:
    """
    Set C{key} unless C{value} is None (Go's C{omitempty} for pointers).
    """
    if value is not None:
        out[key] = value


# ---------------------------------------------------------------------------------------------
# autoscaling: HorizontalPodAutoscaler, hub autoscaling/v2


def _cross_ref(ref: Optional[dict]) -> dict:
    """
    A C{CrossVersionObjectReference} in Go's field order.
    """
    ref = ref or {}
    out = {"kind": ref.get("kind", ""), "name": ref.get("name", "")}
    if ref.get("apiVersion"):
        out["apiVersion"] = ref["apiVersion"]
    return out


def _metric_to_v1(metric: dict) -> dict:
    """
    A v2 C{MetricSpec} as autoscaling/v1's C{MetricSpec} (the format of the metrics annotation).
    """
    out: dict[str, Any] = {"type": metric.get("type", "")}
    if metric.get("object") is not None:
        src = metric["object"]
        target = src.get("target") or {}
        ident = src.get("metric") or {}
        obj: dict[str, Any] = {
            "target": _cross_ref(src.get("describedObject")),
            "metricName": ident.get("name", ""),
            "targetValue": target.get("value") or "0",
        }
        _put(obj, "selector", ident.get("selector"))
        _put(obj, "averageValue", target.get("averageValue"))
        out["object"] = obj
    if metric.get("pods") is not None:
        src = metric["pods"]
        target = src.get("target") or {}
        ident = src.get("metric") or {}
        pods: dict[str, Any] = {
            "metricName": ident.get("name", ""),
            "targetAverageValue": target.get("averageValue") or "0",
        }
        _put(pods, "selector", ident.get("selector"))
        out["pods"] = pods
    for key in ("resource", "containerResource"):
        if metric.get(key) is not None:
            src = metric[key]
            target = src.get("target") or {}
            res: dict[str, Any] = {"name": src.get("name", "")}
            _put(res, "targetAverageUtilization", target.get("averageUtilization"))
            _put(res, "targetAverageValue", target.get("averageValue"))
            if key == "containerResource":
                res["container"] = src.get("container", "")
            out[key] = res
    if metric.get("external") is not None:
        src = metric["external"]
        target = src.get("target") or {}
        ident = src.get("metric") or {}
        ext: dict[str, Any] = {"metricName": ident.get("name", "")}
        _put(ext, "metricSelector", ident.get("selector"))
        _put(ext, "targetValue", target.get("value"))
        _put(ext, "targetAverageValue", target.get("averageValue"))
        out["external"] = ext
    return out


def _identifier(name: Any, selector: Any) -> dict:
    out = {"name": name or ""}
    _put(out, "selector", selector)
    return out


def _metric_from_v1(metric: dict) -> dict:
    """
    An autoscaling/v1 C{MetricSpec} (from the metrics annotation) as a v2 C{MetricSpec}.
    """
    out: dict[str, Any] = {"type": metric.get("type", "")}
    if metric.get("object") is not None:
        src = metric["object"]
        target: dict[str, Any] = {
            "type": "Value" if src.get("averageValue") is None else "AverageValue",
            "value": src.get("targetValue") or "0",
        }
        _put(target, "averageValue", src.get("averageValue"))
        out["object"] = {
            "describedObject": _cross_ref(src.get("target")),
            "target": target,
            "metric": _identifier(src.get("metricName"), src.get("selector")),
        }
    if metric.get("pods") is not None:
        src = metric["pods"]
        out["pods"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "target": {"type": "AverageValue", "averageValue": src.get("targetAverageValue") or "0"},
        }
    for key in ("resource", "containerResource"):
        if metric.get(key) is not None:
            src = metric[key]
            utilization = src.get("targetAverageUtilization")
            target = {"type": "AverageValue" if utilization is None else "Utilization"}
            _put(target, "averageValue", src.get("targetAverageValue"))
            _put(target, "averageUtilization", utilization)
            res: dict[str, Any] = {"name": src.get("name", ""), "target": target}
            if key == "containerResource":
                res["container"] = src.get("container", "")
            out[key] = res
    if metric.get("external") is not None:
        src = metric["external"]
        value = src.get("targetValue")
        target = {"type": "AverageValue" if value is None else "Value"}
        _put(target, "value", value)
        _put(target, "averageValue", src.get("targetAverageValue"))
        out["external"] = {
            "metric": _identifier(src.get("metricName"), src.get("metricSelector")),
            "target": target,
        }
    return out


def _metric_status_to_v1(status: dict) -> dict:
    """
    A v2 C{MetricStatus} as autoscaling/v1's (the format of the current-metrics annotation).
    """
    out: dict[str, Any] = {"type": status.get("type", "")}
    if status.get("object") is not None:
        src = status["object"]
        current = src.get("current") or {}
        ident = src.get("metric") or {}
        obj: dict[str, Any] = {
            "target": _cross_ref(src.get("describedObject")),
            "metricName": ident.get("name", ""),
            "currentValue": current.get("value") or "0",
        }
        _put(obj, "selector", ident.get("selector"))
        _put(obj, "averageValue", current.get("averageValue"))
        out["object"] = obj
    if status.get("pods") is not None:
        src = status["pods"]
        current = src.get("current") or {}
        ident = src.get("metric") or {}
        pods: dict[str, Any] = {
            "metricName": ident.get("name", ""),
            "currentAverageValue": current.get("averageValue") or "0",
        }
        _put(pods, "selector", ident.get("selector"))
        out["pods"] = pods
    for key in ("resource", "containerResource"):
        if status.get(key) is not None:
            src = status[key]
            current = src.get("current") or {}
            res: dict[str, Any] = {"name": src.get("name", "")}
            _put(res, "currentAverageUtilization", current.get("averageUtilization"))
            res["currentAverageValue"] = current.get("averageValue") or "0"
            if key == "containerResource":
                res["container"] = src.get("container", "")
            out[key] = res
    if status.get("external") is not None:
        src = status["external"]
        current = src.get("current") or {}
        ident = src.get("metric") or {}
        ext: dict[str, Any] = {"metricName": ident.get("name", "")}
        _put(ext, "metricSelector", ident.get("selector"))
        ext["currentValue"] = current.get("value") or "0"
        _put(ext, "currentAverageValue", current.get("averageValue"))
        out["external"] = ext
    return out


def _metric_status_from_v1(status: dict) -> dict:
    """
    An autoscaling/v1 C{MetricStatus} (from the current-metrics annotation) as a v2 C{MetricStatus}.
    """
    out: dict[str, Any] = {"type": status.get("type", "")}
    if status.get("object") is not None:
        src = status["object"]
        current: dict[str, Any] = {"value": src.get("currentValue") or "0"}
        _put(current, "averageValue", src.get("averageValue"))
        out["object"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "current": current,
            "describedObject": _cross_ref(src.get("target")),
        }
    if status.get("pods") is not None:
        src = status["pods"]
        out["pods"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "current": {"averageValue": src.get("currentAverageValue") or "0"},
        }
    for key in ("resource", "containerResource"):
        if status.get(key) is not None:
            src = status[key]
            current = {"averageValue": src.get("currentAverageValue") or "0"}
            _put(current, "averageUtilization", src.get("currentAverageUtilization"))
            res: dict[str, Any] = {"name": src.get("name", ""), "current": current}
            if key == "containerResource":
                res["container"] = src.get("container", "")
            out[key] = res
    if status.get("external") is not None:
        src = status["external"]
        current = {"value": src.get("currentValue") or "0"}
        _put(current, "averageValue", src.get("currentAverageValue"))
        out["external"] = {
            "metric": _identifier(src.get("metricName"), src.get("metricSelector")),
            "current": current,
        }
    return out


def _condition(cond: dict) -> dict:
    """
    An HPA condition in Go's field order (the same JSON in v1 and v2).
    """
    out = {
        "type": cond.get("type", ""),
        "status": cond.get("status", ""),
        "lastTransitionTime": cond.get("lastTransitionTime"),
    }
    if cond.get("reason"):
        out["reason"] = cond["reason"]
    if cond.get("message"):
        out["message"] = cond["message"]
    return out


#: kube's internal HPA behavior types have no JSON tags: Go field names, nil pointers as null.
_RULES_FIELDS = (
    ("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
    ("SelectPolicy", "selectPolicy"),
    ("Policies", "policies"),
    ("Tolerance", "tolerance"),
)
_POLICY_FIELDS = (("Type", "type"), ("Value", "value"), ("PeriodSeconds", "periodSeconds"))


def _behavior_to_internal(behavior: dict) -> dict:
    """
    A v2 C{behavior} as the JSON of kube's internal type (the behavior annotation's format).
    """

    def rules(r: Optional[dict]) -> Optional[dict]:
        if r is None:
            return None
        out: dict[str, Any] = {}
        for go, js in _RULES_FIELDS:
            value = r.get(js)
            if js == "policies" and value is not None:
                value = [{go_p: p.get(js_p, "" if js_p == "type" else 0) for go_p, js_p in _POLICY_FIELDS} for p in value]
            out[go] = value
        return out

    return {"ScaleUp": rules(behavior.get("scaleUp")), "ScaleDown": rules(behavior.get("scaleDown"))}


def _get_ci(d: dict, name: str) -> Any:
    """
    A key looked up the way Go's decoder matches field names: exactly, else case-insensitively.
    """
    if name in d:
        return d[name]
    lower = name.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == lower:
            return v
    return None


def _behavior_from_internal(data: Any) -> Optional[dict]:
    """
    The behavior annotation's JSON as a v2 C{behavior}, or None when it says nothing.
    """
    if not isinstance(data, dict):
        return None

    def rules(r: Any) -> Optional[dict]:
        if not isinstance(r, dict):
            return None
        out: dict[str, Any] = {}
        for go, js in _RULES_FIELDS:
            value = _get_ci(r, go)
            if value is None:
                continue
            if js == "policies":
                if not isinstance(value, list):
                    continue
                value = [
                    {js_p: _get_ci(p, go_p) for go_p, js_p in _POLICY_FIELDS if _get_ci(p, go_p) is not None}
                    for p in value
                    if isinstance(p, dict)
                ]
            out[js] = value
        return out

    behavior: dict[str, Any] = {}
    _put(behavior, "scaleUp", rules(_get_ci(data, "ScaleUp")))
    _put(behavior, "scaleDown", rules(_get_ci(data, "ScaleDown")))
    return behavior or None


def _is_cpu_utilization(metric: dict, key: str) -> bool:
    res = metric.get("resource")
    return (
        metric.get("type") == "Resource"
        and isinstance(res, dict)
        and res.get("name") == "cpu"
        and (res.get(key) or {}).get("averageUtilization") is not None
    )


def _only_cpu_utilization(current_metrics: list) -> bool:
    """
    Whether the current metrics say nothing v1's C{currentCPUUtilizationPercentage} does not.

    kube writes the current-metrics annotation whenever there are current metrics; kapid leaves it
    out when the one metric is a CPU utilization without a raw value, so that a v1 object with
    C{currentCPUUtilizationPercentage} survives a round trip through v2 unchanged.
    """
    if len(current_metrics) != 1 or not _is_cpu_utilization(current_metrics[0], "current"):
        return False
    return set(current_metrics[0]["resource"]["current"]) == {"averageUtilization"}


def _load(annotations: dict, key: str) -> Any:
    """
    The JSON in an annotation, or None when it is absent or not JSON (kube ignores bad values).
    """
    text = annotations.get(key)
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _metadata_without_round_trip(meta: dict) -> dict:
    """
    Object metadata without the HPA round-trip annotations (C{annotations} dropped if emptied).
    """
    meta = dict(meta)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and any(k in annotations for k in HPA_ANNOTATIONS):
        annotations = {k: v for k, v in annotations.items() if k not in HPA_ANNOTATIONS}
        if annotations:
            meta["annotations"] = annotations
        else:
            del meta["annotations"]
    return meta


def hpa_v2_to_v1(obj: dict) -> dict:
    """
    An autoscaling/v2 HorizontalPodAutoscaler as autoscaling/v1.
    """
    spec = obj.get("spec") or {}
    status = obj.get("status")
    out: dict[str, Any] = {"kind": obj.get("kind", "HorizontalPodAutoscaler"), "apiVersion": "autoscaling/v1"}
    meta = _metadata_without_round_trip(obj.get("metadata") or {})
    out["metadata"] = meta

    metrics = spec.get("metrics") or []
    v1spec: dict[str, Any] = {}
    for key in ("scaleTargetRef", "minReplicas", "maxReplicas"):
        if key in spec:
            v1spec[key] = spec[key]
    for metric in metrics:
        if _is_cpu_utilization(metric, "target"):
            v1spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"]["averageUtilization"]
            break
    out["spec"] = v1spec

    other = [_metric_to_v1(m) for m in metrics if not _is_cpu_utilization(m, "target")]
    current_metrics = (status or {}).get("currentMetrics") or []
    conditions = (status or {}).get("conditions") or []
    extra: dict[str, str] = {}
    if other:
        extra[METRIC_SPECS_ANNOTATION] = go_json(other)
    if current_metrics and not _only_cpu_utilization(current_metrics):
        extra[METRIC_STATUSES_ANNOTATION] = go_json([_metric_status_to_v1(m) for m in current_metrics])
    if spec.get("behavior") is not None:
        extra[BEHAVIOR_ANNOTATION] = go_json(_behavior_to_internal(spec["behavior"]))
    if conditions:
        extra[CONDITIONS_ANNOTATION] = go_json([_condition(c) for c in conditions])
    if extra:
        meta["annotations"] = {**(meta.get("annotations") or {}), **extra}

    if status is not None:
        v1status: dict[str, Any] = {}
        for key in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"):
            if key in status:
                v1status[key] = status[key]
            elif key in ("currentReplicas", "desiredReplicas"):
                v1status[key] = 0  # not omitempty in autoscaling/v1
        for metric in current_metrics:
            if _is_cpu_utilization(metric, "current"):
                v1status["currentCPUUtilizationPercentage"] = metric["resource"]["current"]["averageUtilization"]
        out["status"] = v1status
    for key, value in obj.items():
        if key not in out and key not in ("spec", "status"):
            out[key] = value
    return out


def hpa_v1_to_v2(obj: dict) -> dict:
    """
    An autoscaling/v1 HorizontalPodAutoscaler as autoscaling/v2, lifting the round-trip
    annotations back into the fields they carry.
    """
    spec = obj.get("spec") or {}
    status = obj.get("status")
    meta_in = obj.get("metadata") or {}
    annotations = meta_in.get("annotations") or {}
    out: dict[str, Any] = {"kind": obj.get("kind", "HorizontalPodAutoscaler"), "apiVersion": "autoscaling/v2"}
    out["metadata"] = _metadata_without_round_trip(meta_in)

    v2spec: dict[str, Any] = {}
    for key in ("scaleTargetRef", "minReplicas", "maxReplicas"):
        if key in spec:
            v2spec[key] = spec[key]
    metrics: list[dict] = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(_cpu_metric(spec["targetCPUUtilizationPercentage"]))
    other = _load(annotations, METRIC_SPECS_ANNOTATION)
    if isinstance(other, list):
        metrics = [_metric_from_v1(m) for m in other if isinstance(m, dict)] + metrics
    if not metrics:
        metrics = [_cpu_metric(DEFAULT_CPU_UTILIZATION)]
    v2spec["metrics"] = metrics
    behavior = _behavior_from_internal(_load(annotations, BEHAVIOR_ANNOTATION))
    if behavior is not None:
        v2spec["behavior"] = behavior
    out["spec"] = v2spec

    current = _load(annotations, METRIC_STATUSES_ANNOTATION)
    conditions = _load(annotations, CONDITIONS_ANNOTATION)
    if status is not None or isinstance(current, list) or isinstance(conditions, list):
        status = status or {}
        v2status: dict[str, Any] = {}
        for key in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"):
            if key in status and not (key == "currentReplicas" and not status[key]):
                v2status[key] = status[key]  # currentReplicas is omitempty in autoscaling/v2
            elif key == "desiredReplicas":
                v2status[key] = 0
        if isinstance(current, list):
            v2status["currentMetrics"] = [_metric_status_from_v1(m) for m in current if isinstance(m, dict)]
        elif status.get("currentCPUUtilizationPercentage") is not None:
            v2status["currentMetrics"] = [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]},
                    },
                }
            ]
        if isinstance(conditions, list):
            v2status["conditions"] = [_condition(c) for c in conditions if isinstance(c, dict)]
        out["status"] = v2status
    for key, value in obj.items():
        if key not in out and key not in ("spec", "status"):
            out[key] = value
    return out


def _cpu_metric(utilization: int) -> dict:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}},
    }


# ---------------------------------------------------------------------------------------------
# Event: hub core/v1 Event


#: core/v1 Event field -> events.k8s.io/v1 Event field, in core's field order.
_EVENT_CORE_TO_EVENTS = (
    ("metadata", "metadata"),
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
)

#: events.k8s.io/v1 Event's field order.
_EVENTS_ORDER = (
    "metadata",
    "eventTime",
    "series",
    "reportingController",
    "reportingInstance",
    "action",
    "reason",
    "regarding",
    "related",
    "note",
    "type",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
)


def event_core_to_events(obj: dict) -> dict:
    """
    A core/v1 Event as an events.k8s.io/v1 Event.
    """
    renamed = {new: obj[old] for old, new in _EVENT_CORE_TO_EVENTS if old in obj}
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    out.update((k, renamed[k]) for k in _EVENTS_ORDER if k in renamed)
    known = {old for old, _ in _EVENT_CORE_TO_EVENTS} | {"kind", "apiVersion"}
    out.update((k, v) for k, v in obj.items() if k not in known)
    return out


def event_events_to_core(obj: dict) -> dict:
    """
    An events.k8s.io/v1 Event as a core/v1 Event.
    """
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "v1"}
    out.update((old, obj[new]) for old, new in _EVENT_CORE_TO_EVENTS if new in obj)
    known = {new for _, new in _EVENT_CORE_TO_EVENTS} | {"kind", "apiVersion"}
    out.update((k, v) for k, v in obj.items() if k not in known)
    return out


# ---------------------------------------------------------------------------------------------

_HPA = Family(
    hub="autoscaling/v2",
    kind="HorizontalPodAutoscaler",
    to_hub={"autoscaling/v1": hpa_v1_to_v2},
    from_hub={"autoscaling/v1": hpa_v2_to_v1},
)
_EVENT = Family(
    hub="v1",
    kind="Event",
    to_hub={"events.k8s.io/v1": event_events_to_core},
    from_hub={"events.k8s.io/v1": event_core_to_events},
)

#: (group, kind) -> the family converting it. Both groups of Event share one family (and storage).
FAMILIES: dict[tuple[str, str], Family] = {
    ("autoscaling", "HorizontalPodAutoscaler"): _HPA,
    ("", "Event"): _EVENT,
    ("events.k8s.io", "Event"): _EVENT,
}


def register(group: str, kind: str, family: Family) -> None:
    """
    Make C{family} convert C{kind} of C{group} (for other parts of kapid that add converters).
    """
    FAMILIES[(group, kind)] = family


def hub_version(group: str, kind: str) -> Optional[str]:
    """
    The C{apiVersion} of the hub form of a kind, or None when it converts by identity.
    """
    family = FAMILIES.get((group, kind))
    return family.hub if family is not None else None


def convert(obj: dict, group: Any, kind: Any, to_version: Optional[str] = None) -> dict:
    """
    C{obj} (in the version its C{apiVersion} names) converted to C{to_version} of C{group}.

    Goes through the hub of the kind's L{Family}; a kind without one gets its C{apiVersion}
    rewritten only. C{obj} is never changed; the result is a new dict.

    Also callable as C{convert(obj, resource, to_version)} with a
    L{kapid.registry.description.Resource}.
    """
    if to_version is None:  # convert(obj, resource, version)
        resource = group
        group, kind, to_version = resource.group, resource.kind, kind
    assert isinstance(to_version, str)
    target = _api_version(group, to_version)
    source = obj.get("apiVersion") or target
    obj = copy.deepcopy(obj)
    family = FAMILIES.get((group, kind)) or FAMILIES.get((_group_of(source), kind))
    if family is None or source == target:
        obj["apiVersion"] = target
        return obj
    to_hub = family.to_hub.get(source)
    hub = to_hub(obj) if to_hub is not None else dict(obj, apiVersion=family.hub)
    from_hub = family.from_hub.get(target)
    out = from_hub(hub) if from_hub is not None else dict(hub, apiVersion=target)
    out["apiVersion"] = target
    return out


__all__ = [
    "BEHAVIOR_ANNOTATION",
    "CONDITIONS_ANNOTATION",
    "DEFAULT_CPU_UTILIZATION",
    "FAMILIES",
    "Family",
    "HPA_ANNOTATIONS",
    "METRIC_SPECS_ANNOTATION",
    "METRIC_STATUSES_ANNOTATION",
    "convert",
    "event_core_to_events",
    "event_events_to_core",
    "go_json",
    "hpa_v1_to_v2",
    "hpa_v2_to_v1",
    "hub_version",
    "register",
]
