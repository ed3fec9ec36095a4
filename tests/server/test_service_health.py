"""
The storage health checks are bounded: C{/readyz/etcd} and C{/readyz} answer 500 once
C{--etcd-healthcheck-timeout} passes on the server's clock when the store never answers, and
L{storage_readiness_check} (kube's C{etcd-readiness}) is bounded the same way.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kapid.server.healthz import READYZ, storage_readiness_check
from kapid.storage.memory import MemoryKV
from kapid.testing.server import InMemoryServer

BASE = "https://kapid.test"


class HangingKV(MemoryKV):
    """
    A memory store whose health check never answers (a hung etcd).
    """

    def check_health(self) -> Any:
        return Deferred()


class BoundedStorageCheckTests(SynchronousTestCase):
    """
    Readiness never hangs on a hung store.
    """

    def _get(self, server: InMemoryServer, path: str) -> list[Any]:
        out: list[Any] = []
        server.stub.get(BASE + path).addCallback(out.append)
        server.stub.flush()
        return out

    def test_readyz_etcd_times_out(self) -> None:
        """
        /readyz/etcd answers 500 after the timeout, not before; /readyz answers 500 within a
        bound too.
        """
        server = InMemoryServer(kv=HangingKV(None), etcd_healthcheck_timeout="2s")  # type: ignore[arg-type]
        single, whole = self._get(server, "/readyz/etcd"), self._get(server, "/readyz")
        server.clock.advance(1.9)
        server.stub.flush()
        self.assertEqual((single, whole), ([], []))
        server.clock.advance(0.1)
        server.stub.flush()
        self.assertEqual(single[0].code, 500)
        # /readyz runs its checks one after the other: each storage check is bounded
        for _ in range(20):
            if whole:
                break
            server.clock.advance(0.1)
            server.stub.flush()
        texts: list[bytes] = []
        single[0].content().addCallback(texts.append)
        server.stub.flush()
        self.assertEqual(texts, [b"internal server error: the storage did not answer within 2 s\n"])
        self.assertEqual(whole[0].code, 500)
        bodies: list[bytes] = []
        whole[0].content().addCallback(bodies.append)
        server.stub.flush()
        self.assertIn(b"[-]etcd failed: reason withheld\n", bodies[0])
        self.assertEqual(server.clock.getDelayedCalls(), [])

    def test_readiness_check_bounded(self) -> None:
        """
        kube's etcd-readiness check is readyz-only and fails once its timeout passes on the clock.
        """
        clock = Clock()
        check = storage_readiness_check(HangingKV(clock), clock, 2.0)
        self.assertEqual((check.name, check.kinds), ("etcd-readiness", (READYZ,)))
        d = check.check()
        self.assertNoResult(d)
        clock.advance(2.0)
        self.failureResultOf(d)
        healthy = storage_readiness_check(MemoryKV(clock), clock, 2.0).check()
        self.assertIsNone(self.successResultOf(healthy))
