"""
Validation helpers shared by the per-group validators: Go-style value printing, ports, label
selectors, pod templates (k8s.io/kubernetes pkg/apis/core/validation and apimachinery's
metav1 validation, with kube's messages).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Optional

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError, GoValue
from kapid.apimachinery.meta import (
    dns1123_label_errors,
    label_value_errors,
    qualified_name_errors,
    validate_annotations,
    validate_labels,
)

Errs = list[FieldError]

PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
NONNEGATIVE_MSG = "must be greater than or equal to 0"
IMMUTABLE_MSG = "field is immutable"


def go_string_map(m: Optional[dict]) -> GoValue:
    """
    Go's C{%#v} of a C{map[string]string}: C{map[string]string{"a":"b", "c":"d"}} (keys sorted).
    """
    if m is None:
        return GoValue("map[string]string(nil)")
    inner = ", ".join(f'"{k}":"{m[k]}"' for k in sorted(m))
    return GoValue("map[string]string{" + inner + "}")


def go_strings(values: Optional[Iterable[str]]) -> GoValue:
    """
    Go's C{%#v} of a C{[]string}: C{[]string{"a", "b"}}.
    """
    if values is None:
        return GoValue("[]string(nil)")
    return GoValue("[]string{" + ", ".join(f'"{v}"' for v in values) + "}")


def go_label_selector(sel: Optional[dict]) -> GoValue:
    """
    Go's C{%#v} of a C{metav1.LabelSelector}.
    """
    sel = sel or {}
    exprs = sel.get("matchExpressions")
    if exprs:
        parts = []
        for e in exprs:
            vals = e.get("values")
            parts.append(
                f'v1.LabelSelectorRequirement{{Key:"{e.get("key", "")}", '
                f'Operator:"{e.get("operator", "")}", Values:{go_strings(vals)}}}'
            )
        ex = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    else:
        ex = "[]v1.LabelSelectorRequirement(nil)"
    return GoValue(
        f"v1.LabelSelector{{MatchLabels:{go_string_map(sel.get('matchLabels'))}, MatchExpressions:{ex}}}"
    )


def dicts(value: Any) -> list[dict]:
    """
    The dict items of a list (others skipped: the decoder reports them).
    """
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def nonnegative(value: Any, path: str) -> Errs:
    """
    kube's C{ValidateNonnegativeField}.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [field.invalid(path, value, NONNEGATIVE_MSG)]
    return []


def positive(value: Any, path: str) -> Errs:
    """
    kube's C{ValidatePositiveField}-style check (C{must be greater than 0}).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        return [field.invalid(path, value, "must be greater than 0")]
    return []


def immutable(new: Any, old: Any, path: str, shown: Any = None) -> Errs:
    """
    kube's C{ValidateImmutableField}: C{field is immutable} when C{new != old}.
    """
    if new != old:
        return [field.invalid(path, new if shown is None else shown, IMMUTABLE_MSG)]
    return []


def port_num_errors(port: Any) -> list[str]:
    """
    kube's C{IsValidPortNum}.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        return [PORT_RANGE_MSG]
    return []


_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PORT_NAME_LETTER = re.compile(r"[a-z]")


def port_name_errors(name: str) -> list[str]:
    """
    kube's C{IsValidPortName} (an IANA_SVC_NAME).
    """
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def ip_errors(value: str) -> list[str]:
    """
    kube's C{IsValidIP}.
    """
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def non_special_ip(value: str, path: str) -> Errs:
    """
    kube's C{ValidateNonSpecialIP}: an unspecified, loopback, link-local or link-local multicast
    address would let a proxy reach the node or the API server's own host, so it is refused. kube
    applies it to Endpoints, EndpointSlices and Service external IPs; kapid to external IPs only
    (see L{kapid.registry.validation.core._endpoints}).
    """
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return [field.invalid(path, value, "must be a valid IP address")]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # Go's net.IP tests an IPv4-mapped address as the IPv4 one
    errs: Errs = []
    if ip.is_unspecified:
        errs.append(field.invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback:
        errs.append(field.invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip in _LINK_LOCAL:
        errs.append(field.invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if ip in _LINK_LOCAL_MULTICAST or (
        isinstance(ip, ipaddress.IPv6Address) and ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02
    ):
        errs.append(
            field.invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        )
    return errs


class _Net:
    """
    Membership in IPv4 or IPv6 networks, whatever the address's family.
    """

    def __init__(self, *nets: str) -> None:
        self.nets = [ipaddress.ip_network(n) for n in nets]

    def __contains__(self, ip: Any) -> bool:
        return any(ip.version == n.version and ip in n for n in self.nets)


_LINK_LOCAL = _Net("169.254.0.0/16", "fe80::/10")
_LINK_LOCAL_MULTICAST = _Net("224.0.0.0/24")


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(sel: Any, path: str) -> Errs:
    """
    kube's C{ValidateLabelSelector}.
    """
    errs: Errs = []
    if not isinstance(sel, dict):
        return errs
    for i, req in enumerate(dicts(sel.get("matchExpressions"))):
        p = f"{path}.matchExpressions[{i}]"
        op = req.get("operator")
        values = req.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    field.required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    field.forbidden(
                        f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    )
                )
        else:
            errs.append(field.invalid(f"{p}.operator", op, "not a valid selector operator"))
        key = req.get("key") or ""
        for m in qualified_name_errors(key):
            errs.append(field.invalid(f"{p}.key", key, m))
        if op in ("In", "NotIn"):
            for j, v in enumerate(values):
                for m in label_value_errors(v if isinstance(v, str) else str(v)):
                    errs.append(field.invalid(f"{p}.values[{j}]", v, m))
    errs += validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    return errs


def selector_matches(sel: dict, labels: dict) -> bool:
    """
    Whether a C{metav1.LabelSelector} selects C{labels}.
    """
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in dicts(sel.get("matchExpressions")):
        k, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def selector_is_empty(sel: Any) -> bool:
    """
    Whether a label selector has neither matchLabels nor matchExpressions.
    """
    return not isinstance(sel, dict) or (not sel.get("matchLabels") and not sel.get("matchExpressions"))


def validate_template_meta(meta: Any, path: str) -> Errs:
    """
    The metadata checks kube applies to a pod template's metadata (labels, annotations).
    """
    if not isinstance(meta, dict):
        return []
    return validate_labels(meta.get("labels"), f"{path}.labels") + validate_annotations(
        meta.get("annotations"), f"{path}.annotations"
    )


def dns_label(value: str, path: str) -> Errs:
    """
    C{Invalid value} for each DNS-1123 label message.
    """
    return [field.invalid(path, value, m) for m in dns1123_label_errors(value)]
