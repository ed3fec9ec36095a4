"""
The RBAC rows (issue 11): GET of one ConfigMap over HTTPS with a bearer token (C{--token-auth-file})
on two kapid processes on the embedded store, one with C{--authorization-mode=RBAC} where the user
is bound through one RoleBinding among N (1,000 in a full run) and one with C{AlwaysAllow}; the
ratio of the two is the cost of authorization.

Scenarios: C{embedded/rbac_get/c16} and C{embedded/rbac_allow_get/c16}; and
C{embedded/sa_token_get/c16}: the AlwaysAllow server with a ServiceAccount token from a TokenRequest
instead of the token file (the cost of service account token authentication: cached verification
plus the bound objects' lookups).
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import urllib.request
from typing import Any, Optional

from bench import wrk
from bench.common import free_port, http_status, python_argv, wait_for_200

TOKEN = "bench-rbac-token"
USER = "bench-user"
NAMESPACE = "bench-rbac"
PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/one"


def bindings_for(mode: str) -> int:
    """
    How many RoleBindings the namespace gets (the user's is one of them).
    """
    return {"full": 1000, "quick": 200}.get(mode, 20)


def _script(token: str = TOKEN) -> str:
    return (
        f"wrk.method = 'GET'\nwrk.path = '{PATH}'\n"
        f"wrk.headers['Authorization'] = 'Bearer {token}'\n" + wrk._DONE
    )


def _service_account_token(base: str) -> str:
    """
    A token of the ServiceAccount C{bench-sa} (created here) from a TokenRequest.
    """
    _post(base, f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
          {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bench-sa"}})
    status, data = http_status(base + f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/bench-sa/token", "POST",
                               json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                           "spec": {"expirationSeconds": 86400}}).encode(),
                               {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"TokenRequest answered {status}: {data[:200]!r}")
    return json.loads(data)["status"]["token"]


def _start(bench: Any, mode: str, token_file: str) -> dict:
    from bench.run import TWISTD, NotAvailable  # noqa: F401

    insecure, secure = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix=f"data-rbac-{mode}-", dir=bench.tmp)
    argv = python_argv(*TWISTD, "-n", "--pidfile=", "kapid", "--insecure-port", str(insecure),
                       "--secure-port", str(secure), "--bind-address", "127.0.0.1", "--data-dir", data_dir,
                       f"--authorization-mode={mode}", f"--token-auth-file={token_file}")
    log = os.path.join(bench.logs, f"kapid-rbac-{mode}.log")
    proc = bench.procs.start(argv, log)
    url = f"http://127.0.0.1:{insecure}"
    error = None
    if wait_for_200(url + "/readyz", proc, 60.0) is None:
        error = f"kapid ({mode}) did not become ready; see {log}"
    return {"proc": proc, "url": url, "secure": f"https://127.0.0.1:{secure}", "error": error}


def _post(base: str, path: str, obj: dict) -> None:
    status, data = http_status(base + path, "POST", json.dumps(obj).encode(), {"Content-Type": "application/json"})
    if status not in (201, 409):
        raise RuntimeError(f"POST {path} answered {status}: {data[:200]!r}")


def _populate(base: str, bindings: int) -> None:
    _post(base, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    _post(base, f"/api/v1/namespaces/{NAMESPACE}/configmaps",
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}, "data": {"k": "v" * 2000}})
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}"
    _post(base, rbac + "/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    })
    for i in range(bindings):
        user = USER if i == bindings // 2 else f"someone-{i}"
        _post(base, rbac + "/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": f"b{i:05d}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        })


def _check(secure: str) -> Optional[str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(secure + PATH, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as r:
            return None if r.status == 200 else f"GET answered {r.status}"
    except Exception as e:
        return f"GET as {USER} failed: {e}"


def setup(bench: Any) -> None:
    """
    Start the two servers and register the two scenarios (embedded backend only).
    """
    from bench.run import NotAvailable, Scenario

    if "embedded" not in bench.backends or not bench.wanted_prefix("embedded/rbac"):
        return
    token_file = os.path.join(bench.tmp, "rbac-tokens.csv")
    with open(token_file, "w") as f:
        f.write(f"{TOKEN},{USER},bench-uid\n")
    servers: dict[str, dict] = {}
    n = bindings_for(bench.settings.mode)
    for mode in ("RBAC", "AlwaysAllow"):
        info = _start(bench, mode, token_file)
        if info["error"] is None:
            try:
                _populate(info["url"], n if mode == "RBAC" else 0)
                info["error"] = _check(info["secure"])
            except Exception as e:
                info["error"] = f"setup failed: {e}"
        servers[mode] = info

    allow = servers["AlwaysAllow"]
    sa_token = ""
    if allow["error"] is None:
        try:
            sa_token = _service_account_token(allow["url"])
        except Exception as e:
            allow["sa_error"] = f"setup failed: {e}"

    def get(mode: str, c: int, token: str = TOKEN) -> dict:
        info = servers[mode]
        if info["error"] or (token != TOKEN and info.get("sa_error")):
            raise NotAvailable(info["error"] or info["sa_error"])
        return wrk.run_wrk(info["secure"], _script(token), c, bench.settings.duration)

    for c in bench.settings.kapid_concurrencies:
        bench.add(Scenario(f"embedded/rbac_get/c{c}", "embedded", "req/s", lambda c=c: get("RBAC", c),
                           note=f"GET one ConfigMap over HTTPS, bearer token, RBAC among {n} RoleBindings"))
        bench.add(Scenario(f"embedded/rbac_allow_get/c{c}", "embedded", "req/s",
                           lambda c=c: get("AlwaysAllow", c),
                           note="the same with --authorization-mode=AlwaysAllow"))
        bench.add(Scenario(f"embedded/sa_token_get/c{c}", "embedded", "req/s",
                           lambda c=c: get("AlwaysAllow", c, sa_token),
                           note="the same with a bound ServiceAccount token (TokenRequest) instead of the token file"))
