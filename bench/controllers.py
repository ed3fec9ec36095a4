"""
The housekeeping controllers measured in process (issue 14's Performance section): the memory KV
under the storage layer (no watch cache, no HTTP), the real reactor. Not part of C{bench/run}
(no ceiling ratio yet):

  - C{namespace/1000x5}: seconds from deleting a namespace holding 1,000 objects (200 of each of 5 kinds
    ConfigMaps, Secrets, ServiceAccounts, Leases, PodTemplates) until it is gone;
  - C{gc/1000x5}: dependents removed per second when 1,000 owners with 5 dependents each are
    deleted (background propagation);
  - C{idle/10000}: CPU seconds the process uses per wall second while the controllers run idle over
    10,000 objects (goal: about zero: no polling).

Prints one line per scenario. C{python3 -m bench.controllers [--small]}.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from twisted.internet import defer, reactor, task

from kapid.controllers.framework import ControllerContext, ControllerManager
from kapid.controllers.garbagecollector import GarbageCollector
from kapid.controllers.namespace import NamespaceController
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from twisted.web.resource import Resource as WebResource

KINDS = (("", "configmaps", "ConfigMap"), ("", "secrets", "Secret"), ("", "serviceaccounts", "ServiceAccount"),
         ("coordination.k8s.io", "leases", "Lease"), ("", "podtemplates", "PodTemplate"))


async def _until(check: Any, timeout: float = 600.0) -> float:
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            raise RuntimeError("timed out")
        await task.deferLater(reactor, 0.01, lambda: None)
    return time.monotonic() - start


def _world() -> tuple[Any, Any]:
    kv = MemoryKV(reactor)
    storage = Store(kv, reactor)
    registry = builtin_registry()
    link = ResourceLink(WebResource(), registry, storage, reactor)
    return link, ControllerContext(registry, link.store_for, reactor)


def _body(kind: str, group: str, name: str, **meta: Any) -> dict:
    body: dict = {"apiVersion": f"{group}/v1" if group else "v1", "kind": kind, "metadata": {"name": name, **meta}}
    if kind == "PodTemplate":
        body["template"] = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    return body


async def namespace_deletion(per_kind: int) -> None:
    link, ctx = _world()
    await link.ensure_system_namespaces()
    manager = ControllerManager(ctx, [("namespace", NamespaceController)])
    await manager.start()
    ns = link.store_for(link.registry.get("", "namespaces"))
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}
    ns.strategy.default("v1", obj)
    await ns.create("", obj, "v1")
    for group, plural, kind in KINDS:
        store = link.store_for(link.registry.get(group, plural))
        for i in range(per_kind):
            await store.create("bulk", _body(kind, group, f"o{i}"), "v1")
    start = time.monotonic()
    await ns.delete("", "bulk", {}, "v1")

    async def gone() -> bool:
        return await ns.storage.get(ns.key("", "bulk"), "", True) is None

    await _until(gone)
    took = time.monotonic() - start
    total = per_kind * len(KINDS)
    print(f"namespace/{total}x{len(KINDS)}: {took:.2f} s to delete the namespace ({total / took:.0f} objects/s)")
    await manager.stop()


async def garbage_collection(owners: int, per_owner: int) -> None:
    link, ctx = _world()
    await link.ensure_system_namespaces()
    manager = ControllerManager(ctx, [("gc", GarbageCollector)])
    await manager.start()
    cms = link.store_for(link.registry.get("", "configmaps"))
    secrets = link.store_for(link.registry.get("", "secrets"))
    for i in range(owners):
        owner = await cms.create("default", _body("ConfigMap", "", f"owner{i}"), "v1")
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": f"owner{i}", "uid": owner["metadata"]["uid"]}
        for j in range(per_owner):
            await secrets.create("default", _body("Secret", "", f"d{i}-{j}", ownerReferences=[ref]), "v1")
    await task.deferLater(reactor, 0.5, lambda: None)
    start = time.monotonic()
    for i in range(owners):
        await cms.delete("default", f"owner{i}", {}, "v1")

    async def done() -> bool:
        return (await secrets.storage.count(secrets.list_key("default"))) == 0

    await _until(done)
    took = time.monotonic() - start
    print(f"gc/{owners}x{per_owner}: {owners * per_owner / took:.0f} dependents removed per second ({took:.2f} s)")
    await manager.stop()


async def idle(objects: int) -> None:
    from kapid.controllers.manager import _factories

    link, ctx = _world()
    await link.ensure_system_namespaces()
    cms = link.store_for(link.registry.get("", "configmaps"))
    for i in range(objects):
        await cms.create("default", _body("ConfigMap", "", f"c{i}"), "v1")
    manager = ControllerManager(ctx, list(_factories().items()))
    await manager.start()
    await task.deferLater(reactor, 2.0, lambda: None)
    cpu, wall = time.process_time(), time.monotonic()
    await task.deferLater(reactor, 5.0, lambda: None)
    used = (time.process_time() - cpu) / (time.monotonic() - wall)
    print(f"idle/{objects}: {used * 100:.2f}% of one CPU while every controller runs idle")
    await manager.stop()


async def main(small: bool) -> None:
    scale = 10 if small else 1
    await namespace_deletion(200 // scale)
    await garbage_collection(1000 // scale, 5)
    await idle(10000 // scale)


if __name__ == "__main__":
    task.react(lambda _r: defer.ensureDeferred(main("--small" in sys.argv)))
