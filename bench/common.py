"""
Shared helpers of the benchmark harness: free ports, child processes tracked by PID and killed on
exit (also on Ctrl-C and errors), bounded readiness polls, resident memory, statistics and the 2 KB
objects every scenario sends.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Optional

#: The repository root (the parent of C{bench/}).
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------------------------------------
# Objects


def pod(name: str = "bench-pod", namespace: str = "default") -> dict:
    """
    A Pod of about 2 KB of JSON (the size used in reference/performance.md).
    """
    obj: dict = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "5b9a3f4e-6f0e-4c3e-9d57-0a7d7c6c9e21",
            "labels": {"app": "bench", "tier": "backend", "release": "stable"},
            "annotations": {"kapid.io/bench": "true"},
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/bench/app:1.2.3",
                    "command": ["/bin/app", "--serve", "--port=8080"],
                    "env": [{"name": f"VAR_{i}", "value": f"value-{i:04d}-" + "x" * 24} for i in range(12)],
                    "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "periodSeconds": 10,
                    },
                }
            ],
            "restartPolicy": "Always",
            "nodeName": "node-1",
            "serviceAccountName": "default",
        },
        "status": {"phase": "Running", "podIP": "10.0.0.12", "hostIP": "192.168.0.5"},
    }
    raw = json.dumps(obj)
    pad = 2048 - len(raw)
    if pad > 0:
        obj["metadata"]["annotations"]["kapid.io/pad"] = "p" * max(pad - 20, 0)
    return obj


def configmap(name: str, namespace: str, size: int = 2048) -> dict:
    """
    A ConfigMap of about C{size} bytes of JSON.
    """
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"}},
        "data": {},
    }
    base = len(json.dumps(obj))
    room = max(size - base - 40, 0)
    obj["data"] = {f"key{i}": "v" * (room // 8) for i in range(8)} if room else {}
    return obj


def pod_bytes() -> bytes:
    """
    The 2 KB Pod as compact JSON bytes.
    """
    return json.dumps(pod(), separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------------
# Ports, processes, polls


def free_port() -> int:
    """
    A free TCP port on 127.0.0.1 (bind port 0, read it, close).
    """
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def child_env() -> dict:
    """
    The environment for Python children: this one with the repository root first on PYTHONPATH.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("MPLBACKEND", None)
    return env


class Processes:
    """
    The child processes this run started, killed by PID (SIGTERM, then SIGKILL) at the end, at exit,
    on SIGINT / SIGTERM and on errors.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        atexit.register(self.kill_all)

    def install_signal_handlers(self) -> None:
        """
        Turn SIGTERM into KeyboardInterrupt so C{finally} blocks (and L{kill_all}) run.
        """

        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt()

        signal.signal(signal.SIGTERM, on_term)

    def start(self, argv: list[str], log_path: str, env: Optional[dict] = None, cwd: Optional[str] = None) -> subprocess.Popen:
        """
        Start C{argv} with stdout and stderr to C{log_path}; remember its PID.
        """
        log = open(log_path, "ab")
        try:
            p = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env if env is not None else child_env(),
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            log.close()
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen, timeout: float = 5.0) -> None:
        """
        Stop one child by PID: SIGTERM, wait up to C{timeout}, then SIGKILL.
        """
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)

    def kill_all(self) -> None:
        """
        Stop every child still running, newest first.
        """
        for p in list(reversed(self.procs)):
            try:
                self.stop(p, timeout=3.0)
            except Exception:
                pass


def http_status(url: str, method: str = "GET", body: Optional[bytes] = None,
                headers: Optional[dict] = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """
    One small HTTP request with urllib; returns C{(status, body)}; C{(0, b"")} when it cannot connect.
    """
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
        return 0, b""


def wait_for_200(url: str, proc: Optional[subprocess.Popen], timeout: float,
                 interval: float = 0.01) -> Optional[float]:
    """
    Poll C{url} until it answers 200; return the seconds it took, or None when C{timeout} passes or
    C{proc} exits first. Bounded in count (timeout / interval polls) and in time.
    """
    t0 = time.monotonic()
    for _ in range(int(timeout / interval) + 1):
        if proc is not None and proc.poll() is not None:
            return None
        status, _ = http_status(url, timeout=1.0)
        if status == 200:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(interval)
    return None


def rss_bytes(pid: int) -> int:
    """
    The resident set size of process C{pid}, from /proc.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def python_argv(*args: str) -> list[str]:
    """
    C{sys.executable} with C{args}.
    """
    return [sys.executable, *args]


# --------------------------------------------------------------------------------------------------
# Statistics


def percentile(values: list[float], q: float) -> float:
    """
    The C{q}-th percentile (0..100) of C{values}, nearest-rank; 0.0 for no values.
    """
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1)))))
    return float(s[k])


def summarize(samples: list[dict]) -> dict:
    """
    Summarize repeats of one scenario: min / median / max of throughput, median of the repeats'
    median and p99 latencies, and any extra numeric fields by median.
    """
    ok = [s for s in samples if s.get("throughput") is not None]
    if not ok:
        return {"repeats": 0}
    tps = [s["throughput"] for s in ok]
    out: dict = {
        "repeats": len(ok),
        "throughput_min": min(tps),
        "throughput_median": statistics.median(tps),
        "throughput_max": max(tps),
    }
    for key in ("p50_ms", "p99_ms"):
        vals = [s[key] for s in ok if s.get(key) is not None]
        if vals:
            out[key] = statistics.median(vals)
    skip = {"throughput", "p50_ms", "p99_ms"}
    for key in ok[0]:
        if key in skip:
            continue
        vals = [s[key] for s in ok if isinstance(s.get(key), (int, float)) and not isinstance(s.get(key), bool)]
        if vals and len(vals) == len(ok):
            out[key] = statistics.median(vals)
        elif key not in out:
            out[key] = ok[-1].get(key)
    return out


def deep_copy(obj: Any) -> Any:
    """
    A deep copy (for object templates).
    """
    return copy.deepcopy(obj)
