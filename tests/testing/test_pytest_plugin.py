"""
Tests for L{kapid.testing.pytest_plugin}, run from trial: each test runs one case of
C{pytest_plugin_cases/plugin_cases.py} (written for pytest's C{pytester} fixture) in a
C{pytest -p pytester} subprocess and fails with pytest's whole output unless exactly that case
passed. Plugin autoloading is off in these runs, so the plugin under test is the one in this tree.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from kapid.testing.process import PACKAGE_ROOT

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytest_plugin_cases")
CASES = os.path.join(CASES_DIR, "plugin_cases.py")


class PluginCaseTestCase(SynchronousTestCase):
    """
    Runs pytester cases.
    """

    def run_case(self, name: str, passed: int = 1) -> None:
        """
        Run C{plugin_cases.py::name} and fail unless C{passed} tests passed and nothing else happened.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        env = dict(os.environ)
        env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        for name_ in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "KUBECONFIG"):
            env.pop(name_, None)
        command = [
            sys.executable, "-m", "pytest", "-p", "pytester", "-p", "no:cacheprovider",
            "-c", os.path.join(CASES_DIR, "pytest.ini"), "--rootdir", CASES_DIR,
            f"--basetemp={os.path.join(base, 'pytest')}", "-q", "-rfE", f"{CASES}::{name}",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=base, env=env)
        except subprocess.TimeoutExpired as e:
            self.fail(f"pytest {name} did not finish within 300s:\n{e.stdout!r}\n{e.stderr!r}")
        out = done.stdout + done.stderr
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        summary = lines[-1] if lines else ""
        self.assertEqual(
            (done.returncode, summary.split(" in ")[0]), (0, f"{passed} passed"),
            f"pytest {name}:\n{out}",
        )

    def test_start_stop(self) -> None:
        """
        One kapid per session, ready before the first test; exited and its temp dir gone after.
        """
        self.run_case("test_start_stop")

    def test_clients(self) -> None:
        """
        The kubernetes client, kubernetes_asyncio and a subprocess kubectl reach the fixture's kapid.
        """
        self.run_case("test_clients")

    def test_flags_from_options_and_ini(self) -> None:
        """
        C{--kapid-flag} (repeatable) and C{kapid_flags} in pytest.ini reach kapid.
        """
        self.run_case("test_flags_from_options_and_ini")

    def test_faults(self) -> None:
        """
        C{--kapid-faults} and C{kapid_faults} turn fault injection on for the fixture's kapid.
        """
        self.run_case("test_faults")

    def test_crds_option(self) -> None:
        """
        C{--kapid-crds DIR} passes C{--crd-dir} with DIR made absolute.
        """
        self.run_case("test_crds_option")

    def test_crds_ini_relative_to_ini_file(self) -> None:
        """
        C{kapid_crds} in pytest.ini is relative to the ini file.
        """
        self.run_case("test_crds_ini_relative_to_ini_file")

    def test_bad_crd_dir(self) -> None:
        """
        A CRD directory kapid refuses fails the tests with kapid's own message.
        """
        self.run_case("test_bad_crd_dir_fails_with_kapids_message")

    def test_namespace_isolation(self) -> None:
        """
        A fresh namespace per test, deleted after it.
        """
        self.run_case("test_namespace_isolation")

    def test_reuse_running_server(self) -> None:
        """
        C{--kapid-url} (or C{kapid_url} and C{kapid_kubeconfig}) reuse a running kapid.
        """
        self.run_case("test_reuse_running_server")

    def test_reuse_unreachable_server(self) -> None:
        """
        An unreachable C{--kapid-url} fails the tests that need kapid.
        """
        self.run_case("test_reuse_unreachable_server")

    def test_failure_report(self) -> None:
        """
        A failed test that uses kapid gets kapid's log of the test in its report.
        """
        self.run_case("test_failure_report")

    def test_keep(self) -> None:
        """
        C{--kapid-keep} and C{kapid_keep} keep the data dir of a failed run.
        """
        self.run_case("test_keep", passed=2)

    def test_keep_without_failure_removes(self) -> None:
        """
        C{--kapid-keep} keeps nothing when every test passed.
        """
        self.run_case("test_keep_without_failure_removes")

    def test_bad_flag(self) -> None:
        """
        A bad flag fails the tests that need kapid with kapid's message.
        """
        self.run_case("test_bad_flag")

    def test_port_in_use(self) -> None:
        """
        A port in use fails the tests with kapid's error.
        """
        self.run_case("test_port_in_use")

    def test_unwritable_data_dir(self) -> None:
        """
        A data dir that cannot be written fails the tests with kapid's error.
        """
        self.run_case("test_unwritable_data_dir")

    def test_kapid_dies_during_the_session(self) -> None:
        """
        kapid exiting during the session fails the later tests that need it; the session ends.
        """
        self.run_case("test_kapid_dies_during_the_session")

    def test_inert_unless_used(self) -> None:
        """
        No kapid is started for tests that do not use it; C{--help} lists the options.
        """
        self.run_case("test_inert_unless_used")

    def test_every_case_is_run(self) -> None:
        """
        Every case in plugin_cases.py has a test here (a new case cannot be forgotten).
        """
        with open(CASES, encoding="utf-8") as f:
            cases = {line.split("(")[0][4:] for line in f if line.startswith("def test_")}
        with open(__file__, encoding="utf-8") as f:
            source = f.read()
        self.assertEqual(sorted(c for c in cases if f'"{c}"' not in source), [])


class EntryPointTests(SynchronousTestCase):
    """
    The plugin is registered with pytest through setup.cfg.
    """

    def test_pytest11_entry_point(self) -> None:
        """
        setup.cfg names the plugin module under C{pytest11}, and that module imports.
        """
        parser = configparser.ConfigParser()
        parser.read(os.path.join(PACKAGE_ROOT, "setup.cfg"))
        entries = [e.strip() for e in parser["options.entry_points"]["pytest11"].splitlines() if e.strip()]
        self.assertEqual(entries, ["kapid = kapid.testing.pytest_plugin"])
        import kapid.testing.pytest_plugin as plugin

        self.assertTrue(callable(plugin.pytest_addoption))

    def test_autoloaded_when_installed(self) -> None:
        """
        Installed (as the test command installs kapid), pytest loads the plugin by itself: its
        options are in C{pytest --help}, and C{-p no:kapid} turns it off.
        """
        from importlib.metadata import entry_points

        names = [e.value for e in entry_points(group="pytest11") if e.name == "kapid"]
        self.assertEqual(names, ["kapid.testing.pytest_plugin"],
                         "kapid's pytest11 entry point is not installed (pip install '.[test]')")
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env["PYTHONPATH"] = PACKAGE_ROOT
        help_text = [
            subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra, "--help"],
                           capture_output=True, text=True, timeout=120, cwd=base, env=env).stdout
            for extra in ([], ["-p", "no:kapid"])
        ]
        self.assertIn("--kapid-url=URL", help_text[0])
        self.assertIn("--help", help_text[1])
        self.assertNotIn("--kapid-url", help_text[1])
