"""
Tests of L{kapid.auth.rbac}, L{kapid.auth.rbac_bootstrap} and L{kapid.auth.bootstrappolicy}: kube's
rule matching, the rule resolver and its reasons, the index kept current by watches on the memory
store, escalation prevention, the default policy's reconciliation and clusterrole aggregation.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource

from kapid.apimachinery.status import StatusError
from kapid.auth import bootstrappolicy
from kapid.auth.authorizers import build_authorizer
from kapid.auth.interfaces import ALLOW, NO_OPINION, Attributes, UserInfo
from kapid.auth.rbac import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    ROLE,
    ROLE_BINDING,
    EscalationGuard,
    RBACAuthorizer,
    RBACIndex,
    RBACInformer,
    compact_rules,
    compact_string,
    covers,
    prefixes_of,
    rule_allows,
)
from kapid.auth.rbac_bootstrap import AggregationController, ensure_policy, reconcile_role
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.registry.builtin import rbac as rbac_resources
from kapid.storage.cacher import CachingStorage
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store

GROUP = "rbac.authorization.k8s.io"


def resource_attrs(verb: str, resource: str, group: str = "", namespace: str = "", name: str = "",
                   subresource: str = "", user: Optional[UserInfo] = None) -> Attributes:
    return Attributes(user=user or UserInfo("alice"), verb=verb, is_resource_request=True, namespace=namespace,
                      api_group=group, resource=resource, subresource=subresource, name=name)


def url_attrs(verb: str, path: str, user: Optional[UserInfo] = None) -> Attributes:
    return Attributes(user=user or UserInfo("alice"), verb=verb, is_resource_request=False, path=path)


def role(name: str, rules: list[dict], namespace: str = "", labels: Optional[dict] = None, **extra: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    kind = "Role" if namespace else "ClusterRole"
    return {"kind": kind, "apiVersion": f"{GROUP}/v1", "metadata": meta, "rules": rules, **extra}


def binding(name: str, ref_kind: str, ref_name: str, subjects: list[dict], namespace: str = "") -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    return {"kind": kind, "apiVersion": f"{GROUP}/v1", "metadata": meta,
            "roleRef": {"apiGroup": GROUP, "kind": ref_kind, "name": ref_name}, "subjects": subjects}


def user(name: str) -> dict:
    return {"kind": "User", "apiGroup": GROUP, "name": name}


def group(name: str) -> dict:
    return {"kind": "Group", "apiGroup": GROUP, "name": name}


def sa(name: str, namespace: str = "") -> dict:
    out = {"kind": "ServiceAccount", "name": name}
    if namespace:
        out["namespace"] = namespace
    return out


def synced_index() -> RBACIndex:
    index = RBACIndex()
    for kind in (ROLE, CLUSTER_ROLE, ROLE_BINDING, CLUSTER_ROLE_BINDING):
        index.replace(kind, [])
    return index


class RuleMatchingTests(SynchronousTestCase):
    """
    kube's C{RuleAllows} cases.
    """

    def test_verbs_groups_resources(self) -> None:
        """
        Verbs and API groups match exactly or by C{*}; a resource rule never matches another group.
        """
        rule = {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"]}
        self.assertTrue(rule_allows(resource_attrs("get", "deployments", "apps"), rule))
        self.assertFalse(rule_allows(resource_attrs("delete", "deployments", "apps"), rule))
        self.assertFalse(rule_allows(resource_attrs("get", "deployments", "extensions"), rule))
        self.assertFalse(rule_allows(resource_attrs("get", "replicasets", "apps"), rule))
        star = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
        self.assertTrue(rule_allows(resource_attrs("escalate", "roles", GROUP), star))

    def test_subresources(self) -> None:
        """
        C{pods} does not grant C{pods/log}; C{pods/log} does, C{*} does, and C{*/scale} grants every
        resource's scale.
        """
        log = resource_attrs("get", "pods", subresource="log")
        self.assertFalse(rule_allows(log, {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}))
        self.assertTrue(rule_allows(log, {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}))
        self.assertTrue(rule_allows(log, {"verbs": ["get"], "apiGroups": [""], "resources": ["*"]}))
        scale = {"verbs": ["update"], "apiGroups": ["*"], "resources": ["*/scale"]}
        self.assertTrue(rule_allows(resource_attrs("update", "deployments", "apps", subresource="scale"), scale))
        self.assertFalse(rule_allows(resource_attrs("update", "deployments", "apps"), scale))

    def test_resource_names(self) -> None:
        """
        resourceNames restrict to those names (a request without a name, e.g. list, is not granted).
        """
        rule = {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"]}
        self.assertTrue(rule_allows(resource_attrs("get", "configmaps", name="cfg"), rule))
        self.assertFalse(rule_allows(resource_attrs("get", "configmaps", name="other"), rule))
        self.assertFalse(rule_allows(resource_attrs("list", "configmaps"), rule))

    def test_non_resource_urls(self) -> None:
        """
        Exact URLs, C{*}-suffixed prefixes and C{*}; resource rules never grant URLs.
        """
        rule = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
        self.assertTrue(rule_allows(url_attrs("get", "/healthz"), rule))
        self.assertFalse(rule_allows(url_attrs("get", "/healthz/etcd"), rule))
        self.assertTrue(rule_allows(url_attrs("get", "/apis/apps/v1"), rule))
        self.assertFalse(rule_allows(url_attrs("post", "/apis/apps"), rule))
        self.assertTrue(rule_allows(url_attrs("get", "/anything"), {"verbs": ["get"], "nonResourceURLs": ["*"]}))
        self.assertFalse(rule_allows(url_attrs("get", "/healthz"), {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}))
        self.assertFalse(rule_allows(resource_attrs("get", "pods"), rule))


class AuthorizerTests(SynchronousTestCase):
    """
    The rule resolver over the index: subjects, role references, reasons, rules.
    """

    def setUp(self) -> None:
        self.index = synced_index()
        self.authorizer = RBACAuthorizer(self.index)
        self.index.put(ROLE, role("reader", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], "team"))
        self.index.put(CLUSTER_ROLE, role("urls", [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}]))

    def decide(self, attributes: Attributes) -> Any:
        return self.authorizer.authorize(attributes)

    def test_service_account_subject_defaults_to_binding_namespace(self) -> None:
        """
        A RoleBinding's ServiceAccount subject without a namespace is in the binding's namespace;
        the grant holds in that namespace only, with kube's reason.
        """
        self.index.put(ROLE_BINDING, binding("b", "Role", "reader", [sa("bot")], "team"))
        bot = UserInfo("system:serviceaccount:team:bot", groups=("system:serviceaccounts",))
        decision = self.decide(resource_attrs("get", "pods", namespace="team", user=bot))
        self.assertEqual(decision.decision, ALLOW)
        self.assertEqual(decision.reason, 'RBAC: allowed by RoleBinding "b/team" of Role "reader" to ServiceAccount "bot/team"')
        self.assertEqual(self.decide(resource_attrs("get", "pods", namespace="other", user=bot)).decision, NO_OPINION)
        self.assertEqual(self.decide(resource_attrs("get", "pods", user=bot)).decision, NO_OPINION)

    def test_cluster_binding_of_a_group(self) -> None:
        """
        A ClusterRoleBinding to a group grants its members everywhere; a ServiceAccount subject
        without a namespace in a ClusterRoleBinding applies to nobody.
        """
        self.index.put(CLUSTER_ROLE_BINDING, binding("m", "ClusterRole", "urls", [group("ops"), sa("nobody")]))
        decision = self.decide(url_attrs("get", "/metrics", UserInfo("bob", groups=("ops",))))
        self.assertEqual(decision.reason, 'RBAC: allowed by ClusterRoleBinding "m" of ClusterRole "urls" to Group "ops"')
        self.assertEqual(self.decide(url_attrs("get", "/metrics", UserInfo("bob"))).decision, NO_OPINION)
        self.assertEqual(
            self.decide(url_attrs("get", "/metrics", UserInfo("system:serviceaccount::nobody"))).decision, NO_OPINION
        )

    def test_missing_role_is_no_access_with_a_reason(self) -> None:
        """
        A binding to a role that does not exist grants nothing; the reason names it as kube does.
        """
        self.index.put(ROLE_BINDING, binding("b", "Role", "gone", [user("alice")], "team"))
        self.index.put(CLUSTER_ROLE_BINDING, binding("c", "ClusterRole", "gone-too", [user("alice")]))
        decision = self.decide(resource_attrs("get", "pods", namespace="team"))
        self.assertEqual(decision.decision, NO_OPINION)
        self.assertEqual(
            decision.reason,
            'RBAC: [clusterrole.rbac.authorization.k8s.io "gone-too" not found, '
            'role.rbac.authorization.k8s.io "gone" not found]',
        )

    def test_changes_apply_at_once(self) -> None:
        """
        Deleting the binding or changing the role takes effect on the next decision.
        """
        b = binding("b", "Role", "reader", [user("alice")], "team")
        self.index.put(ROLE_BINDING, b)
        attrs = resource_attrs("get", "pods", namespace="team")
        self.assertEqual(self.decide(attrs).decision, ALLOW)
        self.index.put(ROLE, role("reader", [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}], "team"))
        self.assertEqual(self.decide(attrs).decision, NO_OPINION)
        self.assertEqual(self.decide(resource_attrs("list", "pods", namespace="team")).decision, ALLOW)
        self.index.delete(ROLE_BINDING, b)
        self.assertEqual(self.decide(resource_attrs("list", "pods", namespace="team")).decision, NO_OPINION)

    def test_rules_for(self) -> None:
        """
        The rules a user has in a namespace, split into resource and non-resource rules.
        """
        self.index.put(ROLE_BINDING, binding("b", "Role", "reader", [user("alice")], "team"))
        self.index.put(CLUSTER_ROLE_BINDING, binding("c", "ClusterRole", "urls", [user("alice")]))
        resource_rules, urls, incomplete, error = self.authorizer.rules_for(UserInfo("alice"), "team")
        self.assertEqual(resource_rules, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
        self.assertEqual(urls, [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}])
        self.assertEqual((incomplete, error), (False, ""))

    def test_union_with_masters(self) -> None:
        """
        With C{--authorization-mode=RBAC}, system:masters may do anything and others are denied by
        default.
        """
        authorizer = build_authorizer(["RBAC"], rbac_index=self.index)
        masters = UserInfo("admin", groups=("system:masters",))
        self.assertEqual(authorizer.authorize(resource_attrs("delete", "nodes", user=masters)).decision, ALLOW)
        self.assertEqual(authorizer.authorize(resource_attrs("delete", "nodes")).decision, NO_OPINION)


class InformerTests(TestCase):
    """
    The index follows the storage through list and watch.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.clock = Clock()
        storage = Store(MemoryKV(self.clock), self.clock)
        self.registry = builtin_registry()
        self.link = ResourceLink(Resource(), self.registry, storage, self.clock)
        await self.link.ensure_system_namespaces()
        self.roles = self.link.store_for(self.registry.lookup(GROUP, "v1", "roles"))
        self.bindings = self.link.store_for(self.registry.lookup(GROUP, "v1", "rolebindings"))
        self.index = RBACIndex()
        self.informer = RBACInformer(storage, prefixes_of(self.registry, "/registry"), self.index, self.clock)
        self.addCleanup(self.informer.stop)

    async def test_list_then_watch(self) -> None:
        """
        Objects that exist are listed; later creates, updates and deletes reach the index through
        the watch, so decisions change without reading the storage.
        """
        rule = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
        await self.roles.create("default", role("reader", [rule], "default"), "v1")
        await self.informer.start()
        self.assertTrue(self.index.synced)
        self.assertIn(("default", "reader"), self.index.roles)
        authorizer = RBACAuthorizer(self.index)
        attrs = resource_attrs("get", "pods", namespace="default")
        self.assertEqual(authorizer.authorize(attrs).decision, NO_OPINION)
        await self.bindings.create("default", binding("b", "Role", "reader", [user("alice")], "default"), "v1")
        self.assertEqual(authorizer.authorize(attrs).decision, ALLOW)
        await self.bindings.storage.delete(self.bindings.key("default", "b"))
        self.assertEqual(authorizer.authorize(attrs).decision, NO_OPINION)

    async def test_watch_restarts(self) -> None:
        """
        A watch that ends is started again (after a relist) after the retry delay.
        """
        await self.informer.start()
        self.informer._watchers[ROLE].stop()
        await self.roles.create("default", role("late", [], "default"), "v1")
        self.assertNotIn(("default", "late"), self.index.roles)
        self.clock.advance(self.informer.retry_delay)
        self.assertIn(("default", "late"), self.index.roles)


    async def test_expired_first_watch_relists_at_once(self) -> None:
        """
        When the storage ends the watch that follows a list with a 410 Expired (the kind's watch
        cache started after the list's revision, as on a fresh server with other writers), the kind
        is listed again at once, not after the retry delay.
        """
        clock = Clock()
        store = Store(MemoryKV(clock), clock)
        registry = builtin_registry()
        link = ResourceLink(Resource(), registry, store, clock)
        await link.ensure_system_namespaces()
        configmaps = link.store_for(registry.lookup("", "v1", "configmaps"))
        roles = link.store_for(registry.lookup(GROUP, "v1", "roles"))
        storage = _WriteAfterList(CachingStorage(store, clock), configmaps)
        index = RBACIndex()
        informer = RBACInformer(storage, prefixes_of(registry, "/registry"), index, clock)
        self.addCleanup(informer.stop)
        await informer.start()
        clock.advance(0)
        self.assertGreater(storage.lists, 4)
        await roles.create("default", role("late", [], "default"), "v1")
        self.assertIn(("default", "late"), index.roles)


