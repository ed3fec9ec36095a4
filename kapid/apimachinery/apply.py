"""
Field ownership and server-side apply (kube's fieldmanager over structured-merge-diff).

Field sets are sets of paths; a path is a tuple of fieldsV1 elements (C{f:name}, C{k:{"name":"x"}},
C{v:"value"}, C{i:0}). L{record_update} keeps C{metadata.managedFields} for non-apply writes (the
writer takes the fields it changed); L{apply} merges an applied configuration into the live object
(lists and maps by C{x-kubernetes-list-type} / C{-list-map-keys}), answering 409 for fields other
managers own unless forced.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import orjson

from kapid.storage.codec import deep_copy
from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError

Path = tuple[str, ...]

#: Fields never tracked (kube's stripped fields).
_STRIPPED_META = frozenset(
    (
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    )
)


def _key_elem(item: dict, keys: Iterable[str]) -> str:
    d = {k: item.get(k) for k in keys if k in item}
    return "k:" + orjson.dumps(d).decode("utf-8")


def _list_keys(schema: Any) -> tuple[str, ...]:
    return schema.shape.list_keys if schema is not None else ()


def _is_struct(schema: Any) -> bool:
    return schema is not None and bool(schema.properties) and not schema.is_map


def _walk(
    value: Any,
    schema: Any,
    prefix: Path,
    out: dict[Path, Any],
    struct_members: bool,
) -> None:
    """
    Collect the members under C{value}: path -> leaf value (or a marker for non-leaf members).
    """
    if isinstance(value, dict):
        if schema is None:
            for k, v in value.items():
                _member(v, None, prefix + ("f:" + k,), out, struct_members)
            return
        shape = schema.shape
        if shape.atomic_map:
            return
        if shape.is_map:
            sub = schema.additional_properties
            for k, v in value.items():
                _member(v, sub, prefix + ("f:" + k,), out, struct_members)
        else:
            for k, v in value.items():
                _member(v, schema.prop(k), prefix + ("f:" + k,), out, struct_members)
    elif isinstance(value, list):
        shape = schema.shape if schema is not None else None
        keys = shape.list_keys if shape is not None else ()
        if keys and all(isinstance(i, dict) for i in value):
            items = schema.items
            for item in value:
                p = prefix + (_key_elem(item, keys),)
                out[p] = _NODE
                _walk(item, items, p, out, struct_members)
        elif shape is not None and shape.list_type == "set":
            for item in value:
                out[prefix + ("v:" + orjson.dumps(item).decode("utf-8"),)] = item


_NODE = object()


def _member(v: Any, schema: Any, p: Path, out: dict[Path, Any], struct_members: bool) -> None:
    if isinstance(v, dict):
        if schema is None:
            if v:
                out[p] = _NODE
                _walk(v, None, p, out, struct_members)
            else:
                out[p] = v
            return
        shape = schema.shape
        if shape.atomic_map or (shape.preserve_unknown and not shape.has_properties and not v):
            out[p] = v
            return
        if not v:
            out[p] = v
            return
        if shape.is_map or struct_members:
            out[p] = _NODE
        _walk(v, schema, p, out, struct_members)
    elif isinstance(v, list):
        shape = schema.shape if schema is not None else None
        if shape is not None and (
            (shape.list_keys and all(isinstance(i, dict) for i in v)) or shape.list_type == "set"
        ):
            if not v:
                out[p] = v
                return
            _walk(v, schema, p, out, struct_members)
        else:
            out[p] = v
    else:
        out[p] = v


def members(
    obj: Optional[dict], schema: Any, subresource: str = "", custom: bool = False,
    exclude_status: bool = False,
) -> dict[Path, Any]:
    """
    The tracked members of an object: path -> leaf value (non-leaf members map to a marker).
    For the main resource of a kind with a status subresource (C{exclude_status}) C{status} is
    left out (kube's reset fields); for C{status} only C{status} counts.
    """
    out: dict[Path, Any] = {}
    if not obj:
        return out
    for k, v in obj.items():
        if k in ("kind", "apiVersion"):
            continue
        sub = schema.prop(k) if schema is not None else None
        if k == "metadata" and isinstance(v, dict):
            if subresource == "status":
                continue
            meta = {mk: mv for mk, mv in v.items() if mk not in _STRIPPED_META}
            if meta:
                _walk(meta, sub, ("f:metadata",), out, custom)
            continue
        if subresource == "status" and k != "status":
            continue
        if subresource == "" and k == "status" and exclude_status:
            continue
        _member(v, sub, ("f:" + k,), out, custom)
    return out


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """
    A fieldsV1 tree from a set of paths (C{"."} marks a member that also has children).
    """
    root: dict[str, Any] = {}
    plist = sorted(paths, key=lambda p: (len(p), p))
    for p in plist:
        node = root
        for elem in p:
            node = node.setdefault(elem, {})
    # mark members with children
    for p in plist:
        node = root
        for elem in p:
            node = node[elem]
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(root)


def _sorted_tree(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "." in node:
        out["."] = {}
    for k in sorted(x for x in node if x != "."):
        out[k] = _sorted_tree(node[k])
    return out


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    """
    The set of paths of a fieldsV1 tree.
    """
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for k, v in tree.items():
        if k == ".":
            if prefix:
                out.add(prefix)
            continue
        p = prefix + (k,)
        if not v:
            out.add(p)
        else:
            out |= from_fields_v1(v, p)
    return out


def _entry(manager: str, operation: str, api_version: str, now: float, paths: set[Path], subresource: str) -> dict:
    e: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": metautil.timestamp(now),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if subresource:
        e["subresource"] = subresource
    return e


def sort_managed_fields(entries: list[dict]) -> list[dict]:
    """
    C{entries} in the order kube encodes managedFields: by operation (C{Apply} before C{Update}),
    then time (to the second), manager, apiVersion and subresource.
    """

    def key(e: dict) -> tuple:
        return (
            e.get("operation") or "",
            e.get("time") or "",
            e.get("manager") or "",
            e.get("apiVersion") or "",
            e.get("subresource") or "",
        )

    return sorted(entries, key=key)


def _same_entry(e: dict, manager: str, operation: str, subresource: str) -> bool:
    return (
        e.get("manager") == manager
        and e.get("operation") == operation
        and (e.get("subresource") or "") == subresource
    )


def changed_paths(old: dict[Path, Any], new: dict[Path, Any]) -> tuple[set[Path], set[Path]]:
    """
    C{(added or modified, removed)} between two member maps.
    """
    changed = set()
    for p, v in new.items():
        if p not in old:
            changed.add(p)
        elif v is not _NODE and old[p] != v:
            changed.add(p)
    removed = {p for p in old if p not in new}
    return changed, removed


def _base_entries(current: Optional[dict], sent: Any, subresource: str) -> list[dict]:
    """
    kube's C{decodeLiveOrNew}: the managedFields a non-apply write starts from. Those the request
    carries when they are valid (this is how clients such as kubectl's client-side-apply upgrade
    rewrite them), none for a reset (C{[{}]}), else the live object's; a subresource write always
    starts from the live object's.
    """
    live = deep_copy(((current or {}).get("metadata") or {}).get("managedFields") or [])
    if subresource or not isinstance(sent, list) or not sent:
        return live
    if sent == [{}]:
        return []
    for e in sent:
        if not isinstance(e, dict) or e.get("operation") not in ("Apply", "Update"):
            return live
        if e.get("fieldsType", "FieldsV1") != "FieldsV1" or not isinstance(e.get("fieldsV1", {}), dict):
            return live
    return deep_copy(sent)


def record_update(
    current: Optional[dict],
    new: dict,
    manager: str,
    api_version: str,
    now: float,
    schema: Any,
    subresource: str = "",
    custom: bool = False,
    exclude_status: bool = False,
) -> None:
    """
    Update C{new}'s C{metadata.managedFields} for a non-apply write by C{manager}: it takes the
    fields it added or changed (other managers lose them) and loses the ones it removed.
    """
    meta = metautil.meta_of(new)
    entries = _base_entries(current, meta.get("managedFields"), subresource)
    old_m = members(current, schema, subresource, custom, exclude_status)
    new_m = members(new, schema, subresource, custom, exclude_status)
    changed, removed = changed_paths(old_m, new_m)
    if current is not None and not changed and not removed:
        # nothing this manager owns changed: ownership and timestamps stay as they were
        if entries:
            meta["managedFields"] = entries
        else:
            meta.pop("managedFields", None)
        return
    out: list[dict] = []
    mine: set[Path] = set()
    found = False
    for e in entries:
        paths = from_fields_v1(e.get("fieldsV1"))
        if _same_entry(e, manager, "Update", subresource):
            mine = paths
            found = True
            continue
        if (e.get("subresource") or "") == subresource or True:
            paths = {p for p in paths if p not in changed and p not in removed}
        if paths:
            e["fieldsV1"] = to_fields_v1(paths)
            out.append(e)
    mine = {p for p in mine if p not in removed} | (changed & set(new_m))
    mine = {p for p in mine if p in new_m}
    if mine and manager:
        out.append(_entry(manager, "Update", api_version, now, mine, subresource))
    elif found and not changed:
        pass
    if out:
        meta["managedFields"] = sort_managed_fields(out)
    else:
        meta.pop("managedFields", None)


# ---------------------------------------------------------------------------------------------------
# server-side apply


def _manager_text(entry: dict) -> str:
    """
    structured-merge-diff's C{printManager}: C{"kubectl"}, C{"x" using apps/v1} for Update
    managers, with C{with subresource "status"} when there is one.
    """
    text = orjson.dumps(entry.get("manager", "")).decode("utf-8")
    if entry.get("subresource"):
        text += f' with subresource {orjson.dumps(entry["subresource"]).decode("utf-8")}'
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def _keep_times(old: list[dict], new: list[dict]) -> None:
    """
    Entries whose fields did not change keep their old time (a no-op apply writes nothing).
    """
    by = {(e.get("manager"), e.get("operation"), e.get("subresource") or ""): e for e in old}
    for e in new:
        o = by.get((e.get("manager"), e.get("operation"), e.get("subresource") or ""))
        if o is not None and o.get("fieldsV1") == e.get("fieldsV1") and o.get("apiVersion") == e.get("apiVersion"):
            e["time"] = o.get("time", e["time"])


def conflict_error(conflicts: list[tuple[dict, Path]]) -> StatusError:
    """
    kube's apply conflict (409 C{Conflict} with C{FieldManagerConflict} causes).
    """
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {_manager_text(e)}", "field": _path_text(p)}
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        e, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_manager_text(e)}: {_path_text(p)}"
    else:
        by: dict[str, list[Path]] = {}
        for e, p in conflicts:
            by.setdefault(_manager_text(e), []).append(p)
        lines = []
        for m in sorted(by):
            lines.append(f"conflicts with {m}:")
            lines.extend(f"- {_path_text(p)}" for p in by[m])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})


def _path_text(p: Path) -> str:
    out = ""
    for e in p:
        if e.startswith("f:"):
            out += "." + e[2:]
        elif e.startswith("k:"):
            d = orjson.loads(e[2:])
            out += "[" + ",".join(f"{k}={_go_val(v)}" for k, v in d.items()) + "]"
        elif e.startswith("v:"):
            out += f"[={e[2:]}]"
        elif e.startswith("i:"):
            out += f"[{e[2:]}]"
    return out


def undeclared_fields(obj: Any, schema: Any) -> list[str]:
    """
    The fields of an applied configuration that C{schema} does not declare, as structured-merge-diff
    names them when it cannot type the configuration (C{.spec.template.spec.containers[name="c"].x});
    kube rejects such an apply whatever the C{fieldValidation}.
    """
    out: list[str] = []

    def walk(value: Any, sch: Any, prefix: Path) -> None:
        if sch is None or sch.preserve_unknown_fields:
            return
        if isinstance(value, dict):
            if sch.is_map:
                for k, v in value.items():
                    walk(v, sch.additional_properties, prefix + ("f:" + k,))
                return
            if not sch.properties:
                return
            for k, v in value.items():
                sub = sch.prop(k)
                if sub is None:
                    out.append(_path_text(prefix + ("f:" + k,)) + ": field not declared in schema")
                else:
                    walk(v, sub, prefix + ("f:" + k,))
        elif isinstance(value, list):
            keys = _list_keys(sch)
            for i, item in enumerate(value):
                if keys and isinstance(item, dict):
                    elem = _key_elem(item, keys)
                elif sch.list_type == "set":
                    elem = "v:" + orjson.dumps(item).decode("utf-8")
                else:
                    elem = f"i:{i}"
                walk(item, sch.items, prefix + (elem,))

    walk(obj, schema, ())
    return out


def typed_patch_error(obj: dict, errors: list[str]) -> StatusError:
    """
    kube's answer to an apply configuration it cannot type: a 500 C{Status} with no reason and
    C{failed to create typed patch object (<ns>/<name>; <group/version>, Kind=<kind>): <errors>}.
    """
    meta = obj.get("metadata") or {}
    api_version = obj.get("apiVersion") or ""
    gv = api_version if "/" in api_version else "/" + api_version
    text = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join("  " + e for e in errors)
    message = (
        f"failed to create typed patch object ({meta.get('namespace') or ''}/{meta.get('name') or ''}; "
        f"{gv}, Kind={obj.get('kind') or ''}): {text}"
    )
    return StatusError(500, "", message)


def _go_val(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    return orjson.dumps(v).decode("utf-8")


def merge_applied(live: Any, applied: Any, schema: Any, owned_by_me: set[Path], prefix: Path = ()) -> Any:
    """
    Merge an applied configuration into the live value: fields in C{applied} win; fields this
    manager owned before but no longer applies are removed; other fields stay. Lists merge by key
    (C{map}), by value (C{set}) or are replaced (atomic).
    """
    if isinstance(applied, dict) and isinstance(live, dict) and not (
        schema is not None and schema.map_type == "atomic"
    ):
        out = dict(live)
        for k, v in applied.items():
            sub = None
            if schema is not None:
                sub = schema.additional_properties if schema.is_map else schema.prop(k)
            p = prefix + ("f:" + k,)
            if v is None:
                out.pop(k, None)
                continue
            out[k] = merge_applied(live.get(k), v, sub, owned_by_me, p)
        for k in list(live):
            if k in applied:
                continue
            p = prefix + ("f:" + k,)
            if p in owned_by_me:
                del out[k]
            elif isinstance(live[k], (dict, list)) and any(o[: len(p)] == p for o in owned_by_me if len(o) > len(p)):
                # members under k this manager applied before and applies no more: they go, the
                # others' stay (an emptied list or map stays, empty, as structured-merge-diff keeps it)
                sub = None
                if schema is not None:
                    sub = schema.additional_properties if schema.is_map else schema.prop(k)
                if isinstance(live[k], list) and not (_list_keys(sub) or (sub is not None and sub.list_type == "set")):
                    continue
                out[k] = merge_applied(live[k], type(live[k])(), sub, owned_by_me, p)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        keys = _list_keys(schema)
        items = schema.items if schema is not None else None
        ltype = schema.list_type if schema is not None else None
        if keys and all(isinstance(i, dict) for i in applied + live):
            live_by = {_key_elem(i, keys): i for i in live}
            applied_keys = [_key_elem(i, keys) for i in applied]
            out_list = []
            seen = set()
            for i in live:
                ke = _key_elem(i, keys)
                if ke in applied_keys:
                    idx = applied_keys.index(ke)
                    out_list.append(merge_applied(i, applied[idx], items, owned_by_me, prefix + (ke,)))
                    seen.add(ke)
                elif prefix + (ke,) in owned_by_me:
                    continue
                else:
                    out_list.append(i)
            for ke, i in zip(applied_keys, applied):
                if ke not in seen and ke not in live_by:
                    out_list.append(i)
                elif ke not in seen:
                    out_list.append(merge_applied(live_by[ke], i, items, owned_by_me, prefix + (ke,)))
            return out_list
        if ltype == "set":
            out_list = []
            for i in live:
                pe = prefix + ("v:" + orjson.dumps(i).decode("utf-8"),)
                if i in applied or pe not in owned_by_me:
                    out_list.append(i)
            for i in applied:
                if i not in out_list:
                    out_list.append(i)
            return out_list
    return deep_copy(applied)


def apply(
    live: Optional[dict],
    applied: dict,
    manager: str,
    force: bool,
    api_version: str,
    now: float,
    schema: Any,
    subresource: str = "",
    custom: bool = False,
    exclude_status: bool = False,
) -> dict:
    """
    Server-side apply of C{applied} by C{manager} onto C{live} (None: create). Returns the new
    object with managedFields; raises 409 C{Conflict} naming the other managers unless C{force}.
    """
    applied_m = members(applied, schema, subresource, custom, exclude_status)
    applied_paths = set(applied_m)
    entries = deep_copy(((live or {}).get("metadata") or {}).get("managedFields") or [])
    live_m = members(live, schema, subresource, custom, exclude_status)
    mine: set[Path] = set()
    others: list[tuple[dict, set[Path]]] = []
    for e in entries:
        paths = from_fields_v1(e.get("fieldsV1"))
        if _same_entry(e, manager, "Apply", subresource):
            mine = paths
        else:
            others.append((e, paths))
    conflicts: list[tuple[dict, Path]] = []
    for e, paths in others:
        for p in sorted(paths & applied_paths):
            if applied_m.get(p) is _NODE:
                continue
            if live_m.get(p) != applied_m.get(p):
                conflicts.append((e, p))
    if conflicts and not force:
        raise conflict_error(conflicts)
    if live is None:
        merged = deep_copy(applied)
    else:
        # fields this manager stops applying go, unless another manager owns them too
        owned_by_others: set[Path] = set()
        for _, paths in others:
            owned_by_others |= paths
        removed_mine = {p for p in mine if p not in applied_paths and p not in owned_by_others}
        merged = merge_applied(deep_copy(live), applied, schema, removed_mine)
        # keep identity fields from live
        merged["metadata"] = dict(merged.get("metadata") or {})
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation"):
            if k in (live.get("metadata") or {}):
                merged["metadata"][k] = live["metadata"][k]
        if "resourceVersion" in (applied.get("metadata") or {}):
            merged["metadata"]["resourceVersion"] = applied["metadata"]["resourceVersion"]
    merged_m = members(merged, schema, subresource, custom, exclude_status)
    new_entries: list[dict] = []
    for e, paths in others:
        if force:
            # forcing takes only the conflicting fields; fields applied with the same value stay shared
            paths = paths - {p for ce, p in conflicts if ce is e}
        paths = {p for p in paths if p in merged_m}
        if paths:
            e["fieldsV1"] = to_fields_v1(paths)
            new_entries.append(e)
    my_paths = {p for p in applied_paths if p in merged_m}
    if my_paths:
        new_entries.insert(0, _entry(manager, "Apply", api_version, now, my_paths, subresource))
    _keep_times(entries, new_entries)
    mmeta = metautil.meta_of(merged)
    if new_entries:
        mmeta["managedFields"] = sort_managed_fields(new_entries)
    else:
        mmeta.pop("managedFields", None)
    return merged
