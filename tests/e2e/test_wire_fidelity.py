"""
End to end, issue 18 as its reporter met it: the official Python client's C{VersionApi.get_code()}
(C{GET /version/}), its read-then-replace of unchanged objects (times re-serialised with
C{+00:00}), a malformed query parameter, and Helm's protobuf C{DeleteOptions}, against a real
C{twistd kapid}.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from kubernetes import client
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from tests.apimachinery.test_protobuf import _body
from tests.e2e.helpers import start_kapid


def _raw(url: str, method: str = "GET", data: bytes | None = None, content_type: str = "") -> tuple[int, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _session(url: str) -> dict:
    cfg = client.Configuration()
    cfg.host = url
    api = client.ApiClient(cfg)
    core, apps, rbac = client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
    out: dict = {"version": client.VersionApi(api).get_code().minor}
    ns = "default"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "resources": {"requests": {"cpu": "1000m"}}}]}}},
    })
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns, "apiGroup": ""}],
    })
    import time

    time.sleep(1.1)  # a rewrite would carry a new managedFields time
    pairs = []
    for read, replace, name in (
        (core.read_namespaced_config_map, core.replace_namespaced_config_map, "c"),
        (apps.read_namespaced_deployment, apps.replace_namespaced_deployment, "d"),
        (rbac.read_namespaced_role_binding, rbac.replace_namespaced_role_binding, "rb"),
    ):
        got = read(name, ns)
        pairs.append((got.metadata.resource_version, replace(name, ns, got).metadata.resource_version))
    out["replaced"] = pairs
    out["subjects"] = [s.to_dict() for s in rbac.read_namespaced_role_binding("rb", ns).subjects]
    out["cpu"] = apps.read_namespaced_deployment("d", ns).spec.template.spec.containers[0].resources.requests
    out["bad_timeout"] = _raw(f"{url}/api/v1/namespaces/{ns}/configmaps?timeoutSeconds=abc")
    out["protobuf_delete"] = _raw(
        f"{url}/api/v1/namespaces/{ns}/configmaps/c", "DELETE", _body("v1", "DeleteOptions", b""),
        "application/vnd.kubernetes.protobuf",
    )[0]
    return out


class WireFidelityTests(TestCase):
    """
    The Python client's session against a real kapid.
    """

    timeout = 120

    async def test_python_client(self) -> None:
        kapid = await start_kapid(self)
        out = await deferToThread(_session, kapid.insecure_url)
        self.assertEqual(out["version"], "33")
        for before, after in out["replaced"]:
            self.assertEqual(before, after)
        self.assertEqual(out["subjects"], [{"api_group": None, "kind": "ServiceAccount", "name": "default",
                                            "namespace": "default"}])
        self.assertEqual(out["cpu"], {"cpu": "1"})
        code, status = out["bad_timeout"]
        self.assertEqual((code, status["message"]), (400, 'strconv.ParseInt: parsing "abc": invalid syntax'))
        self.assertEqual(out["protobuf_delete"], 200)
