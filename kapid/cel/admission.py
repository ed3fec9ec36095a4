"""
CEL in admission: webhook C{matchConditions} and the expressions of a ValidatingAdmissionPolicy
(C{matchConditions}, C{variables}, C{validations} with C{messageExpression}, C{auditAnnotations}),
evaluated as kube's C{apiserver/pkg/admission/plugin/cel}, C{.../webhook/matchconditions} and
C{.../policy/validating} do.

The variables are kube's: C{object}, C{oldObject} (null when absent), C{request} (the
C{AdmissionRequest} as a webhook sees it), C{params}, C{namespaceObject} and C{variables}; all typed
C{dyn} (kube checks them against the matched kinds' schemas only for C{status.typeChecking}
warnings). C{authorizer} is not offered yet: an expression naming it does not compile.
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from kapid.registry.builtin.authentication import user_info_json
from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError
from kapid.cel import compiler
from kapid.cel._ast import Node
from kapid.cel.compiler import CompileError, EvalError, Program

#: The variables of match conditions.
MATCH_VARIABLES = ("object", "oldObject", "request")
#: The variables of a policy's expressions.
POLICY_VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")

#: kube's reasons a validation may give, with their HTTP codes.
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


def _compile(source: str, names: tuple[str, ...]) -> Program:
    return compiler.compile(source, {}, extra=names)


#: cel-go's error when an evaluation passes the per-call cost limit.
COST_EXCEEDED = "operation cancelled: actual cost limit exceeded"


def evaluate(program: Program, variables: dict[str, Any]) -> Any:
    """
    Evaluate, refusing first (kube's cost-limit error) an expression with nested loops whose cost on
    these values passes kube's per-call limit: nothing runs for minutes.
    """
    if program.loop_depth >= 2 and compiler.actual_cost(program, variables) > compiler.PER_CALL_LIMIT:
        raise EvalError(COST_EXCEEDED)
    return program.evaluate(variables)


def _used_variables(root: Node) -> set[str]:
    """The C{variables.<name>} an expression selects."""
    out = set()
    for n in root.walk():
        if n.kind == "select" and n.args and n.args[0].kind == "ident" and n.args[0].value == "variables":
            out.add(str(n.value))
        elif n.kind == "call" and n.value == "_?._" and n.args and n.args[0].kind == "ident" \
                and n.args[0].value == "variables" and len(n.args) > 1 and isinstance(n.args[1].value, str):
            out.add(n.args[1].value)
    return out


def request_variable(a: Any) -> dict:
    """
    The C{request} variable for admission attributes (L{kapid.admission.interfaces.Attributes}):
    kube's C{AdmissionRequest} without the objects.
    """
    req: dict[str, Any] = {
        "kind": {"group": a.kind[0], "version": a.kind[1], "kind": a.kind[2]},
        "resource": {"group": a.resource[0], "version": a.resource[1], "resource": a.resource[2]},
        "requestKind": {"group": a.kind[0], "version": a.kind[1], "kind": a.kind[2]},
        "requestResource": {"group": a.resource[0], "version": a.resource[1], "resource": a.resource[2]},
        "name": a.name or "",
        "namespace": a.namespace or "",
        "operation": a.operation,
        "userInfo": user_info_json(a.user),
        "dryRun": bool(a.dry_run),
        "options": a.options,
    }
    if a.subresource:
        req["subResource"] = a.subresource
        req["requestSubResource"] = a.subresource
    return req


def admission_variables(a: Any, params: Any = None, namespace_object: Any = None) -> dict[str, Any]:
    """The variables of an admission request's expressions."""
    return {"object": a.object, "oldObject": a.old_object, "request": request_variable(a),
            "params": params, "namespaceObject": namespace_object}


@attrs.frozen
class MatchResult:
    """
    What match conditions decided.

    @ivar matches: whether the webhook or policy applies.
    @ivar error: when it is undecided because conditions failed to evaluate and the failure policy
        is C{Fail}: kube's message.
    @ivar failed: the name of the condition that evaluated to false.
    """

    matches: bool
    error: Optional[str] = None
    failed: Optional[str] = None


class MatchConditions:
    """A list of C{matchConditions} compiled once."""

    def __init__(self, conditions: list[dict], failure_policy: str = "Fail",
                 names: tuple[str, ...] = MATCH_VARIABLES) -> None:
        self.failure_policy = failure_policy or "Fail"
        self.names = names
        self.conditions: list[tuple[str, str, Optional[Program], Optional[str]]] = []
        for c in conditions or []:
            expr = str(c.get("expression") or "")
            program: Optional[Program] = None
            error: Optional[str] = None
            try:
                program = _compile(expr, names)
            except CompileError as e:
                error = e.detail
            else:
                if program.result_type not in ("bool", "dyn"):
                    program, error = None, "must evaluate to bool"
            self.conditions.append((str(c.get("name") or ""), expr, program, error))

    def errors(self, path: str) -> list[FieldError]:
        """kube's causes for conditions that do not compile (at C{path}C{[i].expression})."""
        out = []
        for i, (_, expr, _, error) in enumerate(self.conditions):
            if error is not None:
                out.append(field.invalid(f"{path}[{i}].expression", expr, error))
        return out

    def match(self, variables: dict[str, Any]) -> MatchResult:
        """
        Evaluate in order: a false condition means no match; errors (with none false) follow the
        failure policy (C{Ignore}: no match; C{Fail}: an error).
        """
        errors: list[str] = []
        for name, _, program, error in self.conditions:
            if program is None:
                errors.append(f"compilation failed: {error}")
                continue
            try:
                value = evaluate(program, {k: variables.get(k) for k in self.names})
            except EvalError as e:
                errors.append(str(e))
                continue
            if value is False:
                return MatchResult(False, failed=name)
            if value is not True:
                errors.append(f"matchCondition {name!r} did not evaluate to a bool")
        if errors:
            if self.failure_policy == "Ignore":
                return MatchResult(False)
            return MatchResult(False, error=_aggregate(errors))
        return MatchResult(True)


def _aggregate(errors: list[str]) -> str:
    """Go's C{utilerrors.NewAggregate(...).Error()}."""
    if len(errors) == 1:
        return errors[0]
    return "[" + ", ".join(errors) + "]"


@attrs.frozen
class Decision:
    """
    One validation's outcome.

    @ivar action: C{deny} or C{admit} (C{admit} only for an evaluation error under C{Ignore}).
    @ivar message: kube's message (the validation's message, its messageExpression's value, or
        C{failed expression: ...}; for errors C{expression '...' resulted in error: ...}).
    @ivar reason: C{Invalid}, C{Forbidden}, C{Unauthorized} or C{RequestEntityTooLarge}.
    @ivar error: whether it came from an evaluation error.
    """

    action: str
    message: str
    reason: str = "Invalid"
    error: bool = False
    #: the index of the validation in the policy (-1 for match and configuration errors)
    index: int = -1

    @property
    def code(self) -> int:
        """The HTTP code of the reason."""
        return REASON_CODES.get(self.reason, 422)


@attrs.frozen
class PolicyResult:
    """
    A policy evaluated on a request: C{matches} false when its matchConditions exclude it (then no
    decisions), C{match_error} when they could not be decided.
    """

    matches: bool
    match_error: Optional[str] = None
    decisions: tuple[Decision, ...] = ()
    audit_annotations: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class _Expr:
    spec: dict
    program: Optional[Program]
    used: frozenset[str]


class CompiledPolicy:
    """
    A ValidatingAdmissionPolicy's expressions, compiled once per generation.

    @ivar compile_errors: kube's causes for what did not compile (for the policy's create or update).
    """

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.failure_policy = str(spec.get("failurePolicy") or "Fail")
        self.compile_errors: list[FieldError] = []
        self.match_conditions = MatchConditions(spec.get("matchConditions") or [], self.failure_policy,
                                                POLICY_VARIABLES)
        self.compile_errors += self.match_conditions.errors("spec.matchConditions")
        self.variables: list[tuple[str, _Expr]] = []
        for i, v in enumerate(spec.get("variables") or []):
            self.variables.append((str(v.get("name") or ""),
                                   self._expr(v, "expression", f"spec.variables[{i}].expression", None)))
        self.validations = [
            (self._expr(v, "expression", f"spec.validations[{i}].expression", "bool"),
             self._expr(v, "messageExpression", f"spec.validations[{i}].messageExpression", "string")
             if v.get("messageExpression") else None)
            for i, v in enumerate(spec.get("validations") or [])
        ]
        self.audit = [self._expr(v, "valueExpression", f"spec.auditAnnotations[{i}].valueExpression", None)
                      for i, v in enumerate(spec.get("auditAnnotations") or [])]

    def _expr(self, spec: dict, key: str, path: str, want: Optional[str]) -> _Expr:
        source = str(spec.get(key) or "")
        try:
            program = _compile(source, POLICY_VARIABLES)
        except CompileError as e:
            self.compile_errors.append(field.invalid(path, source, e.detail))
            return _Expr(spec, None, frozenset())
        if want is not None and program.result_type not in (want, "dyn"):
            self.compile_errors.append(field.invalid(path, source, f"must evaluate to {want}"))
            return _Expr(spec, None, frozenset())
        return _Expr(spec, program, frozenset(_used_variables(program.checked.root)))

    def evaluate(self, variables: dict[str, Any]) -> PolicyResult:
        """
        Evaluate on one request (L{admission_variables}): matchConditions, then variables (their
        errors reach only the expressions that use them), validations and audit annotations.
        """
        base = {k: variables.get(k) for k in POLICY_VARIABLES if k != "variables"}
        match = self.match_conditions.match(base)
        if not match.matches:
            return PolicyResult(False, match.error)
        values: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for name, expr in self.variables:
            err = self._blocked(expr, failed)
            if err is None and expr.program is not None:
                try:
                    values[name] = evaluate(expr.program, dict(base, variables=values))
                    continue
                except EvalError as e:
                    err = str(e)
            failed[name] = err or "compilation failed"
        scope = dict(base, variables=values)
        decisions = []
        for index, (check, message) in enumerate(self.validations):
            d = self._validate(check, message, scope, failed)
            if d is not None:
                decisions.append(attrs.evolve(d, index=index))
        audit = []
        for expr in self.audit:
            if expr.program is None or self._blocked(expr, failed) is not None:
                continue
            try:
                value = evaluate(expr.program, scope)
            except EvalError:
                continue
            if isinstance(value, str):
                audit.append((str(expr.spec.get("key") or ""), value))
        return PolicyResult(True, None, tuple(decisions), tuple(audit))

    def _blocked(self, expr: _Expr, failed: dict[str, str]) -> Optional[str]:
        for name in expr.used:
            if name in failed:
                return failed[name]
        return None

    def _error(self, check: _Expr, err: str) -> Decision:
        source = str(check.spec.get("expression") or "")
        action = "admit" if self.failure_policy == "Ignore" else "deny"
        return Decision(action, f"expression '{source}' resulted in error: {err}", "Invalid", True)

    def _validate(self, check: _Expr, message: Optional[_Expr], scope: dict, failed: dict[str, str]) \
            -> Optional[Decision]:
        if check.program is None:
            return self._error(check, "compilation failed")
        blocked = self._blocked(check, failed)
        if blocked is not None:
            return self._error(check, blocked)
        try:
            ok = evaluate(check.program, scope)
        except EvalError as e:
            return self._error(check, str(e))
        if ok is True:
            return None
        if ok is not False:
            return self._error(check, "no such overload")
        spec = check.spec
        text = str(spec.get("message") or "").strip() or \
            f"failed expression: {str(spec.get('expression') or '').strip()}"
        if message is not None and message.program is not None and self._blocked(message, failed) is None:
            try:
                value = evaluate(message.program, scope)
            except EvalError:
                value = None
            if isinstance(value, str) and value.strip() and "\n" not in value.strip():
                text = value.strip()
        return Decision("deny", text, str(spec.get("reason") or "Invalid"))


def denial_message(policy: str, binding: str, decision: Decision) -> str:
    """kube's message for a policy's Deny: C{ValidatingAdmissionPolicy 'p' with binding 'b' denied request: ...}."""
    return f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {decision.message}"


def warning_message(policy: str, binding: str, decision: Decision) -> str:
    """kube's C{Warning} text for a policy's Warn action."""
    return f"Validation failed for ValidatingAdmissionPolicy '{policy}' with binding '{binding}': {decision.message}"


_policies: dict[bytes, CompiledPolicy] = {}
_conditions: dict[bytes, MatchConditions] = {}


def compiled_policy(spec: dict) -> CompiledPolicy:
    """The policy spec compiled, once per distinct spec (a policy's live reload compiles anew)."""
    import orjson

    key = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
    hit = _policies.get(key)
    if hit is None:
        if len(_policies) > 1024:
            _policies.clear()
        hit = _policies[key] = CompiledPolicy(spec)
    return hit


def compiled_match_conditions(conditions: list[dict], failure_policy: str = "Fail") -> MatchConditions:
    """A webhook's matchConditions compiled, once per distinct list and failure policy."""
    import orjson

    key = orjson.dumps([conditions, failure_policy], option=orjson.OPT_SORT_KEYS)
    hit = _conditions.get(key)
    if hit is None:
        if len(_conditions) > 1024:
            _conditions.clear()
        hit = _conditions[key] = MatchConditions(conditions, failure_policy)
    return hit
