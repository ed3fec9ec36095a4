"""
Cases for kapid's pytest plugin, run with pytest's C{pytester} fixture (not a trial module:
C{tests/testing/test_pytest_plugin.py} runs each case in a C{pytest -p pytester} subprocess).

Each case writes a test module, runs pytest on it in a subprocess with the plugin
(C{-p kapid.testing.pytest_plugin}; plugin autoloading is off in these runs) and checks what
happened: outcomes, output, and what the inner tests recorded in C{record.jsonl}.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
from typing import Any

import pytest

from kapid.testing.process import KapidProcess

#: A kubectl for the cases that drive one.
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32"

#: What every inner test module imports: C{record(**values)} appends a JSON line to record.jsonl.
PRELUDE = """
import json, os

def record(**values):
    with open(os.path.join(os.path.dirname(__file__), "record.jsonl"), "a") as f:
        f.write(json.dumps(values) + "\\n")
"""


def run(pytester: Any, *args: str) -> Any:
    """
    Run pytest with the plugin in a subprocess (bounded).
    """
    return pytester.runpytest_subprocess(
        "-p", "kapid.testing.pytest_plugin", "-p", "no:cacheprovider", "-rA", *args, timeout=180
    )


def module(pytester: Any, source: str) -> None:
    """
    Write the inner test module (with L{PRELUDE}).
    """
    pytester.makepyfile(test_inner=PRELUDE + textwrap.dedent(source))


def records(pytester: Any) -> list[dict]:
    """
    What the inner tests recorded.
    """
    path = pytester.path / "record.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def gone(pid: int) -> bool:
    """
    Whether no process C{pid} exists.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_start_stop(pytester: Any) -> None:
    """
    One kapid for the session, ready before the first test; afterwards it has exited and its temp
    dir is gone.
    """
    module(pytester, """
        def test_one(kapid):
            assert kapid.request("GET", "/readyz") == (200, "ok")
            record(pid=kapid.pid, base_dir=kapid.base_dir, url=kapid.url, insecure=kapid.insecure_url,
                   kubeconfig=kapid.kubeconfig)

        def test_two(kapid):
            code, body = kapid.request("GET", "/api/v1/namespaces/default")
            assert (code, body["metadata"]["name"]) == (200, "default")
            record(pid=kapid.pid)
    """)
    result = run(pytester)
    result.assert_outcomes(passed=2)
    first, second = records(pytester)
    assert first["pid"] == second["pid"]
    assert first["url"].startswith("https://127.0.0.1:")
    assert first["insecure"].startswith("http://127.0.0.1:")
    assert first["kubeconfig"] == os.path.join(first["base_dir"], "kapid-data", "admin.kubeconfig")
    assert gone(first["pid"])
    assert not os.path.exists(first["base_dir"])


def test_clients(pytester: Any) -> None:
    """
    The kubernetes client, kubernetes_asyncio and a subprocess kubectl (KUBECONFIG) all reach it.
    """
    module(pytester, f"""
        import asyncio, subprocess
        import kubernetes, kubernetes_asyncio

        def test_kubernetes(kapid):
            api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(kapid.client_configuration()))
            assert "default" in [n.metadata.name for n in api.list_namespace().items]

        def test_kubernetes_asyncio(kapid):
            async def names():
                async with kubernetes_asyncio.client.ApiClient(kapid.asyncio_configuration()) as client:
                    namespaces = await kubernetes_asyncio.client.CoreV1Api(client).list_namespace()
                    return [n.metadata.name for n in namespaces.items]
            assert "kube-system" in asyncio.run(names())

        def test_kubectl(kapid, kapid_namespace):
            assert kapid.client_env["KUBECONFIG"] == kapid.kubeconfig
            done = subprocess.run(["{KUBECTL}", "-n", kapid_namespace, "create", "configmap", "c1"],
                                  env=kapid.client_env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            code, body = kapid.request("GET", f"/api/v1/namespaces/{{kapid_namespace}}/configmaps/c1")
            assert code == 200, body
    """)
    run(pytester).assert_outcomes(passed=3)


