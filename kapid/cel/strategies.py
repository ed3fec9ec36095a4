"""
Strategies of the C{admissionregistration.k8s.io} resources whose CEL expressions kube compiles on
create and update: a ValidatingAdmissionPolicy's (C{matchConditions}, C{variables}, C{validations},
C{messageExpression}, C{auditAnnotations}) and the C{matchConditions} of webhook configurations. An
expression that does not compile, or returns the wrong type, is kube's 422 cause at its path.
"""

from __future__ import annotations

from kapid.apimachinery.field import FieldError
from kapid.cel.admission import compiled_match_conditions, compiled_policy
from kapid.registry.strategy import GenericStrategy


class ValidatingAdmissionPolicyStrategy(GenericStrategy):
    """The generic strategy, plus kube's compilation of the policy's expressions."""

    def validate(self, obj: dict) -> list[FieldError]:
        spec = obj.get("spec")
        return list(compiled_policy(spec).compile_errors) if isinstance(spec, dict) else []

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return self.validate(obj)


class WebhookConfigurationStrategy(GenericStrategy):
    """The generic strategy, plus kube's compilation of each webhook's C{matchConditions}."""

    def validate(self, obj: dict) -> list[FieldError]:
        out: list[FieldError] = []
        for i, hook in enumerate(obj.get("webhooks") or []):
            if isinstance(hook, dict) and isinstance(hook.get("matchConditions"), list):
                conditions = compiled_match_conditions(hook["matchConditions"], str(hook.get("failurePolicy") or "Fail"))
                out.extend(conditions.errors(f"webhooks[{i}].matchConditions"))
        return out

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return self.validate(obj)
