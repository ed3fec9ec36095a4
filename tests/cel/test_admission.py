"""
Tests for L{kapid.cel.admission}: webhook matchConditions and ValidatingAdmissionPolicy expressions.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.interfaces import Attributes
from kapid.auth.interfaces import UserInfo
from kapid.cel.admission import (
    CompiledPolicy,
    MatchConditions,
    admission_variables,
    compiled_match_conditions,
    compiled_policy,
    denial_message,
    request_variable,
    warning_message,
)


def attributes(**kw: Any) -> Attributes:
    """A create of a Deployment in C{default} by C{alice}."""
    values: dict[str, Any] = dict(
        kind=("apps", "v1", "Deployment"), resource=("apps", "v1", "deployments"), operation="CREATE",
        namespace="default", name="web", object={"metadata": {"name": "web", "labels": {"app": "web"}},
                                                 "spec": {"replicas": 5}},
        user=UserInfo("alice", groups=("dev", "system:authenticated")))
    values.update(kw)
    return Attributes(**values)


class RequestTests(SynchronousTestCase):
    """The C{request} variable."""

    def test_request(self) -> None:
        """The request is kube's AdmissionRequest without objects."""
        req = request_variable(attributes())
        self.assertEqual(req["operation"], "CREATE")
        self.assertEqual(req["userInfo"], {"username": "alice", "groups": ["dev", "system:authenticated"]})
        self.assertEqual(req["resource"], {"group": "apps", "version": "v1", "resource": "deployments"})
        self.assertEqual(req["namespace"], "default")


class MatchConditionsTests(SynchronousTestCase):
    """Webhook matchConditions."""

    def test_all_true_matches(self) -> None:
        """Every condition true: the webhook is called."""
        mc = MatchConditions([{"name": "a", "expression": "request.userInfo.username != 'admin'"},
                              {"name": "b", "expression": "has(object.metadata.labels) && object.metadata.labels.app == 'web'"}])
        self.assertTrue(mc.match(admission_variables(attributes())).matches)

    def test_false_skips(self) -> None:
        """A false condition skips the webhook and names the condition."""
        mc = MatchConditions([{"name": "not-alice", "expression": "request.userInfo.username != 'alice'"}])
        r = mc.match(admission_variables(attributes()))
        self.assertEqual((r.matches, r.failed, r.error), (False, "not-alice", None))

    def test_false_wins_over_error(self) -> None:
        """A false condition decides even when another errs."""
        mc = MatchConditions([{"name": "err", "expression": "object.nope == 1"},
                              {"name": "no", "expression": "false"}])
        self.assertEqual(mc.match(admission_variables(attributes())).error, None)

    def test_error_follows_failure_policy(self) -> None:
        """An error is an error under Fail, no match under Ignore."""
        cond = [{"name": "err", "expression": "object.nope == 1"}]
        self.assertEqual(MatchConditions(cond, "Fail").match(admission_variables(attributes())).error,
                         "no such key: nope")
        r = MatchConditions(cond, "Ignore").match(admission_variables(attributes()))
        self.assertEqual((r.matches, r.error), (False, None))

    def test_delete_has_null_object(self) -> None:
        """On a delete, object is null."""
        mc = MatchConditions([{"name": "a", "expression": "object == null && oldObject.metadata.name == 'web'"}])
        a = attributes(operation="DELETE", object=None, old_object={"metadata": {"name": "web"}})
        self.assertTrue(mc.match(admission_variables(a)).matches)

    def test_compile_errors(self) -> None:
        """Expressions that do not compile or are not bool are causes."""
        mc = MatchConditions([{"name": "a", "expression": "object."}, {"name": "b", "expression": "'x'"}])
        errs = [str(e) for e in mc.errors("webhooks[0].matchConditions")]
        self.assertEqual(len(errs), 2)
        self.assertTrue(errs[0].startswith('webhooks[0].matchConditions[0].expression: Invalid value: "object.": '
                                           "compilation failed: ERROR: <input>:1:"), errs[0])
        self.assertEqual(errs[1], "webhooks[0].matchConditions[1].expression: Invalid value: \"'x'\": must evaluate to bool")

    def test_cached(self) -> None:
        """The same conditions compile once."""
        cond = [{"name": "a", "expression": "true"}]
        self.assertIs(compiled_match_conditions(cond), compiled_match_conditions([dict(cond[0])]))


