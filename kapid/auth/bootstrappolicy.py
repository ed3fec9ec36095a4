"""
kube's default RBAC policy (its C{bootstrappolicy}) as data: the ClusterRoles and
ClusterRoleBindings a new cluster has, labelled C{kubernetes.io/bootstrapping: rbac-defaults} and
annotated C{rbac.authorization.kubernetes.io/autoupdate: "true"}.

Rules are written compactly: L{R} for resource rules (verbs, API groups and resources as
space-separated words, C{-} standing for the core group C{""}) and L{U} for non-resource rules.
The C{system:controller:*} roles of kube-controller-manager's controllers are here too (bound to
their ServiceAccounts in C{kube-system}), as on any new cluster, though kapid runs no
kube-controller-manager.
"""

from __future__ import annotations

from typing import Any

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAPPING = "kubernetes.io/bootstrapping"
RBAC_DEFAULTS = "rbac-defaults"
RBAC_GROUP = "rbac.authorization.k8s.io"

READ = "get list watch"
WRITE = "create delete deletecollection patch update"
EVENTS_WRITE = "create patch update"


def R(verbs: str, groups: str, resources: str, names: str = "") -> dict[str, Any]:
    """
    A resource rule (kube's JSON field order: verbs, apiGroups, resources, resourceNames).
    """
    rule: dict[str, Any] = {
        "verbs": verbs.split(),
        "apiGroups": ["" if g == "-" else g for g in groups.split()],
        "resources": resources.split(),
    }
    if names:
        rule["resourceNames"] = names.split()
    return rule


def U(verbs: str, urls: str) -> dict[str, Any]:
    """
    A non-resource rule.
    """
    return {"verbs": verbs.split(), "nonResourceURLs": urls.split()}


def _aggregate(label: str) -> dict[str, Any]:
    return {"clusterRoleSelectors": [{"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{label}": "true"}}]}


def _to(label: str) -> dict[str, str]:
    return {f"rbac.authorization.k8s.io/aggregate-to-{label}": "true"}


_EVENTS = R(EVENTS_WRITE, "- events.k8s.io", "events")

