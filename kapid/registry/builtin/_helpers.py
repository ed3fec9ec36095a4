"""
Helpers for the resource descriptions in this package (this module defines no resources).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from kapid.registry.description import ALL_VERBS, Resource, Subresource, Version
from kapid.registry.strategy import GenericStrategy
from kapid.registry.tables import columns_for

STATUS_VERBS = ("get", "patch", "update")
PROXY_VERBS = ("create", "delete", "get", "patch", "update")


def field(*path: str) -> Callable[[dict], str]:
    """
    A field-selector value getter for a dotted path (booleans as C{true}/C{false}, absent as C{""}).
    """

    def get(obj: dict) -> str:
        v: Any = obj
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return get


def status(kind: str, group: str, version: str = "v1") -> Subresource:
    """
    A C{status} subresource answering with the parent's kind.
    """
    return Subresource("status", kind, group, version, STATUS_VERBS)


def resource(
    group: str,
    kind: str,
    plural: str,
    versions: tuple[Version, ...],
    *,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    subresources: tuple[Subresource, ...] = (),
    strategy: Optional[Any] = None,
    field_selectors: Optional[dict[str, Callable[[dict], str]]] = None,
    storage_path: Optional[str] = None,
    return_deleted_object: bool = False,
    singular: Optional[str] = None,
    tracks_generation: bool = False,
    reset_status: Optional[dict] = None,
    name_validation: str = "subdomain",
    ttl: int = 0,
    allow_create_on_update: bool = False,
) -> Resource:
    """
    A L{Resource} with kube's table columns (L{kapid.registry.tables.columns_for}) and, unless
    given, the generic strategy configured from the description (status subresource, generation).
    """
    has_status = any(s.name == "status" for s in subresources)
    if strategy is None:
        strategy = GenericStrategy(
            group,
            kind,
            has_status=has_status,
            tracks_generation=tracks_generation,
            name_validation=name_validation,
            reset_status=reset_status,
            allow_create_on_update=allow_create_on_update,
        )
    return Resource(
        group=group,
        kind=kind,
        plural=plural,
        singular=singular or kind.lower(),
        versions=versions,
        namespaced=namespaced,
        short_names=short_names,
        categories=categories,
        verbs=verbs,
        subresources=subresources,
        strategy=strategy,
        table_columns=columns_for(group, kind),
        field_selectors=dict(field_selectors or {}),
        storage_path=storage_path,
        return_deleted_object=return_deleted_object,
        ttl=ttl,
    )


def v1(definition: str) -> tuple[Version, ...]:
    """
    One served and stored version, C{v1}.
    """
    return (Version("v1", definition, storage=True),)
