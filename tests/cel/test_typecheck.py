"""
Tests for L{kapid.cel.typecheck}: ValidatingAdmissionPolicies type-checked against the kinds they
match, the warnings written to C{status.typeChecking} once per generation.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase, TestCase

from kapid.cel.typecheck import TypeCheckingController, expression_warnings, kind_schemas
from kapid.registry.builtin import builtin_registry
from tests.controllers.helpers import World

SPEC = {
    "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                            "operations": ["CREATE"], "resources": ["deployments"]}]},
    "validations": [{"expression": "object.spec.replicaz > 1"}, {"expression": "object.spec.replicas <= 5",
                                                                 "messageExpression": "object.metadata.nam"}],
}


class ExpressionWarningsTests(SynchronousTestCase):
    """The warnings kube writes."""

    def test_warnings(self) -> None:
        """Fields the kind lacks are warned about, one entry per expression, per kind."""
        kinds = kind_schemas(SPEC, builtin_registry())
        self.assertEqual([k for k, _ in kinds], ["apps/v1, Kind=Deployment"])
        warnings = expression_warnings(SPEC, kinds)
        self.assertEqual([w["fieldRef"] for w in warnings],
                         ["spec.validations[0].expression", "spec.validations[1].messageExpression"])
        self.assertEqual(warnings[0]["warning"], "apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field "
                                                 "'replicaz'\n | object.spec.replicaz > 1\n | ...........^")

    def test_wildcards_not_checked(self) -> None:
        """Rules with wildcards name no kind to check against."""
        spec = {"matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                                        "operations": ["*"], "resources": ["*"]}]}}
        self.assertEqual(kind_schemas(spec, builtin_registry()), [])


class ControllerTests(TestCase):
    """The controller writes status.typeChecking."""

    async def test_status(self) -> None:
        """A policy gets its warnings and observedGeneration; a fix clears the warnings."""
        w = World(custom=False)
        await w.start()
        c = TypeCheckingController(w.ctx)
        self.addCleanup(c.stop)
        await c.start()
        store = w.store("admissionregistration.k8s.io", "validatingadmissionpolicies")
        body = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": "p"}, "spec": SPEC}
        await store.create("", body, "v1")
        await w.settle()
        got = await w.get("admissionregistration.k8s.io", "validatingadmissionpolicies", "", "p")
        assert got is not None
        self.assertEqual(got["status"]["observedGeneration"], 1)
        self.assertEqual(len(got["status"]["typeChecking"]["expressionWarnings"]), 2)

        def fix(cur: dict) -> dict:
            cur["spec"] = {**cur["spec"], "validations": [{"expression": "object.spec.replicas <= 5"}]}
            return cur

        await store.update("", "p", fix, "v1")
        await w.settle()
        got = await w.get("admissionregistration.k8s.io", "validatingadmissionpolicies", "", "p")
        assert got is not None
        self.assertEqual(got["status"], {"observedGeneration": 2, "typeChecking": {}})
