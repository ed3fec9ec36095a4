"""
RBAC at start-up and after: kube's C{rbac/bootstrap-roles} post-start hook (the default policy of
L{kapid.auth.bootstrappolicy} created when missing and reconciled when present, unless the object
is annotated C{rbac.authorization.kubernetes.io/autoupdate: "false"}), and kube's
clusterrole-aggregation controller (a ClusterRole with an C{aggregationRule} gets the rules of
every ClusterRole its selectors match, kept up to date as roles change).

Both read the RBAC index the authorizer keeps (L{kapid.auth.rbac.RBACIndex}): start-up costs the
informer's one list per kind plus only the writes that change something.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger

from kapid.apimachinery.selectors import selector_from_label_selector
from kapid.apimachinery.status import StatusError
from kapid.auth import bootstrappolicy
from kapid.auth.rbac import CLUSTER_ROLE, RBACIndex, covers

log = Logger()


def _merged(expected: dict, existing: dict) -> tuple[dict, bool]:
    """
    kube's C{merge(expected, existing)} of label or annotation maps (existing values win), and
    whether anything was added.
    """
    out = dict(expected)
    out.update(existing)
    return out, any(k not in existing for k in expected)


def reconcile_role(expected: dict, existing: dict) -> Optional[dict]:
    """
    kube's C{computeReconciledRole} (without removing extra permissions): the existing role with
    the expected labels, annotations, aggregation selectors and missing rules added; None when
    nothing needs to change or the role is not to be updated automatically.
    """
    meta = existing.get("metadata") or {}
    if (meta.get("annotations") or {}).get(bootstrappolicy.AUTOUPDATE) == "false":
        return None
    out = copy.deepcopy(existing)
    out_meta = out.setdefault("metadata", {})
    changed = False
    for field in ("labels", "annotations"):
        merged, added = _merged(expected["metadata"].get(field) or {}, meta.get(field) or {})
        if added:
            out_meta[field] = merged
            changed = True
    if expected.get("aggregationRule"):
        selectors = list((existing.get("aggregationRule") or {}).get("clusterRoleSelectors") or [])
        for selector in expected["aggregationRule"]["clusterRoleSelectors"]:
            if selector not in selectors:
                selectors.append(selector)
                changed = True
        out["aggregationRule"] = {"clusterRoleSelectors": selectors}
    ok, missing = covers(list(existing.get("rules") or []), list(expected.get("rules") or []))
    if not ok:
        out["rules"] = list(existing.get("rules") or []) + missing
        changed = True
    return out if changed else None


def reconcile_binding(expected: dict, existing: dict) -> tuple[Optional[dict], bool]:
    """
    kube's C{computeReconciledRoleBinding} (without removing extra subjects): C{(binding, recreate)}
    where C{binding} is None when nothing needs to change, and C{recreate} says the role reference
    differs (the binding is deleted and created again).
    """
    meta = existing.get("metadata") or {}
    if (meta.get("annotations") or {}).get(bootstrappolicy.AUTOUPDATE) == "false":
        return None, False
    if existing.get("roleRef") != expected.get("roleRef"):
        return copy.deepcopy(expected), True
    out = copy.deepcopy(existing)
    out_meta = out.setdefault("metadata", {})
    changed = False
    for field in ("labels", "annotations"):
        merged, added = _merged(expected["metadata"].get(field) or {}, meta.get(field) or {})
        if added:
            out_meta[field] = merged
            changed = True
    subjects = list(existing.get("subjects") or [])
    for subject in expected.get("subjects") or []:
        if subject not in subjects:
            subjects.append(subject)
            changed = True
    if subjects:
        out["subjects"] = subjects
    return (out if changed else None), False


async def _ignore_conflicts(d: Any) -> None:
    try:
        await d
    except StatusError as e:
        if e.code not in (404, 409):
            raise


async def ensure_policy(index: RBACIndex, roles: Any, bindings: Any, ns_roles: Any = None,
                        ns_bindings: Any = None) -> int:
    """
    Create or reconcile the default ClusterRoles and ClusterRoleBindings through the
    clusterroles' and clusterrolebindings' L{kapid.registry.store.RegistryStore}s (and, given the
    roles' and rolebindings' stores, the default Roles and RoleBindings of C{kube-system} and
    C{kube-public}), reading what exists from the synced C{index}; fires with the number of
    writes.
    """
    writes: list[Deferred] = []
    if ns_roles is not None and ns_bindings is not None:
        writes.extend(_ensure_namespaced(index, ns_roles, ns_bindings))

    for role in bootstrappolicy.cluster_roles():
        name = role["metadata"]["name"]
        existing = index.cluster_roles.get(name)
        if existing is None:
            writes.append(Deferred.fromCoroutine(_ignore_conflicts(roles.create("", role, "v1"))))
            continue
        new = reconcile_role(role, existing)
        if new is not None:
            log.info("RBAC: reconciling clusterrole {name}", name=name)
            writes.append(Deferred.fromCoroutine(_ignore_conflicts(roles.update("", name, _replace_with(new), "v1"))))
    for binding in bootstrappolicy.cluster_role_bindings():
        name = binding["metadata"]["name"]
        existing = index.cluster_role_bindings.get(name)
        if existing is None:
            writes.append(Deferred.fromCoroutine(_ignore_conflicts(bindings.create("", binding, "v1"))))
            continue
        new, recreate = reconcile_binding(binding, existing)
        if new is None:
            continue
        log.info("RBAC: reconciling clusterrolebinding {name}", name=name)
        if recreate:
            writes.append(Deferred.fromCoroutine(_recreate(bindings, name, new)))
        else:
            writes.append(Deferred.fromCoroutine(
                _ignore_conflicts(bindings.update("", name, _replace_with(new), "v1"))
            ))
    if writes:
        await gatherResults(writes, consumeErrors=True)
    return len(writes)


def _replace_with(new: dict) -> Callable[[Optional[dict]], dict]:
    def updater(current: Optional[dict]) -> dict:
        out = copy.deepcopy(new)
        if current is not None:
            out["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        return out

    return updater


def _ensure_namespaced(index: RBACIndex, roles: Any, bindings: Any) -> list[Deferred]:
    writes: list[Deferred] = []
    for role in bootstrappolicy.roles():
        namespace, name = role["metadata"]["namespace"], role["metadata"]["name"]
        existing = index.roles.get((namespace, name))
        if existing is None:
            writes.append(Deferred.fromCoroutine(_ignore_conflicts(roles.create(namespace, role, "v1"))))
            continue
        new = reconcile_role(role, existing)
        if new is not None:
            writes.append(Deferred.fromCoroutine(
                _ignore_conflicts(roles.update(namespace, name, _replace_with(new), "v1"))))
    for binding in bootstrappolicy.role_bindings():
        namespace, name = binding["metadata"]["namespace"], binding["metadata"]["name"]
        existing = index.role_bindings.get((namespace, name))
        if existing is None:
            writes.append(Deferred.fromCoroutine(_ignore_conflicts(bindings.create(namespace, binding, "v1"))))
            continue
        new, recreate = reconcile_binding(binding, existing)
        if new is None:
            continue
        if recreate:
            writes.append(Deferred.fromCoroutine(_recreate(bindings, name, new, namespace)))
        else:
            writes.append(Deferred.fromCoroutine(
                _ignore_conflicts(bindings.update(namespace, name, _replace_with(new), "v1"))))
    return writes


async def _recreate(store: Any, name: str, obj: dict, namespace: str = "") -> None:
    try:
        await store.storage.delete(store.key(namespace, name))
    except Exception:
        pass
    await _ignore_conflicts(store.create(namespace, obj, "v1"))


def aggregated_rules(index: RBACIndex, role: dict) -> list[dict]:
    """
    The rules an aggregated ClusterRole should have: for each selector in order, the rules of
    the other ClusterRoles it matches (by name), each rule once.
    """
    name = (role.get("metadata") or {}).get("name")
    seen: set[str] = set()
    rules: list[dict] = []
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        matches = selector_from_label_selector(selector)
        if matches is None:
            continue
        for other_name in sorted(index.cluster_roles):
            if other_name == name or other_name in seen:
                continue
            other = index.cluster_roles[other_name]
            if not matches((other.get("metadata") or {}).get("labels") or {}):
                continue
            seen.add(other_name)
            for rule in other.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
    return rules


class AggregationController:
    """
    kube's clusterrole-aggregation controller over the RBAC index: whenever a ClusterRole
    changes, every aggregated ClusterRole whose rules differ from what its selectors gather is
    updated (one pass at a time; a change during a pass causes another).
    """

    def __init__(self, index: RBACIndex, store: Any, clock: Any) -> None:
        self.index = index
        self.store = store
        self.clock = clock
        self.stopped = False
        self._call: Any = None
        self._working: Optional[Deferred] = None
        self._dirty = False

    def start(self) -> None:
        """
        Listen to the index and run a first pass.
        """
        self.index.listeners.append(self._changed)
        self._schedule()

    def stop(self) -> None:
        """
        Stop listening; no more passes.
        """
        self.stopped = True
        if self._changed in self.index.listeners:
            self.index.listeners.remove(self._changed)
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _changed(self, kind: str, old: Optional[dict], new: Optional[dict]) -> None:
        if kind == CLUSTER_ROLE:
            self._schedule()

    def _schedule(self) -> None:
        if self.stopped:
            return
        if self._working is not None:
            self._dirty = True
            return
        if self._call is None:
            self._call = self.clock.callLater(0, self._run)

    def _run(self) -> None:
        self._call = None
        d = Deferred.fromCoroutine(self.run_pass())
        if not d.called:
            self._working = d
        d.addErrback(lambda f: log.failure("clusterrole aggregation failed", f))
        d.addBoth(self._done)

    def _done(self, _: Any) -> None:
        self._working = None
        if self._dirty:
            self._dirty = False
            self._schedule()

    async def run_pass(self) -> dict[str, list[dict]]:
        """
        Update every aggregated ClusterRole whose rules are not what it aggregates; fires with the
        rules written, by role name.
        """
        updated: dict[str, list[dict]] = {}
        for name in sorted(self.index.cluster_roles):
            role = self.index.cluster_roles.get(name)
            if role is None or not role.get("aggregationRule"):
                continue
            rules = aggregated_rules(self.index, role)
            if rules == list(role.get("rules") or []):
                continue

            def updater(current: Optional[dict], rules: list[dict] = rules) -> dict:
                out = copy.deepcopy(current) if current is not None else {}
                out["rules"] = copy.deepcopy(rules)
                return out

            try:
                await self.store.update("", name, updater, "v1")
                updated[name] = rules
            except StatusError as e:
                if e.code != 404:
                    raise
        return updated


def wait_for(index: RBACIndex, done: Callable[[], bool], clock: Any, timeout: float = 10.0) -> Deferred:
    """
    A Deferred firing (with whether C{done()} became true) once C{done()} is true after a change of
    C{index}, or after C{timeout} seconds.
    """
    d: Deferred = Deferred()
    if done():
        d.callback(True)
        return d

    def check(*_: Any) -> None:
        if not d.called and done():
            finish(True)

    def finish(value: bool) -> None:
        if check in index.listeners:
            index.listeners.remove(check)
        if timer.active():
            timer.cancel()
        if not d.called:
            d.callback(value)

    index.listeners.append(check)
    timer = clock.callLater(timeout, finish, False)
    return d


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's C{rbac/bootstrap-roles} post-start hook: with the RBAC authorizer on, wait for
    its index, create or reconcile the default policy, then run the aggregation controller until
    shutdown begins.
    """
    return Deferred.fromCoroutine(_post_start(service))


