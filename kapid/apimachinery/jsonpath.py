"""
kube's JSONPath (client-go C{util/jsonpath}) for one path without braces, as CRD printer columns,
selectable fields and scale paths use it: C{.spec.replicas}, C{.status.conditions[?(@.type=="Ready")].status},
C{.items[0]}, C{.items[*].name}, C{.metadata.labels['app\\.kubernetes\\.io/name']}, C{..name}.

L{compile_path} parses once (C{ValueError} for a path kube's parser refuses); the result's
C{find(obj)} returns every match in document order (kube's C{FindResults} with missing keys allowed).
L{go_text} prints a value as kube's C{PrintResults} does (Go's C{fmt.Print} of the decoded JSON).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Optional

Step = Callable[[Any], Iterator[Any]]

_NAME = re.compile(r"[A-Za-z0-9_\-/$@]+|\\.")
_COMPARE = re.compile(
    r"^\s*(@(?:\.[^\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$"
)


def _field(name: str) -> Step:
    def step(v: Any) -> Iterator[Any]:
        if isinstance(v, dict) and name in v:
            yield v[name]

    return step


def _all(v: Any) -> Iterator[Any]:
    if isinstance(v, dict):
        yield from (v[k] for k in sorted(v))
    elif isinstance(v, list):
        yield from v


def _recursive(v: Any) -> Iterator[Any]:
    yield v
    if isinstance(v, dict):
        for k in sorted(v):
            yield from _recursive(v[k])
    elif isinstance(v, list):
        for x in v:
            yield from _recursive(x)


def _slice(start: Optional[int], end: Optional[int], stride: Optional[int], single: bool) -> Step:
    def step(v: Any) -> Iterator[Any]:
        if not isinstance(v, list):
            return
        if single:
            assert start is not None
            i = start + len(v) if start < 0 else start
            if 0 <= i < len(v):
                yield v[i]
            return
        yield from v[slice(start, end, stride)]

    return step


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"unrecognized filter value {text!r}")


def _filter(expr: str) -> Step:
    m = _COMPARE.match(expr)
    if m is None:
        raise ValueError(f"unrecognized filter {expr!r}")
    inner = compile_path(m.group(1)[1:]) if m.group(1) != "@" else None
    op, right = m.group(2), m.group(3)
    value = _literal(right) if op else None

    def test(item: Any) -> bool:
        found = inner.find(item) if inner is not None else [item]
        if not op:
            return bool(found)
        for left in found:
            try:
                if op == "==" and left == value:
                    return True
                if op == "!=" and left != value:
                    return True
                if op == "<" and left < value:
                    return True
                if op == ">" and left > value:
                    return True
                if op == "<=" and left <= value:
                    return True
                if op == ">=" and left >= value:
                    return True
            except TypeError:
                continue
        return False

    def step(v: Any) -> Iterator[Any]:
        items = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else []
        for item in items:
            if test(item):
                yield item

    return step


def _bracket(body: str) -> Step:
    body = body.strip()
    if body == "*":
        return _all
    if body.startswith("?(") and body.endswith(")"):
        return _filter(body[2:-1])
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "'\"":
        names = [n.strip()[1:-1] for n in body.split(",")]
        if len(names) == 1:
            return _field(names[0].replace("\\.", "."))

        def union(v: Any) -> Iterator[Any]:
            for n in names:
                yield from _field(n)(v)

        return union
    if ":" in body:
        parts = body.split(":")
        if len(parts) > 3:
            raise ValueError(f"invalid array index {body!r}")
        nums = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
        return _slice(nums[0], nums[1], nums[2], False)
    try:
        return _slice(int(body), None, None, True)
    except ValueError:
        raise ValueError(f"invalid array index {body!r}")


class Path:
    """
    A compiled path: C{find(obj)} lists the matches.
    """

    def __init__(self, text: str, steps: list[Step]) -> None:
        self.text = text
        self.steps = steps

    def find(self, obj: Any) -> list[Any]:
        """
        Every value the path reaches in C{obj}, in order (C{[]} when a key is missing).
        """
        values = [obj]
        for step in self.steps:
            values = [out for v in values for out in step(v)]
            if not values:
                break
        return values

    def first(self, obj: Any, default: Any = None) -> Any:
        """
        The first match, or C{default}.
        """
        found = self.find(obj)
        return found[0] if found else default


def compile_path(text: str) -> Path:
    """
    Parse a path (C{.a.b[0]}, with or without surrounding C{{}}); C{ValueError} when kube's
    parser would refuse it.
    """
    src = text.strip()
    if src.startswith("{") and src.endswith("}"):
        src = src[1:-1].strip()
    if src.startswith("$"):
        src = src[1:]
    steps: list[Step] = []
    i = 0
    n = len(src)
    if n == 0:
        return Path(text, steps)
    while i < n:
        c = src[i]
        if c == ".":
            if i + 1 < n and src[i + 1] == ".":
                steps.append(_recursive)
                i += 1  # the second dot starts the name
                continue
            i += 1
            if i >= n:
                break
            if src[i] == "[":
                continue
            start = i
            name = []
            while i < n and src[i] not in ".[":
                if src[i] == "\\" and i + 1 < n:
                    name.append(src[i + 1])
                    i += 2
                    continue
                name.append(src[i])
                i += 1
            word = "".join(name)
            if not word:
                raise ValueError(f"invalid path {text!r} at {start}")
            steps.append(_all if word == "*" else _field(word))
        elif c == "[":
            depth = 0
            j = i
            quote = ""
            while j < n:
                ch = src[j]
                if quote:
                    if ch == quote:
                        quote = ""
                elif ch in "'\"":
                    quote = ch
                elif ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise ValueError(f"unterminated array in {text!r}")
            steps.append(_bracket(src[i + 1:j]))
            i = j + 1
        else:
            # a leading name without its dot (kube requires the dot; be as strict)
            raise ValueError(f"unrecognized character in action: {c!r} in {text!r}")
    return Path(text, steps)


def go_text(value: Any) -> str:
    """
    Go's C{fmt.Print} of a decoded JSON value (what C{kubectl}'s and kube's JSONPath print).
    """
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_text(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _go_float(f: float) -> str:
    """
    Go's C{%v} of a float64: the shortest digits that round-trip, in C{%e} form (C{1e+06},
    C{1.5e-05}) when the decimal exponent is below -4 or at least 6, else plain.
    """
    from decimal import Decimal

    if f != f or f in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(f)]
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    exp10 = len(digits) + int(exponent) - 1
    neg = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{neg}{mant}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if int(exponent) >= 0:
        return neg + text + "0" * int(exponent)
    point = len(text) + int(exponent)
    if point > 0:
        return f"{neg}{text[:point]}.{text[point:]}"
    return f"{neg}0.{'0' * -point}{text}"
