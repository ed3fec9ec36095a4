"""
C{ResourceQuota} (kube's C{plugin/resourcequota} with the quota controller's accounting folded in):
creates and updates of namespaced objects are charged to the namespace's ResourceQuotas and
refused with kube's C{exceeded quota: ...} when a hard limit would be passed.

Usage lives in each quota's C{status.used}, the one shared counter: a charge is a compare-and-swap
of the quota in storage (C{guaranteed_update}), retried on conflict, so that concurrent requests,
in one process or in several kapid processes on one etcd, never admit more than C{spec.hard}
allows. A charge is given back when the write fails after admission (the store settles it as a
transaction) and when the object is really deleted (a hook on its store). A quota whose
C{status.hard} differs from C{spec.hard} (new or edited) is recounted from the stored objects
first, as kube's controller does, and a new quota is counted right after it is stored.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Optional

from twisted.logger import Logger
from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, DELETE, UPDATE, Attributes, IValidatingAdmission, forbidden
from kapid.apimachinery import meta as metautil
from kapid.registry.validation.core import parse_quantity
from kapid.storage.interfaces import ListOptions

log = Logger()

#: core resources with short quota names: plural -> object-count name
_CORE_COUNTS = {
    "pods": "pods", "services": "services", "configmaps": "configmaps", "secrets": "secrets",
    "persistentvolumeclaims": "persistentvolumeclaims", "replicationcontrollers": "replicationcontrollers",
    "resourcequotas": "resourcequotas",
}
_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_DECIMAL = (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))


def _q(value: Any) -> Fraction:
    v = parse_quantity(value)
    return v if v is not None else Fraction(0)


def format_quantity(value: Fraction, like: Any = "") -> str:
    """
    kube's canonical quantity text (binary suffixes when C{like} used them, else decimal).
    """
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    v = abs(value)
    binary = isinstance(like, str) and like[-2:] in {s for s, _ in _BINARY}
    if v.denominator == 1:
        n = v.numerator
        for suffix, size in (_BINARY if binary else _DECIMAL):
            if n % size == 0:
                return f"{sign}{n // size}{suffix}"
        return f"{sign}{n}"
    for suffix, scale in (("m", 1000), ("u", 10**6), ("n", 10**9)):
        scaled = v * scale
        if scaled.denominator == 1:
            return f"{sign}{scaled.numerator}{suffix}"
    return f"{sign}{-((-v.numerator * 10**9) // v.denominator)}n"


def _pod_compute(spec: dict, which: str) -> dict[str, Fraction]:
    """
    A pod's requests or limits as the scheduler counts them (init containers at their maximum,
    sidecars added, the overhead on top).
    """
    from kapid.admission.plugins.limitranger import pod_totals

    totals = {k: _q(v) for k, v in pod_totals(spec, which).items()}
    for k, v in (spec.get("overhead") or {}).items():
        totals[k] = totals.get(k, Fraction(0)) + _q(v)
    return totals


def pod_terminal(pod: dict) -> bool:
    """
    Whether a pod no longer uses quota (kube's C{QuotaV1Pod}: done, or past its deletion grace).
    """
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def usage(group: str, plural: str, obj: dict) -> dict[str, Fraction]:
    """
    What one object uses, in every quota resource name that can count it (kube's evaluators).
    """
    out: dict[str, Fraction] = {}
    count_name = f"count/{plural}" if not group else f"count/{plural}.{group}"
    out[count_name] = Fraction(1)
    if group:
        return out
    if plural in _CORE_COUNTS:
        out[_CORE_COUNTS[plural]] = Fraction(1)
    spec = obj.get("spec") or {}
    if plural == "pods":
        if pod_terminal(obj):
            return {}
        requests, limits = _pod_compute(spec, "requests"), _pod_compute(spec, "limits")
        for k, v in requests.items():
            out[f"requests.{k}"] = v
            if k in ("cpu", "memory", "ephemeral-storage"):
                out[k] = v
        for k, v in limits.items():
            out[f"limits.{k}"] = v
    elif plural == "services":
        kind = spec.get("type") or "ClusterIP"
        if kind == "LoadBalancer":
            out["services.loadbalancers"] = Fraction(1)
        if kind in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Fraction(len(spec.get("ports") or []))
    elif plural == "persistentvolumeclaims":
        storage = _q((((spec.get("resources") or {}).get("requests")) or {}).get("storage") or "0")
        out["requests.storage"] = storage
        cls = spec.get("storageClassName")
        if cls:
            out[f"{cls}.storageclass.storage.k8s.io/requests.storage"] = storage
            out[f"{cls}.storageclass.storage.k8s.io/persistentvolumeclaims"] = Fraction(1)
    return out


def _best_effort(spec: dict) -> bool:
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        if res.get("requests") or res.get("limits"):
            return False
    return True


def scopes_match(quota: dict, plural: str, obj: dict) -> bool:
    """
    Whether a quota's scopes (and scope selector) cover C{obj}; scopes only select pods.
    """
    spec = quota.get("spec") or {}
    scopes = list(spec.get("scopes") or [])
    for e in ((spec.get("scopeSelector") or {}).get("matchExpressions")) or []:
        scopes.append((e.get("scopeName"), e.get("operator"), tuple(e.get("values") or ())))
    if not scopes:
        return True
    if plural != "pods":
        return False
    pspec = obj.get("spec") or {}
    for s in scopes:
        name, op, values = (s, "Exists", ()) if isinstance(s, str) else s
        if name == "Terminating":
            ok = pspec.get("activeDeadlineSeconds") is not None
        elif name == "NotTerminating":
            ok = pspec.get("activeDeadlineSeconds") is None
        elif name == "BestEffort":
            ok = _best_effort(pspec)
        elif name == "NotBestEffort":
            ok = not _best_effort(pspec)
        elif name == "PriorityClass":
            cls = pspec.get("priorityClassName") or ""
            ok = {"In": cls in values, "NotIn": cls not in values, "Exists": bool(cls),
                  "DoesNotExist": not cls}.get(op or "Exists", False)
            if not ok:
                return False
            continue
        else:
            ok = True
        if op == "DoesNotExist":
            ok = not ok
        if not ok:
            return False
    return True


def _pretty(values: dict[str, Any]) -> str:
    return ",".join(f"{k}={values[k]}" for k in sorted(values))


def _required_compute(hard: dict, obj: dict) -> Optional[str]:
    """
    kube's pod evaluator constraint: a quota on compute resources needs every container to name
    them (C{must specify ...}).
    """
    spec = obj.get("spec") or {}
    missing: dict[str, list[str]] = {}
    for name in hard:
        kind, _, res = name.partition(".")
        if name in ("cpu", "memory"):
            kind, res = "requests", name
        if kind not in ("requests", "limits") or res not in ("cpu", "memory"):
            continue
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if res not in (((c.get("resources") or {}).get(kind)) or {}):
                missing.setdefault(f"{kind}.{res}", []).append(c.get("name", ""))
    if not missing:
        return None
    return "; ".join(f"{k} for: {','.join(v)}" for k, v in sorted(missing.items()))


@implementer(IValidatingAdmission)
class ResourceQuota:
    """
    The plugin.
    """

    name = "ResourceQuota"

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        """
        C{CREATE}, C{UPDATE} and C{DELETE} (deletes only to watch the object go).
        """
        return operation in (CREATE, UPDATE, DELETE)

    def quotas_store(self) -> Any:
        """
        The ResourceQuotas' store.
        """
        return self.context.store("", "resourcequotas")

    async def validate(self, a: Attributes) -> None:
        """
        Charge the request to every quota of its namespace that covers it, or refuse it.
        """
        if not a.namespace or a.subresource not in ("",) or a.is_resource("", "namespaces"):
            return
        group, _, plural = a.resource
        self._hook_deletions(group, plural)
        if a.is_resource("", "resourcequotas") and a.operation in (CREATE, UPDATE):
            name = ((a.object or {}).get("metadata") or {}).get("name") or a.name
            self._schedule_recount(a.namespace, name)
            if a.operation == UPDATE:
                return
        if a.operation == DELETE or not isinstance(a.object, dict):
            return
        store = self.quotas_store()
        if store is None:
            return
        quotas = await self.context.list("", "resourcequotas", a.namespace, memo=a.memo)
        if not quotas:
            return
        new = usage(group, plural, a.object)
        old = usage(group, plural, a.old_object) if isinstance(a.old_object, dict) else {}
        delta = {k: new.get(k, Fraction(0)) - old.get(k, Fraction(0)) for k in set(new) | set(old)}
        for quota in quotas:
            hard = ((quota.get("spec") or {}).get("hard")) or {}
            if plural == "pods" and not group and a.operation == CREATE:
                missing = _required_compute(hard, a.object)
                if missing and scopes_match(quota, plural, a.object):
                    raise forbidden(a, f"failed quota: {quota['metadata']['name']}: must specify {missing}")
        charged: list[tuple[str, dict[str, Fraction]]] = []
        try:
            for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
                hard = ((quota.get("spec") or {}).get("hard")) or {}
                if not scopes_match(quota, plural, a.object):
                    continue
                wanted = {k: v for k, v in delta.items() if k in hard and v != 0}
                if not wanted:
                    continue
                name = quota["metadata"]["name"]
                await self._charge(a, name, wanted, check=True, apply=not a.dry_run)
                if not a.dry_run:
                    charged.append((name, wanted))
        except BaseException:
            for name, wanted in charged:
                await self._charge(a, name, {k: -v for k, v in wanted.items()}, check=False, apply=True)
            raise
        if charged:
            namespace = a.namespace

            async def undo() -> None:
                for name, wanted in charged:
                    await self._release(namespace, name, wanted)

            a.rollbacks.append(undo)

    async def _charge(self, a: Attributes, name: str, wanted: dict[str, Fraction], check: bool, apply: bool) -> None:
        """
        Add C{wanted} to a quota's C{status.used} in one compare-and-swap (recounting first when
        its status is stale), refusing with kube's message when a hard limit would be passed.
        """
        store = self.quotas_store()
        key = store.key(a.namespace, name)
        stale: list[Optional[dict]] = [None]

        async def update(current: Optional[dict]) -> dict:
            if current is None:
                from kapid.storage.interfaces import KeyNotFoundError

                raise KeyNotFoundError(key)
            status = current.setdefault("status", {})
            hard = ((current.get("spec") or {}).get("hard")) or {}
            if status.get("hard") != hard:
                status["hard"] = dict(hard)
                status["used"] = await self.count(a.namespace, hard, current)
                stale[0] = current
            used = dict(status.get("used") or {})
            if check:
                exceeded = []
                for k, v in wanted.items():
                    if k not in hard:
                        continue
                    if v > 0 and _q(used.get(k, "0")) + v > _q(hard[k]):
                        exceeded.append(k)
                if exceeded:
                    raise forbidden(a, "exceeded quota: {}, requested: {}, used: {}, limited: {}".format(
                        name,
                        _pretty({k: format_quantity(wanted[k], hard[k]) for k in exceeded}),
                        _pretty({k: used.get(k, "0") for k in exceeded}),
                        _pretty({k: hard[k] for k in exceeded}),
                    ))
            if not apply:
                if stale[0] is None:
                    raise _NoWrite()
                return current  # a dry run: the recount is kept, nothing charged
            for k, v in wanted.items():
                if k in hard:
                    total = _q(used.get(k, "0")) + v
                    used[k] = format_quantity(max(total, Fraction(0)), hard[k])
            status["used"] = {k: used[k] for k in sorted(used) if k in hard}
            return current

        try:
            await store.storage.guaranteed_update(key, update)
        except _NoWrite:
            return
        except Exception as e:
            from kapid.storage.interfaces import KeyNotFoundError

            if isinstance(e, KeyNotFoundError):
                return
            raise

    async def _release(self, namespace: str, name: str, wanted: dict[str, Fraction]) -> None:
        """
        Give C{wanted} back to a quota (never below zero).
        """
        store = self.quotas_store()
        if store is None:
            return
        from kapid.storage.interfaces import KeyNotFoundError

        def update(current: Optional[dict]) -> dict:
            if current is None:
                raise KeyNotFoundError(name)
            status = current.setdefault("status", {})
            hard = ((current.get("spec") or {}).get("hard")) or {}
            used = dict(status.get("used") or {})
            for k, v in wanted.items():
                if k in used:
                    used[k] = format_quantity(max(_q(used[k]) - v, Fraction(0)), hard.get(k, ""))
            status["used"] = used
            return current

        try:
            await store.storage.guaranteed_update(store.key(namespace, name), update)
        except KeyNotFoundError:
            pass

    # -- replenishment ------------------------------------------------------------------------------

    def _hook_deletions(self, group: str, plural: str) -> None:
        """
        Give quota back when an object of C{group}/C{plural} is really deleted (a hook on the
        store this process deletes through).
        """
        for store in self.context.stores_everywhere(group, plural):
            if self._deleted in store.on_deleted:
                continue
            store.on_deleted.append(self._deleted)

    async def _deleted(self, store: Any, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        if not namespace or (store.resource.group == "" and store.resource.plural == "resourcequotas"):
            return
        try:
            quotas = await self.context.list("", "resourcequotas", namespace)
        except Exception:
            return
        used = usage(store.resource.group, store.resource.plural, self._stored_form(store, obj))
        for quota in quotas:
            hard = ((quota.get("spec") or {}).get("hard")) or {}
            wanted = {k: v for k, v in used.items() if k in hard}
            if wanted and scopes_match(quota, store.resource.plural, obj):
                await self._release(namespace, quota["metadata"]["name"], wanted)

    @staticmethod
    def _stored_form(store: Any, obj: dict) -> dict:
        return obj

    def _schedule_recount(self, namespace: str, name: str) -> None:
        clock = self.context.clock
        if clock is None:
            return

        async def recount(attempt: int) -> None:
            store = self.quotas_store()
            if store is None:
                return
            current = await store.storage.get(store.key(namespace, name), "", True)
            if current is None:
                if attempt < 20:
                    clock.callLater(0.05 * (attempt + 1), run, attempt + 1)
                return

            async def update(cur: Optional[dict]) -> dict:
                assert cur is not None
                hard = ((cur.get("spec") or {}).get("hard")) or {}
                status = cur.setdefault("status", {})
                if status.get("hard") != hard or status.get("used") is None:
                    status["hard"] = dict(hard)
                    status["used"] = await self.count(namespace, hard, cur)
                return cur

            try:
                await store.storage.guaranteed_update(store.key(namespace, name), update)
            except Exception:
                log.failure("counting quota {namespace}/{name} failed", namespace=namespace, name=name)

        def run(attempt: int) -> None:
            from twisted.internet.defer import Deferred

            Deferred.fromCoroutine(recount(attempt))

        clock.callLater(0, run, 0)

    async def count(self, namespace: str, hard: dict, quota: dict) -> dict[str, str]:
        """
        What the stored objects of C{namespace} use of C{hard} (kube's controller's recalculation).
        """
        totals: dict[str, Fraction] = {k: Fraction(0) for k in hard}
        link = self.context.link
        if link is None:
            return {k: "0" for k in hard}
        wanted = {_resource_of(k) for k in hard}
        for res in link.registry.all():
            if not res.namespaced or hasattr(res.strategy, "compute_create") or hasattr(res.strategy, "compute_list"):
                continue
            if (res.group, res.plural) not in wanted and not (res.group == "" and "*compute*" in wanted and res.plural == "pods"):
                continue
            store = link.store_for(res)
            listed = await store.storage.get_list(store.list_key(namespace), ListOptions())
            for obj in listed["items"]:
                if not scopes_match(quota, res.plural, obj):
                    continue
                for k, v in usage(res.group, res.plural, obj).items():
                    if k in totals:
                        totals[k] += v
        return {k: format_quantity(totals[k], hard[k]) for k in sorted(totals)}


def _resource_of(name: str) -> Any:
    """
    The C{(group, plural)} a quota resource name counts (C{"*compute*"} for pod compute names).
    """
    if name.startswith("count/"):
        plural, _, group = name[6:].partition(".")
        return (group, plural)
    if name in _CORE_COUNTS:
        return ("", name)
    if name in ("services.loadbalancers", "services.nodeports"):
        return ("", "services")
    if "storage" in name or name.endswith("persistentvolumeclaims"):
        return ("", "persistentvolumeclaims")
    return "*compute*"


class _NoWrite(Exception):
    """
    A dry run checked the quota and has nothing to write.
    """


@register("ResourceQuota")
def _factory(context: PluginContext, config: Any) -> ResourceQuota:
    return ResourceQuota(context)
