"""
Tests of the proxy subresources and the node dialer (L{kapid.aggregator.connect}): kube's location
rules in memory, then a real C{twistd kapid} proxying to small HTTP(S) servers the tests start in
network namespaces of their own (kube refuses loopback targets, so a pod's address must be a real
one): a veth pair whose far end, inside the namespace, carries the only address the test assigns;
the near end only gets a host route to it. kubectl's C{proxy} and C{logs} go through it too.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.parse
from typing import Any, Optional

from twisted.trial.unittest import SynchronousTestCase, TestCase

from kapid.aggregator.connect import (
    generic_server_response, is_global_unicast, is_proxyable_ip, join_path, split_scheme_name_port,
)
from kapid.testing.tls import issue, make_ca
from tests.e2e.helpers import _sleep, run_kubectl, start_kapid

BACKEND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns_backend.py")
_counter = itertools.count()


class LocationRuleTests(SynchronousTestCase):
    """kube's parsing and address rules."""

    def test_split_scheme_name_port(self) -> None:
        """name, name:port and scheme:name:port; other schemes and shapes are invalid."""
        self.assertEqual(split_scheme_name_port("p"), ("", "p", "", True))
        self.assertEqual(split_scheme_name_port("p:8080"), ("", "p", "8080", True))
        self.assertEqual(split_scheme_name_port("https:p:443"), ("https", "p", "443", True))
        self.assertEqual(split_scheme_name_port("http:p:"), ("http", "p", "", True))
        for bad in ("ftp:p:21", "a:b:c:d", ":80", ""):
            self.assertFalse(split_scheme_name_port(bad)[3], bad)

    def test_addresses(self) -> None:
        """Pods need a global unicast IP; nodes' other ports refuse loopback and link-local."""
        self.assertTrue(is_global_unicast("10.1.2.3"))
        self.assertTrue(is_global_unicast("2001:db8::1"))
        for bad in ("127.0.0.1", "::1", "169.254.1.1", "fe80::1", "224.0.0.1", "0.0.0.0", "", "nope", "255.255.255.255"):
            self.assertFalse(is_global_unicast(bad), bad)
        ok = ipaddress.ip_address
        self.assertTrue(is_proxyable_ip(ok("10.0.0.1")))
        for bad in ("127.0.0.2", "::1", "169.254.169.254", "fe80::2", "224.0.0.251", "ff02::1"):
            self.assertFalse(is_proxyable_ip(ok(bad)), bad)

    def test_join_path(self) -> None:
        """Go's JoinPreservingTrailingSlash."""
        self.assertEqual(join_path("", "/a/b/"), "/a/b/")
        self.assertEqual(join_path("", "/a/../b"), "/b")
        self.assertEqual(join_path("/base", "x"), "/base/x")
        self.assertEqual(join_path("", ""), "")

    def test_generic_server_response(self) -> None:
        """A kubelet's refusal reads as kube's generic server error."""
        e = generic_server_response(404, "pods/log", "p", "")
        self.assertEqual((e.code, e.reason, e.message), (404, "NotFound", "the server could not find the requested resource (get pods/log p)"))
        e = generic_server_response(500, "pods/log", "p", "boom")
        self.assertEqual((e.code, e.reason), (500, "InternalError"))
        self.assertEqual(e.message, 'an error on the server ("boom") has prevented the request from succeeding (get pods/log p)')


def _ip(*args: str, ns: Optional[str] = None) -> None:
    cmd = (["ip", "netns", "exec", ns, "ip"] if ns else ["ip"]) + list(args)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {result.stderr.strip()}")


