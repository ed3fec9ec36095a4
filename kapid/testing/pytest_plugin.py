"""
kapid's pytest plugin: a real Kubernetes API server for the tests of operators and controllers.

Installed with kapid (the C{pytest11} entry point C{kapid}); inert unless a test uses its fixtures
(C{-p no:kapid} turns it off altogether)::

    def test_configmap(kapid, kapid_namespace):
        api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(kapid.client_configuration()))
        api.create_namespaced_config_map(kapid_namespace, {"metadata": {"name": "x"}})
        subprocess.run(["kubectl", "-n", kapid_namespace, "get", "cm"], env=kapid.client_env, check=True)

Fixtures:

  - C{kapid} (session): one C{twistd kapid} on free loopback ports with a temporary data dir
    (embedded store; etcd with C{--kapid-etcd}), ready (C{/readyz}) before the first test that uses
    it, stopped with SIGTERM at the end of the session (a non-zero exit status is an error). It is a
    L{kapid.testing.process.KapidProcess}: C{url}, C{secure_url}, C{insecure_url}, C{kubeconfig},
    C{client_configuration()} (C{kubernetes}), C{asyncio_configuration()} (C{kubernetes_asyncio}),
    C{client_env} (C{KUBECONFIG} for a subprocess C{kubectl}), C{request(method, path, body)}, C{log}.
    If kapid cannot start, every test that needs it fails with kapid's own message and log.
  - C{kapid_namespace} (function): the name of a fresh namespace, deleted after the test.

Options (command line, or the same names with underscores in C{pytest.ini}/C{[tool.pytest.ini_options]}):

  - C{--kapid-crds DIR} (ini C{kapid_crds}): install the CustomResourceDefinitions in DIR at
    start-up (kapid's C{--crd-dir}).
  - C{--kapid-flag FLAG} (repeatable; ini C{kapid_flags}, shell-split): more kapid flags.
  - C{--kapid-etcd URLS} (ini C{kapid_etcd}): store in etcd (under a fresh prefix).
  - C{--kapid-faults} (ini C{kapid_faults = true}): fault injection on; tests arm faults with
    C{kapid.faults.inject(verb=..., resource=..., code=409)} (see L{kapid.server.faults}).
  - C{--kapid-url URL} (ini C{kapid_url}), C{--kapid-kubeconfig PATH} (ini C{kapid_kubeconfig}):
    use a kapid that is already running instead of starting one.
  - C{--kapid-keep} (ini C{kapid_keep}): keep the data dir (and log) when a test failed.
  - C{--kapid-start-timeout SECONDS} (ini C{kapid_start_timeout}; default 30).

When a test that uses kapid fails, the part of kapid's log written during it is attached to its
report.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from typing import Any, Iterator, Optional

import pytest

_SERVER = pytest.StashKey[Any]()
_FAILURE = pytest.StashKey[str]()
_KEPT = pytest.StashKey[str]()
_LOG_START = pytest.StashKey[int]()

#: The label every namespace of C{kapid_namespace} carries.
NAMESPACE_LABEL = "kapid.testing/pytest"


def pytest_addoption(parser: Any) -> None:
    """
    The C{--kapid-*} options and their C{pytest.ini} twins.
    """
    group = parser.getgroup("kapid", "kapid: a real Kubernetes API server for tests")
    group.addoption("--kapid-crds", metavar="DIR", default=None,
                    help="install the CustomResourceDefinitions in DIR at start-up (kapid's --crd-dir)")
    group.addoption("--kapid-flag", metavar="FLAG", action="append", default=[],
                    help="pass FLAG to kapid (repeatable), e.g. --kapid-flag=--authorization-mode=RBAC")
    group.addoption("--kapid-etcd", metavar="URLS", default=None,
                    help="store objects in etcd at URLS (comma separated) under a fresh prefix")
    group.addoption("--kapid-faults", action="store_true", default=None,
                    help="start kapid with --enable-fault-injection=true (kapid.faults.inject(...) in tests)")
    group.addoption("--kapid-url", metavar="URL", default=None,
                    help="use the kapid already running at URL instead of starting one")
    group.addoption("--kapid-kubeconfig", metavar="PATH", default=None,
                    help="the kubeconfig for --kapid-url (default: none; anonymous)")
    group.addoption("--kapid-keep", action="store_true", default=None,
                    help="keep kapid's data dir and log when a test failed")
    group.addoption("--kapid-start-timeout", metavar="SECONDS", type=float, default=None,
                    help="how long to wait for kapid to be ready (default 30)")
    parser.addini("kapid_crds", "CustomResourceDefinitions to install (kapid's --crd-dir); relative to the ini file")
    parser.addini("kapid_flags", "more kapid flags (shell-split)", type="args")
    parser.addini("kapid_etcd", "etcd URLs to store objects in")
    parser.addini("kapid_faults", "start kapid with --enable-fault-injection=true", type="bool", default=False)
    parser.addini("kapid_url", "the URL of a running kapid to use instead of starting one")
    parser.addini("kapid_kubeconfig", "the kubeconfig for kapid_url; relative to the ini file")
    parser.addini("kapid_keep", "keep kapid's data dir and log when a test failed", type="bool", default=False)
    parser.addini("kapid_start_timeout", "how long to wait for kapid to be ready, in seconds")


def _ini_path(config: Any, value: str) -> str:
    base = os.path.dirname(str(config.inipath)) if config.inipath else str(config.rootpath)
    return os.path.abspath(os.path.join(base, os.path.expanduser(value)))


class Settings:
    """
    The plugin's settings: each command-line option, else its ini value.

    @ivar args: the kapid flags (C{--kapid-crds} as C{--crd-dir=...}, then ini flags, then options).
    """

    def __init__(self, config: Any) -> None:
        option = config.option
        crds = option.kapid_crds and os.path.abspath(option.kapid_crds)
        if not crds and config.getini("kapid_crds"):
            crds = _ini_path(config, config.getini("kapid_crds"))
        self.args: list[str] = [f"--crd-dir={crds}"] if crds else []
        faults = option.kapid_faults if option.kapid_faults is not None else config.getini("kapid_faults")
        if faults:
            self.args.append("--enable-fault-injection=true")
        self.args += list(config.getini("kapid_flags")) + list(option.kapid_flag)
        self.etcd: Optional[str] = option.kapid_etcd or config.getini("kapid_etcd") or None
        self.url: Optional[str] = option.kapid_url or config.getini("kapid_url") or None
        kubeconfig = option.kapid_kubeconfig and os.path.abspath(option.kapid_kubeconfig)
        if not kubeconfig and config.getini("kapid_kubeconfig"):
            kubeconfig = _ini_path(config, config.getini("kapid_kubeconfig"))
        self.kubeconfig: Optional[str] = kubeconfig or None
        self.keep = bool(option.kapid_keep if option.kapid_keep is not None else config.getini("kapid_keep"))
        timeout = option.kapid_start_timeout
        if timeout is None and config.getini("kapid_start_timeout"):
            timeout = float(config.getini("kapid_start_timeout"))
        self.start_timeout: float = timeout if timeout is not None else 30.0


@pytest.fixture(scope="session")
def kapid(request: Any) -> Iterator[Any]:
    """
    One kapid for the session (or the one C{--kapid-url} names): a
    L{kapid.testing.process.KapidProcess} (or L{kapid.testing.process.RunningKapid}).
    """
    from kapid.testing.process import KapidExitError, KapidProcess, KapidStartError, RunningKapid

    config = request.config
    settings = Settings(config)
    if settings.url:
        running = RunningKapid(settings.url, settings.kubeconfig)
        try:
            running.check_running()
        except KapidExitError as e:
            pytest.fail(f"--kapid-url: {e.reason}", pytrace=False)
        config.stash[_SERVER] = running
        yield running
        shutil.rmtree(running.files_dir, ignore_errors=True)
        return
    process = KapidProcess(args=settings.args, etcd_servers=settings.etcd, keep=True)
    config.stash[_SERVER] = process
    try:
        process.start_blocking(settings.start_timeout)
    except KapidStartError as e:
        config.stash[_FAILURE] = str(e)
        _finish(config, process, settings, failed=True)
        pytest.fail(str(e), pytrace=False)
    try:
        yield process
    finally:
        failure: Optional[str] = None
        try:
            process.stop_blocking(check=True)
        except KapidExitError as e:
            failure = str(e)
        _finish(config, process, settings, failed=bool(failure) or request.session.testsfailed > 0)
        if failure:
            pytest.fail(failure, pytrace=False)


def _finish(config: Any, process: Any, settings: Settings, failed: bool) -> None:
    """
    Keep the data dir (C{--kapid-keep} and a failure) or remove it.
    """
    if settings.keep and failed:
        config.stash[_KEPT] = process.base_dir
    else:
        shutil.rmtree(process.base_dir, ignore_errors=True)


def _namespace_name(test_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    base = re.sub(r"-+", "-", base)[:40].strip("-") or "test"
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kapid_namespace(kapid: Any, request: Any) -> Iterator[str]:
    """
    The name of a fresh namespace for this test (labelled C{kapid.testing/pytest}), deleted after it.
    """
    name = _namespace_name(request.node.name)
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {NAMESPACE_LABEL: "true"}}}
    code, answer = kapid.request("POST", "/api/v1/namespaces", body)
    if code != 201:
        pytest.fail(f"kapid_namespace: creating namespace {name} answered {code}: {answer}", pytrace=False)
    yield name
    code, answer = kapid.request("DELETE", f"/api/v1/namespaces/{name}")
    if code not in (200, 202, 404):
        pytest.fail(f"kapid_namespace: deleting namespace {name} answered {code}: {answer}", pytrace=False)


def _uses_kapid(item: Any) -> bool:
    return "kapid" in getattr(item, "fixturenames", ())


def _log_size(server: Any) -> int:
    path = getattr(server, "log_path", "")
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def pytest_runtest_setup(item: Any) -> None:
    """
    For a test that uses kapid: note where kapid's log is, and fail at once if kapid has exited.
    """
    if not _uses_kapid(item):
        return
    server = item.config.stash.get(_SERVER, None)
    item.stash[_LOG_START] = _log_size(server) if server is not None else 0
    if server is not None and getattr(server, "process", None) is not None:
        from kapid.testing.process import KapidExitError

        try:
            server.check_running()
        except KapidExitError as e:
            pytest.fail(str(e), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """
    Attach the part of kapid's log written during a failed test that uses kapid to its report.
    """
    report: Any = yield
    if report.failed and _uses_kapid(item):
        server = item.config.stash.get(_SERVER, None)
        path = getattr(server, "log_path", "")
        if path:
            try:
                with open(path, "rb") as f:
                    f.seek(item.stash.get(_LOG_START, 0))
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            lines = text.splitlines()
            if not lines:
                return report
            if len(lines) > 400:
                lines = [f"(last 400 of {len(lines)} lines; all of it in {path})"] + lines[-400:]
            report.sections.append((f"kapid log ({report.when}; {path})", "\n".join(lines)))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """
    Say where a kept data dir is.
    """
    kept = terminalreporter.config.stash.get(_KEPT, None)
    if kept:
        terminalreporter.write_line(f"kapid: data dir and log kept in {kept}")


__all__ = ["NAMESPACE_LABEL", "Settings", "kapid", "kapid_namespace"]
