"""
Validation of core/v1 kinds beyond their schema (kube's pkg/apis/core/validation), with kube's field
paths and messages.
"""

from __future__ import annotations

import base64
import copy
import re
from fractions import Fraction
from typing import Any, Optional

from kapid.apimachinery import field
from kapid.apimachinery.meta import dns1035_label_errors, dns1123_subdomain_errors

from .common import (
    Errs,
    dicts,
    dns_label,
    go_strings,
    immutable,
    ip_errors,
    non_special_ip,
    nonnegative,
    port_name_errors,
    port_num_errors,
    validate_label_selector,
    validate_template_meta,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
MAX_CONFIG_SIZE = 1024 * 1024

_ENV_NAME_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)
_KEY_FMT = "[-._a-zA-Z0-9]+"
_KEY_RE = re.compile(f"^{_KEY_FMT}$")
_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', "
    " or 'KEY_NAME',  or 'key-name', regex used for validation is '" + _KEY_FMT + "')"
)


# ---------------------------------------------------------------------------------------------------
# pods


def _container_ports(ports: Any, path: str) -> Errs:
    errs: Errs = []
    names: set[str] = set()
    for i, port in enumerate(dicts(ports)):
        p = f"{path}[{i}]"
        name = port.get("name")
        if name:
            for m in port_name_errors(name):
                errs.append(field.invalid(f"{p}.name", name, m))
            if name in names:
                errs.append(field.duplicate(f"{p}.name", name))
            names.add(name)
        cp = port.get("containerPort")
        if not cp:
            errs.append(field.required(f"{p}.containerPort"))
        else:
            for m in port_num_errors(cp):
                errs.append(field.invalid(f"{p}.containerPort", cp, m))
        hp = port.get("hostPort")
        if hp:
            for m in port_num_errors(hp):
                errs.append(field.invalid(f"{p}.hostPort", hp, m))
        proto = port.get("protocol")
        if not proto:
            errs.append(field.required(f"{p}.protocol"))
        elif proto not in PROTOCOLS:
            errs.append(field.not_supported(f"{p}.protocol", proto, PROTOCOLS))
    return errs


def _env(env: Any, path: str) -> Errs:
    errs: Errs = []
    for i, e in enumerate(dicts(env)):
        name = e.get("name") or ""
        p = f"{path}[{i}].name"
        if not name:
            errs.append(field.required(p))
        elif "=" in name or not all(32 <= ord(c) < 127 for c in name):
            errs.append(field.invalid(p, name, _ENV_NAME_MSG))
    return errs


