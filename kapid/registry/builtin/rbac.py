"""
rbac.authorization.k8s.io/v1 resources: roles, rolebindings, clusterroles, clusterrolebindings
(names validated as path segments, as kube does). Stored here; enforced by the authorizer.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, v1

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
