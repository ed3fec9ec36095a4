"""
Conformance audit: the commands of the API machinery and API surface issues, run with the real
kubectl 1.32 and 1.33 against one real C{twistd kapid} per test class, with kube-apiserver's exact
strings asserted wherever they are known (kubectl-wire.md and kube's sources).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from typing import Optional

from twisted.trial.unittest import TestCase

from kapid.testing.etcd import shared_etcd
from tests.e2e.helpers import KapidProcess, _kubectl_cmd, _kubectl_env, _sleep, run_kubectl, start_kapid

#: the session lists exact ConfigMaps: without the root CA publisher's kube-root-ca.crt
NO_ROOT_CA = "--controllers=*,-root-ca-cert-publisher"

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: cm1
  labels: {app: a}
data:
  a: "1"
"""

SSA = """apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
data:
  a: "1"
  b: "%s"
"""

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: %s
        ports: [{containerPort: 80}]
"""

STS = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: redis}]
"""

MIGRATE = """apiVersion: v1
kind: ConfigMap
metadata: {name: mig}
data: %s
"""

TYPO = """apiVersion: v1
kind: ConfigMap
metadata:
  name: typo
dataa:
  a: b
"""

BAD_NAME = """apiVersion: v1
kind: ConfigMap
metadata:
  name: Bad_Name
"""

LIST = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: l1}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: l2}
%s
"""

NODE = """apiVersion: v1
kind: Node
metadata: {name: n1}
"""

EVENT = """apiVersion: v1
kind: Event
metadata: {name: e1}
involvedObject: {kind: ConfigMap, name: cm1, namespace: %s}
reason: Tested
message: hello
type: Normal
count: 1
"""

EVENT2 = """apiVersion: v1
kind: Event
metadata: {name: e2}
involvedObject: {kind: ConfigMap, name: cm1, namespace: %s, uid: %s, apiVersion: v1}
reason: Tested
message: hello there
type: Warning
count: 3
firstTimestamp: "2024-01-01T00:00:00Z"
lastTimestamp: "2024-01-01T00:10:00Z"
source: {component: me}
"""

EDITOR = """#!/bin/sh
sed -i 's/^  b: .*$/  b: edited/' "$1"
"""

#: kube's messages (kubectl prints C{Error from server (<reason>): <message>}).
RFC1123 = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _tls_pair(directory: str) -> tuple[str, str]:
    """
    A self-signed certificate and its key as PEM files in C{directory} (for C{create secret tls}).
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "conformance")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def _header(out: str) -> list[str]:
    return out.splitlines()[0].split()


def _managers(obj: dict) -> list[tuple[str, dict]]:
    return [(e["manager"], e["fieldsV1"]) for e in obj["metadata"].get("managedFields", [])]


