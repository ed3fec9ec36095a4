"""
Authorizers: C{AlwaysAllow}, C{AlwaysDeny}, the privileged-group short cut, and their union; and
kube's C{Forbidden} message.

An authorizer may also answer C{rules_for(user, namespace)} (kube's C{RuleResolver}, for
C{selfsubjectrulesreviews}): C{(resource rules, non-resource rules, incomplete)}, the rules as
C{{"verbs", "apiGroups", "resources", "resourceNames"}} and C{{"verbs", "nonResourceURLs"}} dicts.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from twisted.internet.defer import Deferred, maybeDeferred
from zope.interface import implementer

from kapid.apimachinery.status import StatusError, qualified
from kapid.auth.interfaces import ALLOW, DENY, MASTERS_GROUP, NO_OPINION, Attributes, Decision, IAuthorizer


def aggregate(errors: Sequence[str]) -> str:
    """
    Go's C{utilerrors.NewAggregate(errors).Error()}: C{""}, the one error, or C{[a, b]}.
    """
    if not errors:
        return ""
    if len(errors) == 1:
        return errors[0]
    return "[" + ", ".join(errors) + "]"


@implementer(IAuthorizer)
class AlwaysAllow:
    """
    Allows everything (C{--authorization-mode=AlwaysAllow}).
    """

    def authorize(self, attributes: Attributes) -> Decision:
        """
        Allow.
        """
        return Decision(ALLOW)

    def rules_for(self, user: Any, namespace: str) -> tuple[list[dict], list[dict], bool]:
        """
        Every verb on every resource and every URL.
        """
        return (
            [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            False,
        )


@implementer(IAuthorizer)
class AlwaysDeny:
    """
    Denies everything (C{--authorization-mode=AlwaysDeny}).
    """

    def authorize(self, attributes: Attributes) -> Decision:
        """
        Deny, with kube's reason.
        """
        return Decision(DENY, "Everything is forbidden.")

    def rules_for(self, user: Any, namespace: str) -> tuple[list[dict], list[dict], bool]:
        """
        No rules (complete).
        """
        return [], [], False


@implementer(IAuthorizer)
class PrivilegedGroupAuthorizer:
    """
    Kube's C{authorizerfactory.NewPrivilegedGroups}: members of C{system:masters} may do anything,
    whatever the modes.
    """

    def authorize(self, attributes: Attributes) -> Decision:
        """
        Allow C{system:masters}, no opinion otherwise.
        """
        if MASTERS_GROUP in attributes.user.groups:
            return Decision(ALLOW)
        return Decision(NO_OPINION)

    def rules_for(self, user: Any, namespace: str) -> tuple[list[dict], list[dict], bool]:
        """
        Nothing: kube does not count the privileged groups among its rule resolvers.
        """
        return [], [], False


@implementer(IAuthorizer)
class UnionAuthorizer:
    """
    The first authorizer with an opinion decides; with none, the request is denied.
    """

    def __init__(self, authorizers: Sequence[Any]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attributes: Attributes) -> Any:
        """
        The first L{ALLOW} or L{DENY}, or L{NO_OPINION} with the reasons (a Deferred when an
        authorizer answers asynchronously).
        """
        reasons: list[str] = []
        errors: list[str] = []
        for index, authorizer in enumerate(self.authorizers):
            decision = authorizer.authorize(attributes)
            if isinstance(decision, Deferred):
                return Deferred.fromCoroutine(self._rest(attributes, decision, index, reasons, errors))
            if decision.decision in (ALLOW, DENY):
                return decision
            if decision.reason:
                reasons.append(decision.reason)
            if decision.error:
                errors.append(decision.error)
        return Decision(NO_OPINION, "\n".join(reasons), aggregate(errors))

    async def _rest(self, attributes: Attributes, pending: Deferred, index: int, reasons: list[str],
                    errors: list[str]) -> Decision:
        decision = await pending
        for authorizer in [None] + self.authorizers[index + 1:]:
            if authorizer is not None:
                decision = await maybeDeferred(authorizer.authorize, attributes)
            if decision.decision in (ALLOW, DENY):
                return decision
            if decision.reason:
                reasons.append(decision.reason)
            if decision.error:
                errors.append(decision.error)
        return Decision(NO_OPINION, "\n".join(reasons), aggregate(errors))

    def rules_for(self, user: Any, namespace: str) -> Deferred:
        """
        A Deferred firing with the rules of every authorizer in order (kube's union rule
        resolver); incomplete when one is, or has no C{rules_for}; and the rule resolvers' errors
        (a rule resolver may answer a fourth item, its error message).
        """
        return Deferred.fromCoroutine(self._rules_for(user, namespace))

    async def _rules_for(self, user: Any, namespace: str) -> tuple[list[dict], list[dict], bool, str]:
        resource_rules: list[dict] = []
        non_resource_rules: list[dict] = []
        incomplete = False
        errors: list[str] = []
        for authorizer in self.authorizers:
            rules_for = getattr(authorizer, "rules_for", None)
            if rules_for is None:
                incomplete = True
                continue
            answer = await maybeDeferred(rules_for, user, namespace)
            more, more_non, partial = answer[:3]
            if len(answer) > 3 and answer[3]:
                errors.append(answer[3])
            resource_rules.extend(more)
            non_resource_rules.extend(more_non)
            incomplete = incomplete or partial
        return resource_rules, non_resource_rules, incomplete, aggregate(errors)


def _rbac(service: Any = None, **context: Any) -> Any:
    from kapid.auth.rbac import RBACIndex, RBACAuthorizer, rbac_for_service

    if service is None:
        index = context.get("rbac_index")
        return RBACAuthorizer(index if index is not None else RBACIndex())
    return rbac_for_service(service)


def _webhook(service: Any = None, **context: Any) -> Any:
    if service is None:
        return context["webhook"]
    from kapid.auth.webhook import webhook_for_service

    return webhook_for_service(service)


def _node(service: Any = None, **context: Any) -> Any:
    from kapid.auth.node import NodeAuthorizer, NodeGraph, node_for_service

    if service is None:
        graph = context.get("node_graph")
        return NodeAuthorizer(graph if graph is not None else NodeGraph())
    return node_for_service(service)


#: Authorization mode name -> factory of its authorizer (others may register more).
MODES: dict[str, Callable[..., Any]] = {
    "AlwaysAllow": lambda **kw: AlwaysAllow(),
    "AlwaysDeny": lambda **kw: AlwaysDeny(),
    "RBAC": _rbac,
    "Webhook": _webhook,
    "Node": _node,
}


def build_authorizer(modes: Sequence[str], **context: Any) -> UnionAuthorizer:
    """
    The union of the privileged-group authorizer and one authorizer per mode, in order.
    """
    return UnionAuthorizer([PrivilegedGroupAuthorizer()] + [MODES[m](**context) for m in modes])


def forbidden_error(attributes: Attributes, reason: str) -> StatusError:
    """
    Kube's 403 for a denied request (C{responsewriters.Forbidden}).
    """
    user = attributes.user.name
    quoted = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    msg = f"User {quoted(user)} cannot {attributes.verb}"
    if not attributes.is_resource_request:
        msg += f" path {quoted(attributes.path)}"
    else:
        resource = attributes.resource
        if attributes.subresource:
            resource += "/" + attributes.subresource
        msg += f" resource {quoted(resource)}"
        msg += f" in API group {quoted(attributes.api_group)}"
        if attributes.namespace:
            msg += f" in the namespace {quoted(attributes.namespace)}"
        else:
            msg += " at the cluster scope"
    if reason:
        msg += ": " + reason
    resource = attributes.resource if attributes.is_resource_request else ""
    group = attributes.api_group if attributes.is_resource_request else ""
    name = attributes.name if attributes.is_resource_request else ""
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if resource:
        details["kind"] = resource
    if not resource:
        message = f"forbidden: {msg}"
    elif name:
        message = f"{qualified(resource, group)} {quoted(name)} is forbidden: {msg}"
    else:
        message = f"{qualified(resource, group)} is forbidden: {msg}"
    return StatusError(403, "Forbidden", message, details)
