"""
Tests for L{kapid.cel.crd}: x-kubernetes-validations compiled at CRD time with kube's causes, and
evaluated on custom resources with kube's field paths and messages, transition rules,
optionalOldSelf, ratcheting and cost limits.
"""

from __future__ import annotations

import copy
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import field
from kapid.cel.crd import NOT_CHECKED, compile_rules, rule_errors


def schema(spec_rules: list[dict], **props: Any) -> dict:
    """A root schema whose C{spec} has C{spec_rules} and these properties (plus a few defaults)."""
    properties = {
        "replicas": {"type": "integer"},
        "maxReplicas": {"type": "integer"},
        "image": {"type": "string", "maxLength": 256},
        "mode": {"type": "string", "maxLength": 16},
    }
    properties.update(props)
    return {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": properties, "x-kubernetes-validations": spec_rules},
        },
    }


def messages(errs: list[field.FieldError]) -> list[str]:
    """The errors as kube prints them."""
    return [str(e) for e in errs]


class CompileErrorsTests(SynchronousTestCase):
    """The causes a CRD gets for its rules."""

    PATH = "spec.validation.openAPIV3Schema"

    def errors(self, s: dict) -> list[str]:
        return messages(compile_rules(s).errors(self.PATH))

    def test_valid(self) -> None:
        """Rules that compile, return a bool and are cheap give no causes."""
        self.assertEqual(self.errors(schema([{"rule": "self.replicas <= self.maxReplicas"}])), [])

    def test_undefined_field(self) -> None:
        """A rule naming a missing field is kube's Invalid value with the rule and compile error."""
        errs = self.errors(schema([{"rule": "self.replica > 0"}]))
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0].startswith(
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: "
            'apiextensions.ValidationRule{Rule:"self.replica > 0", Message:"", MessageExpression:"", '
            "Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}: "
            "compilation failed: ERROR: <input>:1:5: undefined field 'replica'"), errs[0])

    def test_not_bool(self) -> None:
        """A rule returning a string is refused."""
        errs = self.errors(schema([{"rule": "self.image"}]))
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0].endswith(": cel expression must evaluate to a bool"), errs[0])

    def test_message_expression(self) -> None:
        """A messageExpression must compile and return a string."""
        errs = self.errors(schema([{"rule": "self.replicas > 0", "messageExpression": "self.replicas"}]))
        self.assertEqual(len(errs), 1)
        self.assertIn("x-kubernetes-validations[0].messageExpression: Invalid value: ", errs[0])
        self.assertTrue(errs[0].endswith("must evaluate to a string"), errs[0])
        errs = self.errors(schema([{"rule": "self.replicas > 0", "messageExpression": "self.nope"}]))
        self.assertIn("messageExpression compilation failed: ERROR: <input>:1:5: undefined field 'nope'", errs[0])

    def test_unbounded_list_too_expensive(self) -> None:
        """A substring search over an unbounded list of unbounded strings is refused as too expensive."""
        s = schema([{"rule": "self.hosts.all(h, h.contains('a'))"}],
                   hosts={"type": "array", "items": {"type": "string"}})
        self.assertEqual(self.errors(s), [
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Forbidden: "
            "estimated rule cost exceeds budget by factor of more than 100x",
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Forbidden: "
            "contributed to estimated rule & messageExpression cost total exceeding cost limit for entire "
            "OpenAPIv3 schema",
            "spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total "
            "for entire OpenAPIv3 schema exceeds budget by factor of more than 100x",
        ])

    def test_bounded_list_accepted(self) -> None:
        """The same rule with maxItems and maxLength is accepted."""
        s = schema([{"rule": "self.hosts.all(h, h.contains('a'))"}],
                   hosts={"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 253}})
        self.assertEqual(self.errors(s), [])

    def test_cardinality_total(self) -> None:
        """Cheap rules under unbounded lists add up past the CRD-wide limit."""
        item = {"type": "object", "properties": {"name": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "self.name.startsWith('a')"}]}
        s = schema([], items={"type": "array", "items": {"type": "array", "items": item}})
        errs = self.errors(s)
        self.assertIn("spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost "
                      "total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x", errs)

    def test_optional_old_self_without_old_self(self) -> None:
        """optionalOldSelf on a rule that does not use oldSelf is refused."""
        errs = self.errors(schema([{"rule": "self.replicas > 0", "optionalOldSelf": True}]))
        self.assertEqual(len(errs), 1)
        self.assertIn("x-kubernetes-validations[0].optionalOldSelf", errs[0])


class ValidateTests(SynchronousTestCase):
    """Rules evaluated on custom resources."""

    def test_failed_rule_default_message(self) -> None:
        """A false rule without a message is kube's C{failed rule: <rule>} on the node, value its type."""
        rs = compile_rules(schema([{"rule": "self.replicas <= self.maxReplicas"}]))
        self.assertEqual(messages(rs.validate({"spec": {"replicas": 5, "maxReplicas": 3}})),
                         ['spec: Invalid value: "object": failed rule: self.replicas <= self.maxReplicas'])
        self.assertEqual(rs.validate({"spec": {"replicas": 2, "maxReplicas": 3}}), [])

    def test_message_reason_field_path(self) -> None:
        """message, reason and fieldPath shape the cause."""
        rs = compile_rules(schema([{"rule": "self.replicas <= self.maxReplicas", "message": "too many",
                                    "reason": "FieldValueForbidden", "fieldPath": ".replicas"}]))
        errs = rs.validate({"spec": {"replicas": 5, "maxReplicas": 3}})
        self.assertEqual(messages(errs), ["spec.replicas: Forbidden: too many"])
        self.assertEqual(errs[0].cause()["reason"], "FieldValueForbidden")

    def test_message_expression(self) -> None:
        """messageExpression's string is the detail."""
        rs = compile_rules(schema([{"rule": "self.replicas <= self.maxReplicas",
                                    "messageExpression": "'replicas ' + string(self.replicas) + ' > max'"}]))
        self.assertEqual(messages(rs.validate({"spec": {"replicas": 5, "maxReplicas": 3}})),
                         ['spec: Invalid value: "object": replicas 5 > max'])

    def test_message_expression_error_falls_back(self) -> None:
        """A messageExpression that fails or is empty falls back to the rule's message."""
        rs = compile_rules(schema([{"rule": "self.replicas <= self.maxReplicas", "message": "fallback",
                                    "messageExpression": "self.mode"}]))
        self.assertEqual(messages(rs.validate({"spec": {"replicas": 5, "maxReplicas": 3}})),
                         ['spec: Invalid value: "object": fallback'])

    def test_runtime_error(self) -> None:
        """An evaluation error is kube's C{<error> evaluating rule: <rule>}."""
        rs = compile_rules(schema([{"rule": "self.replicas <= self.maxReplicas"}]))
        self.assertEqual(messages(rs.validate({"spec": {"replicas": 5}})), [
            'spec: Invalid value: "object": no such key: maxReplicas evaluating rule: '
            "self.replicas <= self.maxReplicas"])

    def test_nested_list_items_paths(self) -> None:
        """Rules on list items and map values report each element's path."""
        s = schema([], ports={"type": "array", "maxItems": 8, "items": {
            "type": "object", "properties": {"port": {"type": "integer"}},
            "x-kubernetes-validations": [{"rule": "self.port < 65536", "message": "bad port"}]}},
            labels={"type": "object", "maxProperties": 8, "additionalProperties": {
                "type": "string", "maxLength": 63,
                "x-kubernetes-validations": [{"rule": "self != ''", "message": "empty"}]}})
        errs = compile_rules(s).validate({"spec": {"ports": [{"port": 80}, {"port": 70000}],
                                                   "labels": {"a": "x", "b": ""}}})
        self.assertEqual(messages(errs), ['spec.ports[1]: Invalid value: "object": bad port',
                                          'spec.labels[b]: Invalid value: "string": empty'])

    def test_int_or_string(self) -> None:
        """int-or-string values are dyn: a type mismatch at run time is kube's no-such-overload cause."""
        s = schema([], port={"x-kubernetes-int-or-string": True,
                             "x-kubernetes-validations": [{"rule": "self > 0"}]})
        rs = compile_rules(s)
        self.assertEqual(rs.validate({"spec": {"port": 80}}), [])
        errs = messages(rs.validate({"spec": {"port": "http"}}))
        self.assertEqual(errs, ["spec.port: Invalid value: \"\": 'no such overload': call arguments did not match "
                                "a supported operator, function or macro signature for rule: self > 0"])

    def test_resource_root(self) -> None:
        """Root rules see metadata.name; their causes are at kube's C{<nil>} path."""
        s = schema([])
        s["x-kubernetes-validations"] = [{"rule": "self.metadata.name.startsWith('app-')", "message": "bad name"}]
        rs = compile_rules(s)
        self.assertEqual(messages(rs.validate({"metadata": {"name": "x"}, "spec": {}})),
                         ['<nil>: Invalid value: "object": bad name'])
        self.assertEqual(rs.validate({"metadata": {"name": "app-1"}, "spec": {}}), [])


class TransitionTests(SynchronousTestCase):
    """oldSelf, optionalOldSelf and ratcheting."""

    IMMUTABLE = {"rule": "self == oldSelf", "message": "mode is immutable"}

    def rules(self) -> Any:
        return compile_rules(schema([], mode={"type": "string", "maxLength": 16,
                                              "x-kubernetes-validations": [self.IMMUTABLE]}))

    def test_not_on_create(self) -> None:
        """A transition rule does not run on a create."""
        self.assertEqual(self.rules().validate({"spec": {"mode": "a"}}), [])

    def test_on_update(self) -> None:
        """It runs on an update when the old value exists."""
        rs = self.rules()
        self.assertEqual(messages(rs.validate({"spec": {"mode": "b"}}, {"spec": {"mode": "a"}})),
                         ['spec.mode: Invalid value: "string": mode is immutable'])
        self.assertEqual(rs.validate({"spec": {"mode": "a"}}, {"spec": {"mode": "a"}}), [])

    def test_not_when_old_value_absent(self) -> None:
        """A field set for the first time on an update has no oldSelf: the rule does not run."""
        self.assertEqual(self.rules().validate({"spec": {"mode": "b"}}, {"spec": {}}), [])

    def test_optional_old_self(self) -> None:
        """With optionalOldSelf the rule runs on creates too, oldSelf an optional."""
        rule = {"rule": "oldSelf.hasValue() ? self >= oldSelf.value() : self > 1",
                "optionalOldSelf": True, "message": "bad"}
        rs = compile_rules(schema([], replicas={"type": "integer", "x-kubernetes-validations": [rule]}))
        self.assertEqual(messages(rs.validate({"spec": {"replicas": 1}})),
                         ['spec.replicas: Invalid value: "integer": bad'])
        self.assertEqual(rs.validate({"spec": {"replicas": 2}}), [])
        self.assertEqual(messages(rs.validate({"spec": {"replicas": 2}}, {"spec": {"replicas": 3}})),
                         ['spec.replicas: Invalid value: "integer": bad'])
        self.assertEqual(rs.validate({"spec": {"replicas": 4}}, {"spec": {"replicas": 3}}), [])

    def test_ratcheting(self) -> None:
        """An unchanged value that fails a (new) rule is not rejected; a changed one is."""
        rs = compile_rules(schema([], image={"type": "string", "maxLength": 256, "x-kubernetes-validations": [
            {"rule": "self.startsWith('registry.example/')", "message": "untrusted registry"}]}))
        old = {"spec": {"image": "docker.io/nginx", "replicas": 1}}
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = 2
        self.assertEqual(rs.validate(new, old), [])
        new["spec"]["image"] = "docker.io/httpd"
        self.assertEqual(messages(rs.validate(new, old)),
                         ['spec.image: Invalid value: "string": untrusted registry'])

    def test_list_map_correlation(self) -> None:
        """Items of a map list correlate with the old item of the same key."""
        item = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10},
                                                 "port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is immutable"}]}
        rs = compile_rules(schema([], ports={"type": "array", "maxItems": 4, "items": item,
                                             "x-kubernetes-list-type": "map",
                                             "x-kubernetes-list-map-keys": ["name"]}))
        old = {"spec": {"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]}}
        new = {"spec": {"ports": [{"name": "b", "port": 3}, {"name": "a", "port": 1}, {"name": "c", "port": 9}]}}
        self.assertEqual(messages(rs.validate(new, old)),
                         ['spec.ports[0]: Invalid value: "object": port is immutable'])


class CostLimitTests(SynchronousTestCase):
    """kube's per-call limit and per-object budget at run time."""

    def test_per_call_limit(self) -> None:
        """A rule whose cost on the actual object exceeds the per-call limit stops validation."""
        s = schema([{"rule": "self.hosts.all(a, self.hosts.all(b, a.size() + b.size() >= 0))"}],
                   hosts={"type": "array", "maxItems": 5000, "items": {"type": "string", "maxLength": 8}})
        rs = compile_rules(s)
        self.assertEqual(rs.validate({"spec": {"hosts": ["a"] * 10}}), [])
        errs = messages(rs.validate({"spec": {"hosts": ["a"] * 2000}}))
        self.assertEqual(len(errs), 1)
        self.assertIn("no further validation rules will be run due to call cost exceeds limit for rule: ", errs[0])


class RuleErrorsTests(SynchronousTestCase):
    """L{rule_errors}: the strategy's entry point."""

    def test_blocking_schema_errors(self) -> None:
        """With a type error from the schema the rules do not run; one cause says so."""
        s = schema([{"rule": "self.replicas <= self.maxReplicas"}])
        errs = rule_errors(s, {"spec": {"replicas": "x"}}, None,
                           [field.FieldError("type_invalid", "spec.replicas", "x", "must be of type integer")])
        self.assertEqual(messages(errs), [f'<nil>: Invalid value: "null": {NOT_CHECKED}'])

    def test_no_rules(self) -> None:
        """A schema without rules adds nothing."""
        self.assertEqual(rule_errors({"type": "object"}, {"a": 1}), [])

    def test_compiled_once(self) -> None:
        """The same schema's rules are compiled once."""
        s = schema([{"rule": "self.replicas > 0"}])
        self.assertIs(compile_rules(s), compile_rules(copy.deepcopy(s)))


class CRDValidationTests(SynchronousTestCase):
    """The CRD strategy's validation reports the rules' compile and cost errors."""

    def test_bad_rule_refused(self) -> None:
        """A rule naming a missing field is one of the CRD's causes."""
        from tests.apiextensions.test_crd_validation import SPEC, obj_schema, schema_errors

        s = obj_schema(replicas={"type": "integer"})
        s["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.replica > 0"}]
        got = schema_errors(s)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(f"{SPEC}.x-kubernetes-validations[0].rule: Invalid value: "), got[0])
        self.assertIn("undefined field 'replica'", got[0])

    def test_good_rule_accepted(self) -> None:
        """A rule that compiles adds no cause."""
        from tests.apiextensions.test_crd_validation import obj_schema, schema_errors

        s = obj_schema(replicas={"type": "integer"})
        s["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.replicas > 0"}]
        self.assertEqual(schema_errors(s), [])