#: name -> (rules, aggregationRule or None, extra labels)
CLUSTER_ROLES: dict[str, tuple[list[dict], Any, dict[str, str]]] = {
    "cluster-admin": ([R("*", "*", "*"), U("*", "*")], None, {}),
    "admin": ([], _aggregate("admin"), {}),
    "edit": ([], _aggregate("edit"), _to("admin")),
    "view": ([], _aggregate("view"), _to("edit")),
    "system:aggregate-to-admin": ([
        R("create", "authorization.k8s.io", "localsubjectaccessreviews"),
        R("create delete deletecollection get list patch update watch", RBAC_GROUP, "rolebindings roles"),
    ], None, _to("admin")),
    "system:aggregate-to-edit": ([
        R(READ, "-", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
        R("impersonate", "-", "serviceaccounts"),
        R(WRITE, "-", "pods pods/attach pods/exec pods/portforward pods/proxy"),
        R("create", "-", "pods/eviction"),
        R(WRITE, "-", "configmaps events persistentvolumeclaims replicationcontrollers "
          "replicationcontrollers/scale secrets serviceaccounts services services/proxy"),
        R("create", "-", "serviceaccounts/token"),
        R(WRITE, "apps", "daemonsets deployments deployments/rollback deployments/scale replicasets "
          "replicasets/scale statefulsets statefulsets/scale"),
        R(WRITE, "autoscaling", "horizontalpodautoscalers"),
        R(WRITE, "batch", "cronjobs jobs"),
        R(WRITE, "extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses "
          "networkpolicies replicasets replicasets/scale replicationcontrollers/scale"),
        R(WRITE, "policy", "poddisruptionbudgets"),
        R(WRITE, "networking.k8s.io", "ingresses networkpolicies"),
        R("create delete deletecollection get list patch update watch", "coordination.k8s.io", "leases"),
    ], None, _to("edit")),
    "system:aggregate-to-view": ([
        R(READ, "-", "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
          "replicationcontrollers replicationcontrollers/scale serviceaccounts services services/status"),
        R(READ, "-", "bindings events limitranges namespaces/status pods/log pods/status "
          "replicationcontrollers/status resourcequotas resourcequotas/status"),
        R(READ, "-", "namespaces"),
        R(READ, "discovery.k8s.io", "endpointslices"),
        R(READ, "apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
          "deployments/status replicasets replicasets/scale replicasets/status statefulsets "
          "statefulsets/scale statefulsets/status"),
        R(READ, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
        R(READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
        R(READ, "extensions", "daemonsets daemonsets/status deployments deployments/scale deployments/status "
          "ingresses ingresses/status networkpolicies replicasets replicasets/scale replicasets/status "
          "replicationcontrollers/scale"),
        R(READ, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
        R(READ, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
    ], None, _to("view")),
    "system:auth-delegator": ([
        R("create", "authentication.k8s.io", "tokenreviews"),
        R("create", "authorization.k8s.io", "subjectaccessreviews"),
    ], None, {}),
    "system:basic-user": ([
        R("create", "authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews"),
        R("create", "authentication.k8s.io", "selfsubjectreviews"),
    ], None, {}),
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": ([
        R("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient"),
    ], None, {}),
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": ([
        R("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient"),
    ], None, {}),
    "system:certificates.k8s.io:kube-apiserver-client-approver": ([
        R("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client"),
    ], None, {}),
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver": ([
        R("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet"),
    ], None, {}),
    "system:certificates.k8s.io:kubelet-serving-approver": ([
        R("approve", "certificates.k8s.io", "signers", "kubernetes.io/kubelet-serving"),
    ], None, {}),
    "system:certificates.k8s.io:legacy-unknown-approver": ([
        R("approve", "certificates.k8s.io", "signers", "kubernetes.io/legacy-unknown"),
    ], None, {}),
    "system:discovery": ([
        U("get", "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz /version /version/"),
    ], None, {}),
    "system:heapster": ([
        R(READ, "-", "events namespaces nodes pods"),
        R(READ, "extensions", "deployments"),
    ], None, {}),
    "system:kube-aggregator": ([R(READ, "-", "endpoints services")], None, {}),
    "system:kube-controller-manager": ([
        _EVENTS,
        R("create", "coordination.k8s.io", "leases"),
        R("get update", "coordination.k8s.io", "leases", "kube-controller-manager"),
        R("create", "-", "secrets serviceaccounts"),
        R("delete", "-", "secrets"),
        R("get", "-", "configmaps namespaces secrets serviceaccounts"),
        R("update", "-", "secrets serviceaccounts"),
        R("create", "authentication.k8s.io", "tokenreviews"),
        R("create", "authorization.k8s.io", "subjectaccessreviews"),
        R("list watch", "*", "*"),
        R("create", "-", "serviceaccounts/token"),
    ], None, {}),
    "system:kube-dns": ([R("list watch", "-", "endpoints services")], None, {}),
    "system:kube-scheduler": ([
        _EVENTS,
        R("create", "coordination.k8s.io", "leases"),
        R("get update", "coordination.k8s.io", "leases", "kube-scheduler"),
        R(READ, "-", "nodes"),
        R("delete get list watch", "-", "pods"),
        R("create", "-", "bindings pods/binding"),
        R("patch update", "-", "pods/status"),
        R(READ, "-", "replicationcontrollers services"),
        R(READ, "apps extensions", "replicasets"),
        R(READ, "apps", "statefulsets"),
        R(READ, "policy", "poddisruptionbudgets"),
        R(READ, "-", "persistentvolumeclaims persistentvolumes"),
        R("create", "authentication.k8s.io", "tokenreviews"),
        R("create", "authorization.k8s.io", "subjectaccessreviews"),
        R(READ, "storage.k8s.io", "csinodes"),
        R(READ, "-", "namespaces"),
        R(READ, "storage.k8s.io", "csidrivers"),
        R(READ, "storage.k8s.io", "csistoragecapacities"),
    ], None, {}),
    "system:kubelet-api-admin": ([
        R(READ, "-", "nodes"),
        R("proxy", "-", "nodes"),
        R("*", "-", "nodes/log nodes/metrics nodes/proxy nodes/stats"),
    ], None, {}),
    "system:monitoring": ([
        U("get", "/healthz /healthz/* /livez /livez/* /metrics /metrics/slis /readyz /readyz/*"),
    ], None, {}),
    "system:node": ([
        R("create", "authentication.k8s.io", "tokenreviews"),
        R("create", "authorization.k8s.io", "localsubjectaccessreviews subjectaccessreviews"),
        R(READ, "-", "services"),
        R("create get list watch", "-", "nodes"),
        R("patch update", "-", "nodes/status"),
        R("patch update", "-", "nodes"),
        R(EVENTS_WRITE, "-", "events"),
        R(READ, "-", "pods"),
        R("create delete", "-", "pods"),
        R("patch update", "-", "pods/status"),
        R("create", "-", "pods/eviction"),
        R(READ, "-", "configmaps secrets"),
        R("get", "-", "persistentvolumeclaims persistentvolumes"),
        R("get", "-", "endpoints"),
        R("create get list watch", "certificates.k8s.io", "certificatesigningrequests"),
        R("create delete get patch update", "coordination.k8s.io", "leases"),
        R("get", "storage.k8s.io", "volumeattachments"),
        R("create", "-", "serviceaccounts/token"),
        R("get patch update", "-", "persistentvolumeclaims/status"),
        R(READ, "storage.k8s.io", "csidrivers"),
        R("create delete get patch update", "storage.k8s.io", "csinodes"),
        R(READ, "node.k8s.io", "runtimeclasses"),
    ], None, {}),
    "system:node-bootstrapper": ([
        R("create get list watch", "certificates.k8s.io", "certificatesigningrequests"),
    ], None, {}),
    "system:node-problem-detector": ([
        R("get", "-", "nodes"),
        R("patch", "-", "nodes/status"),
        _EVENTS,
    ], None, {}),
    "system:node-proxier": ([
        R("list watch", "-", "endpoints services"),
        R(READ, "-", "nodes"),
        _EVENTS,
        R("list watch", "discovery.k8s.io", "endpointslices"),
    ], None, {}),
    "system:persistent-volume-provisioner": ([
        R("create delete get list watch", "-", "persistentvolumes"),
        R("get list update watch", "-", "persistentvolumeclaims"),
        R(READ, "storage.k8s.io", "storageclasses"),
        R("watch", "-", "events"),
        _EVENTS,
    ], None, {}),
    "system:public-info-viewer": ([U("get", "/healthz /livez /readyz /version /version/")], None, {}),
    "system:service-account-issuer-discovery": ([
        U("get", "/.well-known/openid-configuration /openid/v1/jwks"),
    ], None, {}),
    "system:volume-scheduler": ([
        R("get list patch update watch", "-", "persistentvolumes"),
        R(READ, "storage.k8s.io", "storageclasses"),
        R("get list patch update watch", "-", "persistentvolumeclaims"),
    ], None, {}),
}