class NetNS:
    """
    A network namespace made for one test, joined to this one by a veth pair: the namespace's end
    has C{address}; this namespace only gets a route to it. Removed at cleanup.
    """

    def __init__(self, testcase: TestCase) -> None:
        n = next(_counter)
        tag = f"{os.getpid() % 100000}{n}"
        self.name = f"kapid-t{tag}"
        self.outer, self.inner = f"kv{tag}a", f"kv{tag}b"
        self.address = f"10.{200 + (os.getpid() % 50)}.{(os.getpid() // 50) % 250}.{n + 2}"
        self.testcase = testcase
        self.processes: list[subprocess.Popen] = []
        _ip("netns", "add", self.name)
        testcase.addCleanup(self.remove)
        _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        _ip("link", "set", self.inner, "netns", self.name)
        _ip("addr", "add", f"{self.address}/32", "dev", self.inner, ns=self.name)
        _ip("link", "set", self.inner, "up", ns=self.name)
        _ip("link", "set", "lo", "up", ns=self.name)
        _ip("route", "add", "default", "dev", self.inner, ns=self.name)
        _ip("link", "set", self.outer, "up")
        _ip("route", "add", f"{self.address}/32", "dev", self.outer)

    def serve(self, port: int, cert: Optional[tuple[str, str]] = None) -> None:
        """Start the echo backend on C{port} inside the namespace (HTTPS with C{cert})."""
        cmd = ["ip", "netns", "exec", self.name, sys.executable, BACKEND, self.address, str(port)]
        if cert:
            cmd += list(cert)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.processes.append(p)
        line = p.stdout.readline() if p.stdout else ""
        if line.strip() != "ready":
            raise AssertionError(f"backend did not start: {line} {p.stderr.read() if p.stderr else ''}")

    def remove(self) -> None:
        for p in self.processes:
            p.kill()
            p.wait()
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def _pod(name: str, node: str = "", ports: tuple[int, ...] = (8080,), containers: int = 1) -> dict:
    cs = [{"name": f"c{i}" if i else "app", "image": "x", "ports": [{"containerPort": p} for p in ports] if not i else []}
          for i in range(containers)]
    spec: dict[str, Any] = {"containers": cs}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