def test_flags_from_options_and_ini(pytester: Any) -> None:
    """
    C{kapid_flags} in pytest.ini and repeated C{--kapid-flag} options all reach kapid.
    """
    pytester.makeini("""
        [pytest]
        kapid_flags = --storage-backend=memory "--max-requests-inflight=7"
    """)
    module(pytester, """
        def test_flags(kapid):
            command = kapid.command()
            for flag in ("--storage-backend=memory", "--max-requests-inflight=7", "--watch-cache=false",
                         "--event-ttl=2h"):
                assert flag in command
            assert "Storage: memory (not persisted)" in kapid.log
    """)
    run(pytester, "--kapid-flag=--watch-cache=false", "--kapid-flag=--event-ttl=2h").assert_outcomes(passed=1)


def test_faults(pytester: Any) -> None:
    """
    C{--kapid-faults} (or C{kapid_faults = true}) starts kapid with fault injection; a test arms a
    conflict and its client sees kube's 409 once.
    """
    module(pytester, """
        import pytest

        def test_conflict(kapid, kapid_namespace):
            ns = kapid_namespace
            assert kapid.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x"}})[0] == 201
            kapid.faults.inject(verb="update", resource="configmaps", namespace=ns, name="x", code=409)
            code, body = kapid.request("PUT", f"/api/v1/namespaces/{ns}/configmaps/x", {"metadata": {"name": "x"}})
            assert (code, body["reason"]) == (409, "Conflict")
            assert kapid.request("PUT", f"/api/v1/namespaces/{ns}/configmaps/x", {"metadata": {"name": "x"}})[0] == 200
    """)
    run(pytester, "--kapid-faults").assert_outcomes(passed=1)
    pytester.makeini("""
        [pytest]
        kapid_faults = true
    """)
    run(pytester).assert_outcomes(passed=1)
    result = run(pytester, "-o", "kapid_faults=false")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*fault injection is off: start kapid with --enable-fault-injection*"])


def test_crds_option(pytester: Any) -> None:
    """
    C{--kapid-crds DIR} passes kapid's C{--crd-dir} with DIR made absolute.
    """
    crds = pytester.mkdir("crds")
    module(pytester, f"""
        def test_crd_dir(kapid):
            assert "--crd-dir={crds}" in kapid.command()
    """)
    run(pytester, "--kapid-crds=crds").assert_outcomes(passed=1)


def test_crds_ini_relative_to_ini_file(pytester: Any) -> None:
    """
    C{kapid_crds} in pytest.ini is relative to the ini file.
    """
    crds = pytester.mkdir("crds")
    pytester.makeini("""
        [pytest]
        kapid_crds = crds
    """)
    sub = pytester.mkdir("sub")
    (sub / "test_inner.py").write_text(PRELUDE + textwrap.dedent(f"""
        def test_crd_dir(kapid):
            assert "--crd-dir={crds}" in kapid.command()
    """))
    run(pytester, "sub").assert_outcomes(passed=1)


def test_bad_crd_dir_fails_with_kapids_message(pytester: Any) -> None:
    """
    A CRD directory kapid refuses (missing, or with a broken manifest) fails the tests that need
    kapid with kapid's own message.
    """
    module(pytester, """
        def test_needs_kapid(kapid):
            pass
    """)
    result = run(pytester, "--kapid-crds=missing")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*kapid exited with status 1 before it was ready: 1 problem(s) with the flags:",
        "*--crd-dir: '*/missing' does not exist",
        "*(twistd's usage text)",
    ])
    assert "Generic flags:" not in result.stdout.str()
    bad = pytester.mkdir("bad-crds")
    (bad / "broken.yaml").write_text("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec: [\n")
    result = run(pytester, "--kapid-crds=bad-crds")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*--crd-dir: {bad / 'broken.yaml'}: not valid YAML or JSON*"])


