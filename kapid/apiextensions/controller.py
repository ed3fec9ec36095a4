"""
The CRD controller: what kube's apiextensions-apiserver runs behind its CRD informer, in one place.

  - B{naming} (kube's C{NamingConditionController}): a CRD's names are checked against the accepted
    names of the other CRDs of its group; C{status.acceptedNames} and the C{NamesAccepted} condition
    say which were taken;
  - B{establishing}: once its names are accepted, the kind is put into the shared
    L{kapid.registry.description.ResourceRegistry} (routes, discovery, OpenAPI and the watch cache
    follow) and C{Established} becomes true — in that order, so a client that waited for
    C{condition=established} is served at once;
  - B{serving changes}: a CRD whose spec changes is described again for new requests; every kapid
    process on one storage runs this controller over a watch, so all of them serve the same kinds;
  - B{finalizing} (kube's C{CRDFinalizer}): a CRD being deleted keeps its
    C{customresourcecleanup.apiextensions.k8s.io} finalizer until every custom object of it is gone
    (deleted through the registry, so their own finalizers hold), with kube's C{Terminating}
    conditions; then the finalizer goes, and with it the CRD and its API.

Writes are read-modify-write on the stored CRD with the desired state computed inside, so several
processes converge on one answer.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery import meta as metautil
from kapid.apiextensions.crd import CLEANUP_FINALIZER, set_condition
from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler, Informer
from kapid.storage.interfaces import ListOptions

log = Logger()


#: How often a CRD being deleted checks again for remaining custom objects (kube polls every 5 s).
CLEANUP_POLL = 5.0
#: How long it waits before reporting that objects remain (kube: one minute).
CLEANUP_PATIENCE = 60.0


def find_condition(crd: dict, kind: str) -> Optional[dict]:
    """
    The condition of type C{kind} in C{crd}'s status, or None.
    """
    for c in (crd.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == kind:
            return c
    return None


def condition_true(crd: dict, kind: str) -> bool:
    """
    Whether C{crd} has condition C{kind} with status C{True}.
    """
    c = find_condition(crd, kind)
    return c is not None and c.get("status") == "True"


def _equivalent(a: Optional[dict], b: Optional[dict]) -> bool:
    if a is None or b is None:
        return a is b
    return all(a.get(k) == b.get(k) for k in ("type", "status", "reason", "message"))


def _requested_names(crd: dict) -> dict:
    names = (crd.get("spec") or {}).get("names") or {}
    kind = names.get("kind") or ""
    return {
        "plural": names.get("plural") or "",
        "singular": names.get("singular") or kind.lower(),
        "shortNames": list(names.get("shortNames") or []),
        "kind": kind,
        "listKind": names.get("listKind") or (kind + "List" if kind else ""),
        "categories": list(names.get("categories") or []),
    }


def _accepted_names(crd: dict) -> dict:
    a = (crd.get("status") or {}).get("acceptedNames") or {}
    return {
        "plural": a.get("plural") or "",
        "singular": a.get("singular") or "",
        "shortNames": list(a.get("shortNames") or []),
        "kind": a.get("kind") or "",
        "listKind": a.get("listKind") or "",
        "categories": list(a.get("categories") or []),
    }


def names_and_conditions(crd: dict, others: list[dict]) -> tuple[dict, dict, dict]:
    """
    kube's naming decision for C{crd} among the C{others} of its group: C{(accepted names,
    NamesAccepted condition, Established condition)} (conditions without timestamps).
    """
    group = (crd.get("spec") or {}).get("group")
    resources: set[str] = set()
    kinds: set[str] = set()
    for other in others:
        if (other.get("spec") or {}).get("group") != group:
            continue
        a = _accepted_names(other)
        resources.update([a["plural"], a["singular"], *a["shortNames"]])
        kinds.update([a["kind"], a["listKind"]])
    resources.discard("")
    kinds.discard("")
    requested = _requested_names(crd)
    accepted = _accepted_names(crd)
    new = dict(accepted)
    cond: dict[str, str] = {"type": "NamesAccepted", "status": "Unknown"}

    def fresh(req: str, acc: str, used: set[str]) -> Optional[str]:
        if req == acc or req not in used:
            return None
        return f'"{req}" is already in use'

    for key, reason, used in (("plural", "PluralConflict", resources), ("singular", "SingularConflict", resources)):
        err = fresh(requested[key], accepted[key], used)
        if err:
            cond.update(status="False", reason=reason, message=err)
        else:
            new[key] = requested[key]
    if requested["shortNames"] != accepted["shortNames"]:
        errs = []
        for short in requested["shortNames"]:
            if short in accepted["shortNames"] or short in (accepted["plural"], accepted["singular"]):
                continue
            err = fresh(short, "", resources)
            if err:
                errs.append(err)
        if errs:
            msg = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
            cond.update(status="False", reason="ShortNamesConflict", message=msg)
        else:
            new["shortNames"] = requested["shortNames"]
    for key, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        err = fresh(requested[key], accepted[key], kinds)
        if err:
            cond.update(status="False", reason=reason, message=err)
        else:
            new[key] = requested[key]
    new["categories"] = requested["categories"]
    if cond["status"] == "Unknown":
        cond.update(status="True", reason="NoConflicts", message="no conflicts found")
    established = find_condition(crd, "Established")
    est = (
        {k: established[k] for k in ("type", "status", "reason", "message") if k in established}
        if established is not None
        else {"type": "Established", "status": "False", "reason": "NotAccepted", "message": "not all names are accepted"}
    )
    if est.get("status") != "True" and cond["status"] == "True":
        est = {
            "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
        }
    return new, cond, est


def _status_names(names: dict) -> dict:
    """
    C{acceptedNames} as kube writes it (empty lists left out).
    """
    out: dict[str, Any] = {"plural": names["plural"]}
    if names.get("singular"):
        out["singular"] = names["singular"]
    if names.get("shortNames"):
        out["shortNames"] = list(names["shortNames"])
    out["kind"] = names["kind"]
    if names.get("listKind"):
        out["listKind"] = names["listKind"]
    if names.get("categories"):
        out["categories"] = list(names["categories"])
    return out


class CRDController(Controller):
    """
    Keeps the registry's custom resources and the CRDs' status in step with the stored CRDs: an
    informer over the CRDs, one worker (naming decisions are made one CRD at a time, as kube's
    naming controller makes them), retries with backoff.

    @param link: the L{kapid.apiextensions.link.APIExtensionsLink} (its registry, storage and
        stores).
    @param crds: the CRDs' L{kapid.registry.store.RegistryStore}.
    @param clock: for timestamps, cleanup polls, retries and watch restarts.
    @param build: C{build(crd) -> Resource} (L{kapid.apiextensions.customresource.resource_for_crd}).
    """

    name = "apiextensions-crd-controller"

    def __init__(self, link: Any, crds: Any, clock: Any, build: Callable[[dict], Any], retry_delay: float = 1.0) -> None:
        super().__init__(ControllerContext(link.registry, link.store_for, clock))
        self.link = link
        self.registry = link.registry
        self.storage = link.storage
        self.crds = crds
        self.build = build
        self.informer = Informer(link.storage, crds.list_key(""), clock, "customresourcedefinitions", retry_delay=retry_delay)
        #: name -> the CRD as this controller last wrote it, until the informer has caught up (kube's
        #: mutation cache: a naming decision must see the names it just accepted)
        self._written: dict[str, dict] = {}
        #: name -> ((group, plural), description key) of what is served
        self.installed: dict[str, tuple[tuple[str, str], Any]] = {}
        self._cleanup_started: dict[str, float] = {}
        self._established_waiters: dict[str, list[Deferred]] = {}

    @property
    def known(self) -> dict[str, dict]:
        """
        Every stored CRD by name, as new as this process knows it.
        """
        out = dict(self.informer.items)
        for name, obj in list(self._written.items()):
            seen = out.get(name)
            if seen is None or _rv(seen) >= _rv(obj):
                self._written.pop(name, None)
            else:
                out[name] = obj
        return out

    def _crd(self, name: str) -> Optional[dict]:
        return self.known.get(name)

    # -- informer and queue ---------------------------------------------------------------------

    def setup(self) -> None:
        self.informer.start()
        self.watch(self.informer, FunctionHandler(self._changed, lambda old, new: self._changed(new), self._changed))

    def _changed(self, obj: dict) -> None:
        name = (obj.get("metadata") or {}).get("name") or ""
        self.queue.add(name)
        # a change of names may free or take names the group's other CRDs wait for
        group = (obj.get("spec") or {}).get("group")
        for other, crd in sorted(self.known.items()):
            if other != name and (crd.get("spec") or {}).get("group") == group and not condition_true(crd, "NamesAccepted"):
                self.queue.add(other)

    def stop(self) -> Deferred:
        """
        Stop watching and working; nothing more is written.
        """
        self.informer.stop()
        return super().stop()

    def idle(self) -> Deferred:
        """
        Fires when nothing is queued or being worked on (at once when idle).
        """
        return self.queue.idle()

    async def sync(self, key: Any) -> None:
        try:
            await self._sync(key)
        finally:
            self._tell_established(key)

    def established(self, name: str) -> Deferred:
        """
        Fires once the CRD called C{name} is established and served by this process.
        """
        if name in self.installed and condition_true(self._crd(name) or {}, "Established"):
            return Deferred.fromCoroutine(_nothing())
        d: Deferred = Deferred()
        self._established_waiters.setdefault(name, []).append(d)
        return d

    def _tell_established(self, name: str) -> None:
        if name in self.installed and condition_true(self._crd(name) or {}, "Established"):
            for d in self._established_waiters.pop(name, []):
                d.callback(None)

    # -- one CRD ------------------------------------------------------------------------------

    def _now(self) -> str:
        return metautil.timestamp(self.clock.seconds())

    async def _sync(self, name: str) -> None:
        """
        Bring one CRD's served API and status to what its stored object says.
        """
        crd = self._crd(name)
        if crd is None:
            self._uninstall(name)
            return
        meta = crd.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            served = self._served(name)
            if served is not None:
                served.strategy.terminating = True  # creates are refused from now on
            if CLEANUP_FINALIZER in (meta.get("finalizers") or []):
                await self._finalize(crd)
            return
        others = [c for n, c in self.known.items() if n != name]
        names, accepted, established = names_and_conditions(crd, others)
        if established.get("status") == "True":
            served = copy.deepcopy(crd)
            served.setdefault("status", {})["acceptedNames"] = _status_names(names)
            self._install(name, served)
        status_names = _status_names(names)
        current = crd.get("status") or {}
        if (
            current.get("acceptedNames") == status_names
            and _equivalent(find_condition(crd, "NamesAccepted"), accepted)
            and _equivalent(find_condition(crd, "Established"), established)
        ):
            return
        now = self._now()

        def names_and_status(new: dict) -> None:
            new.setdefault("status", {})["acceptedNames"] = status_names
            set_condition(new, accepted, now)
            set_condition(new, established, now)

        await self._update(name, meta.get("uid"), names_and_status)

    async def _update(self, name: str, uid: Any, change: Callable[[dict], None]) -> Optional[dict]:
        """
        Read-modify-write the stored CRD C{name} (the one of C{uid}: a CRD deleted or replaced
        meanwhile is left alone) with C{change(copy)}; the stored result (remembered until the
        informer catches up), or None when it is gone.
        """

        def write(cur: Optional[dict]) -> dict:
            if cur is None or (cur.get("metadata") or {}).get("uid") != uid:
                raise _Gone()
            new = copy.deepcopy(cur)
            change(new)
            return new

        try:
            out = await self.storage.guaranteed_update(self.crds.key("", name), write)
        except _Gone:
            return None
        except Exception as e:
            if _is_not_found(e):
                return None
            raise
        self._written[name] = out
        return out

    def _served(self, name: str) -> Any:
        """
        The description this controller serves for CRD C{name}, or None.
        """
        have = self.installed.get(name)
        resource = self.registry.get(*have[0]) if have is not None else None
        return resource if resource is not None and _is_ours(resource) else None

    def _install(self, name: str, crd: dict) -> None:
        """
        Serve C{crd}'s kind (again, when its description changed).
        """
        spec = crd.get("spec") or {}
        key = (spec.get("group") or "", (crd["status"]["acceptedNames"] or {}).get("plural") or "")
        version_key = (
            (crd.get("metadata") or {}).get("uid"),
            (crd.get("metadata") or {}).get("generation"),
            repr(crd["status"]["acceptedNames"]),
        )
        have = self.installed.get(name)
        if have is not None and have == (key, version_key):
            return
        existing = self.registry.get(*key)
        if existing is not None and not _is_ours(existing) and (have is None or have[0] != key):
            log.warn(
                "CRD {name}: {group}/{plural} is served by a built-in resource; not serving it",
                name=name, group=key[0], plural=key[1],
            )
            return
        try:
            resource = self.build(crd)
        except Exception:
            log.failure("CRD {name}: cannot serve its kind", name=name)
            return
        if have is not None and have[0] != key:
            self.registry.remove(*have[0])
        self.installed[name] = (key, version_key)
        self.registry.add(resource)

    def _uninstall(self, name: str) -> None:
        have = self.installed.pop(name, None)
        self._cleanup_started.pop(name, None)
        if have is None:
            return
        existing = self.registry.get(*have[0])
        if existing is not None and _is_ours(existing):
            self.registry.remove(*have[0])
            # kube tears down a deleted CRD's storage: its watches end (after the events already
            # on their way, the objects' deletions among them)
            self.clock.callLater(0, self.link.watches.close_for, *have[0])

    # -- deletion -----------------------------------------------------------------------------

    async def _finalize(self, crd: dict) -> None:
        """
        kube's C{CRDFinalizer}: delete every custom object, wait until none is left, then remove
        the cleanup finalizer (the CRD then goes).
        """
        name = crd["metadata"]["name"]
        uid = crd["metadata"].get("uid")
        started = self._cleanup_started.setdefault(name, self.clock.seconds())
        await self._write_condition(name, uid, {
            "type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
            "message": "CustomResource deletion is in progress",
        })
        resource = self._served(name)
        remaining = 0
        if resource is not None:
            store = self.link.store_for(resource)
            try:
                res = await self.storage.get_list(store.list_key(""), ListOptions())
            except Exception as e:
                await self._write_condition(name, uid, {
                    "type": "Terminating", "status": "True", "reason": "InstanceDeletionFailed",
                    "message": f"could not list instances: {e}",
                })
                self._poll_cleanup(name)
                return
            errors = []
            for obj in res["items"]:
                m = obj.get("metadata") or {}
                if m.get("deletionTimestamp"):
                    continue
                try:
                    await store.delete(m.get("namespace") or "", m.get("name") or "", {}, store.storage_version)
                except StatusError as e:
                    if e.code != 404:
                        errors.append(e.message)
            if errors:
                await self._write_condition(name, uid, {
                    "type": "Terminating", "status": "True", "reason": "InstanceDeletionFailed",
                    "message": f"could not issue all deletes: {errors[0]}" if len(errors) == 1
                    else "could not issue all deletes: [" + ", ".join(errors) + "]",
                })
                self._poll_cleanup(name)
                return
            remaining = int(await self.storage.count(store.list_key("")))
        if remaining:
            if self.clock.seconds() - started >= CLEANUP_PATIENCE:
                await self._write_condition(name, uid, {
                    "type": "Terminating", "status": "True", "reason": "InstanceDeletionCheck",
                    "message": "could not confirm zero CustomResources remaining: timed out waiting for the condition",
                })
            self._poll_cleanup(name)
            return
        self._uninstall(name)
        now = self._now()

        def release(new: dict) -> None:
            set_condition(new, {
                "type": "Terminating", "status": "False", "reason": "InstanceDeletionCompleted",
                "message": "removed all instances",
            }, now)
            fins = [f for f in new["metadata"].get("finalizers") or [] if f != CLEANUP_FINALIZER]
            if fins:
                new["metadata"]["finalizers"] = fins
            else:
                new["metadata"].pop("finalizers", None)

        out = await self._update(name, uid, release)
        if out is None:
            return
        key = self.crds.key("", name)
        meta = out.get("metadata") or {}
        if not meta.get("finalizers"):
            from kapid.storage.interfaces import Preconditions

            try:
                await self.storage.delete(key, Preconditions(uid=uid))
            except Exception as e:
                if not _is_not_found(e):
                    raise

    def _poll_cleanup(self, name: str) -> None:
        if not self.stopped:
            self.queue.add_after(name, CLEANUP_POLL)

    async def _write_condition(self, name: str, uid: Any, cond: dict) -> None:
        if _equivalent(find_condition(self._crd(name) or {}, cond["type"]), cond):
            return
        now = self._now()
        await self._update(name, uid, lambda new: set_condition(new, cond, now))


class _Gone(Exception):
    """
    The CRD was deleted (or replaced) while being written.
    """


def _rv(obj: dict) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _is_not_found(e: Exception) -> bool:
    from kapid.storage.interfaces import KeyNotFoundError

    return isinstance(e, KeyNotFoundError)


def _is_ours(resource: Any) -> bool:
    from kapid.apiextensions.customresource import is_custom_resource

    return is_custom_resource(resource)


async def _nothing() -> None:
    return None