class UncorrelatableTests(SynchronousTestCase):
    """Transition rules only where oldSelf can be correlated."""

    def test_under_atomic_list(self) -> None:
        """oldSelf under an atomic list's items is refused with the list's path."""
        item = {"type": "string", "maxLength": 8, "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}
        s = schema([], tags={"type": "array", "maxItems": 4, "items": item})
        self.assertEqual(messages(compile_rules(s).errors("spec.validation.openAPIV3Schema")), [
            "spec.validation.openAPIV3Schema.properties[spec].properties[tags].items.x-kubernetes-validations[0].rule: "
            'Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable portion of the schema '
            "within spec.validation.openAPIV3Schema.properties[spec].properties[tags].items"])

    def test_under_map_list(self) -> None:
        """Under a map list it is allowed."""
        item = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}},
                "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}
        s = schema([], ports={"type": "array", "maxItems": 4, "items": item, "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["name"]})
        self.assertEqual(compile_rules(s).errors("x"), [])


class ScalarTypingTests(SynchronousTestCase):
    """Rules on scalar fields, lists and maps of scalars are type-checked as kube checks them."""

    def errors(self, node: dict) -> list[str]:
        return messages(compile_rules(schema([], field=node)).errors("s"))

    def test_wrong_operand_type(self) -> None:
        """Comparing a string with an int is cel-go's no-matching-overload compile error."""
        errs = self.errors({"type": "string", "maxLength": 8, "x-kubernetes-validations": [{"rule": "self > 1"}]})
        self.assertEqual(len(errs), 1)
        self.assertIn("compilation failed: ERROR: <input>:1:6: found no matching overload for '_>_' applied to "
                      "'(string, int)'", errs[0])

    def test_non_bool_scalar_rule(self) -> None:
        """A rule returning an int is refused."""
        errs = self.errors({"type": "string", "maxLength": 8, "x-kubernetes-validations": [{"rule": "self.size()"}]})
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0].endswith("cel expression must evaluate to a bool"), errs[0])

    def test_typed_lists_and_maps(self) -> None:
        """Lists and maps of scalars are typed: their macros and functions check."""
        ok = {"type": "array", "maxItems": 4, "items": {"type": "integer"},
              "x-kubernetes-validations": [{"rule": "self.all(x, x > 0) && self.sum() < 100"}]}
        self.assertEqual(self.errors(ok), [])
        bad = {"type": "object", "maxProperties": 4, "additionalProperties": {"type": "string", "maxLength": 8},
               "x-kubernetes-validations": [{"rule": "self.all(k, self[k] > 0)"}]}
        self.assertIn("found no matching overload for '_>_'", self.errors(bad)[0])


