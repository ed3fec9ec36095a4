"""
kapid's controller manager in the daemon: the controllers of C{--controllers}, one set led through
the C{--leader-elect-resource-name} Lease (only on etcd, the one store several processes share),
each controller a post-start hook (so C{/readyz?verbose} shows it), stopped when shutdown begins.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed

from kapid.controllers.framework import Controller, ControllerContext, ControllerManager, QueueMetrics


def _factories() -> dict[str, Callable[[ControllerContext], Controller]]:
    from kapid.controllers import certificates, garbagecollector, namespace, rootca, serviceaccounts, tokencleaner

    return {
        "serviceaccount-controller": serviceaccounts.ServiceAccountsController,
        "namespace-controller": namespace.NamespaceController,
        "garbage-collector-controller": garbagecollector.GarbageCollector,
        "root-ca-certificate-publisher-controller": rootca.RootCAPublisher,
        "certificatesigningrequest-signing-controller": certificates.CSRSigningController,
        "token-cleaner-controller": tokencleaner.TokenCleaner,
        "validatingadmissionpolicy-status-controller": _typecheck,
    }


def _typecheck(ctx: ControllerContext) -> Controller:
    """kapid.cel's type checking of ValidatingAdmissionPolicies (imported when it runs)."""
    from kapid.cel.typecheck import TypeCheckingController

    return TypeCheckingController(ctx)


def service_store_for(service: Any) -> Callable[[Any], Any]:
    """
    C{resource -> RegistryStore} of a started daemon: custom resources and CRDs through the
    apiextensions link, everything else through the built-in resource link.
    """

    def store_for(resource: Any) -> Any:
        ext = getattr(service, "apiextensions_link", None)
        if ext is not None:
            from kapid.apiextensions.link import served_by_apiextensions

            if served_by_apiextensions(resource):
                return ext.store_for(resource)
        return service.resource_link.store_for(resource)

    return store_for


def manager_for(service: Any) -> Optional[ControllerManager]:
    """
    The controller manager of a started daemon (None without a resource link).
    """
    link = getattr(service, "resource_link", None)
    if link is None:
        return None
    config = service.config
    cc = getattr(config, "controllers", None)
    if cc is None:
        from kapid.options.controllers import ControllersConfig

        cc = ControllersConfig()
    metrics = getattr(service, "controller_metrics", None)
    if metrics is None:
        metrics = QueueMetrics(service.metrics.registry)
        service.controller_metrics = metrics
    ctx = ControllerContext(link.registry, service_store_for(service), service.reactor, metrics, config, service)
    factories = _factories()
    chosen = [(name, factories[name]) for name in cc.enabled if name in factories]
    election = None
    if cc.leader_elect and config.etcd.storage_backend == "etcd3":
        election = dict(
            name=cc.resource_name, namespace=cc.resource_namespace, lease_duration=cc.lease_duration,
            renew_deadline=cc.renew_deadline, retry_period=cc.retry_period,
        )
    return ControllerManager(ctx, chosen, election)


def add_controller_manager(service: Any) -> None:
    """
    Register the manager's post-start hook (C{kapid-controller-manager}: start it, leader election
    first) and one per enabled controller (C{start-<name>}: done once the controller runs here, or
    at once when another process leads); stop it when shutdown begins.
    """
    cc = getattr(service.config, "controllers", None)
    if cc is None:
        from kapid.options.controllers import ControllersConfig

        cc = ControllersConfig()

    def start(service: Any) -> Deferred:
        manager = manager_for(service)
        if manager is None:
            return succeed(None)
        service.controller_manager = manager
        stage = getattr(service, "shutdown_initiated", None)
        if stage is not None:
            stage.when_reached().addCallback(lambda _: manager.stop())
        return manager.start()

    registry = getattr(service, "registry", None)
    misc = getattr(service.config, "misc", None)
    if registry is not None and misc is not None:
        apply_event_ttl(registry, misc.event_ttl)
    from kapid.controllers import apiserver_identity

    service.add_post_start_hook("start-kube-apiserver-identity-lease-controller", apiserver_identity.post_start_hook)
    service.add_post_start_hook("kapid-controller-manager", start)
    for name in cc.enabled:
        if name not in _factories():
            continue

        def started(service: Any, name: str = name) -> Any:
            manager = getattr(service, "controller_manager", None)
            return succeed(None) if manager is None else manager.wait_started(name)

        service.add_post_start_hook(f"start-{name}", started)


def apply_event_ttl(registry: Any, seconds: float) -> None:
    """
    C{--event-ttl}: Events (core and events.k8s.io) are stored with a storage lease of C{seconds}
    (kube's default 1h), so they expire from storage by themselves.
    """
    import attr

    ttl = int(seconds)
    if ttl <= 0:
        return
    for group in ("", "events.k8s.io"):
        res = registry.get(group, "events")
        if res is not None and res.ttl != ttl:
            registry.add(attr.evolve(res, ttl=ttl))
