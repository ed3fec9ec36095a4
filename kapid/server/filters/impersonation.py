"""
The impersonation filter (kube's C{WithImpersonation}): C{Impersonate-User}, C{Impersonate-Uid},
C{Impersonate-Group} and C{Impersonate-Extra-<key>} headers make the request act as another user,
if the authorizer lets the authenticated user C{impersonate} each of them.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import unquote

from twisted.internet.defer import Deferred, maybeDeferred

from kapid.apimachinery.status import internal_error
from kapid.auth.authorizers import forbidden_error
from kapid.auth.interfaces import ALLOW, ANONYMOUS_USER, AUTHENTICATED_GROUP, Attributes, UserInfo
from kapid.server import context
from kapid.server.filters import Filter, continue_when

USER = b"impersonate-user"
UID = b"impersonate-uid"
GROUP = b"impersonate-group"
EXTRA_PREFIX = "impersonate-extra-"

_SA_PREFIX = "system:serviceaccount:"


def _requested(request: Any) -> tuple[Optional[str], Optional[str], list[str], dict[str, list[str]]]:
    headers = request.requestHeaders
    user = (headers.getRawHeaders(USER) or [None])[0]
    uid = (headers.getRawHeaders(UID) or [None])[0]
    groups = [g.decode("utf-8", "replace") for g in headers.getRawHeaders(GROUP) or []]
    extra: dict[str, list[str]] = {}
    for name, values in headers.getAllRawHeaders():
        lower = name.decode("latin-1").lower()
        if lower.startswith(EXTRA_PREFIX):
            key = unquote(lower[len(EXTRA_PREFIX):])
            extra.setdefault(key, []).extend(v.decode("utf-8", "replace") for v in values)
    return (
        user.decode("utf-8", "replace") if user is not None else None,
        uid.decode("utf-8", "replace") if uid is not None else None,
        groups,
        extra,
    )


def _checks(actor: UserInfo, user: str, uid: Optional[str], groups: list[str], extra: dict[str, list[str]]) -> list[Attributes]:
    """
    The authorization checks kube makes for one impersonation request.
    """
    checks = []
    base = dict(user=actor, verb="impersonate", is_resource_request=True)
    if user.startswith(_SA_PREFIX) and user.count(":") == 3:
        _, _, namespace, name = user.split(":")
        checks.append(Attributes(**base, namespace=namespace, resource="serviceaccounts", name=name))
    else:
        checks.append(Attributes(**base, resource="users", name=user))
    for group in groups:
        checks.append(Attributes(**base, resource="groups", name=group))
    for key, values in extra.items():
        for value in values:
            checks.append(Attributes(**base, api_group="authentication.k8s.io", resource="userextras",
                                     subresource=key, name=value))
    if uid is not None:
        checks.append(Attributes(**base, api_group="authentication.k8s.io", resource="uids", name=uid))
    return checks


class ImpersonationFilter(Filter):
    """
    Replaces the request's user with the impersonated one, once every impersonation is allowed.
    """

    def __init__(self, wrapped: Any, authorizer: Any) -> None:
        super().__init__(wrapped)
        self.authorizer = authorizer

    def render(self, request: Any) -> Any:
        """
        Check and apply impersonation headers, then render the chain.
        """
        user, uid, groups, extra = _requested(request)
        if user is None and uid is None and not groups and not extra:
            return self.wrapped.render(request)
        if user is None:
            # kube answers 500 with the requests as Go prints a []ObjectReference
            refs = [_ref("Group", name=g) for g in groups]
            refs += [_ref("UserExtra", name=v, field_path=k) for k, vs in extra.items() for v in vs]
            if uid is not None:
                refs.append(_ref("UID", name=uid))
            error = internal_error(f"requested [{' '.join(refs)}] without impersonating a user")
            return continue_when(request, Deferred.fromCoroutine(_fail(error)), lambda _: None)
        actor = context.user(request) or UserInfo(name="")
        checks = _checks(actor, user, uid, groups, extra)

        async def authorize() -> None:
            for attributes in checks:
                decision = await maybeDeferred(self.authorizer.authorize, attributes)
                if decision.decision != ALLOW:
                    raise forbidden_error(attributes, decision.reason)

        def then(_: Any) -> Any:
            new_groups = list(groups)
            if user.startswith(_SA_PREFIX) and user.count(":") == 3:
                namespace = user.split(":")[2]
                for g in ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"):
                    if g not in new_groups:
                        new_groups.append(g)
            if user != ANONYMOUS_USER and AUTHENTICATED_GROUP not in new_groups:
                new_groups.append(AUTHENTICATED_GROUP)
            impersonated = UserInfo(
                name=user, uid=uid or "", groups=tuple(new_groups),
                extra={k: tuple(v) for k, v in extra.items()},
            )
            setattr(request, "_kapid_impersonator", actor)
            context.set_user(request, impersonated)
            for name, _values in list(request.requestHeaders.getAllRawHeaders()):
                lower = name.lower()
                if lower in (USER, UID, GROUP) or lower.decode("latin-1").startswith(EXTRA_PREFIX):
                    request.requestHeaders.removeHeader(name)
            return self.wrapped.render(request)

        return continue_when(request, Deferred.fromCoroutine(authorize()), then)


def _ref(kind: str, namespace: str = "", name: str = "", field_path: str = "") -> str:
    """
    A C{v1.ObjectReference} as Go's C{%v} prints it (kind, namespace, name, uid, apiVersion,
    resourceVersion, fieldPath).
    """
    return "{" + " ".join([kind, namespace, name, "", "", "", field_path]) + "}"


async def _fail(error: Exception) -> None:
    raise error


def impersonator(request: Any) -> Optional[UserInfo]:
    """
    The authenticated user that impersonates the request's user, or None.
    """
    return getattr(request, "_kapid_impersonator", None)
