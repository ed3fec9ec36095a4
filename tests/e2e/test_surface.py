"""
End-to-end: the built-in API surface as kubectl 1.32 and 1.33 see it from a real C{twistd kapid}:
discovery (C{api-resources -o wide}, C{api-versions}), OpenAPI (C{explain}, server-side field
validation of a typo'd manifest), defaults and tables.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.trial.unittest import TestCase

from tests.e2e.helpers import KapidProcess, run_kubectl

TYPO = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  replicas: 1
  selector:
    matchLabels: {app: typo}
  template:
    metadata:
      labels: {app: typo}
    spec:
      containers:
      - name: c
        image: nginx
        imagePullPolicyy: Always
"""

GOOD = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx
"""

MISMATCH = GOOD.replace("labels: {app: web}", "labels: {app: other}").replace("name: web", "name: bad")


class SurfaceTests(TestCase):
    """One kapid, both kubectl versions."""

    timeout = 240

    async def start(self) -> Any:
        """Start kapid on the memory store; killed at cleanup."""
        process = KapidProcess(self.mktemp(), ["--storage-backend=memory"])
        self.addCleanup(process.kill)
        await process.start()
        return process

    def k(self, version: str, *args: str, ok: bool = True) -> Any:
        """Run kubectl.<version> against kapid with its own HOME."""
        home = os.path.join(self.base, f"home-{version}")
        result = run_kubectl(version, list(args), kubeconfig=self.kapid.kubeconfig, home=home)
        if ok:
            self.assertEqual(result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}\n{self.kapid.log[-2000:]}")
        return result

    def write(self, name: str, text: str) -> str:
        """A manifest file."""
        path = os.path.join(self.base, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    async def test_surface(self) -> None:
        """api-resources, api-versions, explain, strict validation, defaults and tables with 1.32 and 1.33."""
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        self.kapid = await self.start()
        for version in ("1.32", "1.33"):
            out = self.k(version, "api-resources", "-o", "wide").stdout
            lines = {line.split()[0]: line for line in out.splitlines()[1:]}
            for plural in ("deployments", "services", "jobs", "cronjobs", "horizontalpodautoscalers", "leases",
                           "ingresses", "poddisruptionbudgets", "roles", "storageclasses", "priorityclasses",
                           "runtimeclasses", "validatingwebhookconfigurations", "certificatesigningrequests",
                           "endpointslices", "nodes", "persistentvolumeclaims"):
                self.assertIn(plural, lines, out)
            self.assertIn("create,delete,deletecollection,get,list,patch,update,watch", lines["deployments"])
            self.assertEqual(lines["services"].split()[1], "svc")
            self.assertIn("autoscaling/v2", lines["horizontalpodautoscalers"])
            versions = self.k(version, "api-versions").stdout.split()
            for gv in ("v1", "apps/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1", "rbac.authorization.k8s.io/v1"):
                self.assertIn(gv, versions)
            explain = self.k(version, "explain", "deployment.spec.strategy").stdout
            self.assertIn("rollingUpdate", explain)
            self.assertIn("DeploymentStrategy", explain)

        # a typo'd field is refused by the server with kube's message
        typo = self.k("1.33", "apply", "-f", self.write("typo.yaml", TYPO), ok=False)
        self.assertIn(
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
            'unknown field "spec.template.spec.containers[0].imagePullPolicyy"',
            typo.stderr,
        )
        # defaults and validation
        self.k("1.32", "create", "-f", self.write("good.yaml", GOOD))
        obj = json.loads(self.k("1.32", "get", "deploy", "web", "-o", "json").stdout)
        spec = obj["spec"]
        self.assertEqual((spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]), (1, 10, 600))
        self.assertEqual(spec["strategy"]["rollingUpdate"], {"maxSurge": "25%", "maxUnavailable": "25%"})
        self.assertEqual(spec["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always")
        bad = self.k("1.32", "create", "-f", self.write("bad.yaml", MISMATCH), ok=False)
        self.assertIn("`selector` does not match template `labels`", bad.stderr)
        header = self.k("1.33", "get", "deploy").stdout.splitlines()[0].split()
        self.assertEqual(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])

        # the official Python client's discovery (legacy documents)
        from kubernetes import client, dynamic

        config = client.Configuration()
        config.host = self.kapid.insecure_url
        api = client.ApiClient(config)
        dyn = dynamic.DynamicClient(api)
        hpa = dyn.resources.get(api_version="autoscaling/v1", kind="HorizontalPodAutoscaler")
        self.assertEqual((hpa.name, hpa.namespaced, hpa.short_names), ("horizontalpodautoscalers", True, ["hpa"]))
        jobs = dyn.resources.get(api_version="batch/v1", kind="Job")
        self.assertEqual(jobs.get(namespace="default").kind, "JobList")
        self.assertEqual(client.AutoscalingApi(api).get_api_group().preferred_version.version, "v2")
        self.assertEqual(client.CoreApi(api).get_api_versions().versions, ["v1"])
        names = [r.name for r in client.RbacAuthorizationV1Api(api).get_api_resources().resources]
        self.assertEqual(names, ["clusterrolebindings", "clusterroles", "rolebindings", "roles"])
