"""
Tests for L{kapid.testing.process}: a real C{twistd kapid} as a test fixture, in its Twisted
(Deferred) form, its blocking context-manager form and as a service; and its reading of kapid's
error messages.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess

import treq
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from kapid.testing.etcd import shared_etcd
from kapid.testing.process import (
    KapidExitError,
    KapidProcess,
    KapidProcessService,
    KapidStartError,
    RunningKapid,
    error_reason,
)

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"

USAGE_LOG = """Usage: twistd [options]
Run kapid, a Kubernetes API server, on the embedded store or etcd.

Generic flags:
  --data-dir=
        The directory kapid keeps its state in.

twistd --nodaemon: 2 problem(s) with the flags:
  --secure-port: invalid integer 'abc'
  --authorization-mode: authorization mode 'Foo' is not a valid mode
"""

FAILED_LOG = """2026-12-04T12:28:17+0000 [twisted.scripts._twistd_unix.UnixAppLogger#info] twistd 26.10.0 starting up.
2026-12-04T12:28:17+0000 [kapid.server.service#critical] kapid failed to start
\tTraceback (most recent call last):
\t  File "/work/main/kapid/server/service.py", line 395, in _start
\t    port = await serverFromString(reactor, secure_endpoint).listen(factory)
\ttwisted.internet.error.CannotListenError: Couldn't listen on 127.0.0.1:6443: [Errno 98] Address already in use.
\t
2026-12-04T12:28:17+0000 [kapid.server.service#info] Storage closed; kapid stopped
"""


def _bound_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


class ErrorReasonTests(SynchronousTestCase):
    """
    L{error_reason} finds kapid's own message in its output.
    """

    def test_flag_errors(self) -> None:
        """
        A usage error: twistd's message with every problem, without the usage text.
        """
        self.assertEqual(
            error_reason(USAGE_LOG),
            "2 problem(s) with the flags:\n  --secure-port: invalid integer 'abc'\n"
            "  --authorization-mode: authorization mode 'Foo' is not a valid mode",
        )

    def test_failed_start(self) -> None:
        """
        A failed start: the exception that stopped it.
        """
        self.assertEqual(
            error_reason(FAILED_LOG),
            "CannotListenError: Couldn't listen on 127.0.0.1:6443: [Errno 98] Address already in use.",
        )

    def test_nothing(self) -> None:
        """
        A log without an error: None.
        """
        self.assertIsNone(error_reason("2026-12-04T12:28:17+0000 [kapid.server.service#info] kapid is ready\n"))

    def test_start_error_text(self) -> None:
        """
        L{KapidStartError} says the reason, then the log without twistd's usage text.
        """
        e = KapidStartError("kapid exited", USAGE_LOG, 1, "/x/kapid.log")
        text = str(e)
        self.assertTrue(text.startswith("kapid exited\n--- kapid log /x/kapid.log ---\n(twistd's usage text)\n"))
        self.assertIn("--secure-port: invalid integer 'abc'", text)
        self.assertNotIn("Generic flags:", text)


class CommandTests(SynchronousTestCase):
    """
    L{KapidProcess.command}.
    """

    def test_defaults(self) -> None:
        """
        twistd in the foreground without a pid file; the data dir in the base dir; port-0 loopback
        endpoints for both listeners.
        """
        base = os.path.abspath(self.mktemp())
        command = KapidProcess(base, ["--storage-backend=memory"]).command()
        self.assertEqual(command[3:], [
            "--nodaemon", "--pidfile=", "kapid", f"--data-dir={base}/kapid-data",
            "--secure-listen-endpoint=tcp:0:interface=127.0.0.1",
            "--insecure-listen-endpoint=tcp:0:interface=127.0.0.1",
            "--storage-backend=memory",
        ])

    def test_listener_chosen_by_flags(self) -> None:
        """
        A listener the flags choose gets no port-0 endpoint.
        """
        command = KapidProcess(self.mktemp(), ["--insecure-port=0", "--secure-port=7443"]).command()
        self.assertFalse([a for a in command if "listen-endpoint" in a])
        command = KapidProcess(self.mktemp(), ["--secure-listen-endpoint=tcp:7443"]).command()
        self.assertEqual([a for a in command if "listen-endpoint" in a],
                         ["--insecure-listen-endpoint=tcp:0:interface=127.0.0.1", "--secure-listen-endpoint=tcp:7443"])

    def test_etcd_gets_a_fresh_prefix(self) -> None:
        """
        C{etcd_servers} adds C{--etcd-servers} and a fresh C{--etcd-prefix} unless one is given.
        """
        first = KapidProcess(self.mktemp(), etcd_servers="http://127.0.0.1:2379").args
        second = KapidProcess(self.mktemp(), etcd_servers="http://127.0.0.1:2379").args
        self.assertEqual(first[0], "--etcd-servers=http://127.0.0.1:2379")
        self.assertTrue(first[1].startswith("--etcd-prefix=/kapid-test-"))
        self.assertNotEqual(first[1], second[1])
        given = KapidProcess(self.mktemp(), ["--etcd-prefix=/mine"], etcd_servers="http://127.0.0.1:2379").args
        self.assertEqual(given, ["--etcd-servers=http://127.0.0.1:2379", "--etcd-prefix=/mine"])


class DeferredTests(TestCase):
    """
    The Twisted form: C{start}, C{stop}, C{kill} are Deferreds; nothing blocks the reactor.
    """

    timeout = 120

    def process(self, *args: str, **kwargs: object) -> KapidProcess:
        process = KapidProcess(self.mktemp(), args, **kwargs)  # type: ignore[arg-type]
        self.addCleanup(process.kill)
        return process

    async def test_start_stop(self) -> None:
        """
        C{start} fires when C{/readyz} is 200 with the URLs and kubeconfig read from the banner;
        C{stop} sends SIGTERM and fires with exit status 0.
        """
        kapid = self.process("--storage-backend=memory")
        self.assertIs(await kapid.start(), kapid)
        self.assertEqual(kapid.url, kapid.secure_url)
        self.assertEqual(kapid.kubeconfig, os.path.join(kapid.data_dir, "admin.kubeconfig"))
        response = await treq.get(kapid.insecure_url + "/readyz", reactor=reactor, timeout=10, persistent=False)
        self.assertEqual((response.code, await treq.content(response)), (200, b"ok"))
        self.assertEqual(await kapid.stop(), 0)
        self.assertIn("Received SIGTERM", kapid.log)
        self.assertFalse(kapid.running)

    async def test_stop_checks_exit_status(self) -> None:
        """
        A non-zero exit status at stop fails C{stop} with L{KapidExitError} (here: SIGTERM during
        the shutdown delay, so C{stop}'s SIGTERM is the second one, which exits 1).
        """
        kapid = self.process("--storage-backend=memory", "--shutdown-delay-duration=60s")
        await kapid.start()
        kapid.send_signal(signal.SIGTERM)
        while "Shutdown initiated" not in kapid.log:
            await treq.get(kapid.insecure_url + "/livez", reactor=reactor, timeout=10, persistent=False)
        e = await self.assertFailure(kapid.stop(), KapidExitError)
        self.assertEqual(e.returncode, 1)
        self.assertIn("kapid exited with status 1", str(e))

    async def test_bad_flag(self) -> None:
        """
        A flag kapid refuses: C{start} fails with kapid's message and log.
        """
        kapid = self.process("--bogus-flag")
        e = await self.assertFailure(kapid.start(), KapidStartError)
        self.assertEqual((e.returncode, e.reason),
                         (1, "kapid exited with status 1 before it was ready: option --bogus-flag not recognized"))
        self.assertIn("Usage: twistd", e.log)

    async def test_port_in_use(self) -> None:
        """
        A port in use: C{start} fails with kapid's CannotListenError.
        """
        sock = _bound_port()
        self.addCleanup(sock.close)
        port = sock.getsockname()[1]
        kapid = self.process("--storage-backend=memory", f"--secure-port={port}")
        e = await self.assertFailure(kapid.start(), KapidStartError)
        self.assertEqual(e.reason, f"kapid exited with status 1 before it was ready: CannotListenError: "
                                   f"Couldn't listen on 127.0.0.1:{port}: [Errno 98] Address already in use.")

    async def test_unwritable_data_dir(self) -> None:
        """
        A data dir that cannot be created: C{start} fails with kapid's error.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        with open(os.path.join(base, "file"), "w"):
            pass
        kapid = self.process(data_dir=os.path.join(base, "file", "data"))
        e = await self.assertFailure(kapid.start(), KapidStartError)
        self.assertEqual(e.reason, "kapid exited with status 1 before it was ready: NotADirectoryError: "
                                   f"[Errno 20] Not a directory: '{base}/file/data'")

    async def test_not_ready_in_time(self) -> None:
        """
        Not ready within the timeout: C{start} fails and the process is killed.
        """
        kapid = self.process("--storage-backend=memory")
        e = await self.assertFailure(kapid.start(timeout=0), KapidStartError)
        self.assertTrue(e.reason.startswith("kapid was not ready within 0s"), e.reason)
        self.assertEqual(await kapid.wait(), -signal.SIGKILL)

    async def test_service(self) -> None:
        """
        L{KapidProcessService}: C{startService} starts (C{ready} fires with the process),
        C{stopService} stops with SIGTERM.
        """
        service = KapidProcessService(self.process("--storage-backend=memory"))
        service.startService()
        kapid = await service.ready
        self.assertTrue(kapid.running)
        await service.stopService()
        self.assertEqual(kapid.returncode, 0)

    async def test_systemd_socket_with_high_descriptor(self) -> None:
        """
        A socket handed over as systemd does (fd 3, LISTEN_FDS) serves, whatever its descriptor
        number in this process (here above 9).
        """
        padding = [socket.socket() for _ in range(12)]
        for s in padding:
            self.addCleanup(s.close)
        sock = _bound_port()
        self.addCleanup(sock.close)
        self.assertGreater(sock.fileno(), 9)
        port = sock.getsockname()[1]
        kapid = self.process("--storage-backend=memory", "--secure-port=0",
                             "--insecure-listen-endpoint=systemd:domain=INET:index=0",
                             listen=False, systemd_sockets=[sock])
        await kapid.start()
        self.assertEqual(kapid.insecure_url, f"http://127.0.0.1:{port}")
        self.assertEqual(await kapid.stop(), 0)

    async def test_etcd(self) -> None:
        """
        With C{etcd_servers} kapid stores in etcd under its own prefix.
        """
        etcd = await shared_etcd(__name__)
        kapid = self.process(etcd_servers=etcd.client_url)
        await kapid.start()
        self.assertIn(f"Storage: etcd3 at {etcd.client_url}", kapid.log)
        prefix = [a for a in kapid.command() if a.startswith("--etcd-prefix=")][0].split("=", 1)[1]
        response = await treq.post(
            etcd.client_url + "/v3/kv/range", json={"key": _b64(prefix + "/namespaces/default")},
            reactor=reactor, timeout=10, persistent=False,
        )
        self.assertEqual(len((await response.json()).get("kvs", [])), 1)
        self.assertEqual(await kapid.stop(), 0)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


class BlockingTests(SynchronousTestCase):
    """
    The blocking form: a context manager (or C{start_blocking}/C{stop_blocking}).
    """

    def test_context_manager(self) -> None:
        """
        Inside the block kapid is ready for the kubernetes client, kubernetes_asyncio and kubectl
        (KUBECONFIG); after it kapid has exited 0 and the temporary directory is gone.
        """
        import kubernetes
        import kubernetes_asyncio

        with KapidProcess() as kapid:
            api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(kapid.client_configuration()))
            self.assertIn("default", [n.metadata.name for n in api.list_namespace().items])

            async def names() -> list[str]:
                async with kubernetes_asyncio.client.ApiClient(kapid.asyncio_configuration()) as client:
                    found = await kubernetes_asyncio.client.CoreV1Api(client).list_namespace()
                    return [n.metadata.name for n in found.items]

            self.assertIn("kube-system", asyncio.run(names()))
            done = subprocess.run([KUBECTL, "get", "--raw", "/readyz"], env=kapid.client_env,
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual((done.returncode, done.stdout), (0, "ok"), done.stderr)
            self.assertIn('user="system:admin"', kapid.log)
            process, base = kapid.process, kapid.base_dir
        self.assertEqual(process.returncode, 0)
        self.assertFalse(os.path.exists(base))

    def test_failed_start_leaves_nothing(self) -> None:
        """
        A failed start raises L{KapidStartError}; no process and no temporary directory are left.
        """
        kapid = KapidProcess(args=["--authorization-mode=Maybe"])
        with self.assertRaises(KapidStartError) as caught:
            with kapid:
                pass
        self.assertIn("'Maybe' is not a valid mode", caught.exception.reason)
        self.assertIsNotNone(kapid.returncode)
        self.assertFalse(os.path.exists(kapid.base_dir))

    def test_exit_status_checked(self) -> None:
        """
        Leaving the block raises L{KapidExitError} when kapid exits non-zero.
        """
        kapid = KapidProcess(self.mktemp(), ["--storage-backend=memory", "--shutdown-delay-duration=60s"])
        with self.assertRaises(KapidExitError) as caught:
            with kapid:
                kapid.send_signal(signal.SIGTERM)
                while "Shutdown initiated" not in kapid.log:
                    kapid.request("GET", "/livez")
        self.assertEqual(caught.exception.returncode, 1)

    def test_check_running(self) -> None:
        """
        C{check_running} raises L{KapidExitError} (status and kapid's log) once kapid has exited.
        """
        kapid = KapidProcess(self.mktemp(), ["--storage-backend=memory"]).start_blocking()
        try:
            kapid.check_running()
            kapid.send_signal(signal.SIGKILL)
            kapid.process.wait(10)
            with self.assertRaises(KapidExitError) as caught:
                kapid.check_running()
            self.assertIn("kapid exited with status -9 while in use", str(caught.exception))
        finally:
            kapid.stop_blocking(check=False)

    def test_running_kapid(self) -> None:
        """
        L{RunningKapid} reaches a kapid started elsewhere by its insecure URL, or by its secure URL
        with its kubeconfig; one that nothing answers for fails C{check_running}.
        """
        with KapidProcess(self.mktemp(), ["--storage-backend=memory"]) as kapid:
            plain = RunningKapid(kapid.insecure_url, files_dir=self.mktemp())
            plain.check_running()
            self.assertEqual(plain.url, kapid.insecure_url)
            self.assertEqual(plain.request("GET", "/api/v1/namespaces/default")[0], 200)
            code, patched = plain.request("PATCH", "/api/v1/namespaces/default", {"metadata": {"labels": {"a": "b"}}},
                                          content_type="application/merge-patch+json")
            self.assertEqual((code, patched["metadata"]["labels"]["a"]), (200, "b"), patched)
            secure = RunningKapid(kapid.secure_url, kapid.kubeconfig, files_dir=self.mktemp())
            secure.check_running()
            code, body = secure.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
            self.assertEqual((code, body["status"]["userInfo"]["username"]), (201, "system:admin"), body)
            url = kapid.insecure_url
        with self.assertRaises(KapidExitError) as caught:
            RunningKapid(url, files_dir=self.mktemp()).check_running()
        self.assertIn(f"kapid at {url} is not reachable", str(caught.exception))
