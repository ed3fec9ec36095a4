"""
Tests of L{KapidService} in this process on the real reactor: start-up, the shutdown stages in
order, readiness during shutdown, and start-up failure.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import treq
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from kapid.options.config import config_from_args
from kapid.server.service import KapidService


def service_for(testcase: TestCase, **flags: Any) -> KapidService:
    """
    A service on free loopback ports with a temp data dir, stopped at cleanup.
    """
    flags.setdefault("secure_listen_endpoint", "tcp:0:interface=127.0.0.1")
    flags.setdefault("insecure_listen_endpoint", "tcp:0:interface=127.0.0.1")
    from twisted.internet import reactor

    config = config_from_args(storage_backend="memory", data_dir=testcase.mktemp(), **flags)
    service = KapidService(config, reactor=reactor, install_signal_handlers=False, exit_on_failure=False)
    testcase.addCleanup(lambda: service.stopService() if service.running else None)
    return service


class ServiceTests(TestCase):
    """
    KapidService's life.
    """

    timeout = 60

    async def test_start_and_staged_stop(self) -> None:
        """
        The service listens, is ready, writes the kubeconfig, then stops in DESIGN.md's stage order;
        /readyz is red from the first stage while requests are still served.
        """
        service = service_for(self, shutdown_delay_duration="1s")
        hooks: list[str] = []
        service.add_post_start_hook("test-hook", lambda s: hooks.append("ran"))
        service.startService()
        await service.started.when_reached()
        self.assertEqual(hooks, ["ran"])
        assert service.insecure_url and service.secure_url and service.kubeconfig_path
        self.assertTrue(os.path.exists(service.kubeconfig_path))
        response = await treq.get(service.insecure_url + "/readyz?verbose", persistent=False)
        body = (await treq.content(response)).decode()
        self.assertEqual(response.code, 200)
        self.assertIn("[+]poststarthook/test-hook ok", body)

        order: list[str] = []
        stages = [service.shutdown_initiated, service.delay_elapsed, service.listeners_stopped,
                  service.drained, service.storage_closed]
        for stage in stages:
            stage.when_reached().addCallback(lambda _, name=stage.name: order.append(name))
        stopped = service.stopService()
        await service.shutdown_initiated.when_reached()
        response = await treq.get(service.insecure_url + "/readyz", persistent=False)
        body = (await treq.content(response)).decode()
        self.assertEqual(response.code, 500)
        self.assertIn("[-]shutdown failed: reason withheld", body)
        await stopped
        self.assertEqual(order, [s.name for s in stages])

    async def test_start_failure(self) -> None:
        """
        A listener that cannot bind makes the start fail (recorded, not ready).
        """
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        port = busy.getsockname()[1]
        service = service_for(self, insecure_listen_endpoint=f"tcp:{port}:interface=127.0.0.1")
        service.startService()
        for _ in range(1000):
            if service.start_failure is not None:
                break
            await deferLater(service.reactor, 0.01, lambda: None)
        self.assertIsNotNone(service.start_failure)
        self.assertFalse(service.started.reached)
        self.flushLoggedErrors()