_SUFFIX = {
    "": 1, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3,
    "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QTY = re.compile(r"^([+-]?[0-9.]+)([eE][-+]?[0-9]+|[a-zA-Z]*)$")


def parse_quantity(value: Any) -> Optional[Fraction]:
    """
    A quantity's exact value (C{"100m"} -> 1/10), or None when it cannot be parsed.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Fraction(str(value))
    if not isinstance(value, str):
        return None
    m = _QTY.match(value.strip())
    if not m:
        return None
    try:
        number = Fraction(m.group(1))
    except (ValueError, ZeroDivisionError):
        return None
    suffix = m.group(2)
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * Fraction(10) ** int(suffix[1:])
    if suffix not in _SUFFIX:
        return None
    return number * _SUFFIX[suffix]


def _is_overcommit_allowed(name: str) -> bool:
    """
    kube's C{IsOvercommitAllowed}: native resources other than hugepages (extended ones are not).
    """
    if name.startswith("hugepages-"):
        return False
    return "/" not in name or name.startswith("kubernetes.io/") or name.startswith("requests.")


def _resources(res: Any, path: str, errs: Errs) -> None:
    if not isinstance(res, dict):
        return
    limits = res.get("limits") if isinstance(res.get("limits"), dict) else {}
    requests = res.get("requests") if isinstance(res.get("requests"), dict) else {}
    for kind, table in (("limits", limits), ("requests", requests)):
        for name, q in table.items():
            v = parse_quantity(q)
            if v is not None and v < 0:
                errs.append(field.invalid(f"{path}.{kind}[{name}]", q, "must be greater than or equal to 0"))
    for name, q in requests.items():
        if name not in limits:
            continue
        req, lim = parse_quantity(q), parse_quantity(limits[name])
        if req is None or lim is None:
            continue
        if req != lim and not _is_overcommit_allowed(name):
            errs.append(
                field.invalid(f"{path}.requests", q, f"must be equal to {name} limit of {limits[name]}")
            )
        elif req > lim:
            errs.append(
                field.invalid(
                    f"{path}.requests", q, f"must be less than or equal to {name} limit of {limits[name]}"
                )
            )


def _containers(
    containers: Any, path: str, volumes: set[str], all_names: set[str], errs: Errs
) -> None:
    for i, c in enumerate(dicts(containers)):
        p = f"{path}[{i}]"
        name = c.get("name") or ""
        if not name:
            errs.append(field.required(f"{p}.name"))
        else:
            errs.extend(dns_label(name, f"{p}.name"))
            if name in all_names:
                errs.append(field.duplicate(f"{p}.name", name))
            all_names.add(name)
        if not c.get("image"):
            errs.append(field.required(f"{p}.image"))
        tmp = c.get("terminationMessagePolicy")
        if tmp is not None and tmp not in ("File", "FallbackToLogsOnError"):
            if tmp == "":
                errs.append(field.required(f"{p}.terminationMessagePolicy"))
            else:
                errs.append(
                    field.not_supported(
                        f"{p}.terminationMessagePolicy", tmp, ("File", "FallbackToLogsOnError")
                    )
                )
        _resources(c.get("resources"), f"{p}.resources", errs)
        errs.extend(_container_ports(c.get("ports"), f"{p}.ports"))
        errs.extend(_env(c.get("env"), f"{p}.env"))
        for j, vm in enumerate(dicts(c.get("volumeMounts"))):
            vp = f"{p}.volumeMounts[{j}]"
            vname = vm.get("name") or ""
            if not vname:
                errs.append(field.required(f"{vp}.name"))
            elif vname not in volumes:
                errs.append(field.not_found(f"{vp}.name", vname))
            if not vm.get("mountPath"):
                errs.append(field.required(f"{vp}.mountPath"))
        pol = c.get("imagePullPolicy")
        if pol is not None and pol not in PULL_POLICIES:
            if pol == "":
                errs.append(field.required(f"{p}.imagePullPolicy"))
            else:
                errs.append(field.not_supported(f"{p}.imagePullPolicy", pol, PULL_POLICIES))


def validate_pod_spec(spec: Any, path: str) -> Errs:
    """
    kube's C{ValidatePodSpec} (the commonly hit rules): volumes, containers, ports, env, mounts,
    restart and DNS policies.
    """
    errs: Errs = []
    if not isinstance(spec, dict):
        return [field.required(path)]
    volumes: set[str] = set()
    for i, v in enumerate(dicts(spec.get("volumes"))):
        p = f"{path}.volumes[{i}].name"
        name = v.get("name") or ""
        if not name:
            errs.append(field.required(p))
        else:
            errs.extend(dns_label(name, p))
            if name in volumes:
                errs.append(field.duplicate(p, name))
            volumes.add(name)
    names: set[str] = set()
    if not spec.get("containers"):
        errs.append(field.required(f"{path}.containers"))
    _containers(spec.get("containers"), f"{path}.containers", volumes, names, errs)
    _containers(spec.get("initContainers"), f"{path}.initContainers", volumes, names, errs)
    rp = spec.get("restartPolicy")
    if rp == "":
        errs.append(field.required(f"{path}.restartPolicy"))
    elif rp is not None and rp not in RESTART_POLICIES:
        errs.append(field.not_supported(f"{path}.restartPolicy", rp, RESTART_POLICIES))
    dp = spec.get("dnsPolicy")
    if dp is not None and dp not in DNS_POLICIES:
        errs.append(field.not_supported(f"{path}.dnsPolicy", dp, DNS_POLICIES))
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and not 1 <= ads <= 2**31 - 1:
        errs.append(
            field.invalid(
                f"{path}.activeDeadlineSeconds", ads, "must be between 1 and 2147483647, inclusive"
            )
        )
    sa = spec.get("serviceAccountName")
    if sa:
        for m in dns1123_subdomain_errors(sa):
            errs.append(field.invalid(f"{path}.serviceAccountName", sa, m))
    node = spec.get("nodeName")
    if node:
        for m in dns1123_subdomain_errors(node):
            errs.append(field.invalid(f"{path}.nodeName", node, m))
    return errs


def validate_pod_template(template: Any, path: str) -> Errs:
    """
    kube's C{ValidatePodTemplateSpec}: the template's metadata and pod spec.
    """
    if not isinstance(template, dict):
        return [field.required(path)]
    return validate_template_meta(template.get("metadata"), f"{path}.metadata") + validate_pod_spec(
        template.get("spec"), f"{path}.spec"
    )


def _pod(obj: dict, old: Optional[dict]) -> Errs:
    errs = validate_pod_spec(obj.get("spec"), "spec")
    if old is not None:
        errs += _pod_update(obj, old)
    return errs


_POD_UPDATE_MSG = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _pod_update(obj: dict, old: dict) -> Errs:
    new_spec = copy.deepcopy(obj.get("spec") or {})
    old_spec = old.get("spec") or {}
    for key in ("containers", "initContainers"):
        olds = dicts(old_spec.get(key))
        for i, c in enumerate(dicts(new_spec.get(key))):
            if i < len(olds):
                c["image"] = olds[i].get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        if key in old_spec:
            new_spec[key] = old_spec[key]
        else:
            new_spec.pop(key, None)
    if not old_spec.get("nodeName"):
        # binding sets nodeName; schedulingGates may only shrink
        new_spec.pop("nodeName", None)
        new_spec["nodeName"] = old_spec.get("nodeName")
        if new_spec["nodeName"] is None:
            del new_spec["nodeName"]
    if "schedulingGates" in old_spec or "schedulingGates" in new_spec:
        new_spec["schedulingGates"] = old_spec.get("schedulingGates")
        if new_spec["schedulingGates"] is None:
            del new_spec["schedulingGates"]
    if new_spec != old_spec:
        return [field.forbidden("spec", _POD_UPDATE_MSG)]
    return []


def _pod_template_kind(obj: dict, old: Optional[dict]) -> Errs:
    return validate_pod_template(obj.get("template"), "template")


def _rc(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    errs += nonnegative(spec.get("replicas"), "spec.replicas")
    errs += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = spec.get("selector") or {}
    if not selector:
        errs.append(field.required("spec.selector"))
    template = spec.get("template")
    if template is None:
        errs.append(field.required("spec.template"))
    else:
        labels = (template.get("metadata") or {}).get("labels") or {}
        if selector and any(labels.get(k) != v for k, v in selector.items()):
            from .common import go_string_map

            errs.append(
                field.invalid(
                    "spec.template.metadata.labels",
                    go_string_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
        errs += validate_pod_template(template, "spec.template")
        rp = (template.get("spec") or {}).get("restartPolicy")
        if rp is not None and rp != "Always":
            errs.append(field.not_supported("spec.template.spec.restartPolicy", rp, ("Always",)))
    return errs


# ---------------------------------------------------------------------------------------------------
# services

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    stype = spec.get("type") or "ClusterIP"
    if stype not in SERVICE_TYPES:
        errs.append(field.not_supported("spec.type", stype, SERVICE_TYPES))
    headless = spec.get("clusterIP") == "None"
    ports = dicts(spec.get("ports"))
    if stype == "ExternalName":
        name = spec.get("externalName") or ""
        if not name:
            errs.append(field.required("spec.externalName"))
        else:
            for m in dns1123_subdomain_errors(name.rstrip(".")):
                errs.append(field.invalid("spec.externalName", name, m))
    elif not ports and not headless:
        errs.append(field.required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(field.required(f"{p}.name"))
        elif name:
            errs.extend(dns_label(name, f"{p}.name"))
            if name in names:
                errs.append(field.duplicate(f"{p}.name", name))
            names.add(name)
        num = port.get("port")
        for m in port_num_errors(num):
            errs.append(field.invalid(f"{p}.port", num if num is not None else 0, m))
        proto = port.get("protocol")
        if not proto:
            errs.append(field.required(f"{p}.protocol"))
        elif proto not in PROTOCOLS:
            errs.append(field.not_supported(f"{p}.protocol", proto, PROTOCOLS))
        tp = port.get("targetPort")
        if isinstance(tp, str) and not tp.isdigit():
            for m in port_name_errors(tp):
                errs.append(field.invalid(f"{p}.targetPort", tp, m))
        elif tp is not None:
            tpn = int(tp)
            for m in port_num_errors(tpn):
                errs.append(field.invalid(f"{p}.targetPort", tpn, m))
        node_port = port.get("nodePort")
        if node_port and stype == "ClusterIP":
            errs.append(
                field.forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'")
            )
        if node_port:
            for m in port_num_errors(node_port):
                errs.append(field.invalid(f"{p}.nodePort", node_port, m))
        key = (num, proto)
        if key in seen:
            errs.append(
                field.duplicate(
                    p,
                    field.GoValue(
                        f'core.ServicePort{{Name:"{name}", Protocol:"{proto}", Port:{num}, '
                        f"TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
                    ),
                )
            )
        seen.add(key)
    sa = spec.get("sessionAffinity")
    if sa is not None and sa not in ("ClientIP", "None"):
        errs.append(field.not_supported("spec.sessionAffinity", sa, ("ClientIP", "None")))
    for i, ip in enumerate(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])):
        if ip and ip != "None":
            for m in ip_errors(ip):
                errs.append(field.invalid(f"spec.clusterIPs[{i}]", ip, m))
    if spec.get("type") != "ExternalName":
        # clusterIP and clusterIPs[0] go together (kube's validateServiceClusterIPsRelatedFields);
        # a create gets the missing one from the other when it is allocated
        ips = spec.get("clusterIPs") or []
        if spec.get("clusterIP"):
            if not ips:
                if old is not None:
                    errs.append(field.required("spec.clusterIPs", ""))
            elif ips[0] != spec["clusterIP"]:
                errs.append(field.invalid("spec.clusterIPs", go_strings(ips), "first value must match `clusterIP`"))
        elif ips and old is not None:
            errs.append(
                field.invalid("spec.clusterIPs", go_strings(ips), "must be empty when `clusterIP` is not specified")
            )
    for i, ip in enumerate(spec.get("externalIPs") or ()):
        ip_errs = [field.invalid(f"spec.externalIPs[{i}]", ip, m) for m in ip_errors(ip)]
        errs += ip_errs or non_special_ip(ip, f"spec.externalIPs[{i}]")
    selector = spec.get("selector")
    if isinstance(selector, dict):
        from kapid.apimachinery.meta import validate_labels

        errs += validate_labels(selector, "spec.selector")
    for pol, key in (("externalTrafficPolicy", ("Cluster", "Local")), ("internalTrafficPolicy", ("Cluster", "Local"))):
        v = spec.get(pol)
        if v is not None and v not in key:
            errs.append(field.not_supported(f"spec.{pol}", v, key))
    if old is not None:
        errs += _service_update(obj, old)
    return errs


def _primary_ips(spec: dict) -> list[str]:
    ips = spec.get("clusterIPs")
    if ips:
        return list(ips)
    return [spec["clusterIP"]] if spec.get("clusterIP") else []


def _service_update(obj: dict, old: dict) -> Errs:
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    new_ips, old_ips = _primary_ips(spec), _primary_ips(old_spec)
    if old_ips and new_ips and new_ips[0] != old_ips[0]:
        return [field.invalid("spec.clusterIPs[0]", go_strings(new_ips), "may not change once set")]
    return []


# ---------------------------------------------------------------------------------------------------
# config maps and secrets


def _keys(data: Any, path: str, errs: Errs) -> int:
    size = 0
    if not isinstance(data, dict):
        return 0
    for k, v in data.items():
        if not _KEY_RE.match(k) or k in (".", ".."):
            msg = _KEY_MSG if _KEY_RE.match(k) is None else "must not be '.' or '..'"
            errs.append(field.invalid(f"{path}[{k}]", k, msg))
        if len(k) > 253:
            errs.append(field.invalid(f"{path}[{k}]", k, "must be no more than 253 characters"))
        size += len(v) if isinstance(v, str) else 0
    return size


def _immutable_data(obj: dict, old: Optional[dict], keys: tuple[str, ...]) -> Errs:
    errs: Errs = []
    if old is None:
        return errs
    if old.get("immutable"):
        if obj.get("immutable") is not True:
            errs.append(field.forbidden("immutable", "field is immutable when `immutable` is set"))
        for k in keys:
            if (obj.get(k) or {}) != (old.get(k) or {}):
                errs.append(field.forbidden(k, "field is immutable when `immutable` is set"))
    return errs


def _config_map(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    size = _keys(obj.get("data"), "data", errs)
    binary = obj.get("binaryData") or {}
    for k in binary if isinstance(binary, dict) else ():
        if not _KEY_RE.match(k):
            errs.append(field.invalid(f"binaryData[{k}]", k, _KEY_MSG))
        if k in (obj.get("data") or {}):
            errs.append(
                field.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
            )
        try:
            size += len(base64.b64decode(binary[k]))
        except Exception:
            pass
    if size > MAX_CONFIG_SIZE:
        errs.append(field.too_long("", MAX_CONFIG_SIZE))
    errs += _immutable_data(obj, old, ("data", "binaryData"))
    return errs


SA_TOKEN = "kubernetes.io/service-account-token"


def _secret(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    size = 0
    for k, v in data.items():
        if not _KEY_RE.match(k):
            errs.append(field.invalid(f"data[{k}]", k, _KEY_MSG))
        try:
            size += len(base64.b64decode(v or ""))
        except Exception:
            pass
    if size > MAX_CONFIG_SIZE:
        errs.append(field.too_long("data", MAX_CONFIG_SIZE))
    stype = obj.get("type") or "Opaque"
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if stype == SA_TOKEN:
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(field.required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype == "kubernetes.io/dockercfg":
        if ".dockercfg" not in data:
            errs.append(field.required("data[.dockercfg]"))
    elif stype == "kubernetes.io/dockerconfigjson":
        if ".dockerconfigjson" not in data:
            errs.append(field.required("data[.dockerconfigjson]"))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(
                field.required(
                    "data[username]",
                    "either username or password is required for basic authentication",
                )
            )
    elif stype == "kubernetes.io/ssh-auth":
        if "ssh-privatekey" not in data:
            errs.append(field.required("data[ssh-privatekey]"))
    elif stype == "kubernetes.io/tls":
        if "tls.crt" not in data:
            errs.append(field.required("data[tls.crt]"))
        if "tls.key" not in data:
            errs.append(field.required("data[tls.key]"))
    if old is not None:
        errs += immutable(stype, old.get("type") or "Opaque", "type")
        errs += _immutable_data(obj, old, ("data",))
    return errs


# ---------------------------------------------------------------------------------------------------
# storage and policy objects


_ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def _pvc(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    modes = spec.get("accessModes") or []
    if not modes:
        errs.append(field.required("spec.accessModes", "at least 1 access mode is required"))
    for m in modes:
        if m not in _ACCESS_MODES:
            errs.append(field.not_supported("spec.accessModes", m, _ACCESS_MODES))
    if not spec.get("dataSourceRef") and not spec.get("dataSource"):
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            errs.append(field.required("spec.resources[storage]"))
    vm = spec.get("volumeMode")
    if vm is not None and vm not in ("Block", "Filesystem"):
        errs.append(field.not_supported("spec.volumeMode", vm, ("Block", "Filesystem")))
    return errs


def _pv(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    if not spec.get("accessModes"):
        errs.append(field.required("spec.accessModes"))
    if not (spec.get("capacity") or {}).get("storage"):
        errs.append(field.required("spec.capacity"))
    rp = spec.get("persistentVolumeReclaimPolicy")
    if rp is not None and rp not in ("Delete", "Recycle", "Retain"):
        errs.append(
            field.not_supported("spec.persistentVolumeReclaimPolicy", rp, ("Delete", "Recycle", "Retain"))
        )
    return errs


def _namespace(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    for i, f in enumerate((obj.get("spec") or {}).get("finalizers") or []):
        if "/" not in f and f != "kubernetes":
            errs.append(
                field.invalid(
                    f"spec.finalizers[{i}]", f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errs


def _service_account(obj: dict, old: Optional[dict]) -> Errs:
    return []


def _event(obj: dict, old: Optional[dict]) -> Errs:
    errs: Errs = []
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    inv = obj.get("involvedObject") or {}
    if inv.get("namespace") and ns and inv.get("namespace") != ns:
        errs.append(
            field.invalid("involvedObject.namespace", inv.get("namespace"), "does not match event.namespace")
        )
    return errs


def _endpoints(obj: dict, old: Optional[dict]) -> Errs:
    """
    kube's C{ValidateEndpoints}: each subset has addresses, each address a valid IP and an optional
    DNS label hostname, each port kube's checks. kube also refuses special addresses (loopback,
    link-local, unspecified: L{non_special_ip}); kapid does not, because its own address (127.0.0.1
    unless C{--advertise-address}) and local aggregated API servers are loopback endpoints on a
    single host.
    """
    errs: Errs = []
    for i, subset in enumerate(dicts(obj.get("subsets"))):
        path = f"subsets[{i}]"
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.append(field.required(path, "must specify `addresses` or `notReadyAddresses`"))
        for key in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(dicts(subset.get(key))):
                errs += _endpoint_address(address, f"{path}.{key}[{j}]")
        ports = dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            errs += _endpoint_port(port, len(ports) > 1, f"{path}.ports[{j}]")
    return errs


def _endpoint_address(address: dict, path: str) -> Errs:
    ip = address.get("ip") or ""
    errs: Errs = [field.invalid(f"{path}.ip", ip, m) for m in ip_errors(ip)]
    if address.get("hostname"):
        errs += dns_label(address["hostname"], f"{path}.hostname")
    return errs


def _endpoint_port(port: dict, require_name: bool, path: str) -> Errs:
    errs: Errs = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(field.required(f"{path}.name"))
    elif name:
        errs += dns_label(name, f"{path}.name")
    errs += [field.invalid(f"{path}.port", port.get("port") or 0, m) for m in port_num_errors(port.get("port"))]
    protocol = port.get("protocol")
    if protocol and protocol not in PROTOCOLS:  # an absent one is defaulted to TCP before this
        errs.append(field.not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    return errs


VALIDATORS = {
    "Pod": _pod,
    "Endpoints": _endpoints,
    "PodTemplate": _pod_template_kind,
    "ReplicationController": _rc,
    "Service": _service,
    "ConfigMap": _config_map,
    "Secret": _secret,
    "PersistentVolumeClaim": _pvc,
    "PersistentVolume": _pv,
    "Namespace": _namespace,
    "ServiceAccount": _service_account,
    "Event": _event,
}

# silence an unused-import check for helpers kept for other modules
_ = (dns1035_label_errors, validate_label_selector)