_SCALE = R("get", "*", "*/scale")

#: kube-controller-manager's controllers (C{system:controller:<name>}, each bound to the
#: ServiceAccount C{<name>} in C{kube-system}): name -> rules. Roles of controllers kube 1.33 runs
#: only behind feature gates that are off by default are left out.
CONTROLLER_ROLES: dict[str, list[dict]] = {
    "attachdetach-controller": [
        R("list watch", "-", "persistentvolumeclaims persistentvolumes"), R(READ, "-", "nodes"),
        R("patch update", "-", "nodes/status"), R("list watch", "-", "pods"), _EVENTS,
        R("create delete get list watch", "storage.k8s.io", "volumeattachments"),
        R(READ, "storage.k8s.io", "csidrivers"), R(READ, "storage.k8s.io", "csinodes"),
    ],
    "certificate-controller": [
        R("delete get list watch", "certificates.k8s.io", "certificatesigningrequests"),
        R("update", "certificates.k8s.io", "certificatesigningrequests/approval certificatesigningrequests/status"),
        R("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet"),
        R("sign", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client "
          "kubernetes.io/kube-apiserver-client-kubelet kubernetes.io/kubelet-serving kubernetes.io/legacy-unknown"),
        R("create", "authorization.k8s.io", "subjectaccessreviews"), _EVENTS,
    ],
    "clusterrole-aggregation-controller": [
        R("escalate get list patch update watch", RBAC_GROUP, "clusterroles"),
    ],
    "cronjob-controller": [
        R("get list update watch", "batch", "cronjobs"),
        R("create delete get list patch update watch", "batch", "jobs"),
        R("update", "batch", "cronjobs/status"), R("update", "batch", "cronjobs/finalizers"),
        R("delete list watch", "-", "pods"), _EVENTS,
    ],
    "daemon-set-controller": [
        R(READ, "apps extensions", "daemonsets"), R("update", "apps extensions", "daemonsets/status"),
        R("update", "apps extensions", "daemonsets/finalizers"), R("list watch", "-", "nodes"),
        R("create delete list patch watch", "-", "pods"), R("create", "-", "pods/binding"),
        R("create delete get list patch update watch", "apps", "controllerrevisions"), _EVENTS,
    ],
    "deployment-controller": [
        R("get list update watch", "apps extensions", "deployments"),
        R("update", "apps extensions", "deployments/status"),
        R("update", "apps extensions", "deployments/finalizers"),
        R("create delete get list patch update watch", "apps extensions", "replicasets"),
        R("get list update watch", "-", "pods"), _EVENTS,
    ],
    "disruption-controller": [
        R(READ, "apps extensions", "deployments"), R(READ, "apps extensions", "replicasets"),
        R(READ, "-", "replicationcontrollers"), R(READ, "policy", "poddisruptionbudgets"),
        R(READ, "apps", "statefulsets"), R("update", "policy", "poddisruptionbudgets/status"),
        R("patch update", "-", "pods/status"), _SCALE, _EVENTS,
    ],
    "endpoint-controller": [
        R(READ, "-", "pods services"), R("create delete get list update watch", "-", "endpoints"),
        R("create", "-", "endpoints/restricted"), _EVENTS,
    ],
    "endpointslice-controller": [
        R(READ, "-", "nodes pods services"), R("update", "-", "services/finalizers"),
        R("create delete get list update watch", "discovery.k8s.io", "endpointslices"), _EVENTS,
    ],
    "endpointslicemirroring-controller": [
        R(READ, "-", "endpoints services"), R("update", "-", "services/finalizers"),
        R("update", "-", "endpoints/finalizers"),
        R("create delete get list update watch", "discovery.k8s.io", "endpointslices"), _EVENTS,
    ],
    "ephemeral-volume-controller": [
        R(READ, "-", "pods"), R("update", "-", "pods/finalizers"),
        R("create get list watch", "-", "persistentvolumeclaims"), _EVENTS,
    ],
    "expand-controller": [
        R("get list patch update watch", "-", "persistentvolumes"),
        R("patch update", "-", "persistentvolumeclaims/status"), R(READ, "-", "persistentvolumeclaims"), _EVENTS,
    ],
    "generic-garbage-collector": [R("delete get list patch update watch", "*", "*"), _EVENTS],
    "horizontal-pod-autoscaler": [
        R(READ, "autoscaling", "horizontalpodautoscalers"),
        R("update", "autoscaling", "horizontalpodautoscalers/status"), R("get update", "*", "*/scale"),
        R("list watch", "-", "pods"), R("list watch", "metrics.k8s.io", "pods"),
        R(READ, "custom.metrics.k8s.io", "*"), R(READ, "external.metrics.k8s.io", "*"), _EVENTS,
    ],
    "job-controller": [
        R("get list patch update watch", "batch", "jobs"), R("update", "batch", "jobs/status"),
        R("update", "batch", "jobs/finalizers"), R("create delete list patch watch", "-", "pods"), _EVENTS,
    ],
    "legacy-service-account-token-cleaner": [
        R("get", "-", "configmaps", "kube-apiserver-legacy-service-account-token-tracking"),
        R("delete patch", "-", "secrets"),
    ],
    "namespace-controller": [
        R("delete get list watch", "-", "namespaces"), R("update", "-", "namespaces/finalize namespaces/status"),
        R("delete deletecollection get list watch", "*", "*"),
    ],
    "node-controller": [
        R("delete get list patch update watch", "-", "nodes"), R("patch update", "-", "nodes/status"),
        R("patch update", "-", "pods/status"), R("delete get list watch", "-", "pods"), _EVENTS,
    ],
    "persistent-volume-binder": [
        R("create delete get list update watch", "-", "persistentvolumes"),
        R("update", "-", "persistentvolumes/status"), R("get list update watch", "-", "persistentvolumeclaims"),
        R("update", "-", "persistentvolumeclaims/status"), R("create delete get list watch", "-", "pods"),
        R(READ, "storage.k8s.io", "storageclasses"), R("list watch", "-", "nodes"), _EVENTS,
        R("watch", "-", "events"),
    ],
    "pod-garbage-collector": [
        R("delete list watch", "-", "pods"), R(READ, "-", "nodes"), R("patch", "-", "pods/status"),
    ],
    "pv-protection-controller": [R("get list update watch", "-", "persistentvolumes"), _EVENTS],
    "pvc-protection-controller": [
        R("get list update watch", "-", "persistentvolumeclaims"),
        R("update", "-", "persistentvolumeclaims/status"), R(READ, "-", "pods"), _EVENTS,
    ],
    "replicaset-controller": [
        R("get list update watch", "apps extensions", "replicasets"),
        R("update", "apps extensions", "replicasets/status"),
        R("update", "apps extensions", "replicasets/finalizers"),
        R("create delete list patch watch", "-", "pods"), _EVENTS,
    ],
    "replication-controller": [
        R("get list update watch", "-", "replicationcontrollers"),
        R("update", "-", "replicationcontrollers/status"), R("update", "-", "replicationcontrollers/finalizers"),
        R("create delete list patch watch", "-", "pods"), _EVENTS,
    ],
    "resourcequota-controller": [
        R("list watch", "*", "*"), R("update", "-", "resourcequotas/status"), _EVENTS,
    ],
    "root-ca-cert-publisher": [R("create update", "-", "configmaps"), _EVENTS],
    "route-controller": [R("list watch", "-", "nodes"), R("patch", "-", "nodes/status"), _EVENTS],
    "selinux-warning-controller": [
        _EVENTS, R(READ, "-", "persistentvolumes"), R(READ, "-", "persistentvolumeclaims"), R(READ, "-", "pods"),
        R(READ, "storage.k8s.io", "csidrivers"),
    ],
    "service-account-controller": [R("create", "-", "serviceaccounts"), _EVENTS],
    "service-cidrs-controller": [
        R("get list patch update watch", "networking.k8s.io", "servicecidrs"),
        R("patch update", "networking.k8s.io", "servicecidrs/finalizers"),
        R("patch update", "networking.k8s.io", "servicecidrs/status"),
        R(READ, "networking.k8s.io", "ipaddresses"), _EVENTS,
    ],
    "service-controller": [
        R(READ, "-", "services"), R("patch update", "-", "services/status"), R("list watch", "-", "nodes"), _EVENTS,
    ],
    "statefulset-controller": [
        R("list watch", "-", "pods"), R(READ, "apps", "statefulsets"), R("update", "apps", "statefulsets/status"),
        R("update", "apps", "statefulsets/finalizers"), R("create delete get patch update", "-", "pods"),
        R("create delete get list patch update watch", "apps", "controllerrevisions"),
        R("create get list watch", "-", "persistentvolumeclaims"), R("delete update", "-", "persistentvolumeclaims"),
        R("update", "-", "pods/finalizers"), _EVENTS,
    ],
    "ttl-after-finished-controller": [R("delete get list watch", "batch", "jobs"), _EVENTS],
    "ttl-controller": [R("list patch update watch", "-", "nodes"), _EVENTS],
    "validatingadmissionpolicy-status-controller": [
        R(READ, "admissionregistration.k8s.io", "validatingadmissionpolicies"),
        R("get patch update", "admissionregistration.k8s.io", "validatingadmissionpolicies/status"), _EVENTS,
    ],
}

