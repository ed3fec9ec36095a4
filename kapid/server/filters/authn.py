"""
The authentication filters: the secure one asks an L{IAuthenticator} (401 when nobody is
recognised); the insecure one makes every request C{system:unsecured} in C{system:masters}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import maybeDeferred

from kapid.apimachinery.status import unauthorized
from kapid.auth.interfaces import (
    MASTERS_GROUP,
    UNSECURED_USER,
    AuthenticationError,
    UserInfo,
    with_authenticated_group,
)
from kapid.server import context
from kapid.server.filters import Filter, continue_when


class AuthenticationFilter(Filter):
    """
    Kube's C{WithAuthentication}: find the user, drop the C{Authorization} header, go on; 401
    C{Unauthorized} when no authenticator recognises the request.
    """

    def __init__(self, wrapped: Any, authenticator: Any) -> None:
        super().__init__(wrapped)
        self.authenticator = authenticator

    def render(self, request: Any) -> Any:
        """
        Authenticate, then render the chain.
        """

        def then(user: Optional[UserInfo]) -> Any:
            if user is None:
                raise unauthorized()
            context.set_user(request, with_authenticated_group(user))
            request.requestHeaders.removeHeader(b"authorization")
            return self.wrapped.render(request)

        d = maybeDeferred(self.authenticator.authenticate, request)
        d.addErrback(lambda f: f.trap(AuthenticationError) and None)
        return continue_when(request, d, then)


#: The user of every request on the insecure port.
INSECURE_SUPERUSER = UserInfo(name=UNSECURED_USER, groups=(MASTERS_GROUP, "system:authenticated"))


class InsecureSuperuserFilter(Filter):
    """
    Kube's C{InsecureSuperuser}: every request is C{system:unsecured} in C{system:masters}.
    """

    def render(self, request: Any) -> Any:
        """
        Set the superuser, then render the chain.
        """
        context.set_user(request, INSECURE_SUPERUSER)
        return self.wrapped.render(request)
