"""
The authorization filter (kube's C{WithAuthorization}): ask the L{IAuthorizer}; 403 C{Forbidden}
with kube's message unless allowed (500 when the authorizers met an error and none allowed).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import maybeDeferred

from kapid.apimachinery.status import internal_error
from kapid.auth.authorizers import forbidden_error
from kapid.auth.interfaces import ALLOW, Attributes, Decision, UserInfo
from kapid.server import context
from kapid.server.audit import record_authorization
from kapid.server.filters import Filter, continue_when


def attributes_of(request: Any) -> Attributes:
    """
    The authorization attributes of a request (its user and request info).
    """
    info = context.request_info(request)
    user = context.user(request) or UserInfo(name="")
    if info is None:
        return Attributes(user=user, verb=request.method.decode().lower(), is_resource_request=False,
                          path=request.path.decode("utf-8", "replace"))
    return Attributes(
        user=user,
        verb=info.verb,
        is_resource_request=info.is_resource_request,
        path=info.path,
        namespace=info.namespace,
        api_group=info.api_group,
        api_version=info.api_version,
        resource=info.resource,
        subresource=info.subresource,
        name=info.name,
    )


class AuthorizationFilter(Filter):
    """
    Renders the chain only for allowed requests.
    """

    def __init__(self, wrapped: Any, authorizer: Any) -> None:
        super().__init__(wrapped)
        self.authorizer = authorizer

    def render(self, request: Any) -> Any:
        """
        Authorize, then render the chain (or answer 403).
        """
        attributes = attributes_of(request)

        def then(decision: Decision) -> Any:
            record_authorization(request, decision.decision, decision.reason)
            if decision.decision == ALLOW:
                return self.wrapped.render(request)
            if getattr(decision, "error", ""):
                # kube: an authorizer error without an allow is a 500
                raise internal_error(decision.error)
            raise forbidden_error(attributes, decision.reason)

        return continue_when(request, maybeDeferred(self.authorizer.authorize, attributes), then)
