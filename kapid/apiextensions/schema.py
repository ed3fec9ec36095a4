"""
The custom-resource schema engine: everything a custom object needs from its CRD version's
C{openAPIV3Schema} -- validation, pruning, defaulting -- as kube-apiserver 1.33 does it.

L{compile_schema} turns a structural schema into a L{CompiledSchema} once per CRD version: a tree of
closures and tables, so the work per object never interprets the schema again. What each part
mirrors in apiextensions-apiserver and k8s.io/kube-openapi:

  - B{Validation} (L{CompiledSchema.validate}): kube-openapi's C{validate.SchemaValidator} (the
    validators in its order: type, allOf/anyOf/oneOf/not, string, format, number, slice, enum,
    object) with the errors converted as C{kubeOpenAPIResultToFieldErrors} converts them, so paths
    (C{spec.items[1].name}, map values as C{spec.labels.foo}) and messages
    (C{spec.replicas in body must be of type integer: "string"}) are kube's. Errors that are not
    C{*errors.Validation} in kube-openapi (C{"spec.x" must validate at least one schema (anyOf)},
    C{Checked value must be of type integer ...}) have kube's field C{<nil>}. Then the embedded
    resources' C{apiVersion}/C{kind}/C{metadata} checks (C{objectmeta.Validate}) and the
    C{x-kubernetes-list-type} C{set}/C{map} uniqueness (C{listtype.ValidateListSetsAndMaps}), whose
    paths use C{field.Path} (map keys as C{[key]}).
  - B{Pruning} (L{CompiledSchema.prune}, L{CompiledSchema.unknown_fields}): C{schemaCoercer.apply}:
    the root's C{metadata} reduced to ObjectMeta's fields (C{metadata.foo}), the object pruned
    (C{pruning.PruneWithOptions}, sorted paths, the root and C{x-kubernetes-embedded-resource}
    objects keeping C{apiVersion}/C{kind}/C{metadata}), non-nullable nulls without a default
    dropped, and the metadata of embedded resources reduced to ObjectMeta's fields.
  - B{Defaulting} (L{CompiledSchema.default}): C{defaulting.Default}: top-down, so a defaulted object
    gets its nested defaults; a non-nullable C{null} is replaced by the default; defaults in list
    items and map values. Default values are pruned against their schema when compiled, as
    C{PruneDefaults} does when the CRD is accepted.

Bad values print as kube 1.33's C{ErrorBody} does (C{%v} numbers with Go's float formatting,
C{%q} strings, C{"null"}, Go's C{%#v} for objects and lists: C{map[string]interface {}{"a":1}}).

Differences from kube, all in corners: C{pattern}s run on RE2 (C{google-re2}) like Go's, simple
ones on Python's C{re} translated to the same meaning (L{compile_pattern}); kube
reports properties in Go's random map order, kapid in the object's order; for a failed C{anyOf}/
C{oneOf} kube adds the errors of the branch its C{MatchCount} ranks best, kapid those of the branch
with the fewest errors; the rarer formats (C{email}, C{uri}, C{creditcard}) are close
approximations of the Go parsers.
"""

from __future__ import annotations

import binascii
import gc
import ipaddress
import re
import sys
from decimal import Decimal
from typing import Any, Callable, Optional

import orjson

from kapid.apimachinery import field
from kapid.apimachinery.field import OMIT, FieldError, GoValue
from kapid.apimachinery.meta import (
    dns1035_label_errors,
    path_segment_errors,
    validate_object_meta,
)

__all__ = ["CompiledSchema", "compile_schema"]

_NoneType = type(None)

# ---------------------------------------------------------------------------------------------------
# Go formatting of values in messages


def _float_digits(f: float) -> tuple[str, str, int]:
    """
    The shortest decimal digits of C{f} as Go's C{strconv} finds them: (sign, digits without
    trailing zeros, position of the decimal point).
    """
    t = Decimal(repr(abs(f))).normalize().as_tuple()
    ds = "".join(map(str, t.digits))
    return ("-" if f < 0 else ""), ds, len(ds) + int(t.exponent)


def _fmt_e(sign: str, ds: str, dp: int, min_exp_digits: int) -> str:
    exp = dp - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    es = "-" if exp < 0 else "+"
    return f"{sign}{mant}e{es}{abs(exp):0{min_exp_digits}d}"


def _fmt_f(sign: str, ds: str, dp: int) -> str:
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return f"{sign}{ds}{'0' * (dp - len(ds))}"
    return f"{sign}{ds[:dp]}.{ds[dp:]}"


def go_float(f: float) -> str:
    """
    A float64 as Go's C{%v} prints it (C{%g}, shortest digits, exponent form below 1e-4 and from
    1e+06 on): C{10}, C{1.5}, C{123456}, C{1e+06}, C{1.234567e+06}, C{1e-05}.
    """
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, ds, dp = _float_digits(f)
    exp = dp - 1
    if exp < -4 or exp >= 6:
        return _fmt_e(sign, ds, dp, 2)
    return _fmt_f(sign, ds, dp)


def go_json_float(f: float) -> str:
    """
    A float64 as Go's C{encoding/json} writes it: C{1}, C{1.5}, C{1e+21}, C{1e-7}.
    """
    if f == 0:
        return "0" if not str(f).startswith("-") else "-0"
    sign, ds, dp = _float_digits(f)
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        s = _fmt_e(sign, ds, dp, 2)
        # Go's encoder cleans e-07 to e-7
        s = re.sub(r"e([+-])0(\d)$", r"e\1\2", s)
        return s
    return _fmt_f(sign, ds, dp)


def _go_json(value: Any) -> str:
    """
    C{json.Marshal} of a decoded JSON value: sorted keys, Go's float and HTML escaping.
    """
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        s = orjson.dumps(value).decode("utf-8")
        if isinstance(value, str):
            s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return s
    if isinstance(value, float):
        return go_json_float(value)
    if isinstance(value, list):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_go_json(str(k)) + ":" + _go_json(value[k]) for k in sorted(value)) + "}"
    return orjson.dumps(value).decode("utf-8")


def _go_sharp_v(value: Any) -> str:
    """
    Go's C{%#v} of a decoded JSON value: C{map[string]interface {}{"a":1, "b":"x"}},
    C{[]interface {}{"a", 1}}, C{interface {}(nil)}.
    """
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return _q(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_sharp_v(v) for v in value) + "}"
    if isinstance(value, dict):
        return "map[string]interface {}{" + ", ".join(
            f"{_q(str(k))}:{_go_sharp_v(value[k])}" for k in sorted(value)) + "}"
    return str(value)


def _bad(value: Any) -> Any:
    """
    A bad value as kube 1.33's C{ErrorBody} prints it: C{%v} for numbers and booleans, C{%q} for
    strings, C{"null"} for null, C{%#v} for objects and lists.
    """
    if value is None:
        return "null"
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return GoValue(go_float(value))
    return GoValue(_go_sharp_v(value))


def _q(s: str) -> str:
    """
    Go's C{%q}.
    """
    return orjson.dumps(s).decode("utf-8")


def _fieldpath(name: str) -> str:
    """
    kube's field for a kube-openapi error name: the leading C{.} trimmed, C{<nil>} for the root.
    """
    if not name or name == ".":
        return "<nil>"
    return name[1:] if name[0] == "." else name


def _nil_invalid(msg: str) -> FieldError:
    # a plain error (not *errors.Validation): kube's field.Invalid(nil, "", err.Error())
    return FieldError("invalid", "<nil>", "", msg)


# ---------------------------------------------------------------------------------------------------
# formats (kube-openapi's strfmt.Default, as apiextensions supports them)

#: formats kube 1.33 validates for strings (C{-} removed, as go-openapi normalises names)
SUPPORTED_STRING_FORMATS = frozenset(
    "bsonobjectid uri email hostname ipv4 ipv6 cidr mac uuid uuid3 uuid4 uuid5 isbn isbn10 isbn13 "
    "creditcard ssn hexcolor rgbcolor byte password date duration datetime".split()
)

