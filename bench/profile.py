"""
C{python3 -m bench.profile [--backend embedded|etcd] [--scenario get|create|list|list_rv0] [--seconds N]}:
where a kapid process spends its time under one load.

Starts a real etcd (for C{--backend etcd}) and a C{twistd -n kapid}, prepares the objects, then runs
C{wrk} against the insecure port while C{py-spy record} (PyPI C{py-spy}) samples the kapid process.
Prints the functions with the largest self time and inclusive time (the share of samples whose stack
holds them), and writes the raw collapsed stacks (flame-graph input) to C{--out}.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench import wrk
from bench.common import Processes, configmap, free_port, http_status, python_argv, wait_for_200
from bench.run import TWISTD


def summarize_collapsed(path: str, top: int = 25) -> str:
    """
    Self and inclusive shares per function from py-spy's raw (collapsed) output.
    """
    self_t: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = 0
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, n = line.rpartition(" ")
            count = int(n)
            frames = [fr.split(" (")[0] + " (" + fr.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                      if " (" in fr else fr for fr in stack.split(";")]
            total += count
            self_t[frames[-1]] += count
            for fr in set(frames):
                incl[fr] += count
    out = [f"{total} samples", "", "self time:"]
    for fr, n in self_t.most_common(top):
        out.append(f"  {100.0 * n / total:5.1f}%  {fr}")
    out += ["", "inclusive time:"]
    for fr, n in incl.most_common(top + 15):
        out.append(f"  {100.0 * n / total:5.1f}%  {fr}")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """
    Entry point.
    """
    p = argparse.ArgumentParser(prog="python3 -m bench.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("embedded", "etcd"), default="embedded")
    p.add_argument("--scenario", choices=("get", "create", "list", "list_rv0"), default="get")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "kapid-profile"))
    args = p.parse_args(argv)
    pyspy = shutil.which("py-spy")
    if not pyspy:
        print("py-spy is missing: pip install py-spy")
        return 2
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="kapid-profile-")
    procs = Processes()
    procs.install_signal_handlers()
    try:
        extra: list[str] = []
        if args.backend == "etcd":
            cport, pport = free_port(), free_port()
            url, peer = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{pport}"
            e = procs.start(["etcd", "--name", "p", "--data-dir", os.path.join(tmp, "etcd"),
                             "--listen-client-urls", url, "--advertise-client-urls", url,
                             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                             "--initial-cluster", f"p={peer}", "--log-level", "error"],
                            os.path.join(args.out, "etcd.log"))
            if wait_for_200(url + "/health", e, 30) is None:
                raise SystemExit("etcd did not start")
            extra = ["--etcd-servers", url]
        port = free_port()
        k = procs.start(python_argv(*TWISTD, "-n", "--pidfile=", "kapid", "--insecure-port", str(port),
                                    "--secure-port", str(free_port()), "--bind-address", "127.0.0.1",
                                    "--data-dir", os.path.join(tmp, "data"), *extra),
                        os.path.join(args.out, "kapid.log"))
        base = f"http://127.0.0.1:{port}"
        if wait_for_200(base + "/readyz", k, 60) is None:
            raise SystemExit("kapid did not become ready")
        ns = "prof"
        http_status(base + "/api/v1/namespaces", "POST",
                    json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).encode(),
                    {"Content-Type": "application/json"})
        path = f"/api/v1/namespaces/{ns}/configmaps"
        if args.scenario.startswith("list"):
            for i in range(1000):
                http_status(base + path, "POST", json.dumps(configmap(f"o{i}", ns)).encode(),
                            {"Content-Type": "application/json"})
        else:
            http_status(base + path, "POST", json.dumps(configmap("one", ns)).encode(),
                        {"Content-Type": "application/json"})
        if args.scenario == "get":
            script = wrk.script_get(path + "/one")
        elif args.scenario == "create":
            script = wrk.script_create(path, json.dumps(configmap("@NAME@", ns)), f"p{time.monotonic_ns()}")
        else:
            script = wrk.script_get(path + ("?resourceVersion=0" if args.scenario == "list_rv0" else ""))
        raw = os.path.join(args.out, f"{args.backend}-{args.scenario}.collapsed")
        spy = subprocess.Popen([pyspy, "record", "--pid", str(k.pid), "--format", "raw", "--output", raw,
                                "--duration", str(args.seconds + 1), "--rate", "200", "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.procs.append(spy)
        time.sleep(0.5)
        res = wrk.run_wrk(base, script, args.concurrency, args.seconds)
        spy.wait(args.seconds + 30)
        print(f"{args.backend} {args.scenario} c{args.concurrency}: {res['throughput']:,.0f} req/s, "
              f"p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms (under py-spy)")
        if os.path.exists(raw):
            print(summarize_collapsed(raw))
            print(f"\ncollapsed stacks: {raw}")
        else:
            print("py-spy wrote nothing:", spy.stderr.read().decode()[-500:] if spy.stderr else "")
    finally:
        procs.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
