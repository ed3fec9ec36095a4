"""
The C{scale} subresource: an C{autoscaling/v1} C{Scale} view of a workload's C{spec.replicas},
C{status.replicas} and selector, read and written through the parent's store.
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.storage.codec import deep_copy
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


def _paths(store: Any) -> Any:
    """
    The custom resource's scale paths (a L{kapid.apiextensions.customresource.ScalePaths}), or None
    for a built-in workload.
    """
    return getattr(store.strategy, "scale", None)


def scale_of(store: Any, obj: dict) -> dict:
    """
    The C{Scale} of an object of C{store}'s resource.
    """
    paths = _paths(store)
    return paths.to_scale(obj) if paths is not None else to_scale(obj)


async def get_scale(store: Any, target: Target) -> dict:
    """
    GET .../scale.
    """
    obj = await store.get(target.namespace, target.name, target.version)
    return scale_of(store, obj)


async def update_scale(
    store: Any, target: Target, scale: Any, dry_run: bool, manager: str, clock: Any, admission: Any = None
) -> dict:
    """
    PUT .../scale: set the parent's C{spec.replicas} (with the Scale's resourceVersion as a
    precondition when given). C{admission} (a L{kapid.admission.request.RequestAdmission}) admits
    the C{Scale}s, as kube's scale subresource does.
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

        new = deep_copy(current)
        paths = _paths(store)
        if paths is not None:
            paths.set_replicas(new, replicas)
        else:
            new.setdefault("spec", {})["replicas"] = replicas
        if rv:
            new["metadata"]["resourceVersion"] = rv
        ssa.record_update(
            current, new, manager, store.resource.api_version(target.version), clock.seconds(),
            schema_for(store.resource, target.version), "scale", _paths(store) is not None,
            store.resource.subresource("status") is not None,
        )
        return new

    admit = None
    if admission is not None:
        updater, admit = _admitted(store, admission, updater)
    out, _ = await store.update(target.namespace, target.name, updater, target.version, "", dry_run, admit=admit)
    return scale_of(store, out)


def _admitted(store: Any, admission: Any, updater: Any) -> tuple[Any, Any]:
    """
    The scale updater with mutating admission of the new C{Scale} (a changed C{spec.replicas} goes
    to the parent), and the validating callback, both seeing C{Scale}s.
    """

    async def mutate(current: Optional[dict]) -> dict:
        new = updater(current)
        scale = await admission.mutate(scale_of(store, new), scale_of(store, current or {}), "UPDATE")
        replicas = ((scale or {}).get("spec") or {}).get("replicas") or 0
        if replicas != ((scale_of(store, new).get("spec") or {}).get("replicas") or 0):
            paths = _paths(store)
            if paths is not None:
                paths.set_replicas(new, replicas)
            else:
                new.setdefault("spec", {})["replicas"] = replicas
        return new

    async def validate(new: dict, old: Optional[dict]) -> None:
        await admission.check(scale_of(store, new), scale_of(store, old) if old else None, "UPDATE")

    return mutate, validate


def _replicas_doc(definition: str) -> str:
    try:
        from kapid.apimachinery.schema import Schema

        prop = Schema.of(definition).prop("replicas")
        return prop.description if prop is not None else ""
    except Exception:  # pragma: no cover - schema package missing
        return ""


_SCALE_TABLE: list[Any] = []


def scale_table_convertor() -> Any:
    """
    kube's Table for a C{Scale} (C{kubectl get deploy x --subresource=scale}): C{Name},
    C{Desired} (C{spec.replicas}) and C{Available} (C{status.replicas}).
    """
    if not _SCALE_TABLE:
        from kapid.apimachinery.table import TableConvertor
        from kapid.registry.description import TableColumn

        _SCALE_TABLE.append(TableConvertor((
            TableColumn("Desired", "integer", lambda o: (o.get("spec") or {}).get("replicas") or 0,
                        description=_replicas_doc("io.k8s.api.autoscaling.v1.ScaleSpec")),
            TableColumn("Available", "integer", lambda o: (o.get("status") or {}).get("replicas") or 0,
                        description=_replicas_doc("io.k8s.api.autoscaling.v1.ScaleStatus")),
        )))
    return _SCALE_TABLE[0]


def render_scale(link: Any, request: Any, query: Any, target: Target, scale: dict, code: int = 200) -> bytes:
    """
    Write a C{Scale} in the negotiated form: as a C{Table} (kube's Scale columns) or
    C{PartialObjectMetadata} when asked for, else through C{link.render_object}.
    """
    from kapid.apimachinery import serialization as ser
    from kapid.apimachinery import table as tables
    from kapid.endpoints import request as req

    output = ser.negotiate(req.header(request, b"accept"), allow_as=True)
    if output.as_kind == "Table":
        include = query.get("includeObject") or "Metadata"
        if include not in ("None", "Metadata", "Object"):
            raise bad_request(
                f'includeObject: Unsupported value: "{include}": supported values: "None", "Metadata", "Object"'
            )
        rv = (scale.get("metadata") or {}).get("resourceVersion", "")
        body = scale_table_convertor().table(
            [scale], link.clock.seconds(), output.as_version, include, {"resourceVersion": rv}
        )
        return req.write(request, code, output, body, req.wants_pretty(request, query))
    if output.as_kind == "PartialObjectMetadata":
        meta = tables.partial_object_metadata(scale, output.as_version)
        return req.write(request, code, output, meta, req.wants_pretty(request, query))
    return link.render_object(request, query, target, scale, code)
