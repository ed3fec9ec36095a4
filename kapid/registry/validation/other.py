"""
Validation of the other built-in groups (networking, rbac, policy, autoscaling, scheduling, storage,
coordination, discovery) beyond their schema: the rules users commonly hit, with kube's messages.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

from kapid.apimachinery import field
from kapid.apimachinery.field import GoValue
from kapid.apimachinery.meta import qualified_name_errors

from .common import (
    Errs,
    dicts,
    nonnegative,
    port_name_errors,
    port_num_errors,
    validate_label_selector,
)

_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")


def _backend(b: Optional[dict], path: str, errs: Errs) -> None:
    if not isinstance(b, dict):
        return
    svc, res = b.get("service"), b.get("resource")
    if svc and res:
        errs.append(field.invalid(path, GoValue("networking.IngressBackend{...}"), "cannot set both resource and service backends"))
    if isinstance(svc, dict):
        if not svc.get("name"):
            errs.append(field.required(f"{path}.service.name"))
        port = svc.get("port") or {}
        if port.get("name") and port.get("number"):
            errs.append(field.invalid(f"{path}.service.port", GoValue("networking.ServiceBackendPort{...}"), "cannot set both port name & port number"))
        elif port.get("name"):
            for m in port_name_errors(port["name"]):
                errs.append(field.invalid(f"{path}.service.port.name", port["name"], m))
        elif port.get("number") is not None:
            for m in port_num_errors(port["number"]):
                errs.append(field.invalid(f"{path}.service.port.number", port["number"], m))
        else:
            errs.append(field.required(f"{path}.service.port", "port name or number is required"))
    elif res is None:
        errs.append(field.invalid(path, GoValue("networking.IngressBackend{...}"), "resource or service backend is required"))


def _ingress(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    if spec.get("defaultBackend") is None and not spec.get("rules"):
        errs.append(field.invalid("spec", GoValue("networking.IngressSpec{...}"), "either `defaultBackend` or `rules` must be specified"))
    _backend(spec.get("defaultBackend"), "spec.defaultBackend", errs)
    for i, rule in enumerate(dicts(spec.get("rules"))):
        http = rule.get("http")
        if not isinstance(http, dict):
            continue
        paths = dicts(http.get("paths"))
        if not paths:
            errs.append(field.required(f"spec.rules[{i}].http.paths"))
        for j, p in enumerate(paths):
            pp = f"spec.rules[{i}].http.paths[{j}]"
            pt = p.get("pathType")
            if pt is None:
                errs.append(field.required(f"{pp}.pathType", "pathType must be specified"))
            elif pt not in _PATH_TYPES:
                errs.append(field.not_supported(f"{pp}.pathType", pt, _PATH_TYPES))
            path = p.get("path") or ""
            if pt in ("Exact", "Prefix") and not path.startswith("/"):
                errs.append(field.invalid(f"{pp}.path", path, "must be an absolute path"))
            _backend(p.get("backend"), f"{pp}.backend", errs)
    return errs


def _ingress_class(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    ctl = spec.get("controller") or ""
    if not ctl:
        errs.append(field.required("spec.controller"))
    if old is not None and ctl != ((old.get("spec") or {}).get("controller") or ""):
        errs.append(field.invalid("spec.controller", ctl, "field is immutable"))
    return errs


def _network_policy(obj: dict, old: Optional[dict]) -> Errs:
    spec = obj.get("spec") or {}
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for t in spec.get("policyTypes") or []:
        if t not in ("Ingress", "Egress"):
            errs.append(field.not_supported("spec.policyTypes", t, ("Ingress", "Egress")))
    return errs


def _role_ref(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    ref = obj.get("roleRef") or {}
    if not ref.get("name"):
        errs.append(field.required("roleRef.name"))
    kind = ref.get("kind")
    allowed = ("ClusterRole",) if obj.get("kind") == "ClusterRoleBinding" else ("Role", "ClusterRole")
    if kind not in allowed:
        errs.append(field.not_supported("roleRef.kind", kind, allowed))
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        errs.append(field.not_supported("roleRef.apiGroup", ref.get("apiGroup"), ("rbac.authorization.k8s.io",)))
    for i, s in enumerate(dicts(obj.get("subjects"))):
        if not s.get("name"):
            errs.append(field.required(f"subjects[{i}].name"))
        k = s.get("kind")
        if k not in ("ServiceAccount", "User", "Group"):
            errs.append(field.not_supported(f"subjects[{i}].kind", k, ("ServiceAccount", "User", "Group")))
    if old is not None and ref != (old.get("roleRef") or {}):
        errs.append(
            field.invalid(
                "roleRef",
                GoValue(f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", Name:"{ref.get("name", "")}"}}'),
                "cannot change roleRef",
            )
        )
    return errs


def _rules(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    for i, r in enumerate(dicts(obj.get("rules"))):
        if not r.get("verbs"):
            errs.append(field.required(f"rules[{i}].verbs", "verbs must contain at least one value"))
        if r.get("nonResourceURLs"):
            if obj.get("kind") == "Role":
                errs.append(field.invalid(f"rules[{i}].nonResourceURLs", GoValue("[]string{...}"), "namespaced rules cannot apply to non-resource URLs"))
        if not r.get("nonResourceURLs") and r.get("apiGroups") is None:
            errs.append(field.required(f"rules[{i}].apiGroups", "resource rules must supply at least one api group"))
        if not r.get("nonResourceURLs") and not r.get("resources"):
            errs.append(field.required(f"rules[{i}].resources", "resource rules must supply at least one resource"))
    return errs


def _pdb(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(field.invalid("spec", GoValue("policy.PodDisruptionBudgetSpec{...}"), "minAvailable and maxUnavailable cannot be both set"))
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    pol = spec.get("unhealthyPodEvictionPolicy")
    if pol is not None and pol not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(field.not_supported("spec.unhealthyPodEvictionPolicy", pol, ("AlwaysAllow", "IfHealthyBudget")))
    return errs


def _hpa(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    mn = spec.get("minReplicas")
    mx = spec.get("maxReplicas")
    if isinstance(mn, int) and mn < 1 and mn != 0:
        errs.append(field.invalid("spec.minReplicas", mn, "must be greater than or equal to 1"))
    if not isinstance(mx, int) or mx < 1:
        errs.append(field.invalid("spec.maxReplicas", mx if mx is not None else 0, "must be greater than 0"))
    elif isinstance(mn, int) and mx < mn:
        errs.append(field.invalid("spec.maxReplicas", mx, "must be greater than or equal to `minReplicas`"))
    ref = spec.get("scaleTargetRef") or {}
    if not ref.get("kind"):
        errs.append(field.required("spec.scaleTargetRef.kind"))
    if not ref.get("name"):
        errs.append(field.required("spec.scaleTargetRef.name"))
    return errs


def _priority_class(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    value = obj.get("value")
    if isinstance(value, int) and value > 1000000000 and not ((obj.get("metadata") or {}).get("name") or "").startswith("system-"):
        errs.append(field.forbidden("value", "maximum allowed value of a user defined priority is 1000000000"))
    pp = obj.get("preemptionPolicy")
    if pp is not None and pp not in ("Never", "PreemptLowerPriority"):
        errs.append(field.not_supported("preemptionPolicy", pp, ("Never", "PreemptLowerPriority")))
    if old is not None:
        if value != old.get("value"):
            errs.append(field.forbidden("value", "may not be changed in an update."))
        if pp != old.get("preemptionPolicy"):
            errs.append(field.invalid("preemptionPolicy", pp, "field is immutable"))
    return errs


def _storage_class(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    prov = obj.get("provisioner") or ""
    if not prov:
        errs.append(field.required("provisioner"))
    else:
        for m in qualified_name_errors(prov.lower()):
            errs.append(field.invalid("provisioner", prov, m))
    rp = obj.get("reclaimPolicy")
    if rp is not None and rp not in ("Delete", "Retain"):
        errs.append(field.not_supported("reclaimPolicy", rp, ("Delete", "Retain")))
    vbm = obj.get("volumeBindingMode")
    if vbm is not None and vbm not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(field.not_supported("volumeBindingMode", vbm, ("Immediate", "WaitForFirstConsumer")))
    if old is not None:
        if (obj.get("parameters") or {}) != (old.get("parameters") or {}):
            errs.append(field.forbidden("parameters", "updates to parameters are forbidden."))
        if prov != old.get("provisioner"):
            errs.append(field.forbidden("provisioner", "updates to provisioner are forbidden."))
        if rp != old.get("reclaimPolicy"):
            errs.append(field.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        if vbm != old.get("volumeBindingMode"):
            errs.append(field.forbidden("volumeBindingMode", "field is immutable"))
    return errs


def _lease(obj: dict, old: Optional[dict]) -> Errs:
    spec = obj.get("spec") or {}
    errs: Errs = []
    for key in ("leaseDurationSeconds", "leaseTransitions"):
        v = spec.get(key)
        if key == "leaseDurationSeconds" and isinstance(v, int) and v <= 0:
            errs.append(field.invalid(f"spec.{key}", v, "must be greater than 0"))
        elif key == "leaseTransitions":
            errs += nonnegative(v, f"spec.{key}")
    return errs


_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _endpoint_slice(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    at = obj.get("addressType")
    if at not in _ADDRESS_TYPES:
        errs.append(field.not_supported("addressType", at, _ADDRESS_TYPES))
    for i, e in enumerate(dicts(obj.get("endpoints"))):
        if not e.get("addresses"):
            errs.append(field.required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        for j, address in enumerate(e.get("addresses") or ()):
            errs += _slice_address(at, address, f"endpoints[{i}].addresses[{j}]")
    if old is not None and at != old.get("addressType"):
        errs.append(field.invalid("addressType", at, "field is immutable"))
    return errs


def _slice_address(address_type: str, address: str, path: str) -> Errs:
    """
    An IPv4 or IPv6 EndpointSlice address is one of its family (kube's C{IsValidIPv4Address},
    C{IsValidIPv6Address}). kube also refuses special addresses (C{ValidateNonSpecialIP}); kapid
    does not, for the loopback endpoints of a single host (see L{kapid.registry.validation.core}).
    """
    if address_type not in ("IPv4", "IPv6"):
        return []
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    family_ok = ip is not None and (
        (address_type == "IPv4") == (ip.version == 4 or getattr(ip, "ipv4_mapped", None) is not None)
    )
    errs: Errs = []
    if not family_ok:
        errs.append(field.invalid(path, address, f"must be a valid {address_type} address"))
    return errs


VALIDATORS = {
    "networking.k8s.io": {
        "Ingress": _ingress,
        "IngressClass": _ingress_class,
        "NetworkPolicy": _network_policy,
    },
    "rbac.authorization.k8s.io": {
        "RoleBinding": _role_ref,
        "ClusterRoleBinding": _role_ref,
        "Role": _rules,
        "ClusterRole": _rules,
    },
    "policy": {"PodDisruptionBudget": _pdb},
    "autoscaling": {"HorizontalPodAutoscaler": _hpa},
    "scheduling.k8s.io": {"PriorityClass": _priority_class},
    "storage.k8s.io": {"StorageClass": _storage_class},
    "coordination.k8s.io": {"Lease": _lease},
    "discovery.k8s.io": {"EndpointSlice": _endpoint_slice},
}
