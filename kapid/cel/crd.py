"""
The validation rules of CustomResourceDefinition schemas (C{x-kubernetes-validations}), as kube's
C{apiextensions-apiserver/pkg/apiserver/schema/cel} compiles and evaluates them.

L{compile_rules} compiles every rule of one version's schema once (the result is cached by schema);
L{RuleSet.errors} gives the CRD's 422 causes (rules that do not compile, do not return a bool, or
cost too much); L{RuleSet.validate} evaluates them on a custom resource, with C{oldSelf} on updates
(transition rules run only when the old value correlates, unless C{optionalOldSelf}), ratcheting
(a value unchanged since the old object is not rejected by a rule that is not a transition rule),
C{messageExpression}, C{reason}, C{fieldPath} and kube's runtime cost limits.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

import attrs
import orjson

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError, GoValue
from kapid.cel import compiler
from kapid.cel.compiler import CompileError, EvalError, Program

_OLD_VALUE = "__oldSelfValue"
_HAS_OLD = "__hasOldSelf"


@attrs.frozen(eq=False)
class Rule:
    """One compiled rule; C{program} is None when it did not compile (see C{error})."""

    spec: dict
    program: Optional[Program]
    message_program: Optional[Program]
    transition: bool
    optional_old_self: bool
    error: Optional[FieldError]
    cost: int


@attrs.define(eq=False)
class _Node:
    """A schema node that has rules, or has descendants with rules."""

    schema: dict
    is_root: bool
    rules: list[Rule] = attrs.Factory(list)
    properties: dict[str, "_Node"] = attrs.Factory(dict)
    items: Optional["_Node"] = None
    additional: Optional["_Node"] = None
    cardinality: int = 1
    #: whether values under this node need L{compiler.to_cel} (numbers, bytes, escaped names)
    convert: bool = False

    def has_rules(self) -> bool:
        return bool(self.rules or self.properties or self.items or self.additional)


def _p(base: str, *parts: Any) -> str:
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _type_name(s: dict) -> str:
    t = s.get("type")
    return t if isinstance(t, str) else ""


def _go_rule(r: dict) -> GoValue:
    from kapid.apiextensions.validation import _go_rule as go_rule  # kube's %#v of a ValidationRule
    return GoValue(go_rule(r))


def _factor(cost: int, limit: int) -> str:
    factor = cost / limit
    return "more than 100x" if factor > 100 else f"{factor:.1f}x"


_UNCORRELATABLE = "oldSelf cannot be used on the uncorrelatable portion of the schema within "


def _compile_rule(rule: dict, s: dict, is_root: bool, path: str, uncorrelatable: Optional[str] = None) -> Rule:
    source = str(rule.get("rule") or "")
    optional_old = bool(rule.get("optionalOldSelf"))
    variables = {"self": (s, is_root), "oldSelf": (None if optional_old else s, is_root)}
    program = message = None
    error: Optional[FieldError] = None
    transition = False
    cost = 0
    try:
        checked = compiler.compile(source, variables)
    except CompileError as e:
        error = field.invalid(_p(path, "rule"), _go_rule(rule), e.detail)
    else:
        transition = "oldSelf" in checked.references
        if checked.result_type not in ("bool", "dyn"):
            error = field.invalid(_p(path, "rule"), _go_rule(rule), "cel expression must evaluate to a bool")
        elif transition and uncorrelatable is not None:
            error = field.invalid(_p(path, "rule"), source, _UNCORRELATABLE + uncorrelatable)
        elif optional_old and not transition:
            error = field.invalid(_p(path, "optionalOldSelf"), True,
                                  "may not be set if oldSelf is not used in rule")
        else:
            cost = checked.max_cost
            program = checked
            if optional_old:
                wrapped = (f"cel.bind(oldSelf, {_HAS_OLD} ? optional.of({_OLD_VALUE}) : optional.none(), "
                           f"({source}))")
                program = compiler.compile(wrapped, {"self": (s, is_root), _OLD_VALUE: (s, is_root)},
                                           extra=(_HAS_OLD,))
                program = attrs.evolve(program, references=checked.references)
    msg_expr = str(rule.get("messageExpression") or "")
    if error is None and msg_expr.strip():
        try:
            message = compiler.compile(msg_expr, variables)
        except CompileError as e:
            error = field.invalid(_p(path, "messageExpression"), _go_rule(rule),
                                  "messageExpression " + e.detail)
        else:
            if message.result_type not in ("string", "dyn"):
                error = field.invalid(_p(path, "messageExpression"), _go_rule(rule),
                                      "must evaluate to a string")
                message = None
            else:
                cost += message.max_cost
    return Rule(rule, program if error is None else None, message, transition, optional_old, error, cost)


def _build(s: Any, is_root: bool, path: str, card: int, uncorrelatable: Optional[str] = None) -> Optional[_Node]:
    """The rules under C{s}; C{uncorrelatable} is the path of the first list above it that is not a map list."""
    if not isinstance(s, dict):
        return None
    node = _Node(s, is_root, cardinality=card, convert=compiler.needs_conversion(s))
    for i, rule in enumerate(s.get("x-kubernetes-validations") or []):
        if isinstance(rule, dict) and str(rule.get("rule") or "").strip():
            node.rules.append(_compile_rule(rule, s, is_root, _p(path, "x-kubernetes-validations", i),
                                            uncorrelatable))
    props = s.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            if is_root and name == "metadata":
                continue
            child = _build(sub, bool(isinstance(sub, dict) and sub.get("x-kubernetes-embedded-resource")),
                           f"{path}.properties[{name}]", card, uncorrelatable)
            if child is not None and child.has_rules():
                node.properties[name] = child
    size = compiler.max_size(s)
    items = s.get("items")
    if isinstance(items, dict):
        below = uncorrelatable
        if below is None and s.get("x-kubernetes-list-type") != "map":
            below = f"{path}.items"
        child = _build(items, bool(items.get("x-kubernetes-embedded-resource")), f"{path}.items", card * size, below)
        node.items = child if child is not None and child.has_rules() else None
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        child = _build(ap, bool(ap.get("x-kubernetes-embedded-resource")), f"{path}.additionalProperties",
                       card * size, uncorrelatable)
        node.additional = child if child is not None and child.has_rules() else None
    return node


@attrs.frozen(eq=False)
class RuleSet:
    """The compiled rules of one schema."""

    root: Optional[_Node]
    schema_path: str

    def _rules(self) -> Iterator[tuple[_Node, Rule]]:
        stack = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            for r in node.rules:
                yield node, r
            stack.extend(node.properties.values())
            stack.extend(x for x in (node.items, node.additional) if x is not None)

    def __bool__(self) -> bool:
        return self.root is not None and self.root.has_rules()

    def errors(self, path: str = "") -> list[FieldError]:
        """
        The CRD's causes for these rules, under C{path} (the schema's field path, e.g.
        C{spec.validation.openAPIV3Schema}): compile errors and kube's cost limits.
        """
        out: list[FieldError] = []
        total = 0
        costly: list[tuple[int, str]] = []
        for node, rule in self._rules():
            if rule.error is not None:
                detail = rule.error.detail
                if detail.startswith(_UNCORRELATABLE):
                    detail = _UNCORRELATABLE + _rebase(detail[len(_UNCORRELATABLE):], self.schema_path, path)
                out.append(attrs.evolve(rule.error, field=_rebase(rule.error.field, self.schema_path, path),
                                        detail=detail))
                continue
            rule_path = _rebase(_rule_path(node, rule, self), self.schema_path, path)
            if rule.cost > compiler.STATIC_COST_LIMIT:
                out.append(field.forbidden(rule_path, "estimated rule cost exceeds budget by factor of "
                                           + _factor(rule.cost, compiler.STATIC_COST_LIMIT)))
            weighted = rule.cost * node.cardinality
            total += weighted
            costly.append((weighted, rule_path))
        if total > compiler.STATIC_CRD_COST_LIMIT:
            for weighted, rule_path in costly:
                if weighted > compiler.STATIC_CRD_COST_LIMIT // 100:
                    out.append(field.forbidden(rule_path, "contributed to estimated rule & messageExpression "
                                               "cost total exceeding cost limit for entire OpenAPIv3 schema"))
            out.append(field.forbidden(path, "x-kubernetes-validations estimated rule cost total for entire "
                                       "OpenAPIv3 schema exceeds budget by factor of "
                                       + _factor(total, compiler.STATIC_CRD_COST_LIMIT)))
        return out

    def validate(self, obj: Any, old: Any = None, path: str = "") -> list[FieldError]:
        """
        Evaluate the rules on C{obj} (C{old} on an update), kube's causes for those that fail.
        """
        if self.root is None:
            return []
        state = _State()
        out: list[FieldError] = []
        _validate(self.root, obj, old, old is not None, path, state, out)
        return out


def _rule_path(node: _Node, rule: Rule, rs: RuleSet) -> str:
    idx = next(i for i, r in enumerate(node.schema.get("x-kubernetes-validations") or []) if r is rule.spec)
    return _p(_node_path(rs, node), "x-kubernetes-validations", idx, "rule")


def _node_path(rs: RuleSet, target: _Node) -> str:
    stack: list[tuple[_Node, str]] = [(rs.root, rs.schema_path)] if rs.root is not None else []
    while stack:
        node, p = stack.pop()
        if node is target:
            return p
        stack.extend((c, f"{p}.properties[{k}]") for k, c in node.properties.items())
        if node.items is not None:
            stack.append((node.items, f"{p}.items"))
        if node.additional is not None:
            stack.append((node.additional, f"{p}.additionalProperties"))
    return rs.schema_path


def _rebase(p: str, old: str, new: str) -> str:
    return new + p[len(old):] if p.startswith(old) else p


@attrs.define
class _State:
    budget: int = compiler.RUNTIME_COST_BUDGET
    stopped: bool = False


_cache: dict[bytes, RuleSet] = {}


def compile_rules(schema: Optional[dict], schema_path: str = "openAPIV3Schema") -> RuleSet:
    """
    Compile every rule of a (structural) version schema, once per distinct schema.

    @param schema_path: the path compile errors are reported under (L{RuleSet.errors} rebases it).
    """
    key = orjson.dumps([schema, schema_path], option=orjson.OPT_SORT_KEYS)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    rs = RuleSet(_build(schema, True, schema_path, 1), schema_path)
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = rs
    return rs


def _list_key(s: dict, item: Any) -> Any:
    keys = s.get("x-kubernetes-list-map-keys") or []
    if not isinstance(item, dict):
        return None
    return tuple(orjson.dumps(item.get(k)) for k in keys)


def _validate(node: _Node, value: Any, old: Any, has_old: bool, path: str, state: _State,
              out: list[FieldError]) -> None:
    if state.stopped or value is None:
        return
    unchanged = has_old and value == old
    if node.rules:
        _run_rules(node, value, old, has_old, unchanged, path, state, out)
    if isinstance(value, dict):
        for name, child in node.properties.items():
            if name in value:
                has = has_old and isinstance(old, dict) and name in old
                _validate(child, value[name], old.get(name) if has else None, has, _p(path, name), state, out)
        if node.additional is not None:
            for k, v in value.items():
                has = has_old and isinstance(old, dict) and k in old
                _validate(node.additional, v, old.get(k) if has else None, has, f"{path}[{k}]", state, out)
    elif isinstance(value, list) and node.items is not None:
        list_type = node.schema.get("x-kubernetes-list-type")
        olds: dict[Any, Any] = {}
        if has_old and isinstance(old, list):
            if list_type == "map":
                olds = {_list_key(node.schema, o): o for o in old}
            elif list_type == "set":
                olds = {orjson.dumps(o, option=orjson.OPT_SORT_KEYS): o for o in old}
        for i, v in enumerate(value):
            key: Any = None
            if list_type == "map":
                key = _list_key(node.schema, v)
            elif list_type == "set":
                key = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
            has = key is not None and key in olds
            _validate(node.items, v, olds.get(key) if has else None, has, f"{path}[{i}]", state, out)


_NEWLINE = re.compile(r"\n")


def _message(rule: Rule) -> str:
    msg = str(rule.spec.get("message") or "").strip()
    return msg or f"failed rule: {str(rule.spec.get('rule') or '').strip()}"


def _error_string(rule: Rule) -> str:
    msg = str(rule.spec.get("message") or "").strip()
    return msg or str(rule.spec.get("rule") or "").strip()


def _field_path(base: str, field_path: str) -> str:
    """C{base} followed by a rule's C{fieldPath} (C{.spec.a['b']})."""
    if not field_path:
        return base
    out = base
    for m in re.finditer(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]", field_path):
        if m.group(1) is not None:
            out = _p(out, m.group(1))
        else:
            out += f"[{m.group(2)}]"
    return out


