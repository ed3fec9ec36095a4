"""
Helpers for end-to-end tests: a real C{twistd -n kapid} process (L{KapidProcess}) and real kubectl
binaries (L{run_kubectl}).

Typical use in a trial test::

    async def test_something(self):
        kapid = await start_kapid(self, "--storage-backend=memory")
        result = await run_kubectl_async("1.32", ["get", "--raw", "/readyz"],
                                         kubeconfig=kapid.kubeconfig, home=self.mktemp())
        self.assertEqual(result.returncode, 0, result.stderr)

Each process listens on free loopback ports (port 0 endpoints; the actual ports are read from
kapid's start-up banner), keeps its state in a temporary data dir, and is killed by the test's
cleanup if it is still running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import Any, Optional, Sequence

import attr
import treq
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

#: The repository root (put on the child's PYTHONPATH).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Where the versioned kubectl binaries live (kubectl.1.27 .. kubectl.1.33).
KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin"

#: How twistd is started: C{python -m twisted} is the C{twist} runner, so twistd's own C{run()}.
TWISTD = [
    sys.executable,
    "-c",
    "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
]

_SECURE = re.compile(r"Serving securely on (https://\S+)")
_INSECURE = re.compile(r"Serving insecurely on (http://\S+)")
_KUBECONFIG = re.compile(r"Admin kubeconfig: (\S+)")
_READY = "kapid is ready"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def _sleep(seconds: float) -> None:
    await deferLater(_reactor(), seconds, lambda: None)


def child_env(extra: Optional[dict[str, str]] = None, home: Optional[str] = None) -> dict[str, str]:
    """
    The environment of a child kapid: ours, with the repo root first on PYTHONPATH.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("NOTIFY_SOCKET", None)
    if home:
        env["HOME"] = home
    env.update(extra or {})
    return env