_HOST_CH = r"[a-zA-Z0-9$+<=>^`|~\u0080-\U0010ffff]"
_HOST_LETTER = r"[a-zA-Z\u0080-\U0010ffff]"
_RX_HOSTNAME = re.compile(
    rf"^({_HOST_CH}((-?{_HOST_CH}{{0,62}})?)|({_HOST_CH}(([a-zA-Z0-9\-$+<=>^`|~\u0080-\U0010ffff]{{0,61}}"
    rf"{_HOST_CH})?)(\.)){{1,}}({_HOST_LETTER}){{2,63}})$"
)
_RX_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_RX_UUID3 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_RX_UUID4 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_RX_UUID5 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_RX_BASE64 = re.compile(
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
)
_RX_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_RX_TIME = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_RX_MAC = re.compile(
    r"^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){7}"
    r"|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){19}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2}|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){3}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){9})$"
)
_RX_SSN = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_RX_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB_N = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
_RX_RGB = re.compile(rf"^rgb\({_RGB_N},{_RGB_N},{_RGB_N}\)$")
_RX_GO_DURATION = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$")
_RX_DURATION_WORDS = re.compile(r"((\d+)\s*([A-Za-zµ]+))")
_DURATION_UNITS = (
    ("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
    ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"),
)
_RX_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_RX_EMAIL_NAMED = re.compile(r"^[^<>]*<([^@\s<>]+@[^@\s<>]+)>$")
_RX_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_date(s: str) -> bool:
    m = _RX_DATE.match(s)
    if not m:
        return False
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12 or d < 1:
        return False
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    return d <= (29 if mo == 2 and leap else 28 if mo == 2 else _DAYS[mo - 1])


def _is_datetime(s: str) -> bool:
    if len(s) < 4:
        return False
    parts = s.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    m = _RX_TIME.search(parts[1])
    return bool(m) and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


def _is_duration(s: str) -> bool:
    if _RX_GO_DURATION.match(s) and s not in ("", "+", "-"):
        return True
    for m in _RX_DURATION_WORDS.findall(s):
        unit = m[2].strip().lower()
        for variants in _DURATION_UNITS:
            last = len(variants) - 1
            for i, variant in enumerate(variants):
                if (i == last and unit.startswith(variant)) or variant.lower() == unit:
                    return True
    return False


def _sloppy_v4(s: str) -> Optional[str]:
    parts = s.split(".")
    if len(parts) != 4 or not all(p.isdigit() and p.isascii() and 0 < len(p) <= 3 for p in parts):
        return None
    if any(int(p) > 255 for p in parts):
        return None
    return ".".join(str(int(p)) for p in parts)


def _parse_ip(s: str) -> bool:
    if ":" not in s:
        return _sloppy_v4(s) is not None
    if "%" in s:
        return False
    try:
        ipaddress.IPv6Address(s)
        return True
    except ValueError:
        pass
    # an IPv6 address ending in a dotted quad with leading zeros (Go's sloppy parser)
    head, _, tail = s.rpartition(":")
    v4 = _sloppy_v4(tail)
    if v4 is None:
        return False
    try:
        ipaddress.IPv6Address(f"{head}:{v4}")
        return True
    except ValueError:
        return False


def _is_cidr(s: str) -> bool:
    ip, sep, bits = s.partition("/")
    if not sep or not bits.isdigit() or not bits.isascii() or not _parse_ip(ip):
        return False
    return int(bits) <= (128 if ":" in ip else 32) and (len(bits) == 1 or bits[0] != "0")


def _is_uri(s: str) -> bool:
    if not s or any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
        return False
    if s.startswith("/"):
        return True
    if not _RX_URI_SCHEME.match(s):
        return False
    rest = s.split(":", 1)[1]
    if rest.startswith("//"):
        host = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        if " " in host:
            return False
    return True


def _is_email(s: str) -> bool:
    s = s.strip()
    return bool(_RX_EMAIL.match(s) or _RX_EMAIL_NAMED.match(s))


def _isbn10(s: str) -> bool:
    s = s.replace("-", "").replace(" ", "")
    if not re.match(r"^(?:[0-9]{9}X|[0-9]{10})$", s):
        return False
    total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(s))
    return total % 11 == 0


def _isbn13(s: str) -> bool:
    s = s.replace("-", "").replace(" ", "")
    if not re.match(r"^[0-9]{13}$", s):
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s[:12]))
    return (10 - total % 10) % 10 == int(s[12])


def _creditcard(s: str) -> bool:
    digits = re.sub(r"[^0-9]", "", s)
    if not re.match(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]"
        r"|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}"
        r"|(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})$",
        digits,
    ):
        return False
    total, double = 0, False
    for c in reversed(digits):
        n = int(c)
        if double:
            n *= 2
            if n > 9:
                n -= 9
        total += n
        double = not double
    return total % 10 == 0


def _bsonobjectid(s: str) -> bool:
    if len(s) != 24:
        return False
    try:
        binascii.unhexlify(s)
        return True
    except (binascii.Error, ValueError):
        return False


def _hostname(s: str) -> bool:
    if not _RX_HOSTNAME.match(s) or len(s.encode()) > 255:
        return False
    return all(len(p.encode()) <= 63 for p in s.split("."))


_FORMATS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": _bsonobjectid,
    "uri": _is_uri,
    "email": _is_email,
    "hostname": _hostname,
    "ipv4": lambda s: _parse_ip(s) and "." in s,
    "ipv6": lambda s: _parse_ip(s) and ":" in s,
    "cidr": _is_cidr,
    "mac": lambda s: bool(_RX_MAC.match(s)),
    "uuid": lambda s: bool(_RX_UUID.match(s)),
    "uuid3": lambda s: bool(_RX_UUID3.match(s)),
    "uuid4": lambda s: bool(_RX_UUID4.match(s)),
    "uuid5": lambda s: bool(_RX_UUID5.match(s)),
    "isbn": lambda s: _isbn10(s) or _isbn13(s),
    "isbn10": _isbn10,
    "isbn13": _isbn13,
    "creditcard": _creditcard,
    "ssn": lambda s: bool(_RX_SSN.match(s)),
    "hexcolor": lambda s: bool(_RX_HEXCOLOR.match(s)),
    "rgbcolor": lambda s: bool(_RX_RGB.match(s)),
    "byte": lambda s: bool(_RX_BASE64.match(s)),
    "password": lambda s: True,
    "date": _is_date,
    "duration": _is_duration,
    "datetime": _is_datetime,
}


def supported_format(type_: str, fmt: str) -> str:
    """
    The format kube keeps for a schema of type C{type_} (C{StripUnsupportedFormatsPostProcess}):
    C{""} when kube ignores it.
    """
    if not fmt:
        return ""
    if type_ in ("", "string"):
        return fmt if fmt.replace("-", "") in SUPPORTED_STRING_FORMATS else ""
    if type_ == "integer":
        return fmt if fmt in ("int32", "int64") else ""
    if type_ == "number":
        return fmt if fmt in ("float", "double") else ""
    return ""


# ---------------------------------------------------------------------------------------------------
# patterns (Go RE2 -> Python re)

_POSIX = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "xdigit": "0-9A-Fa-f", "word": r"\w", "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~", "cntrl": r"\x00-\x1f\x7f", "print": r" -~", "graph": r"!-~",
    "ascii": r"\x00-\x7f",
}
_UNICODE_CLASSES = {"L": r"[^\W\d_]", "N": r"\d", "Nd": r"\d", "Lu": r"[A-Z]", "Ll": r"[a-z]"}


