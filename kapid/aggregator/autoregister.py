"""
kube's autoregister and CRD registration controllers, and the local half of its availability
controller: every group/version the links behind the aggregator serve (the shared
L{kapid.registry.description.ResourceRegistry}, which changes as CRDs are established and
removed) has a I{Local} APIService (no C{spec.service}) with kube's priorities and
C{Available=True} (C{Local}, C{Local APIServices are always available}).

Several kapid processes may share storage and run this controller at once: every write is
computed from what is stored (create when missing, update only when different, a conflict or an
"already exists" is someone else's equal write) so they converge without fighting. APIServices
that no one manages (no C{kube-aggregator.kubernetes.io/automanaged} label) are never touched.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery.status import StatusError
from kapid.storage.interfaces import ADDED, DELETED, ERROR, MODIFIED, Event, ListOptions

log = Logger()

GROUP = "apiregistration.k8s.io"
VERSION = "v1"

#: kube's label on the APIServices its registration controllers manage.
AUTOMANAGED_LABEL = "kube-aggregator.kubernetes.io/automanaged"
#: ... for built-in group/versions (kept in step at start).
MANAGE_ON_START = "onstart"
#: ... for CRD group/versions (kept in step continuously).
MANAGE_CONTINUOUSLY = "true"

LOCAL_REASON = "Local"
LOCAL_MESSAGE = "Local APIServices are always available"

#: kube's priorities (group priority minimum, version priority) of the built-in group/versions
#: (kube-apiserver's C{DefaultGenericAPIServicePriorities} and its own groups).
API_VERSION_PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("events.k8s.io", "v1beta1"): (17750, 5),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authentication.k8s.io", "v1beta1"): (17700, 9),
    ("authentication.k8s.io", "v1alpha1"): (17700, 1),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("autoscaling", "v2beta1"): (17500, 9),
    ("autoscaling", "v2beta2"): (17500, 1),
    ("batch", "v1"): (17400, 15),
    ("batch", "v1beta1"): (17400, 9),
    ("batch", "v2alpha1"): (17400, 9),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("certificates.k8s.io", "v1beta1"): (17300, 9),
    ("certificates.k8s.io", "v1alpha1"): (17300, 1),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("networking.k8s.io", "v1beta1"): (17200, 9),
    ("networking.k8s.io", "v1alpha1"): (17200, 1),
    ("policy", "v1"): (17100, 15),
    ("policy", "v1beta1"): (17100, 9),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("storage.k8s.io", "v1beta1"): (16800, 9),
    ("storage.k8s.io", "v1alpha1"): (16800, 1),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1beta1"): (16700, 12),
    ("admissionregistration.k8s.io", "v1alpha1"): (16700, 9),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("coordination.k8s.io", "v1beta1"): (16500, 13),
    ("coordination.k8s.io", "v1alpha2"): (16500, 12),
    ("node.k8s.io", "v1"): (16300, 15),
    ("node.k8s.io", "v1beta1"): (16300, 9),
    ("node.k8s.io", "v1alpha1"): (16300, 1),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("discovery.k8s.io", "v1beta1"): (16200, 12),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
    ("flowcontrol.apiserver.k8s.io", "v1beta3"): (16100, 18),
    ("flowcontrol.apiserver.k8s.io", "v1beta2"): (16100, 15),
    ("flowcontrol.apiserver.k8s.io", "v1beta1"): (16100, 12),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1"): (16100, 9),
    ("internal.apiserver.k8s.io", "v1alpha1"): (16000, 9),
    ("resource.k8s.io", "v1beta1"): (15900, 13),
    ("resource.k8s.io", "v1alpha3"): (15900, 9),
    ("storagemigration.k8s.io", "v1alpha1"): (15800, 9),
}

#: kube's CRD registration priorities: CRD groups sort low, their versions kube-like.
CRD_PRIORITIES = (1000, 100)


def api_service_name(group: str, version: str) -> str:
    """
    C{<version>.<group>} (C{v1.} for the core group).
    """
    return f"{version}.{group}"


def local_api_service(group: str, version: str, priorities: tuple[int, int], managed: str) -> dict:
    """
    The Local APIService kube registers for C{group/version}.
    """
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "APIService",
        "metadata": {"name": api_service_name(group, version), "labels": {AUTOMANAGED_LABEL: managed}},
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": priorities[0],
            "versionPriority": priorities[1],
        },
    }


def _is_custom(resource: Any) -> bool:
    try:
        from kapid.apiextensions.customresource import is_custom_resource
    except ImportError:  # pragma: no cover - without the apiextensions modules
        return False
    return is_custom_resource(resource)


def desired_api_services(registry: Any) -> dict[str, dict]:
    """
    The Local APIServices the group/versions of C{registry} call for, by name: built-in ones with
    kube's priorities (those kube has none for are skipped, as kube skips them), CRD ones with
    kube's CRD priorities; never the aggregator's own group.
    """
    builtin: set[tuple[str, str]] = set()
    custom: set[tuple[str, str]] = set()
    for r in registry.all():
        if r.group == GROUP:
            continue
        target = custom if _is_custom(r) else builtin
        for v in r.versions:
            if v.served:
                target.add((r.group, v.name))
    out: dict[str, dict] = {}
    for group, version in sorted(custom - builtin):
        out[api_service_name(group, version)] = local_api_service(group, version, CRD_PRIORITIES, MANAGE_CONTINUOUSLY)
    for group, version in sorted(builtin):
        prio = API_VERSION_PRIORITIES.get((group, version))
        if prio is None:
            continue
        out[api_service_name(group, version)] = local_api_service(group, version, prio, MANAGE_ON_START)
    return out


def _spec_matches(current: dict, wanted: dict) -> bool:
    spec = current.get("spec") or {}
    return (
        all(spec.get(k) == v for k, v in wanted["spec"].items())
        and not spec.get("service")
        and not spec.get("caBundle")
        and not spec.get("insecureSkipTLSVerify")
    )


def local_available_condition(now: str) -> dict:
    """
    kube's C{Available} condition of a Local APIService.
    """
    return {
        "type": "Available", "status": "True", "lastTransitionTime": now,
        "reason": LOCAL_REASON, "message": LOCAL_MESSAGE,
    }


def _available(obj: dict) -> Optional[dict]:
    for c in ((obj.get("status") or {}).get("conditions") or []):
        if isinstance(c, dict) and c.get("type") == "Available":
            return c
    return None


def with_condition(obj: dict, cond: dict) -> dict:
    """
    A copy of C{obj} whose C{Available} condition is C{cond}; the transition time is kept when the
    status does not change (kube's C{SetAPIServiceCondition}).
    """
    new = copy.deepcopy(obj)
    status: dict = new["status"] if isinstance(new.get("status"), dict) else {}
    conds = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    for i, c in enumerate(conds):
        if c.get("type") == cond["type"]:
            merged = dict(cond)
            if c.get("status") == cond["status"] and c.get("lastTransitionTime"):
                merged["lastTransitionTime"] = c["lastTransitionTime"]
            conds[i] = merged
            break
    else:
        conds.append(dict(cond))
    status["conditions"] = conds
    new["status"] = status
    return new


def condition_differs(obj: dict, cond: dict) -> bool:
    """
    Whether C{obj}'s C{Available} condition differs from C{cond} (status, reason or message).
    """
    have = _available(obj)
    return have is None or any(have.get(k) != cond.get(k) for k in ("status", "reason", "message"))


class AutoRegisterController:
    """
    Keeps the Local APIServices of the served group/versions, and their C{Available} condition.

    @ivar store: the apiservices' L{kapid.registry.store.RegistryStore}.
    @ivar registry: the shared registry whose group/versions are served locally.
    @ivar on_change: called with the stored APIServices (name -> object) after every change seen
        (the aggregator's routing table follows them).
    """

    def __init__(
        self,
        store: Any,
        registry: Any,
        clock: Any,
        on_change: Optional[Callable[[dict[str, dict]], None]] = None,
        retry_delay: float = 1.0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.on_change = on_change
        self.retry_delay = retry_delay
        self.known: dict[str, dict] = {}
        self.stopped = False
        self.synced_once = False
        #: the names of the Local APIServices wanted at the first pass (kube's readiness check)
        self.startup_names: Optional[set[str]] = None
        self._wanted_before: set[str] = set()
        self._watcher: Any = None
        self._restart: Any = None
        self._pending: Any = None
        self._running: Optional[Deferred] = None
        self._again = False
        registry.subscribe(self.schedule)

    # -- start / stop -------------------------------------------------------------------------

    def start(self) -> Deferred:
        """
        List the APIServices, register what is missing, then follow changes of the APIServices
        and of the registry; fires when the first pass is done.
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        storage = self.store.storage
        res = await storage.get_list(self.store.list_key(""), ListOptions())
        self.known = {o["metadata"]["name"]: o for o in res["items"]}
        self._changed()
        await self.sync()
        if self.stopped:
            return
        self._watcher = await storage.watch(
            self.store.list_key(""), ListOptions(resource_version=res["resourceVersion"]), self._on_event
        )
        if self.stopped:
            self._watcher.stop()
            return
        self._watcher.done.addBoth(self._watch_ended)

    def stop(self) -> None:
        """
        Stop watching; nothing more is written.
        """
        self.stopped = True
        for t in (self._restart, self._pending):
            if t is not None and t.active():
                t.cancel()
        if self._watcher is not None:
            self._watcher.stop()

    def _watch_ended(self, _: Any) -> None:
        self._watcher = None
        if self.stopped or self._restart is not None:
            return None

        def again() -> None:
            self._restart = None
            if not self.stopped:
                self.start().addErrback(self._restart_failed)

        self._restart = self.clock.callLater(self.retry_delay, again)
        return None

    def _restart_failed(self, failure: Any) -> None:
        log.failure("autoregister restart failed", failure)
        self._watch_ended(None)

    def _on_event(self, event: Event) -> None:
        if event.type == ERROR:
            if self._watcher is not None:
                self._watcher.stop()
            return
        obj = event.object
        if obj is None:
            return
        name = (obj.get("metadata") or {}).get("name") or ""
        if event.type in (ADDED, MODIFIED):
            self.known[name] = obj
        elif event.type == DELETED:
            self.known.pop(name, None)
        else:
            return
        self._changed()
        self.schedule()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(dict(self.known))

    # -- syncing ------------------------------------------------------------------------------

    def schedule(self) -> None:
        """
        Sync soon (once for a burst of changes).
        """
        if self.stopped or not self.synced_once:
            return
        if self._pending is not None and self._pending.active():
            return
        self._pending = self.clock.callLater(0, self._run)

    def _run(self) -> None:
        self._pending = None
        if self._running is not None:
            self._again = True
            return
        d = Deferred.fromCoroutine(self.sync())

        def done(result: Any) -> None:
            self._running = None
            if self._again:
                self._again = False
                self.schedule()

        d.addErrback(lambda f: log.failure("autoregister sync failed", f))
        d.addBoth(done)
        if not d.called:
            self._running = d

    async def sync(self) -> None:
        """
        One pass: create or correct the wanted Local APIServices, delete managed ones no longer
        wanted (built-in ones only on the first pass, as kube's C{onstart}), and mark every Local
        APIService available.
        """
        wanted = desired_api_services(self.registry)
        if self.startup_names is None:
            self.startup_names = set(wanted)
        for name, obj in wanted.items():
            if self.stopped:
                return
            await self._ensure(name, obj)
        for name, obj in sorted(self.known.items()):
            if self.stopped or name in wanted:
                continue
            managed = ((obj.get("metadata") or {}).get("labels") or {}).get(AUTOMANAGED_LABEL)
            if managed == MANAGE_CONTINUOUSLY and (not self.synced_once or name in self._wanted_before):
                await self._delete(obj)
            elif managed == MANAGE_ON_START and not self.synced_once:
                await self._delete(obj)
        for name in sorted(self.known):
            if self.stopped:
                return
            seen = self.known.get(name)
            if seen is not None and not (seen.get("spec") or {}).get("service"):
                await self._mark_local_available(name)
        self._wanted_before = set(wanted)
        self.synced_once = True

    async def _ensure(self, name: str, wanted: dict) -> None:
        current = self.known.get(name)
        if current is None:
            try:
                created = await self.store.create("", copy.deepcopy(wanted), VERSION)
            except StatusError as e:
                if e.code != 409:
                    log.warn("registering APIService {name} failed: {error}", name=name, error=e)
                return
            self.known.setdefault(name, created)
            return
        managed = ((current.get("metadata") or {}).get("labels") or {}).get(AUTOMANAGED_LABEL)
        if not managed or _spec_matches(current, wanted):
            return  # someone else's APIService, or already as wanted

        def updater(cur: Optional[dict]) -> dict:
            if cur is None:
                raise StatusError(404, "NotFound", f"{name} is gone")
            new = copy.deepcopy(cur)
            new["spec"] = copy.deepcopy(wanted["spec"])
            return new

        try:
            await self.store.update("", name, updater, VERSION)
        except StatusError as e:
            if e.code not in (404, 409):
                log.warn("updating APIService {name} failed: {error}", name=name, error=e)

    async def _delete(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        try:
            await self.store.delete("", meta.get("name") or "", {"preconditions": {"uid": meta.get("uid")}}, VERSION)
        except StatusError as e:
            if e.code not in (404, 409):
                log.warn("removing APIService {name} failed: {error}", name=meta.get("name"), error=e)

    async def _mark_local_available(self, name: str) -> None:
        cond = local_available_condition(self.store.now())
        obj = self.known.get(name)
        if obj is None or not condition_differs(obj, cond):
            return
        await write_condition(self.store, name, cond, lambda o: not (o.get("spec") or {}).get("service"))


async def write_condition(store: Any, name: str, cond: dict, still: Callable[[dict], bool]) -> None:
    """
    Write C{cond} as the C{Available} condition of APIService C{name} through its status
    subresource when it differs and C{still(current)} holds; a conflict or a missing object means
    someone else wrote first (the next event brings the next pass).
    """

    def updater(cur: Optional[dict]) -> dict:
        if cur is None:
            raise StatusError(404, "NotFound", f"{name} is gone")
        if not still(cur) or not condition_differs(cur, cond):
            return cur
        return with_condition(cur, cond)

    try:
        await store.update("", name, updater, VERSION, subresource="status")
    except StatusError as e:
        if e.code not in (404, 409):
            log.warn("updating the status of APIService {name} failed: {error}", name=name, error=e)
