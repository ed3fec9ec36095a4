"""
CEL in structured authentication (C{AuthenticationConfiguration}'s C{jwt} issuers), as kube's
C{apiserver/pkg/authentication/cel} and its OIDC authenticator evaluate it: C{claimValidationRules}
and C{claimMappings} (C{username}, C{groups}, C{uid}, C{extra}) over the C{claims} variable, and
C{userValidationRules} over the C{user} variable (C{username}, C{uid}, C{groups}, C{extra}).

L{ClaimExpressions} compiles one issuer's expressions once (L{ClaimExpressions.errors} lists what
does not compile, for start-up) and raises L{ClaimError} with kube's C{oidc: ...} messages.
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.cel import compiler
from kapid.cel.admission import evaluate
from kapid.cel.compiler import CompileError, EvalError, Program


class ClaimError(Exception):
    """A token whose claims fail an expression; the text is kube's."""


def _compile(source: str, name: str, where: str, errors: list[str]) -> Optional[Program]:
    try:
        return compiler.compile(source, {}, extra=(name,))
    except CompileError as e:
        errors.append(f"{where}: Invalid value: {source!r}: {e.detail}")
        return None


def _strings(value: Any) -> Optional[list[str]]:
    """kube's C{convertCELValueToStringList}: a string or a list of strings, empties dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return None
        return [v for v in value if v]
    return None


class ClaimExpressions:
    """
    One C{jwt} entry's CEL expressions.

    @param entry: the C{jwt[i]} of an C{AuthenticationConfiguration}.
    @param where: its path for start-up errors (C{jwt[0]}).
    """

    def __init__(self, entry: dict, where: str = "jwt[0]") -> None:
        self.errors: list[str] = []
        mappings = entry.get("claimMappings") or {}

        def mapping(name: str) -> Optional[Program]:
            expr = (mappings.get(name) or {}).get("expression")
            return _compile(expr, "claims", f"{where}.claimMappings.{name}.expression", self.errors) if expr else None

        self.username = mapping("username")
        self.groups = mapping("groups")
        self.uid = mapping("uid")
        self.extra: list[tuple[str, str, Optional[Program]]] = []
        for i, e in enumerate(mappings.get("extra") or []):
            expr = str(e.get("valueExpression") or "")
            self.extra.append((str(e.get("key") or ""), expr,
                               _compile(expr, "claims", f"{where}.claimMappings.extra[{i}].valueExpression",
                                        self.errors)))
        self.claim_rules: list[tuple[str, str, Optional[Program]]] = []
        for i, r in enumerate(entry.get("claimValidationRules") or []):
            if r.get("expression"):
                expr = str(r["expression"])
                self.claim_rules.append((expr, str(r.get("message") or ""),
                                         _compile(expr, "claims", f"{where}.claimValidationRules[{i}].expression",
                                                  self.errors)))
        self.user_rules: list[tuple[str, str, Optional[Program]]] = []
        for i, r in enumerate(entry.get("userValidationRules") or []):
            expr = str(r.get("expression") or "")
            self.user_rules.append((expr, str(r.get("message") or ""),
                                    _compile(expr, "user", f"{where}.userValidationRules[{i}].expression",
                                             self.errors)))

    def _eval(self, program: Optional[Program], variables: dict[str, Any], what: str) -> Any:
        if program is None:
            raise ClaimError(f"oidc: error evaluating {what}: compilation failed")
        try:
            return evaluate(program, variables)
        except EvalError as e:
            raise ClaimError(f"oidc: error evaluating {what}: expression '{program.source}' resulted in error: {e}") \
                from None

    def map_username(self, claims: dict) -> Optional[str]:
        """The username from C{claimMappings.username.expression}, or None without one."""
        if self.username is None:
            return None
        value = self._eval(self.username, {"claims": claims}, "username claim expression")
        if not isinstance(value, str):
            raise ClaimError("oidc: error evaluating username claim expression: "
                             "username claim expression must return a string")
        return value

    def map_groups(self, claims: dict) -> Optional[list[str]]:
        """The groups from C{claimMappings.groups.expression}, or None without one."""
        if self.groups is None:
            return None
        values = _strings(self._eval(self.groups, {"claims": claims}, "group claim expression"))
        if values is None:
            raise ClaimError("oidc: error evaluating group claim expression: "
                             "expression must return a string or a list of strings")
        return values

    def map_uid(self, claims: dict) -> Optional[str]:
        """The uid from C{claimMappings.uid.expression}, or None without one."""
        if self.uid is None:
            return None
        value = self._eval(self.uid, {"claims": claims}, "uid claim expression")
        if not isinstance(value, str):
            raise ClaimError("oidc: error evaluating uid claim expression: uid claim expression must return a string")
        return value

    def map_extra(self, claims: dict) -> dict[str, tuple[str, ...]]:
        """The extra keys of C{claimMappings.extra} (keys whose values are empty are left out)."""
        out: dict[str, tuple[str, ...]] = {}
        for key, expr, program in self.extra:
            values = _strings(self._eval(program, {"claims": claims}, "extra claim expression"))
            if values is None:
                raise ClaimError(f"oidc: error evaluating extra claim expression: {expr}: "
                                 "expression must return a string or a list of strings")
            if values:
                out[key] = tuple(values)
        return out

    def _check(self, rules: list[tuple[str, str, Optional[Program]]], name: str, value: Any, what: str) -> None:
        for expr, message, program in rules:
            result = self._eval(program, {name: value}, what)
            if not isinstance(result, bool):
                raise ClaimError(f"oidc: error evaluating {what}: validation expression must return a boolean")
            if not result:
                raise ClaimError(f"oidc: error evaluating {what}: validation expression '{expr}' failed: {message}")

    def validate_claims(self, claims: dict) -> None:
        """C{claimValidationRules} with expressions, in order."""
        self._check(self.claim_rules, "claims", claims, "claim validation expression")

    def validate_user(self, username: str, uid: str, groups: list[str], extra: dict[str, Any]) -> None:
        """C{userValidationRules} on the mapped user."""
        user = {"username": username, "uid": uid, "groups": list(groups),
                "extra": {k: list(v) for k, v in extra.items()}}
        self._check(self.user_rules, "user", user, "user info validation rule")