def translate_pattern(pattern: str) -> str:
    """
    A Go RE2 pattern as a Python C{re} pattern with the same meaning in the common cases:
    C{$} and C{\\z} match at the end of the text only, POSIX classes and C{\\pL} become classes.
    """
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    multiline = pattern.startswith("(?m") or pattern.startswith("(?sm") or pattern.startswith("(?im")
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            if d == "z" and not in_class:
                out.append(r"\Z")
                i += 2
                continue
            if d in "pP":
                neg = d == "P"
                if i + 2 < n and pattern[i + 2] == "{":
                    end = pattern.find("}", i + 3)
                    name = pattern[i + 3:end] if end > 0 else ""
                    step = end + 1 - i if end > 0 else 2
                else:
                    name = pattern[i + 2] if i + 2 < n else ""
                    step = 3
                cls = _UNICODE_CLASSES.get(name)
                if cls is not None and not in_class:
                    out.append(f"(?!{cls})." if neg else cls)
                    i += step
                    continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end > 0:
                    name = pattern[i + 2:end]
                    neg = name.startswith("^")
                    cls = _POSIX.get(name.lstrip("^"))
                    if cls is not None and not neg:
                        out.append(cls)
                        i = end + 2
                        continue
            if c == "[":
                out.append("\\[")
                i += 1
                continue
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a leading ] or ^] is literal
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "$" and not multiline:
            out.append(r"\Z")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


try:  # Go's regexp is RE2: google-re2 matches exactly and in linear time
    import re2 as _re2
except ImportError:  # pragma: no cover (a declared dependency)
    _re2 = None

#: constructs Python's re handles differently from RE2 or might backtrack on exponentially
#: (a quantified group, classes and flags the translation does not cover)
_RX_NEEDS_RE2 = re.compile(r"\)[*+{]|\\[pPQECxz]|\[\[:|\(\?[a-zA-Z]+[-:)]|\\[0-9]")


def compile_pattern(pattern: str) -> tuple[Optional[Callable[[str], Any]], str]:
    """
    A search function for a Go (RE2) pattern, or None and the reason it cannot be compiled.

    Simple patterns (no quantified group, nothing Python reads differently) run on Python's
    C{re}, translated (L{translate_pattern}): ~20x cheaper per call than the RE2 binding and
    polynomial at worst. The others run on RE2 (C{google-re2}), as kube does: same meaning, linear
    time, so a CRD's pattern cannot stall the reactor with catastrophic backtracking.
    """
    if _re2 is None or not _RX_NEEDS_RE2.search(pattern):
        try:
            return re.compile(translate_pattern(pattern), re.ASCII).search, ""
        except re.error as e:
            if _re2 is None:
                return None, str(e)
    try:
        return _re2.compile(pattern).search, ""
    except Exception as e:  # re2.error
        return None, str(e)


# ---------------------------------------------------------------------------------------------------
# compiled nodes

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = 3.4028234663852886e38


def _go_trunc(f: float) -> int:
    """
    Go's C{int64(f)} conversion (toward zero).
    """
    return int(f)


def _float_string(v: Any) -> str:
    """
    C{swag.FormatFloat64} / C{FormatInt64} of a number (C{strconv} 'f', shortest).
    """
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "x"
        sign, ds, dp = _float_digits(v)
        return _fmt_f(sign, ds, dp) if v != 0 else "0"
    return str(v)


def _in_range(v: Any, type_name: str, fmt: str) -> bool:
    """
    C{IsValueValidAgainstRange}: whether a number converts to the schema's type and format.
    """
    if type(v) is int:
        if type_name == "integer":
            lo, hi = _INT32 if fmt == "int32" else _INT64
            return lo <= v <= hi
        return fmt != "float" or abs(v) <= _FLOAT32_MAX
    s = _float_string(v)
    if type_name == "integer":
        if not re.fullmatch(r"[+-]?\d+", s):
            return False
        iv = int(s)
        lo, hi = _INT32 if fmt == "int32" else _INT64
        return lo <= iv <= hi
    if fmt == "float":
        try:
            return abs(float(s)) <= _FLOAT32_MAX or s == "x"
        except ValueError:
            return False
    return True


def _json_integer(f: float) -> bool:
    """
    swag's C{IsFloat64AJSONInteger}: integral within float64's exact integers, with a relative
    tolerance of 1e-9 for the rounding of C{1/factor*data}.
    """
    if f != f or abs(f) > 2**53 - 1:
        return False
    if f == int(f):
        return True
    fa = abs(f)
    if fa <= 1.0:
        return fa < 1e-9
    return abs(f - int(f)) < 1e-9 * fa


def _range_error(prefix: str, type_name: str, fmt: str, name: str) -> FieldError:
    if fmt:
        msg = f"{prefix} value must be of type {type_name} with format {fmt} in {name}"
    else:
        msg = f"{prefix} value must be of type {type_name} (default format) in {name}"
    return _nil_invalid(msg)


#: the kube-openapi type of a Python JSON value (and its Go format)
_PY_TYPE = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
_PY_FORMAT = {int: "int64", float: "float64"}
_PY_FOR_TYPE = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
    "null": (_NoneType,),
}
_ALL_PY = (str, bool, int, float, list, dict, _NoneType)

_TYPE_SAMPLES = ((str, ("",)), (bool, (True,)), (int, (1,)), (float, (1.5, 2.0)), (list, ([],)), (dict, ({},)))

Check = Callable[[Any, str, list], None]


class _Node:
    """
    One schema node while compiling (never used per object).
    """

    __slots__ = (
        "raw", "types", "nullable", "format", "properties", "additional", "additional_false",
        "items", "embedded", "preserve", "default", "default_bytes", "list_type", "map_keys",
        "all_of", "any_of", "one_of", "not_", "has_defaults", "needs_lists", "needs_embedded",
        "validate", "okt", "okt_all", "single", "prune", "skip_prune", "defaulter", "meta_check", "coerce",
        "depth",
    )

    def __init__(self) -> None:
        self.types: tuple[str, ...] = ()
        self.nullable = False
        self.format = ""
        self.properties: dict[str, _Node] = {}
        self.additional: Optional[_Node] = None
        self.additional_false = False
        self.items: Optional[_Node] = None
        self.embedded = False
        self.preserve = False
        self.default: Any = None
        self.default_bytes: Optional[bytes] = None
        self.list_type = ""
        self.map_keys: tuple[str, ...] = ()
        self.all_of: list[_Node] = []
        self.any_of: list[_Node] = []
        self.one_of: list[_Node] = []
        self.not_: Optional[_Node] = None
        self.has_defaults = False
        self.needs_lists = False
        self.needs_embedded = False
        self.depth = 1


def _build(raw: Any) -> _Node:
    n = _Node()
    if not isinstance(raw, dict):
        raw = {}
    n.raw = raw
    t = raw.get("type")
    if raw.get("x-kubernetes-int-or-string"):
        n.types = ("integer", "string")
    elif isinstance(t, str) and t:
        n.types = (t,)
    elif isinstance(t, list):
        n.types = tuple(str(x) for x in t)
    n.nullable = bool(raw.get("nullable"))
    n.format = supported_format(n.types[0] if len(n.types) == 1 else "", str(raw.get("format") or ""))
    if len(n.types) > 1 and raw.get("format"):
        n.format = ""
    props = raw.get("properties")
    if isinstance(props, dict):
        n.properties = {str(k): _build(v) for k, v in props.items()}
    ap = raw.get("additionalProperties")
    if isinstance(ap, dict):
        n.additional = _build(ap)
    elif ap is False:
        # kube's structural form keeps it as a nil schema: the keys are validated against
        # properties, the values' fields pruned
        n.additional_false = True
        n.additional = _build({})
        n.additional.raw = {"__nil__": True}
    elif ap is True:
        n.additional = _build({})
        n.additional.raw = {"__nil__": True}
    items = raw.get("items")
    if isinstance(items, dict):
        n.items = _build(items)
    n.embedded = bool(raw.get("x-kubernetes-embedded-resource"))
    n.preserve = bool(raw.get("x-kubernetes-preserve-unknown-fields"))
    n.list_type = str(raw.get("x-kubernetes-list-type") or "")
    mk = raw.get("x-kubernetes-list-map-keys")
    n.map_keys = tuple(str(k) for k in mk) if isinstance(mk, list) else ()
    for key, attr in (("allOf", "all_of"), ("anyOf", "any_of"), ("oneOf", "one_of")):
        v = raw.get(key)
        if isinstance(v, list):
            setattr(n, attr, [_build(x) for x in v])
    if isinstance(raw.get("not"), dict):
        n.not_ = _build(raw["not"])
    children = list(n.properties.values())
    if n.additional is not None:
        children.append(n.additional)
    if n.items is not None:
        children.append(n.items)
    n.depth = 1 + max((c.depth for c in children + n.all_of + n.any_of + n.one_of), default=0)
    n.has_defaults = any(c.has_defaults or "default" in c.raw for c in children)
    n.needs_lists = n.list_type in ("set", "map") or any(c.needs_lists for c in children)
    n.needs_embedded = n.embedded or any(c.needs_embedded for c in children)
    return n


