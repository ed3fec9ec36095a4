"""
Strategic merge patch (k8s.io/apimachinery pkg/util/strategicpatch) over JSON dicts, with patch merge
keys and strategies read from the schema's C{x-kubernetes-patch-merge-key} /
C{x-kubernetes-patch-strategy}; directives C{$patch} (C{replace}, C{delete}, C{merge}),
C{$retainKeys}, C{$setElementOrder/<field>}, C{$deleteFromPrimitiveList/<field>}; C{null} deletes.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from kapid.apimachinery.status import bad_request

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


class _Delete:
    """
    Marker: the whole value goes.
    """


_DELETE = _Delete()


def apply_strategic_patch(original: dict, patch: dict, schema: Any) -> dict:
    """
    C{original} with C{patch} applied; neither argument is changed.
    """
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    out = _merge_map(copy.deepcopy(original), patch, schema)
    if out is _DELETE:
        return {}
    return out  # type: ignore[return-value]


def _sub_schema(schema: Any, key: str) -> Any:
    if schema is None:
        return None
    if schema.is_map:
        return schema.additional_properties
    return schema.prop(key)


def _merge_map(original: Any, patch: dict, schema: Any) -> Any:
    directive = patch.get(PATCH)
    if directive is not None:
        if directive == "replace":
            return {k: v for k, v in patch.items() if k != PATCH}
        if directive == "delete":
            return _DELETE
        if directive != "merge":
            raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    if not isinstance(original, dict):
        original = {}
    retain = patch.get(RETAIN_KEYS)
    orders: dict[str, list] = {}
    deletes: dict[str, list] = {}
    for k, v in patch.items():
        if k == PATCH or k == RETAIN_KEYS:
            continue
        if k.startswith(SET_ORDER):
            orders[k[len(SET_ORDER):]] = v if isinstance(v, list) else []
            continue
        if k.startswith(DELETE_PRIMITIVE):
            deletes[k[len(DELETE_PRIMITIVE):]] = v if isinstance(v, list) else []
            continue
        sub = _sub_schema(schema, k)
        if v is None:
            original.pop(k, None)
            continue
        if isinstance(v, dict):
            merged = _merge_map(original.get(k), v, sub)
            if merged is _DELETE:
                original.pop(k, None)
            else:
                original[k] = merged
            continue
        if isinstance(v, list):
            strategy = sub.patch_strategy if sub is not None else ()
            if "merge" in strategy and isinstance(original.get(k), (list, type(None))):
                original[k] = _merge_list(original.get(k) or [], v, sub)
            else:
                original[k] = _strip_directives_list(v)
            continue
        original[k] = v
    for field_name, values in deletes.items():
        if isinstance(original.get(field_name), list):
            original[field_name] = [x for x in original[field_name] if x not in values]
    for field_name, order in orders.items():
        if isinstance(original.get(field_name), list):
            sub = _sub_schema(schema, field_name)
            original[field_name] = _reorder(original[field_name], order, sub)
    if isinstance(retain, list):
        for k in list(original):
            if k not in retain:
                del original[k]
    return original


def _strip_directives_list(v: list) -> list:
    out = []
    for i in v:
        if isinstance(i, dict):
            if i.get(PATCH) in ("replace", "delete", "merge") and len(i) == 1:
                continue
            out.append({k: x for k, x in i.items() if k != PATCH})
        else:
            out.append(i)
    return out


def _merge_list(original: list, patch: list, schema: Any) -> list:
    items_schema = schema.items if schema is not None else None
    merge_key = schema.patch_merge_key if schema is not None else None
    # a {"$patch": "replace"} element replaces the whole list
    for i in patch:
        if isinstance(i, dict) and i.get(PATCH) == "replace":
            return [x for x in patch if not (isinstance(x, dict) and PATCH in x)]
    if not patch:
        return original
    if not all(isinstance(i, dict) for i in patch) or not merge_key:
        if all(not isinstance(i, (dict, list)) for i in patch):
            out = list(original)
            for i in patch:
                if i not in out:
                    out.append(i)
            return out
        return _strip_directives_list(patch)
    out = list(original)
    for item in patch:
        if merge_key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {merge_key}")
        key = item[merge_key]
        idx = next((n for n, o in enumerate(out) if isinstance(o, dict) and o.get(merge_key) == key), None)
        directive = item.get(PATCH)
        if directive == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append({k: v for k, v in item.items() if k != PATCH})
            continue
        merged = _merge_map(out[idx], item, items_schema)
        if merged is _DELETE:
            del out[idx]
        else:
            out[idx] = merged
    return out


def _reorder(values: list, order: list, schema: Any) -> list:
    merge_key = schema.patch_merge_key if schema is not None else None

    def ident(x: Any) -> Any:
        if merge_key and isinstance(x, dict):
            return ("k", repr(x.get(merge_key)))
        return ("v", repr(x))

    pos = {}
    for n, o in enumerate(order):
        pos.setdefault(ident(o), n)
    known = [v for v in values if ident(v) in pos]
    unknown = [v for v in values if ident(v) not in pos]
    known.sort(key=lambda v: pos[ident(v)])
    return known + unknown


def merge_patch(original: Any, patch: Any) -> Any:
    """
    RFC 7386 JSON merge patch.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(original) if isinstance(original, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strip_nothing(obj: Optional[dict]) -> Optional[dict]:
    """
    Identity (placeholder for symmetry with kube's C{keepOrDeleteNullInObj}).
    """
    return obj
