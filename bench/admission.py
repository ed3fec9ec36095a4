"""
The admission rows (issue 12): wrk POSTs of 2 KB ConfigMaps and of Pods on three kapid processes
on the embedded store: kube's default admission chain, admission off
(C{--disable-admission-plugins} of every default plugin), and the default chain with one mutating
and one validating webhook (on loopback, in their own process) matching the ConfigMaps.

Scenarios: C{embedded/admission_{on,off}_{create,pod_create}/cN} and
C{embedded/admission_webhooks_create/cN}.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from typing import Any

from bench import wrk
from bench.common import configmap, free_port, http_status, python_argv, wait_for_200

NAMESPACE = "bench-admission"


def _pod_template() -> str:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "@NAME@", "labels": {"app": "bench"}},
           "spec": {"containers": [{"name": "c", "image": "registry.example/bench:1",
                                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}
    return json.dumps(pod)


def _start(bench: Any, label: str, args: list[str]) -> dict:
    from bench.run import TWISTD

    insecure = free_port()
    data_dir = tempfile.mkdtemp(prefix=f"data-admission-{label}-", dir=bench.tmp)
    argv = python_argv(*TWISTD, "-n", "--pidfile=", "kapid", "--insecure-port", str(insecure),
                       "--secure-port", str(free_port()), "--bind-address", "127.0.0.1", "--data-dir", data_dir, *args)
    log = os.path.join(bench.logs, f"kapid-admission-{label}.log")
    proc = bench.procs.start(argv, log)
    url = f"http://127.0.0.1:{insecure}"
    error = None
    if wait_for_200(url + "/readyz", proc, 60.0) is None:
        error = f"kapid ({label}) did not become ready; see {log}"
    return {"proc": proc, "url": url, "error": error}


def _post(base: str, path: str, obj: dict, ok: tuple = (201, 409)) -> None:
    status, data = http_status(base + path, "POST", json.dumps(obj).encode(), {"Content-Type": "application/json"})
    if status not in ok:
        raise RuntimeError(f"POST {path} answered {status}: {data[:200]!r}")


def _prepare(base: str) -> None:
    _post(base, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    # the namespace's default ServiceAccount (the ServiceAccount plugin needs it) comes from the controller
    for _ in range(500):
        status, _ = http_status(f"{base}/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default")
        if status == 200:
            break
        time.sleep(0.01)
    _post(base, f"/api/v1/namespaces/{NAMESPACE}/pods", json.loads(_pod_template().replace("@NAME@", "probe")))


def _webhooks(bench: Any, base: str) -> None:
    """
    Start the webhook server and register a mutating and a validating configuration for ConfigMaps.
    """
    from kapid.testing.tls import issue, make_ca

    ca = make_ca()
    pair = issue(ca, "webhook", ("localhost",), ("127.0.0.1",))
    cert, key = os.path.join(bench.tmp, "webhook.crt"), os.path.join(bench.tmp, "webhook.key")
    from cryptography.hazmat.primitives import serialization

    with open(cert, "wb") as f:
        f.write(pair.cert_pem())
    with open(key, "wb") as f:
        f.write(pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    port = free_port()
    bench.procs.start(python_argv("-m", "bench.webhook_server", str(port), cert, key),
                      os.path.join(bench.logs, "webhook-server.log"))
    ca_b64 = base64.b64encode(ca.cert_pem()).decode()

    def hook(path: str) -> dict:
        return {"name": f"{path[1:]}.bench.example.com", "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_b64},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
                "sideEffects": "None", "admissionReviewVersions": ["v1"]}

    adm = "/apis/admissionregistration.k8s.io/v1"
    _post(base, adm + "/mutatingwebhookconfigurations", {"apiVersion": "admissionregistration.k8s.io/v1",
          "kind": "MutatingWebhookConfiguration", "metadata": {"name": "bench"}, "webhooks": [hook("/mutate")]})
    _post(base, adm + "/validatingwebhookconfigurations", {"apiVersion": "admissionregistration.k8s.io/v1",
          "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "bench"}, "webhooks": [hook("/validate")]})
    for _ in range(500):  # the webhook server is up and called
        status, data = http_status(f"{base}/api/v1/namespaces/{NAMESPACE}/configmaps", "POST",
                                   json.dumps(configmap(f"hook-probe-{time.monotonic_ns()}", NAMESPACE)).encode(),
                                   {"Content-Type": "application/json"})
        if status == 201 and b"webhooked" in data:
            return
        time.sleep(0.02)
    raise RuntimeError("the webhook server did not answer")


def setup(bench: Any) -> None:
    """
    Start the servers and register the scenarios (embedded backend only).
    """
    from bench.run import NotAvailable, Scenario
    from kapid.options.admission import DEFAULT_ON

    if "embedded" not in bench.backends or not bench.wanted_prefix("embedded/admission"):
        return
    servers: dict[str, dict] = {}
    for label, args in (("on", []), ("off", [f"--disable-admission-plugins={','.join(DEFAULT_ON)}"]), ("webhooks", [])):
        info = _start(bench, label, args)
        if info["error"] is None:
            try:
                _prepare(info["url"])
                if label == "webhooks":
                    _webhooks(bench, info["url"])
            except Exception as e:
                info["error"] = f"setup failed: {e}"
        servers[label] = info
    cm = json.dumps(configmap("@NAME@", NAMESPACE))

    def create(label: str, c: int, template: str, plural: str) -> dict:
        info = servers[label]
        if info["error"]:
            raise NotAvailable(info["error"])
        script = wrk.script_create(f"/api/v1/namespaces/{NAMESPACE}/{plural}", template, f"{label}{c}-{time.monotonic_ns()}")
        return wrk.run_wrk(info["url"], script, c, bench.settings.duration)

    for c in bench.settings.kapid_concurrencies:
        for label, note in (("on", "kube's default admission chain"), ("off", "every default admission plugin disabled")):
            bench.add(Scenario(f"embedded/admission_{label}_create/c{c}", "embedded", "req/s",
                               lambda label=label, c=c: create(label, c, cm, "configmaps"),
                               note=f"POST 2 KB ConfigMaps, {note}"))
            bench.add(Scenario(f"embedded/admission_{label}_pod_create/c{c}", "embedded", "req/s",
                               lambda label=label, c=c: create(label, c, _pod_template(), "pods"),
                               note=f"POST Pods with requests, {note}"))
        bench.add(Scenario(f"embedded/admission_webhooks_create/c{c}", "embedded", "req/s",
                           lambda c=c: create("webhooks", c, cm, "configmaps"),
                           note="POST 2 KB ConfigMaps through one mutating and one validating webhook on loopback"))
