"""
Compiling CEL expressions against variables typed by OpenAPI structural schemas, estimating their cost
and evaluating them, as kube's C{apiserver/pkg/cel} and C{apiextensions-apiserver/pkg/apiserver/schema/cel}
do, on Google's C++ CEL runtime (C{cel-expr-python}; see C{bench/cel_candidates.py} for the choice).

Types: scalars, and lists and maps of scalars, are declared to the runtime with their CEL types
(L{type_signature}), so its checker refuses wrong operands as cel-go's does; objects are C{dyn} to
the runtime, and kube's typing from the schema is applied by L{_Walk} over the checked tree: objects
with C{properties} as messages whose unknown fields do not compile (the unknown fields that
C{x-kubernetes-preserve-unknown-fields} keeps are not exposed, as in kube), C{additionalProperties}
as maps, C{items} as lists, C{x-kubernetes-int-or-string} (and schemas without a type) as C{dyn},
C{x-kubernetes-embedded-resource} as an object with C{apiVersion}, C{kind} and
C{metadata.name}/C{generateName}, C{format: byte} as C{bytes}, C{date-time} and C{duration}
strings as timestamps and durations when they are the variable itself (inside objects and lists
they stay strings, see L{to_cel}). The walk also gives the result type and kube's worst-case
cost from C{maxItems}, C{maxLength} and C{maxProperties} (or, without them, from the largest
request kube accepts).

Compiled programs are cached by (source, variable schemas); L{compile} is cheap to call again.
"""

from __future__ import annotations

import base64
import math
import re
from functools import lru_cache
from typing import Any, Iterable, Optional

import attrs
import orjson
from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_math, ext_optional, ext_strings

from kapid.cel._ast import Checked, Node, parse_checked
from kapid.cel.library import kube_extension

#: kube's per-evaluation cost limit (C{celconfig.PerCallLimit}).
PER_CALL_LIMIT = 1_000_000
#: kube's cost budget for all the rules of one custom resource (C{celconfig.RuntimeCELCostBudget}).
RUNTIME_COST_BUDGET = 10_000_000
#: kube's limit of one rule's estimated cost (C{StaticEstimatedCostLimit}).
STATIC_COST_LIMIT = 10_000_000
#: kube's limit of the estimated cost of every rule of a CRD version (C{StaticEstimatedCRDCostLimit}).
STATIC_CRD_COST_LIMIT = 100_000_000
#: The largest request body kube accepts, which bounds lists and strings without a maximum.
MAX_REQUEST_SIZE = 3 * 1024 * 1024

_UNBOUNDED_STRING = MAX_REQUEST_SIZE - 2
#: kube's longest JSON forms of formatted strings
_FORMAT_LENGTHS = {"date-time": 35, "date": 12, "duration": 32}


class CompileError(Exception):
    """An expression that does not compile; C{detail} reads as kube's."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EvalError(Exception):
    """An evaluation error, in cel-go's words (C{no such key: x}, C{division by zero}...)."""


def _declared_type(sig: str) -> Any:
    """The C{cel.Type} of a signature from L{type_signature}."""
    T = cel.Type
    if sig.startswith("list(") and sig.endswith(")"):
        return T.List(_declared_type(sig[5:-1]))
    if sig.startswith("map(") and sig.endswith(")"):
        return T.Map(T.STRING, _declared_type(sig[4:-1]))
    return {"string": T.STRING, "int": T.INT, "double": T.DOUBLE, "bool": T.BOOL, "bytes": T.BYTES,
            "timestamp": T.TIMESTAMP, "duration": T.DURATION}.get(sig, T.DYN)


