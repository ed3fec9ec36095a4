"""
Every filter of both handler chains, tested on both listeners (issue 18, item 8).

The insecure chain is kube v1.13's C{BuildInsecureHandlerChain}: panic recovery -> request info
-> in-flight tracking -> max-in-flight -> timeout -> CORS -> authentication (C{system:unsecured})
-> audit. Its max-in-flight runs before any user is known, so its limits hold for every request,
whereas the secure chain's exempts C{system:masters}.
"""

from __future__ import annotations

from typing import Any

import orjson
from twisted.trial.unittest import SynchronousTestCase

from kapid.testing.server import InMemoryServer
from tests.server.test_audit import POLICY
from tests.server.test_chain import FakeResourceLink, Panicking, fetch, start

HANG = "/api/v1/namespaces/x/hang"


class _BothListeners:
    """
    The filter tests, run by a subclass for one listener (C{secure}).
    """

    secure: bool

    def server(self, **kw: Any) -> InMemoryServer:
        self.links: list[FakeResourceLink] = []

        def factory(delegate: Any) -> FakeResourceLink:
            link = FakeResourceLink(delegate)
            self.links.append(link)
            return link

        kw.setdefault("resource_link_factory", factory)
        return InMemoryServer(secure=self.secure, **kw)

    def finish_hanging(self, server: InMemoryServer) -> None:
        while self.links[0].hanging:
            self.links[0].hanging.pop().callback(b"ok")
        server.stub.flush()

    def test_panic_recovery(self) -> None:
        server = self.server(resource_link_factory=lambda d: Panicking())
        code, _, body = fetch(server, "/panic")
        self.assertEqual((code, orjson.loads(body)["reason"]), (500, "InternalError"))
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(fetch(server, "/fine")[0], 200)

    def test_request_info_marks_watches_long_running(self) -> None:
        """
        The request info says a watch is long-running: neither timed out nor counted in flight.
        """
        server = self.server(request_timeout="10s", max_requests_inflight="1")
        watch = start(server, "/api/v1/pods?watch=true")
        self.assertEqual(fetch(server, "/version")[0], 200)
        server.clock.advance(3600)
        server.stub.flush()
        self.assertEqual(watch, [])
        self.finish_hanging(server)
        self.assertEqual(watch[0].code, 200)

    def test_wait_group(self) -> None:
        server = self.server()
        start(server, HANG)
        drained: list[Any] = []
        server.in_flight.drained().addCallback(drained.append)
        self.assertEqual(drained, [])
        self.finish_hanging(server)
        self.assertEqual(len(drained), 1)

    def test_max_requests_inflight(self) -> None:
        server = self.server(max_requests_inflight="1")
        start(server, HANG)
        code, headers, body = fetch(server, "/version")
        self.assertEqual((code, headers["retry-after"]), (429, "1"))
        self.assertEqual(body, b"Too many requests, please try again later.\n")
        self.finish_hanging(server)
        self.assertEqual(fetch(server, "/version")[0], 200)

    def test_max_mutating_requests_inflight(self) -> None:
        """
        64 concurrent creates with C{--max-mutating-requests-inflight=1}: one runs, 63 are 429.
        """
        server = self.server(max_mutating_requests_inflight="1")
        answers = [start(server, HANG, method="POST") for _ in range(64)]
        codes = [a[0].code for a in answers if a]
        self.assertEqual((len(codes), set(codes)), (63, {429}))
        self.assertEqual(fetch(server, "/version")[0], 200)
        self.finish_hanging(server)
        self.assertEqual(start(server, HANG, method="POST"), [])  # the slot was given back
        self.finish_hanging(server)

    def test_timeout(self) -> None:
        server = self.server(request_timeout="30s")
        out = start(server, HANG)
        server.clock.advance(30)
        server.stub.flush()
        self.assertEqual(out[0].code, 504)
        self.finish_hanging(server)

    def test_cors(self) -> None:
        server = self.server(cors_allowed_origins="^https://ok\\.example$")
        code, headers, _ = fetch(server, "/version", headers={"Origin": ["https://ok.example"]})
        self.assertEqual((code, headers["access-control-allow-origin"]), (200, "https://ok.example"))
        code, _, _ = fetch(server, "/version", method="OPTIONS", headers={"Origin": ["https://ok.example"]})
        self.assertEqual(code, 204)
        self.assertNotIn(
            "access-control-allow-origin", fetch(server, "/version", headers={"Origin": ["https://evil.example"]})[1]
        )

    def test_audit(self) -> None:
        """
        Requests are audited on both listeners, with the user the chain authenticated.
        """
        server = self.server(audit_policy=POLICY)
        fetch(server, "/api/v1/namespaces/x/configmaps/nope")
        [event] = server.audit_events
        self.assertEqual(event["user"], self.expected_user)
        self.assertEqual(event["requestURI"], "/api/v1/namespaces/x/configmaps/nope")


class SecureListenerTests(_BothListeners, SynchronousTestCase):
    """
    The secure chain.
    """

    secure = True
    expected_user = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}

    def test_authentication(self) -> None:
        body = fetch(self.server(), "/api/v1/whoami")[2]
        self.assertEqual(orjson.loads(body)["name"], "system:anonymous")

    def test_masters_exempt_from_max_in_flight(self) -> None:
        """
        On the secure port the limits come after authentication: C{system:masters} is exempt.
        """
        from kapid.auth.interfaces import UserInfo

        class Masters:
            def authenticate(self, request: Any) -> Any:
                return UserInfo("admin", groups=("system:masters", "system:authenticated"))

        server = self.server(max_mutating_requests_inflight="1", authenticators=[Masters()])
        answers = [start(server, HANG, method="POST") for _ in range(3)]
        self.assertEqual(answers, [[], [], []])
        self.finish_hanging(server)

    def test_refused_requests_are_audited(self) -> None:
        """
        The secure max-in-flight runs inside audit: a 429 leaves an event.
        """
        server = self.server(audit_policy=POLICY, max_requests_inflight="1")
        start(server, HANG)
        self.assertEqual(fetch(server, "/api/v1/namespaces/x/configmaps/a")[0], 429)
        self.assertEqual([e["responseStatus"]["code"] for e in server.audit_events], [429])
        self.finish_hanging(server)


class InsecureListenerTests(_BothListeners, SynchronousTestCase):
    """
    The insecure chain, in v1.13's order.
    """

    secure = False
    expected_user = {"username": "system:unsecured", "groups": ["system:masters", "system:authenticated"]}

    def test_authentication(self) -> None:
        body = orjson.loads(fetch(self.server(), "/api/v1/whoami")[2])
        self.assertEqual(body["name"], "system:unsecured")
        self.assertIn("system:masters", body["groups"])

    def test_refused_requests_are_not_audited(self) -> None:
        """
        The insecure max-in-flight runs before audit (and authentication): a 429 leaves no event.
        """
        server = self.server(audit_policy=POLICY, max_requests_inflight="1")
        start(server, HANG)
        self.assertEqual(fetch(server, "/api/v1/namespaces/x/configmaps/a")[0], 429)
        self.assertEqual(server.audit_events, [])
        self.finish_hanging(server)
