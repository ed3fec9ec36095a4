"""
Type checking of ValidatingAdmissionPolicies (kube's C{validatingadmissionpolicy-status-controller}):
each policy's expressions are compiled with C{object} and C{oldObject} typed by the schema of every
kind its C{matchConstraints} name explicitly (wildcards are not checked), and what does not check is
written to C{status.typeChecking.expressionWarnings} (C{fieldRef} and C{<group/version>,
Kind=<kind>: ERROR: ...} warnings), with C{status.observedGeneration}.
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.cel import compiler
from kapid.cel.admission import POLICY_VARIABLES
from kapid.cel.compiler import CompileError
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler

GROUP = "admissionregistration.k8s.io"
_MAX_DEPTH = 12


def _flatten(node: Any, defs: dict, depth: int = 0) -> Optional[dict]:
    """A definition with its C{$ref}s inlined (recursive types cut off as untyped below a depth)."""
    if not isinstance(node, dict):
        return None
    if depth > _MAX_DEPTH:
        return {}
    while "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        extra = {k: v for k, v in node.items() if k not in ("$ref", "description")}
        node = dict(defs.get(name) or {}, **extra)
    out: dict = {k: v for k, v in node.items() if k not in ("properties", "items", "additionalProperties",
                                                            "description", "allOf")}
    if "allOf" in node and isinstance(node["allOf"], list) and node["allOf"]:
        merged = _flatten(node["allOf"][0], defs, depth + 1) or {}
        out = {**merged, **out}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _flatten(v, defs, depth + 1) or {} for k, v in node["properties"].items()}
        out.setdefault("type", "object")
    if isinstance(node.get("items"), dict):
        out["items"] = _flatten(node["items"], defs, depth + 1) or {}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _flatten(node["additionalProperties"], defs, depth + 1) or {}
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        out["type"] = types[0] if len(types) == 1 else None
    return out


def kind_schemas(policy_spec: dict, registry: Any) -> list[tuple[str, dict]]:
    """
    C{(gvk text, schema)} of every kind the policy's C{matchConstraints} name without wildcards,
    from the registry's resources (built-in definitions or CRD schemas).
    """
    out: list[tuple[str, dict]] = []
    seen: set[tuple[str, str, str]] = set()
    constraints = policy_spec.get("matchConstraints") or {}
    for rule in constraints.get("resourceRules") or []:
        groups = rule.get("apiGroups") or []
        versions = rule.get("apiVersions") or []
        resources = rule.get("resources") or []
        if "*" in groups or "*" in versions or any("*" in r or "/" in r for r in resources):
            continue
        for group in groups:
            for version in versions:
                for plural in resources:
                    res = next((r for r in registry.all() if r.group == group and r.plural == plural), None)
                    if res is None:
                        continue
                    v = next((v for v in res.versions if v.name == version), None)
                    if v is None or (group, version, res.kind) in seen:
                        continue
                    seen.add((group, version, res.kind))
                    schema = _schema_of(v.schema)
                    if schema is not None:
                        gv = f"{group}/{version}" if group else version
                        out.append((f"{gv}, Kind={res.kind}", schema))
    return out


def _schema_of(definition: Any) -> Optional[dict]:
    if isinstance(definition, dict):
        return definition
    if not isinstance(definition, str):
        return None
    try:
        from kapid.apimachinery.schema import load_definitions

        defs = load_definitions()
    except (ImportError, OSError):
        return None
    if definition not in defs:
        return None
    return _flatten(defs[definition], defs)


def expression_warnings(policy_spec: dict, kinds: list[tuple[str, dict]]) -> list[dict]:
    """
    kube's C{expressionWarnings}: for each expression (validations' C{expression} and
    C{messageExpression}, C{auditAnnotations}' C{valueExpression}, C{matchConditions}, C{variables})
    that does not check against some kind, its C{fieldRef} and one line per kind.
    """
    places: list[tuple[str, str]] = []
    for i, v in enumerate(policy_spec.get("validations") or []):
        places.append((f"spec.validations[{i}].expression", str(v.get("expression") or "")))
        if v.get("messageExpression"):
            places.append((f"spec.validations[{i}].messageExpression", str(v["messageExpression"])))
    for i, a in enumerate(policy_spec.get("auditAnnotations") or []):
        places.append((f"spec.auditAnnotations[{i}].valueExpression", str(a.get("valueExpression") or "")))
    out = []
    others = tuple(n for n in POLICY_VARIABLES if n not in ("object", "oldObject"))
    for ref, source in places:
        lines = []
        for gvk, schema in kinds:
            variables: dict[str, tuple[Optional[dict], bool]] = {"object": (schema, False), "oldObject": (schema, False)}
            try:
                compiler.compile(source, variables, extra=others)
            except CompileError as e:
                detail = e.detail
                if detail.startswith("compilation failed: "):
                    detail = detail[len("compilation failed: "):]
                lines.append(f"{gvk}: {detail}")
        if lines:
            out.append({"fieldRef": ref, "warning": "\n".join(lines)})
    return out


class TypeCheckingController(Controller):
    """Writes each policy's C{status.typeChecking} once per generation."""

    name = "validatingadmissionpolicy-status-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.policies_store = ctx.store(GROUP, "validatingadmissionpolicies")

    def setup(self) -> None:
        self.policies = self.ctx.informer(GROUP, "validatingadmissionpolicies")
        handler = FunctionHandler(add=self._queue, update=lambda _o, n: self._queue(n))
        self.watch(self.policies, handler)

    def _queue(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if (obj.get("status") or {}).get("observedGeneration") != meta.get("generation"):
            self.queue.add(meta.get("name", ""))

    async def sync(self, key: Any) -> None:
        if self.policies is None or self.policies_store is None:
            return
        policy = self.policies.get(key)
        if policy is None:
            return
        generation = (policy.get("metadata") or {}).get("generation")
        if (policy.get("status") or {}).get("observedGeneration") == generation:
            return
        spec = policy.get("spec") or {}
        warnings = expression_warnings(spec, kind_schemas(spec, self.ctx.registry))
        store = self.policies_store

        def update(cur: Optional[dict]) -> dict:
            assert cur is not None
            if (cur.get("metadata") or {}).get("generation") != generation:
                return cur  # changed meanwhile: the next event checks the new generation
            status = dict(cur.get("status") or {})
            status["observedGeneration"] = generation
            status["typeChecking"] = {"expressionWarnings": warnings} if warnings else {}
            cur["status"] = status
            return cur

        await store.storage.guaranteed_update(store.key("", key), update, None)
