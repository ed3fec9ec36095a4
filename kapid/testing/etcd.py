"""
A real etcd for tests: L{EtcdServer} runs C{/usr/bin/etcd} (Debian's C{etcd-server}) on free loopback
ports with a temporary data dir.

Usage in a trial test::

    from kapid.testing.etcd import EtcdServer, shared_etcd

    async def test_something(self):
        etcd = await shared_etcd(__name__)      # one etcd per test module and worker process
        kv = EtcdKV([etcd.client_url], reactor)

    async def test_faults(self):
        etcd = await EtcdServer.start()         # a private one, for tests that kill or restart it
        self.addCleanup(etcd.stop)
        etcd.pause(); etcd.resume()             # SIGSTOP / SIGCONT: a hung etcd
        await etcd.kill()                       # SIGKILL; or await etcd.stop() (SIGTERM, then KILL)
        await etcd.restart()                    # same data dir, same ports

    async def test_cluster(self):
        cluster = await EtcdCluster.start()     # three members on loopback, each its own temp dir
        self.addCleanup(cluster.stop)
        kapid_flag = f"--etcd-servers={cluster.etcd_servers}"
        leader = await cluster.leader()         # an EtcdServer: kill(), pause(), restart() as above

* Ports: client, peer and metrics ports are picked by binding port 0 on 127.0.0.1 (and retried
  with new ports if etcd cannot start). Health is polled on the metrics listener's C{/health}
  (plain HTTP, also when the client port uses TLS) with a bounded loop of C{deferLater}.
* TLS: C{EtcdServer.start(tls=EtcdServerTLS(cafile, certfile, keyfile))} serves the client port
  over HTTPS and requires client certificates signed by C{cafile}; L{make_test_pki} writes a CA, a
  server certificate (for 127.0.0.1 / localhost) and a client certificate with C{cryptography}.
* Stop: by PID, SIGTERM, then SIGKILL after a bounded wait; the temp dir is removed.
  L{shared_etcd} starts one etcd lazily per module name and stops it when the process exits
  (C{atexit}); under C{trial -j2} every worker process has its own.
* If C{/usr/bin/etcd} (or C{$KAPID_ETCD}) is missing, L{EtcdMissingError} is raised: tests fail
  loudly rather than skip.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from typing import Any, Optional

import attr

ETCD_BINARY = os.environ.get("KAPID_ETCD", "/usr/bin/etcd")


class EtcdMissingError(RuntimeError):
    """
    The etcd binary is not installed; install Debian's C{etcd-server}.
    """


def free_port() -> int:
    """
    A currently free TCP port on 127.0.0.1.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reactor(reactor: Any) -> Any:
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        return global_reactor
    return reactor


async def _sleep(reactor: Any, seconds: float) -> None:
    from twisted.internet.task import deferLater

    await deferLater(reactor, seconds, lambda: None)


@attr.s(frozen=True, auto_attribs=True)
class EtcdServerTLS:
    """
    File names for an etcd serving TLS on its client port and requiring client certificates.
    """

    cafile: str
    certfile: str
    keyfile: str


