"""
An in-memory kapid server for tests: the real chain and handler chain over a memory store, on a
L{Clock}, driven with L{StubTreq}. Other layers' tests can put their resource link in with
C{resource_link_factory}.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from treq.testing import StubTreq
from twisted.internet.task import Clock

from kapid.auth.authenticators import AnonymousAuthenticator, UnionAuthenticator, X509Authenticator
from kapid.auth.authorizers import build_authorizer
from kapid.options.config import config_from_args
from kapid.server.chain import ServerChain, build_chain
from kapid.server.filters.maxinflight import InFlightLimits
from kapid.server.filters.waitgroup import InFlight
from kapid.server.handler import build_handler
from kapid.storage.memory import MemoryKV


class InMemoryServer:
    """
    A chain wrapped in the secure (or insecure) handler chain.

    @ivar stub: a L{StubTreq} for the server (call C{stub.flush()} after advancing C{clock}).
    @ivar chain: the L{ServerChain}.
    @ivar clock: the L{Clock} every filter uses.
    @ivar kv: the storage.
    @ivar audit_events: the audit events recorded under C{audit_policy} (an audit.k8s.io Policy dict).
    """

    def __init__(
        self,
        resource_link_factory: Any = None,
        secure: bool = True,
        kv: Any = None,
        authenticators: Optional[Sequence[Any]] = None,
        post_start_hooks: Sequence[tuple[str, Any]] = (),
        audit_policy: Optional[dict] = None,
        **flags: Any,
    ) -> None:
        flags.setdefault("storage_backend", "memory")
        # these servers have no RBAC objects: they authorize as kapid did before RBAC became the default
        flags.setdefault("authorization_mode", "AlwaysAllow")
        self.config = config_from_args(**flags)
        self.clock = Clock()
        self.kv = kv if kv is not None else MemoryKV(self.clock)
        self.chain: ServerChain = build_chain(
            self.config, self.kv, self.clock, resource_link_factory=resource_link_factory,
            extra_post_start_hooks=list(post_start_hooks),
        )
        g = self.config.generic
        self.in_flight = InFlight()
        self.limits = InFlightLimits(g.max_requests_inflight, g.max_mutating_requests_inflight,
                                     self.chain.metrics.set_inflight)
        if authenticators is None:
            authenticators = [X509Authenticator()]
            if self.config.authentication.anonymous_auth:
                authenticators.append(AnonymousAuthenticator())
        #: audit events written (when C{audit_policy} is given)
        self.audit_events: list[dict] = []
        audit = None
        if audit_policy is not None:
            from kapid.server.audit import Policy

            audit = (Policy.from_dict(audit_policy), _ListBackend(self.audit_events))
        self.resource = build_handler(
            self.chain.root,
            clock=self.clock,
            in_flight=self.in_flight,
            limits=self.limits,
            request_timeout=g.request_timeout,
            authenticator=UnionAuthenticator(authenticators),
            authorizer=build_authorizer(self.config.authorization.modes),
            cors_allowed_origins=g.cors_allowed_origins,
            metrics=self.chain.metrics,
            secure=secure,
            audit=audit,
        )
        self.stub = StubTreq(self.resource)


class _ListBackend:
    """
    An audit backend that keeps events in a list.
    """

    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def write(self, event: dict) -> None:
        self.events.append(event)
