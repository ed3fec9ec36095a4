"""
The apiextensions link, last before not-found: kube's apiextensions-apiserver. It serves
C{apiextensions.k8s.io} (CustomResourceDefinitions) and every custom resource the CRDs define, with
the same per-verb handlers, generic Store, storage and watch cache as the built-in resources (it is
a L{kapid.endpoints.link.ResourceLink} that serves only the extension resources of the shared
registry), and runs the L{kapid.apiextensions.controller.CRDController} that turns stored CRDs into
served kinds.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from kapid.apimachinery.status import StatusError
from kapid.endpoints import request as req
from kapid.endpoints.link import ResourceLink
from kapid.registry.description import Resource, ResourceRegistry

log = Logger()

GROUP = "apiextensions.k8s.io"


def served_by_apiextensions(resource: Resource) -> bool:
    """
    Whether the apiextensions link serves C{resource}: CRDs themselves and custom resources.
    """
    from kapid.apiextensions.customresource import is_custom_resource

    return resource.group == GROUP or is_custom_resource(resource)


def serves_builtin(resource: Resource) -> bool:
    """
    The built-in resource link's share: everything the apiextensions link does not serve.
    """
    return not served_by_apiextensions(resource)


def terminating(resource: Resource) -> StatusError:
    """
    kube's 405 for a create while the kind's CRD is being deleted.
    """
    details: dict[str, Any] = {"group": resource.group, "kind": resource.plural}
    return StatusError(
        405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating", details
    )


class APIExtensionsLink(ResourceLink):
    """
    Serves CRDs and custom resources from the shared C{registry} over C{storage}; declines every
    other path to C{delegate}.

    @param crd_files: CRD manifests to install before kapid reports ready (C{--crd-dir}),
        already read and checked: C{[(file name, CRD object)]}.
    """

    def __init__(
        self,
        delegate: IResource,
        registry: ResourceRegistry,
        storage: Any,
        clock: IReactorTime,
        etcd_prefix: str = "/registry",
        min_request_timeout: float = 1800.0,
        crd_files: Sequence[tuple[str, dict]] = (),
        reactor: Any = None,
        **kw: Any,
    ) -> None:
        from kapid.apiextensions.controller import CRDController
        from kapid.apiextensions.crd import crd_resource
        from kapid.apiextensions.customresource import resource_for_crd

        super().__init__(
            delegate, registry, storage, clock, etcd_prefix, min_request_timeout=min_request_timeout,
            serves=served_by_apiextensions, **kw,
        )
        self.crd_files = list(crd_files)
        self.crd_resource = crd_resource()
        registry.add(self.crd_resource)
        self.controller = CRDController(self, self.store_for(self.crd_resource), clock, self.build_resource)
        self._resource_for_crd = resource_for_crd
        #: conversion webhooks reach their servers through kapid's one way out (None without a
        #: reactor: in-memory tests make a client per webhook CRD)
        self.service_resolver: Any = None
        self.client_factory: Any = None
        if reactor is not None:
            from kapid.controllers.kubernetes_service import link_store_for
            from kapid.transport import transport_for

            self.service_resolver, self.client_factory = transport_for(link_store_for(self), reactor)

    def build_resource(self, crd: dict) -> Resource:
        """
        The served description of an established CRD.
        """
        return self._resource_for_crd(crd, converter=self.converter_for(crd))

    def converter_for(self, crd: dict) -> Any:
        """
        The version converter of a CRD (None for C{strategy: None}).
        """
        strategy = (((crd.get("spec") or {}).get("conversion") or {}).get("strategy")) or "None"
        if strategy == "None":
            return None
        from kapid.apiextensions.conversion import converter_for

        return converter_for(crd, self.service_resolver, self.client_factory)

    # -- served set -------------------------------------------------------------------------------

    def post_start_hooks(self) -> list[Any]:
        """
        kube's C{start-apiextensions-controllers} (the CRD controller's first pass: every stored,
        established CRD served) and kapid's C{crd-directory} (C{--crd-dir} installed and established).
        """
        hooks: list[Any] = [("start-apiextensions-controllers", lambda _service=None: self.controller.start())]
        if self.crd_files:
            hooks.append(("kapid-crd-directory", lambda _service=None: Deferred.fromCoroutine(self.install_files())))
        return hooks

    def pre_shutdown_hooks(self) -> list[Any]:
        """
        Stop the CRD controller.
        """

        def stop(_service: Any = None) -> Any:
            self.controller.stop()
            if self.client_factory is not None:
                return self.client_factory.close()
            return None

        return [("stop-apiextensions-controllers", stop)]

    async def install_files(self) -> None:
        """
        Create (or update) every CRD of C{--crd-dir}, then wait until each is established.
        """
        import copy

        store = self.store_for(self.crd_resource)
        default = getattr(store.strategy, "default", None)
        names = []

        def fresh(crd: dict) -> dict:
            obj = copy.deepcopy(crd)
            if default is not None:
                default("v1", obj)
            return obj

        for path, crd in self.crd_files:
            name = crd["metadata"]["name"]
            names.append(name)
            try:
                await store.create("", fresh(crd), "v1")
                continue
            except StatusError as e:
                if e.code != 409:
                    raise RuntimeError(f"{path}: {e.message}")

            def replace(current: Optional[dict], crd: dict = crd) -> dict:
                new = fresh(crd)
                new["metadata"]["resourceVersion"] = (current or {}).get("metadata", {}).get("resourceVersion")
                return new

            try:
                await store.update("", name, replace, "v1")
            except StatusError as e:
                raise RuntimeError(f"{path}: {e.message}")
        for name in names:
            await self.controller.established(name)

    # -- requests ---------------------------------------------------------------------------------

    def before_serve(self, request: IRequest, target: Any) -> None:
        """
        A request for a deprecated version gets the version's C{Warning}; a create while the CRD is
        being deleted is kube's 405.
        """
        strategy = target.resource.strategy
        warning = getattr(strategy, "deprecations", {}).get(target.version)
        if warning:
            req.add_warning(request, warning)
        if getattr(strategy, "terminating", False) and request.method == b"POST" and not target.subresource:
            raise terminating(target.resource)


def apiextensions_link_factory(service: Any, registry: ResourceRegistry) -> Any:
    """
    The factory C{delegate -> APIExtensionsLink} the daemon's chain builder takes, over the API
    storage shared with the built-in resource link (L{kapid.endpoints.link.api_storage}).
    """

    def make(delegate: IResource) -> APIExtensionsLink:
        from kapid.admission.chain import bind_chain, chain_for_service
        from kapid.endpoints.link import api_storage

        config = service.config
        storage = api_storage(service, registry)
        link = APIExtensionsLink(
            delegate, registry, storage, service.reactor, config.etcd.etcd_prefix,
            min_request_timeout=float(config.generic.min_request_timeout or 1800),
            crd_files=getattr(getattr(config, "apiextensions", None), "crd_files", ()) or (),
            reactor=service.reactor, admission=chain_for_service(service),
        )
        bind_chain(link.admission, link)
        service.apiextensions_link = link
        return link

    return make
