"""
Tests for L{kapid.server.service.KapidRequest}: kapid's listeners send no C{Server} header.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from kapid.server.service import KapidRequest, QuietSite


class _Hello(Resource):
    isLeaf = True

    def render_GET(self, request):  # type: ignore[no-untyped-def]
        request.setHeader(b"Content-Type", b"text/plain")
        return b"hello"


class _Proxied(Resource):
    isLeaf = True

    def render_GET(self, request):  # type: ignore[no-untyped-def]
        request.setHeader(b"Server", b"backend/1.0")
        return b"from a backend"


class ServerHeaderTests(SynchronousTestCase):
    """
    The sites of both listeners build requests that drop Twisted's C{Server} header.
    """

    def response(self, resource: Resource) -> bytes:
        site = QuietSite(resource)
        transport = StringTransport()
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 6443))
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /x HTTP/1.1\r\nHost: kapid\r\n\r\n")
        channel.connectionLost(None)
        return transport.value()

    def test_no_server_header(self) -> None:
        """
        A response has a Date header but no Server header.
        """
        self.assertIs(QuietSite.requestFactory, KapidRequest)
        head, _, body = self.response(_Hello()).partition(b"\r\n\r\n")
        names = [line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:]]
        self.assertIn(b"date", names)
        self.assertNotIn(b"server", names)
        self.assertEqual(body, b"hello")

    def test_other_server_header_kept(self) -> None:
        """
        A Server header other than Twisted's default (e.g. copied from a proxied answer) is sent.
        """
        head = self.response(_Proxied()).partition(b"\r\n\r\n")[0]
        self.assertIn(b"\r\nServer: backend/1.0", head)
