"""
Run kapid's reliability suite (C{tests/reliability}) and print its figures: an etcd cluster with
failover and three kapid processes, faults under write load, fuzzed request bodies.

Usage::

    reliability/run                 # long form: KAPID_RELIABILITY_SCALE=5, 1,000 fuzz inputs per kind and verb
    reliability/run --quick         # the CI form (scale 1, 40 inputs)
    reliability/run --scale 10 --fuzz 5000 --only test_fuzz_bodies

Every process (etcd members, kapid) is started on loopback with temp dirs and stopped by PID by the
tests themselves. The tests run one at a time (their printed figures are collected from trial's
output), and the exit status is trial's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = ("test_etcd_cluster", "test_faults", "test_fuzz_bodies")
FIGURE = re.compile(r"^(failover:|hung member|\d+ writers x|etcd faults:|kill -9 under load:|etcd quota:|fuzz )")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="reliability/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI form (scale 1, 40 fuzz inputs)")
    parser.add_argument("--scale", type=int, default=None, help="load multiplier (default 5; 1 with --quick)")
    parser.add_argument("--fuzz", type=int, default=None, help="fuzz inputs per kind and verb (default 1000)")
    parser.add_argument("--only", default="", help="comma-separated module names (" + ", ".join(MODULES) + ")")
    args = parser.parse_args(argv)
    scale = args.scale if args.scale is not None else (1 if args.quick else 5)
    fuzz = args.fuzz if args.fuzz is not None else (40 if args.quick else 1000)
    modules = [m for m in (args.only.split(",") if args.only else MODULES) if m]
    env = dict(os.environ)
    env["KAPID_RELIABILITY_SCALE"] = str(scale)
    env["KAPID_FUZZ_EXAMPLES"] = str(fuzz)
    env["PYTHONPATH"] = TOP + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    temp = tempfile.mkdtemp(prefix="kapid-reliability-")
    cmd = [sys.executable, "-m", "twisted.trial", f"--temp-directory={temp}/_trial_temp"]
    cmd += [f"tests.reliability.{m}" for m in modules]
    print(f"reliability: scale {scale}, {fuzz} fuzz inputs per kind and verb: {' '.join(cmd[4:])}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - started
    figures = [line.strip() for line in proc.stdout.splitlines() if FIGURE.match(line.strip())]
    result = [line for line in proc.stdout.splitlines() if line.startswith(("PASSED", "FAILED"))]
    if proc.returncode != 0:
        print(proc.stdout)
    print("\n== figures ==")
    for line in figures:
        print("  " + line)
    print(f"\n{result[-1] if result else 'no trial result'} in {elapsed:.0f} s (trial's temp dir: {temp})")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
