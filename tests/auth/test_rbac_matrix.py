"""
The RBAC matrix: for several users × resources × verbs × namespaces, the calls the real handler chain
(request info, the user, RBAC authorization, the resource API on the memory store) lets through are
exactly what the users' Roles say, and exactly what their SelfSubjectRulesReview reports.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.trial.unittest import TestCase

from kapid.auth.authorizers import build_authorizer
from kapid.auth.interfaces import Attributes, UserInfo
from kapid.auth.rbac import RBACIndex, RBACInformer, prefixes_of, rule_allows
from kapid.registry.builtin.authorization import SelfSubjectRulesReviewREST
from kapid.server.filters.authz import AuthorizationFilter
from kapid.server.filters.requestinfo import RequestInfoFilter
from tests.endpoints.helpers import API, AsUser

GROUP = "rbac.authorization.k8s.io"
NAMESPACES = ("a", "b")
RESOURCES = ("configmaps", "secrets", "services")
VERBS = ("get", "list")

#: user -> [(namespace or None for everywhere, rule)]: what the test's Roles grant, written again
#: independently of RBAC objects.
GRANTS: dict[str, list[tuple[Any, dict]]] = {
    "ann": [("a", {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]})],
    "ben": [(None, {"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]}),
            (None, {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["one"]})],
    "cat": [("b", {"verbs": ["*"], "apiGroups": [""], "resources": ["configmaps", "services"]})],
    "dan": [],
}


class MatrixTests(TestCase):
    """
    Allowed calls = the Roles = the rules review.
    """

    def test_matrix(self) -> None:
        """
        Every combination, through HTTP.
        """
        api = API(self)
        index = RBACIndex()
        informer = RBACInformer(api.storage, prefixes_of(api.registry, "/registry"), index, api.clock)
        self.addCleanup(informer.stop)
        api.run(informer.start())
        for ns in NAMESPACES:
            api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            for name in ("one", "two"):
                api.post(f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                 "metadata": {"name": name}})
                api.post(f"/api/v1/namespaces/{ns}/secrets", {"apiVersion": "v1", "kind": "Secret",
                                                              "metadata": {"name": name}})
                api.post(f"/api/v1/namespaces/{ns}/services", {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                    "spec": {"ports": [{"port": 80}], "clusterIP": "None"}})
        rbac = f"/apis/{GROUP}/v1"
        api.post(rbac + "/namespaces/a/roles", {"apiVersion": f"{GROUP}/v1", "kind": "Role", "metadata": {"name": "r"},
                                                "rules": [GRANTS["ann"][0][1]]})
        api.post(rbac + "/namespaces/a/rolebindings", {
            "apiVersion": f"{GROUP}/v1", "kind": "RoleBinding", "metadata": {"name": "ann"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"apiGroup": GROUP, "kind": "User", "name": "ann"}]})
        api.post(rbac + "/clusterroles", {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole", "metadata": {"name": "ben"},
                                          "rules": [r for _, r in GRANTS["ben"]]})
        api.post(rbac + "/clusterrolebindings", {
            "apiVersion": f"{GROUP}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ben"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "ben"},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": "bens"}]})
        api.post(rbac + "/clusterroles", {"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole", "metadata": {"name": "cat"},
                                          "rules": [GRANTS["cat"][0][1]]})
        api.post(rbac + "/namespaces/b/rolebindings", {
            "apiVersion": f"{GROUP}/v1", "kind": "RoleBinding", "metadata": {"name": "cat"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cat"},
            "subjects": [{"apiGroup": GROUP, "kind": "User", "name": "cat"}]})

        authorizer = build_authorizer(["RBAC"], rbac_index=index)
        reviews = SelfSubjectRulesReviewREST(authorizer)
        mismatches = []
        outcomes: set[bool] = set()
        for name, ns in itertools.product(GRANTS, NAMESPACES):
            user = UserInfo(name, groups=("bens",) if name == "ben" else ())
            review = self.successResultOf(reviews.compute_create(
                {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": ns}},
                user))
            reported = review["status"]["resourceRules"]
            self.assertFalse(review["status"]["incomplete"])
            chain = RequestInfoFilter(AsUser(AuthorizationFilter(api.link.resource(), authorizer), user))
            api.treq = type(api.treq)(chain)
            for resource, verb, obj in itertools.product(RESOURCES, VERBS, ("one", "two")):
                if verb == "list" and obj == "two":
                    continue
                path = f"/api/v1/namespaces/{ns}/{resource}" + (f"/{obj}" if verb == "get" else "")
                code, _, _ = api.get(path)
                allowed = code != 403
                attrs = Attributes(user=user, verb=verb, is_resource_request=True, namespace=ns, resource=resource,
                                   name=obj if verb == "get" else "")
                by_review = any(rule_allows(attrs, r) for r in reported)
                by_roles = any((where is None or where == ns) and rule_allows(attrs, rule) for where, rule in GRANTS[name])
                outcomes.add(allowed)
                if not (allowed == by_review == by_roles):
                    mismatches.append((name, ns, resource, verb, obj, allowed, by_review, by_roles))
                if allowed:
                    self.assertEqual(code, 200, path)
        self.assertEqual(mismatches, [])
        self.assertEqual(outcomes, {True, False})