for _name, _rules in CONTROLLER_ROLES.items():
    CLUSTER_ROLES[f"system:controller:{_name}"] = (_rules, None, {})


def _user(name: str) -> dict[str, str]:
    return {"kind": "User", "apiGroup": RBAC_GROUP, "name": name}


def _group(name: str) -> dict[str, str]:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": name}


#: name -> (cluster role, subjects)
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[dict]]] = {
    "cluster-admin": ("cluster-admin", [_group("system:masters")]),
    "system:basic-user": ("system:basic-user", [_group("system:authenticated")]),
    "system:discovery": ("system:discovery", [_group("system:authenticated")]),
    "system:kube-controller-manager": ("system:kube-controller-manager", [_user("system:kube-controller-manager")]),
    "system:kube-dns": ("system:kube-dns", [{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}]),
    "system:kube-scheduler": ("system:kube-scheduler", [_user("system:kube-scheduler")]),
    "system:monitoring": ("system:monitoring", [_group("system:monitoring")]),
    "system:node": ("system:node", []),
    "system:node-proxier": ("system:node-proxier", [_user("system:kube-proxy")]),
    "system:public-info-viewer": (
        "system:public-info-viewer", [_group("system:authenticated"), _group("system:unauthenticated")]
    ),
    "system:service-account-issuer-discovery": (
        "system:service-account-issuer-discovery", [_group("system:serviceaccounts")]
    ),
    "system:volume-scheduler": ("system:volume-scheduler", [_user("system:kube-scheduler")]),
}

