"""
Admission end to end: a real C{twistd kapid} with its default plugin chain, driven with the real
kubectl and the C{kubernetes} Python client; admission webhooks served over HTTPS on loopback by
this test process; PodSecurity warnings and refusals as kubectl prints them.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.server import Site

from kapid.testing.tls import issue, make_ca, server_options
from tests.admission.test_webhook import Webhook
from tests.e2e.helpers import KapidProcess, run_kubectl_async, start_kapid

KUBECTL = "1.33"

CONFIGS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: label-them
webhooks:
- name: label.example.com
  clientConfig:
    url: %(base)s/mutate
    caBundle: %(ca)s
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
  sideEffects: None
  admissionReviewVersions: ["v1"]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: deny-bad
webhooks:
- name: deny.example.com
  clientConfig:
    url: %(base)s/deny
    caBundle: %(ca)s
  rules:
  - operations: ["CREATE", "DELETE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
  sideEffects: None
  admissionReviewVersions: ["v1"]
"""


class AdmissionEndToEndTests(TestCase):
    """
    kubectl and the Python client against kapid with webhooks and the default plugins.
    """

    timeout = 120

    async def kubectl(self, *args: str) -> Any:
        return await run_kubectl_async(KUBECTL, list(args), server=self.kapid.insecure_url, home=self.home)

    async def test_webhooks_and_pod_security(self) -> None:
        """
        A mutating webhook labels configmaps, a validating one refuses the one named bad (kubectl
        prints kube's error, the Python client gets a 403 with the message); a restricted
        namespace refuses a plain pod and a warn namespace prints kube's warning.
        """
        ca = make_ca()
        webhook = Webhook()
        pair = issue(ca, "webhook", ("localhost",), ("127.0.0.1",))
        port = reactor.listenSSL(0, Site(webhook), server_options(pair), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.kapid: KapidProcess = await start_kapid(self)
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        ns = "adm-" + uuid.uuid4().hex[:6]
        self.assertEqual((await self.kubectl("create", "namespace", ns)).returncode, 0)
        path = os.path.join(self.home, "hooks.yaml")
        with open(path, "w") as f:
            f.write(CONFIGS % {"base": f"https://127.0.0.1:{port.getHost().port}",
                               "ca": base64.b64encode(ca.cert_pem()).decode()})
        r = await self.kubectl("apply", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)

        r = await self.kubectl("-n", ns, "create", "configmap", "bad")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(
            r.stderr,
            'error: failed to create configmap: admission webhook "deny.example.com" denied the request: bad is a bad name\n',
        )
        r = await self.kubectl("-n", ns, "create", "configmap", "good", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["metadata"]["labels"], {"mutated": "yes"})

        import kubernetes

        def python_client() -> tuple[int, str]:
            api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(self.kapid.client_configuration()))
            try:
                api.create_namespaced_config_map(ns, {"metadata": {"name": "bad"}})
            except kubernetes.client.ApiException as e:
                return e.status, json.loads(e.body)["message"]
            return 201, ""

        status, message = await deferToThread(python_client)
        self.assertEqual((status, message), (403, 'admission webhook "deny.example.com" denied the request: bad is a bad name'))

        restricted = ns + "-r"
        await self.kubectl("create", "namespace", restricted)
        await self.kubectl("label", "namespace", restricted, "pod-security.kubernetes.io/enforce=restricted")
        r = await self.kubectl("-n", restricted, "run", "p", "--image=nginx")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(
            r.stderr,
            'Error from server (Forbidden): pods "p" is forbidden: violates PodSecurity "restricted:latest": '
            'allowPrivilegeEscalation != false (container "p" must set securityContext.allowPrivilegeEscalation=false), '
            'unrestricted capabilities (container "p" must set securityContext.capabilities.drop=["ALL"]), '
            'runAsNonRoot != true (pod or container "p" must set securityContext.runAsNonRoot=true), '
            'seccompProfile (pod or container "p" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")\n',
        )
        warn = ns + "-w"
        await self.kubectl("create", "namespace", warn)
        await self.kubectl("label", "namespace", warn, "pod-security.kubernetes.io/warn=baseline")
        r = await self.kubectl("-n", warn, "run", "h", "--image=nginx", "--overrides",
                               json.dumps({"spec": {"hostNetwork": True}}))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, 'Warning: would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)\n')
        r = await self.kubectl("-n", warn, "get", "pod", "h", "-o", "json")
        spec = json.loads(r.stdout)["spec"]
        self.assertEqual(spec["serviceAccountName"], "default")
        self.assertEqual(spec["priority"], 0)
        self.assertEqual([t["key"] for t in spec["tolerations"]],
                         ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"])
