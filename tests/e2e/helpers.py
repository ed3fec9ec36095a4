"""
Helpers for end-to-end tests: a real C{twistd -n kapid} process (L{KapidProcess}, from
L{kapid.testing.process}) and real kubectl binaries (L{run_kubectl}).

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
import subprocess
from typing import Any, Optional, Sequence

import attr
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from kapid.testing.process import TWISTD, KapidProcess, child_env

__all__ = [
    "KUBECTL_DIR", "REPO_ROOT", "TWISTD", "KapidProcess", "KubectlResult", "child_env", "kubectl_path",
    "run_kubectl", "run_kubectl_async", "start_kapid",
]

#: The repository root.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Where the versioned kubectl binaries live (kubectl.1.27 .. kubectl.1.33).
KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def _sleep(seconds: float) -> None:
    await deferLater(_reactor(), seconds, lambda: None)


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
