"""
The checked syntax tree of a compiled CEL expression, read from the C{cel.expr.CheckedExpr} protobuf
that C{cel_expr_python} serializes (wrapped in a C{google.protobuf.Any}).

kapid needs the tree for what the CEL runtime does not give it: kube's checks of field names against
the OpenAPI schema, the cost estimate, and whether a rule refers to C{oldSelf}. The protobuf wire
format is read by hand (a few dozen lines) rather than through the C{protobuf} package, which is not
otherwise a dependency.
"""

from __future__ import annotations

import struct
from typing import Any, Iterator, Optional

import attrs


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """Read a varint at C{i}: C{(value, next index)}."""
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """The C{(field number, wire type, value)} of a message; length-delimited values are bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        v: Any
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, v


def _signed(v: int) -> int:
    """A varint read as int64."""
    return v - (1 << 64) if v >= 1 << 63 else v


@attrs.define
class Node:
    """
    One expression of the tree.

    @ivar kind: C{const}, C{ident}, C{select}, C{call}, C{list}, C{map}/C{struct}, C{comprehension}.
    @ivar value: the constant's value, the identifier's name, the selected field or the function name.
    @ivar args: sub-expressions: select C{[operand]}; call C{[target?] + args} (C{target} says whether the
        first is the receiver); list elements; map C{[k0, v0, k1, v1...]}; comprehension C{[range, init,
        condition, step, result]}.
    @ivar test_only: a C{has()} select.
    @ivar iter_var: the comprehension's variable (C{iter_var2} for two-variable ones).
    """

    id: int = 0
    kind: str = ""
    value: Any = None
    args: list["Node"] = attrs.Factory(list)
    target: bool = False
    test_only: bool = False
    iter_var: str = ""
    iter_var2: str = ""
    accu_var: str = ""
    position: int = -1

    def walk(self) -> Iterator["Node"]:
        """This node and every node under it."""
        yield self
        for a in self.args:
            yield from a.walk()


def _const(buf: bytes) -> Any:
    """A C{cel.expr.Constant}."""
    for num, wt, v in _fields(buf):
        if num == 1:
            return None
        if num == 2:
            return bool(v)
        if num == 3:
            return _signed(v)
        if num == 4:
            return ("uint", v)
        if num == 5:
            return struct.unpack("<d", v)[0]
        if num == 6:
            return v.decode("utf-8")
        if num == 7:
            return bytes(v)
    return None


def _expr(buf: bytes) -> Node:
    """A C{cel.expr.Expr}."""
    node = Node()
    for num, wt, v in _fields(buf):
        if num == 2:
            node.id = v
        elif num == 3:
            node.kind, node.value = "const", _const(v)
        elif num == 4:
            node.kind = "ident"
            node.value = next((x.decode() for n, _, x in _fields(v) if n == 1), "")
        elif num == 5:
            node.kind = "select"
            for n, _, x in _fields(v):
                if n == 1:
                    node.args = [_expr(x)]
                elif n == 2:
                    node.value = x.decode()
                elif n == 3:
                    node.test_only = bool(x)
        elif num == 6:
            node.kind = "call"
            target: Optional[Node] = None
            args: list[Node] = []
            for n, _, x in _fields(v):
                if n == 1:
                    target = _expr(x)
                elif n == 2:
                    node.value = x.decode()
                elif n == 3:
                    args.append(_expr(x))
            node.target = target is not None
            node.args = ([target] if target is not None else []) + args
        elif num == 7:
            node.kind = "list"
            node.args = [_expr(x) for n, _, x in _fields(v) if n == 1]
        elif num == 8:
            node.kind = "map"
            for n, _, x in _fields(v):
                if n == 1:
                    node.kind, node.value = "struct", x.decode()
                elif n == 2:
                    key: Optional[Node] = None
                    value: Optional[Node] = None
                    for en, _, ex in _fields(x):
                        if en == 3:
                            key = _expr(ex)
                        elif en == 4:
                            value = _expr(ex)
                    node.args += [key or Node(kind="const"), value or Node(kind="const")]
        elif num == 9:
            node.kind = "comprehension"
            parts: dict[int, Node] = {}
            for n, _, x in _fields(v):
                if n == 1:
                    node.iter_var = x.decode()
                elif n == 3:
                    node.accu_var = x.decode()
                elif n == 8:
                    node.iter_var2 = x.decode()
                elif n in (2, 4, 5, 6, 7):
                    parts[n] = _expr(x)
            node.args = [parts.get(n, Node(kind="const")) for n in (2, 4, 5, 6, 7)]
    return node


@attrs.define
class Checked:
    """
    A checked expression: its tree and the names its identifiers resolved to.

    @ivar references: expression id -> the declaration's name (variables) or overload ids (calls).
    """

    root: Node
    references: dict[int, str]


def parse_checked(serialized: bytes) -> Checked:
    """Read what C{Expression.serialize()} returns."""
    payload = serialized
    for num, _, v in _fields(serialized):
        if num == 2:
            payload = v
    root = Node()
    refs: dict[int, str] = {}
    positions: dict[int, int] = {}
    for num, _, v in _fields(payload):
        if num == 4:
            root = _expr(v)
        elif num == 2:
            key, name = 0, ""
            for n, _, x in _fields(v):
                if n == 1:
                    key = x
                elif n == 2:
                    name = next((y.decode() for m, _, y in _fields(x) if m == 1), "")
            refs[key] = name
        elif num == 5:
            for n, _, x in _fields(v):
                if n == 4:
                    k = p = 0
                    for m, _, y in _fields(x):
                        if m == 1:
                            k = y
                        elif m == 2:
                            p = y
                    positions[k] = p
    for node in root.walk():
        node.position = positions.get(node.id, -1)
    return Checked(root, refs)