def _is_nil(n: Optional[_Node]) -> bool:
    return n is None or "__nil__" in n.raw


# ---------------------------------------------------------------------------------------------------
# validation closures


def _type_check(n: _Node) -> Callable[[Any, str, list], None]:
    """
    kube-openapi's C{typeValidator} for non-null data.
    """
    types, fmt = n.types, n.format
    joined = ",".join(types)
    numeric = "number" in types or "integer" in types

    def check(value: Any, name: str, errs: list) -> None:
        pt = type(value)
        sch_type = _PY_TYPE.get(pt, "")
        data_fmt = _PY_FORMAT.get(pt, "")
        is_float_int = pt is float and value == value and value not in (float("inf"), float("-inf")) \
            and value == int(value) and "integer" in types
        is_int_float = pt is int and "number" in types
        if pt is not str and pt is not list and fmt and not (
            sch_type in types or data_fmt == fmt or is_float_int or is_int_float
        ):
            errs.append(FieldError("type_invalid", _fieldpath(name), data_fmt,
                                   f"{name} in body must be of type {fmt}: {_q(data_fmt)}"))
            return
        if not numeric and fmt and (pt is str or pt is list):
            return
        if not (sch_type in types or is_float_int or is_int_float):
            errs.append(FieldError("type_invalid", _fieldpath(name), sch_type,
                                   f"{name} in body must be of type {joined}: {_q(sch_type)}"))

    return check


def _null_check(n: _Node) -> Optional[Check]:
    if not n.types or "null" in n.types or n.nullable:
        return None
    joined = ",".join(n.types)

    def check(value: Any, name: str, errs: list) -> None:
        errs.append(FieldError("type_invalid", _fieldpath(name), "null",
                               f"{name} in body must be of type {joined}: \"null\""))

    return check


def _string_check(raw: dict) -> Optional[Check]:
    max_len = raw.get("maxLength")
    min_len = raw.get("minLength")
    pattern = raw.get("pattern")
    if max_len is None and min_len is None and not pattern:
        return None
    # a pattern that reached a stored CRD compiled in Go: one that does not compile here is a gap
    # of ours, so it is not enforced rather than failing every object
    search = compile_pattern(pattern)[0] if pattern else None
    if search is None:
        pattern = None
        if max_len is None and min_len is None:
            return None

    def check(value: str, name: str, errs: list) -> None:
        if max_len is not None and len(value) > max_len:
            errs.append(FieldError("too_long", _fieldpath(name), OMIT, f"may not be more than {max_len} bytes"))
            return
        if min_len is not None and len(value) < min_len:
            errs.append(FieldError("invalid", _fieldpath(name), value,
                                   f"{name} in body should be at least {min_len} chars long"))
            return
        if search is not None and search(value) is None:
            errs.append(FieldError("invalid", _fieldpath(name), value, f"{name} in body should match '{pattern}'"))

    return check


def _format_check(n: _Node) -> Optional[Check]:
    fmt = n.format
    fn = _FORMATS.get(fmt.replace("-", "")) if fmt else None
    if fn is None:
        return None

    def check(value: str, name: str, errs: list) -> None:
        if not fn(value):
            errs.append(FieldError("type_invalid", _fieldpath(name), value,
                                   f"{name} in body must be of type {fmt}: {_q(value)}"))

    return check


def _number_check(n: _Node) -> Optional[Check]:
    raw = n.raw
    type_name, fmt = "", ""
    if len(n.types) == 1:
        if n.types[0] == "integer":
            type_name = "integer"
            fmt = n.format if n.format in ("int32", "int64") else ""
        elif n.types[0] == "number":
            type_name = "number"
            fmt = n.format if n.format in ("float", "double") else ""
    mult = raw.get("multipleOf")
    mx = raw.get("maximum")
    mn = raw.get("minimum")
    xmax = bool(raw.get("exclusiveMaximum"))
    xmin = bool(raw.get("exclusiveMinimum"))
    range_checked = type_name == "integer" or fmt == "float"
    if mult is None and mx is None and mn is None and not range_checked:
        return None
    mult_ok = mult is None or _in_range(mult, type_name, fmt)
    max_ok = mx is None or _in_range(mx, type_name, fmt)
    min_ok = mn is None or _in_range(mn, type_name, fmt)
    multf = float(mult) if mult is not None else 0.0
    mxf = float(mx) if mx is not None else 0.0
    mnf = float(mn) if mn is not None else 0.0

    def check(value: Any, name: str, errs: list) -> None:
        if range_checked and not _in_range(value, type_name, fmt):
            errs.append(_range_error("Checked", type_name, fmt, name))
        is_int = type(value) is int
        if mult is not None:
            if not mult_ok:
                errs.append(_range_error("MultipleOf", type_name, fmt, name))
            if mult_ok and is_int:
                factor = _go_trunc(multf)
                if factor <= 0:
                    errs.append(FieldError("invalid", _fieldpath(name), factor,
                                           f"factor MultipleOf declared for {name} must be positive: {factor}"))
                elif value % factor != 0:
                    errs.append(FieldError("invalid", _fieldpath(name), value,
                                           f"{name} in body should be a multiple of {factor}"))
            else:
                if multf <= 0:
                    errs.append(FieldError("invalid", _fieldpath(name), _bad(multf),
                                           f"factor MultipleOf declared for {name} must be positive: {go_float(multf)}"))
                else:
                    data = float(value)
                    m = (1 / multf * data) if multf < 1 else data / multf
                    if not _json_integer(m):
                        errs.append(FieldError("invalid", _fieldpath(name), _bad(value),
                                               f"{name} in body should be a multiple of {go_float(multf)}"))
        if mn is not None:
            if not min_ok:
                errs.append(_range_error("Minimum boundary", type_name, fmt, name))
            if min_ok and is_int:
                b = _go_trunc(mnf)
                if value < b or (xmin and value == b):
                    rel = "greater than" if xmin else "greater than or equal to"
                    errs.append(FieldError("invalid", _fieldpath(name), value, f"{name} in body should be {rel} {b}"))
            else:
                data = float(value)
                if data < mnf or (xmin and data == mnf):
                    rel = "greater than" if xmin else "greater than or equal to"
                    errs.append(FieldError("invalid", _fieldpath(name), _bad(value),
                                           f"{name} in body should be {rel} {go_float(mnf)}"))
        if mx is not None:
            if not max_ok:
                errs.append(_range_error("Maximum boundary", type_name, fmt, name))
            if max_ok and is_int:
                b = _go_trunc(mxf)
                if value > b or (xmax and value == b):
                    rel = "less than" if xmax else "less than or equal to"
                    errs.append(FieldError("invalid", _fieldpath(name), value, f"{name} in body should be {rel} {b}"))
            else:
                data = float(value)
                if data > mxf or (xmax and data == mxf):
                    rel = "less than" if xmax else "less than or equal to"
                    errs.append(FieldError("invalid", _fieldpath(name), _bad(value),
                                           f"{name} in body should be {rel} {go_float(mxf)}"))

    return check


