"""
Tests of loading the shipped 1.33 definitions without importing kubernetes-validate itself.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class LoadDefinitionsTests(SynchronousTestCase):
    """
    L{kapid.apimachinery.schema.load_definitions} reads the package's data file only.
    """

    def test_no_package_import(self) -> None:
        """
        The definitions load (Pod among them) while neither kubernetes_validate nor jsonschema is
        imported (their import is a large part of start-up).
        """
        code = (
            "import sys\n"
            "from kapid.apimachinery.schema import load_definitions\n"
            "defs = load_definitions()\n"
            "print('io.k8s.api.core.v1.Pod' in defs, 'kubernetes_validate' in sys.modules, 'jsonschema' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT,
        )
        self.assertEqual((out.returncode, out.stdout.strip()), (0, "True False False"), out.stderr)
