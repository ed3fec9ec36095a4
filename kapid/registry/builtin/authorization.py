"""
authorization.k8s.io/v1 reviews: C{selfsubjectaccessreviews}, C{subjectaccessreviews},
C{localsubjectaccessreviews} and C{selfsubjectrulesreviews}, create-only resources whose answers are
computed, never stored (kube's C{pkg/registry/authorization/*}). C{kubectl auth can-i} posts a
self-subject access review and prints C{yes} or C{no} from C{status.allowed}; C{kubectl auth can-i
--list} posts a self-subject rules review and prints its rules.

L{SelfSubjectAccessReviewREST.compute_create} takes the decoded review and the request's user, asks
the configured authorizer (L{kapid.auth.interfaces.IAuthorizer}) about the attributes in the spec
and returns the review with its C{status}.

The resource is listed in L{COMPUTED_RESOURCES}, not C{RESOURCES}: the generic create handler
stores objects, so it is registered once the endpoints call a strategy's C{compute_create} for
such resources instead of the registry Store.
"""

from __future__ import annotations

import copy
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from kapid.apimachinery import field
from kapid.apimachinery.status import bad_request, invalid
from kapid.auth.interfaces import ALLOW, DENY, Attributes, UserInfo
from kapid.registry.description import Resource, Version

