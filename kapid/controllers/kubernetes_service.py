"""
The C{kubernetes} Service in C{default} (kube's C{controlplane/controller/kubernetesservice} and the
endpoint reconciler's C{EndpointsAdapter}): the Service (cluster IP = the first address of the
service IP range, port 443 named C{https} to kapid's secure port), its Endpoints and its
C{discovery.k8s.io/v1} EndpointSlice, pointing at the advertise address.

L{post_start_hook} is the daemon's post-start hook (C{hook(kapid_service)}); it runs the allocator's
repair pass first (kube's C{start-service-ip-repair-controllers}), then reconciles the three objects
through the registry stores (so they get defaults, validation and allocation like any object).
"""

from __future__ import annotations

from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import attr
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery.status import StatusError
from kapid.registry.allocator import ServiceAllocator

log = Logger()

NAME = "kubernetes"
NAMESPACE = "default"
SERVICE_PORT = 443
PORT_NAME = "https"
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}
ENDPOINTS_LABELS = {"endpointslice.kubernetes.io/skip-mirror": "true"}
SLICE_LABELS = {"kubernetes.io/service-name": NAME}


def service_object(service_ip: str, secure_port: int, node_port: int = 0) -> dict:
    """
    The C{kubernetes} Service as kube's controller writes it (NodePort when C{node_port} is set,
    kube's C{--kubernetes-service-node-port}).
    """
    port: dict = {"name": PORT_NAME, "protocol": "TCP", "port": SERVICE_PORT, "targetPort": secure_port}
    if node_port:
        port["nodePort"] = node_port
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SERVICE_LABELS)},
        "spec": {
            "ports": [port],
            "clusterIP": service_ip,
            "clusterIPs": [service_ip],
            "sessionAffinity": "None",
            "type": "NodePort" if node_port else "ClusterIP",
        },
    }


def endpoints_object(address: str, secure_port: int) -> dict:
    """
    The C{kubernetes} Endpoints: one address, the C{https} port.
    """
    return {
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(ENDPOINTS_LABELS)},
        "subsets": [
            {
                "addresses": [{"ip": address}],
                "ports": [{"name": PORT_NAME, "port": secure_port, "protocol": "TCP"}],
            }
        ],
    }


def address_type(address: str) -> str:
    """
    C{IPv4} or C{IPv6}.
    """
    return "IPv6" if ":" in address else "IPv4"


def endpoint_slice_object(address: str, secure_port: int) -> dict:
    """
    The C{kubernetes} EndpointSlice: one ready endpoint, the C{https} port.
    """
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SLICE_LABELS)},
        "addressType": address_type(address),
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": secure_port, "protocol": "TCP"}],
    }


@attr.s(auto_attribs=True)
class KubernetesServiceController:
    """
    Reconciles the C{kubernetes} Service, Endpoints and EndpointSlice.

    @ivar store_for: C{(group, plural) -> RegistryStore or None} (for example over a
        L{kapid.endpoints.link.ResourceLink}: its registry lookup and C{store_for}).
    @ivar allocator: the server's L{ServiceAllocator} (its range gives the Service IP).
    @ivar advertise_address: the address clients reach kapid at.
    @ivar secure_port: the port kapid serves HTTPS on.
    @ivar node_port: C{--kubernetes-service-node-port} (0: a ClusterIP Service).
    """

    store_for: Callable[[str, str], Any]
    allocator: ServiceAllocator
    advertise_address: str
    secure_port: int
    node_port: int = 0

    async def reconcile(self) -> None:
        """
        Repair the allocation bitmaps, then create or correct the three objects.
        """
        await self.allocator.repair()
        await self._service()
        # the Service's IP is in the bitmap even when the store does not allocate (yet)
        await self.allocator.repair()
        await self._endpoints()
        await self._endpoint_slice()

    async def _get(self, store: Any, version: str) -> Optional[dict]:
        try:
            return await store.get(NAMESPACE, NAME, version)
        except StatusError as e:
            if e.code == 404:
                return None
            raise

    async def _create(self, store: Any, obj: dict, version: str) -> None:
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default(version, obj)
        try:
            await store.create(NAMESPACE, obj, version)
        except StatusError as e:
            # another server made it first: 409, or 422 when its allocation of the IP came first
            if e.code not in (409, 422) or await self._get(store, version) is None:
                raise

    async def _replace(self, store: Any, obj: dict, version: str) -> None:
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default(version, obj)
        await store.update(NAMESPACE, NAME, lambda current: obj, version)

    async def _service(self) -> None:
        store = self.store_for("", "services")
        if store is None:
            return
        want = service_object(self.allocator.kubernetes_ip, self.secure_port, self.node_port)
        current = await self._get(store, "v1")
        if current is None:
            await self._create(store, want, "v1")
            return
        # kube corrects the ports and the type only (the cluster IP is immutable)
        spec = current.get("spec") or {}
        want_port = want["spec"]["ports"][0]
        ports = spec.get("ports") or []
        port_ok = (
            len(ports) == 1
            and all(ports[0].get(k) == want_port[k] for k in ("name", "protocol", "port", "targetPort"))
            and (not self.node_port or ports[0].get("nodePort") == self.node_port)
        )
        if port_ok and spec.get("type") == want["spec"]["type"]:
            return
        new = dict(current)
        new["spec"] = dict(spec, ports=[want_port], type=want["spec"]["type"])
        await self._replace(store, new, "v1")

    async def _endpoints(self) -> None:
        store = self.store_for("", "endpoints")
        if store is None:
            return
        want = endpoints_object(self.advertise_address, self.secure_port)
        current = await self._get(store, "v1")
        if current is None:
            await self._create(store, want, "v1")
            return
        labels = (current.get("metadata") or {}).get("labels") or {}
        if current.get("subsets") == want["subsets"] and labels == ENDPOINTS_LABELS:
            return
        new = dict(current, subsets=want["subsets"])
        new["metadata"] = dict(current["metadata"], labels=dict(ENDPOINTS_LABELS))
        await self._replace(store, new, "v1")

    async def _endpoint_slice(self) -> None:
        store = self.store_for("discovery.k8s.io", "endpointslices")
        if store is None:
            return
        want = endpoint_slice_object(self.advertise_address, self.secure_port)
        current = await self._get(store, "v1")
        if current is None:
            await self._create(store, want, "v1")
            return
        labels = (current.get("metadata") or {}).get("labels") or {}
        same = all(current.get(k) == want[k] for k in ("addressType", "endpoints", "ports"))
        if same and labels == SLICE_LABELS:
            return
        if current.get("addressType") != want["addressType"]:
            # addressType is immutable: start again
            await store.delete(NAMESPACE, NAME, {}, "v1")
            await self._create(store, want, "v1")
            return
        new = dict(current, endpoints=want["endpoints"], ports=want["ports"])
        new["metadata"] = dict(current["metadata"], labels=dict(SLICE_LABELS))
        await self._replace(store, new, "v1")


