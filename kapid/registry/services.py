"""
Services with server-side allocation: the strategy that runs L{kapid.registry.allocator} around the
generic store's writes (kube's Service REST C{BeginCreate}/C{BeginUpdate}/C{AfterDelete}), and the
wiring of one allocator per server.

The store calls three asynchronous hooks of the strategy (see L{ServiceStrategy}); each answers a
L{kapid.registry.allocator.Transaction} (or, without an allocator, a no-op callable):

  - C{txn = await before_create(store, obj, dry_run)} once the object is validated, just before the
    write; after the write C{await txn.commit()} when it was stored, C{await txn.revert()} (or
    C{await txn()}) when it failed for any reason;
  - C{txn = await before_update(store, obj, old, dry_run)} the same for an update of the main
    resource (not its status): C{await txn.commit()} (or C{await txn()}) after the write releases
    what the update gave up, C{await txn.revert()} when the write failed gives back what it took;
  - C{await after_delete(store, obj)} once the object is really gone.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.registry.allocator import (
    DEFAULT_NODE_PORT_RANGE,
    DEFAULT_SERVICE_IP_RANGE,
    ServiceAllocator,
    drop_type_dependent_fields,
    patch_allocated_values,
)
from kapid.registry.builtin.core_cluster import ServiceStrategy as _BaseServiceStrategy


class ServiceStrategy(_BaseServiceStrategy):
    """
    The Service strategy of L{kapid.registry.builtin.core_cluster} plus kube's C{PrepareForUpdate}
    handling of allocated fields: an update that leaves the cluster IPs or node ports unset keeps
    the old ones, and a type change drops the ones the new type does not use (when the user left
    them as they were), before validation sees the object.
    """

    def __init__(self, allocator: Optional[ServiceAllocator] = None) -> None:
        super().__init__(allocator)

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        patch_allocated_values(obj, old)
        normalize_cluster_ips(obj, old)
        drop_type_dependent_fields(obj, old)


def normalize_cluster_ips(new: dict, old: dict) -> None:
    """
    kube's C{NormalizeClusterIPs} on update: a client that changed or cleared only C{clusterIP}
    (leaving C{clusterIPs} as it was) gets C{clusterIPs} to match, so validation judges the change.
    """
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    old_ip, new_ip = old_spec.get("clusterIP") or "", spec.get("clusterIP") or ""
    old_ips = list(old_spec.get("clusterIPs") or [])
    if old_ips and not spec.get("clusterIPs") and old_ip == new_ip:
        spec["clusterIPs"] = list(old_ips)
    if old_ip != new_ip and list(spec.get("clusterIPs") or []) == old_ips:
        if old_ip and not new_ip:
            spec.pop("clusterIPs", None)
        else:
            spec["clusterIPs"] = [new_ip]


def allocator_from_config(config: Any, storage: Any) -> ServiceAllocator:
    """
    The allocator of a server: C{--service-cluster-ip-range} (its first range),
    C{--service-node-port-range} and C{--etcd-prefix} from a L{kapid.options.config.KapidConfig},
    over C{storage} (the L{IStorage} the resources use).
    """
    misc = getattr(config, "misc", None)
    ranges = tuple(getattr(misc, "service_cluster_ip_ranges", ()) or ())
    ip_range = ranges[0] if ranges else DEFAULT_SERVICE_IP_RANGE
    ports = getattr(misc, "service_node_port_range", None)
    port_range = f"{ports[0]}-{ports[1]}" if ports else DEFAULT_NODE_PORT_RANGE
    prefix = getattr(getattr(config, "etcd", None), "etcd_prefix", "/registry") or "/registry"
    return ServiceAllocator(storage, ip_range, port_range, prefix=prefix)


def install_service_allocation(registry: Any, allocator: ServiceAllocator) -> None:
    """
    Replace the services description in C{registry} (a L{ResourceRegistry}) by one whose strategy
    allocates with C{allocator}.
    """
    res = registry.lookup("", "v1", "services")
    if res is None:
        return
    registry.add(attr.evolve(res, strategy=ServiceStrategy(allocator)))
