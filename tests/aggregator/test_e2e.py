"""
End-to-end tests of the aggregator with real C{twistd kapid} processes and the real kubectl:
kube's Local APIServices and APF bootstrap objects, and one kapid aggregating a group served by
another (front and extension API server, real TLS, front-proxy certificate, request-header
authentication).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from twisted.trial.unittest import TestCase

from kapid.testing.tls import issue, make_ca
from tests.e2e.helpers import _sleep, run_kubectl, start_kapid

KUBECTL = "1.32"

#: What C{kubectl get apiservices} lists against kube-apiserver 1.33 (all Local).
KUBE_LOCAL_APISERVICES = [
    "v1.", "v1.admissionregistration.k8s.io", "v1.apiextensions.k8s.io", "v1.apps", "v1.authentication.k8s.io",
    "v1.authorization.k8s.io", "v1.autoscaling", "v1.batch", "v1.certificates.k8s.io", "v1.coordination.k8s.io",
    "v1.discovery.k8s.io", "v1.events.k8s.io", "v1.flowcontrol.apiserver.k8s.io", "v1.networking.k8s.io",
    "v1.node.k8s.io", "v1.policy", "v1.rbac.authorization.k8s.io", "v1.scheduling.k8s.io", "v1.storage.k8s.io",
    "v2.autoscaling",
]


BACKEND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns_backend.py")


def _free_port() -> int:
    """A TCP port free on loopback now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write(directory: str, name: str, data: bytes | str) -> str:
    """Write C{data} to C{directory/name}; its path."""
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