def test_namespace_isolation(pytester: Any) -> None:
    """
    Each test gets its own fresh namespace (same object names do not collide); it is deleted after
    the test.
    """
    module(pytester, """
        def make(kapid, ns):
            code, body = kapid.request("POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "same"}})
            assert code == 201, body
            code, body = kapid.request("GET", f"/api/v1/namespaces/{ns}/configmaps")
            assert [c["metadata"]["name"] for c in body["items"] if c["metadata"]["name"] != "kube-root-ca.crt"] == ["same"]
            code, body = kapid.request("GET", f"/api/v1/namespaces/{ns}")
            assert body["metadata"]["labels"]["kapid.testing/pytest"] == "true"

        def test_first(kapid, kapid_namespace):
            make(kapid, kapid_namespace)
            record(ns=kapid_namespace)

        def test_second(kapid, kapid_namespace):
            make(kapid, kapid_namespace)
            first = [r for r in [__import__("json").loads(l) for l in open(__file__.replace("test_inner.py", "record.jsonl"))]][0]["ns"]
            code, body = kapid.request("GET", f"/api/v1/namespaces/{first}")
            assert code == 404 or body["status"]["phase"] == "Terminating", body
            record(ns=kapid_namespace)
    """)
    run(pytester).assert_outcomes(passed=2)
    first, second = records(pytester)
    assert first["ns"] != second["ns"]
    assert first["ns"].startswith("test-first-") and second["ns"].startswith("test-second-")


def test_reuse_running_server(pytester: Any, tmp_path: Any) -> None:
    """
    C{--kapid-url} uses a kapid that is already running (it is not stopped afterwards);
    C{kapid_url} and C{kapid_kubeconfig} in pytest.ini do the same over HTTPS with the admin
    kubeconfig.
    """
    module(pytester, """
        def test_reuse(kapid, kapid_namespace):
            assert type(kapid).__name__ == "RunningKapid"
            code, body = kapid.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"generateName": "inner-"}})
            assert code == 201, body
            record(url=kapid.url, name=body["metadata"]["name"], ns=kapid_namespace)
    """)
    with KapidProcess(str(tmp_path / "outer")) as outer:
        run(pytester, f"--kapid-url={outer.insecure_url}").assert_outcomes(passed=1)
        pytester.makeini(f"""
            [pytest]
            kapid_url = {outer.secure_url}
            kapid_kubeconfig = {outer.kubeconfig}
        """)
        run(pytester).assert_outcomes(passed=1)
        assert outer.running
        first, second = records(pytester)
        assert (first["url"], second["url"]) == (outer.insecure_url, outer.secure_url)
        for r in (first, second):
            assert outer.request("GET", f"/api/v1/namespaces/default/configmaps/{r['name']}")[0] == 200
        assert 'URI="/api/v1/namespaces/default/configmaps" ' in outer.log
        assert 'user="system:admin"' in outer.log


def test_reuse_unreachable_server(pytester: Any) -> None:
    """
    A C{--kapid-url} nothing answers on fails the tests that need kapid, saying so.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    module(pytester, """
        def test_needs_kapid(kapid):
            pass
    """)
    result = run(pytester, f"--kapid-url=http://127.0.0.1:{port}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*--kapid-url: kapid at http://127.0.0.1:{port} is not reachable*"])


FAILING = """
    def test_passes(kapid):
        kapid.request("GET", "/api/v1/namespaces/passing-marker")

    def test_fails(kapid):
        kapid.request("GET", "/api/v1/namespaces/failing-marker")
        assert False, "the test failed"

    def test_fails_without_kapid():
        assert False, "no kapid here"
