"""
kube's namespace controller (C{pkg/controller/namespace}): a namespace being deleted is emptied of
every namespaced object of every served resource (built-ins and custom resources alike, from the
shared registry at the time of each pass), its status carries kube's deletion conditions, and once
nothing is left the C{kubernetes} finalizer goes and so does the namespace.

Content that stays (finalizers nobody removes, pods in their grace period) makes the pass end with
an estimate: the namespace is looked at again after C{estimate / 2 + 1} seconds, as kube does
(15 s for content held by finalizers), never in a loop.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.logger import Logger

from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler
from kapid.storage.interfaces import KeyNotFoundError, ListOptions, Preconditions

log = Logger()

FINALIZER = "kubernetes"

#: kube's wait for content whose finalizers have not finished
FINALIZER_ESTIMATE = 15

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

#: the condition types in kube's order, with the reason and message each has when all is well
OKAY = (
    (DISCOVERY_FAILURE, "ResourcesDiscovered", "All resources successfully discovered"),
    (PARSING_FAILURE, "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (CONTENT_FAILURE, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    (CONTENT_REMAINING, "ContentRemoved", "All content successfully removed"),
    (FINALIZERS_REMAINING, "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)


def group_resource(resource: Any) -> str:
    """
    kube's C{GroupResource.String()}: C{plural} or C{plural.group}.
    """
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


class Pass:
    """
    What one deletion pass over a namespace found.
    """

    def __init__(self) -> None:
        self.estimate = 0
        self.remaining: dict[str, int] = {}
        self.finalizers: dict[str, int] = {}
        self.failures: list[str] = []
        self.discovery_failures: list[str] = []

    def conditions(self) -> dict[str, tuple[str, str, str]]:
        """
        C{{type: (status, reason, message)}} for kube's five conditions.
        """
        out = {t: ("False", reason, message) for t, reason, message in OKAY}
        if self.discovery_failures:
            out[DISCOVERY_FAILURE] = (
                "True", "DiscoveryFailed",
                f"Discovery failed for some groups, {len(self.discovery_failures)} failing: "
                + ", ".join(sorted(self.discovery_failures)),
            )
        if self.failures:
            out[CONTENT_FAILURE] = (
                "True", "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(self.failures)} remaining: " + ", ".join(sorted(self.failures)),
            )
        if self.remaining:
            out[CONTENT_REMAINING] = (
                "True", "SomeResourcesRemain",
                "Some resources are remaining: "
                + ", ".join(f"{gr} has {n} resource instances" for gr, n in sorted(self.remaining.items())),
            )
        if self.finalizers:
            out[FINALIZERS_REMAINING] = (
                "True", "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: "
                + ", ".join(f"{f} in {n} resource instances" for f, n in sorted(self.finalizers.items())),
            )
        return out


class NamespaceController(Controller):
    """
    Deletes the content of terminating namespaces, then finalizes them.
    """

    name = "namespace"
    workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = ctx.store("", "namespaces")

    def setup(self) -> None:
        self.watch(
            self.ctx.informer("", "namespaces"),
            FunctionHandler(add=self._changed, update=lambda _old, new: self._changed(new)),
        )

    def _changed(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            self.queue.add(meta.get("name", ""))

    async def sync(self, key: Any) -> None:
        store = self.namespaces
        ns = await store.storage.get(store.key("", key), "", True)
        if ns is None:
            return
        meta = ns.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            return
        uid = meta.get("uid")
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns = await self._update_status(key, uid, lambda st: st.__setitem__("phase", "Terminating"))
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            await self._delete_if_finalized(key, ns)
            return
        found = await self.delete_content(key)
        await self._set_conditions(key, uid, found.conditions())
        if found.failures or found.discovery_failures:
            raise RuntimeError("; ".join(found.discovery_failures + found.failures))
        if found.remaining:
            estimate = found.estimate or FINALIZER_ESTIMATE
            self.queue.add_after(key, estimate // 2 + 1)
            return
        ns = await self._finalize(key, uid)
        if ns is not None:
            await self._delete_if_finalized(key, ns)

    def _content_resources(self) -> list[Any]:
        return [
            r for r in self.ctx.registry.all()
            if r.namespaced and "list" in r.verbs and ("delete" in r.verbs or "deletecollection" in r.verbs)
        ]

    async def delete_content(self, namespace: str) -> Pass:
        """
        Delete every object in C{namespace} that is not being deleted yet; count what is left.
        """
        found = Pass()
        now = self.clock.seconds()
        for resource in self._content_resources():
            gr = group_resource(resource)
            try:
                store = self.ctx.store_for(resource)
                res = await store.storage.get_list(store.list_key(namespace), ListOptions())
            except Exception as e:
                found.discovery_failures.append(f"{gr}: {e}")
                continue
            if not res["items"]:
                continue
            failed = False
            for obj in res["items"]:
                meta = obj.get("metadata") or {}
                if meta.get("deletionTimestamp"):
                    continue
                try:
                    await store.delete(
                        namespace, meta.get("name", ""), {"preconditions": {"uid": meta.get("uid")}},
                        store.storage_version,
                    )
                except StatusError as e:
                    if e.code not in (404, 409):
                        failed = True
                        log.warn("namespace {ns}: deleting {gr} {name} failed: {reason}", ns=namespace, gr=gr, name=meta.get("name"), reason=e.message)
                        found.failures.append(f"{gr}: {e.message}")
                except KeyNotFoundError:
                    pass
            if failed:
                continue
            res = await store.storage.get_list(store.list_key(namespace), ListOptions())
            if not res["items"]:
                continue
            found.remaining[gr] = len(res["items"])
            for obj in res["items"]:
                meta = obj.get("metadata") or {}
                for f in meta.get("finalizers") or []:
                    found.finalizers[f] = found.finalizers.get(f, 0) + 1
                if meta.get("deletionGracePeriodSeconds"):
                    deadline = metautil.parse_timestamp(meta.get("deletionTimestamp") or "")
                    if deadline is not None:
                        found.estimate = max(found.estimate, int(deadline - now) + 1)
        return found

    async def _update_status(self, name: str, uid: Optional[str], change: Any) -> dict:
        store = self.namespaces

        def update(cur: Optional[dict]) -> dict:
            assert cur is not None
            status = dict(cur.get("status") or {})
            change(status)
            cur["status"] = status
            return cur

        return await store.storage.guaranteed_update(store.key("", name), update, Preconditions(uid=uid))

    async def _set_conditions(self, name: str, uid: Optional[str], wanted: dict[str, tuple[str, str, str]]) -> None:
        now = metautil.timestamp(self.clock.seconds())

        def change(status: dict) -> None:
            existing = {c.get("type"): c for c in status.get("conditions") or []}
            out = [c for c in status.get("conditions") or [] if c.get("type") not in wanted]
            for t, _, _ in OKAY:
                st, reason, message = wanted[t]
                old = existing.get(t) or {}
                same = old.get("status") == st
                if same and old.get("reason") == reason and old.get("message") == message:
                    out.append(old)
                    continue
                out.append({
                    "type": t, "status": st,
                    "lastTransitionTime": old.get("lastTransitionTime") if same and old.get("lastTransitionTime") else now,
                    "reason": reason, "message": message,
                })
            status["conditions"] = out

        await self._update_status(name, uid, change)

    async def _finalize(self, name: str, uid: Optional[str]) -> Optional[dict]:
        store = self.namespaces

        def finalize(cur: Optional[dict]) -> dict:
            assert cur is not None
            spec = dict(cur.get("spec") or {})
            left = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
            if left:
                spec["finalizers"] = left
            else:
                spec.pop("finalizers", None)
            cur["spec"] = spec
            return cur

        try:
            return await store.storage.guaranteed_update(store.key("", name), finalize, Preconditions(uid=uid))
        except KeyNotFoundError:
            return None

    async def _delete_if_finalized(self, name: str, ns: dict) -> None:
        meta = ns.get("metadata") or {}
        if (ns.get("spec") or {}).get("finalizers") or meta.get("finalizers"):
            return
        try:
            await self.namespaces.delete("", name, {"preconditions": {"uid": meta.get("uid")}}, "v1")
        except StatusError as e:
            if e.code not in (404, 409):
                raise
