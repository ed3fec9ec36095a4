"""
Tests of the request log line (kube's httplog) written by the panic-recovery filter.
"""

from __future__ import annotations

from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kapid.testing.server import InMemoryServer
from tests.server.test_chain import fetch


class RequestLogTests(SynchronousTestCase):
    """
    One event per finished request, with the fields and kube's text.
    """

    def events(self) -> list[dict]:
        """
        Collect the request log events published from now on.
        """
        events: list[dict] = []

        def observe(e: dict) -> None:
            if e.get("log_namespace") == "kapid.httplog":
                events.append(e)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        return events

    def test_line_text(self) -> None:
        """
        The event formats as kube's httplog line, from the same fields observers see.
        """
        events = self.events()
        fetch(InMemoryServer(), "/version?x=1", headers={b"User-Agent": [b"kubectl/v1.33"]})
        self.assertEqual(len(events), 1)
        e = events[0]
        text = formatEvent(e)
        self.assertEqual(
            text,
            f'HTTP verb="GET" URI="/version?x=1" latency="{e["latency"]}" userAgent="kubectl/v1.33" '
            f'user="system:anonymous" audit-ID="{e["audit_id"]}" srcIP="{e["src"]}" resp=200',
        )
        self.assertEqual((e["verb"], e["uri"], e["code"], e["agent"]), ("GET", "/version?x=1", 200, "kubectl/v1.33"))
        self.assertTrue(e["latency"].endswith("s"))
        self.assertEqual(e["kapid_request_verb"], "get")

    def test_not_found_logged(self) -> None:
        """
        A 404 is logged with its code.
        """
        events = self.events()
        fetch(InMemoryServer(), "/no/such")
        self.assertEqual([e["code"] for e in events], [404])
        self.assertIn(" resp=404", formatEvent(events[0]))
