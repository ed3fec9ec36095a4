"""
kapid as a test fixture: a real C{twistd --nodaemon --pidfile= kapid} process on free loopback ports
with a temporary data dir, for tests of operators and controllers (and for kapid's own end-to-end
tests).

Plain Python (blocking), as a context manager::

    from kapid.testing import KapidProcess
    import kubernetes

    with KapidProcess() as kapid:            # started and ready (/readyz), or KapidStartError
        api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(kapid.client_configuration()))
        api.list_namespace()
        subprocess.run(["kubectl", "get", "ns"], env=kapid.client_env, check=True)
    # stopped with SIGTERM; a non-zero exit status raises KapidExitError; the temp dir is removed

Twisted (every wait is a Deferred; nothing blocks the reactor)::

    async def test_something(self):
        kapid = KapidProcess(self.mktemp())
        self.addCleanup(kapid.kill)           # never leaves a process behind
        await kapid.start()                   # fires when ready; fails with kapid's message and log
        response = await treq.get(kapid.insecure_url + "/readyz")
        await kapid.stop()                    # SIGTERM; fails unless kapid exits 0

or as a service: C{KapidProcessService(KapidProcess(base_dir)).setServiceParent(parent)}.

How it works:

  - Ports: both listeners get port-0 endpoints on 127.0.0.1 (unless the flags choose a listener
    themselves) and the actual URLs are read from kapid's start-up banner, so there is no race for
    a free port.
  - Ready: the banner line C{kapid is ready} and then C{GET /readyz} answering 200. Every wait is
    bounded; a process that exits first, or is not ready in time, fails the start with kapid's own
    error message (L{KapidStartError.reason}: the flag error, or the exception that stopped the start)
    and its log.
  - Cleanup: C{stop} sends SIGTERM and waits (bounded), then SIGKILL. A process still running at
    interpreter exit is killed, and on Linux the child is killed when the thread that started it
    exits (C{PR_SET_PDEATHSIG}): start it from a thread that lives as long as you need it.
  - Storage: kapid's embedded store in the data dir by default; C{etcd_servers} puts it in etcd
    under a fresh C{--etcd-prefix}.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.parse
import uuid
import weakref
from typing import Any, Optional, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

import kapid

#: The directory that holds the C{kapid} package (and C{twisted/plugins/kapid_plugin.py}).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(kapid.__file__)))

#: How twistd is started: its C{run()} in this interpreter (so the child has the same packages).
TWISTD = [
    sys.executable,
    "-c",
    "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
]

#: The default bound on waiting for kapid to become ready, in seconds.
START_TIMEOUT = 30.0

#: The default bound on waiting for kapid to exit after SIGTERM, in seconds (then SIGKILL).
STOP_TIMEOUT = 20.0

#: The longest pause between two looks at a starting or stopping kapid (from 10 ms, growing by half
#: each time): a look reads the log and stats the process, so a short pause costs little and a
#: ready kapid is noticed within this long.
START_POLL_MAX = 0.02

_SECURE = re.compile(r"Serving securely on (https://\S+)")
_INSECURE = re.compile(r"Serving insecurely on (http://\S+)")
_KUBECONFIG = re.compile(r"Admin kubeconfig: (\S+)")
_READY = "kapid is ready"
_USAGE_ERROR = re.compile(r"^twistd\b[^\n:]*: (.*)", re.MULTILINE | re.DOTALL)
_FAILED = "kapid failed to start"
_EXCEPTION_LINE = re.compile(r"^\t(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)\w*): (.*)$", re.MULTILINE)

#: Flags that choose the secure / insecure listener (when given, no port-0 endpoint is added for it).
_SECURE_FLAGS = ("--secure-port", "--bind-address", "--secure-listen-endpoint")
_INSECURE_FLAGS = ("--insecure-port", "--insecure-bind-address", "--insecure-listen-endpoint")

_running: "weakref.WeakSet[KapidProcess]" = weakref.WeakSet()


def _kill_leftovers() -> None:
    for process in list(_running):
        process.send_signal(signal.SIGKILL)


atexit.register(_kill_leftovers)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class KapidStartError(AssertionError):
    """
    kapid exited, or was not ready in time, during start-up.

    @ivar reason: kapid's own message (the flag error, or the exception that stopped the start), or
        a description of the timeout.
    @ivar log: everything kapid wrote.
    @ivar returncode: the exit status (None when it was still running and has been killed).
    """

    def __init__(self, reason: str, log: str, returncode: Optional[int], log_path: str = "") -> None:
        self.reason = reason
        self.log = log
        self.returncode = returncode
        self.log_path = log_path
        super().__init__(_describe(reason, log, log_path))


class KapidExitError(AssertionError):
    """
    kapid exited with a non-zero status (at stop, or while it should have been running).

    @ivar returncode: the exit status.
    @ivar log: everything kapid wrote.
    """

    def __init__(self, reason: str, log: str, returncode: Optional[int], log_path: str = "") -> None:
        self.reason = reason
        self.log = log
        self.returncode = returncode
        self.log_path = log_path
        super().__init__(_describe(reason, log, log_path))


def _describe(reason: str, log: str, log_path: str, tail: int = 60) -> str:
    usage, m = log.find("Usage: twistd"), _USAGE_ERROR.search(log)
    if usage >= 0 and m and m.start() > usage:
        log = log[:usage] + "(twistd's usage text)\n" + log[m.start():]
    lines = log.rstrip("\n").splitlines()
    shown = lines[-tail:]
    head = f"(last {len(shown)} of {len(lines)} lines) " if len(lines) > len(shown) else ""
    where = f" {log_path}" if log_path else ""
    return f"{reason}\n--- kapid log{where} {head}---\n" + "\n".join(shown)


def error_reason(log: str) -> Optional[str]:
    """
    kapid's own error message in its output: twistd's flag error (C{twistd ...: <message>} after
    the usage text, every problem of a multi-problem report included) or the exception that stopped
    the start (the last line of the traceback after C{kapid failed to start}); None when there is
    neither.
    """
    m = _USAGE_ERROR.search(log)
    if m:
        return m.group(1).strip()
    at = log.find(_FAILED)
    if at >= 0:
        found = _EXCEPTION_LINE.findall(log[at:])
        if found:
            name, message = found[-1]
            return f"{name}: {message}"
        return _FAILED
    return None


def child_env(extra: Optional[dict[str, str]] = None, home: Optional[str] = None) -> dict[str, str]:
    """
    The environment of a child kapid: ours, with the directory holding the C{kapid} package first
    on C{PYTHONPATH} (unless it is the interpreter's own site-packages), no C{NOTIFY_SOCKET}, and
    C{HOME} and C{extra} as given.
    """
    env = dict(os.environ)
    site = {os.path.realpath(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    if os.path.realpath(PACKAGE_ROOT) not in site:
        env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("NOTIFY_SOCKET", None)
    if home:
        env["HOME"] = home
    env.update(extra or {})
    return env


def _death_signal_setter() -> Any:
    """
    A C{preexec_fn} that asks Linux to SIGKILL the child when the thread that started it exits
    (C{PR_SET_PDEATHSIG}), or None elsewhere. C{prctl} is looked up here, in the parent, so the
    child runs no loader code between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except Exception:
        return None

    def set_death_signal() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(1, int(signal.SIGKILL))

    return set_death_signal


class Credentials:
    """
    How to reach a kapid: its URL and, from a kubeconfig, the CA and client certificate (written
    out as files, which both C{kubernetes} clients and L{ssl} need) or a bearer token.

    @ivar server: the server URL.
    @ivar ca_file: the CA file to verify the server with (None: the system's).
    @ivar cert_file: the client certificate file (None: no client certificate).
    @ivar key_file: the client key file.
    @ivar token: a bearer token (None: none).
    @ivar verify: whether to verify the server's certificate.
    """

    def __init__(
        self,
        server: str,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        token: Optional[str] = None,
        verify: bool = True,
    ) -> None:
        self.server = server.rstrip("/")
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.token = token
        self.verify = verify
        self._context: Optional[ssl.SSLContext] = None

    @classmethod
    def from_kubeconfig(cls, path: str, files_dir: str) -> "Credentials":
        """
        The current context of the kubeconfig at C{path}; embedded certificate data is written to
        files in C{files_dir}.
        """
        import yaml

        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        by_name = lambda kind: {e["name"]: e.get(kind[:-1], {}) for e in doc.get(kind) or []}  # noqa: E731
        context = by_name("contexts").get(doc.get("current-context", ""), {})
        cluster = by_name("clusters").get(context.get("cluster", ""), {})
        user = by_name("users").get(context.get("user", ""), {})
        base = os.path.dirname(os.path.abspath(path))
        os.makedirs(files_dir, exist_ok=True)

        def file_for(entry: dict, key: str, name: str) -> Optional[str]:
            if entry.get(key + "-data"):
                target = os.path.join(files_dir, name)
                with open(target, "wb") as f:
                    f.write(base64.b64decode(entry[key + "-data"]))
                os.chmod(target, 0o600)
                return target
            if entry.get(key):
                return os.path.join(base, entry[key])
            return None

        return cls(
            cluster.get("server", ""),
            ca_file=file_for(cluster, "certificate-authority", "ca.crt"),
            cert_file=file_for(user, "client-certificate", "client.crt"),
            key_file=file_for(user, "client-key", "client.key"),
            token=user.get("token"),
            verify=not cluster.get("insecure-skip-tls-verify", False),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """
        An L{ssl.SSLContext} verifying the server and presenting the client certificate.
        """
        if self._context is None:
            context = ssl.create_default_context(cafile=self.ca_file)
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
            self._context = context
        return self._context

    def configure(self, configuration: Any) -> Any:
        """
        Fill a C{kubernetes} or C{kubernetes_asyncio} C{Configuration} and return it.
        """
        configuration.host = self.server
        configuration.verify_ssl = self.verify
        if self.ca_file:
            configuration.ssl_ca_cert = self.ca_file
        if self.cert_file:
            configuration.cert_file = self.cert_file
            configuration.key_file = self.key_file
        if self.token:
            configuration.api_key = {"authorization": "Bearer " + self.token}
        return configuration


class ClientAccess:
    """
    What clients of a running kapid need: URLs, the kubeconfig, client configurations for the
    C{kubernetes} and C{kubernetes_asyncio} clients, an environment for a subprocess C{kubectl}, and
    a small blocking JSON request helper.

    @ivar secure_url: C{https://127.0.0.1:<port>} (None when HTTPS is off).
    @ivar insecure_url: C{http://127.0.0.1:<port>} (None when plain HTTP is off).
    @ivar kubeconfig: the kubeconfig path (kapid's admin kubeconfig: system:admin in system:masters).
    """

    secure_url: Optional[str] = None
    insecure_url: Optional[str] = None
    kubeconfig: Optional[str] = None
    _credentials_dir: str = ""
    _credentials: Optional[Credentials] = None

    @property
    def url(self) -> str:
        """
        The base URL clients use: the one in the kubeconfig (HTTPS), else the insecure URL.
        """
        return self.credentials.server

    @property
    def credentials(self) -> Credentials:
        """
        The L{Credentials} of the kubeconfig (or plain HTTP to the insecure URL without one).
        """
        if self._credentials is None:
            if self.kubeconfig:
                self._credentials = Credentials.from_kubeconfig(self.kubeconfig, self._credentials_dir)
            elif self.insecure_url:
                self._credentials = Credentials(self.insecure_url)
            else:
                raise RuntimeError("kapid is not running (no kubeconfig and no insecure URL yet)")
        return self._credentials

    @property
    def client_env(self) -> dict[str, str]:
        """
        An environment for a subprocess client such as C{kubectl}: this process's, with
        C{KUBECONFIG} naming L{kubeconfig}.
        """
        env = dict(os.environ)
        if self.kubeconfig:
            env["KUBECONFIG"] = self.kubeconfig
        return env

    def client_configuration(self) -> Any:
        """
        A new C{kubernetes.client.Configuration} for this kapid.
        """
        from kubernetes import client

        return self.credentials.configure(client.Configuration())

    def asyncio_configuration(self) -> Any:
        """
        A new C{kubernetes_asyncio.client.Configuration} for this kapid (that package is optional:
        ImportError without it).
        """
        from kubernetes_asyncio import client

        return self.credentials.configure(client.Configuration())

    @property
    def faults(self) -> "Faults":
        """
        The fault-injection helper (kapid must run with C{--enable-fault-injection}).
        """
        return Faults(self)

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """
        A blocking JSON request as the kubeconfig's user: returns the status code and the decoded
        body (the raw text when it is not JSON). C{content_type} names a patch type for PATCH
        (e.g. C{application/merge-patch+json}).
        """
        credentials = self.credentials
        url = urllib.parse.urlsplit(credentials.server)
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            connection = http.client.HTTPSConnection(url.netloc, timeout=timeout, context=credentials.ssl_context())
        else:
            connection = http.client.HTTPConnection(url.netloc, timeout=timeout)
        headers = {"Accept": "application/json"}
        if credentials.token:
            headers["Authorization"] = "Bearer " + credentials.token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        try:
            connection.request(method, url.path.rstrip("/") + path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")


class Faults:
    """
    Blocking access to kapid's fault-injection API (C{/debug/kapid/faults}; see
    L{kapid.server.faults})::

        kapid.faults.inject(verb="update", resource="configmaps", namespace=ns, name="x", code=409)
        kapid.faults.inject(resource="deployments.apps", verb="list", code=503, count=3)
        kapid.faults.inject(verb="get", resource="secrets", delay=2.0)   # slow, then served
        kapid.faults.close_watches(expired=True)    # every watch: 410 Expired, then the end
        kapid.faults.compact()                      # old resourceVersions are gone
        kapid.faults.storage_unavailable(5)         # /readyz red, 500 ServerTimeout, for 5 s
        kapid.faults.clear()
    """

    def __init__(self, client: "ClientAccess") -> None:
        self.client = client

    def _call(self, method: str, path: str = "", body: Any = None) -> Any:
        code, answer = self.client.request(method, "/debug/kapid/faults" + path, body)
        if code == 404 and not path:
            raise RuntimeError("fault injection is off: start kapid with --enable-fault-injection")
        if code >= 300:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise ValueError(f"kapid refused: {code} {message}")
        return answer

    def inject(
        self,
        verb: str = "",
        resource: str = "",
        namespace: str = "",
        name: str = "",
        code: int = 0,
        count: int = 1,
        delay: float = 0.0,
        message: str = "",
        reason: str = "",
        subresource: str = "",
    ) -> dict:
        """
        Arm a fault: the next C{count} (-1: every) requests matching C{verb}, C{resource}
        (C{"configmaps"}, C{"deployments.apps"}), C{subresource}, C{namespace} and C{name} (empty:
        any) wait C{delay} seconds and then fail with C{code} (0: served normally) and kube's
        C{Status} for it (or C{reason}/C{message}). Returns the fault (its C{id} removes it).
        """
        spec = {"verb": verb, "resource": resource, "subresource": subresource, "namespace": namespace,
                "name": name, "code": code, "count": count, "delaySeconds": delay, "message": message,
                "reason": reason}
        return self._call("POST", "", spec)

    def close_watches(self, expired: bool = False, resource: str = "", namespace: str = "") -> int:
        """
        End every open watch (of C{resource}/C{namespace} when given); with C{expired}, each gets
        an C{ERROR} event with a 410 C{Expired} Status first. Returns how many were closed.
        """
        answer = self._call("POST", "/watches/close", {"expired": expired, "resource": resource,
                                                       "namespace": namespace})
        return int(answer["closed"])

    def storage_unavailable(self, seconds: float) -> None:
        """
        Make kapid's storage unreachable for C{seconds} (0 ends an outage): C{/readyz} is red and
        storage operations answer 500 C{ServerTimeout}, as for a real outage.
        """
        self._call("POST", "/storage", {"unavailableSeconds": seconds})

    def compact(self) -> int:
        """
        Compact storage at its current revision (older resourceVersions then get 410 from
        storage); returns that revision.
        """
        return int(self._call("POST", "/compact", {})["compactedRevision"])

    def list(self) -> list[dict]:
        """
        The faults still armed.
        """
        return self._call("GET")["faults"]

    def remove(self, fault_id: str) -> None:
        """
        Disarm one fault.
        """
        self._call("DELETE", "/" + fault_id)

    def clear(self) -> None:
        """
        Disarm every fault.
        """
        self._call("DELETE")


class KapidProcess(ClientAccess):
    """
    A real C{twistd --nodaemon --pidfile= kapid ...} process.

    @param base_dir: a directory for this process (the data dir, the log and HOME go in it); a new
        temporary directory when None (removed by L{stop_blocking} and C{__exit__} unless C{keep}).
    @param args: extra kapid flags (e.g. C{"--storage-backend=memory"}).
    @param data_dir: the C{--data-dir} (default C{<base_dir>/kapid-data}); C{pass_data_dir=False}
        leaves the flag off (kapid then uses C{./kapid-data} under C{cwd}).
    @param listen: give each listener the flags do not choose a port-0 endpoint on 127.0.0.1.
    @param env: extra environment variables for the child.
    @param cwd: the working directory (default C{base_dir}).
    @param systemd_sockets: listening sockets handed over as systemd socket activation does
        (fds 3, 4, ... with C{LISTEN_FDS}/C{LISTEN_PID}/C{LISTEN_FDNAMES}); refer to them with
        C{systemd:domain=INET:index=N} endpoints in C{args} (and usually C{listen=False}).
    @param etcd_servers: etcd URLs (comma separated) to store objects in, under a fresh
        C{--etcd-prefix} unless C{args} names one; None for the embedded store.
    @param keep: keep a temporary C{base_dir} after stopping.
    @param reactor: the reactor the Deferred-returning methods wait with (the global one unless given).
    """

    def __init__(
        self,
        base_dir: Optional[str] = None,
        args: Sequence[str] = (),
        data_dir: Optional[str] = None,
        pass_data_dir: bool = True,
        listen: bool = True,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[str] = None,
        systemd_sockets: Sequence[Any] = (),
        etcd_servers: Optional[str] = None,
        keep: bool = False,
        reactor: Any = None,
    ) -> None:
        self.temporary = base_dir is None
        if base_dir is None:
            base_dir = tempfile.mkdtemp(prefix="kapid-")
        os.makedirs(base_dir, exist_ok=True)
        self.keep = keep
        self.systemd_sockets = list(systemd_sockets)
        self.base_dir = os.path.abspath(base_dir)
        self.cwd = cwd or self.base_dir
        self.data_dir = os.path.abspath(data_dir or os.path.join(self.base_dir, "kapid-data"))
        if not pass_data_dir:
            self.data_dir = os.path.join(os.path.abspath(self.cwd), "kapid-data")
        self.args = list(args)
        if etcd_servers:
            self.args.insert(0, f"--etcd-servers={etcd_servers}")
            if not _has_flag(self.args, ("--etcd-prefix",)):
                self.args.insert(1, f"--etcd-prefix=/kapid-test-{uuid.uuid4().hex[:12]}")
        self.pass_data_dir = pass_data_dir
        self.listen = listen
        self.env = env or {}
        self.log_path = os.path.join(self.base_dir, "kapid.log")
        self._credentials_dir = os.path.join(self.base_dir, "client")
        self.process: Optional[subprocess.Popen] = None
        self.secure_url: Optional[str] = None
        self.insecure_url: Optional[str] = None
        self.kubeconfig: Optional[str] = None
        self._reactor = reactor

    # -- the command ------------------------------------------------------------------------

    def command(self) -> list[str]:
        """
        The full command line.
        """
        cmd = TWISTD + ["--nodaemon", "--pidfile=", "kapid"]
        if self.pass_data_dir:
            cmd.append(f"--data-dir={self.data_dir}")
        if self.listen and not _has_flag(self.args, _SECURE_FLAGS):
            cmd.append("--secure-listen-endpoint=tcp:0:interface=127.0.0.1")
        if self.listen and not _has_flag(self.args, _INSECURE_FLAGS):
            cmd.append("--insecure-listen-endpoint=tcp:0:interface=127.0.0.1")
        cmd += self.args
        if self.systemd_sockets:
            dups = " ".join(f"{3 + i}<&{sock.fileno()}" for i, sock in enumerate(self.systemd_sockets))
            names = ":".join(["kapid.socket"] * len(self.systemd_sockets))
            script = (
                f"exec {dups}; export LISTEN_PID=$$ LISTEN_FDS={len(self.systemd_sockets)} "
                f'LISTEN_FDNAMES={names}; exec "$@"'
            )
            # bash: POSIX sh (dash) takes single-digit descriptors only in redirections
            cmd = ["/bin/bash", "-c", script, "bash"] + cmd
        return cmd

    # -- state ------------------------------------------------------------------------------

    @property
    def reactor(self) -> Any:
        """
        The reactor the Deferred-returning methods wait with.
        """
        return self._reactor if self._reactor is not None else _reactor()

    @property
    def pid(self) -> int:
        """
        The process id.
        """
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def log(self) -> str:
        """
        Everything the process wrote so far (stdout and stderr).
        """
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @property
    def returncode(self) -> Optional[int]:
        """
        The exit status, or None while running (or before it was started).
        """
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        """
        Whether the process has been started and has not exited.
        """
        return self.process is not None and self.process.poll() is None

    def check_running(self) -> None:
        """
        Raise L{KapidExitError} (kapid's message and log) if the process has exited.
        """
        code = self.returncode
        if code is not None:
            reason = error_reason(self.log) or "kapid exited"
            raise KapidExitError(f"kapid exited with status {code} while in use: {reason}", self.log, code, self.log_path)

    # -- start ------------------------------------------------------------------------------

    def spawn(self) -> None:
        """
        Start the process without waiting for it.
        """
        assert self.process is None, "already started"
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=child_env(self.env, home=self.base_dir),
                pass_fds=[sock.fileno() for sock in self.systemd_sockets],
                preexec_fn=_death_signal_setter(),
            )
        finally:
            log.close()
        _running.add(self)

    def _poll_start(self) -> bool:
        """
        One look at the starting process: True when the banner says it is ready (URLs read);
        raises L{KapidStartError} when it has exited.
        """
        code = self.returncode
        text = self.log
        if code is not None:
            reason = error_reason(text) or "no error message"
            raise KapidStartError(
                f"kapid exited with status {code} before it was ready: {reason}", text, code, self.log_path
            )
        if _READY not in text:
            return False
        for pattern, name in ((_SECURE, "secure_url"), (_INSECURE, "insecure_url"), (_KUBECONFIG, "kubeconfig")):
            m = pattern.search(text)
            if m:
                setattr(self, name, m.group(1))
        return True

    def _not_ready(self, timeout: float, why: str = "") -> KapidStartError:
        log = self.log
        self.send_signal(signal.SIGKILL)
        return KapidStartError(
            f"kapid was not ready within {timeout}s{why}: {error_reason(log) or 'no error message'}",
            log, None, self.log_path,
        )

    def start(self, timeout: float = START_TIMEOUT) -> Deferred:
        """
        Spawn and wait (without blocking the reactor) until the banner says ready and C{/readyz}
        answers 200. Fires with self; fails with L{KapidStartError} (kapid's message and log) when
        the process exits or is not ready within C{timeout} seconds (it is then killed).
        """
        return Deferred.fromCoroutine(self._start(timeout))

    async def _start(self, timeout: float) -> "KapidProcess":
        import treq

        self.spawn()
        deadline = self.reactor.seconds() + timeout
        step = 0.01
        while self.reactor.seconds() < deadline:
            if self._poll_start():
                if self.insecure_url is None:
                    return self
                try:
                    response = await treq.get(
                        self.insecure_url + "/readyz", reactor=self.reactor, timeout=5, persistent=False
                    )
                    await treq.content(response)
                    if response.code == 200:
                        return self
                except Exception:
                    pass
            await deferLater(self.reactor, step, lambda: None)
            step = min(step * 1.5, START_POLL_MAX)
        raise self._not_ready(timeout)

    def start_blocking(self, timeout: float = START_TIMEOUT) -> "KapidProcess":
        """
        L{start}, blocking: returns self once ready; raises L{KapidStartError} (the process is then
        killed and gone).
        """
        self.spawn()
        deadline = time.monotonic() + timeout
        step = 0.01
        try:
            while time.monotonic() < deadline:
                if self._poll_start():
                    try:
                        code, _ = self.request("GET", "/readyz", timeout=5)
                    except OSError:
                        code = 0
                    if code == 200:
                        return self
                time.sleep(step)
                step = min(step * 1.5, START_POLL_MAX)
            raise self._not_ready(timeout)
        except BaseException:
            self._reap_blocking()
            raise

    # -- stop -------------------------------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        """
        Send C{sig} to the process (if it is still running).
        """
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> Deferred:
        """
        Fires with the exit status once the process has exited; fails with L{KapidExitError} after
        C{timeout} seconds.
        """

        async def run() -> int:
            deadline = self.reactor.seconds() + timeout
            step = 0.01
            while True:
                code = self.returncode
                if code is not None:
                    _running.discard(self)
                    return code
                if self.reactor.seconds() >= deadline:
                    raise KapidExitError(
                        f"kapid (pid {self.pid}) did not exit within {timeout}s", self.log, None, self.log_path
                    )
                await deferLater(self.reactor, step, lambda: None)
                step = min(step * 1.5, START_POLL_MAX)

        return Deferred.fromCoroutine(run())

    def _check_exit(self, code: int, check: bool) -> int:
        if check and code != 0:
            reason = error_reason(self.log) or "see its log"
            raise KapidExitError(f"kapid exited with status {code}: {reason}", self.log, code, self.log_path)
        return code

    def stop(self, timeout: float = STOP_TIMEOUT, check: bool = True) -> Deferred:
        """
        SIGTERM, wait up to C{timeout} seconds, then SIGKILL. Fires with the exit status; with
        C{check}, fails with L{KapidExitError} unless it is 0 (as kapid's graceful shutdown exits).
        """

        async def run() -> int:
            if self.process is None:
                return 0
            self.send_signal(signal.SIGTERM)
            try:
                code = await self.wait(timeout)
            except KapidExitError:
                self.send_signal(signal.SIGKILL)
                await self.wait(10)
                raise
            return self._check_exit(code, check)

        return Deferred.fromCoroutine(run())

    def kill(self) -> Deferred:
        """
        SIGKILL and wait. Fires with the exit status (0 when it was never started).
        """
        self.send_signal(signal.SIGKILL)
        if self.process is None:
            return Deferred.fromCoroutine(_zero())
        return self.wait(10)

    def _reap_blocking(self) -> None:
        if self.process is not None:
            self.send_signal(signal.SIGKILL)
            self.process.wait(10)
            _running.discard(self)

    def stop_blocking(self, timeout: float = STOP_TIMEOUT, check: bool = True) -> int:
        """
        L{stop}, blocking; then remove a temporary C{base_dir} (unless C{keep}). Returns the exit
        status; with C{check}, raises L{KapidExitError} unless it is 0.
        """
        try:
            if self.process is None:
                return 0
            self.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log = self.log
                self._reap_blocking()
                raise KapidExitError(f"kapid (pid {self.pid}) did not exit within {timeout}s of SIGTERM",
                                     log, None, self.log_path)
            _running.discard(self)
            return self._check_exit(code, check)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """
        Remove C{base_dir} if it is a temporary one, the process has exited and C{keep} is false.
        """
        if self.temporary and not self.keep and not self.running:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "KapidProcess":
        try:
            return self.start_blocking()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        if kind is None:
            self.stop_blocking()
        else:
            self.stop_blocking(check=False)


async def _zero() -> int:
    return 0


def _has_flag(args: Sequence[str], names: Sequence[str]) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


class KapidProcessService(Service):
    """
    A L{KapidProcess} as a Twisted service: C{startService} starts it (L{ready} fires with the
    process when it is ready, or fails with L{KapidStartError}); C{stopService} stops it with
    SIGTERM and fails with L{KapidExitError} unless kapid exits 0.

    @ivar process: the L{KapidProcess}.
    @ivar ready: a Deferred of the start (None before C{startService}).
    """

    name = "kapid"  # type: ignore[assignment]

    def __init__(self, process: KapidProcess, timeout: float = START_TIMEOUT) -> None:
        self.process = process
        self.timeout = timeout
        self.ready: Optional[Deferred] = None

    def startService(self) -> None:
        """
        Start the process; see L{ready}.
        """
        super().startService()
        self.ready = self.process.start(self.timeout)

    def stopService(self) -> Deferred:
        """
        Stop the process; fires when it has exited.
        """
        super().stopService()
        return self.process.stop()


class RunningKapid(ClientAccess):
    """
    A kapid that something else started, reached by URL (and optionally a kubeconfig).

    @param url: the server URL (C{http://...} for the insecure port, or C{https://...}).
    @param kubeconfig: a kubeconfig for it; without one a kubeconfig is written that names C{url}
        (and, for HTTPS, skips verification: an anonymous user).
    @param files_dir: where the written kubeconfig and certificate files go (a temp dir by default).
    """

    log = ""
    log_path = ""

    def __init__(self, url: str, kubeconfig: Optional[str] = None, files_dir: Optional[str] = None) -> None:
        self.files_dir = os.path.abspath(files_dir or tempfile.mkdtemp(prefix="kapid-client-"))
        os.makedirs(self.files_dir, exist_ok=True)
        self._credentials_dir = os.path.join(self.files_dir, "client")
        url = url.rstrip("/")
        if url.startswith("https://"):
            self.secure_url = url
        else:
            self.insecure_url = url
        if kubeconfig is None:
            kubeconfig = os.path.join(self.files_dir, "kubeconfig")
            cluster: dict = {"server": url}
            if url.startswith("https://"):
                cluster["insecure-skip-tls-verify"] = True
            doc = {
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "kapid", "cluster": cluster}],
                "users": [{"name": "user", "user": {}}],
                "contexts": [{"name": "kapid", "context": {"cluster": "kapid", "user": "user"}}],
                "current-context": "kapid",
            }
            with open(kubeconfig, "w", encoding="utf-8") as f:
                json.dump(doc, f)
        else:
            kubeconfig = os.path.abspath(kubeconfig)
        self.kubeconfig = kubeconfig
        credentials = Credentials.from_kubeconfig(kubeconfig, self._credentials_dir)
        credentials.server = url
        self._credentials = credentials

    def check_running(self) -> None:
        """
        Raise L{KapidExitError} unless C{/readyz} answers 200.
        """
        try:
            code, body = self.request("GET", "/readyz", timeout=10)
        except OSError as e:
            raise KapidExitError(f"kapid at {self.url} is not reachable: {e}", "", None)
        if code != 200:
            raise KapidExitError(f"kapid at {self.url} is not ready: /readyz answered {code}: {body}", "", None)