for _name in CONTROLLER_ROLES:
    CLUSTER_ROLE_BINDINGS[f"system:controller:{_name}"] = (
        f"system:controller:{_name}", [{"kind": "ServiceAccount", "name": _name, "namespace": "kube-system"}]
    )


_LEADER_LOCKING = [
    R("create get list update watch", "coordination.k8s.io", "leases"),
    R("create get list update watch", "coordination.k8s.io", "leasecandidates"),
]

#: (namespace, name) -> rules of the default Roles.
NAMESPACE_ROLES: dict[tuple[str, str], list[dict]] = {
    ("kube-public", "system:controller:bootstrap-signer"): [
        R(READ, "-", "configmaps"), R("update", "-", "configmaps", "cluster-info"), _EVENTS,
    ],
    ("kube-system", "extension-apiserver-authentication-reader"): [
        R(READ, "-", "configmaps", "extension-apiserver-authentication"),
    ],
    ("kube-system", "system::leader-locking-kube-controller-manager"): _LEADER_LOCKING,
    ("kube-system", "system::leader-locking-kube-scheduler"): _LEADER_LOCKING,
    ("kube-system", "system:controller:bootstrap-signer"): [R(READ, "-", "secrets")],
    ("kube-system", "system:controller:cloud-provider"): [R("create get list watch", "-", "configmaps")],
    ("kube-system", "system:controller:token-cleaner"): [R("delete get list watch", "-", "secrets"), _EVENTS],
}


