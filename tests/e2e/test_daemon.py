"""
End-to-end tests of the C{twistd kapid} daemon: real processes, real kubectl, real signals.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess

import treq
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tests.e2e.helpers import REPO_ROOT, TWISTD, _sleep, child_env, run_kubectl, start_kapid


def twistd(*args: str, cwd: str) -> subprocess.CompletedProcess:
    """
    Run twistd to completion (for --help, --version and bad flags).
    """
    return subprocess.run(
        TWISTD + list(args), capture_output=True, text=True, timeout=60, cwd=cwd, env=child_env(home=cwd)
    )


async def wait_for(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """
    Poll C{predicate} until it is true (bounded).
    """
    waited, step = 0.0, 0.02
    while not predicate():
        if waited > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await _sleep(step)
        waited += step
        step = min(step * 1.5, 0.25)


class CommandLineTests(TestCase):
    """
    twistd's view of the plugin, without serving.
    """

    def setUp(self) -> None:
        self.cwd = self.mktemp()
        os.makedirs(self.cwd)

    def test_twistd_lists_kapid(self) -> None:
        """
        twistd --help lists the kapid plugin.
        """
        result = twistd("--help", cwd=self.cwd)
        self.assertEqual(result.returncode, 0)
        self.assertIn("kapid", result.stdout)
        self.assertIn("A Kubernetes API server on Twisted.", result.stdout)

    def test_kapid_help_sections_and_version(self) -> None:
        """
        twistd kapid --help prints the named sections; --version names kapid and the API level.
        """
        result = twistd("kapid", "--help", cwd=self.cwd)
        self.assertEqual(result.returncode, 0)
        for title in ("Generic flags:", "Etcd flags:", "Secure serving flags:", "Insecure serving flags:",
                      "Authentication flags:", "Authorization flags:", "Admission flags:", "Auditing flags:",
                      "API enablement flags:", "Misc flags:"):
            self.assertIn(title, result.stdout)
        version = twistd("kapid", "--version", cwd=self.cwd)
        self.assertEqual(version.returncode, 0)
        self.assertIn("kapid 0.", version.stdout)
        self.assertIn("Kubernetes API 1.33", version.stdout)

    def test_bad_flags(self) -> None:
        """
        Bad flags: a non-zero exit naming every problem, and nothing written.
        """
        result = twistd(
            "--nodaemon", "--pidfile=", "kapid", "--secure-port=99999", "--authorization-mode=Maybe",
            "--enable-admission-plugins=Nope", "--request-timeout=1 minute",
            "--tls-cert-file=missing.crt", "--tls-private-key-file=missing.key", cwd=self.cwd,
        )
        self.assertNotEqual(result.returncode, 0)
        out = result.stdout + result.stderr
        for problem in ("--secure-port: 99999", "'Maybe' is not a valid mode", "plugin 'Nope' is unknown",
                        "--request-timeout: invalid duration", "file 'missing.crt' does not exist",
                        "file 'missing.key' does not exist"):
            self.assertIn(problem, out)
        self.assertEqual(os.listdir(self.cwd), [])

    def test_systemd_units_verify(self) -> None:
        """
        systemd-analyze verify accepts the service and socket units.
        """
        tool = shutil.which("systemd-analyze")
        self.assertIsNotNone(tool, "systemd-analyze is missing (install Debian's systemd)")
        result = subprocess.run(
            [tool, "verify", "systemd/kapid.service", "systemd/kapid.socket"],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
        )
        self.assertEqual((result.returncode, result.stderr.strip()), (0, ""))


class DaemonTests(TestCase):
    """
    A real kapid process.
    """

    timeout = 120

    async def test_defaults_tls_kubeconfig_and_restart(self) -> None:
        """
        With no storage or TLS flags kapid uses the embedded store under ./kapid-data, generates its
        PKI and admin.kubeconfig (kubectl verifies the server and authenticates as system:admin),
        serves /version to kubectl version, and reuses the certificates after a restart.
        """
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        kapid = await start_kapid(self, base_dir=cwd, pass_data_dir=False)
        data = os.path.join(cwd, "kapid-data")
        self.assertIn(f"Storage: embedded (SQLite) in {data}", kapid.log)
        self.assertEqual(kapid.kubeconfig, os.path.join(data, "admin.kubeconfig"))
        for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key"):
            self.assertTrue(os.path.exists(os.path.join(data, "pki", name)), name)
        home = self.mktemp()
        result = run_kubectl("1.32", ["get", "--raw", "/readyz"], kubeconfig=kapid.kubeconfig, home=home)
        self.assertEqual((result.returncode, result.stdout), (0, "ok"), result.stderr)
        self.assertIn('user="system:admin"', kapid.log)
        result = run_kubectl("1.32", ["version", "-o", "json"], kubeconfig=kapid.kubeconfig, home=home)
        self.assertEqual(result.returncode, 0, result.stderr)
        server = json.loads(result.stdout)["serverVersion"]
        self.assertEqual((server["major"], server["minor"]), ("1", "33"))
        with open(os.path.join(data, "pki", "apiserver.crt"), "rb") as f:
            serving = f.read()
        self.assertEqual(await kapid.stop(), 0)

        again = await start_kapid(self, "--anonymous-auth=false", base_dir=cwd + "-2", cwd=cwd, pass_data_dir=False)
        with open(os.path.join(data, "pki", "apiserver.crt"), "rb") as f:
            self.assertEqual(f.read(), serving)
        result = run_kubectl("1.33", ["get", "--raw", "/healthz"], kubeconfig=again.kubeconfig, home=home)
        self.assertEqual((result.returncode, result.stdout), (0, "ok"), result.stderr)
        anonymous = run_kubectl(
            "1.33", ["get", "--raw", "/healthz", f"--certificate-authority={data}/pki/ca.crt", "--token=unknown"],
            server=again.secure_url, home=self.mktemp(),
        )
        self.assertNotEqual(anonymous.returncode, 0)
        self.assertIn("Unauthorized", anonymous.stderr)
        self.assertEqual(await again.stop(), 0)

    async def test_graceful_shutdown_and_sd_notify(self) -> None:
        """
        systemd hears READY=1; on SIGTERM it hears STOPPING=1, a slow request in flight completes
        with 200, and kapid exits 0.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        notify_name = f"kapid-test-notify-{os.getpid()}-{id(self)}"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind("\0" + notify_name)
        notify.setblocking(False)
        self.addCleanup(notify.close)
        messages: list[str] = []

        def received() -> list[str]:
            try:
                while True:
                    messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                pass
            return messages

        kapid = await start_kapid(self, "--storage-backend=memory", base_dir=base, env={"NOTIFY_SOCKET": "@" + notify_name})
        await wait_for(lambda: "READY=1" in received(), "READY=1")
        slow: Deferred = treq.get(kapid.insecure_url + "/debug/pprof/profile?seconds=2&sort=tottime&lines=5", persistent=False)
        await wait_for(lambda: "Profiling the reactor thread" in kapid.log, "the slow request to start")
        kapid.send_signal(signal.SIGTERM)
        response = await slow
        body = await treq.content(response)
        self.assertEqual(response.code, 200, body)
        self.assertIn(b"Ordered by: internal time", body)
        self.assertEqual(await kapid.wait(), 0)
        self.assertEqual(received(), ["READY=1", "STOPPING=1"])
        log = kapid.log
        stages = ["Shutdown initiated", "Listeners stopped; waiting for 1 in-flight", "Storage closed"]
        self.assertEqual([log.index(s) for s in stages], sorted(log.index(s) for s in stages))

    async def test_second_signal_exits_at_once(self) -> None:
        """
        A second SIGTERM during the graceful shutdown exits at once with status 1.
        """
        kapid = await start_kapid(self, "--storage-backend=memory", "--shutdown-delay-duration=60s")
        kapid.send_signal(signal.SIGTERM)
        await wait_for(lambda: "Shutdown initiated" in kapid.log, "the shutdown to begin")
        kapid.send_signal(signal.SIGTERM)
        self.assertEqual(await kapid.wait(), 1)

    async def test_socket_activation_and_audit_log(self) -> None:
        """
        A systemd-passed listening socket serves the insecure API; the audit log records requests.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        policy = os.path.join(base, "policy.yaml")
        with open(policy, "w") as f:
            f.write("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
                    "rules:\n- level: Metadata\n")
        audit_log = os.path.join(base, "audit", "audit.log")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        self.addCleanup(sock.close)
        port = sock.getsockname()[1]
        kapid = await start_kapid(
            self, "--storage-backend=memory", "--insecure-listen-endpoint=systemd:domain=INET:index=0",
            "--secure-port=0", f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}",
            base_dir=base, listen=False, systemd_sockets=[sock],
        )
        self.assertEqual(kapid.insecure_url, f"http://127.0.0.1:{port}")
        response = await treq.get(f"http://127.0.0.1:{port}/version", persistent=False)
        self.assertEqual(json.loads(await treq.content(response))["minor"], "33")
        self.assertEqual(await kapid.stop(), 0)
        with open(audit_log) as f:
            events = [json.loads(line) for line in f]
        version = [e for e in events if e["requestURI"] == "/version"]
        self.assertEqual(len(version), 1)
        self.assertEqual(version[0]["user"]["username"], "system:unsecured")
        self.assertEqual(version[0]["responseStatus"]["code"], 200)
        self.assertEqual(version[0]["auditID"], response.headers.getRawHeaders("audit-id")[0])

    async def test_etcd_backend_health(self) -> None:
        """
        With --etcd-servers, kapid stores in etcd; /readyz/etcd follows etcd's health.
        """
        from kapid.testing.etcd import EtcdServer

        etcd = await EtcdServer.start()
        self.addCleanup(etcd.stop)
        kapid = await start_kapid(self, f"--etcd-servers={etcd.client_url}", "--etcd-healthcheck-timeout=1s")
        self.assertIn(f"Storage: etcd3 at {etcd.client_url}", kapid.log)
        home = self.mktemp()
        result = run_kubectl("1.32", ["get", "--raw", "/api/v1/namespaces/default"], kubeconfig=kapid.kubeconfig, home=home)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["metadata"]["name"], "default")
        await etcd.kill()
        response = await treq.get(kapid.insecure_url + "/readyz?verbose", persistent=False)
        body = (await treq.content(response)).decode()
        self.assertEqual(response.code, 500)
        self.assertIn("[-]etcd failed: reason withheld", body)
        self.assertEqual(await kapid.stop(), 0)

