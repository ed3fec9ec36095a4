"""
authentication.k8s.io/v1 C{selfsubjectreviews}: a create-only resource that answers who the caller
is, computed and never stored (kube's C{pkg/registry/authentication/selfsubjectreview}).
C{kubectl auth whoami} posts one and prints C{status.userInfo}. And C{tokenreviews}
(L{token_reviews}): whether a bearer token is one of the server's service account tokens, and whose.

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


def user_info_json(user: Optional[UserInfo]) -> dict[str, Any]:
    """
    C{authentication.k8s.io/v1} C{UserInfo} JSON of a user (empty fields omitted; C{{}} for None),
    as reviews, admission requests and CEL's C{request.userInfo} carry it.
    """
    out: dict[str, Any] = {}
    if user is None:
        return out
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


def service_account_user(claims: dict) -> UserInfo:
    """
    The user of a verified service account token's claims (kube's C{serviceaccount.UserInfo}):
    C{system:serviceaccount:<ns>:<name>}, the account's uid, its groups, and the credential id and
    bound pod / node as C{extra}.
    """
    private = claims.get("kubernetes.io") or {}
    namespace = private.get("namespace") or ""
    account = private.get("serviceaccount") or {}
    extra: dict[str, tuple[str, ...]] = {}
    if claims.get("jti"):
        extra["authentication.kubernetes.io/credential-id"] = ("JTI=" + claims["jti"],)
    for kind in ("node", "pod"):
        bound = private.get(kind) or {}
        if bound.get("name"):
            extra[f"authentication.kubernetes.io/{kind}-name"] = (bound["name"],)
        if bound.get("uid"):
            extra[f"authentication.kubernetes.io/{kind}-uid"] = (bound["uid"],)
    return UserInfo(
        name=claims.get("sub") or f"system:serviceaccount:{namespace}:{account.get('name', '')}",
        uid=account.get("uid") or "",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        extra=dict(sorted(extra.items())),
    )


class TokenReviewREST:
    """
    Computes C{TokenReview}s with a L{kapid.auth.tokens.TokenIssuer}: C{status.authenticated},
    C{user} and C{audiences} for a token the issuer signed (for the spec's audiences, or the
    server's), C{status.error} otherwise.
    """

    def __init__(self, issuer: Any) -> None:
        self.issuer = issuer

    def compute_create(self, obj: dict, user: Optional[UserInfo]) -> Deferred:
        """
        A Deferred firing with the review; 400 without a token (kube's message).
        """
        return Deferred.fromCoroutine(self._create(obj))

    async def _create(self, obj: dict) -> dict:
        spec = obj.get("spec") or {}
        token = spec.get("token") or ""
        if not token:
            raise bad_request("token is required for TokenReview in authentication")
        wanted = list(spec.get("audiences") or [])
        status: dict[str, Any] = {"user": {}}
        claims = None
        for audience in wanted or [None]:
            try:
                claims = self.issuer.verify(token, audience)
                break
            except Exception as e:
                error = str(e)
        if claims is None:
            if wanted:
                status["error"] = "[invalid bearer token, token audiences " + _go_list(wanted) + " is invalid for the target audiences]"
            else:
                status["error"] = f"[invalid bearer token, {error}]"
        else:
            aud = claims.get("aud")
            token_audiences = [aud] if isinstance(aud, str) else list(aud or [])
            status = {
                "authenticated": True,
                "user": user_info_json(service_account_user(claims)),
                "audiences": [a for a in token_audiences if a in wanted] if wanted else token_audiences,
            }
        return {
            "kind": "TokenReview",
            "apiVersion": f"{GROUP}/v1",
            "metadata": dict(obj.get("metadata") or {"creationTimestamp": None}),
            "spec": spec,
            "status": status,
        }


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(f'"{i}"' for i in items) + "]"


def token_reviews(issuer: Any) -> Resource:
    """
    The description of C{tokenreviews} (v1), verifying tokens with C{issuer}.
    """
    return Resource(
        group=GROUP,
        kind="TokenReview",
        plural="tokenreviews",
        singular="tokenreview",
        versions=(Version("v1", schema="io.k8s.api.authentication.v1.TokenReview", storage=True),),
        namespaced=False,
        verbs=("create",),
        strategy=TokenReviewREST(issuer),
    )


#: Factories (now -> Resource) of the computed create-only resources of this group.
COMPUTED_RESOURCES = (self_subject_reviews,)
