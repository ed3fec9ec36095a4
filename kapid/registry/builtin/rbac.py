"""
rbac.authorization.k8s.io/v1 resources: roles, rolebindings, clusterroles, clusterrolebindings
(names validated as path segments, as kube does). Stored here; enforced by the authorizer; with
RBAC on, writes are checked for escalation (L{guarded}).
"""

from __future__ import annotations

import copy
from typing import Any

import attr

from kapid.registry.builtin._helpers import resource, v1
from kapid.registry.description import Resource

GROUP = "rbac.authorization.k8s.io"


def _d(kind: str) -> str:
    return f"io.k8s.api.rbac.v1.{kind}"


ROLES = resource(GROUP, "Role", "roles", v1(_d("Role")), name_validation="path", allow_create_on_update=True)
ROLE_BINDINGS = resource(GROUP, "RoleBinding", "rolebindings", v1(_d("RoleBinding")), name_validation="path", allow_create_on_update=True)
CLUSTER_ROLES = resource(
    GROUP, "ClusterRole", "clusterroles", v1(_d("ClusterRole")), namespaced=False, name_validation="path", allow_create_on_update=True
)
CLUSTER_ROLE_BINDINGS = resource(
    GROUP, "ClusterRoleBinding", "clusterrolebindings", v1(_d("ClusterRoleBinding")),
    namespaced=False, name_validation="path", allow_create_on_update=True,
)

RESOURCES = [ROLES, ROLE_BINDINGS, CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS]


def guarded(resources: list[Resource], guard: Any) -> list[Resource]:
    """
    C{resources} (the RBAC ones) with strategies that ask C{guard} (a
    L{kapid.auth.rbac.EscalationGuard}) before a create or update (kube's policy-based storage:
    escalation prevention).
    """
    out = []
    for res in resources:
        strategy = copy.copy(res.strategy)
        check = guard.check_binding if res.plural.endswith("bindings") else guard.check_role
        plural = res.plural

        def on_create(obj: dict, user: Any, check: Any = check, plural: str = plural) -> None:
            check(plural, obj, None, user)

        def on_update(obj: dict, old: dict, user: Any, check: Any = check, plural: str = plural) -> None:
            check(plural, obj, old, user)

        strategy.prepare_for_create_by = on_create
        strategy.prepare_for_update_by = on_update
        out.append(attr.evolve(res, strategy=strategy))
    return out