"""


def test_failure_report(pytester: Any) -> None:
    """
    A failed test that uses kapid gets the part of kapid's log written during it in its report; a
    failed test that does not use kapid gets none. Without --kapid-keep the data dir is removed.
    """
    module(pytester, FAILING)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    sections = [line for line in out.splitlines() if "kapid log (call;" in line]
    assert len(sections) == 1, out
    assert 'URI="/api/v1/namespaces/failing-marker"' in out
    assert 'URI="/api/v1/namespaces/passing-marker"' not in out
    assert "kapid: data dir and log kept" not in out
    log_path = sections[0].split("kapid log (call; ")[1].split(")")[0]
    assert not os.path.exists(os.path.dirname(log_path))


@pytest.mark.parametrize("how", ["option", "ini"])
def test_keep(pytester: Any, how: str) -> None:
    """
    C{--kapid-keep} (or C{kapid_keep = true}) keeps the data dir and log of a run with a failed test
    and says where.
    """
    module(pytester, FAILING)
    if how == "ini":
        pytester.makeini("""
            [pytest]
            kapid_keep = true
        """)
    result = run(pytester, *(["--kapid-keep"] if how == "option" else []))
    result.assert_outcomes(passed=1, failed=2)
    kept = [line for line in result.stdout.lines if line.startswith("kapid: data dir and log kept in ")]
    assert len(kept) == 1, result.stdout.str()
    base = kept[0].split(" kept in ")[1]
    log = open(os.path.join(base, "kapid.log")).read()
    assert "failing-marker" in log and "Storage closed; kapid stopped" in log
    assert os.path.exists(os.path.join(base, "kapid-data", "admin.kubeconfig"))


def test_keep_without_failure_removes(pytester: Any) -> None:
    """
    C{--kapid-keep} keeps nothing when every test passed.
    """
    module(pytester, """
        def test_passes(kapid):
            record(base_dir=kapid.base_dir)
    """)
    result = run(pytester, "--kapid-keep")
    result.assert_outcomes(passed=1)
    assert not os.path.exists(records(pytester)[0]["base_dir"])


def test_bad_flag(pytester: Any) -> None:
    """
    A flag kapid refuses fails every test that needs kapid with kapid's message (kapid is started
    once); a test that does not use kapid still passes.
    """
    module(pytester, """
        def test_a(kapid):
            pass

        def test_b(kapid_namespace):
            pass

        def test_plain():
            pass
    """)
    result = run(pytester, "--kapid-flag=--bogus-flag")
    result.assert_outcomes(passed=1, errors=2)
    out = result.stdout.str()
    assert out.count("kapid exited with status 1 before it was ready: option --bogus-flag not recognized") >= 2, out


def test_port_in_use(pytester: Any) -> None:
    """
    A port in use: the tests fail with kapid's own error (the address is in use).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        module(pytester, """
            def test_a(kapid):
                pass
        """)
        result = run(pytester, f"--kapid-flag=--secure-port={port}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*kapid exited with status 1 before it was ready: CannotListenError: "
                                 f"Couldn't listen on 127.0.0.1:{port}: [[]Errno 98[]] Address already in use*"])


def test_unwritable_data_dir(pytester: Any) -> None:
    """
    A data dir that cannot be written: the tests fail with kapid's own error.
    """
    pytester.makefile(".txt", afile="not a directory")
    module(pytester, """
        def test_a(kapid):
            pass
    """)
    result = run(pytester, f"--kapid-flag=--data-dir={pytester.path / 'afile.txt' / 'data'}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*kapid exited with status 1 before it was ready: NotADirectoryError: *afile.txt/data*"])


def test_kapid_dies_during_the_session(pytester: Any) -> None:
    """
    kapid exiting during the session fails the later tests that need it with its exit status, and
    the session ends (no hang, nothing left running).
    """
    module(pytester, """
        import signal

        def test_kills(kapid):
            record(pid=kapid.pid)
            kapid.send_signal(signal.SIGKILL)
            kapid.process.wait(10)

        def test_after(kapid):
            pass

        def test_after_namespace(kapid_namespace):
            pass
    """)
    result = run(pytester)
    out = result.stdout.str()
    assert result.parseoutcomes()["passed"] == 1, out
    assert out.count("kapid exited with status -9 while in use") >= 2, out
    assert gone(records(pytester)[0]["pid"])


def test_inert_unless_used(pytester: Any) -> None:
    """
    A session whose tests do not use kapid starts none; pytest --help lists the options.
    """
    module(pytester, """
        from kapid.testing.pytest_plugin import _SERVER

        def test_plain(request):
            assert _SERVER not in request.config.stash

        def test_later(request):
            assert _SERVER not in request.config.stash
    """)
    run(pytester).assert_outcomes(passed=2)
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*kapid: a real Kubernetes API server for tests*", "*--kapid-url=URL*",
                                 "*kapid_flags (args)*"])
