"""
The handler chains that wrap the outermost link once per listener, in kube-apiserver v1.13's order.

Secure: panic recovery -> request info -> in-flight tracking -> timeout -> CORS -> authentication
-> audit -> impersonation -> max-in-flight -> authorization -> the chain. Insecure (v1.13's
C{BuildInsecureHandlerChain}): panic recovery -> request info -> in-flight tracking -> max-in-flight
-> timeout -> CORS -> authentication as C{system:unsecured} (in C{system:masters}) -> audit -> the
chain. The insecure max-in-flight runs before there is a user, so its limits apply to every request
there (the C{system:masters} exemption only holds on the secure port).
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource

from kapid.server.audit import AuditFilter
from kapid.server.filters import Filter
from kapid.server.filters.authn import AuthenticationFilter, InsecureSuperuserFilter
from kapid.server.filters.authz import AuthorizationFilter
from kapid.server.filters.impersonation import ImpersonationFilter
from kapid.server.filters.maxinflight import InFlightLimits, MaxInFlightFilter
from kapid.server.filters.panic import PanicRecovery
from kapid.server.filters.requestinfo import RequestInfoFilter
from kapid.server.filters.timeout import TimeoutFilter
from kapid.server.filters.waitgroup import InFlight, WaitGroupFilter


class CORSFilter(Filter):
    """
    Kube's C{WithCORS}: for an allowed C{Origin}, add the CORS headers; answer preflight C{OPTIONS}.
    """

    def __init__(self, wrapped: Any, allowed_origins: Sequence[str]) -> None:
        super().__init__(wrapped)
        self.patterns = [re.compile(o) for o in allowed_origins]

    def render(self, request: Any) -> Any:
        """
        Add CORS headers when the origin is allowed, then render the chain.
        """
        origin = request.getHeader(b"origin")
        if origin and any(p.search(origin.decode("latin-1")) for p in self.patterns):
            request.setHeader(b"Access-Control-Allow-Origin", origin)
            request.setHeader(b"Access-Control-Allow-Methods", b"POST, GET, OPTIONS, PUT, DELETE, PATCH")
            request.setHeader(
                b"Access-Control-Allow-Headers",
                b"Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, X-Requested-With, If-Modified-Since",
            )
            request.setHeader(b"Access-Control-Expose-Headers", b"Date")
            request.setHeader(b"Access-Control-Allow-Credentials", b"true")
            if request.method == b"OPTIONS":
                request.setResponseCode(204)
                return b""
        return self.wrapped.render(request)


def build_handler(
    root: IResource,
    clock: IReactorTime,
    in_flight: InFlight,
    limits: InFlightLimits,
    request_timeout: float,
    authenticator: Optional[Any] = None,
    authorizer: Optional[Any] = None,
    cors_allowed_origins: Sequence[str] = (),
    metrics: Any = None,
    secure: bool = True,
    audit: Optional[tuple[Any, Any]] = None,
    faults: Optional[Any] = None,
) -> IResource:
    """
    Wrap C{root} in the secure chain (C{secure=True}, with C{authenticator} and C{authorizer}) or
    the insecure one. C{audit} is C{(policy, backend)} when auditing is on; C{faults} (a
    L{kapid.server.faults.FaultRegistry}, with C{--enable-fault-injection}) puts the fault filter
    innermost, after authorization.
    """
    handler: Any = root
    if faults is not None:
        from kapid.server.faults import FaultFilter

        handler = FaultFilter(handler, faults, clock)
    if secure:
        handler = AuthorizationFilter(handler, authorizer)
        handler = MaxInFlightFilter(handler, limits)
        handler = ImpersonationFilter(handler, authorizer)
    if audit is not None:
        handler = AuditFilter(handler, *audit)
    if secure:
        handler = AuthenticationFilter(handler, authenticator)
    else:
        handler = InsecureSuperuserFilter(handler)
    if cors_allowed_origins:
        handler = CORSFilter(handler, cors_allowed_origins)
    handler = TimeoutFilter(handler, clock, request_timeout)
    if not secure:
        handler = MaxInFlightFilter(handler, limits)
    handler = WaitGroupFilter(handler, in_flight)
    handler = RequestInfoFilter(handler)
    handler = PanicRecovery(handler, clock, metrics.observe if metrics is not None else None)
    return handler
