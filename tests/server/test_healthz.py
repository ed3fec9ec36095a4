"""
Tests of /healthz, /livez and /readyz in kube-apiserver's text format.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kapid.storage.interfaces import IKV, UnavailableError
from kapid.storage.memory import MemoryKV
from kapid.testing.server import InMemoryServer
from tests.server.test_chain import fetch


class SickKV(MemoryKV):
    """
    A memory store whose health check fails.
    """

    def check_health(self) -> Any:
        return fail(UnavailableError("etcd is down"))


class HangingKV(MemoryKV):
    """
    A memory store whose health check never answers.
    """

    def check_health(self) -> Any:
        return Deferred()


class HealthTests(SynchronousTestCase):
    """
    The health endpoints' answers.
    """

    def test_ok(self) -> None:
        """
        Healthy: 200 with the body "ok" and kube's headers.
        """
        server = InMemoryServer()
        for path in ("/healthz", "/livez", "/readyz"):
            code, headers, body = fetch(server, path)
            self.assertEqual((code, body), (200, b"ok"), path)
            self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
            self.assertEqual(headers["x-content-type-options"], "nosniff")

    def test_verbose(self) -> None:
        """
        ?verbose lists every check and ends with "<kind> check passed".
        """
        code, _, body = fetch(InMemoryServer(), "/readyz?verbose")
        self.assertEqual(code, 200)
        self.assertEqual(
            body.decode(),
            "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]shutdown ok\nreadyz check passed\n",
        )
        body = fetch(InMemoryServer(), "/livez?verbose")[2]
        self.assertEqual(body.decode(), "[+]ping ok\n[+]log ok\n[+]etcd ok\nlivez check passed\n")

    def test_storage_failure(self) -> None:
        """
        A failing storage check: 500, the reason withheld, "<kind> check failed".
        """
        server = InMemoryServer(kv=SickKV(None))  # type: ignore[arg-type]
        code, _, body = fetch(server, "/healthz")
        self.assertEqual(code, 500)
        self.assertEqual(
            body.decode(), "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\nhealthz check failed\n"
        )

    def test_single_check(self) -> None:
        """
        Per-check paths answer "ok" or "internal server error: <reason>".
        """
        self.assertEqual(fetch(InMemoryServer(), "/readyz/etcd")[::2], (200, b"ok"))
        code, _, body = fetch(InMemoryServer(kv=SickKV(None)), "/livez/etcd")  # type: ignore[arg-type]
        self.assertEqual((code, body), (500, b"internal server error: etcd is down\n"))
        self.assertEqual(fetch(InMemoryServer(), "/readyz/nosuchcheck")[0], 404)

    def test_exclude(self) -> None:
        """
        ?exclude= skips a check; an unknown name is warned about.
        """
        server = InMemoryServer(kv=SickKV(None))  # type: ignore[arg-type]
        code, _, body = fetch(server, "/readyz?verbose&exclude=etcd&exclude=etcd-readiness&exclude=nope")
        self.assertEqual(code, 200)
        self.assertEqual(
            body.decode(),
            '[+]ping ok\n[+]log ok\n[+]etcd excluded: ok\n[+]etcd-readiness excluded: ok\n[+]shutdown ok\n'
            'warn: some health checks cannot be excluded: no matches for "nope"\nreadyz check passed\n',
        )

    def test_storage_timeout(self) -> None:
        """
        A storage check that does not answer fails after --etcd-healthcheck-timeout.
        """
        server = InMemoryServer(kv=HangingKV(None), etcd_healthcheck_timeout="2s")  # type: ignore[arg-type]
        out: list[Any] = []
        server.stub.get("https://kapid.test/livez").addCallback(out.append)
        server.stub.flush()
        self.assertEqual(out, [])
        server.clock.advance(2)
        server.stub.flush()
        self.assertEqual(out[0].code, 500)

    def test_shutdown_turns_readyz_red(self) -> None:
        """
        After shutdown begins, /readyz fails on "shutdown" while /livez stays green.
        """
        server = InMemoryServer()
        server.chain.shutting_down = True
        code, _, body = fetch(server, "/readyz")
        self.assertEqual(code, 500)
        self.assertIn(b"[-]shutdown failed: reason withheld\n", body)
        self.assertEqual(fetch(server, "/livez")[0], 200)

    def test_post_start_hook(self) -> None:
        """
        A post-start hook's check fails until the hook has finished.
        """
        server = InMemoryServer(post_start_hooks=[("start-things", lambda s: None)])
        code, _, body = fetch(server, "/readyz?verbose")
        self.assertEqual(code, 500)
        self.assertIn(b"[-]poststarthook/start-things failed: reason withheld\n", body)
        server.chain.post_start["start-things"].done = True
        self.assertEqual(fetch(server, "/healthz/poststarthook/start-things")[::2], (200, b"ok"))
        self.assertIn("/healthz/poststarthook/start-things", server.chain.paths())

    def test_memory_kv_is_ikv(self) -> None:
        """
        The stores used here provide IKV.
        """
        verifyObject(IKV, SickKV(None))  # type: ignore[arg-type]
