"""
A built-in resource link on the memory store, a controller context over it, and small helpers
for the controller tests.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.task import Clock
from twisted.web.resource import Resource as WebResource

from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import ControllerContext, QueueMetrics
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.registry.description import Resource, Version
from kapid.registry.strategy import GenericStrategy
from kapid.storage.interfaces import ListOptions
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store

#: a namespaced custom kind and a cluster-scoped one, added to the registry as CRDs add theirs
WIDGETS = Resource(
    group="example.com", kind="Widget", plural="widgets", singular="widget",
    versions=(Version("v1", None, storage=True),), strategy=GenericStrategy("example.com", "Widget"),
)
CLUSTERS = Resource(
    group="example.com", kind="Cluster", plural="clusters", singular="cluster", namespaced=False,
    versions=(Version("v1", None, storage=True),), strategy=GenericStrategy("example.com", "Cluster"),
)


class World:
    """
    A memory store, a link serving the built-in resources, a clock and a controller context.
    """

    def __init__(self, clock: Optional[Clock] = None, kv: Any = None, custom: bool = True) -> None:
        self.clock = clock or Clock()
        self.kv = kv if kv is not None else MemoryKV(self.clock)
        self.storage = Store(self.kv, self.clock)
        self.registry = builtin_registry()
        if custom:
            self.registry.add(WIDGETS)
            self.registry.add(CLUSTERS)
        self.link = ResourceLink(WebResource(), self.registry, self.storage, self.clock)
        self.metrics = QueueMetrics()
        self.ctx = ControllerContext(self.registry, self.link.store_for, self.clock, self.metrics)

    async def start(self) -> None:
        """
        Create the system namespaces.
        """
        await self.link.ensure_system_namespaces()

    def store(self, group: str, plural: str) -> Any:
        res = self.registry.get(group, plural)
        assert res is not None
        return self.link.store_for(res)

    async def settle(self, rounds: int = 30, step: float = 0.0) -> None:
        """
        Let timers due now (or within C{step} each round) and chained work run.
        """
        from twisted.internet.defer import Deferred

        for _ in range(rounds):
            self.clock.advance(step)
            d: Deferred = Deferred()
            self.clock.callLater(0, d.callback, None)
            self.clock.advance(0)
            await d

    async def create(self, group: str, plural: str, namespace: str, name: str, **meta: Any) -> dict:
        res = self.registry.get(group, plural)
        assert res is not None
        version = res.versions[0].name
        api_version = f"{group}/{version}" if group else version
        body: dict = {"apiVersion": api_version, "kind": res.kind, "metadata": {"name": name, **meta}}
        if plural == "namespaces":
            res.strategy.default("v1", body)
        return await self.store(group, plural).create(namespace, body, version)

    async def get(self, group: str, plural: str, namespace: str, name: str) -> Optional[dict]:
        store = self.store(group, plural)
        try:
            return await store.get(namespace, name, store.storage_version)
        except StatusError as e:
            if e.code == 404:
                return None
            raise

    async def names(self, group: str, plural: str, namespace: str) -> list[str]:
        store = self.store(group, plural)
        res = await store.storage.get_list(store.list_key(namespace), ListOptions())
        return sorted(o["metadata"]["name"] for o in res["items"])


def ref(owner: dict, block: Optional[bool] = None) -> dict:
    """
    An ownerReference to C{owner}.
    """
    out = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"]}
    if block is not None:
        out["blockOwnerDeletion"] = block
    return out
