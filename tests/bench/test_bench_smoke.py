"""
Smoke test of the benchmark harness: the ceiling part of C{bench/run} in its tiny mode (a few
hundred requests per figure, one repeat) against a real etcd and real ceiling servers.
"""

from __future__ import annotations

import json
import os
import sys

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from bench.common import REPO, child_env

#: Every ceiling figure the harness must produce.
CEILINGS = (
    [f"ceiling/{kind}/c{c}" for kind in ("web", "klein_json", "etcd_put", "etcd_range", "etcd_txn")
     for c in (1, 16, 64)]
    + ["ceiling/etcd_watch/w10", "startup/twistd_web"]
)


class CeilingSmokeTests(TestCase):
    """
    C{bench/run --tiny --only ceiling,startup/} runs every ceiling scenario.
    """

    timeout = 120

    async def run_bench(self, out: str) -> tuple[bytes, bytes, int]:
        from twisted.internet import reactor
        from twisted.internet.utils import getProcessOutputAndValue

        return await getProcessOutputAndValue(
            sys.executable,
            ["-m", "bench.run", "--tiny", "--backend", "etcd", "--only", "ceiling,startup/", "--out", out],
            env=child_env(),
            path=REPO,
            reactor=reactor,
        )

    def test_ceilings_reported(self) -> Deferred:
        """
        The tiny ceiling run exits 0 and its results.json holds every ceiling with a positive figure.
        """
        out = os.path.abspath(self.mktemp())

        async def go() -> None:
            stdout, stderr, code = await self.run_bench(out)
            self.assertEqual(code, 0, (stdout + stderr)[-2000:])
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
            for name in CEILINGS:
                entry = results["scenarios"].get(name)
                self.assertIsNotNone(entry, f"{name} missing")
                self.assertEqual(entry["status"], "ok", f"{name}: {entry.get('reason')}")
                self.assertGreater(entry["summary"]["throughput_median"], 0, name)
            self.assertTrue(os.path.exists(os.path.join(out, "ratios.png")))

        return Deferred.fromCoroutine(go())
