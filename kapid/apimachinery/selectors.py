"""
Label and field selectors, parsed and matched as k8s.io/apimachinery's C{labels} and C{fields}
packages do, with their error messages.

L{parse_label_selector} gives a callable over a labels dict; L{parse_field_selector} gives the terms,
and L{field_matcher} turns them into a callable over an object given the field labels a resource
supports.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Optional

import attr

from kapid.apimachinery.status import bad_request

_SPECIAL = set("!=(),<> \t\n\r")

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Requirement:
    """
    One label requirement: C{key op values}; ops are C{=}, C{!=}, C{in}, C{notin}, C{exists},
    C{!} (does not exist), C{gt}, C{lt}.
    """

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """
        Whether C{labels} satisfy this requirement.
        """
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if op in ("gt", "lt"):
            if self.key not in labels:
                return False
            try:
                have = int(labels[self.key])
                want = int(self.values[0])
            except ValueError:
                return False
            return have > want if op == "gt" else have < want
        return False


def _tokens(s: str) -> list[tuple[str, str]]:
    """
    Lex a label selector into (type, text) tokens: ident, op, '(', ')', ',', '!', end.
    """
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            out.append((c, c))
            i += 1
            continue
        if c == "!":
            if s.startswith("!=", i):
                out.append(("op", "!="))
                i += 2
            else:
                out.append(("!", "!"))
                i += 1
            continue
        if c == "=":
            if s.startswith("==", i):
                out.append(("op", "=="))
                i += 2
            else:
                out.append(("op", "="))
                i += 1
            continue
        if c in "<>":
            out.append(("op", "gt" if c == ">" else "lt"))
            i += 1
            continue
        j = i
        while j < n and s[j] not in _SPECIAL:
            j += 1
        word = s[i:j]
        if word in ("in", "notin"):
            out.append(("op", word))
        else:
            out.append(("ident", word))
        i = j
    out.append(("end", ""))
    return out


def _validate_key(key: str) -> None:
    from kapid.apimachinery.meta import qualified_name_errors

    errs = qualified_name_errors(key)
    if errs:
        raise bad_request(
            f'unable to parse requirement: key: Invalid value: "{key}": {"; ".join(errs)}'
        )


def _validate_value(key: str, value: str) -> None:
    from kapid.apimachinery.meta import label_value_errors

    errs = label_value_errors(value)
    if errs:
        raise bad_request(
            f'unable to parse requirement: values[0][{key}]: Invalid value: "{value}": {"; ".join(errs)}'
        )


def parse_requirements(selector: str) -> list[Requirement]:
    """
    Parse a label selector into requirements; raises 400 with kube's parser messages.
    """
    toks = _tokens(selector)
    pos = 0
    reqs: list[Requirement] = []

    def err(found: str, expected: str) -> Exception:
        return bad_request(f"unable to parse requirement: found '{found}', expected: {expected}")

    if toks[0][0] == "end":
        return reqs
    while True:
        typ, text = toks[pos]
        negate = False
        if typ == "!":
            negate = True
            pos += 1
            typ, text = toks[pos]
        if typ != "ident":
            raise err(text, "identifier")
        key = text
        _validate_key(key)
        pos += 1
        typ, text = toks[pos]
        if negate:
            reqs.append(Requirement(key, "!"))
        elif typ in (",", "end"):
            reqs.append(Requirement(key, "exists"))
        elif typ == "op":
            op = text
            pos += 1
            if op in ("in", "notin"):
                if toks[pos][0] != "(":
                    raise err(toks[pos][1], "'('")
                pos += 1
                values: list[str] = []
                while True:
                    t, v = toks[pos]
                    if t == "ident":
                        values.append(v)
                        pos += 1
                        t, v = toks[pos]
                        if t == ",":
                            pos += 1
                            continue
                        if t == ")":
                            pos += 1
                            break
                        raise err(v, "',' or ')'")
                    if t == ",":
                        values.append("")
                        pos += 1
                        continue
                    if t == ")":
                        if not values or toks[pos - 1][0] == ",":
                            values.append("")
                        pos += 1
                        break
                    raise err(v, "',', ')' or identifier")
                for v in values:
                    _validate_value(key, v)
                reqs.append(Requirement(key, op, tuple(values)))
            else:
                t, v = toks[pos]
                if t == "ident":
                    value = v
                    pos += 1
                elif t in (",", "end"):
                    value = ""
                else:
                    raise err(v, "identifier")
                if op in ("gt", "lt"):
                    try:
                        int(value)
                    except ValueError:
                        raise bad_request(
                            f'unable to parse requirement: values[0]: Invalid value: "{value}": '
                            "for 'Gt', 'Lt' operators, the value must be an integer"
                        )
                else:
                    _validate_value(key, value)
                reqs.append(Requirement(key, "=" if op in ("=", "==") else op, (value,)))
        else:
            raise err(text, "in, notin, =, ==, !=, gt, lt")
        typ, text = toks[pos]
        if typ == "end":
            break
        if typ != ",":
            raise err(text, "','")
        pos += 1
    return reqs


def parse_label_selector(selector: str) -> Optional[Callable[[Mapping[str, str]], bool]]:
    """
    A matcher over a labels dict, or None for the empty selector (everything).
    """
    reqs = parse_requirements(selector)
    if not reqs:
        return None
    if len(reqs) == 1:
        return reqs[0].matches
    return lambda labels: all(r.matches(labels) for r in reqs)


def selector_from_label_selector(sel: Optional[Mapping]) -> Optional[Callable[[Mapping[str, str]], bool]]:
    """
    A matcher from a C{metav1.LabelSelector} dict (C{matchLabels}, C{matchExpressions}).
    """
    if not sel:
        return None
    reqs: list[Requirement] = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append(Requirement(k, "=", (v,)))
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(e.get("operator"), "")
        reqs.append(Requirement(e.get("key", ""), op, tuple(e.get("values") or ())))
    return lambda labels: all(r.matches(labels) for r in reqs)


# ---------------------------------------------------------------------------------------------------
# Field selectors


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FieldTerm:
    """
    One field-selector term: C{field op value} with op C{=} or C{!=}.
    """

    field: str
    op: str
    value: str


def _split_unescaped(s: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise bad_request(f"invalid field selector: unterminated escape sequence in {s!r}")
            nxt = s[i + 1]
            if nxt not in "\\,=!":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out.append(nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_field_selector(selector: str) -> list[FieldTerm]:
    """
    Parse C{a=b,c!=d} (C{==} is C{=}); raises 400 with kube's message for terms it cannot read.
    """
    terms: list[FieldTerm] = []
    if not selector.strip():
        return terms
    for part in _split_unescaped(selector, ","):
        if part == "":
            continue
        for op_text, op in (("!=", "!="), ("==", "="), ("=", "=")):
            idx = _find_unescaped(part, op_text)
            if idx >= 0:
                lhs, rhs = part[:idx], part[idx + len(op_text):]
                terms.append(FieldTerm(_unescape(lhs).strip(), op, _unescape(rhs)))
                break
        else:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
    return terms


def _find_unescaped(s: str, needle: str) -> int:
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s.startswith(needle, i):
            return i
        i += 1
    return -1


def _meta_field(name: str) -> Callable[[dict], str]:
    def get(obj: dict) -> str:
        return (obj.get("metadata") or {}).get(name) or ""

    return get


#: Field labels every resource supports.
DEFAULT_FIELDS: dict[str, Callable[[dict], str]] = {
    "metadata.name": _meta_field("name"),
    "metadata.namespace": _meta_field("namespace"),
}


def field_matcher(
    terms: list[FieldTerm], extra: Mapping[str, Callable[[dict], str]]
) -> Optional[Callable[[dict], bool]]:
    """
    A matcher over objects for C{terms}, checking every field label is supported (400
    C{field label not supported: <f>} otherwise). None when there are no terms.
    """
    if not terms:
        return None
    getters = []
    for t in terms:
        g = extra.get(t.field) or DEFAULT_FIELDS.get(t.field)
        if g is None:
            raise bad_request(f"field label not supported: {t.field}")
        getters.append((g, t.op == "=", t.value))

    def match(obj: dict) -> bool:
        for g, eq, value in getters:
            if (g(obj) == value) != eq:
                return False
        return True

    return match


def field_terms_name(terms: list[FieldTerm]) -> Optional[str]:
    """
    The name a C{metadata.name=x} term pins (for single-object watches), or None.
    """
    for t in terms:
        if t.field == "metadata.name" and t.op == "=":
            return t.value
    return None
