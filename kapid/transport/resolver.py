"""
Service resolution (kube's C{k8s.io/apiserver/pkg/util/proxy} C{ResolveEndpoint} and
C{ResolveCluster}): kapid runs no kube-proxy, so a webhook or an extension API server named by a
Service reference is reached at one ready endpoint of that Service, read through kapid's storage.

The Service's port is found by number; its name picks the matching port of the Service's
EndpointSlices (label C{kubernetes.io/service-name}), whose number is the target port. A Service
with no EndpointSlices at all is resolved from its Endpoints object instead, as kube's
EndpointSlice mirroring controller would have mirrored it into a slice.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any, Callable, Optional

from hyperlink import URL

from kapid.apimachinery.status import StatusError, not_found, service_unavailable
from kapid.storage.interfaces import ListOptions

#: The label that ties an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

_ROUTABLE_TYPES = ("ClusterIP", "LoadBalancer", "NodePort")


def _port_name(port: dict) -> str:
    # kube defaults a missing EndpointPort / ServicePort name to ""
    return port.get("name") or ""


def _host_port(host: str, port: int) -> URL:
    return URL(scheme="https", host=host, port=port)


class ServiceResolver:
    """
    Resolves C{(namespace, name, port)} Service references to C{https} URLs of a ready endpoint.

    @param services: the C{services} L{kapid.registry.store.RegistryStore}.
    @param endpoint_slices: the C{discovery.k8s.io} C{endpointslices} store, or None.
    @param endpoints: the core C{endpoints} store, or None.
    @param rng: picks among slices and endpoints (kube picks at random).
    """

    def __init__(
        self,
        services: Any,
        endpoint_slices: Any = None,
        endpoints: Any = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.services = services
        self.endpoint_slices = endpoint_slices
        self.endpoints = endpoints
        self.rng = rng or random.Random()

    @classmethod
    def over(cls, store_for: Callable[[str, str], Any], rng: Optional[random.Random] = None) -> "ServiceResolver":
        """
        A resolver over C{store_for(group, plural) -> RegistryStore or None} (for example
        L{kapid.controllers.kubernetes_service.link_store_for} of the resource link).
        """
        return cls(
            store_for("", "services"),
            store_for("discovery.k8s.io", "endpointslices"),
            store_for("", "endpoints"),
            rng,
        )

    async def _service(self, namespace: str, name: str) -> dict:
        store = self.services
        if store is None:
            raise not_found("service", name)
        key = store.key(namespace, name)
        # kube reads its informer's cache: the watch cache first, storage on a miss
        svc = await store.storage.get(key, "0", True)
        if svc is None:
            svc = await store.storage.get(key, "", True)
        if svc is None:
            raise not_found("service", name)
        return svc

    @staticmethod
    def _service_port(svc: dict, name: str, port: int) -> dict:
        for p in (svc.get("spec") or {}).get("ports") or []:
            if p.get("port") == port:
                return p
        raise service_unavailable(f"no service port {port} found for service {_quote(name)}")

    async def resolve(self, namespace: str, name: str, port: int) -> URL:
        """
        kube's C{ResolveEndpoint}: the URL of a ready endpoint of Service C{namespace/name} serving
        its port C{port}. Errors (L{StatusError}): 404 C{service "x" not found}; 503 when the port
        is not the Service's or no endpoint is ready (C{no endpoints available for service "x"});
        500 for an ExternalName Service.
        """
        svc = await self._service(namespace, name)
        spec = svc.get("spec") or {}
        kind = spec.get("type") or "ClusterIP"
        if kind not in _ROUTABLE_TYPES:
            raise StatusError(500, "", f"unsupported service type {_quote(kind)}")
        svc_port = self._service_port(svc, name, port)
        families = spec.get("ipFamilies") or []
        preferred = families[0] if families else ""
        slices = await self._slices(namespace, name)
        if slices:
            hostport = self._from_slices(slices, _port_name(svc_port), preferred)
        else:
            hostport = await self._from_endpoints(namespace, name, _port_name(svc_port))
        if hostport is None:
            raise service_unavailable(f"no endpoints available for service {_quote(name)}")
        return _host_port(*hostport)

    async def resolve_cluster(self, namespace: str, name: str, port: int) -> URL:
        """
        kube's C{ResolveCluster}: the Service's cluster IP and port (the aggregator without
        endpoint routing), or an ExternalName Service's name.
        """
        svc = await self._service(namespace, name)
        spec = svc.get("spec") or {}
        kind = spec.get("type") or "ClusterIP"
        if kind == "ClusterIP" and spec.get("clusterIP") == "None":
            raise StatusError(500, "", 'cannot route to service with ClusterIP "None"')
        if kind in _ROUTABLE_TYPES:
            svc_port = self._service_port(svc, name, port)
            return _host_port(spec.get("clusterIP") or "", int(svc_port["port"]))
        if kind == "ExternalName":
            return _host_port(spec.get("externalName") or "", port)
        raise StatusError(500, "", f"unsupported service type {_quote(kind)}")

    async def _slices(self, namespace: str, name: str) -> list[dict]:
        store = self.endpoint_slices
        if store is None:
            return []
        res = await store.storage.get_list(store.list_key(namespace), ListOptions(resource_version="0"))
        return [
            s for s in res["items"]
            if ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and (s.get("metadata") or {}).get("namespace", namespace) == namespace
        ]

    def _from_slices(self, slices: list[dict], port_name: str, family: str) -> Optional[tuple[str, int]]:
        """
        kube's C{RandomEndpoint}: slices of the preferred address family first, each group in a
        random order; the first slice with the port and a ready endpoint, from a random offset.
        """
        order = {id(s): self.rng.random() for s in slices}
        slices = sorted(slices, key=lambda s: (s.get("addressType") != family, order[id(s)]))
        for s in slices:
            endpoints = s.get("endpoints") or []
            for p in s.get("ports") or []:
                if _port_name(p) != port_name or p.get("port") is None or not endpoints:
                    continue
                offset = self.rng.randrange(len(endpoints))
                for i in range(len(endpoints)):
                    ep = endpoints[(i + offset) % len(endpoints)]
                    if (ep.get("conditions") or {}).get("ready") is False:
                        continue
                    addresses = ep.get("addresses") or []
                    if not addresses:
                        continue
                    return addresses[0], int(p["port"])
        return None

    async def _from_endpoints(self, namespace: str, name: str, port_name: str) -> Optional[tuple[str, int]]:
        """
        An Endpoints object read as its mirrored EndpointSlice would be: ready addresses of the
        subset carrying the named port.
        """
        store = self.endpoints
        if store is None:
            return None
        key = store.key(namespace, name)
        eps = await store.storage.get(key, "0", True)
        if eps is None:
            eps = await store.storage.get(key, "", True)
        if eps is None:
            return None
        for subset in eps.get("subsets") or []:
            addresses = [a for a in subset.get("addresses") or [] if a.get("ip")]
            for p in subset.get("ports") or []:
                if _port_name(p) != port_name or p.get("port") is None or not addresses:
                    continue
                a = addresses[self.rng.randrange(len(addresses))]
                return a["ip"], int(p["port"])
        return None


def _quote(s: str) -> str:
    """
    Go's C{%q} for the plain strings kube quotes here.
    """
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_ip(host: str) -> bool:
    """
    Whether C{host} is an IPv4 or IPv6 address literal.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
