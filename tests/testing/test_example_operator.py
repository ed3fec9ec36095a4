"""
Tests of the worked example in C{examples/widget-operator}: a kopf operator for a C{Widget} CRD and
its pytest suite, which runs the operator against the kapid of kapid's pytest plugin (happy path, a
conflict on update retried, a watch closed and resumed, a 410 that forces a re-list). Run from trial
like the pytester cases: the example's suite in a C{pytest} subprocess, failing with its whole
output unless every one of its tests passed.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from kapid.testing.process import PACKAGE_ROOT

#: The example, in the source tree this test is part of.
EXAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples", "widget-operator")

#: The example's tests (all must pass).
EXAMPLE_TESTS = 4


class WidgetOperatorExampleTestCase(SynchronousTestCase):
    """
    The example's own test suite passes.
    """

    def test_example_suite(self) -> None:
        """
        C{pytest} in the example's directory (its C{pytest.ini}: the Widget CRD through
        C{kapid_crds}, fault injection on) passes every test, with the plugin of this tree.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        env = dict(os.environ)
        env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "KUBECONFIG"):
            env.pop(name, None)
        command = [
            sys.executable, "-m", "pytest", "-p", "kapid.testing.pytest_plugin", "-p", "no:cacheprovider",
            "-c", os.path.join(EXAMPLE, "pytest.ini"), "--rootdir", EXAMPLE,
            f"--basetemp={os.path.join(base, 'pytest')}", "-q", "-rfE", os.path.join(EXAMPLE, "tests"),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=base, env=env)
        except subprocess.TimeoutExpired as e:
            self.fail(f"the example's tests did not finish within 180s:\n{e.stdout!r}\n{e.stderr!r}")
        out = done.stdout + done.stderr
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        summary = lines[-1] if lines else ""
        self.assertEqual(
            (done.returncode, summary.split(" in ")[0]), (0, f"{EXAMPLE_TESTS} passed"),
            f"examples/widget-operator tests:\n{out}",
        )