def _sa(name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}


#: (namespace, name) -> (role, subjects) of the default RoleBindings.
NAMESPACE_ROLE_BINDINGS: dict[tuple[str, str], tuple[str, list[dict]]] = {
    ("kube-public", "system:controller:bootstrap-signer"): (
        "system:controller:bootstrap-signer", [_sa("bootstrap-signer")]),
    ("kube-system", "system::extension-apiserver-authentication-reader"): (
        "extension-apiserver-authentication-reader",
        [_user("system:kube-controller-manager"), _user("system:kube-scheduler")]),
    ("kube-system", "system::leader-locking-kube-controller-manager"): (
        "system::leader-locking-kube-controller-manager",
        [_user("system:kube-controller-manager"), _sa("kube-controller-manager"), _sa("leader-election-controller")]),
    ("kube-system", "system::leader-locking-kube-scheduler"): (
        "system::leader-locking-kube-scheduler", [_user("system:kube-scheduler"), _sa("kube-scheduler")]),
    ("kube-system", "system:controller:bootstrap-signer"): (
        "system:controller:bootstrap-signer", [_sa("bootstrap-signer")]),
    ("kube-system", "system:controller:cloud-provider"): ("system:controller:cloud-provider", [_sa("cloud-provider")]),
    ("kube-system", "system:controller:token-cleaner"): ("system:controller:token-cleaner", [_sa("token-cleaner")]),
}


