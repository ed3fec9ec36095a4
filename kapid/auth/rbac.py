"""
The RBAC authorizer (C{--authorization-mode=RBAC}): kube's rule matching, its rule resolver over an
in-memory index of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, and the informer that
keeps the index current from kapid's storage (one list, then a watch per kind; a watch that ends is
started again after a relist). A decision never reads the storage.

Bindings are indexed by subject (a user name or a group name; a ServiceAccount subject is the user
C{system:serviceaccount:<ns>:<name>}), so a request looks only at the bindings that name its user or
one of its groups, whatever the number of bindings.

Decisions and reasons are kube's: C{RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to
User "u"} when a rule allows, no opinion otherwise, with C{RBAC: <errors>} when a binding refers to
a role that does not exist.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from kapid.auth.interfaces import ALLOW, NO_OPINION, Attributes, Decision, IAuthorizer, UserInfo

log = Logger()

ROLE = "Role"
CLUSTER_ROLE = "ClusterRole"
ROLE_BINDING = "RoleBinding"
CLUSTER_ROLE_BINDING = "ClusterRoleBinding"
KINDS = (ROLE, CLUSTER_ROLE, ROLE_BINDING, CLUSTER_ROLE_BINDING)

#: kube's C{serviceaccount.ServiceAccountUsernamePrefix}.
SA_PREFIX = "system:serviceaccount:"


# -------------------------------------------------------------------------------------------------
# rule matching (kube's rbacv1helpers evaluation helpers)


def verb_matches(rule: dict, verb: str) -> bool:
    """
    The rule names the verb, or C{*}.
    """
    verbs = rule.get("verbs") or ()
    return "*" in verbs or verb in verbs


def api_group_matches(rule: dict, group: str) -> bool:
    """
    The rule names the API group, or C{*}.
    """
    groups = rule.get("apiGroups") or ()
    return "*" in groups or group in groups


def resource_matches(rule: dict, combined: str, subresource: str) -> bool:
    """
    The rule names the resource (C{<resource>} or C{<resource>/<subresource>}), C{*}, or C{*/<sub>}
    for the requested subresource.
    """
    for resource in rule.get("resources") or ():
        if resource == "*" or resource == combined:
            return True
        if subresource and resource == "*/" + subresource:
            return True
    return False


def resource_name_matches(rule: dict, name: str) -> bool:
    """
    The rule names no resources (every name), or this one.
    """
    names = rule.get("resourceNames") or ()
    return not names or name in names


def non_resource_url_matches(rule: dict, path: str) -> bool:
    """
    The rule names the path, C{*}, or a prefix of it ending in C{*}.
    """
    for url in rule.get("nonResourceURLs") or ():
        if url == "*" or url == path:
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attributes: Attributes, rule: dict) -> bool:
    """
    kube's C{RuleAllows}: whether one policy rule allows the request.
    """
    if attributes.is_resource_request:
        combined = attributes.resource
        if attributes.subresource:
            combined += "/" + attributes.subresource
        return (
            verb_matches(rule, attributes.verb)
            and api_group_matches(rule, attributes.api_group)
            and resource_matches(rule, combined, attributes.subresource)
            and resource_name_matches(rule, attributes.name)
        )
    return verb_matches(rule, attributes.verb) and non_resource_url_matches(rule, attributes.path)


# -------------------------------------------------------------------------------------------------
# the index


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def subject_key(subject: dict, binding_namespace: str) -> Optional[tuple[str, str]]:
    """
    The index key of a binding subject: C{("user", name)} or C{("group", name)}; a ServiceAccount is
    the user C{system:serviceaccount:<ns>:<name>}, its namespace defaulting to the binding's (None
    when neither has one, or for an unknown kind).
    """
    kind = subject.get("kind")
    name = subject.get("name") or ""
    if kind == "User":
        return ("user", name)
    if kind == "Group":
        return ("group", name)
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        if not namespace:
            return None
        return ("user", f"{SA_PREFIX}{namespace}:{name}")
    return None


def _user_keys(user: UserInfo) -> list[tuple[str, str]]:
    return [("user", user.name)] + [("group", g) for g in user.groups]


def describe_subject(subject: dict, binding_namespace: str) -> str:
    """
    kube's C{describeSubject}.
    """
    kind = subject.get("kind") or ""
    name = subject.get("name") or ""
    if kind == "ServiceAccount":
        return f"{kind} {_go_quote(name + '/' + (subject.get('namespace') or binding_namespace))}"
    return f"{kind} {_go_quote(name)}"


def _not_found(resource: str, name: str) -> str:
    return f"{resource}.rbac.authorization.k8s.io {_go_quote(name)} not found"


def aggregate_errors(errors: list[str]) -> str:
    """
    Go's C{utilerrors.NewAggregate(...).Error()}: one error as it is, several in brackets.
    """
    if len(errors) == 1:
        return errors[0]
    return "[" + ", ".join(errors) + "]"


class RBACIndex:
    """
    Roles, ClusterRoles and bindings in memory (storage objects), bindings indexed by subject.

    @ivar synced: True once every kind has been listed.
    @ivar listeners: called with C{(kind, old, new)} after each change (old or new None on add or
        delete); L{replace} calls them with C{(kind, None, None)}.
    """

    def __init__(self) -> None:
        self.roles: dict[tuple[str, str], dict] = {}
        self.cluster_roles: dict[str, dict] = {}
        self.role_bindings: dict[tuple[str, str], dict] = {}
        self.cluster_role_bindings: dict[str, dict] = {}
        # namespace ("" for cluster role bindings) -> subject key -> binding names
        self._by_subject: dict[str, dict[tuple[str, str], set[str]]] = {}
        self.synced_kinds: set[str] = set()
        self.listeners: list[Callable[[str, Optional[dict], Optional[dict]], None]] = []
        self._waiting: list[Deferred] = []

    @property
    def synced(self) -> bool:
        """
        Every kind has been listed at least once.
        """
        return len(self.synced_kinds) == len(KINDS)

    def when_synced(self) -> Deferred:
        """
        A Deferred firing (with None) once L{synced}.
        """
        d: Deferred = Deferred()
        if self.synced:
            d.callback(None)
        else:
            self._waiting.append(d)
        return d

    # -- changes ------------------------------------------------------------------------------

    def _table(self, kind: str) -> dict[Any, dict]:
        tables: dict[str, dict[Any, dict]] = {
            ROLE: self.roles, CLUSTER_ROLE: self.cluster_roles,
            ROLE_BINDING: self.role_bindings, CLUSTER_ROLE_BINDING: self.cluster_role_bindings,
        }
        return tables[kind]

    @staticmethod
    def _key(kind: str, obj: dict) -> Any:
        meta = obj.get("metadata") or {}
        if kind in (ROLE, ROLE_BINDING):
            return (meta.get("namespace") or "", meta.get("name") or "")
        return meta.get("name") or ""

    def _index_binding(self, kind: str, binding: dict, add: bool) -> None:
        meta = binding.get("metadata") or {}
        namespace = (meta.get("namespace") or "") if kind == ROLE_BINDING else ""
        name = meta.get("name") or ""
        table = self._by_subject.setdefault(namespace, {})
        for subject in binding.get("subjects") or ():
            key = subject_key(subject, namespace)
            if key is None:
                continue
            if add:
                table.setdefault(key, set()).add(name)
            else:
                names = table.get(key)
                if names is not None:
                    names.discard(name)
                    if not names:
                        del table[key]

    def put(self, kind: str, obj: dict) -> None:
        """
        Add or replace one object.
        """
        table = self._table(kind)
        key = self._key(kind, obj)
        old = table.get(key)
        if kind in (ROLE_BINDING, CLUSTER_ROLE_BINDING) and old is not None:
            self._index_binding(kind, old, False)
        table[key] = obj
        if kind in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
            self._index_binding(kind, obj, True)
        self._changed(kind, old, obj)

    def delete(self, kind: str, obj: dict) -> None:
        """
        Remove one object (nothing when absent).
        """
        table = self._table(kind)
        old = table.pop(self._key(kind, obj), None)
        if old is None:
            return
        if kind in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
            self._index_binding(kind, old, False)
        self._changed(kind, old, None)

    def replace(self, kind: str, objs: list[dict]) -> None:
        """
        Replace every object of C{kind} (after a list); marks the kind synced.
        """
        table = self._table(kind)
        if kind in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
            for old in table.values():
                self._index_binding(kind, old, False)
        table.clear()
        for obj in objs:
            table[self._key(kind, obj)] = obj
            if kind in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
                self._index_binding(kind, obj, True)
        self.synced_kinds.add(kind)
        self._changed(kind, None, None)
        if self.synced:
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)

    def _changed(self, kind: str, old: Optional[dict], new: Optional[dict]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, old, new)
            except Exception:
                log.failure("RBAC index listener failed")

    # -- resolution ---------------------------------------------------------------------------

    def role_ref_rules(self, role_ref: dict, namespace: str) -> tuple[list[dict], Optional[str]]:
        """
        kube's C{GetRoleReferenceRules}: the rules of a binding's role, or an error message.
        """
        kind = role_ref.get("kind")
        name = role_ref.get("name") or ""
        if kind == ROLE:
            role = self.roles.get((namespace, name))
            if role is None:
                return [], _not_found("role", name)
            return list(role.get("rules") or ()), None
        if kind == CLUSTER_ROLE:
            cluster_role = self.cluster_roles.get(name)
            if cluster_role is None:
                return [], _not_found("clusterrole", name)
            return list(cluster_role.get("rules") or ()), None
        return [], f"unsupported role reference kind: {_go_quote(kind or '')}"

    def _bindings_for(self, user: UserInfo, namespace: str) -> list[str]:
        table = self._by_subject.get(namespace)
        if not table:
            return []
        names: set[str] = set()
        for key in _user_keys(user):
            found = table.get(key)
            if found:
                names |= found
        return sorted(names)

    def visit(self, user: UserInfo, namespace: str) -> Iterator[tuple[Optional[Callable[[], str]], Optional[dict], Optional[str]]]:
        """
        kube's C{VisitRulesFor}: C{(describe, rule, error)} for every rule that applies to C{user}
        in C{namespace} (cluster role bindings first, then the namespace's role bindings), and
        every error found resolving roles; C{describe()} names the binding (kube's source
        describers).
        """
        for name in self._bindings_for(user, ""):
            binding = self.cluster_role_bindings[name]
            subject = _applying_subject(user, binding, "")
            if subject is None:
                continue
            rules, error = self.role_ref_rules(binding.get("roleRef") or {}, "")
            if error is not None:
                yield None, None, error
                continue
            describe = _describer(CLUSTER_ROLE_BINDING, binding, subject, "")
            for rule in rules:
                yield describe, rule, None
        if not namespace:
            return
        for name in self._bindings_for(user, namespace):
            binding = self.role_bindings[(namespace, name)]
            subject = _applying_subject(user, binding, namespace)
            if subject is None:
                continue
            rules, error = self.role_ref_rules(binding.get("roleRef") or {}, namespace)
            if error is not None:
                yield None, None, error
                continue
            describe = _describer(ROLE_BINDING, binding, subject, namespace)
            for rule in rules:
                yield describe, rule, None

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str]]:
        """
        kube's C{RulesFor}: every rule that applies, and the resolution errors.
        """
        rules: list[dict] = []
        errors: list[str] = []
        for _, rule, error in self.visit(user, namespace):
            if rule is not None:
                rules.append(rule)
            if error is not None:
                errors.append(error)
        return rules, errors


def _applying_subject(user: UserInfo, binding: dict, namespace: str) -> Optional[dict]:
    keys = set(_user_keys(user))
    for subject in binding.get("subjects") or ():
        key = subject_key(subject, namespace)
        if key is not None and key in keys:
            return subject
    return None


def _describer(kind: str, binding: dict, subject: dict, namespace: str) -> Callable[[], str]:
    def describe() -> str:
        name = (binding.get("metadata") or {}).get("name") or ""
        if kind == ROLE_BINDING:
            name = f"{name}/{namespace}"
        ref = binding.get("roleRef") or {}
        return (
            f"{kind} {_go_quote(name)} of {ref.get('kind', '')} {_go_quote(ref.get('name') or '')} to "
            + describe_subject(subject, namespace)
        )

    return describe


# -------------------------------------------------------------------------------------------------
# the authorizer


@implementer(IAuthorizer)
class RBACAuthorizer:
    """
    kube's C{RBACAuthorizer} over an L{RBACIndex}.
    """

    def __init__(self, index: RBACIndex) -> None:
        self.index = index

    def authorize(self, attributes: Attributes) -> Decision:
        """
        Allow when a rule that applies to the user allows the request; no opinion otherwise (with
        the role resolution errors as the reason).
        """
        errors: list[str] = []
        for describe, rule, error in self.index.visit(attributes.user, attributes.namespace):
            if rule is not None and describe is not None and rule_allows(attributes, rule):
                return Decision(ALLOW, "RBAC: allowed by " + describe())
            if error is not None:
                errors.append(error)
        if errors:
            return Decision(NO_OPINION, "RBAC: " + aggregate_errors(errors))
        return Decision(NO_OPINION)

    def rules_for(self, user: Any, namespace: str) -> tuple[list[dict], list[dict], bool, str]:
        """
        The user's rules in C{namespace}: resource rules, non-resource rules, never incomplete,
        and the resolution errors (kube's C{evaluationError}).
        """
        rules, errors = self.index.rules_for(user, namespace)
        resource_rules = []
        non_resource_rules = []
        for rule in rules:
            if rule.get("resources"):
                out = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or [])}
                out["resources"] = list(rule["resources"])
                if rule.get("resourceNames"):
                    out["resourceNames"] = list(rule["resourceNames"])
                resource_rules.append(out)
            if rule.get("nonResourceURLs"):
                non_resource_rules.append(
                    {"verbs": list(rule.get("verbs") or []), "nonResourceURLs": list(rule["nonResourceURLs"])}
                )
        return resource_rules, non_resource_rules, False, aggregate_errors(errors) if errors else ""


# -------------------------------------------------------------------------------------------------
# keeping the index current


class RBACInformer:
    """
    Lists, then watches, the four RBAC kinds in an L{IStorage} and applies what it sees to an
    L{RBACIndex}.

    @ivar prefixes: kind -> storage key prefix of its objects.
    @ivar retry_delay: seconds before a watch that ended (or a failed list) is tried again. A
        watch that the storage ends with a 410 C{Expired} right after the list (the watch cache of
        the kind started after the list's revision, as on a fresh server) is listed again at once,
        once; a second expiry in a row waits C{retry_delay}.
    """

    def __init__(self, storage: Any, prefixes: dict[str, str], index: RBACIndex, clock: Any, retry_delay: float = 1.0) -> None:
        self.storage = storage
        self.prefixes = prefixes
        self.index = index
        self.clock = clock
        self.retry_delay = retry_delay
        self.stopped = False
        self._watchers: dict[str, Any] = {}
        self._retries: dict[str, Any] = {}
        #: kinds whose watch expired: listed again at once (then again after retry_delay)
        self._expired: set[str] = set()
        #: kinds whose last watch followed an immediate re-list after an expiry
        self._relisted: set[str] = set()

    def start(self) -> Deferred:
        """
        List and watch every kind; fires once every kind is listed and watched.
        """
        return Deferred.fromCoroutine(self._start_all())

    async def _start_all(self) -> None:
        for kind in self.prefixes:
            await self._start_kind(kind)

    async def _start_kind(self, kind: str) -> None:
        from kapid.storage.interfaces import ListOptions

        if self.stopped:
            return
        prefix = self.prefixes[kind]
        try:
            res = await self.storage.get_list(prefix, ListOptions())
            self.index.replace(kind, list(res["items"]))
            if self.stopped:
                return
            watcher = await self.storage.watch(
                prefix, ListOptions(resource_version=res["resourceVersion"]), lambda e: self._on_event(kind, e)
            )
        except Exception:
            log.failure("RBAC: listing or watching {kind}s failed; trying again", kind=kind)
            self._again(kind)
            return
        if self.stopped:
            watcher.stop()
            return
        self._watchers[kind] = watcher
        watcher.done.addBoth(lambda _: self._ended(kind, watcher))

    def _on_event(self, kind: str, event: Any) -> None:
        from kapid.storage.interfaces import ADDED, DELETED, ERROR, MODIFIED, ExpiredError

        if event.type == ERROR:
            if isinstance(event.error, ExpiredError) and kind not in self._relisted:
                self._expired.add(kind)
            watcher = self._watchers.get(kind)
            if watcher is not None:
                watcher.stop()
            return
        if event.object is None:
            return
        self._relisted.discard(kind)
        if event.type in (ADDED, MODIFIED):
            self.index.put(kind, event.object)
        elif event.type == DELETED:
            self.index.delete(kind, event.object)

    def _ended(self, kind: str, watcher: Any) -> None:
        if self._watchers.get(kind) is watcher:
            del self._watchers[kind]
        self._again(kind)

    def _again(self, kind: str) -> None:
        if self.stopped or kind in self._retries:
            return

        def run() -> None:
            self._retries.pop(kind, None)
            Deferred.fromCoroutine(self._start_kind(kind))

        delay = self.retry_delay
        if kind in self._expired:
            self._expired.discard(kind)
            self._relisted.add(kind)
            delay = 0
        self._retries[kind] = self.clock.callLater(delay, run)

    def stop(self) -> None:
        """
        End the watches and the retries.
        """
        self.stopped = True
        for call in self._retries.values():
            if call.active():
                call.cancel()
        self._retries.clear()
        watchers, self._watchers = list(self._watchers.values()), {}
        for w in watchers:
            w.stop()


def prefixes_of(registry: Any, etcd_prefix: str) -> dict[str, str]:
    """
    The storage key prefix of each RBAC kind in C{registry} (kinds it does not serve are left out).
    """
    out = {}
    plurals = {ROLE: "roles", CLUSTER_ROLE: "clusterroles", ROLE_BINDING: "rolebindings",
               CLUSTER_ROLE_BINDING: "clusterrolebindings"}
    for kind, plural in plurals.items():
        res = registry.lookup("rbac.authorization.k8s.io", "v1", plural)
        if res is not None:
            out[kind] = res.key_prefix(etcd_prefix)
    return out


class _WithMasters:
    """
    The privileged group, then RBAC (the authorizer of the C{escalate} and C{bind} checks).
    """

    def __init__(self, rbac: RBACAuthorizer) -> None:
        self.rbac = rbac

    def authorize(self, attributes: Attributes) -> Decision:
        from kapid.auth.interfaces import MASTERS_GROUP

        if MASTERS_GROUP in attributes.user.groups:
            return Decision(ALLOW)
        return self.rbac.authorize(attributes)


def rbac_for_service(service: Any) -> RBACAuthorizer:
    """
    The server's one RBAC authorizer (made on first use and kept as C{service.rbac_authorizer}),
    its index fed by an L{RBACInformer} over the served storage (C{service.api_storage}) once that
    exists; stopped when the server's shutdown begins. The registry's RBAC resources get the
    escalation checks (L{EscalationGuard}).
    """
    existing = getattr(service, "rbac_authorizer", None)
    if existing is not None:
        return existing
    index = RBACIndex()
    authorizer = RBACAuthorizer(index)
    service.rbac_authorizer = authorizer
    storage = getattr(service, "api_storage", None)
    registry = getattr(service, "registry", None)
    if storage is None or registry is None:
        return authorizer
    from kapid.registry.builtin import rbac as rbac_resources

    served = [r for r in (registry.lookup("rbac.authorization.k8s.io", "v1", p)
                          for p in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")) if r is not None]
    for res in rbac_resources.guarded(served, EscalationGuard(index, _WithMasters(authorizer))):
        registry.add(res)
    prefixes = prefixes_of(registry, service.config.etcd.etcd_prefix)
    for kind in KINDS:
        if kind not in prefixes:
            index.replace(kind, [])
    informer = RBACInformer(storage, prefixes, index, service.reactor)
    service.rbac_informer = informer
    stage = getattr(service, "shutdown_initiated", None)
    if stage is not None:
        stage.when_reached().addCallback(lambda _: informer.stop())
    informer.start().addErrback(lambda f: log.failure("RBAC informer failed to start", f))
    return authorizer


# -------------------------------------------------------------------------------------------------
# comparing rules (kube's policy comparator, for escalation checks and reconciliation)


def breakdown_rule(rule: dict) -> list[dict]:
    """
    kube's C{BreakdownRule}: one rule per (API group, resource, verb[, resource name]) and per
    (non-resource URL, verb).
    """
    out: list[dict] = []
    names = list(rule.get("resourceNames") or ())
    for group in rule.get("apiGroups") or ():
        for resource in rule.get("resources") or ():
            for verb in rule.get("verbs") or ():
                base = {"verbs": [verb], "apiGroups": [group], "resources": [resource]}
                if names:
                    out.extend(dict(base, resourceNames=[n]) for n in names)
                else:
                    out.append(base)
    for url in rule.get("nonResourceURLs") or ():
        for verb in rule.get("verbs") or ():
            out.append({"verbs": [verb], "nonResourceURLs": [url]})
    return out


def _has_all(owned: Any, wanted: Any) -> bool:
    owned = set(owned or ())
    return all(w in owned for w in wanted or ())


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    if "*" in owned or _has_all(owned, wanted):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path:
            return False
        if "*/" + path.split("/", 1)[1] not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: dict, sub: dict) -> bool:
    """
    kube's C{ruleCovers}: whether C{owner} grants everything C{sub} does.
    """
    verbs = owner.get("verbs") or ()
    groups = owner.get("apiGroups") or ()
    if not ("*" in verbs or _has_all(verbs, sub.get("verbs"))):
        return False
    if not ("*" in groups or _has_all(groups, sub.get("apiGroups"))):
        return False
    if not _resources_cover(list(owner.get("resources") or ()), list(sub.get("resources") or ())):
        return False
    for path in sub.get("nonResourceURLs") or ():
        if not any(_url_covers(o, path) for o in owner.get("nonResourceURLs") or ()):
            return False
    owner_names = owner.get("resourceNames") or ()
    if sub.get("resourceNames"):
        return not owner_names or _has_all(owner_names, sub["resourceNames"])
    return not owner_names


def covers(owned: list[dict], wanted: list[dict]) -> tuple[bool, list[dict]]:
    """
    kube's C{Covers}: whether C{owned} grants everything in C{wanted}, and the broken-down
    rules it does not.
    """
    missing = []
    for rule in wanted:
        for sub in breakdown_rule(rule):
            if not any(rule_covers(o, sub) for o in owned):
                missing.append(sub)
    return not missing, missing


def compact_rules(rules: list[dict]) -> list[dict]:
    """
    kube's C{CompactRules}: rules of one API group and one resource without names merged into one
    rule with every verb; others kept.
    """
    out: list[dict] = []
    simple: dict[tuple[str, str], dict] = {}
    for rule in rules:
        groups = list(rule.get("apiGroups") or ())
        resources = list(rule.get("resources") or ())
        if len(groups) == 1 and len(resources) == 1 and not rule.get("resourceNames") and not rule.get("nonResourceURLs"):
            key = (groups[0], resources[0])
            existing = simple.get(key)
            if existing is None:
                existing = {"verbs": [], "apiGroups": [groups[0]], "resources": [resources[0]]}
                simple[key] = existing
                out.append(existing)
            for verb in rule.get("verbs") or ():
                if verb not in existing["verbs"]:
                    existing["verbs"].append(verb)
        else:
            out.append(rule)
    return out


def _go_strings(items: Any) -> str:
    return "[" + " ".join(_go_quote(i) for i in items) + "]"


def compact_string(rule: dict) -> str:
    """
    kube's C{CompactString} of a policy rule: C{{APIGroups:["apps"], Resources:["deployments"],
    Verbs:["get"]}}.
    """
    parts = []
    for field, key in (("APIGroups", "apiGroups"), ("Resources", "resources"), ("NonResourceURLs", "nonResourceURLs"),
                       ("ResourceNames", "resourceNames"), ("Verbs", "verbs")):
        if rule.get(key):
            parts.append(f"{field}:{_go_strings(rule[key])}")
    return "{" + ", ".join(parts) + "}"


# -------------------------------------------------------------------------------------------------
# escalation prevention (kube's policy-based RBAC storage)

#: what an C{aggregationRule} may gather: everything (kube's C{fullAuthority}).
FULL_AUTHORITY = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


def _go_strings_q(items: Any) -> str:
    return "[" + " ".join(_go_quote(i) for i in items) + "]"


class EscalationGuard:
    """
    Refuses (403, kube's message) a Role, ClusterRole or binding that would give more than the
    requester holds, unless the requester is in C{system:masters}, may C{escalate} (roles) or
    C{bind} (bindings), or the change cannot grant anything (same rules / role reference and
    subjects). Requests without a user (kapid's own writes) pass.

    @ivar authorizer: answers the C{escalate} and C{bind} checks (the RBAC authorizer).
    """

    def __init__(self, index: RBACIndex, authorizer: Any) -> None:
        self.index = index
        self.authorizer = authorizer

    def _allowed(self, user: UserInfo, verb: str, resource: str, namespace: str, name: str) -> bool:
        from kapid.auth.interfaces import MASTERS_GROUP

        if MASTERS_GROUP in user.groups:
            return True
        attributes = Attributes(
            user=user, verb=verb, is_resource_request=True, namespace=namespace,
            api_group="rbac.authorization.k8s.io", api_version="*", resource=resource, name=name,
        )
        decision = self.authorizer.authorize(attributes)
        return getattr(decision, "decision", None) == ALLOW

    def _confirm(self, user: UserInfo, namespace: str, rules: list[dict]) -> Optional[str]:
        owned, errors = self.index.rules_for(user, namespace)
        ok, missing = covers(owned, rules)
        if ok:
            return None
        descriptions = sorted({compact_string(r) for r in compact_rules(missing)})
        msg = (
            f"user {_go_quote(user.name)} (groups={_go_strings_q(user.groups)}) is attempting to grant RBAC "
            "permissions not currently held:\n" + "\n".join(descriptions)
        )
        if errors:
            msg += "; resolution errors: [" + " ".join(errors) + "]"
        return msg

    def check_role(self, plural: str, obj: dict, old: Optional[dict], user: Optional[UserInfo]) -> None:
        """
        Raise a 403 L{StatusError} when C{user} may not create or update the role C{obj}.
        """
        from kapid.apimachinery.status import forbidden

        if user is None:
            return
        if old is not None and obj.get("rules") == old.get("rules") and obj.get("aggregationRule") == old.get("aggregationRule"):
            return
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        name = meta.get("name") or ""
        if self._allowed(user, "escalate", plural, namespace, name if old is not None else ""):
            return
        error = self._confirm(user, namespace, list(obj.get("rules") or []))
        if error is not None:
            raise forbidden(plural, name, error, "rbac.authorization.k8s.io")
        if obj.get("aggregationRule") and self._confirm(user, namespace, FULL_AUTHORITY) is not None:
            raise forbidden(plural, name, "must have cluster-admin privileges to use the aggregationRule",
                            "rbac.authorization.k8s.io")

    def check_binding(self, plural: str, obj: dict, old: Optional[dict], user: Optional[UserInfo]) -> None:
        """
        Raise a 403 (or the role's 404) L{StatusError} when C{user} may not create or update the
        binding C{obj}.
        """
        from kapid.apimachinery.status import forbidden, not_found

        if user is None:
            return
        if old is not None and obj.get("roleRef") == old.get("roleRef") and obj.get("subjects") == old.get("subjects"):
            return
        from kapid.auth.interfaces import MASTERS_GROUP

        if MASTERS_GROUP in user.groups:
            return
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        ref = obj.get("roleRef") or {}
        role_plural = "clusterroles" if ref.get("kind") == CLUSTER_ROLE else "roles"
        if self._allowed(user, "bind", role_plural, namespace, ref.get("name") or ""):
            return
        rules, error = self.index.role_ref_rules(ref, namespace)
        if error is not None:
            if ref.get("kind") in (ROLE, CLUSTER_ROLE):
                raise not_found(ref["kind"].lower(), ref.get("name") or "", "rbac.authorization.k8s.io")
            raise forbidden(plural, meta.get("name") or "", error, "rbac.authorization.k8s.io")
        message = self._confirm(user, namespace, rules)
        if message is not None:
            raise forbidden(plural, meta.get("name") or "", message, "rbac.authorization.k8s.io")
