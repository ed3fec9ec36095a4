"""
The C{ValidatingAdmissionPolicy} admission plugin (kube's C{plugin/policy/validating}): every stored
C{ValidatingAdmissionPolicyBinding} whose policy exists, and whose policy's C{matchConstraints} and
own C{matchResources} match the request, evaluates the policy (L{kapid.cel.admission}) with its
params (C{paramKind} objects chosen by the binding's C{paramRef}: by name or label selector, in the
request's namespace unless the ref names one; C{parameterNotFoundAction}) and applies the binding's
C{validationActions}: C{Deny} refuses the request with kube's message and reason, C{Warn} adds a
C{Warning}, C{Audit} an audit annotation. Policies and bindings are read from the watch cache on each
request (a change applies at once); compiled programs are cached per policy spec.

Not done: C{status.typeChecking} (the controller that type-checks a policy against the schemas of
the kinds it matches) and the C{authorizer} variable.
"""

from __future__ import annotations

from typing import Any, Optional

import orjson
from twisted.logger import Logger
from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext, watched
from kapid.admission.interfaces import OPERATIONS, Attributes, IValidatingAdmission, forbidden
from kapid.apimachinery.selectors import selector_from_label_selector
from kapid.cel.admission import (
    REASON_CODES,
    Decision,
    admission_variables,
    compiled_policy,
    warning_message,
)

log = Logger()

GROUP = "admissionregistration.k8s.io"
#: Requests for admission configuration itself are never subject to policies.
EXEMPT = {
    (GROUP, "mutatingwebhookconfigurations"), (GROUP, "validatingwebhookconfigurations"),
    (GROUP, "validatingadmissionpolicies"), (GROUP, "validatingadmissionpolicybindings"),
    (GROUP, "mutatingadmissionpolicies"), (GROUP, "mutatingadmissionpolicybindings"),
}
#: The audit annotation of failed validations under the Audit action.
AUDIT_KEY = "validation.policy.admission.k8s.io/validation_failure"


def _rule_matches(rule: dict, a: Attributes, resource: Optional[tuple[str, str, str]] = None) -> bool:
    """A C{NamedRuleWithOperations}: kube's rule matcher plus C{resourceNames}."""
    from kapid.admission.webhook import rule_matches

    if not rule_matches(rule, a, resource or a.resource):
        return False
    names = rule.get("resourceNames") or []
    return not names or (a.name in names)


