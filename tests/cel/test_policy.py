"""
Tests for L{kapid.cel.policy}: the ValidatingAdmissionPolicy plugin through the REST handlers, with
params from ConfigMaps, Deny/Warn/Audit actions, match constraints and matchConditions.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import kapid.cel.policy  # noqa: F401  (registers the plugin)
from tests.admission.helpers import api_with
from tests.endpoints.helpers import cm, deployment

ADM = "/apis/admissionregistration.k8s.io/v1"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"

POLICY: dict = {
    "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": "max-replicas"},
    "spec": {
        "failurePolicy": "Fail",
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]},
        "matchConditions": [{"name": "not-exempt", "expression":
                             "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"}],
        "variables": [{"name": "max", "expression": "int(params.data.maxReplicas)"}],
        "validations": [{"expression": "object.spec.replicas <= variables.max",
                         "messageExpression": "'replicas must be at most ' + string(variables.max)",
                         "reason": "Forbidden"}],
        "auditAnnotations": [{"key": "replicas", "valueExpression": "string(object.spec.replicas)"}],
    },
}


def binding(actions: list[str], **ref: Any) -> dict:
    """A binding of the policy to the C{limits} ConfigMap (or C{ref})."""
    param_ref = {"name": "limits", "parameterNotFoundAction": "Deny"}
    param_ref.update(ref)
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "max-replicas-binding"},
            "spec": {"policyName": "max-replicas", "validationActions": actions, "paramRef": param_ref}}


class PolicyPluginTests(SynchronousTestCase):
    """The plugin on an in-memory API."""

    def setup(self, actions: list[str], policy: dict = POLICY, **ref: Any) -> Any:
        api = api_with(self, names=["ValidatingAdmissionPolicy"])
        for path, body in ((f"{ADM}/validatingadmissionpolicies", policy),
                           (f"{ADM}/validatingadmissionpolicybindings", binding(actions, **ref)),
                           ("/api/v1/namespaces/default/configmaps", cm("limits", {"maxReplicas": "3"}))):
            code, out, _ = api.post(path, body)
            self.assertEqual(code, 201, out)
        return api

    def test_deny(self) -> None:
        """A Deny binding refuses with kube's message, the validation's reason and code."""
        api = self.setup(["Deny"])
        code, out, _ = api.post(DEPLOYS, deployment("web", replicas=5))
        self.assertEqual(code, 403, out)
        self.assertEqual(out["reason"], "Forbidden")
        self.assertEqual(out["message"], 'deployments.apps "web" is forbidden: ValidatingAdmissionPolicy '
                                         "'max-replicas' with binding 'max-replicas-binding' denied request: "
                                         "replicas must be at most 3")
        self.assertEqual(api.get(f"{DEPLOYS}/web")[0], 404)
        self.assertEqual(api.post(DEPLOYS, deployment("web", replicas=2))[0], 201)

    def test_default_reason_is_invalid(self) -> None:
        """Without a reason the denial is 422 Invalid."""
        policy = copy.deepcopy(POLICY)
        del policy["spec"]["validations"][0]["reason"]
        api = self.setup(["Deny"], policy)
        code, out, _ = api.post(DEPLOYS, deployment("web", replicas=5))
        self.assertEqual((code, out["reason"]), (422, "Invalid"))

    def test_warn(self) -> None:
        """A Warn binding admits with kube's Warning header."""
        api = self.setup(["Warn"])
        code, out, headers = api.post(DEPLOYS, deployment("web", replicas=5))
        self.assertEqual(code, 201, out)
        self.assertEqual(headers.getRawHeaders("warning"), [
            "299 - \"Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding "
            "'max-replicas-binding': replicas must be at most 3\""])

    def test_audit(self) -> None:
        """An Audit binding admits without a warning; the failure and the policy's audit annotations
        are the request's audit annotations, as kube writes them."""
        from kapid.testing.admission import RecordingPlugin

        recorder = RecordingPlugin()
        api = api_with(self, plugins=[recorder], names=["ValidatingAdmissionPolicy"])
        for path, body in ((f"{ADM}/validatingadmissionpolicies", POLICY),
                           (f"{ADM}/validatingadmissionpolicybindings", binding(["Audit"])),
                           ("/api/v1/namespaces/default/configmaps", cm("limits", {"maxReplicas": "3"}))):
            self.assertEqual(api.post(path, body)[0], 201)
        code, out, headers = api.post(DEPLOYS, deployment("web", replicas=5))
        self.assertEqual(code, 201, out)
        self.assertIsNone(headers.getRawHeaders("warning"))
        [annotations] = [a.annotations for phase, a in recorder.calls
                         if phase == "validate" and a.resource[2] == "deployments"]
        self.assertEqual(annotations["max-replicas/replicas"], "5")
        self.assertEqual(json.loads(annotations["validation.policy.admission.k8s.io/validation_failure"]), [
            {"message": "replicas must be at most 3", "policy": "max-replicas", "binding": "max-replicas-binding",
             "expressionIndex": 0, "validationActions": ["Audit"]}])

    def test_match_condition_excludes(self) -> None:
        """An object the matchConditions exclude is admitted."""
        api = self.setup(["Deny"])
        body = deployment("web", replicas=5)
        body["metadata"]["labels"] = {"exempt": "yes"}
        self.assertEqual(api.post(DEPLOYS, body)[0], 201)

    def test_unmatched_resource(self) -> None:
        """Resources outside matchConstraints are not checked."""
        api = self.setup(["Deny"])
        self.assertEqual(api.post("/api/v1/namespaces/default/configmaps", cm("other"))[0], 201)

    def test_param_not_found(self) -> None:
        """A missing param denies under Deny and admits under Allow."""
        api = self.setup(["Deny"], name="nope")
        code, out, _ = api.post(DEPLOYS, deployment("web", replicas=1))
        self.assertEqual(code, 422, out)
        self.assertIn("no params found for policy binding with `Deny` parameterNotFoundAction", out["message"])
        api = self.setup(["Deny"], name="nope", parameterNotFoundAction="Allow")
        self.assertEqual(api.post(DEPLOYS, deployment("web", replicas=9))[0], 201)

    def test_params_by_selector(self) -> None:
        """A selector paramRef evaluates against every matching param."""
        api = self.setup(["Deny"], name=None, selector={"matchLabels": {"kind": "limits"}})
        self.assertEqual(api.post(DEPLOYS, deployment("web", replicas=9))[0], 422)  # none labelled: Deny
        body = cm("labelled", {"maxReplicas": "10"})
        body["metadata"]["labels"] = {"kind": "limits"}
        self.assertEqual(api.post("/api/v1/namespaces/default/configmaps", body)[0], 201)
        self.assertEqual(api.post(DEPLOYS, deployment("web", replicas=9))[0], 201)

    def test_live_reload(self) -> None:
        """Editing the policy applies to the next request."""
        api = self.setup(["Deny"])
        self.assertEqual(api.post(DEPLOYS, deployment("a", replicas=5))[0], 403)
        code, policy, _ = api.get(f"{ADM}/validatingadmissionpolicies/max-replicas")
        policy["spec"]["validations"][0]["expression"] = "object.spec.replicas <= variables.max * 2"
        self.assertEqual(api.put(f"{ADM}/validatingadmissionpolicies/max-replicas", policy)[0], 200)
        self.assertEqual(api.post(DEPLOYS, deployment("a", replicas=5))[0], 201)