GROUP = "authorization.k8s.io"


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate_spec(spec: Any) -> list[field.FieldError]:
    """
    kube's C{ValidateSelfSubjectAccessReviewSpec}: exactly one of C{resourceAttributes} and
    C{nonResourceAttributes}.
    """
    spec = spec if isinstance(spec, dict) else {}
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        value = field.GoValue(
            "authorization.NonResourceAttributes{Path:"
            + _go_quote(str(non_resource.get("path", "")))
            + ", Verb:"
            + _go_quote(str(non_resource.get("verb", "")))
            + "}"
        )
        return [
            field.invalid(
                "spec.nonResourceAttributes", value, "cannot be specified in combination with resourceAttributes"
            )
        ]
    if resource is None and non_resource is None:
        return [
            field.invalid(
                "spec.resourceAttributes",
                "null",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        ]
    return []


def attributes_from_spec(user: UserInfo, spec: dict) -> Attributes:
    """
    kube's C{ResourceAttributesFrom} / C{NonResourceAttributesFrom}: the attributes a review asks
    about, for C{user} (an empty version means every version, C{*}).
    """
    resource = spec.get("resourceAttributes")
    if resource is not None:
        return Attributes(
            user=user,
            verb=resource.get("verb", ""),
            is_resource_request=True,
            namespace=resource.get("namespace", ""),
            api_group=resource.get("group", ""),
            api_version=resource.get("version") or "*",
            resource=resource.get("resource", ""),
            subresource=resource.get("subresource", ""),
            name=resource.get("name", ""),
        )
    non_resource = spec.get("nonResourceAttributes") or {}
    return Attributes(
        user=user,
        verb=non_resource.get("verb", ""),
        is_resource_request=False,
        path=non_resource.get("path", ""),
    )


class SelfSubjectAccessReviewREST:
    """
    Computes C{SelfSubjectAccessReview}s with an authorizer.

    @ivar authorizer: the L{kapid.auth.interfaces.IAuthorizer} configured for the server.
    """

    def __init__(self, authorizer: Any) -> None:
        self.authorizer = authorizer

    def compute_create(self, obj: dict, user: Any) -> Deferred:
        """
        A Deferred firing with the review and its C{status} (C{allowed}, C{denied}, C{reason},
        C{evaluationError}); 422 for an invalid spec, 400 when the request has no user.
        """
        return Deferred.fromCoroutine(self._create(obj, user))

    async def _create(self, obj: dict, user: Any) -> dict:
        errs = validate_spec(obj.get("spec"))
        if errs:
            raise invalid("SelfSubjectAccessReview", "", errs, GROUP)
        if user is None:
            raise bad_request("no user present on request")
        attributes = attributes_from_spec(user, obj["spec"])
        status: dict[str, Any] = {}
        try:
            decision = await maybeDeferred(self.authorizer.authorize, attributes)
        except Exception as e:
            status = {"allowed": False, "evaluationError": str(e)}
        else:
            status = _review_status(decision)
        out = copy.deepcopy(obj)
        out["kind"] = "SelfSubjectAccessReview"
        out["apiVersion"] = f"{GROUP}/v1"
        out.setdefault("metadata", {"creationTimestamp": None})
        out["status"] = status
        return out


def _review_status(decision: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"allowed": decision.decision == ALLOW}
    if decision.decision == DENY:
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    if getattr(decision, "error", ""):
        status["evaluationError"] = decision.error
    return status


def _user_from_spec(spec: dict) -> UserInfo:
    extra = spec.get("extra") or {}
    return UserInfo(
        name=spec.get("user") or "",
        uid=spec.get("uid") or "",
        groups=tuple(spec.get("groups") or ()),
        extra={k: tuple(v or ()) for k, v in extra.items()},
    )


class SubjectAccessReviewREST:
    """
    Computes C{SubjectAccessReview}s (or, with C{local}, C{LocalSubjectAccessReview}s): the
    authorizer's decision for the user named in the spec.

    @ivar authorizer: the L{kapid.auth.interfaces.IAuthorizer} configured for the server.
    """

    def __init__(self, authorizer: Any, local: bool = False) -> None:
        self.authorizer = authorizer
        self.local = local
        self.kind = "LocalSubjectAccessReview" if local else "SubjectAccessReview"

    def compute_create(self, obj: dict, user: Any, namespace: str = "") -> Deferred:
        """
        A Deferred firing with the review and its C{status}; 422 for an invalid spec (kube's
        C{ValidateSubjectAccessReview} / C{ValidateLocalSubjectAccessReview}), 400 for a local review
        about another namespace than the URL's.
        """
        return Deferred.fromCoroutine(self._create(obj, namespace))

    async def _create(self, obj: dict, namespace: str) -> dict:
        given = obj.get("spec")
        spec: dict = given if isinstance(given, dict) else {}
        errs = validate_spec(spec)
        if not spec.get("user") and not spec.get("groups"):
            errs.append(field.invalid("spec.user", spec.get("user") or "", "at least one of user or group must be specified"))
        if self.local and spec.get("nonResourceAttributes") is not None:
            non_resource = spec["nonResourceAttributes"]
            value = field.GoValue(
                "&authorization.NonResourceAttributes{Path:" + _go_quote(str(non_resource.get("path", "")))
                + ", Verb:" + _go_quote(str(non_resource.get("verb", ""))) + "}"
            )
            errs.append(field.invalid("spec.nonResourceAttributes", value, "disallowed on this kind of request"))
        if errs:
            raise invalid(self.kind, (obj.get("metadata") or {}).get("name") or "", errs, GROUP)
        if self.local:
            asked = (spec.get("resourceAttributes") or {}).get("namespace") or ""
            if asked != namespace:
                raise bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
        attributes = attributes_from_spec(_user_from_spec(spec), spec)
        try:
            decision = await maybeDeferred(self.authorizer.authorize, attributes)
        except Exception as e:
            status: dict[str, Any] = {"allowed": False, "evaluationError": str(e)}
        else:
            status = _review_status(decision)
        out = copy.deepcopy(obj)
        out["kind"] = self.kind
        out["apiVersion"] = f"{GROUP}/v1"
        out.setdefault("metadata", {"creationTimestamp": None})
        if self.local:
            out["metadata"].setdefault("namespace", namespace)
        out["status"] = status
        return out


def _resource_rule(rule: dict) -> dict:
    out = {"verbs": list(rule.get("verbs") or [])}
    for k in ("apiGroups", "resources", "resourceNames"):
        if rule.get(k):
            out[k] = list(rule[k])
    return out


class SelfSubjectRulesReviewREST:
    """
    Computes C{SelfSubjectRulesReview}s: the rules the authorizer's C{rules_for(user, namespace)}
    answers (C{(resource rules, non-resource rules, incomplete[, error])}, see
    L{kapid.auth.authorizers.UnionAuthorizer.rules_for}); an authorizer without it lists nothing
    and marks the answer incomplete.
    """

    def __init__(self, authorizer: Any) -> None:
        self.authorizer = authorizer

    def compute_create(self, obj: dict, user: Any) -> Deferred:
        """
        A Deferred firing with the review and its C{status}; 400 without a namespace in the spec or
        a user on the request (kube's messages).
        """
        return Deferred.fromCoroutine(self._create(obj, user))

    async def _create(self, obj: dict, user: Any) -> dict:
        if user is None:
            raise bad_request("no user present on request")
        namespace = ((obj.get("spec") or {}).get("namespace")) or ""
        if not namespace:
            raise bad_request("no namespace on request")
        status: dict[str, Any]
        rules_for = getattr(self.authorizer, "rules_for", None)
        if rules_for is None:
            status = {"resourceRules": [], "nonResourceRules": [], "incomplete": True}
        else:
            try:
                answer = await maybeDeferred(rules_for, user, namespace)
            except Exception as e:
                status = {"resourceRules": [], "nonResourceRules": [], "incomplete": True, "evaluationError": str(e)}
            else:
                resource_rules, non_resource_rules, incomplete = answer[:3]
                status = {
                    "resourceRules": [_resource_rule(r) for r in resource_rules],
                    "nonResourceRules": [
                        {"verbs": list(r.get("verbs") or []), "nonResourceURLs": list(r.get("nonResourceURLs") or [])}
                        for r in non_resource_rules
                    ],
                    "incomplete": bool(incomplete),
                }
                if len(answer) > 3 and answer[3]:
                    status["evaluationError"] = answer[3]
        out = copy.deepcopy(obj)
        out["kind"] = "SelfSubjectRulesReview"
        out["apiVersion"] = f"{GROUP}/v1"
        out.setdefault("metadata", {"creationTimestamp": None})
        out["status"] = status
        return out


def _review(kind: str, plural: str, strategy: Any, namespaced: bool = False) -> Resource:
    return Resource(
        group=GROUP,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        versions=(Version("v1", schema=f"io.k8s.api.authorization.v1.{kind}", storage=True),),
        namespaced=namespaced,
        verbs=("create",),
        strategy=strategy,
    )


def subject_access_reviews(authorizer: Any) -> Resource:
    """
    The description of C{subjectaccessreviews}, computed with C{authorizer}.
    """
    return _review("SubjectAccessReview", "subjectaccessreviews", SubjectAccessReviewREST(authorizer))


def local_subject_access_reviews(authorizer: Any) -> Resource:
    """
    The description of the namespaced C{localsubjectaccessreviews}, computed with C{authorizer}.
    """
    return _review(
        "LocalSubjectAccessReview", "localsubjectaccessreviews", SubjectAccessReviewREST(authorizer, local=True), True
    )


def self_subject_rules_reviews(authorizer: Any) -> Resource:
    """
    The description of C{selfsubjectrulesreviews}, computed with C{authorizer}'s rules.
    """
    return _review("SelfSubjectRulesReview", "selfsubjectrulesreviews", SelfSubjectRulesReviewREST(authorizer))


def self_subject_access_reviews(authorizer: Any) -> Resource:
    """
    The description of C{selfsubjectaccessreviews}, computed with C{authorizer}.
    """
    return Resource(
        group=GROUP,
        kind="SelfSubjectAccessReview",
        plural="selfsubjectaccessreviews",
        singular="selfsubjectaccessreview",
        versions=(Version("v1", schema="io.k8s.api.authorization.v1.SelfSubjectAccessReview", storage=True),),
        namespaced=False,
        verbs=("create",),
        strategy=SelfSubjectAccessReviewREST(authorizer),
    )


#: Factories (authorizer -> Resource) of the computed create-only resources of this group.
COMPUTED_RESOURCES = (
    self_subject_access_reviews,
    subject_access_reviews,
    local_subject_access_reviews,
    self_subject_rules_reviews,
)
