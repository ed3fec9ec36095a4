"""
admissionregistration.k8s.io/v1 resources: mutating and validating webhook configurations,
validating admission policies (+status) and their bindings, in kube's C{api-extensions} category.
"""

from __future__ import annotations

from kapid.cel.strategies import ValidatingAdmissionPolicyStrategy, WebhookConfigurationStrategy
from kapid.registry.builtin._helpers import resource, status, v1

GROUP = "admissionregistration.k8s.io"
_CATEGORIES = ("api-extensions",)


def _d(kind: str) -> str:
    return f"io.k8s.api.admissionregistration.v1.{kind}"


MUTATING_WEBHOOK_CONFIGURATIONS = resource(
    GROUP, "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
    v1(_d("MutatingWebhookConfiguration")),
    namespaced=False, categories=_CATEGORIES, tracks_generation=True,
    strategy=WebhookConfigurationStrategy(GROUP, "MutatingWebhookConfiguration", tracks_generation=True),
)
VALIDATING_WEBHOOK_CONFIGURATIONS = resource(
    GROUP, "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
    v1(_d("ValidatingWebhookConfiguration")),
    namespaced=False, categories=_CATEGORIES, tracks_generation=True,
    strategy=WebhookConfigurationStrategy(GROUP, "ValidatingWebhookConfiguration", tracks_generation=True),
)
VALIDATING_ADMISSION_POLICIES = resource(
    GROUP, "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
    v1(_d("ValidatingAdmissionPolicy")),
    namespaced=False, categories=_CATEGORIES, tracks_generation=True,
    subresources=(status("ValidatingAdmissionPolicy", GROUP),),
    singular="validatingadmissionpolicy",
    strategy=ValidatingAdmissionPolicyStrategy(GROUP, "ValidatingAdmissionPolicy", has_status=True,
                                               tracks_generation=True),
)
VALIDATING_ADMISSION_POLICY_BINDINGS = resource(
    GROUP, "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings",
    v1(_d("ValidatingAdmissionPolicyBinding")),
    namespaced=False, categories=_CATEGORIES, tracks_generation=True,
)

RESOURCES = [
    MUTATING_WEBHOOK_CONFIGURATIONS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
    VALIDATING_ADMISSION_POLICIES,
    VALIDATING_ADMISSION_POLICY_BINDINGS,
]
