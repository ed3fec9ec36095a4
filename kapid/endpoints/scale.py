"""
The C{scale} subresource: an C{autoscaling/v1} C{Scale} view of a workload's C{spec.replicas},
C{status.replicas} and selector, read and written through the parent's store.
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.apimachinery import field
from kapid.apimachinery.status import bad_request, invalid
from kapid.endpoints.request import Target


def selector_string(sel: Any) -> str:
    """
    kube's C{LabelSelectorAsSelector(...).String()}: requirements sorted by key.
    """
    if not isinstance(sel, dict):
        return ""
    if sel and "matchLabels" not in sel and "matchExpressions" not in sel:
        sel = {"matchLabels": sel}  # a ReplicationController's plain map selector
    reqs = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append((k, f"{k}={v}"))
    for e in sel.get("matchExpressions") or []:
        key, op = e.get("key", ""), e.get("operator")
        vals = ",".join(sorted(e.get("values") or []))
        text = {
            "In": f"{key} in ({vals})",
            "NotIn": f"{key} notin ({vals})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, key)
        reqs.append((key, text))
    reqs.sort(key=lambda r: r[0])
    return ",".join(t for _, t in reqs)


def to_scale(obj: dict) -> dict:
    """
    The C{Scale} of a workload object.
    """
    meta = obj.get("metadata") or {}
    smeta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    spec: dict[str, Any] = {}
    replicas = (obj.get("spec") or {}).get("replicas")
    if replicas:
        spec["replicas"] = replicas
    status: dict[str, Any] = {"replicas": (obj.get("status") or {}).get("replicas") or 0}
    sel = selector_string((obj.get("spec") or {}).get("selector"))
    if sel:
        status["selector"] = sel
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": smeta, "spec": spec, "status": status}


async def get_scale(store: Any, target: Target) -> dict:
    """
    GET .../scale.
    """
    obj = await store.get(target.namespace, target.name, target.version)
    return to_scale(obj)


async def update_scale(
    store: Any, target: Target, scale: Any, dry_run: bool, manager: str, clock: Any
) -> dict:
    """
    PUT .../scale: set the parent's C{spec.replicas} (with the Scale's resourceVersion as a
    precondition when given).
    """
    if not isinstance(scale, dict):
        raise bad_request("the body of the request was not a Scale object")
    meta = scale.get("metadata") or {}
    if meta.get("name") and meta["name"] != target.name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
        )
    replicas = (scale.get("spec") or {}).get("replicas") or 0
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise bad_request(
            f'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal '
            f"{type(replicas).__name__} into Go struct field ScaleSpec.spec.replicas of type int32"
        )
    if replicas < 0:
        raise invalid(
            "Scale", target.name,
            [field.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            "autoscaling",
        )
    rv = meta.get("resourceVersion") or ""

    def updater(current: Optional[dict]) -> dict:
        assert current is not None
        from kapid.apimachinery import apply as ssa
        from kapid.endpoints.request import schema_for
        import copy

        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        if rv:
            new["metadata"]["resourceVersion"] = rv
        ssa.record_update(
            current, new, manager, store.resource.api_version(target.version), clock.seconds(),
            schema_for(store.resource, target.version), "scale", False,
            store.resource.subresource("status") is not None,
        )
        return new

    out, _ = await store.update(target.namespace, target.name, updater, target.version, "", dry_run)
    return to_scale(out)
