"""
End-to-end tests of the resource API with the real kubectl against a real C{twistd kapid}, on the
embedded store and on a real etcd.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

from twisted.trial.unittest import TestCase

from kapid.testing.etcd import shared_etcd
from tests.e2e.helpers import _kubectl_cmd, _kubectl_env, _sleep, run_kubectl, start_kapid

KUBECTL = "1.32"

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  labels:
    app: {app}
data:
  a: "1"
"""

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nginx
        image: {image}
"""


class KubectlScenarioMixin:
    """
    One broad kubectl session; subclasses say which store kapid runs on.
    """

    timeout = 240
    kubectl = KUBECTL

    async def start(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def k(self, *args: str, ok: bool = True, input: str = None):  # type: ignore[no-untyped-def, assignment]
        """
        Run kubectl; assert success when C{ok}.
        """
        result = run_kubectl(self.kubectl, list(args), kubeconfig=self.kapid.kubeconfig, home=self.home, input=input)
        if ok:
            self.assertEqual(result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}\n{self.kapid.log[-3000:]}")
        return result

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.home, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def popen(self, *args: str) -> subprocess.Popen:
        cmd = _kubectl_cmd(self.kubectl, list(args), self.kapid.kubeconfig, None)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_kubectl_env(self.home))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    async def wait_exit(self, p: subprocess.Popen, limit: float = 30.0) -> int:
        waited = 0.0
        while p.poll() is None:
            if waited > limit:
                p.kill()
                raise AssertionError("kubectl did not finish")
            await _sleep(0.1)
            waited += 0.1
        return p.returncode

    async def test_kubectl_session(self) -> None:
        """
        create/get/label/annotate/patch/replace/apply (client and server side)/scale/diff/dry-run/
        delete --wait/wait --for=delete/get -w behave as against kube-apiserver.
        """
        self.home = self.mktemp()
        os.makedirs(self.home)
        await self.start()
        ns = "demo"
        self.assertIn("namespace/demo created", self.k("create", "namespace", ns).stdout)

        # create from a file, get in several forms, selectors
        self.k("create", "-n", ns, "-f", self.write("c1.yaml", CM.format(name="c1", app="x")))
        out = self.k("get", "cm", "-n", ns).stdout
        self.assertIn("NAME", out)
        self.assertIn("DATA", out)
        self.assertIn("c1", out)
        obj = json.loads(self.k("get", "cm", "c1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["kind"], "ConfigMap")
        self.assertEqual(obj["data"], {"a": "1"})
        self.assertEqual(self.k("get", "cm", "-n", ns, "-o", "name", "-l", "app=x").stdout.strip(), "configmap/c1")
        self.assertIn("c1", self.k("get", "cm", "-n", ns, "--field-selector", "metadata.name=c1").stdout)
        self.assertIn("No resources found", self.k("get", "cm", "-n", ns, "-l", "app=nope").stderr)
        self.assertIn("name: c1", self.k("get", "cm", "c1", "-n", ns, "-o", "yaml").stdout)
        self.assertEqual(self.k("get", "cm", "c1", "-n", ns, "-o", "jsonpath={.data.a}").stdout, "1")
        missing = self.k("get", "cm", "nope", "-n", ns, ok=False)
        self.assertIn('Error from server (NotFound): configmaps "nope" not found', missing.stderr)
        dup = self.k("create", "-n", ns, "-f", os.path.join(self.home, "c1.yaml"), ok=False)
        self.assertIn('configmaps "c1" already exists', dup.stderr)

        # label, annotate, three patch types
        self.assertIn("labeled", self.k("label", "cm", "c1", "-n", ns, "tier=web").stdout)
        self.assertIn("annotated", self.k("annotate", "cm", "c1", "-n", ns, "note=hi").stdout)
        self.k("patch", "cm", "c1", "-n", ns, "-p", '{"data":{"b":"2"}}')
        self.k("patch", "cm", "c1", "-n", ns, "--type", "merge", "-p", '{"data":{"a":null}}')
        self.k("patch", "cm", "c1", "-n", ns, "--type", "json", "-p", '[{"op":"add","path":"/data/c","value":"3"}]')
        obj = json.loads(self.k("get", "cm", "c1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(obj["data"], {"b": "2", "c": "3"})
        self.assertEqual(obj["metadata"]["labels"]["tier"], "web")
        self.assertEqual(obj["metadata"]["annotations"]["note"], "hi")

        # replace with a stale copy
        stale = dict(obj)
        stale["data"] = {"z": "9"}
        self.k("label", "cm", "c1", "-n", ns, "again=1")
        result = self.k("replace", "-f", self.write("stale.json", json.dumps(stale)), ok=False)
        self.assertIn('Operation cannot be fulfilled on configmaps "c1": the object has been modified', result.stderr)

        # client-side apply: create, then a three-way strategic patch
        self.assertIn("deployment.apps/web created", self.k(
            "apply", "-n", ns, "-f", self.write("d1.yaml", DEPLOY.format(replicas=1, image="nginx:1"))).stdout)
        self.assertIn("deployment.apps/web configured", self.k(
            "apply", "-n", ns, "-f", self.write("d2.yaml", DEPLOY.format(replicas=2, image="nginx:2"))).stdout)
        dep = json.loads(self.k("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2")
        self.assertEqual(dep["metadata"]["generation"], 2)
        self.assertIn("READY", self.k("get", "deploy", "-n", ns).stdout)

        # scale
        self.assertIn("deployment.apps/web scaled", self.k("scale", "deploy", "web", "-n", ns, "--replicas=3").stdout)
        self.assertEqual(self.k("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout, "3")

        # diff (server dry-run patch)
        diff = self.k("diff", "-n", ns, "-f", self.write("d3.yaml", DEPLOY.format(replicas=3, image="nginx:3")), ok=False)
        self.assertEqual(diff.returncode, 1, diff.stderr)
        self.assertIn("nginx:3", diff.stdout)
        self.assertEqual(self.k("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout, "nginx:2")

        # server-side apply, conflicts, force
        ssa = self.write("ssa.yaml", CM.format(name="s1", app="ssa"))
        self.assertIn("serverside-applied", self.k("apply", "--server-side", "-n", ns, "-f", ssa).stdout)
        other = self.write("ssa2.yaml", CM.format(name="s1", app="other"))
        conflict = self.k("apply", "--server-side", "--field-manager=other", "-n", ns, "-f", other, ok=False)
        self.assertIn("conflict", conflict.stderr)
        self.k("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-n", ns, "-f", other)
        self.assertEqual(self.k("get", "cm", "s1", "-n", ns, "-o", "jsonpath={.metadata.labels.app}").stdout, "other")

        # server dry-run
        self.k("create", "--dry-run=server", "-n", ns, "-f", self.write("c9.yaml", CM.format(name="c9", app="d")))
        self.assertIn("NotFound", self.k("get", "cm", "c9", "-n", ns, ok=False).stderr)

        # get -w sees changes
        watcher = self.popen("get", "cm", "-n", ns, "-w", "--request-timeout=6s")
        await _sleep(1.5)
        self.k("create", "-n", ns, "-f", self.write("w1.yaml", CM.format(name="w1", app="w")))
        await self.wait_exit(watcher)
        self.assertIn("w1", watcher.stdout.read())

        # wait --for=delete on an object held by a finalizer, then delete --wait
        self.k("create", "-n", ns, "-f", self.write(
            "f1.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f1", "finalizers": ["example.com/hold"]}})))
        self.k("delete", "cm", "f1", "-n", ns, "--wait=false")
        waiter = self.popen("wait", "--for=delete", "cm/f1", "-n", ns, "--timeout=30s")
        await _sleep(1.0)
        self.k("patch", "cm", "f1", "-n", ns, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}')
        self.assertEqual(await self.wait_exit(waiter), 0, waiter.stderr.read())
        self.assertIn('configmap "c1" deleted', self.k("delete", "cm", "c1", "-n", ns).stdout)
        self.assertIn("deleted", self.k("delete", "namespace", ns, "--timeout=60s").stdout)
        self.assertIn("NotFound", self.k("get", "namespace", ns, ok=False).stderr)


class EmbeddedKubectlTests(KubectlScenarioMixin, TestCase):
    """
    kubectl against kapid on its embedded store.
    """

    async def start(self) -> None:
        self.kapid = await start_kapid(self)


class EtcdKubectlTests(KubectlScenarioMixin, TestCase):
    """
    kubectl against kapid on a real etcd.
    """

    async def start(self) -> None:
        etcd = await shared_etcd(__name__)
        prefix = "/kapid-" + uuid.uuid4().hex[:8]
        self.kapid = await start_kapid(self, f"--etcd-servers={etcd.client_url}", f"--etcd-prefix={prefix}")


class EmbeddedKubectl133Tests(KubectlScenarioMixin, TestCase):
    """
    kubectl 1.33 against kapid on its embedded store.
    """

    kubectl = "1.33"

    async def start(self) -> None:
        self.kapid = await start_kapid(self)
