"""
L{EtcdKV} against real etcd processes under faults: failover between endpoints, all endpoints down,
request timeouts, TLS with client certificates, and watches that survive an etcd restart (or end
with CompactedError when their revision is gone by then).
"""

from __future__ import annotations


from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.etcd3 import EtcdKV, EtcdTLS, make_http_client
from kapid.storage.interfaces import (
    CompactedError,
    KVEvent,
    StorageError,
    UnavailableError,
)
from kapid.testing.etcd import EtcdServer, EtcdServerTLS, free_port, make_test_pki, shared_etcd
from kapid.testing.kv_contract import wait_until

#: One etcd per worker process for all tests/storage etcd modules (cases use their own prefixes).
SHARED = "tests.storage.etcd"


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


class _Silent(Protocol):
    """
    Accepts a connection, records what arrives and never answers.
    """

    received = b""

    def dataReceived(self, data: bytes) -> None:
        self.factory.received.append(data)  # type: ignore[attr-defined]


def _hanging_url(testcase: TestCase) -> str:
    """
    A loopback URL whose connection attempts hang: a listening socket with a full accept queue
    (Linux drops further SYNs), closed at cleanup.
    """
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.socket()
    queued.connect(("127.0.0.1", port))
    testcase.addCleanup(queued.close)
    testcase.addCleanup(listener.close)
    return f"http://127.0.0.1:{port}"


class EndpointFaultTests(TestCase):
    """
    Failover, unreachable endpoints and timeouts.
    """

    async def test_failover_to_second_endpoint(self) -> None:
        """
        With the first endpoint dead, requests and watches go to the second, which stays active.
        """
        etcd = await shared_etcd(SHARED)
        kv = EtcdKV([_dead_url(), etcd.client_url], reactor)
        self.addCleanup(kv.close)
        r = await kv.optimistic_put(b"/failover/a", b"1", 0)
        self.assertTrue(r.succeeded)
        self.assertEqual(kv.active_endpoint, etcd.client_url)
        seen: list[list[KVEvent]] = []
        w = kv.watch(b"/failover/", r.revision, seen.append)
        await w.started
        await wait_until(lambda: len(seen) == 1)
        self.assertEqual(seen[0][0].kv.value, b"1")
        w.cancel()

    async def test_all_endpoints_down(self) -> None:
        """
        With every endpoint refusing connections, calls and the health check fail with
        UnavailableError.
        """
        kv = EtcdKV([_dead_url(), _dead_url()], reactor, request_timeout=2.0)
        self.addCleanup(kv.close)
        with self.assertRaises(UnavailableError):
            await kv.get(b"/x")
        with self.assertRaises(UnavailableError):
            await kv.optimistic_put(b"/x", b"v", 0)
        with self.assertRaises(UnavailableError):
            await kv.check_health()

    async def test_request_timeout(self) -> None:
        """
        A server that accepts the request and never answers makes the call fail with
        UnavailableError once the timeout passes on the client's clock.
        """
        factory = Factory.forProtocol(_Silent)
        factory.received = []  # type: ignore[attr-defined]
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined,arg-type]
        self.addCleanup(port.stopListening)
        clock = Clock()
        kv = EtcdKV(
            [f"http://127.0.0.1:{port.getHost().port}"],  # type: ignore[attr-defined]
            clock,
            request_timeout=3.0,
            http_client=make_http_client(reactor, None),
        )
        self.addCleanup(kv.close)
        d = kv.get(b"/slow")
        await wait_until(lambda: bool(factory.received))  # type: ignore[attr-defined]
        self.assertNoResult(d)
        clock.advance(3.0)
        with self.assertRaises(UnavailableError):
            await d


    async def test_timeout_while_connecting(self) -> None:
        """
        A timeout that cancels the connection attempt (nothing listening, the timeout passing on
        the client's clock before the refusal arrives) is UnavailableError for calls, watches and
        the health check, never the Agent's ConnectingCancelledError; so is a call the caller
        cancels.
        """
        clock = Clock()
        client = make_http_client(reactor, None)
        kv = EtcdKV([_dead_url(), _dead_url()], clock, request_timeout=0.5, http_client=client)
        self.addCleanup(client._kapid_pool.closeCachedConnections)
        self.addCleanup(kv.close)
        calls = [
            kv.get(b"/x"),
            kv.list(b"/x/", limit=2),
            kv.optimistic_put(b"/x", b"v", 0),
            kv.optimistic_delete(b"/x", 3),
            kv.compact(2),
            kv.check_health(),
        ]
        for d in calls:
            self.assertNoResult(d)
        clock.advance(0.5)
        for d in calls:
            self.assertIsInstance(self.failureResultOf(d).value, UnavailableError)
        w = kv.watch(b"/x/", 1, lambda events: None)
        clock.advance(0.5)
        # the watch's connect attempt timed out: it retries later, as after any connection failure
        self.assertNoResult(w.done)
        self.assertTrue(clock.getDelayedCalls())
        w.cancel()
        self.assertIsNone(self.successResultOf(w.done))
        # a caller giving up first (a health check's own timeout) ends the call the same way
        d = kv.get(b"/x")
        d.cancel()
        self.assertIsInstance(self.failureResultOf(d).value, UnavailableError)


    async def test_timeout_while_connecting_real(self) -> None:
        """
        An endpoint whose TCP connect hangs: with a short request timeout on the real reactor the
        connection attempt is cancelled and calls, the health check and a watch's first stream
        fail with UnavailableError (the watch then keeps retrying).
        """
        kv = EtcdKV([_hanging_url(self)], reactor, request_timeout=0.2)
        self.addCleanup(kv.close)
        with self.assertRaises(UnavailableError):
            await kv.get(b"/x")
        with self.assertRaises(UnavailableError):
            await kv.optimistic_put(b"/x", b"v", 0)
        with self.assertRaises(UnavailableError):
            await kv.check_health()
        with self.assertRaises(UnavailableError):
            await kv._open_stream(b"{}")