def _hash_key(value: Any) -> Any:
    """
    A hashable key equal for values Go's C{DeepEqual} (after kube's conversions) finds equal.
    """
    t = type(value)
    if t is bool:
        return ("b", value)
    if t is int or t is float:
        return ("n", value)
    if t is str:
        return ("s", value)
    if value is None:
        return ("z",)
    return ("j", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _enum_check(n: _Node) -> Optional[Check]:
    enum = n.raw.get("enum")
    if not isinstance(enum, list) or not enum:
        return None
    allowed = {_hash_key(e) for e in enum}
    # a JSON value converts to the enum value's Go type: numbers compare as numbers, strings as
    # strings; objects and lists compare structurally
    values = [e if isinstance(e, str) else _go_json(e) for e in enum]

    def check(value: Any, name: str, errs: list) -> None:
        # kube-openapi skips null enum values and cannot compare a null: null is never allowed
        if value is not None and _hash_key(value) in allowed:
            return
        errs.append(field.FieldError("not_supported", _fieldpath(name), _bad(value),
                                     "supported values: " + ", ".join(_q(v) for v in values)))

    return check


def _slice_check(n: _Node) -> Optional[Check]:
    raw = n.raw
    items = n.items if not _is_nil(n.items) else None
    min_items = raw.get("minItems")
    max_items = raw.get("maxItems")
    unique = bool(raw.get("uniqueItems"))
    if items is not None and items.okt_all:
        items = None
    item_fn = items.validate if items is not None else None
    item_ok = items.okt if items is not None else frozenset(_ALL_PY)
    if item_fn is None and min_items is None and max_items is None and not unique:
        return None

    def check(value: list, name: str, errs: list) -> None:
        if item_fn is not None:
            for i, v in enumerate(value):
                if type(v) not in item_ok:
                    item_fn(v, f"{name}[{i}]", errs)
        size = len(value)
        if min_items is not None and size < min_items:
            errs.append(FieldError("invalid", _fieldpath(name), size,
                                   f"{name} in body should have at least {min_items} items"))
        if max_items is not None and size > max_items:
            errs.append(FieldError("too_many", _fieldpath(name), size, f"must have at most {max_items} items"))
        if unique and size > 1:
            seen = set()
            for v in value:
                # reflect.DeepEqual: an int64 is never a float64
                k = _hash_key(v) if type(v) in (dict, list) else (type(v), v)
                if k in seen:
                    errs.append(FieldError("invalid", _fieldpath(name), "",
                                           f"{name} in body shouldn't contain duplicates"))
                    break
                seen.add(k)

    return check


def _object_check(n: _Node) -> Optional[Check]:
    raw = n.raw
    min_p = raw.get("minProperties")
    max_p = raw.get("maxProperties")
    required = [str(r) for r in raw.get("required") or ()]
    # per property: (validate, types needing no call, the one check per type when there is one)
    props = {k: (c.validate, c.okt, c.single) for k, c in n.properties.items()}
    # properties whose values are always fine need no lookup result at all
    trivial = {k for k, (fn, okt, _) in props.items() if len(okt) == len(_ALL_PY)}
    for k in trivial:
        del props[k]
    addl = n.additional if not _is_nil(n.additional) else None
    addl_fn = addl.validate if addl is not None else None
    addl_ok = addl.okt if addl is not None else frozenset()
    known = frozenset(n.properties)
    addl_false = n.additional_false
    if not props and addl_fn is None and not required and min_p is None and max_p is None and not addl_false:
        return None

    def check(value: dict, name: str, errs: list) -> None:
        if min_p is not None and len(value) < min_p:
            errs.append(FieldError("invalid", _fieldpath(name), len(value),
                                   f"{name} in body should have at least {min_p} properties"))
        if max_p is not None and len(value) > max_p:
            errs.append(FieldError("too_many", _fieldpath(name), len(value), f"must have at most {max_p} items"))
        if addl_false:
            for k in value:
                if k not in known:
                    errs.append(FieldError("invalid", _fieldpath(name), k,
                                           f"{name}.{k} in body is a forbidden property"))
        elif addl_fn is not None:
            for k, v in value.items():
                if k not in known and type(v) not in addl_ok:
                    addl_fn(v, f"{name}.{k}", errs)
        if props:
            prefix = name + "." if name else ""
            get = props.get
            for k, v in value.items():
                sub = get(k)
                if sub is not None:
                    pt = type(v)
                    if pt in sub[1]:
                        continue
                    c = sub[2].get(pt)  # calling the check directly saves a call level
                    if c is not None:
                        c(v, prefix + k, errs)
                    else:
                        sub[0](v, prefix + k, errs)
        for r in required:
            if r not in value:
                errs.append(FieldError("required", _fieldpath(f"{name}.{r}"), OMIT, ""))

    return check


def _props_check(n: _Node) -> Optional[Check]:
    """
    C{schemaPropsValidator}: allOf, anyOf, oneOf, not.
    """
    any_of = [(c.validate, c.okt) for c in n.any_of]
    one_of = [(c.validate, c.okt) for c in n.one_of]
    all_of = [(c.validate, c.okt) for c in n.all_of]
    not_ = (n.not_.validate, n.not_.okt) if n.not_ is not None else None
    if not (any_of or one_of or all_of or not_):
        return None

    def run(branch: tuple, value: Any, name: str) -> list:
        out: list = []
        if type(value) not in branch[1]:
            branch[0](value, name, out)
        return out

    def check(value: Any, name: str, errs: list) -> None:
        if any_of:
            best = None
            for b in any_of:
                r = run(b, value, name)
                if not r:
                    best = None
                    break
                if best is None or len(r) < len(best):
                    best = r
            else:
                errs.append(_nil_invalid(f"{_q(name)} must validate at least one schema (anyOf)"))
            if best:
                errs.extend(best)
        if one_of:
            best, valid = None, 0
            for b in one_of:
                r = run(b, value, name)
                if not r:
                    valid += 1
                    best = None
                    continue
                if valid == 0 and (best is None or len(r) < len(best)):
                    best = r
            if valid != 1:
                extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                errs.append(_nil_invalid(f"{_q(name)} must validate one and only one schema (oneOf). {extra}"))
                if best:
                    errs.extend(best)
        if all_of:
            valid = 0
            for b in all_of:
                r = run(b, value, name)
                if not r:
                    valid += 1
                errs.extend(r)
            if valid != len(all_of):
                extra = ". None validated" if valid == 0 else ""
                errs.append(_nil_invalid(f"{_q(name)} must validate all the schemas (allOf){extra}"))
        if not_ is not None and not run(not_, value, name):
            errs.append(_nil_invalid(f"{_q(name)} must not validate the schema (not)"))

    return check


def _make_validate(n: _Node, type_ok_cache: dict) -> None:
    """
    Set C{n.validate} (a closure C{(value, name, errs)}) and C{n.okt} (the Python types of values
    that pass every check of this node and below without a call). C{type_ok_cache} holds, for one
    compilation, which Python types each (types, format) accepts.
    """
    type_applies = bool(n.types) or bool(n.format)
    tcheck = _type_check(n) if type_applies else None
    # the Python types for which the type validator has nothing to say (it depends on the type
    # only, and for floats on whether they are integral: try both)
    key = (n.types, n.format)
    type_ok = type_ok_cache.get(key)
    if type_ok is None:
        type_ok = set(_ALL_PY) - {_NoneType}
        if tcheck is not None:
            for pt, samples in _TYPE_SAMPLES:
                for sample in samples:
                    probe: list = []
                    tcheck(sample, "x", probe)
                    if probe:
                        type_ok.discard(pt)
        type_ok_cache[key] = type_ok
    props = _props_check(n)
    string = _string_check(n.raw)
    fmt = _format_check(n)
    number = _number_check(n)
    sl = _slice_check(n)
    enum = _enum_check(n)
    obj = _object_check(n)
    null = _null_check(n)
    table: dict[type, tuple] = {}
    for pt in _ALL_PY:
        if pt is _NoneType:
            checks = [c for c in (null, enum) if c is not None]
        else:
            checks = [] if pt in type_ok or tcheck is None else [tcheck]
            checks.append(props)
            if pt is str:
                checks += [string, fmt]
            elif pt in (int, float):
                checks.append(number)
            elif pt is list:
                checks.append(sl)
            checks.append(enum)
            if pt is dict:
                checks.append(obj)
            checks = [c for c in checks if c is not None]
        table[pt] = tuple(checks)
    n.okt = frozenset(pt for pt, cs in table.items() if not cs)
    n.okt_all = len(n.okt) == len(_ALL_PY)
    single = {pt: cs[0] for pt, cs in table.items() if len(cs) == 1}
    multi = {pt: cs for pt, cs in table.items() if len(cs) > 1}

    def validate(value: Any, name: str, errs: list) -> None:
        pt = type(value)
        c = single.get(pt)
        if c is not None:
            c(value, name, errs)
            return
        for c in multi.get(pt, ()):
            c(value, name, errs)

    n.validate = validate
    n.single = single


# ---------------------------------------------------------------------------------------------------
# ObjectMeta (root metadata and embedded resources)

_META_FIELDS: dict[str, str] = {
    "name": "string", "generateName": "string", "namespace": "string", "selfLink": "string",
    "uid": "string", "resourceVersion": "string", "generation": "int64",
    "creationTimestamp": "time", "deletionTimestamp": "time", "deletionGracePeriodSeconds": "int64",
    "labels": "map", "annotations": "map", "ownerReferences": "owners", "finalizers": "strings",
    "managedFields": "managed",
}
_OWNER_FIELDS = {"apiVersion": "string", "kind": "string", "name": "string", "uid": "string",
                 "controller": "bool", "blockOwnerDeletion": "bool"}
_MANAGED_FIELDS = {"manager": "string", "operation": "string", "apiVersion": "string", "time": "time",
                   "fieldsType": "string", "fieldsV1": "any", "subresource": "string"}
_GO_TYPES = {"string": "string", "int64": "int64", "time": "v1.Time", "map": "map[string]string",
             "strings": "[]string", "owners": "[]v1.OwnerReference", "managed": "[]v1.ManagedFieldsEntry",
             "bool": "bool"}
_RX_TIME_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _typed_ok(kind: str, v: Any) -> bool:
    """
    Whether Go's JSON decoder accepts C{v} for a field of C{kind} (nulls always).
    """
    if v is None or kind == "any":
        return True
    if kind == "string":
        return type(v) is str
    if kind == "bool":
        return type(v) is bool
    if kind == "int64":
        return type(v) is int and _INT64[0] <= v <= _INT64[1]
    if kind == "time":
        return type(v) is str and bool(_RX_TIME_RFC3339.match(v))
    if kind == "map":
        return type(v) is dict and all(x is None or type(x) is str for x in v.values())
    if kind == "strings":
        return type(v) is list and all(x is None or type(x) is str for x in v)
    if kind in ("owners", "managed"):
        if type(v) is not list:
            return False
        fields = _OWNER_FIELDS if kind == "owners" else _MANAGED_FIELDS
        for e in v:
            if e is None:
                continue
            if type(e) is not dict:
                return False
            for k, x in e.items():
                f = fields.get(k)
                if f is not None and not _typed_ok(f, x):
                    return False
        return True
    return False


def _meta_unknown(meta: dict, prefix: str, out: list, delete: bool) -> None:
    """
    Record (and with C{delete} drop) the fields of C{meta} that ObjectMeta does not have, nested
    unknown fields of owner references and managed fields included, in document order.
    """
    for k in list(meta):
        kind = _META_FIELDS.get(k)
        if kind is None:
            out.append(f"{prefix}.{k}")
            if delete:
                del meta[k]
            continue
        if kind in ("owners", "managed") and isinstance(meta[k], list):
            fields = _OWNER_FIELDS if kind == "owners" else _MANAGED_FIELDS
            for i, e in enumerate(meta[k]):
                if isinstance(e, dict):
                    for ek in list(e):
                        if ek not in fields:
                            out.append(f"{prefix}.{k}[{i}].{ek}")
                            if delete:
                                del e[ek]


def coerce_object_meta(obj: dict, prefix: str, out: list, delete: bool) -> None:
    """
    kube's C{GetObjectMetaWithOptions} + C{SetObjectMeta} on C{obj["metadata"]}: unknown fields
    recorded as C{<prefix>.foo}; with C{delete} they are dropped, so are malformed fields
    (C{DropMalformedFields}) and the empty values ObjectMeta omits.
    """
    meta = obj.get("metadata")
    if "metadata" not in obj:
        return
    if not isinstance(meta, dict):
        if meta is None and delete:
            obj["metadata"] = {}
        return
    malformed = [k for k, v in meta.items() if k in _META_FIELDS and not _typed_ok(_META_FIELDS[k], v)]
    if not delete:
        _meta_unknown(meta, prefix, out, False)
        return
    for k in malformed:
        del meta[k]
    _meta_unknown(meta, prefix, out, True)
    for k in list(meta):
        v = meta[k]
        if v is None or v == "" or (type(v) is int and v == 0) or (type(v) in (dict, list) and not v):
            del meta[k]


def _meta_errors(meta: Any, path: str) -> list[FieldError]:
    """
    C{validateEmbeddedResource}'s C{metadata} checks (ObjectMeta rules, names as path segments).
    """
    if not isinstance(meta, dict):
        if meta is None:
            return validate_object_meta({"name": "fakename"}, False, path_segment_errors, path)
        msg = f"json: cannot unmarshal {_json_kind(meta)} into Go value of type v1.ObjectMeta"
        return [field.invalid(path, _bad(meta), msg)]
    for k, v in meta.items():
        kind = _META_FIELDS.get(k)
        if kind is not None and not _typed_ok(kind, v):
            if kind == "time" and isinstance(v, str):
                msg = (f'parsing time "{v}" as "2006-01-02T15:04:05Z07:00": cannot parse "{v}" as "2006"')
            else:
                msg = (f"json: cannot unmarshal {_json_kind(v)} into Go struct field ObjectMeta.{k} "
                       f"of type {_GO_TYPES[kind]}")
            return [field.invalid(path, _bad(meta), msg)]
    m = dict(meta)
    if not m.get("name"):
        m["name"] = "fakename"
    return validate_object_meta(m, bool(m.get("namespace")), path_segment_errors, path)


def _embedded_errors(x: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    p = f"{path}." if path else ""
    if "apiVersion" not in x:
        errs.append(field.required(p + "apiVersion"))
    if "kind" not in x:
        errs.append(field.required(p + "kind"))
    for k, v in x.items():
        if k == "apiVersion":
            if not isinstance(v, str):
                errs.append(field.invalid(p + k, _bad(v), "must be a string"))
            elif not v:
                errs.append(field.invalid(p + k, v, "must not be empty"))
            elif v.count("/") > 1:
                errs.append(field.invalid(p + k, v, f"unexpected GroupVersion string: {v}"))
        elif k == "kind":
            if not isinstance(v, str):
                errs.append(field.invalid(p + k, _bad(v), "must be a string"))
            elif not v:
                errs.append(field.invalid(p + k, v, "must not be empty"))
            else:
                msgs = dns1035_label_errors(v.lower())
                if msgs:
                    errs.append(field.invalid(p + k, v, "may have mixed case, but should otherwise match: "
                                              + ",".join(msgs)))
        elif k == "metadata":
            errs.extend(_meta_errors(v, p + k))
    return errs


# ---------------------------------------------------------------------------------------------------
# list-type uniqueness


def _set_duplicates(values: list) -> list[int]:
    """
    kube's C{validateListSet}: the index of the second occurrence of each repeated value.
    """
    seen: dict = {}
    out = []
    for i, x in enumerate(values):
        k = _hash_key(x) if type(x) in (dict, list) else (type(x), x)
        c = seen.get(k, 0)
        if c == 1:
            out.append(i)
        seen[k] = c + 1
    return out


class _Unspecified:
    pass


_UNSPECIFIED = _Unspecified()


def _list_errors(n: _Node, value: list, path: str, errs: list) -> None:
    if n.list_type == "set":
        for i in _set_duplicates(value):
            errs.append(field.FieldError("duplicate", f"{path}[{i}]", _bad(value[i])))
    elif n.list_type == "map":
        bad = False
        for i, x in enumerate(value):
            if x is not None and not isinstance(x, dict):
                errs.append(field.invalid(f"{path}[{i}]", _bad(x), "must be an object for an array of list-type map"))
                bad = True
                break
        if not bad and len(value) > 1:
            if len(n.map_keys) == 1:
                kf = n.map_keys[0]
                keys = [(_UNSPECIFIED if x is None or kf not in x else x[kf]) for x in value]
                hashable = [("u",) if k is _UNSPECIFIED else k for k in keys]
                for i in _set_duplicates(hashable):
                    dv: Any = {} if keys[i] is _UNSPECIFIED else {kf: keys[i]}
                    errs.append(field.FieldError("duplicate", f"{path}[{i}]", _bad(dv)))
            else:
                keys2 = [{} if x is None else {k: x[k] for k in n.map_keys if k in x} for x in value]
                for i in _set_duplicates(keys2):
                    errs.append(field.FieldError("duplicate", f"{path}[{i}]", _bad(keys2[i])))


def _make_extra(n: _Node) -> None:
    """
    C{n.meta_check(value, path, meta_errs, list_errs)}: embedded-resource and list-type checks
    below this node, with C{field.Path} paths (C{spec.items[0]}, C{spec.map[key]}).
    """
    if not (n.needs_lists or n.needs_embedded):
        n.meta_check = None
        return
    props = {k: c for k, c in n.properties.items() if c.meta_check is not None}
    addl = n.additional if n.additional is not None and n.additional.meta_check is not None else None
    items = n.items if n.items is not None and n.items.meta_check is not None else None
    embedded = n.embedded
    lists = n.list_type in ("set", "map")
    node = n

    def check(value: Any, path: str, meta_errs: list, list_errs: list) -> None:
        t = type(value)
        if t is dict:
            if embedded:
                meta_errs.extend(_embedded_errors(value, path))
            if props or addl is not None:
                prefix = path + "." if path else ""
                for k, v in value.items():
                    if type(v) not in (dict, list):
                        continue
                    sub = props.get(k)
                    if sub is not None:
                        sub.meta_check(v, prefix + k, meta_errs, list_errs)
                    elif addl is not None and k not in node.properties:
                        addl.meta_check(v, f"{path}[{k}]", meta_errs, list_errs)
        elif t is list:
            if lists:
                _list_errors(node, value, path, list_errs)
            if items is not None:
                for i, v in enumerate(value):
                    if type(v) in (dict, list):
                        items.meta_check(v, f"{path}[{i}]", meta_errs, list_errs)

    n.meta_check = check


# ---------------------------------------------------------------------------------------------------
# pruning


def _make_prune(n: _Node, root: bool = False, skip: bool = False) -> Callable[[Any, str, list, bool], None]:
    """
    kube's C{prune} for this node (C{skipPrune} with C{skip}, or under
    C{x-kubernetes-preserve-unknown-fields}), with C{PruneNonNullableNullsWithoutDefaults} when
    deleting. Children's C{prune}/C{skip_prune} must exist.
    """
    props = n.properties
    addl = n.additional
    addl_nil = _is_nil(addl)
    items = n.items
    embedded = n.embedded or root
    skip = skip or n.preserve
    # per property: (prune fn, drop a null?)
    ptab = {k: (c.prune, not c.nullable and c.default_bytes is None) for k, c in props.items()}
    addl_fn = addl.prune if addl is not None and not addl_nil else _prune_nil
    addl_drop_null = addl is not None and not addl_nil and not addl.nullable and addl.default_bytes is None
    if skip:
        items_fn = items.skip_prune if items is not None else None
    else:
        items_fn = items.prune if items is not None else _prune_nil

    def prune(x: Any, path: str, out: list, delete: bool) -> None:
        t = type(x)
        if t is dict:
            prefix = path + "." if path else ""
            drop = None
            for k, v in x.items():
                if embedded and (k == "apiVersion" or k == "kind" or k == "metadata"):
                    continue
                sub = ptab.get(k)
                if sub is not None:
                    if v is None:
                        if sub[1] and delete:
                            (drop := drop or []).append(k)
                    elif type(v) is dict or type(v) is list:
                        sub[0](v, prefix + k, out, delete)
                elif addl is not None:
                    if v is None:
                        if addl_drop_null and delete:
                            (drop := drop or []).append(k)
                    elif type(v) is dict or type(v) is list:
                        addl_fn(v, prefix + k, out, delete)
                elif not skip:
                    out.append(prefix + k)
                    if delete:
                        (drop := drop or []).append(k)
            if drop:
                for k in drop:
                    del x[k]
        elif t is list and items_fn is not None:
            for i, v in enumerate(x):
                if type(v) is dict or type(v) is list:
                    items_fn(v, f"{path}[{i}]", out, delete)

    return prune


def _prune_nil(x: Any, path: str, out: list, delete: bool) -> None:
    """
    Pruning below a missing schema: every field of an object is unknown.
    """
    t = type(x)
    if t is dict:
        prefix = path + "." if path else ""
        for k in x:
            out.append(prefix + k)
        if delete:
            x.clear()
    elif t is list:
        for i, v in enumerate(x):
            if type(v) is dict or type(v) is list:
                _prune_nil(v, f"{path}[{i}]", out, delete)


def _make_coerce(n: _Node) -> None:
    """
    C{n.coerce(x, path, out, delete)}: C{objectmeta.Coerce} below the root (embedded resources'
    C{apiVersion}/C{kind} must be strings, their C{metadata} reduced to ObjectMeta).
    """
    if not n.needs_embedded:
        n.coerce = None
        return
    props = {k: c for k, c in n.properties.items() if c.coerce is not None}
    addl = n.additional if n.additional is not None and n.additional.coerce is not None else None
    items = n.items if n.items is not None and n.items.coerce is not None else None
    embedded = n.embedded
    known = n.properties

    def coerce(x: Any, path: str, out: list, delete: bool) -> None:
        t = type(x)
        if t is dict:
            if embedded:
                for k in ("apiVersion", "kind"):
                    if k in x and not isinstance(x[k], str) and delete:
                        del x[k]
                coerce_object_meta(x, f"{path}.metadata" if path else "metadata", out, delete)
            prefix = path + "." if path else ""
            for k, v in x.items():
                if type(v) is not dict and type(v) is not list:
                    continue
                sub = props.get(k)
                if sub is not None:
                    sub.coerce(v, prefix + k, out, delete)
                elif addl is not None and k not in known:
                    addl.coerce(v, f"{path}[{k}]", out, delete)
        elif t is list and items is not None:
            for i, v in enumerate(x):
                if type(v) is dict or type(v) is list:
                    items.coerce(v, f"{path}[{i}]", out, delete)

    n.coerce = coerce


# ---------------------------------------------------------------------------------------------------
# defaulting


def _copier(value: Any) -> Callable[[], Any]:
    if isinstance(value, (dict, list)):
        data = orjson.dumps(value)
        return lambda: orjson.loads(data)
    return lambda: value


def _make_default(n: _Node) -> None:
    """
    C{n.defaulter(x)}: kube's C{defaulting.Default} below this node (None when nothing below has a
    default).
    """
    if not n.has_defaults:
        n.defaulter = None
        return
    defaulted = [(k, _copier(c.default), c.nullable) for k, c in n.properties.items() if c.default_bytes is not None]
    sub = {k: c.defaulter for k, c in n.properties.items() if c.defaulter is not None}
    addl = n.additional if n.additional is not None and not _is_nil(n.additional) else None
    addl_fn = addl.defaulter if addl is not None else None
    addl_default = _copier(addl.default) if addl is not None and addl.default_bytes is not None else None
    addl_nullable = addl.nullable if addl is not None else True
    items = n.items
    items_fn = items.defaulter if items is not None else None
    items_default = _copier(items.default) if items is not None and items.default_bytes is not None else None
    items_nullable = items.nullable if items is not None else True
    known = n.properties

    def default(x: Any) -> None:
        t = type(x)
        if t is dict:
            for k, copy, nullable in defaulted:
                if k not in x or (x[k] is None and not nullable):
                    x[k] = copy()
            if sub:
                for k, fn in sub.items():
                    v = x.get(k)
                    if v is not None and (type(v) is dict or type(v) is list):
                        fn(v)
            if addl is not None:
                for k, v in x.items():
                    if k in known:
                        continue
                    if v is None and not addl_nullable and addl_default is not None:
                        v = x[k] = addl_default()
                    if addl_fn is not None and (type(v) is dict or type(v) is list):
                        addl_fn(v)
        elif t is list and items is not None:
            for i, v in enumerate(x):
                if v is None and not items_nullable and items_default is not None:
                    v = x[i] = items_default()
                if items_fn is not None and (type(v) is dict or type(v) is list):
                    items_fn(v)

    n.defaulter = default


# ---------------------------------------------------------------------------------------------------
# compiling


def _postorder(root: _Node) -> list[_Node]:
    """
    Every node, children before parents (branches of allOf/anyOf/oneOf/not included), without
    recursion.
    """
    out: list[_Node] = []
    stack: list[tuple[_Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            out.append(node)
            continue
        stack.append((node, True))
        kids = list(node.properties.values()) + node.all_of + node.any_of + node.one_of
        for c in (node.additional, node.items, node.not_):
            if c is not None:
                kids.append(c)
        for c in kids:
            stack.append((c, False))
    return out


def _ensure_stack(depth: int) -> None:
    """
    Let Python recurse as deep as a schema of C{depth} levels needs (a few frames per level).
    """
    need = depth * 4 + 200
    if sys.getrecursionlimit() < need + 1000:
        sys.setrecursionlimit(need + 1000)


def _build_iter(raw: Any) -> _Node:
    _ensure_stack(_raw_depth(raw))
    return _build(raw)


def _raw_depth(raw: Any) -> int:
    depth, stack = 0, [(raw, 1)]
    while stack:
        x, d = stack.pop()
        if d > depth:
            depth = d
        if isinstance(x, dict):
            stack.extend((v, d + 1) for v in x.values() if isinstance(v, (dict, list)))
        elif isinstance(x, list):
            stack.extend((v, d + 1) for v in x if isinstance(v, (dict, list)))
    return depth


class CompiledSchema:
    """
    A CRD version's C{openAPIV3Schema}, compiled: per-object validation, pruning and defaulting as
    kube-apiserver does them. Holds no state between calls; safe to share.
    """

    def __init__(self, root: _Node) -> None:
        self._root = root
        self._depth = root.depth
        self._validate = root.validate
        self._okt = root.okt
        self._prune = _make_prune(root, root=True)
        self._coerce = root.coerce
        self._extra = root.meta_check
        self._default = root.defaulter

    def unknown_fields(self, obj: dict) -> list[str]:
        """
        The paths of the fields L{prune} would remove, in kube's order: unknown fields of the root's
        C{metadata} (C{metadata.foo}), then the pruned ones sorted (C{spec.foo},
        C{spec.items[0].bar}), then those of embedded resources' metadata. These are the
        C{unknown field "..."} warnings of C{fieldValidation=Warn} and the paths of C{Strict}'s 400.
        """
        return self._walk(obj, False)

    def prune(self, obj: dict) -> list[str]:
        """
        Remove, in place, every field the schema does not know (see L{unknown_fields}), drop
        non-nullable nulls that have no default, and reduce C{metadata} (the root's and embedded
        resources') to ObjectMeta's fields; return the removed fields' paths.
        """
        return self._walk(obj, True)

    def _walk(self, obj: dict, delete: bool) -> list[str]:
        _ensure_stack(self._depth)
        out: list[str] = []
        if isinstance(obj, dict):
            coerce_object_meta(obj, "metadata", out, delete)
        pruned: list[str] = []
        self._prune(obj, "", pruned, delete)
        pruned.sort()
        out.extend(pruned)
        if self._coerce is not None:
            nested: list[str] = []
            self._coerce(obj, "", nested, delete)
            nested.sort()
            out.extend(nested)
        return out

    def default(self, obj: dict) -> dict:
        """
        Apply the schema's C{default}s in place, top-down (kube's order), and return C{obj}.
        """
        if self._default is not None:
            _ensure_stack(self._depth)
            self._default(obj)
        return obj

    def validate(self, obj: dict) -> list[FieldError]:
        """
        The schema's errors for C{obj}, kube's paths and messages: OpenAPI validation, then the
        embedded resources' checks, then list-type uniqueness (kube's order). The root's
        C{metadata} is checked only as far as the schema declares it: its ObjectMeta rules, and
        C{apiVersion}/C{kind} matching the CRD, are the strategy's (kube's
        C{ValidateObjectMetaAccessor} in the custom resource validator).
        """
        _ensure_stack(self._depth)
        errs: list[FieldError] = []
        if type(obj) not in self._okt:
            self._validate(obj, "", errs)
        if self._extra is not None:
            meta_errs: list[FieldError] = []
            list_errs: list[FieldError] = []
            self._extra(obj, "", meta_errs, list_errs)
            errs.extend(meta_errs)
            errs.extend(list_errs)
        return errs


def _prune_default(n: _Node) -> None:
    """
    C{PruneDefaults}: a node's default pruned (and its metadata coerced) by the node's own schema.
    """
    if "default" not in n.raw:
        return
    value = orjson.loads(orjson.dumps(n.raw["default"]))
    if n.default_bytes is None and value is not None:
        if isinstance(value, (dict, list)):
            if n.embedded and isinstance(value, dict):
                coerce_object_meta(value, "metadata", [], True)
            _make_prune(n)(value, "", [], True)  # the children's prune exist (post-order)
            if n.coerce is not None:
                n.coerce(value, "", [], True)
        n.default = value
        n.default_bytes = orjson.dumps(value)


def compile_schema(openapi_v3_schema: dict) -> CompiledSchema:
    """
    Compile a CRD version's C{openAPIV3Schema} (a structural schema, as the CRD's validation
    already accepted it) into a L{CompiledSchema}. Call once per CRD version; nothing is cached
    globally.
    """
    # thousands of closures: the cyclic collector would rescan the growing heap again and again
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        root = _build_iter(openapi_v3_schema or {})
        nodes = _postorder(root)
        type_ok_cache: dict = {}
        for n in nodes:
            _make_coerce(n)
            _prune_default(n)
            n.prune = _make_prune(n)
            n.skip_prune = _make_prune(n, skip=True)
            _make_validate(n, type_ok_cache)
            _make_extra(n)
        # defaulters need the children's defaults pruned first: a second bottom-up pass
        for n in nodes:
            _make_default(n)
        return CompiledSchema(root)
    finally:
        if gc_was_enabled:
            gc.enable()