class _WriteAfterList:
    """
    Real storage, and another writer that changes the store between each list and what follows.
    """

    def __init__(self, storage: Any, configmaps: Any) -> None:
        self.storage = storage
        self.configmaps = configmaps
        self.lists = 0

    def get_list(self, key: str, opts: Any) -> Deferred:
        async def listed(result: Any) -> Any:
            self.lists += 1
            await self.configmaps.create("default", {"metadata": {"name": f"w{self.lists}"}}, "v1")
            return result

        return self.storage.get_list(key, opts).addCallback(lambda r: Deferred.fromCoroutine(listed(r)))

    def watch(self, key: str, opts: Any, on_event: Any) -> Deferred:
        return self.storage.watch(key, opts, on_event)


class EscalationTests(SynchronousTestCase):
    """
    kube's escalation checks on roles and bindings.
    """

    def setUp(self) -> None:
        self.index = synced_index()
        self.guard = EscalationGuard(self.index, RBACAuthorizer(self.index))
        self.index.put(ROLE, role("reader", [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}], "team"))
        self.index.put(ROLE_BINDING, binding("b", "Role", "reader", [user("bob")], "team"))
        self.bob = UserInfo("bob", groups=("system:authenticated",))

    def test_role_within_held_rules(self) -> None:
        """
        A role granting part of what the requester holds is allowed; more is 403 with kube's
        message listing the missing rules compactly.
        """
        self.guard.check_role("roles", role("r", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], "team"), None, self.bob)
        big = role("r", [{"verbs": ["get", "delete", "create"], "apiGroups": [""], "resources": ["pods", "secrets"]}], "team")
        with self.assertRaises(StatusError) as raised:
            self.guard.check_role("roles", big, None, self.bob)
        self.assertEqual(raised.exception.code, 403)
        self.assertEqual(
            raised.exception.message,
            'roles.rbac.authorization.k8s.io "r" is forbidden: user "bob" (groups=["system:authenticated"]) is '
            "attempting to grant RBAC permissions not currently held:\n"
            '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}\n'
            '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete" "create"]}',
        )

    def test_escalate_and_masters(self) -> None:
        """
        The escalate verb, system:masters and kapid's own writes (no user) skip the check; an
        update that leaves the rules alone is not checked.
        """
        big = role("r", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}], "team")
        self.guard.check_role("roles", big, None, UserInfo("root", groups=("system:masters",)))
        self.guard.check_role("roles", big, None, None)
        self.guard.check_role("roles", big, copy.deepcopy(big), self.bob)
        self.index.put(ROLE, role("esc", [{"verbs": ["escalate"], "apiGroups": [GROUP], "resources": ["roles"]}], "team"))
        self.index.put(ROLE_BINDING, binding("e", "Role", "esc", [user("bob")], "team"))
        self.guard.check_role("roles", big, None, self.bob)

    def test_bindings(self) -> None:
        """
        Binding a role whose rules the requester holds is allowed; a bigger one is 403 unless the
        requester may bind it; a missing role is its 404.
        """
        self.index.put(CLUSTER_ROLE, role("admin", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]))
        self.guard.check_binding("rolebindings", binding("x", "Role", "reader", [user("eve")], "team"), None, self.bob)
        admin = binding("y", "ClusterRole", "admin", [user("eve")], "team")
        with self.assertRaises(StatusError) as raised:
            self.guard.check_binding("rolebindings", admin, None, self.bob)
        self.assertEqual(raised.exception.code, 403)
        self.assertTrue(raised.exception.message.startswith('rolebindings.rbac.authorization.k8s.io "y" is forbidden: user "bob"'))
        with self.assertRaises(StatusError) as raised:
            self.guard.check_binding("rolebindings", binding("z", "Role", "nosuch", [user("eve")], "team"), None, self.bob)
        self.assertEqual((raised.exception.code, raised.exception.message),
                         (404, 'role.rbac.authorization.k8s.io "nosuch" not found'))
        self.index.put(ROLE, role("binder", [{"verbs": ["bind"], "apiGroups": [GROUP], "resources": ["clusterroles"],
                                              "resourceNames": ["admin"]}], "team"))
        self.index.put(ROLE_BINDING, binding("bb", "Role", "binder", [user("bob")], "team"))
        self.guard.check_binding("rolebindings", admin, None, self.bob)

    def test_aggregation_rule_needs_everything(self) -> None:
        """
        A ClusterRole with an aggregationRule needs full authority.
        """
        aggregated = role("agg", [], aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]})
        with self.assertRaises(StatusError) as raised:
            self.guard.check_role("clusterroles", aggregated, None, self.bob)
        self.assertIn("must have cluster-admin privileges to use the aggregationRule", raised.exception.message)

    def test_guarded_strategies(self) -> None:
        """
        The registry's RBAC resources, guarded, refuse through the strategy hooks the store calls.
        """
        resources = rbac_resources.guarded(rbac_resources.RESOURCES, self.guard)
        roles = [r for r in resources if r.plural == "roles"][0]
        big = role("r", [{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}], "team")
        self.assertRaises(StatusError, roles.strategy.prepare_for_create_by, big, self.bob)
        self.assertRaises(StatusError, roles.strategy.prepare_for_update_by, big, role("r", [], "team"), self.bob)
        self.assertFalse(hasattr(rbac_resources.ROLES.strategy, "prepare_for_create_by"))