class TLSTests(TestCase):
    """
    TLS to an etcd that requires client certificates.
    """

    async def test_tls_with_client_certificate(self) -> None:
        """
        With the CA and a client certificate, reads, writes and watches work over HTTPS; without the
        client certificate, or trusting another CA, requests fail.
        """
        d = self.mktemp()
        import os

        os.makedirs(d)
        pki = make_test_pki(d)
        etcd = await EtcdServer.start(
            tls=EtcdServerTLS(pki.cafile, pki.server_cert, pki.server_key)
        )
        self.addCleanup(etcd.stop)
        self.assertTrue(etcd.client_url.startswith("https://"))
        kv = EtcdKV(
            [etcd.client_url],
            reactor,
            tls=EtcdTLS(cafile=pki.cafile, certfile=pki.client_cert, keyfile=pki.client_key),
        )
        self.addCleanup(kv.close)
        seen: list[list[KVEvent]] = []
        w = kv.watch(b"/tls/", 0, seen.append)
        await w.started
        r = await kv.optimistic_put(b"/tls/a", b"secret", 0)
        self.assertTrue(r.succeeded)
        self.assertEqual((await kv.get(b"/tls/a"))[0].value, b"secret")
        await wait_until(lambda: len(seen) == 1)
        w.cancel()

        no_cert = EtcdKV([etcd.client_url], reactor, tls=EtcdTLS(cafile=pki.cafile))
        self.addCleanup(no_cert.close)
        with self.assertRaises(StorageError):
            await no_cert.get(b"/tls/a")

        other = self.mktemp()
        os.makedirs(other)
        other_pki = make_test_pki(other)
        wrong_ca = EtcdKV(
            [etcd.client_url],
            reactor,
            tls=EtcdTLS(other_pki.cafile, pki.client_cert, pki.client_key),
        )
        self.addCleanup(wrong_ca.close)
        with self.assertRaises(UnavailableError):
            await wrong_ca.get(b"/tls/a")


class RestartTests(TestCase):
    """
    Killing etcd and restarting it on the same data dir.
    """

    async def test_watch_survives_restart(self) -> None:
        """
        A watch keeps going across a SIGKILL and restart of etcd: writes after the restart arrive,
        none is lost or repeated; calls fail with UnavailableError while etcd is down and work
        again afterwards.
        """
        etcd = await shared_etcd(SHARED)
        kv = EtcdKV([etcd.client_url], reactor, request_timeout=5.0)
        self.addCleanup(kv.close)
        seen: list[list[KVEvent]] = []
        w = kv.watch(b"/restart/", 0, seen.append)
        await w.started
        await kv.optimistic_put(b"/restart/a", b"1", 0)
        await kv.optimistic_put(b"/restart/b", b"2", 0)
        await wait_until(lambda: len(seen) == 2)

        await etcd.kill()
        with self.assertRaises(UnavailableError):
            await kv.optimistic_put(b"/restart/down", b"x", 0)
        with self.assertRaises(UnavailableError):
            await kv.check_health()
        await etcd.restart()

        await kv.optimistic_put(b"/restart/c", b"3", 0)
        await kv.optimistic_put(b"/restart/d", b"4", 0)
        self.assertIsNone(await kv.check_health())
        await wait_until(lambda: len(seen) >= 4, timeout=15)
        keys = [e.kv.key for batch in seen for e in batch]
        self.assertEqual(keys, [b"/restart/a", b"/restart/b", b"/restart/c", b"/restart/d"])
        revs = [e.kv.mod_revision for batch in seen for e in batch]
        self.assertEqual(revs, sorted(set(revs)))
        self.assertFalse(w.done.called)
        w.cancel()

    async def test_watch_compacted_while_down(self) -> None:
        """
        A watch whose next revision was compacted while etcd was away ends with CompactedError
        when it resumes.
        """
        etcd = await shared_etcd(SHARED)
        clock = Clock()
        watcher = EtcdKV(
            [etcd.client_url], clock, http_client=make_http_client(reactor, None)
        )
        self.addCleanup(watcher.close)
        writer = EtcdKV([etcd.client_url], reactor)
        self.addCleanup(writer.close)
        seen: list[list[KVEvent]] = []
        w = watcher.watch(b"/compacted/", 0, seen.append)
        await w.started
        await writer.optimistic_put(b"/compacted/a", b"1", 0)
        await wait_until(lambda: len(seen) == 1)

        await etcd.kill()
        # the broken stream schedules a resume on the watcher's clock
        await wait_until(lambda: bool(clock.getDelayedCalls()))
        await etcd.restart()
        await writer.optimistic_put(b"/compacted/b", b"2", 0)
        c = await writer.optimistic_put(b"/compacted/c", b"3", 0)
        await writer.compact(c.revision)
        clock.advance(10)
        with self.assertRaises(CompactedError) as ctx:
            await w.done
        self.assertEqual(ctx.exception.compact_revision, c.revision)
        self.assertEqual(len(seen), 1)
