"""
kube's CEL libraries (C{k8s.io/apiserver/pkg/cel/library}) as a C{cel_expr_python} extension: lists,
sets, regex, URLs, quantity, IP and CIDR, semver.

kube's own value types (Quantity, URL, IP, CIDR, Semver) are opaque objects in cel-go. The C++
runtime's Python bindings carry no foreign objects, so here they are CEL maps with a private marker
key (L{KIND}) and a canonical form; their functions are declared on C{map(string, dyn)} and check the
marker, so a plain map given to them fails as kube's "no such overload" does.
"""

from __future__ import annotations

import ipaddress
import re
import re._constants as _sre  # type: ignore[import-not-found]
import re._parser as _sre_parse  # type: ignore[import-not-found]
import urllib.parse
from fractions import Fraction
from functools import lru_cache
from typing import Any, Callable, Optional

from cel_expr_python import cel

from kapid.registry.validation.core import parse_quantity

T = cel.Type

#: The marker key of kube's opaque values.
KIND = "@kubernetes.io/type"

_OPAQUE = T.Map(T.STRING, T.DYN)
_LIST = T.List(T.DYN)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class NoSuchOverload(Exception):
    """The function was given a value of a type it does not take."""

    def __init__(self, function: str) -> None:
        super().__init__(f"no such overload: {function}")


def _opaque(kind: str, value: str) -> dict[str, Any]:
    """A kube value of C{kind} with its canonical text."""
    return {KIND: kind, "v": value}


def _unwrap(value: Any, kind: str, function: str) -> str:
    """The canonical text of a kube value of C{kind}."""
    if not isinstance(value, dict) or value.get(KIND) != kind:
        raise NoSuchOverload(function)
    return str(value["v"])


def _kind(value: Any, function: str) -> str:
    """The kind of a kube value."""
    if not isinstance(value, dict) or KIND not in value:
        raise NoSuchOverload(function)
    return str(value[KIND])


# lists


def _comparable(items: list, function: str) -> list:
    """C{items} checked to be of one orderable type."""
    kinds = {type(x) if not isinstance(x, bool) else bool for x in items}
    if kinds <= {int, float} and kinds or len(kinds) <= 1:
        if kinds & {dict, list, type(None)}:
            raise NoSuchOverload(function)
        return items
    raise NoSuchOverload(function)


def _is_sorted(items: list) -> bool:
    items = _comparable(list(items), "isSorted")
    return all(items[i] <= items[i + 1] for i in range(len(items) - 1))


def _sum(items: list) -> Any:
    items = _comparable(list(items), "sum")
    total: Any = 0
    for x in items:
        total += x
    if isinstance(total, int) and not isinstance(total, bool) and not _INT64_MIN <= total <= _INT64_MAX:
        raise OverflowError("integer overflow")
    return total


def _min(items: list) -> Any:
    items = _comparable(list(items), "min")
    if not items:
        raise ValueError("min called on empty list")
    return min(items)


def _max(items: list) -> Any:
    items = _comparable(list(items), "max")
    if not items:
        raise ValueError("max called on empty list")
    return max(items)


def _index_of(items: list, x: Any) -> int:
    for i, v in enumerate(items):
        if v == x and type(v) is type(x):
            return i
    return -1


def _last_index_of(items: list, x: Any) -> int:
    items = list(items)
    for i in range(len(items) - 1, -1, -1):
        if items[i] == x and type(items[i]) is type(x):
            return i
    return -1


# sets


def _sets_contains(a: list, b: list) -> bool:
    return all(any(x == y for y in a) for x in b)


def _sets_equivalent(a: list, b: list) -> bool:
    return _sets_contains(a, b) and _sets_contains(b, a)


def _sets_intersects(a: list, b: list) -> bool:
    return any(any(x == y for y in a) for x in b)


# regex


def _only_repeat(items: Any) -> bool:
    """Whether a parsed (sub)pattern is nothing but one unbounded repetition (possibly grouped)."""
    items = list(items)
    if len(items) != 1:
        return False
    op, arg = items[0]
    if op is _sre.SUBPATTERN:
        return _only_repeat(arg[-1])
    if op is _sre.BRANCH:
        return any(_only_repeat(alt) for alt in arg[1])
    return op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and arg[1] == _sre.MAXREPEAT


