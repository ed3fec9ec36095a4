"""
ResourceQuota under load: two real kapid processes on one real etcd, many concurrent creates
split between them, never more objects than the quota allows.
"""

from __future__ import annotations

import json
import uuid

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import DeferredList
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from kapid.testing.etcd import shared_etcd
from tests.e2e.helpers import start_kapid


class QuotaAcrossProcessesTests(TestCase):
    """
    Concurrent creates through two processes.
    """

    timeout = 120

    async def test_never_more_than_the_quota(self) -> None:
        """
        Forty concurrent ConfigMap creates, half through each process, against a quota of 7:
        exactly 7 are created, the others are kube's 403, and status.used says 7; a deletion through
        one process gives quota back for a create through the other.
        """
        etcd = await shared_etcd(__name__)
        prefix = f"--etcd-prefix=/kapid-quota-{uuid.uuid4().hex[:8]}"
        # the root CA publisher's kube-root-ca.crt would take one of the 7 ConfigMaps (as in kube)
        no_publisher = "--controllers=*,-root-ca-cert-publisher"
        a = await start_kapid(self, prefix, no_publisher, etcd_servers=etcd.client_url)
        b = await start_kapid(self, prefix, no_publisher, etcd_servers=etcd.client_url)
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 20
        self.addCleanup(pool.closeCachedConnections)
        http = HTTPClient(Agent(reactor, pool=pool))

        async def call(base: str, method: str, path: str, body: object = None) -> tuple[int, dict]:
            r = await http.request(method, base + path, data=json.dumps(body).encode() if body is not None else None,
                                   headers={"Content-Type": "application/json"})
            return r.code, json.loads(await r.content())

        ns = "q-" + uuid.uuid4().hex[:6]
        code, out = await call(a.insecure_url, "POST", "/api/v1/namespaces",
                               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.assertEqual(code, 201, out)
        code, out = await call(a.insecure_url, "POST", f"/api/v1/namespaces/{ns}/resourcequotas",
                               {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                                "spec": {"hard": {"count/configmaps": "7"}}})
        self.assertEqual(code, 201, out)
        for _ in range(100):
            _, q = await call(b.insecure_url, "GET", f"/api/v1/namespaces/{ns}/resourcequotas/q")
            if (q.get("status") or {}).get("used") is not None:
                break
            await deferLater(reactor, 0.05, lambda: None)
        # the namespace must be visible to both processes before the run
        for _ in range(100):
            code, _ = await call(b.insecure_url, "GET", f"/api/v1/namespaces/{ns}")
            if code == 200:
                break
            await deferLater(reactor, 0.05, lambda: None)

        calls = []
        for i in range(40):
            base = (a if i % 2 else b).insecure_url
            calls.append(call(base, "POST", f"/api/v1/namespaces/{ns}/configmaps",
                              {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}}))
        from twisted.internet.defer import ensureDeferred

        results = await DeferredList([ensureDeferred(c) for c in calls], consumeErrors=True)
        codes = [r[1][0] for r in results if r[0]]
        self.assertEqual(len(codes), 40, results)
        self.assertEqual(codes.count(201), 7, codes)
        self.assertEqual(codes.count(403), 33, codes)
        denied = next(r[1][1] for r in results if r[0] and r[1][0] == 403)
        self.assertTrue(denied["message"].endswith(
            "is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=7, "
            "limited: count/configmaps=7"), denied["message"])
        _, listed = await call(a.insecure_url, "GET", f"/api/v1/namespaces/{ns}/configmaps")
        self.assertEqual(len([i for i in listed["items"] if i["metadata"]["name"].startswith("cm-")]), 7)
        _, q = await call(b.insecure_url, "GET", f"/api/v1/namespaces/{ns}/resourcequotas/q")
        self.assertEqual(q["status"]["used"], {"count/configmaps": "7"})
        # a deletion through the other process gives one back, and a create fits again
        created = [i["metadata"]["name"] for i in listed["items"] if i["metadata"]["name"].startswith("cm-")]
        code, _ = await call(a.insecure_url, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{created[0]}")
        self.assertEqual(code, 200)
        _, q = await call(b.insecure_url, "GET", f"/api/v1/namespaces/{ns}/resourcequotas/q")
        self.assertEqual(q["status"]["used"], {"count/configmaps": "6"})
        code, out = await call(b.insecure_url, "POST", f"/api/v1/namespaces/{ns}/configmaps",
                               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "again"}})
        self.assertEqual(code, 201, out)