def link_store_for(link: Any) -> Callable[[str, str], Any]:
    """
    C{(group, plural) -> RegistryStore or None} over a L{kapid.endpoints.link.ResourceLink}.
    """

    def store_for(group: str, plural: str) -> Any:
        res = link.registry.lookup(group, "v1", plural)
        return None if res is None else link.store_for(res)

    return store_for


def _port_of(url: Optional[str]) -> int:
    if not url:
        return 0
    return urlsplit(url).port or 0


def controller_for(service: Any) -> Optional[KubernetesServiceController]:
    """
    The controller of a started L{kapid.server.service.KapidService} (None without a resource
    link): its link's stores, the allocator of its services strategy (or one from its config),
    C{--advertise-address} (127.0.0.1 when unset) and the port it listens on securely (the plain
    HTTP port when it serves no HTTPS).
    """
    link = getattr(service, "resource_link", None)
    if link is None:
        return None
    from kapid.registry.services import allocator_from_config

    config = service.config
    store_for = link_store_for(link)
    services = store_for("", "services")
    allocator = getattr(getattr(services, "strategy", None), "allocator", None)
    if allocator is None:
        allocator = allocator_from_config(config, link.storage)
    address = getattr(config.generic, "advertise_address", None) or "127.0.0.1"
    port = _port_of(getattr(service, "secure_url", None)) or _port_of(getattr(service, "insecure_url", None))
    if not port:
        port = int(getattr(config.secure_serving, "secure_port", 0) or 0)
    node_port = int(getattr(getattr(config, "misc", None), "kubernetes_service_node_port", 0) or 0)
    return KubernetesServiceController(store_for, allocator, str(address), port, node_port)


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's post-start hook (register it as C{bootstrap-controller}): reconcile the
    C{kubernetes} Service, Endpoints and EndpointSlice of a started
    L{kapid.server.service.KapidService}.
    """

    async def run() -> None:
        controller = controller_for(service)
        if controller is None:
            return
        from twisted.internet import reactor

        await reconcile_until_done(controller, getattr(service, "reactor", reactor))

    return Deferred.fromCoroutine(run())


async def reconcile_until_done(controller: KubernetesServiceController, clock: Any, attempts: int = 8) -> None:
    """
    Reconcile, again after a short wait (doubling from 50 ms, at most 2 s) while another server
    starting on the same storage holds the Service's IP without having written the Service yet
    (409 or 422): kube's bootstrap controller reconciles in a loop and gets there the same way.
    """
    from twisted.internet.task import deferLater

    delay = 0.05
    for attempt in range(attempts):
        try:
            await controller.reconcile()
            return
        except StatusError as e:
            if e.code not in (409, 422) or attempt + 1 == attempts:
                raise
            log.info("bootstrap-controller: {message}; trying again in {delay}s", message=e.message, delay=delay)
        await deferLater(clock, delay, lambda: None)
        delay = min(delay * 2, 2.0)
