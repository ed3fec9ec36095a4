"""
The authentication and authorization seams (kube's C{authenticator.Request} and
C{authorizer.Authorizer}) and their value types.
"""

from __future__ import annotations

from typing import Any, Optional

import attr
from zope.interface import Interface

#: Well-known users and groups.
ANONYMOUS_USER = "system:anonymous"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
AUTHENTICATED_GROUP = "system:authenticated"
MASTERS_GROUP = "system:masters"
UNSECURED_USER = "system:unsecured"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UserInfo:
    """
    Who made a request (kube's C{user.Info}).
    """

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = attr.ib(factory=dict)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Attributes:
    """
    What an authorizer decides on (kube's C{authorizer.AttributesRecord}).
    """

    user: UserInfo
    verb: str
    is_resource_request: bool
    path: str = ""
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


ALLOW = "Allow"
DENY = "Deny"
NO_OPINION = "NoOpinion"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Decision:
    """
    An authorizer's answer: L{ALLOW}, L{DENY} or L{NO_OPINION}, with a reason, and the error it
    met deciding (kube's third return value: a request not allowed with an error is a 500).
    """

    decision: str
    reason: str = ""
    error: str = ""


class IAuthenticator(Interface):
    """
    Finds out who made a request.
    """

    def authenticate(request: Any) -> Any:
        """
        Return (or fire a Deferred with) a L{UserInfo}, or None when this authenticator cannot tell
        (no credentials of its kind). Raise L{AuthenticationError} (or errback with it) for
        credentials of its kind that are invalid.
        """


class IAuthorizer(Interface):
    """
    Decides whether a user may do something.
    """

    def authorize(attributes: Attributes) -> Any:
        """
        Return (or fire a Deferred with) a L{Decision}.
        """


class AuthenticationError(Exception):
    """
    Credentials were presented and are invalid (answered with 401).
    """


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """
    Kube's C{AuthenticatedGroupAdder}: add C{system:authenticated} to a user that is neither
    anonymous nor already in it.
    """
    if user.name == ANONYMOUS_USER or AUTHENTICATED_GROUP in user.groups:
        return user
    if UNAUTHENTICATED_GROUP in user.groups:
        return user
    return attr.evolve(user, groups=user.groups + (AUTHENTICATED_GROUP,))


def optional_user(user: Optional[UserInfo]) -> str:
    """
    A user's name for logs (C{""} when unknown).
    """
    return user.name if user is not None else ""