def roles() -> list[dict]:
    """
    The default Roles (in C{kube-system} and C{kube-public}), as objects to create.
    """
    out = []
    for (namespace, name), rules in NAMESPACE_ROLES.items():
        meta = _metadata(name, {})
        meta["namespace"] = namespace
        out.append({"kind": "Role", "apiVersion": f"{RBAC_GROUP}/v1", "metadata": meta,
                    "rules": [dict(r) for r in rules]})
    return out


def role_bindings() -> list[dict]:
    """
    The default RoleBindings, as objects to create.
    """
    out = []
    for (namespace, name), (role, subjects) in NAMESPACE_ROLE_BINDINGS.items():
        meta = _metadata(name, {})
        meta["namespace"] = namespace
        out.append({"kind": "RoleBinding", "apiVersion": f"{RBAC_GROUP}/v1", "metadata": meta,
                    "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role},
                    "subjects": [dict(s) for s in subjects]})
    return out


def _metadata(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {BOOTSTRAPPING: RBAC_DEFAULTS, **labels},
        "annotations": {AUTOUPDATE: "true"},
    }


def cluster_roles() -> list[dict]:
    """
    The default ClusterRoles, as objects to create (C{rbac.authorization.k8s.io/v1}).
    """
    out = []
    for name, (rules, aggregation, labels) in CLUSTER_ROLES.items():
        obj: dict[str, Any] = {
            "kind": "ClusterRole", "apiVersion": f"{RBAC_GROUP}/v1", "metadata": _metadata(name, labels),
            "rules": [dict(r) for r in rules],
        }
        if aggregation is not None:
            obj["aggregationRule"] = aggregation
        out.append(obj)
    return out


def cluster_role_bindings() -> list[dict]:
    """
    The default ClusterRoleBindings, as objects to create.
    """
    out = []
    for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items():
        obj: dict[str, Any] = {
            "kind": "ClusterRoleBinding", "apiVersion": f"{RBAC_GROUP}/v1", "metadata": _metadata(name, {}),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        }
        if subjects:
            obj["subjects"] = [dict(s) for s in subjects]
        out.append(obj)
    return out
