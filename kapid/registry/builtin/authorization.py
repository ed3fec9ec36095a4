"""
authorization.k8s.io/v1 C{selfsubjectaccessreviews}: a create-only resource whose answer is computed,
never stored (kube's C{pkg/registry/authorization/selfsubjectaccessreview}). C{kubectl auth can-i}
posts one and prints C{yes} or C{no} from C{status.allowed}.

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
            status = {"allowed": decision.decision == ALLOW}
            if decision.decision == DENY:
                status["denied"] = True
            if decision.reason:
                status["reason"] = decision.reason
        out = copy.deepcopy(obj)
        out["kind"] = "SelfSubjectAccessReview"
        out["apiVersion"] = f"{GROUP}/v1"
        out.setdefault("metadata", {"creationTimestamp": None})
        out["status"] = status
        return out


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
COMPUTED_RESOURCES = (self_subject_access_reviews,)
