"""
Server-side printing: C{meta.k8s.io} C{Table} (kube's table convertors, with the default one when a
resource declares no columns) and C{PartialObjectMetadata}/C{PartialObjectMetadataList}.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Sequence

from kapid.apimachinery import meta as metautil
from kapid.registry.description import TableColumn


def human_duration(seconds: float) -> str:
    """
    kube's C{duration.HumanDuration} (C{5s}, C{2m10s}, C{3h4m}, C{5d}, C{2y10d}).
    """
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m" if rem == 0 else f"{minutes}m{rem}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


class Since:
    """
    A cell value meaning "the human age of this RFC 3339 time" (kube's C{translateTimestampSince}),
    computed by the convertor with its clock; C{<unknown>} when the time is unset.
    """

    __slots__ = ("timestamp",)

    def __init__(self, timestamp: Any) -> None:
        self.timestamp = timestamp

    def render(self, now: float) -> str:
        ts = metautil.parse_timestamp(self.timestamp) if isinstance(self.timestamp, str) else None
        if ts is None:
            return "<unknown>"
        return human_duration(now - ts)


def age(obj: dict, now: float) -> str:
    """
    The Age cell of an object (C{<unknown>} without a creationTimestamp).
    """
    ts = metautil.parse_timestamp((obj.get("metadata") or {}).get("creationTimestamp") or "")
    if ts is None:
        return "<unknown>"
    return human_duration(now - ts)


@functools.lru_cache(maxsize=None)
def _meta_descriptions() -> dict[str, str]:
    try:
        from kapid.apimachinery.schema import Schema

        s = Schema.of("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        return {k: v.description for k, v in s.iter_properties()}
    except Exception:  # pragma: no cover - schema package missing
        return {}


def name_column() -> dict[str, Any]:
    """
    The C{Name} column every table starts with.
    """
    return {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": _meta_descriptions().get("name", ""),
        "priority": 0,
    }


def _takes_now(cell: Any) -> bool:
    """
    Whether a cell function takes the current time as a second argument (C{cell(obj, now)}).
    """
    import inspect

    try:
        params = list(inspect.signature(cell).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def _column_def(c: TableColumn) -> dict[str, Any]:
    return {
        "name": c.name,
        "type": c.type,
        "format": c.format,
        "description": c.description,
        "priority": c.priority,
    }


def _created_at(obj: dict, now: float) -> str:
    return (obj.get("metadata") or {}).get("creationTimestamp") or ""


class TableConvertor:
    """
    Renders objects of one resource as Table rows: C{Name} then the resource's columns, or kube's
    default (C{Name}, C{Created At}) when it has none.
    """

    def __init__(self, columns: Sequence[TableColumn]) -> None:
        self.columns = tuple(columns)
        self._takes_now = tuple(_takes_now(c.cell) for c in self.columns)
        #: whether the columns place C{Name} themselves (kube's Event table has it last, wide only)
        self.own_name = any(c.name == "Name" for c in self.columns)
        if self.own_name:
            self.definitions = [_column_def(c) for c in self.columns]
        elif self.columns:
            self.definitions = [name_column()] + [_column_def(c) for c in self.columns]
        else:
            self.definitions = [
                name_column(),
                {
                    "name": "Created At",
                    "type": "date",
                    "format": "",
                    "description": _meta_descriptions().get("creationTimestamp", ""),
                    "priority": 0,
                },
            ]

    def cells(self, obj: dict, now: float) -> list[Any]:
        """
        One row's cells.
        """
        name = (obj.get("metadata") or {}).get("name") or ""
        if not self.columns:
            return [name, _created_at(obj, now)]
        out: list[Any] = [] if self.own_name else [name]
        for c, with_now in zip(self.columns, self._takes_now):
            if c.name == "Age":
                out.append(age(obj, now))
                continue
            try:
                v = c.cell(obj, now) if with_now else c.cell(obj)
            except Exception:
                v = "<unknown>"
            if isinstance(v, Since):
                v = v.render(now)
            out.append(v)
        return out

    def table(
        self,
        objects: Iterable[dict],
        now: float,
        version: str,
        include_object: str,
        list_meta: dict[str, Any],
        no_headers: bool = False,
    ) -> dict[str, Any]:
        """
        A C{Table} of C{objects}. C{include_object}: C{None}, C{Metadata} (the default) or
        C{Object}.
        """
        rows = []
        for obj in objects:
            row: dict[str, Any] = {"cells": self.cells(obj, now)}
            if include_object == "Object":
                row["object"] = obj
            elif include_object != "None":
                row["object"] = partial_object_metadata(obj, version)
            rows.append(row)
        return {
            "kind": "Table",
            "apiVersion": f"meta.k8s.io/{version}",
            "metadata": list_meta,
            "columnDefinitions": None if no_headers else self.definitions,
            "rows": rows,
        }


def partial_object_metadata(obj: dict, version: str = "v1") -> dict[str, Any]:
    """
    C{PartialObjectMetadata} of an object.
    """
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj.get("metadata") or {},
    }


def partial_object_metadata_list(
    objects: Iterable[dict], version: str, list_meta: dict[str, Any]
) -> dict[str, Any]:
    """
    C{PartialObjectMetadataList} of objects.
    """
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta,
        "items": [partial_object_metadata(o, version) for o in objects],
    }


def columns_for_resource(resource: Any) -> tuple[TableColumn, ...]:
    """
    The columns of a resource: its own, else H6's per-kind table, else none (the default table).
    """
    if resource.table_columns:
        return tuple(resource.table_columns)
    try:
        from kapid.registry.tables import columns_for
    except ImportError:
        return ()
    try:
        return tuple(columns_for(resource.group, resource.kind) or ())
    except Exception:
        return ()