POLICY = {
    "failurePolicy": "Fail",
    "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
    "matchConditions": [{"name": "not-system", "expression": "!request.namespace.startsWith('kube-')"}],
    "variables": [{"name": "replicas", "expression": "object.spec.replicas"},
                  {"name": "max", "expression": "int(params.data.maxReplicas)"}],
    "validations": [
        {"expression": "variables.replicas <= variables.max",
         "messageExpression": "'replicas ' + string(variables.replicas) + ' exceed ' + string(variables.max)",
         "reason": "Forbidden"},
        {"expression": "object.metadata.name.size() < 3"},
        {"expression": "object.metadata.name != 'forbidden'", "message": "name is forbidden"},
    ],
    "auditAnnotations": [{"key": "replicas", "valueExpression": "'replicas=' + string(variables.replicas)"}],
}


class PolicyTests(SynchronousTestCase):
    """ValidatingAdmissionPolicy expressions."""

    def evaluate(self, spec: dict = POLICY, params: Any = None, **kw: Any) -> Any:
        params = params if params is not None else {"data": {"maxReplicas": "3"}}
        return CompiledPolicy(spec).evaluate(admission_variables(attributes(**kw), params=params))

    def test_denies_with_messages(self) -> None:
        """Failed validations deny with messageExpression, default and explicit messages, and reasons."""
        r = self.evaluate()
        self.assertTrue(r.matches)
        self.assertEqual([(d.action, d.message, d.code) for d in r.decisions], [
            ("deny", "replicas 5 exceed 3", 403),
            ("deny", "failed expression: object.metadata.name.size() < 3", 422),
        ])
        self.assertEqual(r.audit_annotations, (("replicas", "replicas=5"),))

    def test_admits(self) -> None:
        """Passing validations give no decisions."""
        r = self.evaluate(params={"data": {"maxReplicas": "10"}},
                          object={"metadata": {"name": "ok"}, "spec": {"replicas": 2}})
        self.assertEqual(r.decisions, ())

    def test_match_conditions_exclude(self) -> None:
        """A false matchCondition: the policy does not apply."""
        r = self.evaluate(namespace="kube-system")
        self.assertEqual((r.matches, r.decisions), (False, ()))

    def test_variable_error_reaches_users_only(self) -> None:
        """A variable that fails fails only the validations using it; under Fail they deny."""
        r = self.evaluate(object={"metadata": {"name": "forbidden"}, "spec": {}})
        self.assertEqual([(d.message, d.error) for d in r.decisions], [
            ("expression 'variables.replicas <= variables.max' resulted in error: no such key: replicas", True),
            ("failed expression: object.metadata.name.size() < 3", False),
            ("name is forbidden", False),
        ])

    def test_ignore_admits_errors(self) -> None:
        """Under Ignore an evaluation error admits."""
        spec = dict(POLICY, failurePolicy="Ignore")
        r = self.evaluate(spec, object={"metadata": {"name": "ab"}, "spec": {}})
        self.assertEqual([d.action for d in r.decisions], ["admit"])

    def test_compile_errors(self) -> None:
        """Bad expressions are causes with their paths; non-bool validations and non-string messages too."""
        spec = {"validations": [{"expression": "object.", "messageExpression": "1"}, {"expression": "'x'"}],
                "variables": [{"name": "v", "expression": "authorizer.allowed()"}]}
        errs = [str(e) for e in CompiledPolicy(spec).compile_errors]
        self.assertEqual([e.split(":")[0] for e in errs], [
            "spec.variables[0].expression", "spec.validations[0].expression",
            "spec.validations[0].messageExpression", "spec.validations[1].expression"])
        self.assertIn("must evaluate to string", errs[2])
        self.assertIn("must evaluate to bool", errs[3])

    def test_messages(self) -> None:
        """kube's texts for a denial and a warning."""
        r = self.evaluate()
        self.assertEqual(denial_message("max-replicas", "max-replicas-binding", r.decisions[0]),
                         "ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied "
                         "request: replicas 5 exceed 3")
        self.assertEqual(warning_message("p", "b", r.decisions[0]),
                         "Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': replicas 5 exceed 3")

    def test_cached(self) -> None:
        """The same spec compiles once."""
        self.assertIs(compiled_policy(POLICY), compiled_policy(dict(POLICY)))


class CostGuardTests(SynchronousTestCase):
    """Nested loops over large values are refused before they run."""

    def test_nested_loops(self) -> None:
        """Three nested loops over 2000 items fail at once with cel-go's cost-limit error; over 20 they run."""
        policy = CompiledPolicy({"validations": [
            {"expression": "object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))"}]})
        r = policy.evaluate({"object": {"items": list(range(2000))}})
        self.assertEqual([d.message for d in r.decisions], [
            "expression 'object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))' resulted in "
            "error: operation cancelled: actual cost limit exceeded"])
        self.assertEqual(policy.evaluate({"object": {"items": list(range(20))}}).decisions, ())