@attr.s(frozen=True, auto_attribs=True)
class TestPKI:
    """
    A test CA with a server and a client certificate (PEM file names).
    """

    cafile: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def make_test_pki(directory: str) -> TestPKI:
    """
    Write a CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by
    the CA, into C{directory}.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: Any, path: str) -> None:
        with open(path, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
            )

    def write_cert(cert: Any, path: str) -> None:
        with open(path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("kapid-test-ca"))
        .issuer_name(name("kapid-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usages: list[Any], sans: Optional[list[Any]]) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(ca_key, hashes.SHA256()), key

    server, server_key = leaf(
        "127.0.0.1",
        # etcd's JSON gateway dials its own gRPC port with the server certificate, so with client
        # certificate auth that certificate needs the client-auth usage too.
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client, client_key = leaf("kapid-client", [ExtendedKeyUsageOID.CLIENT_AUTH], None)
    pki = TestPKI(
        cafile=os.path.join(directory, "ca.crt"),
        server_cert=os.path.join(directory, "server.crt"),
        server_key=os.path.join(directory, "server.key"),
        client_cert=os.path.join(directory, "client.crt"),
        client_key=os.path.join(directory, "client.key"),
    )
    write_cert(ca, pki.cafile)
    write_cert(server, pki.server_cert)
    write_key(server_key, pki.server_key)
    write_cert(client, pki.client_cert)
    write_key(client_key, pki.client_key)
    return pki


class EtcdServer:
    """
    One etcd process on loopback with a temporary data dir. Build it with L{EtcdServer.start}.

    @ivar client_url: e.g. C{http://127.0.0.1:40123} (C{https://} with TLS).
    @ivar data_dir: the etcd data dir (kept across L{restart}).
    @ivar pid: the process ID while running, else None.
    """

    def __init__(
        self,
        base_dir: str,
        tls: Optional[EtcdServerTLS],
        reactor: Any,
        name: str = "kapid-test",
        initial_cluster: Optional[str] = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.base_dir = base_dir
        #: more etcd flags (e.g. C{--quota-backend-bytes=...})
        self.extra_args = tuple(extra_args)
        self.name = name
        #: C{name=peer-url,...} of every member (None: a one-member cluster of this server)
        self.initial_cluster = initial_cluster
        self.data_dir = os.path.join(base_dir, "data")
        self.log_file = os.path.join(base_dir, "etcd.log")
        self.tls = tls
        self._reactor = reactor
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self.client_port = 0
        self.peer_port = 0
        self.metrics_port = 0

    @property
    def client_url(self) -> str:
        """
        The client (and JSON gateway) URL.
        """
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> Optional[int]:
        """
        The PID of the running etcd, or None.
        """
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return None

    @classmethod
    async def start(
        cls, tls: Optional[EtcdServerTLS] = None, reactor: Any = None, extra_args: tuple[str, ...] = ()
    ) -> "EtcdServer":
        """
        Start an etcd and wait until it is healthy. C{extra_args} are more etcd flags.
        """
        if not os.path.exists(ETCD_BINARY):
            raise EtcdMissingError(
                f"{ETCD_BINARY} not found: install Debian's etcd-server (tests need a real etcd)"
            )
        server = cls(tempfile.mkdtemp(prefix="kapid-etcd-"), tls, _reactor(reactor), extra_args=extra_args)
        try:
            await server._start_fresh_ports()
        except BaseException:
            await server.stop()
            raise
        return server

    async def _start_fresh_ports(self) -> None:
        last: Optional[Exception] = None
        for _ in range(3):
            self.client_port, self.peer_port, self.metrics_port = (
                free_port(),
                free_port(),
                free_port(),
            )
            try:
                await self._run()
                return
            except RuntimeError as e:
                last = e
                await self._terminate()
                shutil.rmtree(self.data_dir, ignore_errors=True)
        raise RuntimeError(f"etcd did not start: {last}")

    def _argv(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            ETCD_BINARY,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.initial_cluster or f'{self.name}={peer}'}",
            "--initial-cluster-token=kapid-test",
            f"--listen-metrics-urls=http://127.0.0.1:{self.metrics_port}",
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=warn",
        ]
        if self.tls:
            argv += [
                f"--trusted-ca-file={self.tls.cafile}",
                f"--cert-file={self.tls.certfile}",
                f"--key-file={self.tls.keyfile}",
                "--client-cert-auth=true",
            ]
        return argv + list(self.extra_args)

    async def _run(self) -> None:
        self._spawn()
        await self.wait_healthy()

    def _spawn(self) -> None:
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    async def wait_healthy(self, timeout: float = 20.0) -> None:
        """
        Poll the metrics listener's C{/health} until etcd reports healthy; raise C{RuntimeError}
        when the process exits or C{timeout} passes.
        """
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(self._reactor, persistent=False)
        client = HTTPClient(Agent(self._reactor, pool=pool))
        url = f"http://127.0.0.1:{self.metrics_port}/health"
        interval = 0.05
        try:
            for _ in range(int(timeout / interval)):
                if self._proc is None or self._proc.poll() is not None:
                    raise RuntimeError(f"etcd exited; see {self.log_file}: {self._log_tail()}")
                try:
                    resp = await client.get(url, timeout=2, reactor=self._reactor)
                    body = await resp.content()
                    if resp.code == 200 and b'"true"' in body:
                        return
                except Exception:
                    pass
                await _sleep(self._reactor, interval)
            raise RuntimeError(f"etcd not healthy within {timeout} s: {self._log_tail()}")
        finally:
            await pool.closeCachedConnections()

    def _log_tail(self) -> str:
        try:
            with open(self.log_file, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    async def _terminate(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGCONT)  # a paused etcd must run to handle SIGTERM
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            interval = 0.05
            for _ in range(int(grace / interval)):
                if proc.poll() is not None:
                    break
                await _sleep(self._reactor, interval)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                for _ in range(100):
                    if proc.poll() is not None:
                        break
                    await _sleep(self._reactor, interval)
        self._proc = None

    def pause(self) -> None:
        """
        SIGSTOP etcd: it keeps its sockets (connections are accepted by the kernel) but answers
        nothing, as a hung etcd. L{resume}, L{restart} and L{stop} continue it first.
        """
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """
        SIGCONT a paused etcd.
        """
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    async def kill(self) -> None:
        """
        SIGKILL etcd (keeping the data dir) and wait for it to exit.
        """
        await self._terminate(signal.SIGKILL)

    async def stop_process(self) -> None:
        """
        SIGTERM etcd (then SIGKILL after a bounded wait), keeping the data dir.
        """
        await self._terminate()

    async def restart(self) -> None:
        """
        Start etcd again (stopping it first if it runs) on the same data dir and ports.
        """
        await self._terminate()
        await self._run()

    async def stop(self) -> None:
        """
        Stop etcd and remove its temp dir.
        """
        await self._terminate()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def stop_now(self) -> None:
        """
        Synchronous stop (for C{atexit}): SIGTERM, a short wait, SIGKILL, remove the temp dir.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._proc = None
        shutil.rmtree(self.base_dir, ignore_errors=True)



class EtcdCluster:
    """
    A loopback etcd cluster of several members (three by default), each an L{EtcdServer} with its
    own temp dir and free ports. Build it with L{EtcdCluster.start}; stop it with L{stop}.

    @ivar members: the L{EtcdServer}s, in order.
    """

    def __init__(self, base_dir: str, members: list[EtcdServer], reactor: Any) -> None:
        self.base_dir = base_dir
        self.members = members
        self._reactor = reactor

    @property
    def client_urls(self) -> list[str]:
        """
        Every member's client URL, in member order.
        """
        return [m.client_url for m in self.members]

    @property
    def etcd_servers(self) -> str:
        """
        The value for kapid's C{--etcd-servers}: every client URL, comma separated.
        """
        return ",".join(self.client_urls)

    @classmethod
    async def start(cls, size: int = 3, reactor: Any = None) -> "EtcdCluster":
        """
        Start C{size} members on free loopback ports and wait until every one is healthy (which
        needs a quorum and an elected leader). Ports are retried like L{EtcdServer.start}'s.
        """
        if not os.path.exists(ETCD_BINARY):
            raise EtcdMissingError(
                f"{ETCD_BINARY} not found: install Debian's etcd-server (tests need a real etcd)"
            )
        reactor = _reactor(reactor)
        base = tempfile.mkdtemp(prefix="kapid-etcd-cluster-")
        last: Optional[Exception] = None
        for attempt in range(3):
            members = [
                EtcdServer(os.path.join(base, f"try{attempt}-m{i}"), None, reactor, name=f"m{i}")
                for i in range(size)
            ]
            for m in members:
                os.makedirs(m.base_dir)
                m.client_port, m.peer_port, m.metrics_port = free_port(), free_port(), free_port()
            initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in members)
            cluster = cls(base, members, reactor)
            try:
                for m in members:
                    m.initial_cluster = initial
                    m._spawn()
                for m in members:
                    await m.wait_healthy(timeout=30.0)
                return cluster
            except BaseException as e:
                for m in members:
                    await m._terminate()
                if not isinstance(e, RuntimeError):
                    shutil.rmtree(base, ignore_errors=True)
                    raise
                last = e
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"etcd cluster did not start: {last}")

    async def status(self, member: EtcdServer, timeout: float = 2.0) -> dict[str, Any]:
        """
        The member's C{/v3/maintenance/status} (its C{header.member_id}, C{leader}, C{dbSize}...);
        raises when it does not answer within C{timeout}.
        """
        import json

        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(self._reactor, persistent=False)
        client = HTTPClient(Agent(self._reactor, pool=pool))
        try:
            resp = await client.post(
                member.client_url + "/v3/maintenance/status", data=b"{}", timeout=timeout,
                reactor=self._reactor,
            )
            body = await resp.content()
            if resp.code != 200:
                raise RuntimeError(f"etcd {member.name} status: {resp.code} {body!r}")
            return json.loads(body)  # type: ignore[no-any-return]
        finally:
            await pool.closeCachedConnections()

    async def leader(self, timeout: float = 20.0) -> EtcdServer:
        """
        The member that is leader now, as the running members agree (polled until they do, at most
        C{timeout} seconds).
        """
        interval = 0.1
        for _ in range(int(timeout / interval)):
            for m in self.members:
                if m.pid is None:
                    continue
                try:
                    st = await self.status(m)
                except Exception:
                    continue
                if st.get("leader") and st["leader"] == st.get("header", {}).get("member_id"):
                    return m
            await _sleep(self._reactor, interval)
        raise RuntimeError(f"no etcd leader within {timeout} s")

    async def stop(self) -> None:
        """
        Stop every member (by PID) and remove the cluster's temp dir.
        """
        for m in self.members:
            await m._terminate()
        shutil.rmtree(self.base_dir, ignore_errors=True)


_shared: dict[str, Any] = {}


async def shared_etcd(module: str, reactor: Any = None) -> EtcdServer:
    """
    The etcd shared by the tests of C{module} (pass C{__name__}), started on first use in this
    process and stopped at process exit. Tests sharing it must use their own key prefixes.
    """
    from twisted.internet.defer import Deferred

    entry = _shared.get(module)
    if entry is None:
        d = Deferred.fromCoroutine(EtcdServer.start(reactor=reactor))
        _shared[module] = d

        def started(server: EtcdServer) -> EtcdServer:
            _shared[module] = server
            atexit.register(server.stop_now)
            return server

        def failed(f: Any) -> Any:
            _shared.pop(module, None)
            return f

        d.addCallbacks(started, failed)
        entry = d
    if isinstance(entry, EtcdServer):
        if entry.pid is None:
            await entry.restart()
        return entry
    # a start in progress: wait on a fresh Deferred chained to it
    waiter: Deferred[EtcdServer] = Deferred()

    def relay(result: Any) -> Any:
        waiter.callback(result)
        return result

    entry.addBoth(relay)
    return await waiter