class KapidProcess:
    """
    A real C{twistd --nodaemon --pidfile= kapid ...} process.

    @param base_dir: a fresh directory for this process (the data dir, log and HOME go in it).
    @param args: extra kapid flags (e.g. C{"--etcd-servers=http://127.0.0.1:2379"}).
    @param data_dir: the C{--data-dir} (default C{<base_dir>/kapid-data}); None with
        C{pass_data_dir=False} leaves the flag off (kapid then uses C{./kapid-data} under C{cwd}).
    @param listen: pass port-0 listen endpoints so the ports are free (set False to choose ports
        yourself with C{--secure-port}/C{--insecure-port} or endpoints in C{args}).
    @param env: extra environment variables.
    @param cwd: the working directory (default C{base_dir}).
    @param systemd_sockets: listening sockets handed over as systemd socket activation does
        (fds 3, 4, ... with C{LISTEN_FDS}/C{LISTEN_PID}/C{LISTEN_FDNAMES}); refer to them with
        C{systemd:domain=INET:index=N} endpoints in C{args} (and usually C{listen=False}).
    """

    def __init__(
        self,
        base_dir: str,
        args: Sequence[str] = (),
        data_dir: Optional[str] = None,
        pass_data_dir: bool = True,
        listen: bool = True,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[str] = None,
        systemd_sockets: Sequence[Any] = (),
    ) -> None:
        os.makedirs(base_dir, exist_ok=True)
        self.systemd_sockets = list(systemd_sockets)
        self.base_dir = os.path.abspath(base_dir)
        self.cwd = cwd or self.base_dir
        self.data_dir = os.path.abspath(data_dir or os.path.join(self.base_dir, "kapid-data"))
        if not pass_data_dir:
            self.data_dir = os.path.join(os.path.abspath(self.cwd), "kapid-data")
        self.args = list(args)
        self.pass_data_dir = pass_data_dir
        self.listen = listen
        self.env = env or {}
        self.log_path = os.path.join(self.base_dir, "kapid.log")
        self.process: Optional[subprocess.Popen] = None
        self.secure_url: Optional[str] = None
        self.insecure_url: Optional[str] = None
        self.kubeconfig: Optional[str] = None

    def command(self) -> list[str]:
        """
        The full command line.
        """
        cmd = TWISTD + ["--nodaemon", "--pidfile=", "kapid"]
        if self.pass_data_dir:
            cmd.append(f"--data-dir={self.data_dir}")
        if self.listen:
            cmd += [
                "--secure-listen-endpoint=tcp:0:interface=127.0.0.1",
                "--insecure-listen-endpoint=tcp:0:interface=127.0.0.1",
            ]
        cmd += self.args
        if self.systemd_sockets:
            dups = " ".join(f"{3 + i}<&{sock.fileno()}" for i, sock in enumerate(self.systemd_sockets))
            names = ":".join(["kapid.socket"] * len(self.systemd_sockets))
            script = (
                f"exec {dups}; export LISTEN_PID=$$ LISTEN_FDS={len(self.systemd_sockets)} "
                f'LISTEN_FDNAMES={names}; exec "$@"'
            )
            cmd = ["/bin/sh", "-c", script, "sh"] + cmd
        return cmd

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
        The exit status, or None while running.
        """
        return None if self.process is None else self.process.poll()

    def spawn(self) -> None:
        """
        Start the process without waiting for it.
        """
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
            )
        finally:
            log.close()

    def start(self, timeout: float = 30.0) -> Deferred:
        """
        Spawn and wait until C{/readyz} answers 200 on the insecure port (or, without one, until the
        banner says ready). Fires with self; fails with the log when the process exits or does not
        get ready within C{timeout} seconds.
        """
        return Deferred.fromCoroutine(self._start(timeout))

    async def _start(self, timeout: float) -> "KapidProcess":
        self.spawn()
        step = 0.05
        waited = 0.0
        while waited < timeout:
            if self.returncode is not None:
                raise AssertionError(f"kapid exited with {self.returncode} before it was ready:\n{self.log}")
            text = self.log
            if _READY in text:
                self._read_banner(text)
                if self.insecure_url is None or await self._ready():
                    return self
            await _sleep(step)
            waited += step
            step = min(step * 1.5, 0.5)
        raise AssertionError(f"kapid was not ready within {timeout}s:\n{self.log}")

    def _read_banner(self, text: str) -> None:
        for pattern, attr_name in ((_SECURE, "secure_url"), (_INSECURE, "insecure_url"), (_KUBECONFIG, "kubeconfig")):
            m = pattern.search(text)
            if m:
                setattr(self, attr_name, m.group(1))

    async def _ready(self) -> bool:
        try:
            response = await treq.get(
                self.insecure_url + "/readyz", reactor=_reactor(), timeout=5, persistent=False
            )
            await treq.content(response)
        except Exception:
            return False
        return response.code == 200

    def send_signal(self, sig: int) -> None:
        """
        Send C{sig} to the process (if it is still running).
        """
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def wait(self, timeout: float = 30.0) -> Deferred:
        """
        Fires with the exit status once the process has exited; fails after C{timeout} seconds.
        """

        async def run() -> int:
            waited, step = 0.0, 0.02
            while waited < timeout:
                code = self.returncode
                if code is not None:
                    return code
                await _sleep(step)
                waited += step
                step = min(step * 1.5, 0.25)
            raise AssertionError(f"kapid (pid {self.pid}) did not exit within {timeout}s:\n{self.log}")

        return Deferred.fromCoroutine(run())

    def stop(self, timeout: float = 20.0) -> Deferred:
        """
        SIGTERM, wait up to C{timeout} seconds, then SIGKILL. Fires with the exit status.
        """

        async def run() -> int:
            if self.process is None:
                return 0
            self.send_signal(signal.SIGTERM)
            try:
                return await self.wait(timeout)
            except AssertionError:
                self.send_signal(signal.SIGKILL)
                return await self.wait(10)

        return Deferred.fromCoroutine(run())

    def kill(self) -> Deferred:
        """
        SIGKILL and wait. Fires with the exit status.
        """
        self.send_signal(signal.SIGKILL)
        if self.process is None:
            return Deferred.fromCoroutine(_noop())
        return self.wait(10)


async def _noop() -> int:
    return 0


async def start_kapid(testcase: Any, *args: str, **kwargs: Any) -> KapidProcess:
    """
    Start a L{KapidProcess} in a fresh temp dir of C{testcase}, killed at cleanup. Keyword
    arguments go to L{KapidProcess}.
    """
    base = kwargs.pop("base_dir", None) or testcase.mktemp()
    process = KapidProcess(base, args, **kwargs)
    testcase.addCleanup(process.kill)
    await process.start()
    return process


def kubectl_path(version: str) -> str:
    """
    The path of C{kubectl.<version>} (e.g. C{"1.32"}); fails loudly when it is missing.
    """
    path = os.path.join(KUBECTL_DIR, f"kubectl.{version}")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"{path} is missing: end-to-end tests need the versioned kubectl binaries")
    return path


@attr.s(frozen=True, auto_attribs=True)
class KubectlResult:
    """
    What a kubectl run did.
    """

    returncode: int
    stdout: str
    stderr: str


def _kubectl_cmd(version: str, args: Sequence[str], kubeconfig: Optional[str], server: Optional[str]) -> list[str]:
    cmd = [kubectl_path(version)]
    if kubeconfig:
        cmd.append(f"--kubeconfig={kubeconfig}")
    if server:
        cmd.append(f"--server={server}")
    return cmd + list(args)


def _kubectl_env(home: str) -> dict[str, str]:
    os.makedirs(home, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["HOME"] = os.path.abspath(home)
    env["KUBECACHEDIR"] = os.path.join(os.path.abspath(home), ".kube", "cache")
    return env


def run_kubectl(
    version: str,
    args: Sequence[str],
    kubeconfig: Optional[str] = None,
    server: Optional[str] = None,
    home: str = "",
    timeout: float = 60.0,
    input: Optional[str] = None,
) -> KubectlResult:
    """
    Run C{kubectl.<version> args} with its own HOME (blocking; fine against a kapid in another
    process). Give C{kubeconfig} or C{server} (e.g. the insecure URL).
    """
    assert home, "give kubectl its own HOME (e.g. self.mktemp())"
    done = subprocess.run(
        _kubectl_cmd(version, args, kubeconfig, server),
        capture_output=True, text=True, timeout=timeout, env=_kubectl_env(home), input=input,
    )
    return KubectlResult(done.returncode, done.stdout, done.stderr)


def run_kubectl_async(
    version: str,
    args: Sequence[str],
    kubeconfig: Optional[str] = None,
    server: Optional[str] = None,
    home: str = "",
) -> Deferred:
    """
    Like L{run_kubectl} but without blocking the reactor (for servers in this process). Fires with
    a L{KubectlResult}.
    """
    from twisted.internet.utils import getProcessOutputAndValue

    assert home, "give kubectl its own HOME (e.g. self.mktemp())"
    cmd = _kubectl_cmd(version, args, kubeconfig, server)
    d = getProcessOutputAndValue(cmd[0], cmd[1:], env=_kubectl_env(home), reactor=_reactor())
    d.addCallback(lambda r: KubectlResult(r[2], r[0].decode("utf-8", "replace"), r[1].decode("utf-8", "replace")))
    return d