class ProxySubresourceTests(TestCase):
    """A real kapid proxying to servers in network namespaces."""

    timeout = 180

    async def start(self) -> Any:
        self.kapid = await start_kapid(self, "--storage-backend=memory")
        return self.kapid

    def req(self, method: str, path: str, body: Any = None, headers: Optional[dict] = None, raw: bool = False) -> tuple[int, dict, Any]:
        """A request to kapid as its admin; (code, headers, body decoded as JSON when it is)."""
        import http.client

        cred = self.kapid.credentials
        url = urllib.parse.urlsplit(cred.server)
        conn = http.client.HTTPSConnection(url.netloc, timeout=30, context=cred.ssl_context())
        hdrs = dict(headers or {})
        if cred.token:
            hdrs["Authorization"] = "Bearer " + cred.token
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            out = r.read()
            got = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        if raw:
            return r.status, got, out
        try:
            return r.status, got, json.loads(out)
        except ValueError:
            return r.status, got, out.decode()

    def create_pod(self, pod: dict, ip: str = "") -> None:
        code, _, body = self.req("POST", "/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 201, body)
        if ip:
            body["status"]["podIP"] = ip
            body["status"]["podIPs"] = [{"ip": ip}]
            code, _, out = self.req("PUT", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/status", body)
            self.assertEqual(code, 200, out)

    async def test_pod_and_service_proxy(self) -> None:
        """
        pods/proxy and services/proxy reach the backend (path, query, method, body, headers both
        ways, streaming); kube's 400s for a pod without a proxyable IP, 503s when nothing listens
        or no endpoint fits.
        """
        ns = NetNS(self)
        ns.serve(8080)
        await self.start()
        self.create_pod(_pod("web"), ns.address)
        base = "/api/v1/namespaces/default/pods"
        code, headers, body = self.req("GET", f"{base}/web/proxy/hello/there/?a=1&b=two")
        self.assertEqual(code, 200, body)
        self.assertEqual((body["method"], body["path"]), ("GET", "/hello/there/?a=1&b=two"))
        self.assertEqual(headers["x-backend"], "yes")
        self.assertNotIn("authorization", body["headers"])
        self.assertIn("x-forwarded-for", body["headers"])
        self.assertEqual(body["headers"]["x-forwarded-uri"], [f"{base}/web/proxy/hello/there/"])
        # kube's rewriting transport: a redirect on the backend's host or to a path comes back through the proxy
        code, headers, _ = self.req("GET", f"{base}/web/proxy/redirect")
        self.assertEqual((code, headers["location"]), (302, f"{base}/web/proxy/landing/"))
        self.assertNotIn("access-control-allow-origin", headers)
        code, headers, _ = self.req("GET", f"{base}/web/proxy/redirect-path")
        self.assertEqual(headers["location"], f"{base}/web/proxy/landing?x=1")
        code, _, body = self.req("POST", f"{base}/http:web:8080/proxy/submit", b"payload", {"Content-Type": "text/plain"})
        self.assertEqual((code, body["method"], body["path"], body["body"]), (200, "POST", "/submit", "payload"))
        code, _, body = self.req("GET", f"{base}/web/proxy")
        self.assertEqual((code, body["path"]), (200, "/"))
        head, echoed = self.upgrade(f"{base}/web/proxy/ws?q=1", b"websocket bytes")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.assertIn(b"X-Echo-Path: /ws?q=1", head)
        self.assertEqual(echoed, b"WEBSOCKET BYTES")
        code, _, body = self.req("GET", f"{base}/web/proxy/teapot")
        self.assertEqual(code, 418, "the backend's own codes pass through")
        code, _, body = self.req("GET", f"{base}/web/proxy/stream", raw=True)
        self.assertEqual((code, body), (200, b"line 0\nline 1\nline 2\n"))
        # nothing listens on port 9: kube's 503
        code, _, body = self.req("GET", f"{base}/web:9/proxy/")
        self.assertEqual((code, body["reason"]), (503, "ServiceUnavailable"), body)
        self.assertEqual(body["message"], f"error trying to reach service: dial tcp {ns.address}:9: connect: connection refused")
        # kube refuses pods without an IP, and loopback or link-local ones
        self.create_pod(_pod("noip"))
        self.create_pod(_pod("local"), "127.0.0.1")
        self.create_pod(_pod("linklocal"), "169.254.169.254")
        for name in ("noip", "local", "linklocal"):
            code, _, body = self.req("GET", f"{base}/{name}/proxy/")
            self.assertEqual((code, body["reason"], body["message"]), (400, "BadRequest", "address not allowed"), name)
        code, _, body = self.req("GET", f"{base}/ftp:web:21/proxy/")
        self.assertEqual((code, body["message"]), (400, 'invalid pod request "ftp:web:21"'))
        code, _, body = self.req("GET", f"{base}/missing/proxy/")
        self.assertEqual((code, body["message"]), (404, 'pods "missing" not found'))

        # a Service and its Endpoints (whose address must be its pod's)
        svc = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
        self.assertEqual(self.req("POST", "/api/v1/namespaces/default/services", svc)[0], 201)
        eps = {"metadata": {"name": "web"}, "subsets": [{
            "addresses": [{"ip": ns.address, "targetRef": {"kind": "Pod", "namespace": "default", "name": "web"}}],
            "ports": [{"name": "http", "port": 8080}]}]}
        self.assertEqual(self.req("POST", "/api/v1/namespaces/default/endpoints", eps)[0], 201)
        sbase = "/api/v1/namespaces/default/services"
        for id in ("web:http", "web:80", "http:web:80"):
            code, _, body = self.req("GET", f"{sbase}/{id}/proxy/x?y=z")
            self.assertEqual((code, body.get("path")), (200, "/x?y=z"), id)
        code, _, body = self.req("GET", f"{sbase}/web:81/proxy/")
        self.assertEqual((code, body["message"]), (503, 'no service port 81 found for service "web"'))
        code, _, body = self.req("GET", f"{sbase}/web/proxy/")
        self.assertEqual((code, body["message"]), (503, 'no endpoints available for service "web"'), "no unnamed port")
        # an endpoint whose address is not its pod's is skipped
        eps2 = {"metadata": {"name": "other"}, "subsets": [{
            "addresses": [{"ip": ns.address}], "ports": [{"port": 8080}]}]}
        self.req("POST", "/api/v1/namespaces/default/services", {"metadata": {"name": "other"}, "spec": {"ports": [{"port": 80}]}})
        self.req("POST", "/api/v1/namespaces/default/endpoints", eps2)
        code, _, body = self.req("GET", f"{sbase}/other/proxy/")
        self.assertEqual((code, body["message"]), (503, 'no endpoints available for service "other"'))

        # kubectl proxy serves the same through kapid
        home = self.mktemp()
        os.makedirs(home)
        from tests.e2e.helpers import kubectl_path

        proc = subprocess.Popen(
            [kubectl_path("1.32"), "--kubeconfig", self.kapid.kubeconfig, "proxy", "--port=0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HOME": home},
        )
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        line = proc.stdout.readline() if proc.stdout else ""
        self.assertIn("Starting to serve on", line)
        port = int(line.strip().rsplit(":", 1)[1])
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/v1/namespaces/default/services/web:http/proxy/via/kubectl")
        r = conn.getresponse()
        out = json.loads(r.read())
        conn.close()
        self.assertEqual((r.status, out["path"]), (200, "/via/kubectl"))

    async def test_kubelet_subresources_and_node_proxy(self) -> None:
        """
        A Node's kubelet address and port come from its status: logs, exec (an upgrade spliced
        both ways) and nodes/proxy reach it over TLS; kube's errors when no kubelet answers.
        """
        ns = NetNS(self)
        ca = make_ca("kubelet-ca")
        pair = issue(ca, "kubelet", ips=(ns.address,))
        d = self.mktemp()
        os.makedirs(d)
        cert, key = os.path.join(d, "k.crt"), os.path.join(d, "k.key")
        with open(cert, "wb") as f:
            f.write(pair.cert_pem())
        with open(key, "wb") as f:
            f.write(pair.key_pem())
        ns.serve(10250, (cert, key))
        ns.serve(8080)
        await self.start()
        node = {"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": ns.address}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}
        self.assertEqual(self.req("POST", "/api/v1/nodes", node)[0], 201)
        dead = {"metadata": {"name": "n2"}, "status": {
            "addresses": [{"type": "ExternalIP", "address": ns.address}, {"type": "Hostname", "address": ns.address}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}}}
        self.assertEqual(self.req("POST", "/api/v1/nodes", dead)[0], 201)
        self.assertEqual(self.req("POST", "/api/v1/nodes", {"metadata": {"name": "n3"}})[0], 201)
        self.create_pod(_pod("app", node="n1"))
        self.create_pod(_pod("two", node="n1", containers=2))
        self.create_pod(_pod("lost", node="n2"))
        self.create_pod(_pod("nowhere", node="n3"))
        self.create_pod(_pod("ghost", node="gone"))
        base = "/api/v1/namespaces/default/pods"

        code, headers, body = self.req("GET", f"{base}/app/log?follow=true&tailLines=10&timestamps=1")
        self.assertEqual(code, 200, body)
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertEqual(body["path"], "/containerLogs/default/app/app?follow=true&tailLines=10&timestamps=true")
        code, _, body = self.req("GET", f"{base}/two/log?container=c1")
        self.assertEqual(body["path"], "/containerLogs/default/two/c1")
        code, _, body = self.req("GET", f"{base}/lost/log")
        self.assertEqual(code, 500)
        self.assertNotIn("reason", body)
        self.assertEqual(body["message"], f'Get "https://{ns.address}:10251/containerLogs/default/lost/app": dial tcp {ns.address}:10251: connect: connection refused')
        code, _, body = self.req("GET", f"{base}/nowhere/log")
        self.assertEqual((code, body["message"]), (500, "no preferred addresses found; known addresses: []"))
        code, _, body = self.req("GET", f"{base}/ghost/log")
        self.assertEqual((code, body["message"]), (404, 'nodes "gone" not found'))

        # exec: a plain request is refused, an upgrade is spliced to the kubelet
        code, _, body = self.req("POST", f"{base}/app/exec?command=ls&stdout=true")
        self.assertEqual((code, body["message"]), (400, "Upgrade request required"))
        head, echoed = self.upgrade(f"{base}/app/exec?command=ls&command=-l&stdin=true&stdout=true&tty=true", b"hello kubelet")
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        self.assertIn(b"X-Echo-Path: /exec/default/app/app?command=ls&command=-l&input=1&output=1&tty=1", head)
        self.assertEqual(echoed, b"HELLO KUBELET")
        head, _ = self.upgrade(f"{base}/app/portforward?ports=8080", b"")
        self.assertIn(b"X-Echo-Path: /portForward/default/app?port=8080", head)
        head, _ = self.upgrade(f"{base}/lost/exec?command=ls&stdout=1", b"")
        self.assertTrue(head.startswith(b"HTTP/1.1 500"), head)
        self.assertIn(f"error dialing backend: dial tcp {ns.address}:10251: connect: connection refused".encode(), head)

        # nodes/proxy: the kubelet, or another port of the node
        code, _, body = self.req("GET", "/api/v1/nodes/n1/proxy/metrics?x=1")
        self.assertEqual((code, body["path"]), (200, "/metrics?x=1"))
        code, _, body = self.req("GET", "/api/v1/nodes/n1:8080/proxy/plain")
        self.assertEqual((code, body["path"]), (200, "/plain"))
        code, _, body = self.req("GET", "/api/v1/nodes/n2/proxy/")
        self.assertEqual((code, body["message"]), (503, f"error trying to reach service: dial tcp {ns.address}:10251: connect: connection refused"))

        # kubectl logs reads through kapid from the kubelet
        result = run_kubectl("1.32", ["logs", "two", "-c", "c1"], kubeconfig=self.kapid.kubeconfig, home=self.mktemp())
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["path"], "/containerLogs/default/two/c1")

    async def test_node_on_loopback(self) -> None:
        """A node's other ports on a loopback address are refused (kube's address check); its kubelet port is not checked."""
        await self.start()
        node = {"metadata": {"name": "lo"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}}}}
        self.assertEqual(self.req("POST", "/api/v1/nodes", node)[0], 201)
        code, _, body = self.req("GET", "/api/v1/nodes/lo:8080/proxy/")
        self.assertEqual((code, body["reason"], body["message"]), (400, "BadRequest", "address not allowed"))
        code, _, body = self.req("GET", "/api/v1/nodes/lo/proxy/")
        self.assertEqual((code, body["message"]), (503, "error trying to reach service: dial tcp 127.0.0.1:1: connect: connection refused"))

    def upgrade(self, path: str, payload: bytes) -> tuple[bytes, bytes]:
        """An upgrade request through kapid (TLS, the admin's credentials); the answer's head and the echo of C{payload}."""
        cred = self.kapid.credentials
        url = urllib.parse.urlsplit(cred.server)
        raw = socket.create_connection((url.hostname, url.port), timeout=30)
        s = cred.ssl_context().wrap_socket(raw, server_hostname=url.hostname)
        try:
            auth = f"Authorization: Bearer {cred.token}\r\n" if cred.token else ""
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n{auth}Connection: Upgrade\r\n"
                      f"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                return data, b""
            echoed = rest
            if payload:
                s.sendall(payload)
                while len(echoed) < len(payload):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    echoed += chunk
            return head, echoed
        finally:
            s.close()