def _run_rules(node: _Node, value: Any, old: Any, has_old: bool, unchanged: bool, path: str, state: _State,
               out: list[FieldError]) -> None:
    s = node.schema
    convert = node.convert
    self_value = compiler.variable_value(value, s) if convert else value
    old_value = (compiler.variable_value(old, s) if convert else old) if has_old else None
    type_name = _type_name(s)
    for rule in node.rules:
        program = rule.program
        if program is None:
            continue
        if rule.transition and not has_old and not rule.optional_old_self:
            continue
        if unchanged and not rule.transition:
            continue  # ratcheting: an unchanged value is not rejected by a new rule
        variables: dict[str, Any] = {"self": self_value}
        if rule.optional_old_self:
            variables[_HAS_OLD] = has_old
            variables[_OLD_VALUE] = old_value
        elif rule.transition:
            variables["oldSelf"] = old_value
        # the estimate is charged; only when it would pass a limit is the cost on this value worked out
        cost = program.max_cost
        if cost > compiler.PER_CALL_LIMIT or cost > state.budget:
            cost = compiler.runtime_cost(program, {"self": (s, node.is_root), "oldSelf": (s, node.is_root)},
                                         {"self": value, "oldSelf": old})
        fpath = _field_path(path, str(rule.spec.get("fieldPath") or "")) or "<nil>"
        if cost > compiler.PER_CALL_LIMIT:
            out.append(field.invalid(path or "<nil>", type_name,
                                     "'operation cancelled: actual cost limit exceeded': no further validation "
                                     f"rules will be run due to call cost exceeds limit for rule: {_error_string(rule)}"))
            state.stopped = True
            return
        if cost > state.budget:
            out.append(field.invalid(path or "<nil>", type_name, "validation failed due to running out of cost budget, "
                                     "no further validation rules will be run"))
            state.stopped = True
            return
        state.budget -= cost
        try:
            result = program.evaluate(variables)
        except EvalError as e:
            text = str(e)
            if text.startswith("no such overload"):
                out.append(field.invalid(path or "<nil>", type_name, f"'{text}': call arguments did not match a supported "
                                         f"operator, function or macro signature for rule: {_error_string(rule)}"))
            else:
                out.append(field.invalid(path or "<nil>", type_name, f"{text} evaluating rule: {_error_string(rule)}"))
            continue
        if result is True:
            continue
        if result is not False:
            out.append(field.invalid(path or "<nil>", type_name, f"'no such overload': call arguments did not match a "
                                     f"supported operator, function or macro signature for rule: {_error_string(rule)}"))
            continue
        detail = _message(rule)
        if rule.message_program is not None:
            try:
                msg = rule.message_program.evaluate({"self": self_value, "oldSelf": old_value})
            except EvalError:
                msg = None
            if isinstance(msg, str) and msg.strip() and not _NEWLINE.search(msg.strip()) and len(msg.strip()) <= 5120:
                detail = msg.strip()
        reason = rule.spec.get("reason")
        if reason == "FieldValueForbidden":
            out.append(field.forbidden(fpath, detail))
        elif reason == "FieldValueRequired":
            out.append(field.required(fpath, detail))
        elif reason == "FieldValueDuplicate":
            out.append(field.duplicate(fpath, type_name))  # kube gives a duplicate no detail
        else:
            out.append(field.invalid(fpath, type_name, detail))


#: kube's detail when schema errors keep the rules from running.
NOT_CHECKED = ("some validation rules were not checked because the object was invalid; correct the "
               "existing errors to complete validation")


def rule_errors(schema: Optional[dict] | RuleSet, obj: Any, old: Any = None,
                schema_errors: list[FieldError] | tuple[FieldError, ...] = ()) -> list[FieldError]:
    """
    What a version's rules add to a custom resource's schema errors, as kube's strategy does: when
    the schema found a value of the wrong type (C{type_invalid}) or an unsupported value, the rules
    do not run and one C{<nil>: Invalid value: "null"} cause says so; otherwise the rules' causes.

    @param schema: the version's schema, or its L{RuleSet} (from L{compile_rules}, kept per version:
        cheaper than looking the schema up again).
    @param old: the old object on an update (transition rules and ratcheting), None on a create.
    """
    rs = schema if isinstance(schema, RuleSet) else compile_rules(schema)
    if not rs:
        return []
    if any(e.type in ("type_invalid", "not_supported") for e in schema_errors):
        return [field.invalid("<nil>", "null", NOT_CHECKED)]
    return rs.validate(obj, old)