async def _post_start(service: Any) -> None:
    authorizer = getattr(service, "rbac_authorizer", None)
    link = getattr(service, "resource_link", None)
    if authorizer is None or link is None:
        return
    registry = link.registry
    roles_res = registry.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")
    bindings_res = registry.lookup("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    if roles_res is None or bindings_res is None:
        return
    roles, bindings = link.store_for(roles_res), link.store_for(bindings_res)
    ns_roles_res = registry.lookup("rbac.authorization.k8s.io", "v1", "roles")
    ns_bindings_res = registry.lookup("rbac.authorization.k8s.io", "v1", "rolebindings")
    ns_roles = link.store_for(ns_roles_res) if ns_roles_res is not None else None
    ns_bindings = link.store_for(ns_bindings_res) if ns_bindings_res is not None else None
    index = authorizer.index
    await index.when_synced()
    writes = await ensure_policy(index, roles, bindings, ns_roles, ns_bindings)
    log.info("RBAC: default policy ensured ({writes} writes)", writes=writes)
    controller = AggregationController(index, roles, service.reactor)
    # aggregate before the server says it is ready, so the default roles are complete then
    names = [r["metadata"]["name"] for r in bootstrappolicy.cluster_roles()]
    await wait_for(index, lambda: all(n in index.cluster_roles for n in names), service.reactor)
    for _ in range(5):
        written = await controller.run_pass()
        if not written:
            break
        await wait_for(
            index,
            lambda: all((index.cluster_roles.get(n) or {}).get("rules") == r for n, r in written.items()),
            service.reactor,
        )
    service.clusterrole_aggregation = controller
    stage = getattr(service, "shutdown_initiated", None)
    if stage is not None:
        stage.when_reached().addCallback(lambda _: controller.stop())
    controller.start()
