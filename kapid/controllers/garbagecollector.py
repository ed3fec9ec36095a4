"""
kube's garbage collector (C{pkg/controller/garbagecollector}): a dependency graph from the
C{ownerReferences} of every object of every served resource that can be listed, watched and deleted
(custom resources included, followed as CRDs come and go), kept by shared informers and so rebuilt
from the first lists after a restart.

  - B{background}: a dependent whose owners are all gone (absent, or present with another uid) is
    deleted; one that still has a live owner loses only its references to the gone ones;
  - B{foreground}: an owner being deleted with the C{foregroundDeletion} finalizer has its
    dependents deleted (those with dependents of their own in the foreground too) and loses the
    finalizer, and so goes, once no dependent with C{blockOwnerDeletion} is left;
  - B{orphan}: an owner with the C{orphan} finalizer has its references removed from its
    dependents, then loses the finalizer;
  - invalid references as kube treats them: a cluster-scoped dependent naming a namespaced owner
    kind gets a C{OwnerRefInvalidNamespace} warning Event and is never collected; a reference to a
    kind nobody serves is retried with backoff (bounded work); cycles end because every check reads
    the owners afresh from storage.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.logger import Logger

from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import Controller, ControllerContext, EventHandler, WorkQueue
from kapid.storage.interfaces import KeyNotFoundError, Preconditions

log = Logger()

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

#: resources the garbage collector leaves alone (kube's default ignored resources)
IGNORED = {("", "events"), ("events.k8s.io", "events")}


def _group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


class Node:
    """
    One object in the graph (or, C{virtual}, an owner only known from references).
    """

    __slots__ = ("uid", "resource", "namespace", "name", "owners", "dependents", "deleting", "foreground", "virtual")

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.resource: Any = None
        self.namespace = ""
        self.name = ""
        self.owners: list[dict] = []
        self.dependents: set[str] = set()
        self.deleting = False
        self.foreground = False
        self.virtual = True


class _Handler(EventHandler):
    def __init__(self, gc: "GarbageCollector", resource: Any) -> None:
        self.gc = gc
        self.resource = resource

    def on_add(self, obj: dict) -> None:
        self.gc.observe(self.resource, obj)

    def on_update(self, old: dict, new: dict) -> None:
        self.gc.observe(self.resource, new)

    def on_delete(self, obj: dict) -> None:
        self.gc.forget_object(obj)


class GarbageCollector(Controller):
    """
    The garbage collector: C{queue} holds uids to check for deletion (kube's C{attemptToDelete}),
    C{orphans} uids of owners to orphan for (kube's C{attemptToOrphan}).
    """

    name = "garbage_collector_attempt_to_delete"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.orphans = WorkQueue("garbage_collector_attempt_to_orphan", ctx.clock, ctx.metrics)
        self.graph: dict[str, Node] = {}
        self._kinds: Optional[dict[tuple[str, str], Any]] = None
        self._handlers: dict[tuple[str, str], tuple[Any, _Handler]] = {}
        self._orphan_workers: list[Any] = []

    # -- monitors -------------------------------------------------------------------------------

    def _monitored(self) -> list[Any]:
        return [
            r for r in self.ctx.registry.all()
            if (r.group, r.plural) not in IGNORED and all(v in r.verbs for v in ("list", "watch", "delete"))
        ]

    def setup(self) -> None:
        self.ctx.registry.subscribe(self._resources_changed)
        self._sync_monitors()

    def _resources_changed(self) -> None:
        self._kinds = None
        if not self.stopped:
            self._sync_monitors()

    def _sync_monitors(self) -> None:
        wanted = {(r.group, r.plural): r for r in self._monitored()}
        for key in list(self._handlers):
            if key not in wanted:
                informer, handler = self._handlers.pop(key)
                informer.remove_handler(handler)
                self._subscriptions = [(i, h) for i, h in self._subscriptions if h is not handler]
                self.ctx.informers.drop(*key)
        for key, resource in wanted.items():
            current = self._handlers.get(key)
            if current is not None:
                current[1].resource = resource
                continue
            informer = self.ctx.informers.informer(resource)
            handler = _Handler(self, resource)
            self._handlers[key] = (informer, handler)
            self.watch(informer, handler)

    async def after_sync(self) -> None:
        from twisted.internet.defer import Deferred

        self._orphan_workers = [Deferred.fromCoroutine(self._orphan_work()) for _ in range(self.workers)]

    async def _orphan_work(self) -> None:
        while True:
            uid = await self.orphans.get()
            if uid is None:
                return
            try:
                await self.orphan(uid)
            except Exception as e:
                if not self.stopped:
                    reason = e.message if isinstance(e, StatusError) else (str(e) or type(e).__name__)
                    log.warn("garbage collector: orphaning the dependents of {uid} failed: {reason}", uid=uid, reason=reason)
                    self.orphans.add_rate_limited(uid)
            else:
                self.orphans.forget(uid)
            finally:
                self.orphans.done(uid)

    def stop(self) -> Any:
        self.orphans.shut_down()
        return super().stop()

    # -- the graph ------------------------------------------------------------------------------

    def _node(self, uid: str) -> Node:
        node = self.graph.get(uid)
        if node is None:
            node = self.graph[uid] = Node(uid)
        return node

    def observe(self, resource: Any, obj: dict) -> None:
        """
        An object was added or changed: update its node and queue the work it implies.
        """
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        node = self._node(uid)
        node.virtual = False
        node.resource = resource
        node.namespace = meta.get("namespace") or ""
        node.name = meta.get("name") or ""
        owners = [r for r in meta.get("ownerReferences") or [] if r.get("uid")]
        old_uids = {r["uid"] for r in node.owners}
        new_uids = {r["uid"] for r in owners}
        for gone in old_uids - new_uids:
            owner = self.graph.get(gone)
            if owner is not None:
                owner.dependents.discard(uid)
                if owner.foreground:
                    self.queue.add(gone)
                self._drop_if_unused(owner)
        for ref in owners:
            self._node(ref["uid"]).dependents.add(uid)
        node.owners = owners
        node.deleting = bool(meta.get("deletionTimestamp"))
        finalizers = meta.get("finalizers") or []
        was_foreground = node.foreground
        node.foreground = node.deleting and FOREGROUND in finalizers
        if node.deleting and ORPHAN in finalizers:
            self.orphans.add(uid)
        if node.foreground:
            self.queue.add(uid)
            if not was_foreground:
                for d in node.dependents:
                    self.queue.add(d)
        if owners and any(self._suspect(ref) for ref in owners):
            self.queue.add(uid)
        # owners blocked on this object (blockOwnerDeletion) may proceed when it changes
        if node.deleting or old_uids != new_uids:
            for ref in owners:
                owner = self.graph.get(ref["uid"])
                if owner is not None and owner.foreground:
                    self.queue.add(ref["uid"])

    def _suspect(self, ref: dict) -> bool:
        owner = self.graph.get(ref["uid"])
        return owner is None or owner.virtual or owner.foreground

    def forget_object(self, obj: dict) -> None:
        """
        An object went: its dependents are checked, owners waiting for it are looked at again.
        """
        uid = (obj.get("metadata") or {}).get("uid")
        node = self.graph.get(uid) if uid else None
        if node is None:
            return
        for ref in node.owners:
            owner = self.graph.get(ref["uid"])
            if owner is not None:
                owner.dependents.discard(uid)
                if owner.foreground:
                    self.queue.add(ref["uid"])
                self._drop_if_unused(owner)
        node.owners = []
        node.virtual = True
        node.deleting = node.foreground = False
        for d in node.dependents:
            self.queue.add(d)
        self._drop_if_unused(node)

    def _drop_if_unused(self, node: Node) -> None:
        if node.virtual and not node.dependents:
            self.graph.pop(node.uid, None)

    # -- lookups --------------------------------------------------------------------------------

    def resource_for(self, api_version: str, kind: str) -> Any:
        """
        The served resource of an owner reference's C{apiVersion} and C{kind}, or None.
        """
        if self._kinds is None:
            kinds: dict[tuple[str, str], Any] = {}
            for r in self.ctx.registry.all():
                kinds.setdefault((r.group, r.kind), r)
            self._kinds = kinds
        return self._kinds.get((_group_of(api_version), kind))

    async def _get(self, resource: Any, namespace: str, name: str) -> Optional[dict]:
        store = self.ctx.store_for(resource)
        return await store.storage.get(store.key(namespace if resource.namespaced else "", name), "", True)

    # -- attempt to delete ----------------------------------------------------------------------

    async def sync(self, key: Any) -> None:
        node = self.graph.get(key)
        if node is None or node.virtual or node.resource is None:
            return
        obj = await self._get(node.resource, node.namespace, node.name)
        if obj is None or (obj.get("metadata") or {}).get("uid") != key:
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FOREGROUND in finalizers:
                await self._deleting_dependents(node, obj)
            return
        owners = [r for r in meta.get("ownerReferences") or [] if r.get("uid")]
        if not owners:
            return
        solid, dangling, waiting = [], [], []
        for ref in owners:
            state = await self._owner_state(node, obj, ref)
            {"solid": solid, "dangling": dangling, "waiting": waiting}[state].append(ref)
        if solid:
            if dangling or waiting:
                gone = {r["uid"] for r in dangling + waiting}
                await self._update_refs(node, key, lambda refs: [r for r in refs if r.get("uid") not in gone])
            return
        if waiting and node.dependents:
            # in the foreground too; when a dependent waits in the foreground as well this may be a
            # cycle, so the references stop blocking the owners that wait (kube's unblock)
            waiting_uids = {r["uid"] for r in waiting}
            cycle = any((self.graph.get(d) or Node(d)).foreground for d in node.dependents)

            def unblock(refs: list[dict]) -> list[dict]:
                out = []
                for r in refs:
                    if r.get("uid") in waiting_uids and r.get("blockOwnerDeletion"):
                        r = dict(r)
                        r["blockOwnerDeletion"] = False
                    out.append(r)
                return out

            if cycle:
                await self._update_refs(node, key, unblock)
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        store = self.ctx.store_for(node.resource)
        try:
            await store.delete(
                node.namespace, node.name, {"propagationPolicy": policy, "preconditions": {"uid": key}},
                store.storage_version,
            )
        except StatusError as e:
            if e.code not in (404, 409):
                raise

    async def _owner_state(self, node: Node, obj: dict, ref: dict) -> str:
        resource = self.resource_for(ref.get("apiVersion") or "", ref.get("kind") or "")
        if resource is None:
            raise RuntimeError(
                f"unable to get REST mapping for {ref.get('apiVersion')}/{ref.get('kind')} (owner {ref.get('name')})"
            )
        if resource.namespaced and not node.namespace:
            await self._invalid_namespace(node, obj, ref)
            return "solid"
        owner = await self._get(resource, node.namespace, ref.get("name") or "")
        if owner is None or (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            return "dangling"
        om = owner.get("metadata") or {}
        if om.get("deletionTimestamp") and FOREGROUND in (om.get("finalizers") or []):
            return "waiting"
        return "solid"

    async def _invalid_namespace(self, node: Node, obj: dict, ref: dict) -> None:
        message = (
            f"ownerRef [{ref.get('apiVersion')}, Kind={ref.get('kind')}, namespace: {node.namespace}, "
            f"name: {ref.get('name')}, uid: {ref.get('uid')}] does not exist in namespace \"{node.namespace}\""
        )
        log.warn("garbage collector: {message}", message=message)
        events = self.ctx.store("", "events")
        if events is None:
            return
        meta = obj.get("metadata") or {}
        now = metautil.timestamp(self.clock.seconds())
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name', '')}.{int(self.clock.seconds() * 1e9):x}", "namespace": "default"},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
                "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": "OwnerRefInvalidNamespace", "message": message, "type": "Warning",
            "source": {"component": "garbage-collector-controller"},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            await events.create("default", event, "v1")
        except StatusError as e:
            log.warn("garbage collector: recording an event failed: {reason}", reason=e.message)

    async def _update_refs(self, node: Node, uid: str, change: Any) -> None:
        store = self.ctx.store_for(node.resource)

        def update(cur: Optional[dict]) -> dict:
            assert cur is not None
            m = cur["metadata"]
            refs = change([dict(r) for r in m.get("ownerReferences") or []])
            if refs:
                m["ownerReferences"] = refs
            else:
                m.pop("ownerReferences", None)
            return cur

        try:
            await store.storage.guaranteed_update(store.key(node.namespace, node.name), update, Preconditions(uid=uid))
        except KeyNotFoundError:
            pass

    async def _deleting_dependents(self, node: Node, obj: dict) -> None:
        blocking = []
        for d in list(node.dependents):
            dep = self.graph.get(d)
            if dep is None or dep.virtual:
                continue
            if any(r["uid"] == node.uid and r.get("blockOwnerDeletion") for r in dep.owners):
                blocking.append(d)
                if not dep.foreground:
                    self.queue.add(d)
            elif not dep.deleting:
                self.queue.add(d)
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND)

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        store = self.ctx.store_for(node.resource)
        key = store.key(node.namespace, node.name)

        def release(cur: Optional[dict]) -> dict:
            assert cur is not None
            left = [f for f in cur["metadata"].get("finalizers") or [] if f != finalizer]
            if left:
                cur["metadata"]["finalizers"] = left
            else:
                cur["metadata"].pop("finalizers", None)
            cur["metadata"] = metautil.order_meta(cur["metadata"])
            return cur

        try:
            out = await store.storage.guaranteed_update(key, release, Preconditions(uid=node.uid))
        except KeyNotFoundError:
            return
        om = out.get("metadata") or {}
        if om.get("deletionTimestamp") and not om.get("finalizers") and not om.get("deletionGracePeriodSeconds"):
            try:
                deleted = await store.storage.delete(key, Preconditions(uid=node.uid))
            except KeyNotFoundError:
                return
            await store._deleted(deleted)

    # -- attempt to orphan ----------------------------------------------------------------------

    async def orphan(self, uid: str) -> None:
        """
        Remove the references to owner C{uid} from its dependents, then its C{orphan} finalizer.
        """
        node = self.graph.get(uid)
        if node is None or node.virtual or node.resource is None:
            return
        obj = await self._get(node.resource, node.namespace, node.name)
        meta = (obj or {}).get("metadata") or {}
        if obj is None or meta.get("uid") != uid or not meta.get("deletionTimestamp") or ORPHAN not in (meta.get("finalizers") or []):
            return
        for d in list(node.dependents):
            dep = self.graph.get(d)
            if dep is None or dep.virtual or dep.resource is None:
                continue
            await self._update_refs(dep, d, lambda refs: [r for r in refs if r.get("uid") != uid])
        await self._remove_finalizer(node, ORPHAN)