class CompileOnCreateTests(SynchronousTestCase):
    """Expressions are compiled when policies and webhook configurations are written."""

    def test_policy_with_bad_expression(self) -> None:
        """A validation that does not compile is kube's 422 cause at its path; nothing is stored."""
        api = api_with(self, names=[])
        policy = copy.deepcopy(POLICY)
        policy["spec"]["validations"][0]["expression"] = "object.spec.replicas <="
        code, out, _ = api.post(f"{ADM}/validatingadmissionpolicies", policy)
        self.assertEqual(code, 422, out)
        cause = out["details"]["causes"][0]
        self.assertEqual(cause["field"], "spec.validations[0].expression")
        self.assertTrue(cause["message"].startswith(
            'Invalid value: "object.spec.replicas <=": compilation failed: ERROR: <input>:1:'), cause["message"])
        self.assertEqual(api.get(f"{ADM}/validatingadmissionpolicies/max-replicas")[0], 404)

    def test_webhook_match_condition(self) -> None:
        """A webhook matchCondition that is not a bool is refused."""
        api = api_with(self, names=[])
        config = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                  "metadata": {"name": "v"}, "webhooks": [{
                      "name": "v.example.com", "clientConfig": {"url": "https://127.0.0.1:1/"},
                      "sideEffects": "None", "admissionReviewVersions": ["v1"],
                      "matchConditions": [{"name": "a", "expression": "'not a bool'"}]}]}
        code, out, _ = api.post(f"{ADM}/validatingwebhookconfigurations", config)
        self.assertEqual(code, 422, out)
        self.assertEqual(out["details"]["causes"][0]["field"], "webhooks[0].matchConditions[0].expression")
        config["webhooks"][0]["matchConditions"][0]["expression"] = "request.userInfo.username != 'x'"
        self.assertEqual(api.post(f"{ADM}/validatingwebhookconfigurations", config)[0], 201)


class MatchPolicyTests(SynchronousTestCase):
    """matchConstraints.matchPolicy."""

    def hpa_policy(self, match_policy: str) -> Any:
        api = api_with(self, names=["ValidatingAdmissionPolicy"])
        policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                  "metadata": {"name": "no-hpa"}, "spec": {
                      "matchConstraints": {"matchPolicy": match_policy, "resourceRules": [
                          {"apiGroups": ["autoscaling"], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["horizontalpodautoscalers"]}]},
                      "validations": [{"expression": "false", "message": "no autoscalers"}]}}
        bind = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": "no-hpa"}, "spec": {"policyName": "no-hpa", "validationActions": ["Deny"]}}
        self.assertEqual(api.post(f"{ADM}/validatingadmissionpolicies", policy)[0], 201)
        self.assertEqual(api.post(f"{ADM}/validatingadmissionpolicybindings", bind)[0], 201)
        return api

    HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 3}}

    def test_equivalent(self) -> None:
        """By default a rule for autoscaling/v1 also matches a request to autoscaling/v2."""
        api = self.hpa_policy("Equivalent")
        code, out, _ = api.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", self.HPA)
        self.assertEqual(code, 422, out)
        self.assertIn("no autoscalers", out["message"])

    def test_exact(self) -> None:
        """With Exact it does not."""
        api = self.hpa_policy("Exact")
        code, out, _ = api.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", self.HPA)
        self.assertEqual(code, 201, out)