@implementer(IValidatingAdmission)
class ValidatingAdmissionPolicyPlugin:
    """
    C{ValidatingAdmissionPolicy}.

    @param context: the plugins' lookups.
    """

    name = "ValidatingAdmissionPolicy"

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        """Every operation."""
        return operation in OPERATIONS

    async def _namespace(self, a: Attributes) -> Optional[dict]:
        if not a.namespace:
            return None
        return await self.context.get("", "namespaces", "", a.namespace, memo=a.memo)

    async def _matches(self, resources: Optional[dict], a: Attributes) -> bool:
        """kube's C{matchResources}: rules minus excluded rules, namespace and object selectors."""
        if not resources:
            return True
        rules = resources.get("resourceRules")
        if rules is not None and not any(_rule_matches(r, a) for r in rules):
            # matchPolicy Equivalent (the default): another served version of the resource matches too
            if (resources.get("matchPolicy") or "Equivalent") != "Equivalent" or not any(
                    _rule_matches(r, a, eq) for eq in self._equivalents(a) for r in rules):
                return False
        if any(_rule_matches(r, a) for r in resources.get("excludeResourceRules") or []):
            return False
        ns_matcher = selector_from_label_selector(resources.get("namespaceSelector"))
        is_namespace = a.resource[0] == "" and a.resource[2] == "namespaces"
        if ns_matcher is not None and (a.namespace or is_namespace):
            if is_namespace and a.operation in ("CREATE", "UPDATE") and not a.subresource:
                labels = ((a.object or {}).get("metadata") or {}).get("labels") or {}
            else:
                ns = await self._namespace(a)
                labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
            if not ns_matcher(labels):
                return False
        obj_matcher = selector_from_label_selector(resources.get("objectSelector"))
        if obj_matcher is not None:
            if not any(isinstance(o, dict) and obj_matcher(((o.get("metadata") or {}).get("labels")) or {})
                       for o in (a.object, a.old_object)):
                return False
        return True

    def _equivalents(self, a: Attributes) -> list[tuple[str, str, str]]:
        """The request's resource in its other served versions."""
        links = self.context.links or ([self.context.link] if self.context.link is not None else [])
        for link in links:
            for res in link.registry.all():
                if res.group == a.resource[0] and res.plural == a.resource[2]:
                    return [(res.group, v.name, res.plural) for v in res.versions
                            if v.name != a.resource[1] and v.served]
        return []

    def _param_resource(self, kind: dict) -> Optional[tuple[Any, Any]]:
        """The resource of C{paramKind} and its store, in whichever link serves it (custom kinds too)."""
        group, _, _ = str(kind.get("apiVersion") or "").rpartition("/")
        links = self.context.links or ([self.context.link] if self.context.link is not None else [])
        for link in links:
            for r in link.registry.all():
                if r.group == group and r.kind == kind.get("kind"):
                    return r, link.store_for(r)
        return None

    async def _param_get(self, store: Any, namespace: str, name: str) -> Optional[dict]:
        key = store.key(namespace, name)
        obj = await store.storage.get(key, "0", True)
        return obj if obj is not None else await store.storage.get(key, "", True)

    async def _param_list(self, store: Any, namespace: str) -> list[dict]:
        from kapid.storage.interfaces import ListOptions

        res = await store.storage.get_list(store.list_key(namespace), ListOptions(resource_version="0"))
        return list(res["items"])

    async def _params(self, policy: dict, binding: dict, a: Attributes) -> tuple[list[Any], Optional[str]]:
        """The params to evaluate with (C{[None]} without paramKind), or a configuration error."""
        kind = policy.get("paramKind")
        if not kind:
            return [None], None
        ref = binding.get("paramRef")
        if not ref:
            return [], "failed to configure binding: paramRef must be set for a policy with paramKind"
        found_res = self._param_resource(kind)
        if found_res is None:
            return [], f"failed to configure policy: failed to find resource referenced by paramKind: " \
                       f"'{kind.get('apiVersion')}, Kind={kind.get('kind')}'"
        res, store = found_res
        namespace = ""
        if res.namespaced:
            namespace = ref.get("namespace") or a.namespace
            if not namespace:
                return [], "failed to configure binding: cannot use namespaced paramRef in policy binding " \
                           "that matches cluster-scoped resources"
        if ref.get("name"):
            obj = await self._param_get(store, namespace, ref["name"])
            found = [obj] if obj is not None else []
        else:
            matcher = selector_from_label_selector(ref.get("selector") or {})
            items = await self._param_list(store, namespace)
            found = [o for o in items
                     if matcher is None or matcher(((o.get("metadata") or {}).get("labels")) or {})]
        if not found:
            if (ref.get("parameterNotFoundAction") or "Deny") == "Deny":
                return [], "no params found for policy binding with `Deny` parameterNotFoundAction"
            return [], None
        return found, None

    async def validate(self, a: Attributes) -> None:
        """Evaluate every matching binding; the first Deny refuses the request."""
        if a.group_resource in EXEMPT:
            return
        bindings = await watched(self.context, GROUP, "validatingadmissionpolicybindings").items()
        if not bindings:
            return
        policies = {(p.get("metadata") or {}).get("name"): p
                    for p in await watched(self.context, GROUP, "validatingadmissionpolicies").items()}
        denied: Optional[tuple[str, str, Decision]] = None
        audits: list[dict] = []
        for binding in bindings:
            bspec = binding.get("spec") or {}
            policy = policies.get(bspec.get("policyName"))
            if policy is None:
                continue
            pspec = policy.get("spec") or {}
            pname = (policy.get("metadata") or {}).get("name") or ""
            bname = (binding.get("metadata") or {}).get("name") or ""
            if not await self._matches(pspec.get("matchConstraints"), a):
                continue
            if not await self._matches(bspec.get("matchResources"), a):
                continue
            actions = list(bspec.get("validationActions") or [])
            compiled = compiled_policy(pspec)
            params, config_error = await self._params(pspec, bspec, a)
            decisions: list[Decision] = []
            if config_error is not None:
                if compiled.failure_policy != "Ignore":
                    decisions.append(Decision("deny", config_error, "Invalid", True))
            namespace_object = await self._namespace(a) if params else None
            for param in params:
                result = compiled.evaluate(admission_variables(a, param, namespace_object))
                if result.match_error is not None:
                    decisions.append(Decision("deny", result.match_error, "Invalid", True))
                    continue
                if not result.matches:
                    continue
                decisions.extend(d for d in result.decisions if d.action == "deny")
                for key, value in result.audit_annotations:
                    a.add_annotation(f"{pname}/{key}", value)
            for d in decisions:
                if "Deny" in actions and denied is None:
                    denied = (pname, bname, d)
                if "Warn" in actions:
                    a.add_warning(warning_message(pname, bname, d))
                if "Audit" in actions:
                    audits.append({"message": d.message, "policy": pname, "binding": bname,
                                   "expressionIndex": max(d.index, 0), "validationActions": actions})
        if audits:
            a.add_annotation(AUDIT_KEY, orjson.dumps(audits).decode())
        if denied is not None:
            pname, bname, d = denied
            message = f"ValidatingAdmissionPolicy '{pname}' with binding '{bname}' denied request: {d.message}"
            err = forbidden(a, message)
            err.reason = d.reason or "Invalid"
            err.code = REASON_CODES.get(err.reason, 422)
            details = err.details if err.details is not None else {}
            details.setdefault("causes", []).append({"message": message})
            err.details = details
            raise err


@register("ValidatingAdmissionPolicy")
def _plugin(context: PluginContext, config: Any) -> ValidatingAdmissionPolicyPlugin:
    return ValidatingAdmissionPolicyPlugin(context)

