"""
The aggregator link, first in the chain (kube-aggregator): keeps the APIServices in a small
in-memory table fed by a watch (L{kapid.aggregator.autoregister.AutoRegisterController}, which
also registers the Local APIServices of every group/version served behind it). A request for a
group/version whose APIService is Local goes to the delegate at the cost of one dictionary lookup
(none at all while no APIService names a Service); one whose APIService names a Service is
answered by the aggregator: 503 C{service unavailable} while the APIService is not available, else
proxied to the extension API server (L{proxy_handler}).

The C{apiservices} resource itself is described in
L{kapid.registry.builtin.apiregistration} and served by the resource link like every built-in.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource, getChildForRequest

from kapid.server.link import Link

log = Logger()

#: C{(request, apiservice) -> render result}: how a request for a remote, available group/version
#: is served.
ProxyHandler = Callable[[IRequest, dict], Any]


def _available(obj: dict) -> bool:
    for c in ((obj.get("status") or {}).get("conditions") or []):
        if isinstance(c, dict) and c.get("type") == "Available":
            return c.get("status") == "True"
    return False


def service_unavailable(request: IRequest) -> bytes:
    """
    kube-aggregator's answer for an unavailable APIService (Go's C{http.Error}: plain text).
    """
    request.setResponseCode(503, b"Service Unavailable")
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    return b"service unavailable\n"


class _AggregatorResource(Resource):
    """
    The aggregator's decision: remote group/versions by C{(group, version)} path segments; any
    other request renders the delegate.
    """

    isLeaf = True

    def __init__(self, link: "AggregatorLink") -> None:
        super().__init__()
        self.link = link

    def render(self, request: IRequest) -> Any:
        remote = self.link.remote
        if remote:
            postpath = request.postpath  # type: ignore[attr-defined]
            if len(postpath) >= 3 and postpath[0] == b"apis":
                target = remote.get((postpath[1], postpath[2]))
                if target is not None:
                    return self.link.serve_remote(request, target)
        delegate = self.link.delegate
        if not getattr(delegate, "isLeaf", False):
            delegate = getChildForRequest(delegate, request)
        return delegate.render(request)


class AggregatorLink(Link):
    """
    The aggregator's place in the chain.

    @ivar remote: C{{(group, version) as path bytes: APIService}} of the APIServices that name a
        Service (Local ones are not in it: they are the delegate's).
    @ivar api_services: every APIService by name, as last seen.
    @ivar controller: the L{AutoRegisterController} once configured, or None.
    @ivar availability: the L{kapid.aggregator.available.AvailabilityController} of remote
        APIServices once configured, or None.
    @ivar proxy: how available remote requests are served (None: 503 as if unavailable).
    """

    app = Klein()

    def __init__(self, delegate: IResource, proxy: Optional[ProxyHandler] = None) -> None:
        super().__init__(delegate)
        self.remote: dict[tuple[bytes, bytes], dict] = {}
        self.api_services: dict[str, dict] = {}
        self.controller: Any = None
        self.availability: Any = None
        self.proxy = proxy

    def resource(self) -> IResource:
        """
        The aggregator's resource (always there: APIServices may appear at any time).
        """
        return _AggregatorResource(self)

    def update(self, api_services: dict[str, dict]) -> None:
        """
        Take the current APIServices (name -> object): rebuild the table of remote ones.
        """
        self.api_services = api_services
        remote: dict[tuple[bytes, bytes], dict] = {}
        for obj in api_services.values():
            spec = obj.get("spec") or {}
            if not isinstance(spec.get("service"), dict):
                continue
            group, version = spec.get("group") or "", spec.get("version") or ""
            if not group or not version:
                continue
            remote[(group.encode("utf-8"), version.encode("utf-8"))] = obj
        self.remote = remote
        if self.availability is not None:
            self.availability.update(api_services)

    def serve_remote(self, request: IRequest, api_service: dict) -> Any:
        """
        A request for a remote group/version: 503 unless its APIService is available, else the
        proxy's answer.
        """
        if not _available(api_service) or self.proxy is None:
            return service_unavailable(request)
        return self.proxy(request, api_service)

    # -- served set ---------------------------------------------------------------------------

    def health_checks(self) -> list[Any]:
        """
        kube's C{autoregister-completion} readiness check (with a controller): every Local
        APIService registered at start has been seen available.
        """
        if self.controller is None:
            return []
        from kapid.server.healthz import READYZ, HealthCheck

        return [HealthCheck("autoregister-completion", self._autoregister_check, (READYZ,))]

    def _autoregister_check(self) -> None:
        from kapid.aggregator.autoregister import desired_api_services

        c = self.controller
        names = c.startup_names if c.startup_names is not None else set(desired_api_services(c.registry))
        missing = sorted(n for n in names if not _available(c.known.get(n) or {}))
        if missing:
            raise RuntimeError(f"missing APIService: {missing}")

    def pre_shutdown_hooks(self) -> list[Any]:
        """
        Stop the autoregister and availability controllers; close the proxy's pooled connections.
        """

        def stop(_service: Any = None) -> None:
            if self.controller is not None:
                self.controller.stop()
            if self.availability is not None:
                self.availability.stop()
            close = getattr(self.proxy, "close", None)
            if close is not None:
                close()
            from kapid.endpoints import actions

            if actions._TRANSPORT is not None:
                actions._TRANSPORT.close()

        return [("stop-kube-aggregator-controllers", stop)]

    def listed_paths(self) -> list[str]:
        """
        Nothing of its own (C{/apis/apiregistration.k8s.io} is listed by the resource API).
        """
        return []


def aggregator_link_factory(service: Any, registry: Any, discovery: Any = None) -> Callable[[IResource], AggregatorLink]:
    """
    C{factory(delegate)} for L{kapid.server.chain.build_chain}: the daemon's aggregator over the
    shared C{registry} and the APIServices' store of C{service.resource_link} (built before it);
    kept as C{service.aggregator_link}. Start its controller with L{post_start_hook}. The
    discovery of available remote group/versions goes to C{discovery} (a
    L{kapid.aggregator.discovery.RemoteDiscovery} the discovery stage reads).
    """

    def make(delegate: IResource) -> AggregatorLink:
        from kapid.aggregator.autoregister import AutoRegisterController
        from kapid.aggregator.available import AvailabilityController
        from kapid.aggregator.proxy import APIServiceProxy, load_client_cert
        from kapid.controllers.kubernetes_service import link_store_for
        from kapid.transport.resolver import ServiceResolver

        link = AggregatorLink(delegate)
        service.aggregator_link = link
        resource_link = getattr(service, "resource_link", None)
        res = registry.lookup("apiregistration.k8s.io", "v1", "apiservices")
        if resource_link is None or res is None:
            return link
        store = resource_link.store_for(res)
        config = service.config
        resolver = ServiceResolver.over(link_store_for(resource_link))
        proxy = APIServiceProxy(
            service.reactor, resolver, load_client_cert(config),
            routing=bool(getattr(config.misc, "enable_aggregator_routing", True)),
        )
        link.proxy = proxy
        link.availability = AvailabilityController(store, resolver, proxy, service.reactor, discovery=discovery)
        link.controller = AutoRegisterController(store, registry, service.reactor, on_change=link.update)
        return link

    return make


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's C{kube-apiserver-autoregistration} hook (added after the apiextensions link's
    first CRD pass, so established CRDs are registered and not mistaken for stale ones): start the
    aggregator's controller.
    """
    link = getattr(service, "aggregator_link", None)
    controller = getattr(link, "controller", None)
    if link is None or controller is None:
        d: Deferred = Deferred()
        d.callback(None)
        return d
    if link.availability is not None:
        link.availability.start()
    return controller.start()