def type_signature(s: Optional[dict], top: bool = True) -> str:
    """
    The CEL type kapid declares for a value of schema C{s}: kube's for scalars and for lists and maps
    of them (C{string}, C{int}, C{double}, C{bool}, C{bytes}, C{list(...)}, C{map(...)}); C{dyn} for
    objects with properties (typed by L{_Walk} instead), int-or-string, preserve-unknown-fields,
    nullable values and C{date-time}/C{duration} strings (which kube types as timestamps/durations).
    """
    if s is None or s.get("nullable") or s.get("x-kubernetes-int-or-string"):
        return "dyn"
    t = _type(s)
    if t == "string":
        fmt = s.get("format")
        if fmt in ("date-time", "duration"):
            # the bindings take timestamps and durations as variables only, not inside lists or maps
            return {"date-time": "timestamp", "duration": "duration"}[fmt] if top else "dyn"
        return "string"
    if t in ("integer", "number", "boolean", "bytes"):
        return {"integer": "int", "number": "double", "boolean": "bool", "bytes": "bytes"}[t]
    if t == "array":
        return f"list({type_signature(_elem(s), False)})"
    if t == "object" and not s.get("properties") and isinstance(s.get("additionalProperties"), dict) \
            and not s.get("x-kubernetes-embedded-resource"):
        return f"map({type_signature(_elem(s), False)})"
    return "dyn"


@lru_cache(maxsize=256)
def _environment(decls: tuple[tuple[str, str], ...]) -> Any:
    """The CEL environment with kube's libraries and these (name, type signature) variables."""
    return cel.NewEnv(
        variables={n: _declared_type(sig) for n, sig in decls},
        extensions=[
            ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_bindings.ExtBindings(),
            ext_math.ExtMath(), kube_extension(),
        ],
    )


