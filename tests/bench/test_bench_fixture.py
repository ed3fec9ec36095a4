"""
Tests for C{bench/fixture.py}: the fixture benchmark runs and reports its figures.
"""

from __future__ import annotations

import json
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench.common import REPO, child_env


class FixtureBenchTests(SynchronousTestCase):
    """
    C{python -m bench.fixture}.
    """

    def test_figures(self) -> None:
        """
        It exits 0 and prints the start-up time (with its import and ready marks, in order) and one
        time per namespace round trip.
        """
        done = subprocess.run([sys.executable, "-m", "bench.fixture", "--roundtrips=3"], capture_output=True,
                              text=True, timeout=120, env=child_env(), cwd=REPO)
        self.assertEqual(done.returncode, 0, done.stderr)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        self.assertGreater(figures["startup_s"], 0)
        self.assertLess(0, figures["import_s"])
        self.assertLess(figures["import_s"], figures["ready_s"])
        self.assertLessEqual(figures["ready_s"], figures["startup_s"])
        self.assertEqual(len(figures["roundtrip_ms"]), 3)
        self.assertTrue(all(t > 0 for t in figures["roundtrip_ms"]))