class ComparatorTests(SynchronousTestCase):
    """
    kube's policy comparator.
    """

    def test_covers(self) -> None:
        """
        Wildcards, C{*/sub} and resource names cover what they should, and what is missing is
        broken down.
        """
        owner = [{"verbs": ["*"], "apiGroups": [""], "resources": ["pods", "*/status"]},
                 {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s"]},
                 {"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}]
        self.assertEqual(covers(owner, [{"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods", "nodes/status"]}]), (True, []))
        self.assertEqual(covers(owner, [{"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]}]), (True, []))
        ok, missing = covers(owner, [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}])
        self.assertFalse(ok)
        self.assertEqual(missing, [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}])
        self.assertEqual(covers(owner, [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s"]}]), (True, []))

    def test_compact_string(self) -> None:
        """
        Compacted missing rules print as kube prints them.
        """
        rules = compact_rules([{"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]},
                               {"verbs": ["list"], "apiGroups": ["apps"], "resources": ["deployments"]},
                               {"verbs": ["get"], "nonResourceURLs": ["/x"]}])
        self.assertEqual([compact_string(r) for r in rules],
                         ['{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]}',
                          '{NonResourceURLs:["/x"], Verbs:["get"]}'])


class BootstrapTests(TestCase):
    """
    The default policy at start-up, and aggregation.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.clock = Clock()
        storage = Store(MemoryKV(self.clock), self.clock)
        registry = builtin_registry()
        self.link = ResourceLink(Resource(), registry, storage, self.clock)
        self.roles = self.link.store_for(registry.lookup(GROUP, "v1", "clusterroles"))
        self.bindings = self.link.store_for(registry.lookup(GROUP, "v1", "clusterrolebindings"))
        self.ns_roles = self.link.store_for(registry.lookup(GROUP, "v1", "roles"))
        self.ns_bindings = self.link.store_for(registry.lookup(GROUP, "v1", "rolebindings"))
        await self.link.ensure_system_namespaces()
        self.index = RBACIndex()
        self.informer = RBACInformer(storage, prefixes_of(registry, "/registry"), self.index, self.clock)
        self.addCleanup(self.informer.stop)
        await self.informer.start()

    async def test_created_then_nothing_to_do(self) -> None:
        """
        On an empty store every default role and binding is created; on the next start nothing is
        written.
        """
        writes = await ensure_policy(self.index, self.roles, self.bindings, self.ns_roles, self.ns_bindings)
        expected = (len(bootstrappolicy.CLUSTER_ROLES) + len(bootstrappolicy.CLUSTER_ROLE_BINDINGS)
                    + len(bootstrappolicy.NAMESPACE_ROLES) + len(bootstrappolicy.NAMESPACE_ROLE_BINDINGS))
        self.assertEqual(writes, expected)
        self.assertEqual(len(self.index.cluster_roles), len(bootstrappolicy.CLUSTER_ROLES))
        self.assertEqual(set(self.index.roles), set(bootstrappolicy.NAMESPACE_ROLES))
        self.assertIn("system:controller:namespace-controller", self.index.cluster_role_bindings)
        reader = UserInfo("system:kube-scheduler")
        decision = RBACAuthorizer(self.index).authorize(resource_attrs(
            "get", "configmaps", namespace="kube-system", name="extension-apiserver-authentication", user=reader))
        self.assertEqual(decision.decision, ALLOW)
        admin = self.index.cluster_roles["cluster-admin"]
        self.assertEqual(admin["metadata"]["annotations"], {"rbac.authorization.kubernetes.io/autoupdate": "true"})
        self.assertEqual(admin["metadata"]["labels"], {"kubernetes.io/bootstrapping": "rbac-defaults"})
        self.assertEqual(await ensure_policy(self.index, self.roles, self.bindings, self.ns_roles, self.ns_bindings), 0)
        decision = RBACAuthorizer(self.index).authorize(url_attrs("get", "/version", UserInfo("x", groups=("system:unauthenticated",))))
        self.assertEqual(decision.decision, ALLOW)

    async def test_reconcile(self) -> None:
        """
        A default role that lost rules gets them back (extra rules kept); one annotated
        autoupdate=false is left alone; a binding that lost its subject gets it back.
        """
        await ensure_policy(self.index, self.roles, self.bindings)
        extra = {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}

        def shrink(current: Optional[dict]) -> dict:
            assert current is not None
            current["rules"] = [extra]
            return current

        await self.roles.update("", "system:basic-user", shrink, "v1")

        def frozen(current: Optional[dict]) -> dict:
            assert current is not None
            current["rules"] = []
            current["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false"
            return current

        await self.roles.update("", "system:discovery", frozen, "v1")

        def no_subjects(current: Optional[dict]) -> dict:
            assert current is not None
            current.pop("subjects", None)
            return current

        await self.bindings.update("", "cluster-admin", no_subjects, "v1")
        self.assertEqual(await ensure_policy(self.index, self.roles, self.bindings), 2)
        basic = self.index.cluster_roles["system:basic-user"]["rules"]
        self.assertEqual(basic[0], extra)
        self.assertTrue(covers(basic, bootstrappolicy.CLUSTER_ROLES["system:basic-user"][0])[0])
        self.assertEqual(self.index.cluster_roles["system:discovery"]["rules"], [])
        self.assertEqual(self.index.cluster_role_bindings["cluster-admin"]["subjects"],
                         [group("system:masters")])

    def test_reconcile_role_keeps_aggregated_rules(self) -> None:
        """
        An aggregated default role is not given rules by reconciliation (the controller does).
        """
        expected = [r for r in bootstrappolicy.cluster_roles() if r["metadata"]["name"] == "admin"][0]
        existing = copy.deepcopy(expected)
        existing["rules"] = [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
        self.assertIsNone(reconcile_role(expected, existing))

    async def test_aggregation(self) -> None:
        """
        admin, edit and view gather their labelled roles, and follow a new labelled role.
        """
        await ensure_policy(self.index, self.roles, self.bindings)
        controller = AggregationController(self.index, self.roles, self.clock)
        self.addCleanup(controller.stop)
        controller.start()
        for _ in range(5):
            self.clock.advance(0)
            if controller._working is not None:
                await controller._working
        view = self.index.cluster_roles["view"]["rules"]
        self.assertEqual(view, bootstrappolicy.CLUSTER_ROLES["system:aggregate-to-view"][0])
        admin = self.index.cluster_roles["admin"]["rules"]
        self.assertTrue(all(r in admin for r in view))
        crd_rule = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
        await self.roles.create("", role("widgets-view", [crd_rule], labels={
            "rbac.authorization.k8s.io/aggregate-to-view": "true"}), "v1")
        for _ in range(10):
            self.clock.advance(0)
            if controller._working is not None:
                await controller._working
        for name in ("view", "edit", "admin"):
            self.assertIn(crd_rule, self.index.cluster_roles[name]["rules"], name)