class RuleSetArgumentTests(SynchronousTestCase):
    """L{rule_errors} takes a compiled L{RuleSet} too."""

    def test_rule_set(self) -> None:
        """The same causes from the schema and from its rule set."""
        s = schema([{"rule": "self.replicas <= self.maxReplicas"}])
        obj = {"spec": {"replicas": 5, "maxReplicas": 3}}
        self.assertEqual(rule_errors(compile_rules(s), obj), rule_errors(s, obj))
        self.assertEqual(len(rule_errors(s, obj)), 1)


class EscapingTests(SynchronousTestCase):
    """Properties named like CEL reserved words or with C{.}, C{-}, C{/}, C{__} are reached escaped."""

    def test_escaped_names(self) -> None:
        """C{namespace} is C{__namespace__}, C{a-b} is C{a__dash__b}, C{x.y} is C{x__dot__y}; the plain names do not compile."""
        s = schema([{"rule": "self.__namespace__ == 'ns' && self.a__dash__b == 1 && self.x__dot__y == 'z'",
                     "message": "escaped"}],
                   namespace={"type": "string", "maxLength": 8}, **{"a-b": {"type": "integer"},
                                                                     "x.y": {"type": "string", "maxLength": 8}})
        rs = compile_rules(s)
        self.assertEqual(rs.errors("s"), [])
        self.assertEqual(rs.validate({"spec": {"namespace": "ns", "a-b": 1, "x.y": "z"}}), [])
        self.assertEqual(messages(rs.validate({"spec": {"namespace": "other", "a-b": 1, "x.y": "z"}})),
                         ['spec: Invalid value: "object": escaped'])
        bad = schema([{"rule": "self.a__dash__c == 1"}], **{"a-b": {"type": "integer"}})
        self.assertIn("undefined field 'a__dash__c'", messages(compile_rules(bad).errors("s"))[0])

    def test_map_keys_cost_nothing(self) -> None:
        """A regex over a bounded map's keys is accepted (kube gives keys no size)."""
        s = schema([], labels={"type": "object", "maxProperties": 16,
                               "additionalProperties": {"type": "string", "maxLength": 4096},
                               "x-kubernetes-validations": [{"rule": "self.all(k, k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))"}]})
        self.assertEqual(compile_rules(s).errors("s"), [])


class TimeTests(SynchronousTestCase):
    """date-time and duration fields are timestamps and durations in their own rules, as in kube."""

    def test_timestamp_and_duration_rules(self) -> None:
        """Rules on the fields compare them with timestamp() and duration() values."""
        s = schema([], start={"type": "string", "format": "date-time", "x-kubernetes-validations": [
            {"rule": "self >= timestamp('2020-01-01T00:00:00Z')", "message": "too early"}]},
            timeout={"type": "string", "format": "duration", "x-kubernetes-validations": [
                {"rule": "self <= duration('1h')", "message": "too long"}]})
        rs = compile_rules(s)
        self.assertEqual(rs.errors("s"), [])
        self.assertEqual(rs.validate({"spec": {"start": "2024-05-01T10:00:00Z", "timeout": "30m"}}), [])
        self.assertEqual(messages(rs.validate({"spec": {"start": "2019-05-01T10:00:00Z", "timeout": "2h"}})), [
            'spec.start: Invalid value: "string": too early', 'spec.timeout: Invalid value: "string": too long'])