def _nested_repeat(items: Any) -> bool:
    """Whether a parsed pattern repeats a bare repetition (C{(a+)+}): exponential in Python's engine."""
    for op, arg in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if arg[1] == _sre.MAXREPEAT and _only_repeat(arg[2]):
                return True
            if _nested_repeat(arg[2]):
                return True
        elif op is _sre.SUBPATTERN and _nested_repeat(arg[-1]):
            return True
        elif op is _sre.BRANCH and any(_nested_repeat(alt) for alt in arg[1]):
            return True
    return False


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    """
    A compiled RE2-style pattern (Python's engine; the syntax kube rules use is shared). Python's
    engine backtracks, so a repeated bare repetition (C{(a+)+}), which RE2 runs in linear time, is
    refused rather than risk an exponential evaluation.
    """
    compiled = re.compile(pattern)
    if _nested_repeat(_sre_parse.parse(pattern)):
        raise ValueError(f"regex {pattern!r} repeats a repetition, which this server does not evaluate")
    return compiled


def _find(s: str, pattern: str) -> str:
    m = _regex(pattern).search(s)
    return m.group(0) if m else ""


def _find_all(s: str, pattern: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    out = [m.group(0) for m in _regex(pattern).finditer(s)]
    return out if limit < 0 else out[:limit]


# URLs


def _parse_url(s: str) -> urllib.parse.SplitResult:
    """Go's C{url.ParseRequestURI}: an absolute URL or an absolute path."""
    if not s or any(ord(c) < 0x20 or c == "\x7f" or c == " " for c in s):
        raise ValueError(f"URL parse error during conversion from string: {s!r}")
    u = urllib.parse.urlsplit(s)
    if not u.scheme and not s.startswith("/"):
        raise ValueError(f"URL parse error during conversion from string: parse {s!r}: invalid URI for request")
    if u.scheme and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", u.scheme):
        raise ValueError(f"URL parse error during conversion from string: parse {s!r}: invalid URI for request")
    if u.fragment or "#" in s:
        u = urllib.parse.urlsplit(s.split("#", 1)[0])
    return u


def _url(s: str) -> dict[str, Any]:
    _parse_url(s)
    return _opaque("url", s)


def _is_url(s: str) -> bool:
    try:
        _parse_url(s)
    except ValueError:
        return False
    return True


def _u(v: Any, function: str) -> urllib.parse.SplitResult:
    return _parse_url(_unwrap(v, "url", function))


def _get_scheme(v: Any) -> str:
    return _u(v, "getScheme").scheme


def _get_host(v: Any) -> str:
    return _u(v, "getHost").netloc.rpartition("@")[2]


def _get_hostname(v: Any) -> str:
    host = _get_host(v)
    if host.startswith("["):
        return host[1:host.index("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if ":" in host else host


def _get_port(v: Any) -> str:
    host = _get_host(v)
    if host.startswith("["):
        rest = host[host.index("]") + 1:] if "]" in host else ""
        return rest[1:] if rest.startswith(":") else ""
    return host.rsplit(":", 1)[1] if ":" in host else ""


def _get_escaped_path(v: Any) -> str:
    return _u(v, "getEscapedPath").path


def _get_query(v: Any) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(_u(v, "getQuery").query, keep_blank_values=True)


# quantity


def _q(v: Any, function: str) -> Fraction:
    return Fraction(_unwrap(v, "quantity", function))


def _quantity(s: str) -> dict[str, Any]:
    value = parse_quantity(s) if isinstance(s, str) and s.strip() == s else None
    if value is None:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    return _opaque("quantity", str(value))


def _is_quantity(s: str) -> bool:
    return isinstance(s, str) and s.strip() == s and parse_quantity(s) is not None


def _q_sign(v: Any) -> int:
    q = _q(v, "sign")
    return (q > 0) - (q < 0)


def _q_is_integer(v: Any) -> bool:
    q = _q(v, "isInteger")
    return q.denominator == 1 and _INT64_MIN <= q <= _INT64_MAX


def _q_as_integer(v: Any) -> int:
    q = _q(v, "asInteger")
    if q.denominator != 1 or not _INT64_MIN <= q <= _INT64_MAX:
        raise ValueError("cannot convert value to integer")
    return int(q)


def _q_as_float(v: Any) -> float:
    return float(_q(v, "asApproximateFloat"))


def _q_operand(x: Any, function: str) -> Fraction:
    if isinstance(x, int) and not isinstance(x, bool):
        return Fraction(x)
    return _q(x, function)


def _q_add(v: Any, x: Any) -> dict[str, Any]:
    return _opaque("quantity", str(_q(v, "add") + _q_operand(x, "add")))


def _q_sub(v: Any, x: Any) -> dict[str, Any]:
    return _opaque("quantity", str(_q(v, "sub") - _q_operand(x, "sub")))


# IP and CIDR


def _parse_ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(s, str) or "%" in s:
        raise ValueError(f"IP Address {s!r} parse error during conversion from string: invalid IP address")
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        raise ValueError(f"IP Address {s!r} parse error during conversion from string: invalid IP address") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise ValueError("IPv4-mapped IPv6 address is not allowed")
    if isinstance(addr, ipaddress.IPv4Address) and any(len(p) > 1 and p[0] == "0" for p in s.split(".")):
        raise ValueError(f"IP Address {s!r} parse error during conversion from string: invalid IP address")
    return addr


def _ip(s: str) -> dict[str, Any]:
    return _opaque("ip", str(_parse_ip(s)))


def _is_ip(s: str) -> bool:
    try:
        _parse_ip(s)
    except ValueError:
        return False
    return True


def _ip_is_canonical(s: str) -> bool:
    return str(_parse_ip(s)) == s


def _ipv(v: Any, function: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(_unwrap(v, "ip", function))


def _family(v: Any) -> int:
    return _ipv(v, "family").version


def _is_unspecified(v: Any) -> bool:
    return _ipv(v, "isUnspecified").is_unspecified


def _is_loopback(v: Any) -> bool:
    return _ipv(v, "isLoopback").is_loopback


def _is_link_local_multicast(v: Any) -> bool:
    a = _ipv(v, "isLinkLocalMulticast")
    if a.version == 4:
        return a in ipaddress.ip_network("224.0.0.0/24")
    return a in ipaddress.ip_network("ff02::/16")


def _is_link_local_unicast(v: Any) -> bool:
    a = _ipv(v, "isLinkLocalUnicast")
    if a.version == 4:
        return a in ipaddress.ip_network("169.254.0.0/16")
    return a in ipaddress.ip_network("fe80::/10")


def _is_global_unicast(v: Any) -> bool:
    a = _ipv(v, "isGlobalUnicast")
    if a.version == 4 and a == ipaddress.IPv4Address("255.255.255.255"):
        return False
    return not (a.is_unspecified or a.is_loopback or a.is_multicast or _is_link_local_unicast(v))


def _parse_cidr(s: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    if not isinstance(s, str) or "/" not in s:
        raise ValueError(f"network address {s!r} parse error during conversion from string: no '/'")
    addr, _, bits = s.partition("/")
    ip = _parse_ip(addr)
    if not bits.isdigit() or (len(bits) > 1 and bits[0] == "0") or int(bits) > ip.max_prefixlen:
        raise ValueError(f"network address {s!r} parse error during conversion from string: bad bits after slash")
    return ip, int(bits)


def _cidr(s: str) -> dict[str, Any]:
    ip, bits = _parse_cidr(s)
    return _opaque("cidr", f"{ip}/{bits}")


def _is_cidr(s: str) -> bool:
    try:
        _parse_cidr(s)
    except ValueError:
        return False
    return True


def _cv(v: Any, function: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    return _parse_cidr(_unwrap(v, "cidr", function))


def _network(v: Any, function: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    ip, bits = _cv(v, function)
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def _contains_ip(v: Any, x: Any) -> bool:
    net = _network(v, "containsIP")
    ip = _parse_ip(x) if isinstance(x, str) else _ipv(x, "containsIP")
    return ip.version == net.version and ip in net


def _contains_cidr(v: Any, x: Any) -> bool:
    net = _network(v, "containsCIDR")
    ip, bits = _parse_cidr(x) if isinstance(x, str) else _cv(x, "containsCIDR")
    other = ipaddress.ip_network(f"{ip}/{bits}", strict=False)
    return other.version == net.version and bits >= net.prefixlen and other.network_address in net


def _cidr_ip(v: Any) -> dict[str, Any]:
    return _opaque("ip", str(_cv(v, "ip")[0]))


def _masked(v: Any) -> dict[str, Any]:
    return _opaque("cidr", str(_network(v, "masked")))


def _prefix_length(v: Any) -> int:
    return _cv(v, "prefixLength")[1]


# semver

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def _normalize_semver(s: str) -> str:
    """kube's normalization: no leading C{v}, missing minor/patch as 0, no leading zeros."""
    s = s[1:] if s.startswith("v") else s
    m = re.match(r"^[0-9.]*", s)
    core = m.group(0) if m else ""
    rest = s[len(core):]
    parts = core.split(".") if core else []
    if 0 < len(parts) < 3:
        parts += ["0"] * (3 - len(parts))
    parts = [p.lstrip("0") or "0" if p.isdigit() else p for p in parts]
    return ".".join(parts) + rest


def _parse_semver(s: str, normalize: bool = False) -> tuple[int, int, int, Optional[str]]:
    text = _normalize_semver(s) if normalize else s
    m = _SEMVER.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError("string is not a valid SemVer format")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def _semver(s: str, normalize: bool = False) -> dict[str, Any]:
    _parse_semver(s, normalize)
    return _opaque("semver", _normalize_semver(s) if normalize else s)


def _is_semver(s: str, normalize: bool = False) -> bool:
    try:
        _parse_semver(s, normalize)
    except ValueError:
        return False
    return True


def _sv(v: Any, function: str) -> tuple[int, int, int, Optional[str]]:
    return _parse_semver(_unwrap(v, "semver", function))


def _pre_key(pre: Optional[str]) -> tuple:
    """Semver 2.0 precedence of a pre-release (none sorts last)."""
    if pre is None:
        return (1,)
    return (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))


def _compare(a: Any, b: Any, function: str) -> int:
    kind = _kind(a, function)
    if kind != _kind(b, function):
        raise NoSuchOverload(function)
    x: Any
    y: Any
    if kind == "quantity":
        x, y = _q(a, function), _q(b, function)
    elif kind == "semver":
        sa, sb = _sv(a, function), _sv(b, function)
        x, y = (sa[:3], _pre_key(sa[3])), (sb[:3], _pre_key(sb[3]))
    else:
        raise NoSuchOverload(function)
    return (x > y) - (x < y)


def _major(v: Any) -> int:
    return _sv(v, "major")[0]


def _minor(v: Any) -> int:
    return _sv(v, "minor")[1]


def _patch(v: Any) -> int:
    return _sv(v, "patch")[2]


def _to_string(v: Any) -> str:
    kind = _kind(v, "string")
    if kind in ("ip", "cidr", "url", "semver"):
        return str(v["v"])
    raise NoSuchOverload("string")


def _decl(name: str, *overloads: tuple[str, Any, list, bool, Callable[..., Any]]) -> Any:
    return cel.FunctionDecl(name, [
        cel.Overload(oid, return_type=ret, parameters=params, is_member=member, impl=impl)
        for oid, ret, params, member, impl in overloads
    ])


def _member(name: str, ret: Any, impl: Callable[..., Any], *params: Any) -> Any:
    """A member function on kube's opaque values."""
    return _decl(name, (f"kube_{name}_{len(params)}", ret, [_OPAQUE, *params], True, impl))


def _global(name: str, ret: Any, impl: Callable[..., Any], *params: Any) -> Any:
    return _decl(name, (f"kube_{name}_global_{len(params)}", ret, list(params), False, impl))


def _functions() -> list[Any]:
    S, I, B, D = T.STRING, T.INT, T.BOOL, T.DYN
    return [
        # lists
        _decl("isSorted", ("list_is_sorted", B, [_LIST], True, _is_sorted)),
        _decl("sum", ("list_sum", D, [_LIST], True, _sum)),
        _decl("min", ("list_min", D, [_LIST], True, _min)),
        _decl("max", ("list_max", D, [_LIST], True, _max)),
        _decl("indexOf", ("list_index_of", I, [_LIST, D], True, _index_of)),
        _decl("lastIndexOf", ("list_last_index_of", I, [_LIST, D], True, _last_index_of)),
        # sets
        _decl("sets.contains", ("sets_contains", B, [_LIST, _LIST], False, _sets_contains)),
        _decl("sets.equivalent", ("sets_equivalent", B, [_LIST, _LIST], False, _sets_equivalent)),
        _decl("sets.intersects", ("sets_intersects", B, [_LIST, _LIST], False, _sets_intersects)),
        # regex
        _decl("find", ("string_find", S, [S, S], True, _find)),
        _decl("findAll", ("string_find_all", T.List(S), [S, S], True, _find_all),
              ("string_find_all_n", T.List(S), [S, S, I], True, _find_all)),
        # URLs
        _global("url", _OPAQUE, _url, S),
        _global("isURL", B, _is_url, S),
        _member("getScheme", S, _get_scheme),
        _member("getHost", S, _get_host),
        _member("getHostname", S, _get_hostname),
        _member("getPort", S, _get_port),
        _member("getEscapedPath", S, _get_escaped_path),
        _member("getQuery", T.Map(S, T.List(S)), _get_query),
        # quantity
        _global("quantity", _OPAQUE, _quantity, S),
        _global("isQuantity", B, _is_quantity, S),
        _member("sign", I, _q_sign),
        _member("isInteger", B, _q_is_integer),
        _member("asInteger", I, _q_as_integer),
        _member("asApproximateFloat", T.DOUBLE, _q_as_float),
        _member("add", _OPAQUE, _q_add, D),
        _member("sub", _OPAQUE, _q_sub, D),
        _member("isGreaterThan", B, lambda a, b: _compare(a, b, "isGreaterThan") > 0, _OPAQUE),
        _member("isLessThan", B, lambda a, b: _compare(a, b, "isLessThan") < 0, _OPAQUE),
        _member("compareTo", I, lambda a, b: _compare(a, b, "compareTo"), _OPAQUE),
        # IP and CIDR
        _decl("ip", ("kube_ip_global", _OPAQUE, [S], False, _ip),
              ("kube_cidr_ip", _OPAQUE, [_OPAQUE], True, _cidr_ip)),
        _global("isIP", B, _is_ip, S),
        _global("ip.isCanonical", B, _ip_is_canonical, S),
        _member("family", I, _family),
        _member("isUnspecified", B, _is_unspecified),
        _member("isLoopback", B, _is_loopback),
        _member("isLinkLocalMulticast", B, _is_link_local_multicast),
        _member("isLinkLocalUnicast", B, _is_link_local_unicast),
        _member("isGlobalUnicast", B, _is_global_unicast),
        _global("cidr", _OPAQUE, _cidr, S),
        _global("isCIDR", B, _is_cidr, S),
        _member("containsIP", B, _contains_ip, D),
        _member("containsCIDR", B, _contains_cidr, D),
        _member("masked", _OPAQUE, _masked),
        _member("prefixLength", I, _prefix_length),
        # semver
        _decl("semver", ("kube_semver", _OPAQUE, [S], False, _semver),
              ("kube_semver_normalize", _OPAQUE, [S, B], False, _semver)),
        _decl("isSemver", ("kube_is_semver", B, [S], False, _is_semver),
              ("kube_is_semver_normalize", B, [S, B], False, _is_semver)),
        _member("major", I, _major),
        _member("minor", I, _minor),
        _member("patch", I, _patch),
        _decl("string", ("kube_value_to_string", S, [_OPAQUE], False, _to_string)),
    ]


def kube_extension() -> Any:
    """The extension with every kube library function."""
    return cel.CelExtension("kubernetes", _functions())


def is_kube_value(value: Any) -> bool:
    """Whether a result is one of kube's opaque values."""
    return isinstance(value, dict) and KIND in value

