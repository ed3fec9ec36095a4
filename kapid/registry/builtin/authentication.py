"""
authentication.k8s.io/v1 C{selfsubjectreviews}: a create-only resource that answers who the caller
is, computed and never stored (kube's C{pkg/registry/authentication/selfsubjectreview}).
C{kubectl auth whoami} posts one and prints C{status.userInfo}.

The resource is listed in L{COMPUTED_RESOURCES}, not C{RESOURCES}: the generic create handler
stores objects, so it is registered once the endpoints call a strategy's C{compute_create} for
such resources instead of the registry Store.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred

from kapid.apimachinery.status import bad_request
from kapid.auth.interfaces import UserInfo
from kapid.registry.description import Resource, Version

GROUP = "authentication.k8s.io"


def user_info_json(user: UserInfo) -> dict[str, Any]:
    """
    C{authentication.k8s.io/v1} C{UserInfo} JSON of a user (empty fields omitted).
    """
    out: dict[str, Any] = {}
    if user.name:
        out["username"] = user.name
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


class SelfSubjectReviewREST:
    """
    Computes C{SelfSubjectReview}s from the request's user.

    @ivar now: returns the current time as an RFC 3339 string (for C{creationTimestamp}).
    """

    def __init__(self, now: Callable[[], str]) -> None:
        self.now = now

    def compute_create(self, obj: dict, user: Optional[UserInfo]) -> Deferred:
        """
        A Deferred firing with the review: C{metadata.creationTimestamp} now and C{status.userInfo}
        the caller (kube answers in the version asked, v1 here); 400 when the request has no user.
        """
        return Deferred.fromCoroutine(self._create(obj, user))

    async def _create(self, obj: dict, user: Optional[UserInfo]) -> dict:
        if user is None:
            raise bad_request("no user present on request")
        return {
            "kind": "SelfSubjectReview",
            "apiVersion": obj.get("apiVersion") or f"{GROUP}/v1",
            "metadata": {"creationTimestamp": self.now()},
            "status": {"userInfo": user_info_json(user)},
        }


def self_subject_reviews(now: Callable[[], str]) -> Resource:
    """
    The description of C{selfsubjectreviews} (v1), timestamped with C{now}.
    """
    return Resource(
        group=GROUP,
        kind="SelfSubjectReview",
        plural="selfsubjectreviews",
        singular="selfsubjectreview",
        versions=(Version("v1", schema="io.k8s.api.authentication.v1.SelfSubjectReview", storage=True),),
        namespaced=False,
        verbs=("create",),
        strategy=SelfSubjectReviewREST(now),
    )


#: Factories (now -> Resource) of the computed create-only resources of this group.
COMPUTED_RESOURCES = (self_subject_reviews,)
