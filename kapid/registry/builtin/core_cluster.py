"""
core/v1 resources beyond the API machinery's (L{kapid.registry.builtin.core}): services (+status,
+proxy), endpoints, serviceaccounts (+token), replicationcontrollers (+status, +scale), nodes
(+status, +proxy), persistentvolumes, persistentvolumeclaims, limitranges, resourcequotas and
podtemplates, with kube's verbs, short names, categories, storage layout and field selectors.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.apimachinery.status import service_unavailable
from kapid.registry.builtin._helpers import PROXY_VERBS, field, resource, status, v1
from kapid.registry.description import Resource, Subresource
from kapid.registry.strategy import GenericStrategy


def _d(name: str) -> str:
    return f"io.k8s.api.core.v1.{name}"


class NodeStrategy(GenericStrategy):
    """
    Nodes keep the status they are created with (kubelets register with it); the main resource
    ignores status changes after that.
    """

    def __init__(self) -> None:
        super().__init__("", "Node", has_status=True)

    def prepare_for_proxy(self, obj: dict, old: dict) -> None:
        """
        Writes to C{nodes/<name>/proxy} never change the Node; with no kubelet to reach, kapid
        answers 503 as kube-apiserver does when the node cannot be dialled.
        """
        name = (old.get("metadata") or {}).get("name") or ""
        raise service_unavailable(f'error trying to reach service: no kubelet is reachable for node "{name}"')

    def prepare_for_create(self, obj: dict) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.pop("configSource", None)
        st = obj.get("status")
        if isinstance(st, dict):
            st.pop("config", None)


class ServiceStrategy(GenericStrategy):
    """
    Services: DNS-1035 names, status kept apart, and, when given a
    L{kapid.registry.allocator.ServiceAllocator}, kube's cluster IP and node port allocation
    through three asynchronous hooks the store calls around its writes:

      - C{await before_create(store, obj, dry_run)} -> an undo: C{await undo()} if the write fails
        (the allocator's L{kapid.registry.allocator.Transaction}, which also has C{finish(ok)});
      - C{await before_update(store, obj, old, dry_run)} -> a commit: C{await commit()} after the
        write (it releases what the update gave up);
      - C{await after_delete(store, obj)} once the object is gone.

    Without an allocator the hooks change nothing and return a no-op callable.
    """

    def __init__(self, allocator: Optional[Any] = None) -> None:
        super().__init__(
            "", "Service", has_status=True, name_validation="dns1035", reset_status={"loadBalancer": {}},
            allow_create_on_update=True,
        )
        self.allocator = allocator

    async def before_create(self, store: Any, obj: dict, dry_run: bool = False) -> Any:
        """
        Allocate the new Service's cluster IP and node ports (see the class docstring).
        """
        if self.allocator is None:
            return _nothing
        return await self.allocator.allocate_create(obj, dry_run)

    async def before_update(self, store: Any, obj: dict, old: dict, dry_run: bool = False) -> Any:
        """
        Carry or change allocations for an update (see the class docstring).
        """
        if self.allocator is None:
            return _nothing
        return await self.allocator.allocate_update(obj, old, dry_run)

    async def after_delete(self, store: Any, obj: dict) -> None:
        """
        Release a deleted Service's allocations.
        """
        if self.allocator is not None:
            await self.allocator.release(obj)

    def prepare_for_proxy(self, obj: dict, old: dict) -> None:
        """
        Writes to C{services/<name>/proxy} never change the Service: kapid has no endpoints to
        proxy to, so it answers as kube-apiserver does for a Service without ready endpoints.
        """
        name = (old.get("metadata") or {}).get("name") or ""
        raise service_unavailable(f'no endpoints available for service "{name}"')


async def _nothing() -> None:
    return None


def services_with_allocator(allocator: Any) -> Resource:
    """
    The services description with allocation by C{allocator} (a
    L{kapid.registry.allocator.ServiceAllocator}); register it in place of L{SERVICES}.
    """
    return attr.evolve(SERVICES, strategy=ServiceStrategy(allocator))


SERVICES = resource(
    "", "Service", "services", v1(_d("Service")),
    short_names=("svc",),
    categories=("all",),
    subresources=(
        Subresource("proxy", "ServiceProxyOptions", "", "v1", PROXY_VERBS),
        status("Service", ""),
    ),
    strategy=ServiceStrategy(),
    storage_path="services/specs",
    return_deleted_object=True,
)

ENDPOINTS = resource(
    "", "Endpoints", "endpoints", v1(_d("Endpoints")),
    short_names=("ep",),
    storage_path="services/endpoints",
    singular="endpoints",
    allow_create_on_update=True,
)

SERVICE_ACCOUNTS = resource(
    "", "ServiceAccount", "serviceaccounts", v1(_d("ServiceAccount")),
    short_names=("sa",),
    subresources=(Subresource("token", "TokenRequest", "authentication.k8s.io", "v1", ("create",)),),
    return_deleted_object=True,
)

REPLICATION_CONTROLLERS = resource(
    "", "ReplicationController", "replicationcontrollers", v1(_d("ReplicationController")),
    short_names=("rc",),
    categories=("all",),
    subresources=(
        Subresource("scale", "Scale", "autoscaling", "v1"),
        status("ReplicationController", ""),
    ),
    storage_path="controllers",
    field_selectors={"status.replicas": field("status", "replicas")},
    tracks_generation=True,
    reset_status={"replicas": 0},
)

NODES = resource(
    "", "Node", "nodes", v1(_d("Node")),
    namespaced=False,
    short_names=("no",),
    subresources=(
        Subresource("proxy", "NodeProxyOptions", "", "v1", PROXY_VERBS),
        status("Node", ""),
    ),
    strategy=NodeStrategy(),
    storage_path="minions",
    field_selectors={"spec.unschedulable": lambda o: "true" if (o.get("spec") or {}).get("unschedulable") else "false"},
)

PERSISTENT_VOLUMES = resource(
    "", "PersistentVolume", "persistentvolumes", v1(_d("PersistentVolume")),
    namespaced=False,
    short_names=("pv",),
    subresources=(status("PersistentVolume", ""),),
    return_deleted_object=True,
    reset_status={"phase": "Pending"},
)

PERSISTENT_VOLUME_CLAIMS = resource(
    "", "PersistentVolumeClaim", "persistentvolumeclaims", v1(_d("PersistentVolumeClaim")),
    short_names=("pvc",),
    subresources=(status("PersistentVolumeClaim", ""),),
    return_deleted_object=True,
    reset_status={"phase": "Pending"},
)

LIMIT_RANGES = resource(
    "", "LimitRange", "limitranges", v1(_d("LimitRange")),
    short_names=("limits",),
    allow_create_on_update=True,
)

RESOURCE_QUOTAS = resource(
    "", "ResourceQuota", "resourcequotas", v1(_d("ResourceQuota")),
    short_names=("quota",),
    subresources=(status("ResourceQuota", ""),),
    return_deleted_object=True,
    reset_status={},
)

POD_TEMPLATES = resource(
    "", "PodTemplate", "podtemplates", v1(_d("PodTemplate")),
    return_deleted_object=True,
)

RESOURCES = [
    SERVICES,
    ENDPOINTS,
    SERVICE_ACCOUNTS,
    REPLICATION_CONTROLLERS,
    NODES,
    PERSISTENT_VOLUMES,
    PERSISTENT_VOLUME_CLAIMS,
    LIMIT_RANGES,
    RESOURCE_QUOTAS,
    POD_TEMPLATES,
]
