"""
Chain assembly: aggregator -> kube API (non-resource part, then the resource API when wired in)
-> apiextensions -> not-found, and the served set they merge (health checks, post-start hooks,
pre-shutdown hooks, listed paths).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource

from kapid.aggregator.link import AggregatorLink
from kapid.kubeapi.link import KubeAPILink
from kapid.server.healthz import (
    READYZ,
    HealthCheck,
    HealthRegistry,
    PostStartHookCheck,
    ShuttingDown,
    log_check,
    ping_check,
    storage_check,
    storage_readiness_check,
)
from kapid.server.link import Link, NotFoundResource
from kapid.server.metrics import ServerMetrics

class _EmptyLink(Link):
    """
    The apiextensions link's place when no factory builds one: it serves nothing.
    """

    app = Klein()


#: C{factory(delegate)} -> the resource API link (a L{kapid.server.link.Link}) or an L{IResource}.
ResourceLinkFactory = Callable[[IResource], Any]


def _resource_of(stage: Any) -> IResource:
    return stage.resource() if hasattr(stage, "resource") and callable(stage.resource) else stage


def _dedupe(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    seen: set[str] = set()
    out = []
    for name, fn in pairs:
        if name not in seen:
            seen.add(name)
            out.append((name, fn))
    return out


class ServerChain:
    """
    The assembled links and what they serve together.

    @ivar root: the outermost link's unprotected resource (filters wrap it once per listener).
    @ivar links: the links, outermost first (only L{kapid.server.link.Link}-like stages).
    @ivar health: the served health checks.
    @ivar post_start: L{PostStartHookCheck}s by hook name.
    @ivar shutting_down: set when shutdown begins (turns C{/readyz} red).
    """

    def __init__(self, root: IResource, links: list[Any], health: HealthRegistry, metrics: ServerMetrics) -> None:
        self.root = root
        self.links = links
        self.health = health
        self.metrics = metrics
        self.shutting_down = False
        self.post_start: dict[str, PostStartHookCheck] = {}

    def paths(self) -> list[str]:
        """
        Every link's listed paths, sorted, duplicates dropped.
        """
        out: set[str] = set()
        for link in self.links:
            out.update(link.listed_paths())
        return sorted(out)

    def post_start_hooks(self) -> list[tuple[str, Any]]:
        """
        Every link's post-start hooks (name, callable), own first, duplicates dropped by name.
        """
        return _dedupe([pair for link in self.links for pair in link.post_start_hooks()])

    def pre_shutdown_hooks(self) -> list[tuple[str, Any]]:
        """
        Every link's pre-shutdown hooks (name, callable), duplicates dropped by name.
        """
        return _dedupe([pair for link in self.links for pair in link.pre_shutdown_hooks()])

    def _shutdown_check(self) -> None:
        if self.shutting_down:
            raise ShuttingDown("process is shutting down")


def build_chain(
    config: Any,
    kv: Any,
    clock: IReactorTime,
    resource_link_factory: Optional[ResourceLinkFactory] = None,
    metrics: Optional[ServerMetrics] = None,
    extra_post_start_hooks: list[tuple[str, Any]] = [],
    stage_factories: Sequence[ResourceLinkFactory] = (),
    apiextensions_factory: Optional[ResourceLinkFactory] = None,
    aggregator_factory: Optional[ResourceLinkFactory] = None,
) -> ServerChain:
    """
    Assemble the chain for C{config} over the storage C{kv}.

    The kube API part is the non-resource L{KubeAPILink}, then one stage per factory of
    C{stage_factories} in order, then the stage of C{resource_link_factory}; each factory is called
    with its delegate's resource (innermost first) and returns a link (or a bare L{IResource}).
    Without any, C{/api} and C{/apis} fall through to the not-found link. The apiextensions link is
    C{apiextensions_factory(not-found)} when given (the daemon's serves CRDs), else an empty one.
    The aggregator is C{aggregator_factory(kube API link)} when given, else one with no
    APIServices.
    """
    metrics = metrics or ServerMetrics()
    health = HealthRegistry()
    apiext = (
        apiextensions_factory(NotFoundResource()) if apiextensions_factory is not None
        else _EmptyLink(NotFoundResource())
    )
    links: list[Any] = []
    delegate = apiext.resource()
    factories = list(stage_factories)
    if resource_link_factory is not None:
        factories.append(resource_link_factory)
    stages: list[Any] = []
    for factory in reversed(factories):  # innermost first: each stage delegates to the next
        stage = factory(delegate)
        stages.insert(0, stage)
        delegate = _resource_of(stage)
    holder: dict[str, ServerChain] = {}
    profiling = bool(getattr(getattr(config, "misc", None), "profiling", True))
    kube = KubeAPILink(
        delegate, health=health, paths=lambda: holder["chain"].paths(), clock=clock,
        metrics=metrics, profiling=profiling,
    )
    aggregator = (
        aggregator_factory(kube.resource()) if aggregator_factory is not None
        else AggregatorLink(kube.resource())
    )
    links = [aggregator, kube]
    links += [stage for stage in stages if hasattr(stage, "listed_paths")]
    links.append(apiext)
    chain = ServerChain(aggregator.resource(), links, health, metrics)
    holder["chain"] = chain
    timeout = getattr(getattr(config, "etcd", None), "healthcheck_timeout", 2.0)
    health.add(ping_check())
    health.add(log_check())
    health.add(storage_check(kv, clock, timeout))
    ready_timeout = getattr(getattr(config, "etcd", None), "readycheck_timeout", 2.0)
    health.add(storage_readiness_check(kv, clock, ready_timeout))
    for link in links:
        for check in link.health_checks():
            health.add(check)
    for name, _ in chain.post_start_hooks() + list(extra_post_start_hooks):
        hook = PostStartHookCheck(name)
        chain.post_start[name] = hook
        health.add(hook.as_check())
    health.add(HealthCheck("shutdown", chain._shutdown_check, (READYZ,)))
    return chain