class AggregatorE2ETests(TestCase):
    """Real processes, real kubectl."""

    timeout = 240

    def k(self, kubeconfig: str, *args: str, ok: bool = True, extra: tuple = ()) -> str:
        """kubectl against C{kubeconfig}; its stdout (asserting success when C{ok})."""
        result = run_kubectl(KUBECTL, list(extra) + list(args), kubeconfig=kubeconfig, home=self.home)
        if ok:
            self.assertEqual(result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout if ok else result.stdout + result.stderr

    async def test_local_apiservices_and_flowcontrol(self) -> None:
        """get apiservices lists kube's Local ones (Available True), flowcontrol's bootstrap objects exist, the authentication ConfigMap is published."""
        self.home = self.mktemp()
        kapid = await start_kapid(self, "--storage-backend=memory")
        groups = json.loads(self.k(kapid.kubeconfig, "get", "--raw", "/apis"))["groups"]
        served = {g["name"] for g in groups}
        expected = [n for n in KUBE_LOCAL_APISERVICES if n != "v1.apiextensions.k8s.io" or "apiextensions.k8s.io" in served]
        out = self.k(kapid.kubeconfig, "get", "apiservices")
        lines = out.strip().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "SERVICE", "AVAILABLE", "AGE"])
        self.assertEqual([line.split()[0] for line in lines[1:]], expected)
        self.assertEqual({tuple(line.split()[1:3]) for line in lines[1:]}, {("Local", "True")})
        self.assertEqual(len(self.k(kapid.kubeconfig, "get", "flowschemas", "-o", "name").split()), 13)
        self.assertEqual(len(self.k(kapid.kubeconfig, "get", "prioritylevelconfigurations", "-o", "name").split()), 8)
        cm = json.loads(self.k(kapid.kubeconfig, "get", "configmap", "-n", "kube-system", "extension-apiserver-authentication", "-o", "json"))
        self.assertIn("client-ca-file", cm["data"])
        self.assertEqual(cm["data"]["requestheader-allowed-names"], '["front-proxy-client"]')

        def python_client() -> list:
            from kubernetes import client

            cfg = client.Configuration()
            cfg.host = kapid.insecure_url
            api = client.ApiregistrationV1Api(client.ApiClient(cfg))
            api.create_api_service(client.V1APIService(
                metadata=client.V1ObjectMeta(name="v1alpha1.wardle.example.com"),
                spec=client.V1APIServiceSpec(
                    group="wardle.example.com", version="v1alpha1", group_priority_minimum=1000, version_priority=15,
                    insecure_skip_tls_verify=True, service=client.ApiregistrationV1ServiceReference(namespace="wardle", name="api"),
                ),
            ))
            items = api.list_api_service().items
            return [(i.metadata.name, [(c.type, c.status, c.reason) for c in (i.status.conditions or [])]) for i in items]

        from twisted.internet.threads import deferToThread

        listed = dict(await deferToThread(python_client))
        self.assertEqual(listed["v1.apps"], [("Available", "True", "Local")])
        for _ in range(50):
            row = self.k(kapid.kubeconfig, "get", "apiservice", "v1alpha1.wardle.example.com", "--no-headers")
            if "ServiceNotFound" in row:
                break
            await _sleep(0.1)
        self.assertEqual(row.split()[1:4], ["wardle/api", "False", "(ServiceNotFound)"])

    async def pair(self, *front_args: str) -> tuple[Any, Any, Any, Any, Any]:
        """An extension kapid trusting a front-proxy CA and a front kapid presenting its client certificate; (backend, front, bk, fk, serving CA)."""
        self.home = self.mktemp()
        os.makedirs(self.home)
        certs = os.path.abspath(self.mktemp())
        os.makedirs(certs)
        serving_ca, fp_ca = make_ca("extension-serving-ca"), make_ca("front-proxy-ca")
        serving = issue(serving_ca, "api", ("api.wardle.svc", "localhost"), ("127.0.0.1",))
        client = issue(fp_ca, "front-proxy-client", server=False)
        serving_ca_file = write(certs, "serving-ca.crt", serving_ca.cert_pem())
        backend = await start_kapid(
            self, "--storage-backend=memory",
            f"--tls-cert-file={write(certs, 'api.crt', serving.cert_pem())}",
            f"--tls-private-key-file={write(certs, 'api.key', serving.key_pem())}",
            f"--requestheader-client-ca-file={write(certs, 'fp-ca.crt', fp_ca.cert_pem())}",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-allowed-names=front-proxy-client",
        )
        front = await start_kapid(
            self, "--storage-backend=memory",
            f"--proxy-client-cert-file={write(certs, 'fp.crt', client.cert_pem())}",
            f"--proxy-client-key-file={write(certs, 'fp.key', client.key_pem())}", *front_args,
        )
        bk = lambda *a, **kw: self.k(backend.kubeconfig, *a, extra=(f"--certificate-authority={serving_ca_file}",), **kw)  # noqa: E731
        fk = lambda *a, **kw: self.k(front.kubeconfig, *a, **kw)  # noqa: E731
        return backend, front, bk, fk, serving_ca

    async def test_remote_kind_explained(self) -> None:
        """
        An extension API server of a group kapid does not serve (a small TLS server with its
        discovery and OpenAPI documents): the front's /openapi/v2 gains its paths and definitions,
        /openapi/v3 its document, and kubectl lists and explains its kind.
        """
        import subprocess
        import sys

        from tests.e2e.helpers import run_kubectl_async

        self.home = self.mktemp()
        os.makedirs(self.home)
        ca = make_ca("wardle-ca")
        pair = issue(ca, "api", ("api.wardle.svc",))
        cert, key = write(self.home, "w.crt", pair.cert_pem()), write(self.home, "w.key", pair.key_pem())
        gv, kind = "wardle.example.com/v1alpha1", "com.example.wardle.v1alpha1.Flunder"
        gvk = [{"group": "wardle.example.com", "version": "v1alpha1", "kind": "Flunder"}]
        schema = {"description": "A Flunder flunds.", "type": "object", "x-kubernetes-group-version-kind": gvk,
                  "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                 "spec": {"description": "What the flunder wants.", "type": "object",
                                          "properties": {"size": {"description": "How big it is.", "type": "integer"}}}}}
        path = "/apis/wardle.example.com/v1alpha1/namespaces/{namespace}/flunders/{name}"
        ref = lambda p: {"$ref": p + kind}  # noqa: E731
        routes = {
            "/apis/wardle.example.com/v1alpha1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
                {"name": "flunders", "singularName": "flunder", "namespaced": True, "kind": "Flunder", "verbs": ["get", "list"]}]},
            "/openapi/v2": {"swagger": "2.0", "info": {"title": "wardle", "version": "v0"},
                            "paths": {path: {"get": {"responses": {"200": {"description": "OK", "schema": ref("#/definitions/")}}}},
                                      "/api/v1/pods": {"get": {"responses": {"200": {"description": "theirs"}}}}},
                            "definitions": {kind: schema}},
            "/openapi/v3/apis/wardle.example.com/v1alpha1": {
                "openapi": "3.0.0", "info": {"title": "wardle", "version": "v0"},
                "paths": {path: {"get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk[0], "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": ref("#/components/schemas/")}}}}}}},
                "components": {"schemas": {kind: schema}}},
        }
        backend_port = _free_port()
        proc = subprocess.Popen([sys.executable, BACKEND, "127.0.0.1", str(backend_port), cert, key,
                                 write(self.home, "routes.json", json.dumps(routes))], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        self.assertEqual(proc.stdout.readline().strip() if proc.stdout else "", "ready")
        front = await start_kapid(self, "--storage-backend=memory")

        async def fk(*args: str) -> str:
            result = await run_kubectl_async(KUBECTL, list(args), kubeconfig=front.kubeconfig, home=self.home)
            self.assertEqual(result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}")
            return result.stdout

        await fk("create", "namespace", "wardle")
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "wardle"},
               "spec": {"ports": [{"port": 443, "targetPort": backend_port}]}}
        eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "api", "namespace": "wardle"},
               "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": backend_port}]}]}
        apiservice = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1alpha1.wardle.example.com"},
                      "spec": {"group": "wardle.example.com", "version": "v1alpha1", "groupPriorityMinimum": 1000, "versionPriority": 15,
                               "service": {"namespace": "wardle", "name": "api", "port": 443},
                               "caBundle": base64.b64encode(ca.cert_pem()).decode()}}
        for name, obj in (("svc", svc), ("eps", eps), ("as", apiservice)):
            await fk("create", "-f", write(self.home, f"{name}.json", json.dumps(obj)))
        v2: dict = {}
        for _ in range(100):
            v2 = json.loads(await fk("get", "--raw", "/openapi/v2"))
            if path in v2["paths"]:
                break
            await _sleep(0.2)
        self.assertTrue(path in v2["paths"], "the backend's path is merged")
        self.assertEqual(v2["definitions"][kind]["description"], "A Flunder flunds.")
        self.assertNotEqual(v2["paths"]["/api/v1/pods"]["get"]["responses"]["200"]["description"], "theirs", "local paths win")
        self.assertIn("flunders", await fk("api-resources", "--api-group=wardle.example.com"))
        out = await fk("explain", "flunders.spec")
        self.assertIn("What the flunder wants.", out)
        self.assertIn("How big it is.", out)

    async def test_front_and_extension(self) -> None:
        """One kapid serves flowcontrol for another through an APIService: reads, writes and watches pass; availability follows the backend."""
        backend, front, bk, fk, serving_ca = await self.pair()
        fs = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": "from-backend"},
              "spec": {"priorityLevelConfiguration": {"name": "global-default"}, "matchingPrecedence": 5000}}
        bk("create", "-f", write(self.home, "fs.json", json.dumps(fs)))
        port = int(backend.secure_url.rsplit(":", 1)[1])
        fk("create", "namespace", "wardle")
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "wardle"},
               "spec": {"ports": [{"port": 443, "targetPort": port}]}}
        eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "api", "namespace": "wardle"},
               "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]}
        fk("create", "-f", write(self.home, "svc.json", json.dumps(svc)))
        fk("create", "-f", write(self.home, "eps.json", json.dumps(eps)))
        apiservice = {
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1.flowcontrol.apiserver.k8s.io"},
            "spec": {"group": "flowcontrol.apiserver.k8s.io", "version": "v1", "groupPriorityMinimum": 16100,
                     "versionPriority": 21, "service": {"namespace": "wardle", "name": "api", "port": 443},
                     "caBundle": base64.b64encode(serving_ca.cert_pem()).decode()},
        }
        fk("replace", "-f", write(self.home, "as.json", json.dumps(apiservice)))
        row = ""
        for _ in range(100):
            row = fk("get", "apiservice", "v1.flowcontrol.apiserver.k8s.io", "--no-headers")
            if row.split()[1:3] == ["wardle/api", "True"]:
                break
            await _sleep(0.2)
        self.assertEqual(row.split()[1:3], ["wardle/api", "True"], row)

        # reads, writes and a watch go to the extension server, as the front's user
        self.assertIn("from-backend", fk("get", "flowschemas", "from-backend", "-o", "name"))
        fs["metadata"]["name"] = "through-front"
        fk("create", "-f", write(self.home, "fs2.json", json.dumps(fs)))
        self.assertIn("through-front", bk("get", "flowschemas", "through-front", "-o", "name"))
        events = fk("get", "--raw", "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas?watch=1&timeoutSeconds=1")
        names = {json.loads(line)["object"]["metadata"]["name"] for line in events.splitlines() if line.strip()}
        self.assertIn("through-front", names)
        self.assertEqual(len(names), 15)

        # the backend goes: the APIService becomes unavailable and requests get 503
        await backend.stop()
        for _ in range(150):
            row = fk("get", "apiservice", "v1.flowcontrol.apiserver.k8s.io", "--no-headers")
            if "FailedDiscoveryCheck" in row:
                break
            await _sleep(0.2)
        self.assertIn("False (FailedDiscoveryCheck)", row)
        err = fk("get", "flowschemas", ok=False)
        self.assertIn("the server is currently unable to handle the request", err)
