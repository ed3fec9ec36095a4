"""
Tests for L{kapid.server.service.QuietSite.close_connections}: shutdown closes idle keep-alive
connections (the site's protocols are Twisted's generic HTTP channel wrappers).
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from kapid.server.service import QuietSite


class _Hello(Resource):
    isLeaf = True

    def render_GET(self, request):  # type: ignore[no-untyped-def]
        return b"hello"


class _AbortableTransport(StringTransport):
    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


class CloseConnectionsTests(SynchronousTestCase):
    """
    L{QuietSite.close_connections} on a connection kept alive after its response.
    """

    def idle_connection(self) -> tuple[QuietSite, object, _AbortableTransport]:
        site = QuietSite(_Hello())
        transport = _AbortableTransport()
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 8080))
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /x HTTP/1.1\r\nHost: kapid\r\n\r\n")
        self.assertIn(b"hello", transport.value())
        self.assertFalse(transport.disconnecting)
        return site, channel, transport

    def test_idle_keep_alive_closed(self) -> None:
        """
        An idle keep-alive connection is closed at once; the Deferred fires when it is lost.
        """
        site, channel, transport = self.idle_connection()
        d = site.close_connections(Clock(), 5.0)
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(d)
        channel.connectionLost(None)
        self.successResultOf(d)

    def test_aborted_after_timeout(self) -> None:
        """
        A connection still open after the timeout is aborted.
        """
        site, channel, transport = self.idle_connection()
        clock = Clock()
        d = site.close_connections(clock, 5.0)
        clock.advance(4.9)
        self.assertFalse(transport.aborted)
        clock.advance(0.1)
        self.assertTrue(transport.aborted)
        channel.connectionLost(None)
        self.successResultOf(d)


@implementer(ISSLTransport)
class _TLSTransport(_AbortableTransport):
    """
    A TLS transport over C{lower} (as L{twisted.protocols.tls.TLSMemoryBIOProtocol} is).
    """

    negotiatedProtocol = None

    def __init__(self, lower: StringTransport) -> None:
        super().__init__()
        self.transport = lower

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


class CloseIdleTLSTests(SynchronousTestCase):
    """
    On TLS, an idle connection's TCP connection is closed after the close_notify; a busy one is not.
    """

    def connection(self, request: bytes) -> tuple[QuietSite, StringTransport]:
        site = QuietSite(_Slow() if request.startswith(b"GET /slow") else _Hello())
        lower = StringTransport()
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 6443))
        channel.makeConnection(_TLSTransport(lower))
        channel.dataReceived(request)
        # the channel's idle timeout is a call on the global reactor: end the connection after the test
        self.addCleanup(channel.connectionLost, None)
        return site, lower

    def test_idle_closed_without_waiting(self) -> None:
        """
        An idle keep-alive TLS connection: the TCP connection under it is closed too.
        """
        site, lower = self.connection(b"GET /x HTTP/1.1\r\nHost: kapid\r\n\r\n")
        site.close_connections(Clock(), 5.0)
        self.assertTrue(lower.disconnecting)

    def test_busy_left_to_tls(self) -> None:
        """
        A TLS connection with a request still in progress is left to the TLS close (and the abort).
        """
        site, lower = self.connection(b"GET /slow HTTP/1.1\r\nHost: kapid\r\n\r\n")
        site.close_connections(Clock(), 5.0)
        self.assertFalse(lower.disconnecting)


class _Slow(Resource):
    isLeaf = True

    def render_GET(self, request):  # type: ignore[no-untyped-def]
        return NOT_DONE_YET
