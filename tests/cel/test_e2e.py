"""
CEL end to end: a real C{twistd kapid} driven with the real kubectl and the C{kubernetes} Python
client: a ValidatingAdmissionPolicy with params from a ConfigMap denying, warning (kubectl prints
the Warning) and auditing; a policy's typo reported in its status.typeChecking; a policy whose
expression does not compile refused with kube's 422.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from tests.e2e.helpers import KapidProcess, run_kubectl_async, start_kapid

KUBECTL = "1.33"

POLICY = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: max-replicas-%(id)s
spec:
  failurePolicy: Fail
  paramKind:
    apiVersion: v1
    kind: ConfigMap
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: %(ns)s
  variables:
  - name: max
    expression: "int(params.data.maxReplicas)"
  validations:
  - expression: "object.spec.replicas <= variables.max"
    messageExpression: "'replicas must be at most ' + string(variables.max)"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: max-replicas-%(id)s
spec:
  policyName: max-replicas-%(id)s
  validationActions: [%(actions)s]
  paramRef:
    name: limits
    namespace: %(ns)s
    parameterNotFoundAction: Deny
"""


class PolicyEndToEndTests(TestCase):
    """kubectl and the Python client against kapid with a ValidatingAdmissionPolicy."""

    timeout = 120

    async def kubectl(self, *args: str) -> Any:
        return await run_kubectl_async(KUBECTL, list(args), server=self.kapid.insecure_url, home=self.home)

    async def apply(self, text: str) -> Any:
        path = os.path.join(self.home, uuid.uuid4().hex + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return await self.kubectl("apply", "-f", path)

    async def test_deny_warn_audit(self) -> None:
        """
        Deny refuses with kube's message (kubectl and the Python client), Warn prints kube's
        Warning, Audit admits; a bad expression is refused when the policy is written.
        """
        self.kapid: KapidProcess = await start_kapid(self)
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        ns = "cel-" + uuid.uuid4().hex[:6]
        self.assertEqual((await self.kubectl("create", "namespace", ns)).returncode, 0)
        r = await self.kubectl("-n", ns, "create", "configmap", "limits", "--from-literal=maxReplicas=3")
        self.assertEqual(r.returncode, 0, r.stderr)

        r = await self.apply(POLICY % {"id": "deny", "ns": ns, "actions": "Deny"})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await self.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=5")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas-deny' with "
                      "binding 'max-replicas-deny' denied request: replicas must be at most 3", r.stderr)
        r = await self.kubectl("-n", ns, "create", "deployment", "small", "--image=nginx", "--replicas=2")
        self.assertEqual(r.returncode, 0, r.stderr)

        import kubernetes

        def python_client() -> tuple[int, str, str]:
            api = kubernetes.client.AppsV1Api(kubernetes.client.ApiClient(self.kapid.client_configuration()))
            body = {"metadata": {"name": "py"}, "spec": {
                "replicas": 9, "selector": {"matchLabels": {"app": "py"}},
                "template": {"metadata": {"labels": {"app": "py"}},
                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
            try:
                api.create_namespaced_deployment(ns, body)
            except kubernetes.client.ApiException as e:
                status = json.loads(e.body)
                return e.status, status["reason"], status["message"]
            return 201, "", ""

        code, reason, message = await deferToThread(python_client)
        self.assertEqual((code, reason), (403, "Forbidden"))
        self.assertTrue(message.endswith("denied request: replicas must be at most 3"), message)

        self.assertEqual((await self.kubectl("delete", "validatingadmissionpolicybinding",
                                             "max-replicas-deny")).returncode, 0)
        r = await self.apply(POLICY % {"id": "warn", "ns": ns, "actions": "Warn, Audit"})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await self.kubectl("-n", ns, "create", "deployment", "big", "--image=nginx", "--replicas=5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Warning: Validation failed for ValidatingAdmissionPolicy 'max-replicas-warn' with binding "
                      "'max-replicas-warn': replicas must be at most 3", r.stderr)

        typo = (POLICY % {"id": "typo", "ns": ns, "actions": "Deny"}).split("---")[0].replace(
            "object.spec.replicas <= variables.max", "object.spec.replicaz <= variables.max")
        r = await self.apply(typo)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await self.kubectl("wait", "--for=jsonpath={.status.observedGeneration}=1",
                               "validatingadmissionpolicy/max-replicas-typo", "--timeout=30s")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await self.kubectl("get", "validatingadmissionpolicy", "max-replicas-typo", "-o", "json")
        [warning] = json.loads(r.stdout)["status"]["typeChecking"]["expressionWarnings"]
        self.assertEqual(warning["fieldRef"], "spec.validations[0].expression")
        self.assertTrue(warning["warning"].startswith(
            "apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field 'replicaz'"), warning)

        bad = (POLICY % {"id": "bad", "ns": ns, "actions": "Deny"}).split("---")[0].replace(
            "object.spec.replicas <= variables.max", "object.spec.replicas <=")
        r = await self.apply(bad)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('spec.validations[0].expression: Invalid value: "object.spec.replicas <=": compilation failed',
                      r.stderr)


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.cel.example.com
spec:
  group: cel.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer}
              maxReplicas: {type: integer}
            x-kubernetes-validations:
            - rule: "%(rule)s"
              message: replicas must not exceed maxReplicas
"""


class CRDEndToEndTests(TestCase):
    """CRDs with rules through kubectl."""

    timeout = 120

    async def test_rules_compiled_on_apply(self) -> None:
        """
        A CRD whose rule names a missing field is refused with kube's cause; with a good rule it is
        created without any warning.
        """
        kapid = await start_kapid(self)
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        path = os.path.join(home, "crd.yaml")

        async def apply(rule: str) -> Any:
            with open(path, "w") as f:
                f.write(CRD % {"rule": rule})
            return await run_kubectl_async(KUBECTL, ["apply", "-f", path], server=kapid.insecure_url, home=home)

        r = await apply("self.replica <= self.maxReplicas")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: "
                      "Invalid value: apiextensions.ValidationRule{Rule:\"self.replica <= self.maxReplicas\"", r.stderr)
        self.assertIn("compilation failed: ERROR: <input>:1:5: undefined field 'replica'", r.stderr)
        r = await apply("self.replicas <= self.maxReplicas")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Warning", r.stderr)


PARAM_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: replicalimits.rules.example.com
spec:
  group: rules.example.com
  scope: Namespaced
  names: {plural: replicalimits, singular: replicalimit, kind: ReplicaLimit, listKind: ReplicaLimitList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          maxReplicas: {type: integer}
"""

CR_POLICY = """\
apiVersion: rules.example.com/v1
kind: ReplicaLimit
metadata:
  name: limit
  namespace: %(ns)s
maxReplicas: 2
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replica-limit
spec:
  failurePolicy: Fail
  paramKind:
    apiVersion: rules.example.com/v1
    kind: ReplicaLimit
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.replicas <= params.maxReplicas"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replica-limit
spec:
  policyName: replica-limit
  validationActions: [Deny]
  paramRef:
    name: limit
    parameterNotFoundAction: Allow
"""


class CustomParamsEndToEndTests(TestCase):
    """A policy whose params are custom resources (kube's documented ReplicaLimit example)."""

    timeout = 120

    async def test_custom_resource_params(self) -> None:
        """The ReplicaLimit of the request's namespace limits its Deployments; elsewhere none applies."""
        kapid = await start_kapid(self)
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)

        async def kubectl(*args: str) -> Any:
            return await run_kubectl_async(KUBECTL, list(args), server=kapid.insecure_url, home=home)

        async def apply(text: str) -> Any:
            path = os.path.join(home, uuid.uuid4().hex + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            return await kubectl("apply", "-f", path)

        ns = "crp-" + uuid.uuid4().hex[:6]
        self.assertEqual((await kubectl("create", "namespace", ns)).returncode, 0)
        r = await apply(PARAM_CRD)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await kubectl("wait", "--for=condition=Established", "crd/replicalimits.rules.example.com", "--timeout=30s")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await apply(CR_POLICY % {"ns": ns})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await kubectl("-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=3")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("ValidatingAdmissionPolicy 'replica-limit' with binding 'replica-limit' denied request: "
                      "failed expression: object.spec.replicas <= params.maxReplicas", r.stderr)
        r = await kubectl("-n", ns, "create", "deployment", "ok", "--image=nginx", "--replicas=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = await kubectl("-n", "default", "create", "deployment", "free", "--image=nginx", "--replicas=3")
        self.assertEqual(r.returncode, 0, r.stderr)