class ConformanceKubectlMixin:
    """
    One broad kubectl session per test class; subclasses choose the kubectl version and the store.
    """

    timeout = 180
    kubectl = "1.32"

    async def start(self) -> KapidProcess:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------

    def k(self, *args: str, ok: bool = True, input: Optional[str] = None):  # type: ignore[no-untyped-def]
        """
        Run kubectl in this test's namespace; assert success when C{ok}.
        """
        ns = [] if args[:1] in (("delete",), ("api-resources",), ("api-versions",)) and "namespace" in args else ["-n", self.ns]
        result = run_kubectl(
            self.kubectl, ns + list(args), server=self.kapid.insecure_url, home=self.home, input=input
        )
        if ok:
            self.assertEqual(
                result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}\n{self.kapid.log[-2000:]}"
            )
        return result

    def out(self, *args: str) -> str:
        return self.k(*args).stdout

    def err(self, *args: str) -> str:
        result = self.k(*args, ok=False)
        self.assertNotEqual(result.returncode, 0, f"kubectl {' '.join(args)} succeeded: {result.stdout}")
        return result.stderr

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.home, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def popen(self, *args: str, stdout_path: str) -> subprocess.Popen:
        cmd = _kubectl_cmd(self.kubectl, ["-n", self.ns, *args], None, self.kapid.insecure_url)
        with open(stdout_path, "w") as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=_kubectl_env(self.home))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    async def until(self, what: str, check, timeout: float = 15.0):  # type: ignore[no-untyped-def]
        waited, step = 0.0, 0.05
        while waited < timeout:
            value = check()
            if value:
                return value
            await _sleep(step)
            waited += step
            step = min(step * 1.5, 0.3)
        self.fail(f"timed out waiting for {what}")

    def json(self, *args: str) -> dict:
        return json.loads(self.out(*args, "-o", "json"))

    # -- the session --------------------------------------------------------------------------

    async def test_kubectl_session(self) -> None:
        """
        Every kubectl command of the API machinery and API surface issues answers as against
        kube-apiserver.
        """
        self.kapid = await self.start()
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        self.ns = "conf-" + uuid.uuid4().hex[:6]
        self.assertEqual(self.out("create", "namespace", self.ns), f"namespace/{self.ns} created\n")
        await self.crud_and_errors()
        await self.apply_client_and_server_side()
        await self.get_outputs_and_watch()
        await self.patch_replace_scale()
        await self.dry_run_diff_edit_describe()
        await self.delete_and_wait()
        await self.generators_and_tables()
        await self.discovery_and_explain()
        await self.audit_fixes_and_surface()

    async def crud_and_errors(self) -> None:
        ns = self.ns
        f = self.write("cm.yaml", CM)
        self.assertEqual(self.out("create", "-f", f), "configmap/cm1 created\n")
        self.assertEqual(
            self.err("create", "-f", f),
            f'Error from server (AlreadyExists): error when creating "{f}": configmaps "cm1" already exists\n',
        )
        self.assertEqual(self.err("get", "cm", "ghost"), 'Error from server (NotFound): configmaps "ghost" not found\n')
        self.assertEqual(
            self.err("get", "deploy", "ghost"),
            'Error from server (NotFound): deployments.apps "ghost" not found\n',
        )
        bad = self.write("bad.yaml", BAD_NAME)
        self.assertEqual(
            self.err("create", "-f", bad),
            f'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {RFC1123}\n',
        )
        typo = self.write("typo.yaml", TYPO)
        strict = 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "dataa"'
        self.assertEqual(
            self.err("apply", "-f", typo), f'Error from server (BadRequest): error when creating "{typo}": {strict}\n'
        )
        self.assertEqual(
            self.err("create", "-f", typo), f'Error from server (BadRequest): error when creating "{typo}": {strict}\n'
        )
        self.assertEqual(
            self.err("apply", "--server-side", "-f", typo),
            f"Error from server: failed to create typed patch object ({self.ns}/typo; /v1, Kind=ConfigMap): "
            ".dataa: field not declared in schema\n",
        )
        self.assertEqual(self.out("create", "-f", typo, "--validate=false"), "configmap/typo created\n")
        self.assertNotIn("dataa", self.out("get", "cm", "typo", "-o", "json"))
        # kind: List is validated on the client, with the protobuf /openapi/v2
        items = self.write("list.yaml", LIST % "")
        self.assertEqual(self.out("create", "-f", items), "configmap/l1 created\nconfigmap/l2 created\n")
        self.assertEqual(self.out("delete", "-f", items), 'configmap "l1" deleted\nconfigmap "l2" deleted\n')
        items = self.write("list2.yaml", LIST % "  dataa: {x: y}")
        self.assertEqual(
            self.err("apply", "-f", items),
            f'error: error validating "{items}": error validating data: ValidationError(ConfigMap): unknown field '
            '"dataa" in io.k8s.api.core.v1.ConfigMap; if you choose to ignore these errors, turn validation off '
            "with --validate=false\n",
        )
        self.assertEqual(
            self.err("create", "cm", "x", "-n", "ghost-ns"),
            'error: failed to create configmap: namespaces "ghost-ns" not found\n',
        )
        self.assertEqual(
            self.err("delete", "namespace", "default"),
            'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted\n',
        )
        self.assertIn(f"{ns}   ", self.out("get", "ns"))

    async def apply_client_and_server_side(self) -> None:
        self.assertEqual(self.out("apply", "-f", self.write("d.yaml", DEPLOY % (2, "nginx:1.25"))),
                         "deployment.apps/web created\n")
        self.assertEqual(self.out("apply", "-f", self.write("d.yaml", DEPLOY % (2, "nginx:1.25"))),
                         "deployment.apps/web unchanged\n")
        self.assertEqual(self.out("apply", "-f", self.write("d.yaml", DEPLOY % (3, "nginx:1.25"))),
                         "deployment.apps/web configured\n")
        dep = self.json("get", "deploy", "web")
        self.assertEqual((dep["spec"]["replicas"], dep["metadata"]["generation"]), (3, 2))
        # kube's defaults
        self.assertEqual(dep["spec"]["strategy"], {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                                                   "type": "RollingUpdate"})
        self.assertEqual((dep["spec"]["revisionHistoryLimit"], dep["spec"]["progressDeadlineSeconds"]), (10, 600))
        pod = dep["spec"]["template"]["spec"]
        self.assertEqual(
            (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"], pod["securityContext"],
             pod["terminationGracePeriodSeconds"], pod["containers"][0]["imagePullPolicy"],
             pod["containers"][0]["ports"][0]["protocol"]),
            ("Always", "ClusterFirst", "default-scheduler", {}, 30, "IfNotPresent", "TCP"),
        )

        f = self.write("ssa.yaml", SSA % "2")
        self.assertEqual(self.out("apply", "--server-side", "-f", f), "configmap/ssa serverside-applied\n")
        self.assertEqual(self.out("apply", "--server-side", "-f", self.write("ssa.yaml", SSA % "3")),
                         "configmap/ssa serverside-applied\n")
        self.assertEqual(self.json("get", "cm", "ssa")["data"], {"a": "1", "b": "3"})
        other = self.write("other.yaml", SSA % "4")
        conflict = self.err("apply", "--server-side", "--field-manager=other", "-f", other)
        self.assertTrue(
            conflict.startswith('error: Apply failed with 1 conflict: conflict with "kubectl": .data.b\n'), conflict
        )
        self.assertEqual(self.out("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", other),
                         "configmap/ssa serverside-applied\n")
        cm = self.json("get", "cm", "ssa", "--show-managed-fields")
        self.assertEqual(cm["data"], {"a": "1", "b": "4"})
        self.assertEqual(_managers(cm), [
            ("kubectl", {"f:data": {".": {}, "f:a": {}}}),
            ("other", {"f:data": {".": {}, "f:a": {}, "f:b": {}}}),
        ])

        # client-side apply, then server-side: kubectl moves the client-side-apply fields to its
        # apply manager, so a field dropped from the next server-side apply goes
        self.out("apply", "-f", self.write("mig.yaml", MIGRATE % '{a: "1", b: "2"}'))
        self.assertEqual(self.out("apply", "--server-side", "-f", os.path.join(self.home, "mig.yaml")),
                         "configmap/mig serverside-applied\n")
        self.assertEqual(sorted(m for m, _ in _managers(self.json("get", "cm", "mig", "--show-managed-fields"))),
                         ["kubectl", "kubectl-last-applied"])
        self.out("apply", "--server-side", "-f", self.write("mig.yaml", MIGRATE % '{a: "1", c: "3"}'))
        self.assertEqual(self.json("get", "cm", "mig")["data"], {"a": "1", "c": "3"})
        self.out("delete", "cm", "mig")

    async def get_outputs_and_watch(self) -> None:
        ns = self.ns
        self.assertEqual(self.out("get", "cm", "-o", "name"), "configmap/cm1\nconfigmap/ssa\nconfigmap/typo\n")
        self.assertEqual(self.out("get", "cm", "cm1", "-o", "jsonpath={.data.a}"), "1")
        self.assertEqual(self.json("get", "cm", "cm1")["kind"], "ConfigMap")
        self.assertIn("kind: ConfigMap\n", self.out("get", "cm", "cm1", "-o", "yaml"))
        self.assertEqual(
            self.out("get", "cm", "-o", "custom-columns=N:.metadata.name,A:.data.a"),
            "N      A\ncm1    1\nssa    1\ntypo   <none>\n",
        )
        labels = self.out("get", "cm", "--show-labels").splitlines()
        self.assertEqual(_header(labels[0]), ["NAME", "DATA", "AGE", "LABELS"])
        self.assertEqual(labels[1].split()[0::3], ["cm1", "app=a"])
        every = self.out("get", "cm", "-A")
        self.assertEqual(_header(every), ["NAMESPACE", "NAME", "DATA", "AGE"])
        self.assertIn(f"{ns}   cm1 ", every)
        self.assertEqual([l.split()[0] for l in self.out("get", "cm", "-l", "app=a").splitlines()], ["NAME", "cm1"])
        self.assertEqual([l.split()[0] for l in self.out("get", "cm", "-l", "app!=a").splitlines()],
                         ["NAME", "ssa", "typo"])
        self.assertEqual([l.split()[0] for l in self.out("get", "cm", "--field-selector", "metadata.name=ssa")
                          .splitlines()], ["NAME", "ssa"])
        self.assertEqual([l.split()[0] for l in self.out("get", "cm", "--chunk-size=1").splitlines()],
                         ["NAME", "cm1", "ssa", "typo"])
        self.assertEqual(
            self.err("get", "cm", "--field-selector", "spec.x=1"),
            'Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match label selector "", '
            'field selector "spec.x=1": field label not supported: spec.x\n',
        )
        self.assertEqual(self.k("get", "cm", "-l", "app=none").stderr, f"No resources found in {ns} namespace.\n")

        # get -w: the list, then a change made while watching
        path = os.path.join(self.home, "watch.out")
        watcher = self.popen("get", "cm", "cm1", "-w", "-o", "jsonpath={.metadata.labels.w}{\"\\n\"}",
                             stdout_path=path)
        table_path = os.path.join(self.home, "watch-table.out")
        table_watcher = self.popen("get", "cm", "-w", stdout_path=table_path)

        def read(p: str) -> str:
            with open(p) as f:
                return f.read()

        await self.until("the watch's list", lambda: read(path) == "\n" and "typo" in read(table_path))
        self.assertEqual(self.out("label", "cm", "cm1", "w=1"), "configmap/cm1 labeled\n")
        await self.until("the watched change", lambda: read(path) == "\n1\n" and read(table_path).count("cm1") == 2)
        watcher.kill()
        table_watcher.kill()
        self.assertEqual(_header(read(table_path)), ["NAME", "DATA", "AGE"])
        self.assertEqual(self.out("annotate", "cm", "cm1", "note=hi"), "configmap/cm1 annotated\n")
        self.assertEqual(self.json("get", "cm", "cm1")["metadata"]["annotations"], {"note": "hi"})

    async def patch_replace_scale(self) -> None:
        self.assertEqual(
            self.out("patch", "deploy", "web", "-p",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}'),
            "deployment.apps/web patched\n",
        )
        containers = self.json("get", "deploy", "web")["spec"]["template"]["spec"]["containers"]
        self.assertEqual([(c["name"], c["image"]) for c in containers], [("nginx", "nginx:1.25"), ("side", "busybox")])
        self.assertEqual(
            self.out("patch", "deploy", "web", "-p",
                     '{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}'),
            "deployment.apps/web patched\n",
        )
        self.out("patch", "deploy", "web", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1"}}}')
        self.out("patch", "deploy", "web", "--type", "json", "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
        dep = self.json("get", "deploy", "web")
        self.assertEqual((dep["metadata"]["labels"], dep["spec"]["replicas"]), ({"m": "1"}, 4))
        self.assertEqual(len(dep["spec"]["template"]["spec"]["containers"]), 1)
        self.assertEqual(
            self.err("patch", "deploy", "web", "-p", '{"spec":{"replicas":"x"}}'),
            'Error from server (BadRequest): Deployment in version "v1" cannot be handled as a Deployment: json: '
            "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32\n",
        )
        self.out("patch", "cm", "cm1", "--type", "merge", "-p", '{"data":{"a":null,"b":"2"}}')
        self.assertEqual(self.json("get", "cm", "cm1")["data"], {"b": "2"})

        stale = self.write("stale.yaml", self.out("get", "cm", "cm1", "-o", "yaml"))
        self.out("label", "cm", "cm1", "y=z")
        self.assertEqual(
            self.err("replace", "-f", stale),
            f'Error from server (Conflict): error when replacing "{stale}": Operation cannot be fulfilled on '
            'configmaps "cm1": the object has been modified; please apply your changes to the latest version '
            "and try again\n",
        )

        self.assertEqual(self.out("scale", "deploy", "web", "--replicas=5"), "deployment.apps/web scaled\n")
        self.assertEqual(self.err("scale", "deploy", "web", "--current-replicas=2", "--replicas=3"),
                         "error: Expected replicas to be 2, was 5\n")
        self.assertEqual(self.out("apply", "-f", self.write("sts.yaml", STS)), "statefulset.apps/db created\n")
        self.assertEqual(self.out("scale", "sts", "db", "--replicas=3"), "statefulset.apps/db scaled\n")
        scale = json.loads(self.out("get", "--raw", f"/apis/apps/v1/namespaces/{self.ns}/statefulsets/db/scale"))
        self.assertEqual(
            (scale["kind"], scale["apiVersion"], scale["spec"], scale["status"]),
            ("Scale", "autoscaling/v1", {"replicas": 3}, {"replicas": 0, "selector": "app=db"}),
        )
        self.assertEqual(self.out("rollout", "restart", "deploy", "web"), "deployment.apps/web restarted\n")
        self.assertEqual(self.out("set", "image", "deploy/web", "nginx=nginx:1.26"),
                         "deployment.apps/web image updated\n")
        template = self.json("get", "deploy", "web")["spec"]["template"]
        self.assertIn("kubectl.kubernetes.io/restartedAt", template["metadata"]["annotations"])
        self.assertEqual(template["spec"]["containers"][0]["image"], "nginx:1.26")

    async def dry_run_diff_edit_describe(self) -> None:
        ns = self.ns
        self.assertEqual(self.out("create", "cm", "dry", "--from-literal=a=b", "--dry-run=server"),
                         "configmap/dry created (server dry run)\n")
        self.assertEqual(self.err("get", "cm", "dry"), 'Error from server (NotFound): configmaps "dry" not found\n')
        changed = self.write("d2.yaml", DEPLOY % (2, "nginx:1.27"))
        self.assertEqual(self.out("apply", "-f", changed, "--dry-run=server"),
                         "deployment.apps/web configured (server dry run)\n")
        self.assertEqual(self.out("delete", "deploy", "web", "--dry-run=server"),
                         'deployment.apps "web" deleted (server dry run)\n')
        dep = self.json("get", "deploy", "web")
        self.assertEqual((dep["spec"]["replicas"], dep["spec"]["template"]["spec"]["containers"][0]["image"]),
                         (5, "nginx:1.26"))
        diff = self.k("diff", "-f", changed, ok=False)
        self.assertEqual(diff.returncode, 1, diff.stderr)
        for line in ("-  replicas: 5", "+  replicas: 2", "-      - image: nginx:1.26", "+      - image: nginx:1.27"):
            self.assertIn(line + "\n", diff.stdout)
        self.assertEqual(self.json("get", "deploy", "web")["spec"]["replicas"], 5)

        editor = self.write("editor.sh", EDITOR)
        os.chmod(editor, 0o755)
        cmd = _kubectl_cmd(self.kubectl, ["-n", ns, "edit", "cm", "cm1"], None, self.kapid.insecure_url)
        env = dict(_kubectl_env(self.home), EDITOR=editor)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual((done.returncode, done.stdout), (0, "configmap/cm1 edited\n"), done.stderr)
        self.assertEqual(self.json("get", "cm", "cm1")["data"], {"b": "edited"})

        self.write("ev.yaml", EVENT % ns)
        self.assertEqual(self.out("create", "-f", os.path.join(self.home, "ev.yaml")), "event/e1 created\n")
        described = self.out("describe", "cm", "cm1")
        self.assertTrue(described.startswith(f"Name:         cm1\nNamespace:    {ns}\n"), described)
        self.assertIn("Events:  <none>\n", described)
        # describe finds events by involvedObject name, namespace, kind and uid
        uid = self.json("get", "cm", "cm1")["metadata"]["uid"]
        self.out("create", "-f", self.write("ev2.yaml", EVENT2 % (ns, uid)))
        described = self.out("describe", "cm", "cm1")
        self.assertIn("Events:\n  Type     Reason  Age", described)
        self.assertRegex(described, r"\n  Warning  Tested  \S+ \(x3 over \S+\)\s+me\s+hello there\n")
        events = self.out("get", "events")
        self.assertEqual(_header(events), ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
        self.assertEqual(events.splitlines()[1].split()[1:], ["Normal", "Tested", "configmap/cm1", "hello"])

    async def delete_and_wait(self) -> None:
        self.out("create", "cm", "w1")
        self.out("create", "cm", "w2")
        path = os.path.join(self.home, "wait.out")
        waiter = self.popen("wait", "--for=delete", "cm/w2", "--timeout=30s", stdout_path=path)
        self.assertEqual(self.out("delete", "cm", "w1", "--wait"), 'configmap "w1" deleted\n')
        self.assertEqual(self.err("get", "cm", "w1"), 'Error from server (NotFound): configmaps "w1" not found\n')
        self.assertEqual(self.out("delete", "cm", "w2"), 'configmap "w2" deleted\n')
        await self.until("wait --for=delete", lambda: waiter.poll() is not None)
        with open(path) as f:
            self.assertEqual((waiter.returncode, f.read()), (0, "configmap/w2 condition met\n"))
        self.assertEqual(self.out("wait", "--for=jsonpath={.data.b}=edited", "cm/cm1", "--timeout=10s"),
                         "configmap/cm1 condition met\n")
        # a condition set through the status subresource while kubectl waits for it
        path = os.path.join(self.home, "wait-condition.out")
        waiter = self.popen("wait", "--for=condition=Available", "deploy/web", "--timeout=30s", stdout_path=path)
        condition = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "ok",
                     "lastUpdateTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"}
        self.assertEqual(self.out("patch", "deploy", "web", "--subresource=status", "--type=merge", "-p",
                                  json.dumps({"status": {"conditions": [condition]}})), "deployment.apps/web patched\n")
        await self.until("wait --for=condition", lambda: waiter.poll() is not None)
        with open(path) as f:
            self.assertEqual((waiter.returncode, f.read()), (0, "deployment.apps/web condition met\n"))

    async def generators_and_tables(self) -> None:
        ns = self.ns
        cert, key = _tls_pair(self.home)
        suffix = self.kubectl.replace(".", "")
        commands = [
            (["create", "configmap", "c1", "--from-literal=a=b"], "configmap/c1 created"),
            (["create", "secret", "generic", "s1", "--from-literal=p=q"], "secret/s1 created"),
            (["create", "secret", "tls", "t1", f"--cert={cert}", f"--key={key}"], "secret/t1 created"),
            (["create", "secret", "docker-registry", "d1", "--docker-server=r.io", "--docker-username=u",
              "--docker-password=p"], "secret/d1 created"),
            (["create", "service", "clusterip", "svc1", "--tcp=80:8080"], "service/svc1 created"),
            (["create", "service", "nodeport", "np1", "--tcp=80:8080"], "service/np1 created"),
            (["create", "service", "externalname", "en1", "--external-name=example.com"], "service/en1 created"),
            (["create", "serviceaccount", "sa1"], "serviceaccount/sa1 created"),
            (["create", "deployment", "d1", "--image=nginx", "--replicas=2"], "deployment.apps/d1 created"),
            (["create", "job", "j1", "--image=busybox"], "job.batch/j1 created"),
            (["create", "cronjob", "cj1", "--image=busybox", "--schedule=*/5 * * * *"], "cronjob.batch/cj1 created"),
            (["create", "job", "j2", "--from=cronjob/cj1"], "job.batch/j2 created"),
            (["create", "role", "r1", "--verb=get", "--resource=pods"], "role.rbac.authorization.k8s.io/r1 created"),
            (["create", "rolebinding", "rb1", "--role=r1", "--user=bob"],
             "rolebinding.rbac.authorization.k8s.io/rb1 created"),
            (["create", "clusterrole", f"cr{suffix}{ns}", "--verb=get", "--resource=nodes"],
             f"clusterrole.rbac.authorization.k8s.io/cr{suffix}{ns} created"),
            (["create", "clusterrolebinding", f"crb{suffix}{ns}", f"--clusterrole=cr{suffix}{ns}", "--user=bob"],
             f"clusterrolebinding.rbac.authorization.k8s.io/crb{suffix}{ns} created"),
            (["create", "ingress", "ing1", "--rule=foo.com/bar=svc1:80"], "ingress.networking.k8s.io/ing1 created"),
            (["create", "poddisruptionbudget", "pdb1", "--selector=app=x", "--min-available=1"],
             "poddisruptionbudget.policy/pdb1 created"),
            (["create", "priorityclass", f"pc{suffix}{ns}", "--value=100"],
             f"priorityclass.scheduling.k8s.io/pc{suffix}{ns} created"),
            (["create", "quota", "q1", "--hard=pods=10"], "resourcequota/q1 created"),
            (["run", "p1", "--image=nginx"], "pod/p1 created"),
        ]
        for args, expected in commands:
            self.assertEqual(self.out(*args), expected + "\n")
        secrets = {s["metadata"]["name"]: (s["type"], sorted(s["data"])) for s in self.json("get", "secrets")["items"]}
        self.assertEqual(secrets, {
            "d1": ("kubernetes.io/dockerconfigjson", [".dockerconfigjson"]),
            "s1": ("Opaque", ["p"]),
            "t1": ("kubernetes.io/tls", ["tls.crt", "tls.key"]),
        })
        job = self.json("get", "job", "j1")
        self.assertEqual((job["spec"]["backoffLimit"], job["spec"]["completions"], job["spec"]["parallelism"],
                          job["spec"]["template"]["spec"]["restartPolicy"]), (6, 1, 1, "Never"))

        tables = {
            "pods": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "deployments": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "services": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            "configmaps": ["NAME", "DATA", "AGE"],
            "secrets": ["NAME", "TYPE", "DATA", "AGE"],
            "jobs": ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
            "cronjobs": ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"],
            "serviceaccounts": ["NAME", "SECRETS", "AGE"],
            "ingresses": ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
            "pdb": ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"],
            "roles": ["NAME", "CREATED", "AT"],
            "rolebindings": ["NAME", "ROLE", "AGE"],
        }
        for resource, header in tables.items():
            self.assertEqual(_header(self.out("get", resource)), header, resource)
        self.assertEqual(
            _header(self.out("get", "pods", "-o", "wide")),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"],
        )
        self.assertEqual(self.out("get", "pods").splitlines()[1].split()[:4], ["p1", "0/1", "Pending", "0"])
        wide = self.out("get", "deploy", "d1", "-o", "wide").split()
        self.assertEqual(wide[:12] + wide[13:],
                         ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR",
                          "d1", "0/2", "0", "0", "nginx", "nginx", "app=d1"])
        self.assertEqual(self.out("get", "secret", "s1").splitlines()[1].split()[:3], ["s1", "Opaque", "1"])
        svc = self.out("get", "svc", "svc1").splitlines()[1].split()
        self.assertEqual(svc[:2] + svc[3:5], ["svc1", "ClusterIP", "<none>", "80/TCP"])
        self.assertTrue(svc[2].startswith("10.0.0."), svc)
        taken = self.err("create", "service", "clusterip", "taken", "--tcp=80", f"--clusterip={svc[2]}")
        self.assertEqual(taken, f'error: failed to create ClusterIP service: Service "taken" is invalid: spec.clusterIPs: '
                                f'Invalid value: []string{{"{svc[2]}"}}: failed to allocate IP {svc[2]}: provided IP is '
                                "already allocated\n")
        self.assertRegex(self.out("get", "svc", "np1").splitlines()[1].split()[4], r"^80:3[0-9]{4}/TCP$")
        self.assertEqual(self.out("get", "svc", "kubernetes", "-n", "default").splitlines()[1].split()[:5],
                         ["kubernetes", "ClusterIP", "10.0.0.1", "<none>", "443/TCP"])
        self.assertEqual(self.out("auth", "can-i", "create", "pods"), "yes\n")
        self.assertEqual(len(self.out("create", "token", "sa1").strip().split(".")), 3)
        self.assertEqual(self.out("get", "svc", "en1").splitlines()[1].split()[:5],
                         ["en1", "ExternalName", "<none>", "example.com", "<none>"])
        self.assertEqual(self.out("get", "cj", "cj1").splitlines()[1].split()[:7],
                         ["cj1", "*/5", "*", "*", "*", "*", "<none>"])
        self.assertEqual(self.out("get", "job", "j1").splitlines()[1].split()[:3], ["j1", "Running", "0/1"])
        wide = self.out("get", "rolebinding", "rb1", "-o", "wide").split()
        self.assertEqual(wide[:8] + wide[9:],
                         ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS", "rb1", "Role/r1", "bob"])
        self.assertEqual(self.out("create", "-f", self.write("node.yaml", NODE), "--dry-run=server"),
                         "node/n1 created (server dry run)\n")
        self.assertEqual(_header(self.out("get", "nodes", "-o", "wide", "-l", "x=y") or "NAME"), ["NAME"])
        self.assertEqual(_header(self.out("get", "namespaces")), ["NAME", "STATUS", "AGE"])
        self.assertIn(f"\n{ns} ", self.out("get", "namespaces"))

    async def discovery_and_explain(self) -> None:
        versions = self.out("api-versions").split()
        for gv in ("v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
                   "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1",
                   "discovery.k8s.io/v1", "events.k8s.io/v1", "storage.k8s.io/v1", "scheduling.k8s.io/v1",
                   "node.k8s.io/v1", "admissionregistration.k8s.io/v1", "certificates.k8s.io/v1"):
            self.assertIn(gv, versions)
        resources = {}
        for line in self.out("api-resources", "-o", "wide").splitlines()[1:]:
            words = line.split()
            version = next(w for w in words[1:3] if re.match(r"^([a-z0-9.-]+/)?v[0-9]", w))
            resources[f"{words[0]}/{version}"] = words
        self.assertEqual(
            resources["deployments/apps/v1"],
            ["deployments", "deploy", "apps/v1", "true", "Deployment",
             "create,delete,deletecollection,get,list,patch,update,watch", "all"],
        )
        self.assertEqual(
            resources["namespaces/v1"][:5] + resources["namespaces/v1"][-1:],
            ["namespaces", "ns", "v1", "false", "Namespace", "create,delete,get,list,patch,update,watch"],
        )
        explained = self.out("explain", "deployment.spec.strategy")
        self.assertTrue(explained.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\n"
                                             "FIELD: strategy <DeploymentStrategy>\n"), explained)
        self.assertIn("  rollingUpdate\t<RollingUpdateDeployment>\n", explained)
        for path, head in (("pods.spec.containers.image", "FIELD: image <string>"),
                           ("cronjob.spec.schedule", "FIELD: schedule <string>"),
                           ("ingress.spec.rules", "FIELD: rules <[]IngressRule>"),
                           ("svc", "DESCRIPTION:")):
            self.assertIn(head + "\n", self.out("explain", path))
        self.assertEqual(self.err("explain", "cm.nosuch"), 'error: field "nosuch" does not exist\n')

    async def audit_fixes_and_surface(self) -> None:
        # subresource tables
        scale = self.out("get", "deploy", "web", "--subresource=scale").splitlines()
        self.assertEqual((_header(scale[0]), scale[1].split()), (["NAME", "DESIRED", "AVAILABLE"], ["web", "5", "0"]))
        self.assertEqual(_header(self.out("get", "deploy", "web", "--subresource=status")),
                         ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
        # events.k8s.io events print the core columns; both groups read one stored event
        self.assertEqual(_header(self.out("get", "ev.events.k8s.io")), ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
        event = self.json("get", "events.v1.events.k8s.io", "e1")
        self.assertEqual((event["apiVersion"], event["note"], event["regarding"]["name"]),
                         ("events.k8s.io/v1", "hello", "cm1"))
        # HPA created by kubectl (v1 from 1.32, v2 from 1.33) read in both versions
        self.assertEqual(self.out("autoscale", "deploy", "web", "--cpu-percent=50", "--max=5"),
                         "horizontalpodautoscaler.autoscaling/web autoscaled\n")
        as_v1 = self.json("get", "horizontalpodautoscalers.v1.autoscaling", "web")
        self.assertEqual((as_v1["apiVersion"], as_v1["spec"].get("targetCPUUtilizationPercentage")),
                         ("autoscaling/v1", 50), as_v1)
        self.assertEqual(self.json("get", "horizontalpodautoscalers.v2.autoscaling", "web")["spec"]["metrics"], [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}])
        # a changed clusterIP is refused
        ip = self.json("get", "svc", "svc1")["spec"]["clusterIP"]
        other = "10.0.0.250" if ip != "10.0.0.250" else "10.0.0.251"
        self.assertEqual(
            self.err("patch", "svc", "svc1", "-p", json.dumps({"spec": {"clusterIP": other}})),
            f'The Service "svc1" is invalid: spec.clusterIPs[0]: Invalid value: []string{{"{other}"}}: '
            "may not change once set\n",
        )
        # the controllers' zero counters
        self.assertEqual(self.json("get", "sts", "db")["status"], {"replicas": 0, "availableReplicas": 0})
        # CSRs: the requester recorded, approve and deny set their conditions
        request = _csr_pem()
        names = {}
        for verb, done in (("approve", "approved"), ("deny", "denied")):
            name = f"csr-{verb}-{self.ns}"
            names[verb] = name
            self.out("create", "-f", self.write(f"{name}.yaml", CSR % (name, request)))
            csr = self.json("get", "csr", name)
            self.assertTrue(csr["spec"].get("username"), csr["spec"])
            self.assertEqual(self.out("certificate", verb, name),
                             f"certificatesigningrequest.certificates.k8s.io/{name} {done}\n")
        self.assertEqual([c["type"] for c in self.json("get", "csr", names["approve"])["status"]["conditions"]],
                         ["Approved"])
        self.assertEqual([c["type"] for c in self.json("get", "csr", names["deny"])["status"]["conditions"]],
                         ["Denied"])
        # kube 1.33's remaining resources
        rules = self.out("auth", "can-i", "--list").splitlines()
        self.assertEqual(rules[0].split(), ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"])
        self.assertIn(["*.*", "[]", "[]", "[*]"], [line.split() for line in rules[1:]])
        statuses = self.k("get", "componentstatuses")
        self.assertEqual(statuses.returncode, 0, statuses.stderr)
        self.assertIn("Warning: v1 ComponentStatus is deprecated in v1.19+", statuses.stderr)
        lines = statuses.stdout.splitlines()
        self.assertEqual(_header(lines[0]), ["NAME", "STATUS", "MESSAGE", "ERROR"])
        self.assertIn(["etcd-0", "Healthy", "ok"], [line.split() for line in lines[1:]])
        resources = self.out("api-resources", "-o", "name").split()
        for name in ("bindings", "componentstatuses", "tokenreviews.authentication.k8s.io",
                     "subjectaccessreviews.authorization.k8s.io", "localsubjectaccessreviews.authorization.k8s.io",
                     "selfsubjectrulesreviews.authorization.k8s.io", "ipaddresses.networking.k8s.io",
                     "servicecidrs.networking.k8s.io"):
            self.assertIn(name, resources)


def _csr_pem() -> str:
    """
    A base64 PEM certificate request (for C{kubectl certificate approve/deny}).
    """
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "conformance")])
    ).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


CSR = """apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: %s}
spec:
  request: %s
  signerName: example.com/signer
  usages: [client auth]
"""


class Kubectl132ConformanceTests(ConformanceKubectlMixin, TestCase):
    """
    kubectl 1.32 against kapid on its embedded store.
    """

    kubectl = "1.32"

    async def start(self) -> KapidProcess:
        return await start_kapid(self, NO_ROOT_CA)


class EtcdKubectlConformanceTests(ConformanceKubectlMixin, TestCase):
    """
    kubectl 1.33 against kapid on a real etcd.
    """

    kubectl = "1.33"

    async def start(self) -> KapidProcess:
        etcd = await shared_etcd(__name__)
        prefix = "/kapid-conf-" + uuid.uuid4().hex[:8]
        return await start_kapid(self, f"--etcd-servers={etcd.client_url}", f"--etcd-prefix={prefix}", NO_ROOT_CA)