_STATUS_PREFIX = re.compile(r"^[A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r" \[[A-Z_]+\]$")


def _clean(message: str) -> str:
    """A C++ status message without its code: C{INVALID_ARGUMENT: ERROR: ...} -> C{ERROR: ...}."""
    return _STATUS_SUFFIX.sub("", _STATUS_PREFIX.sub("", message.strip(), count=1))


def _eval_message(message: str) -> str:
    """cel-go's wording of a C++ runtime error."""
    m = _clean(message)
    key = re.match(r'^Key not found in map ?: ?"?(.*?)"?$', m)
    if key:
        return f"no such key: {key.group(1)}"
    if m.startswith("No matching overloads found") or m.startswith("no such overload"):
        return "no such overload"
    index = re.match(r"^Index error: index=(-?\d+) size=(\d+)$", m)
    if index:
        return f"index '{index.group(1)}' out of range in list size '{index.group(2)}'"
    if m == "int64 out of uint64 range":
        return "unsigned integer overflow"
    if "out of bounds" in m.lower() or "index out of range" in m.lower():
        idx = re.search(r"(-?\d+)", m)
        return f"index out of bounds: {idx.group(1)}" if idx else "index out of bounds"
    if m in ("divide by zero", "modulus by zero", "division by zero"):
        return "division by zero" if "div" in m else "modulus by zero"
    if "overflow" in m:
        return "integer overflow" if "int" in m or "overflow" == m else m
    return m


def _location(source: str, position: int) -> tuple[str, str]:
    """cel-go's C{<input>:L:C: } prefix and the caret lines for a byte offset."""
    before = source[:position]
    line = before.count("\n") + 1
    col = position - (before.rfind("\n") + 1)
    text = source.split("\n")[line - 1]
    return f"<input>:{line}:{col + 1}", f"\n | {text}\n | {'.' * col}^"


# schema helpers


def _type(s: Optional[dict]) -> str:
    """The schema's type, C{dyn} when it has none (or is int-or-string)."""
    if s is None:
        return "dyn"
    if s.get("x-kubernetes-int-or-string"):
        return "dyn"
    t = s.get("type")
    if t == "string":
        if s.get("format") == "byte":
            return "bytes"
    return t if isinstance(t, str) else "dyn"


_META = {"type": "object", "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}}}

#: CEL's reserved words: properties so named are reached as C{__<word>__} (kube's escaping).
RESERVED = frozenset((
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
    "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
))
_ESCAPABLE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_./-]*$")


def escape(name: str) -> Optional[str]:
    """
    kube's name of a property in CEL: reserved words as C{__word__}, C{__} as C{__underscores__},
    C{.} C{-} C{/} as C{__dot__} C{__dash__} C{__slash__}; None when the name cannot be reached.
    """
    if name in RESERVED:
        return f"__{name}__"
    if not _ESCAPABLE.match(name):
        return None
    return name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__") \
        .replace("/", "__slash__")


def _field(fields: dict, name: str) -> Optional[str]:
    """The property of C{fields} that C{name} (as written in CEL) reaches, or None."""
    if name in fields and escape(name) == name:
        return name
    for k in fields:
        if escape(k) == name:
            return k
    return None


def _fields(s: dict, is_root: bool) -> Optional[dict]:
    """The fields of an object schema (kube's view of an embedded resource's), None for a map."""
    props = s.get("properties")
    if (is_root or s.get("x-kubernetes-embedded-resource")):
        out = dict(props or {})
        out.setdefault("apiVersion", {"type": "string"})
        out.setdefault("kind", {"type": "string"})
        out["metadata"] = _META
        return out
    if isinstance(props, dict) and props:
        return props
    if isinstance(s.get("additionalProperties"), dict):
        return None
    # kube exposes no unknown fields, even where the schema preserves them
    return {}


def _elem(s: Optional[dict]) -> Optional[dict]:
    """The element schema of a list or map schema."""
    if s is None:
        return None
    if s.get("type") == "array":
        items = s.get("items")
        return items if isinstance(items, dict) else None
    ap = s.get("additionalProperties")
    return ap if isinstance(ap, dict) else None


def _min_size(s: Optional[dict]) -> int:
    """
    The fewest bytes a value of the schema takes in JSON (kube's C{MinSerializedSize}): an object
    is C{{}} plus its required properties without defaults (name, quotes, colon, comma, value).
    """
    if s is None or s.get("x-kubernetes-int-or-string"):
        return 1
    t = s.get("type")
    if t == "string":
        return {"date-time": 21, "date": 12, "duration": 4}.get(str(s.get("format")), 2)
    if t == "boolean":
        return 4
    if t == "array":
        return 2
    if t == "object":
        props = s.get("properties")
        if not isinstance(props, dict) or isinstance(s.get("additionalProperties"), dict):
            return 2
        size = 2
        for name in s.get("required") or []:
            prop = props.get(name)
            if isinstance(prop, dict) and "default" not in prop:
                size += len(name) + _min_size(prop) + 4
        return size
    return 1


def max_size(s: Optional[dict]) -> int:
    """
    The most elements (lists, maps) or bytes (strings) a value of the schema can have, as kube's
    estimator sizes it: C{maxItems}/C{maxProperties}, else as many of the smallest values as fit in
    the largest request; strings C{maxLength} times 4 (UTF-8), the longest C{enum} value, or the
    largest request; objects with properties (records) 0.
    """
    if s is None:
        return _UNBOUNDED_STRING
    if s.get("x-kubernetes-int-or-string"):
        return int(s["maxLength"]) * 4 if isinstance(s.get("maxLength"), int) else _UNBOUNDED_STRING
    t = _type(s)
    if t == "array":
        if isinstance(s.get("maxItems"), int):
            return int(s["maxItems"])
        return (MAX_REQUEST_SIZE - 2) // (_min_size(_elem(s)) + 1)
    if t == "object":
        if not isinstance(s.get("additionalProperties"), dict):
            return 0
        if isinstance(s.get("maxProperties"), int):
            return int(s["maxProperties"])
        # a key ("" and a colon), a comma and the smallest value: kube's estimate
        return (MAX_REQUEST_SIZE - 2) // (_min_size(_elem(s)) + 6)
    if t in ("string", "bytes"):
        fmt = str(s.get("format"))
        if fmt in _FORMAT_LENGTHS:
            return _FORMAT_LENGTHS[fmt]
        if isinstance(s.get("maxLength"), int):
            return int(s["maxLength"]) * (4 if t == "string" else 1)
        enum = [v for v in s.get("enum") or [] if isinstance(v, str)]
        if enum:
            return max(len(v) for v in enum)
        return _UNBOUNDED_STRING
    return 1


def cardinality(path_schemas: Iterable[dict]) -> int:
    """How many times a rule may run: the product of the sizes of the lists and maps above it."""
    n = 1
    for s in path_schemas:
        n *= max(max_size(s), 1)
    return n


# the walk: schema typing, undefined fields, cost


_STRING_SCAN = {"replace", "split",
                "lowerAscii", "upperAscii", "trim", "substring", "charAt", "join", "format", "quote"}
_REGEX = {"matches", "find", "findAll"}
_LIST_SCAN = {"isSorted", "sum", "min", "max", "@in"}


@attrs.frozen
class _Typed:
    """What the walk knows of a node: its schema (None: dyn), CEL type name, cost and size."""

    schema: Optional[dict]
    type: str
    cost: int
    size: int


class _Walk:
    """
    Type a checked tree against the variables' schemas, reporting unknown fields, and estimate its
    worst-case cost (cel-go's cost model, simplified: identifiers and selects 1, list literals 10, map
    literals 30, a tenth of a unit per character traversed (C{startsWith} traverses its prefix,
    C{contains} the product of both strings), regexes the string times a quarter unit per pattern
    character, list functions one per element, comprehensions their range's size times their body).
    """

    def __init__(self, source: str, roots: dict[str, tuple[Optional[dict], bool]], strict: bool = True) -> None:
        self.source = source
        self.scope: dict[str, _Typed] = {}
        self.roots = roots
        #: report unknown fields (compiling); otherwise they are dyn (costing a value's shape)
        self.strict = strict

    def error(self, node: Node, message: str) -> CompileError:
        where, caret = _location(self.source, max(node.position, 0))
        return CompileError(f"compilation failed: ERROR: {where}: {message}{caret}")

    def of_schema(self, s: Optional[dict], cost: int) -> _Typed:
        t = _type(s)
        size = max_size(s) if t in ("array", "object", "string", "bytes") else 1
        return _Typed(s if t != "dyn" else None, t, cost, size)

    def walk(self, n: Node) -> _Typed:
        k = n.kind
        if k == "const":
            v = n.value
            if isinstance(v, bool):
                return _Typed(None, "boolean", 0, 1)
            if isinstance(v, str):
                return _Typed(None, "string", 0, len(v))
            if isinstance(v, bytes):
                return _Typed(None, "bytes", 0, len(v))
            if isinstance(v, float):
                return _Typed(None, "number", 0, 1)
            if isinstance(v, int):
                return _Typed(None, "integer", 0, 1)
            return _Typed(None, "dyn", 0, 1)
        if k == "ident":
            if n.value in self.scope:
                t = self.scope[n.value]
                return _Typed(t.schema, t.type, 1, t.size)
            if n.value in self.roots:
                s, _ = self.roots[n.value]
                return self.of_schema(s, 1)
            return _Typed(None, "dyn", 1, 1)
        if k == "select":
            operand = self.walk(n.args[0])
            s = operand.schema
            if s is not None and operand.type == "object":
                is_root = any(s is r for r, root in self.roots.values() if root)
                fields = _fields(s, is_root)
                if fields is not None:
                    prop = _field(fields, n.value)
                    if prop is None:
                        if not self.strict:
                            return _Typed(None, "boolean" if n.test_only else "dyn", operand.cost + 1, 1)
                        raise self.error(n, f"undefined field '{n.value}'")
                    if n.test_only:
                        return _Typed(None, "boolean", operand.cost + 1, 1)
                    return self.of_schema(fields[prop], operand.cost + 1)
                if n.test_only:
                    return _Typed(None, "boolean", operand.cost + 1, 1)
                return self.of_schema(_elem(s), operand.cost + 1)
            if s is not None and operand.type not in ("object", "dyn") and self.strict:
                raise self.error(n, f"type '{_cel_type(operand.type)}' does not support field selection")
            return _Typed(None, "boolean" if n.test_only else "dyn", operand.cost + 1, 1)
        if k == "list":
            items = [self.walk(a) for a in n.args]
            return _Typed(None, "array", 10 + sum(i.cost for i in items), len(items))
        if k in ("map", "struct"):
            items = [self.walk(a) for a in n.args]
            return _Typed(None, "object", 30 + sum(i.cost for i in items), len(items) // 2)
        if k == "comprehension":
            return self.comprehension(n)
        return self.call(n)

    def comprehension(self, n: Node) -> _Typed:
        rng, init, cond, step, result = n.args
        r = self.walk(rng)
        i = self.walk(init)
        saved = dict(self.scope)
        if r.type == "array":
            elem = self.of_schema(_elem(r.schema), 0) if r.schema is not None else _Typed(None, "dyn", 0, 1)
            self.scope[n.iter_var] = elem
            if n.iter_var2:
                self.scope[n.iter_var], self.scope[n.iter_var2] = _Typed(None, "integer", 0, 1), elem
        elif r.type == "object":
            # kube's estimator gives map keys no size
            self.scope[n.iter_var] = _Typed(None, "string", 0, 0)
            if n.iter_var2:
                self.scope[n.iter_var2] = (self.of_schema(_elem(r.schema), 0) if r.schema is not None
                                           else _Typed(None, "dyn", 0, 1))
        else:
            self.scope[n.iter_var] = _Typed(None, "dyn", 0, 1)
        self.scope[n.accu_var] = _Typed(None, i.type, 0, r.size)
        c = self.walk(cond)
        s = self.walk(step)
        self.scope.pop(n.iter_var, None)
        self.scope.pop(n.iter_var2, None)
        res = self.walk(result)
        self.scope = saved
        cost = r.cost + i.cost + res.cost + r.size * (c.cost + s.cost)
        if i.type == "array":  # map() and filter() build a list as large as their range
            return _Typed(None, "array", cost, r.size)
        return _Typed(None, res.type if res.type != "dyn" else i.type, cost, 1)

    def call(self, n: Node) -> _Typed:
        args = [self.walk(a) for a in n.args]
        fn = n.value
        base = sum(a.cost for a in args)
        sizes = [a.size for a in args]
        if fn == "_?_:_":
            return _Typed(None, args[1].type if args[1].type == args[2].type else "dyn",
                          args[0].cost + max(args[1].cost, args[2].cost), max(args[1].size, args[2].size))
        if fn in ("_&&_", "_||_", "!_", "@not_strictly_false"):
            return _Typed(None, "boolean", base, 1)
        if fn in ("_==_", "_!=_"):
            # cel-go: the smaller side traversed at a tenth of a unit per element
            return _Typed(None, "boolean", base + 1 + math.ceil(min(sizes) * 0.1), 1)
        if fn in ("_<_", "_<=_", "_>_", "_>=_"):
            extra = math.ceil(min(sizes) * 0.1) if args[0].type == "string" else 1
            return _Typed(None, "boolean", base + extra, 1)
        if fn == "@in":
            container = args[1]
            extra = container.size if container.type == "array" else 1
            return _Typed(None, "boolean", base + extra, 1)
        if fn == "_+_":
            if args[0].type in ("string", "bytes", "array"):
                total = sum(sizes)
                return _Typed(None, args[0].type, base + math.ceil(total * 0.1), total)
            return _Typed(None, args[0].type if args[0].type == args[1].type else "dyn", base + 1, 1)
        if fn in ("_-_", "_*_", "_/_", "_%_", "-_"):
            return _Typed(None, args[0].type if args[0].type in ("integer", "number") else "dyn", base + 1, 1)
        if fn == "_[_]":
            container = args[0]
            if container.schema is not None:
                return self.of_schema(_elem(container.schema), base + 1)
            return _Typed(None, "dyn", base + 1, 1)
        if fn == "size":
            return _Typed(None, "integer", base + 1, 1)
        def scan(i: int, factor: float = 0.1) -> int:
            """cel-go's traversal cost of argument C{i} (its size times a factor, rounded up)."""
            return math.ceil(sizes[i] * factor) if i < len(sizes) else 0

        target_is_list = bool(args) and n.target and args[0].type == "array"
        if fn in ("indexOf", "lastIndexOf") and target_is_list or fn in ("isSorted", "sum", "min", "max"):
            return _Typed(None, "dyn", base + sizes[0], 1)
        if fn in ("startsWith", "endsWith"):
            # the prefix is traversed, not the string
            return _Typed(None, "boolean", base + 1 + scan(1), 1)
        if fn in ("contains", "indexOf", "lastIndexOf") and n.target:
            return _Typed(None, "boolean" if fn == "contains" else "integer",
                          base + 1 + max(scan(0), 1) * max(scan(1), 1), 1)
        if fn in _REGEX:
            # (string + 1) traversed once per regex character group (a quarter unit per character)
            string_cost = math.ceil((sizes[0] + 1) * 0.1)
            regex_cost = scan(1, 0.25) if len(sizes) > 1 else 1
            return _Typed(None, "boolean" if fn == "matches" else "dyn",
                          base + 1 + string_cost * max(regex_cost, 1), sizes[0])
        if fn in _STRING_SCAN:
            return _Typed(None, "string", base + 1 + scan(0), sizes[0] if sizes else 1)
        if fn in ("url", "isURL", "quantity", "isQuantity", "ip", "isIP", "cidr", "isCIDR", "semver",
                  "isSemver", "ip.isCanonical") and not n.target:
            return _Typed(None, "dyn", base + 1 + scan(0), 1)
        if fn.startswith("sets."):
            return _Typed(None, "boolean", base + sizes[0] * sizes[1], 1)
        if fn in ("int", "uint", "double", "string", "bytes", "timestamp", "duration", "dyn", "type"):
            t = {"int": "integer", "uint": "integer", "double": "number", "string": "string", "bytes": "bytes",
                 "timestamp": "timestamp", "duration": "duration"}.get(fn, "dyn")
            # conversions cost 1, but for string <-> bytes, which copy
            copies = fn in ("string", "bytes") and bool(args) and args[0].type in ("string", "bytes") \
                and args[0].type != t
            return _Typed(None, t, base + 1 + (scan(0) if copies else 0), args[0].size if args else 1)
        return _Typed(None, "dyn", base + 1, 1)


def _cel_type(t: str) -> str:
    """The CEL name of a walk type."""
    return {"integer": "int", "number": "double", "boolean": "bool", "array": "list(dyn)",
            "object": "map(string, dyn)"}.get(t, t)


@attrs.frozen(eq=False)
class Program:
    """
    A compiled expression.

    @ivar result_type: what the expression returns: C{bool}, C{string}, C{int}..., C{dyn} when only
        known at run time.
    @ivar max_cost: kube's worst-case cost estimate.
    @ivar references: the variables it refers to.
    """

    source: str
    expression: Any
    result_type: str
    max_cost: int
    references: frozenset[str]
    checked: Checked
    #: how deeply its comprehensions nest (2 and more: cost grows as a power of the input's size)
    loop_depth: int = 0

    def evaluate(self, variables: dict[str, Any]) -> Any:
        """
        Evaluate with these variables (already converted by L{to_cel}).

        @raise EvalError: in cel-go's words.
        """
        try:
            value = self.expression.eval(data=variables)
        except Exception as e:  # the bindings raise RuntimeError, and TypeError/ValueError on odd values
            raise EvalError(_eval_message(str(e))) from None
        if value.type() == cel.Type.ERROR:
            raise EvalError(_eval_message(str(value)))
        return value.plain_value()


def _result_type(expression: Any, walked: _Typed) -> str:
    name = expression.return_type().name()
    mapping = {"BOOL": "bool", "STRING": "string", "INT": "int", "UINT": "uint", "DOUBLE": "double",
               "BYTES": "bytes", "TIMESTAMP": "timestamp", "DURATION": "duration", "NULL": "null_type"}
    if name in mapping:
        return mapping[name]
    if name.startswith("LIST"):
        return "list"
    if name.startswith("MAP"):
        return "map"
    if walked.schema is not None or walked.type not in ("dyn",):
        return {"boolean": "bool", "string": "string", "integer": "int", "number": "double",
                "array": "list", "object": "map", "timestamp": "timestamp", "duration": "duration",
                "bytes": "bytes"}.get(walked.type, "dyn")
    return "dyn"


def _key(schema: Optional[dict]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)


_cache: dict[tuple, Program] = {}
_CACHE_MAX = 4096


def compile(source: str, variables: dict[str, tuple[Optional[dict], bool]],
            extra: Iterable[str] = ()) -> Program:
    """
    Compile C{source} with variables typed by schemas.

    @param variables: name -> (schema or None for C{dyn}, whether the schema is a resource root
        (so C{apiVersion}, C{kind} and C{metadata.name} exist)).
    @param extra: more C{dyn} variable names the expression may use.
    @raise CompileError: kube's C{compilation failed: ERROR: <input>:1:6: ...} details.
    """
    key = (source, tuple((n, _key(s), r) for n, (s, r) in sorted(variables.items())), tuple(sorted(extra)))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    decls = {n: type_signature(schema) for n, (schema, _) in variables.items()}
    decls.update({n: "dyn" for n in extra})
    env = _environment(tuple(sorted(decls.items())))
    try:
        expression = env.compile(source)
    except Exception as e:  # RuntimeError with the checker's issues; anything else is reported alike
        raise CompileError("compilation failed: " + _clean(str(e))) from None
    checked: Checked = parse_checked(expression.serialize())
    walked = _Walk(source, variables).walk(checked.root)
    refs = frozenset(name for name in checked.references.values() if name in variables or name in extra)
    program = Program(source, expression, _result_type(expression, walked), walked.cost, refs, checked,
                      _loop_depth(checked.root))
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[key] = program
    return program


def _loop_depth(n: Node) -> int:
    """The deepest nesting of comprehensions under C{n}."""
    below = max((_loop_depth(a) for a in n.args), default=0)
    return below + 1 if n.kind == "comprehension" else below


def schema_of(value: Any) -> Optional[dict]:
    """A schema bounding a JSON value as it is (for costing C{dyn} variables on their actual value)."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string", "maxLength": len(value)}
    if isinstance(value, list):
        items = [schema_of(v) for v in value]
        merged = _merge_bounds(items) if items else None
        return {"type": "array", "maxItems": len(value), **({"items": merged} if merged else {})}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: schema_of(v) or {} for k, v in value.items()}}
    return None


def actual_cost(program: Program, values: dict[str, Any]) -> int:
    """An upper bound of the cost of evaluating a program of C{dyn} variables on these values."""
    shapes = {name: (schema_of(value), False) for name, value in values.items()}
    return _Walk(program.source, shapes, strict=False).walk(program.checked.root).cost


def runtime_cost(program: Program, variables: dict[str, tuple[Optional[dict], bool]],
                 values: dict[str, Any]) -> int:
    """
    An upper bound of the cost of evaluating C{program} on these values: the estimate with each list,
    map and string bounded by its actual size instead of its schema's maximum.
    """
    bounded = {name: (_bound(schema, values.get(name)), root) for name, (schema, root) in variables.items()}
    return _Walk(program.source, bounded).walk(program.checked.root).cost


def _bound(s: Optional[dict], value: Any) -> Optional[dict]:
    """A copy of the schema whose maxima are the value's actual sizes."""
    if s is None:
        return None
    out = dict(s)
    if isinstance(value, list):
        out["maxItems"] = len(value)
        items = s.get("items")
        if isinstance(items, dict) and value:
            out["items"] = _merge_bounds([_bound(items, v) for v in value])
    elif isinstance(value, dict):
        out["maxProperties"] = len(value)
        props = s.get("properties")
        if isinstance(props, dict):
            out["properties"] = {k: _bound(p, value.get(k)) if isinstance(p, dict) else p for k, p in props.items()}
        ap = s.get("additionalProperties")
        if isinstance(ap, dict) and value:
            out["additionalProperties"] = _merge_bounds([_bound(ap, v) for v in value.values()])
    elif isinstance(value, str):
        out["maxLength"] = len(value)
    return out


def _merge_bounds(schemas: list[Optional[dict]]) -> Optional[dict]:
    """The schema bounding every one of these (the largest of each maximum)."""
    first = schemas[0]
    if first is None:
        return None
    out = dict(first)
    for key in ("maxItems", "maxProperties", "maxLength"):
        vals = [s[key] for s in schemas if s is not None and key in s]
        if vals:
            out[key] = max(vals)
    for key in ("items", "additionalProperties"):
        subs = [s[key] for s in schemas if s is not None and isinstance(s.get(key), dict)]
        if subs:
            out[key] = _merge_bounds(subs)
    props: list[dict] = [s["properties"] for s in schemas if s is not None and isinstance(s.get("properties"), dict)]
    if props:
        out["properties"] = {k: _merge_bounds([p[k] for p in props if k in p]) for k in props[0]}
    return out


def to_cel(value: Any, s: Optional[dict]) -> Any:
    """
    A JSON value as CEL sees it under its schema: C{number}s as doubles, C{byte} strings as bytes,
    properties under their escaped names (L{escape}).

    kube also makes C{date-time} strings timestamps and C{duration} strings durations; the C++
    runtime's bindings take those only as variables (L{variable_value}), not inside a C{dyn} object,
    so nested ones stay strings here (C{timestamp(self.t)} works in both, C{self.t < timestamp(...)}
    only in kube).
    """
    if s is None or value is None:
        return value
    t = s.get("type")
    if t == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if t == "string" and isinstance(value, str):
        if s.get("format") == "byte":
            try:
                return base64.b64decode(value, validate=True)
            except ValueError:
                return value
        return value
    if isinstance(value, list):
        items = s.get("items")
        return [to_cel(v, items if isinstance(items, dict) else None) for v in value]
    if isinstance(value, dict):
        props: dict = s["properties"] if isinstance(s.get("properties"), dict) else {}
        ap = s["additionalProperties"] if isinstance(s.get("additionalProperties"), dict) else None
        out = {}
        for k, v in value.items():
            sub = props.get(k, ap)
            out[(escape(k) or k) if k in props else k] = to_cel(v, sub)
        return out
    return value


def variable_value(value: Any, s: Optional[dict]) -> Any:
    """
    A variable's value as CEL sees it (L{to_cel}), and a C{date-time} or C{duration} string that is
    the variable itself as a timestamp or duration, as kube types it.
    """
    if isinstance(value, str) and isinstance(s, dict) and s.get("type") == "string" \
            and type_signature(s) in ("timestamp", "duration"):
        parsed = _timestamp(value) if s.get("format") == "date-time" else _duration(value)
        if parsed is not None:
            return parsed
    return to_cel(value, s)


def _timestamp(text: str) -> Any:
    """An RFC 3339 date-time, or None."""
    import datetime

    try:
        out = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return out if out.tzinfo is not None else out.replace(tzinfo=datetime.timezone.utc)


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> Any:
    """Go's C{time.ParseDuration}, or None."""
    import datetime

    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return datetime.timedelta(0)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or not body:
        return None
    return datetime.timedelta(seconds=sign * total)


def needs_conversion(s: Any) -> bool:
    """Whether L{to_cel} would change anything under this schema."""
    if not isinstance(s, dict):
        return False
    if s.get("type") == "number" or s.get("format") in ("byte", "date-time", "duration"):
        return True
    if isinstance(s.get("properties"), dict) and any(escape(k) != k for k in s["properties"]):
        return True
    subs = list((s.get("properties") or {}).values()) if isinstance(s.get("properties"), dict) else []
    subs += [s.get("items"), s.get("additionalProperties")]
    return any(needs_conversion(x) for x in subs)
