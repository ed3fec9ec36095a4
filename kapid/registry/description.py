"""
A resource, described once.

Routes, discovery, OpenAPI, storage keys, field selectors and tables all read a L{Resource}.
Descriptions live in a L{ResourceRegistry} that can change at run time (a CRD appears, an APIService
goes): consumers look resources up per request, or subscribe to changes; nothing copies the list.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import attr

#: kube's verbs for a full CRUD resource, in discovery's order.
ALL_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@attr.s(frozen=True, auto_attribs=True)
class TableColumn:
    """
    One Table column (C{metav1.TableColumnDefinition}) plus how to compute its cell from an object.

    C{cell(obj)} returns the cell value (str, int, ...); C{priority} 1 columns show with C{-o wide}.
    """

    name: str
    type: str
    cell: Callable[[dict], Any]
    format: str = ""
    description: str = ""
    priority: int = 0


@attr.s(frozen=True, auto_attribs=True)
class Version:
    """
    One served version of a resource.

    @ivar name: C{"v1"}, C{"v2"}, ...
    @ivar schema: the OpenAPI definition name of the kind in this version
        (e.g. C{io.k8s.api.apps.v1.Deployment}) or, for CRDs, the schema itself (a dict).
    @ivar storage: whether objects are stored in this version.
    """

    name: str
    schema: Any = None
    served: bool = True
    storage: bool = False


@attr.s(frozen=True, auto_attribs=True)
class Subresource:
    """
    A subresource (C{status}, C{scale}, C{binding}, C{eviction}, C{log}, ...).

    @ivar kind, group, version: the kind it answers with (C{Scale}, C{autoscaling}, C{v1} for scale;
        the parent's kind for status).
    """

    name: str
    kind: str
    group: str = ""
    version: str = ""
    verbs: tuple[str, ...] = ("get", "patch", "update")


@attr.s(frozen=True, auto_attribs=True)
class Resource:
    """
    Everything kapid knows about one resource.

    @ivar group: API group (C{""} for core).
    @ivar kind: C{Deployment}.
    @ivar plural: C{deployments} (the URL segment).
    @ivar singular: C{deployment}.
    @ivar versions: served versions; exactly one has C{storage=True}.
    @ivar namespaced: scope.
    @ivar short_names, categories: for discovery and kubectl.
    @ivar verbs: verbs served on the main resource.
    @ivar subresources: subresources served.
    @ivar strategy: the L{kapid.registry.interfaces.IRESTStrategy} provider.
    @ivar table_columns: Table columns after the always-present C{Name}; C{()} means C{Name, Age}
        is computed by the generic code (kube's default table).
    @ivar field_selectors: extra field-selector labels -> function of the object giving the value
        (C{metadata.name} and C{metadata.namespace} are always supported).
    @ivar storage_path: the path segment(s) under C{--etcd-prefix}, C{services/specs} for services,
        C{minions} for nodes (kube's layout); defaults to C{plural}, prefixed with the group for
        groups other than core and the legacy built-in ones.
    @ivar return_deleted_object: whether DELETE answers with the object (kube's
        C{ReturnDeletedObject}) rather than a C{Success} Status.
    @ivar ttl: seconds objects live (Events: 3600), 0 for ever.
    @ivar list_kind: the kind of its lists (C{DeploymentList}: the kind and C{List} unless a CRD
        names another).
    """

    group: str
    kind: str
    plural: str
    singular: str
    versions: tuple[Version, ...]
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    strategy: Any = None
    table_columns: tuple[TableColumn, ...] = ()
    field_selectors: dict[str, Callable[[dict], str]] = attr.ib(factory=dict)
    storage_path: Optional[str] = None
    return_deleted_object: bool = False
    ttl: int = 0
    list_kind: str = attr.ib(default=attr.Factory(lambda self: self.kind + "List", takes_self=True))

    @property
    def storage_version(self) -> Version:
        """
        The version objects are stored in.
        """
        for v in self.versions:
            if v.storage:
                return v
        return self.versions[0]

    def version(self, name: str) -> Optional[Version]:
        """
        The served version called C{name}, or None.
        """
        for v in self.versions:
            if v.name == name and v.served:
                return v
        return None

    def api_version(self, version: str) -> str:
        """
        C{apps/v1} or C{v1}.
        """
        return f"{self.group}/{version}" if self.group else version

    def subresource(self, name: str) -> Optional[Subresource]:
        """
        The subresource called C{name}, or None.
        """
        for s in self.subresources:
            if s.name == name:
                return s
        return None

    def key_prefix(self, etcd_prefix: str = "/registry") -> str:
        """
        The storage key prefix of this resource's objects, ending in C{/}.
        """
        path = self.storage_path or self.plural
        return f"{etcd_prefix.rstrip('/')}/{path}/"

    def key(self, namespace: str, name: str, etcd_prefix: str = "/registry") -> str:
        """
        C{/registry/<path>/<namespace>/<name>} (C{/registry/<path>/<name>} when cluster-scoped).
        """
        if self.namespaced:
            return f"{self.key_prefix(etcd_prefix)}{namespace}/{name}"
        return f"{self.key_prefix(etcd_prefix)}{name}"


class ResourceRegistry:
    """
    The live set of resource descriptions, keyed by (group, plural).

    Consumers call L{lookup} per request; L{subscribe} tells them of changes (for discovery ETags,
    OpenAPI, the watch cache).
    """

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_key: dict[tuple[str, str], Resource] = {}
        self._subscribers: list[Callable[[], None]] = []
        for r in resources:
            self._by_key[(r.group, r.plural)] = r

    def add(self, resource: Resource) -> None:
        """
        Add or replace a description and tell subscribers.
        """
        self._by_key[(resource.group, resource.plural)] = resource
        self._changed()

    def remove(self, group: str, plural: str) -> None:
        """
        Remove a description and tell subscribers.
        """
        self._by_key.pop((group, plural), None)
        self._changed()

    def get(self, group: str, plural: str) -> Optional[Resource]:
        """
        The description of C{group}/C{plural} whatever versions it serves, or None.
        """
        return self._by_key.get((group, plural))

    def lookup(self, group: str, version: str, plural: str) -> Optional[Resource]:
        """
        The resource served at C{group/version/plural}, or None.
        """
        r = self._by_key.get((group, plural))
        if r is None or r.version(version) is None:
            return None
        return r

    def all(self) -> list[Resource]:
        """
        Every description, in a stable order (group, plural).
        """
        return [self._by_key[k] for k in sorted(self._by_key)]

    def group_versions(self) -> dict[str, list[str]]:
        """
        C{{group: [versions...]}} of everything served.
        """
        out: dict[str, list[str]] = {}
        for r in self.all():
            for v in r.versions:
                if v.served and v.name not in out.setdefault(r.group, []):
                    out[r.group].append(v.name)
        return out

    def subscribe(self, callback: Callable[[], None]) -> None:
        """
        Call C{callback()} after every change.
        """
        self._subscribers.append(callback)

    def _changed(self) -> None:
        for cb in list(self._subscribers):
            cb()
