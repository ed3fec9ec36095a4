"""
Tests for L{kapid.cel.compiler}: kube's typing of variables from OpenAPI schemas, its compile errors,
the cost estimate, value conversion and evaluation errors in cel-go's words.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.trial.unittest import SynchronousTestCase

from kapid.cel import compiler
from kapid.cel.compiler import CompileError, EvalError

SCHEMA: dict = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer"},
        "ratio": {"type": "number"},
        "name": {"type": "string", "maxLength": 63},
        "when": {"type": "string", "format": "date-time"},
        "timeout": {"type": "string", "format": "duration"},
        "port": {"x-kubernetes-int-or-string": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "x-kubernetes-preserve-unknown-fields": True},
        "ports": {"type": "array", "maxItems": 10, "items": {
            "type": "object", "properties": {"name": {"type": "string", "maxLength": 15},
                                             "port": {"type": "integer"}}}},
        "hosts": {"type": "array", "items": {"type": "string"}},
    },
}


def comp(source: str, schema: Optional[dict] = SCHEMA, root: bool = True) -> compiler.Program:
    """Compile with C{self} and C{oldSelf} typed by C{schema}."""
    return compiler.compile(source, {"self": (schema, root), "oldSelf": (schema, root)})


def run(source: str, value: Any, schema: dict = SCHEMA) -> Any:
    """Compile and evaluate on C{value} converted as kube converts it."""
    return comp(source, schema).evaluate({"self": compiler.to_cel(value, schema)})


class TypingTests(SynchronousTestCase):
    """Variables are typed from the schema as kube types them."""

    def test_undefined_field(self) -> None:
        """A field the schema does not declare is cel-go's undefined field error, with its caret."""
        with self.assertRaises(CompileError) as e:
            comp("self.replica > 1")
        self.assertEqual(e.exception.detail, "compilation failed: ERROR: <input>:1:5: undefined field 'replica'\n"
                                             " | self.replica > 1\n | ....^")

    def test_undefined_field_in_macro(self) -> None:
        """List elements are typed by C{items}: their unknown fields are reported too."""
        with self.assertRaises(CompileError) as e:
            comp("self.ports.all(p, p.nam != '')")
        self.assertIn("undefined field 'nam'", e.exception.detail)

    def test_maps_and_dyn(self) -> None:
        """additionalProperties maps take any key; int-or-string is dyn."""
        comp("self.labels.foo == 'x' && self.port == 80 && self.port.startsWith('h')")

    def test_unknown_fields_not_exposed(self) -> None:
        """The unknown fields preserve-unknown-fields keeps cannot be reached (kube exposes none)."""
        with self.assertRaises(CompileError) as e:
            comp("self.extra.anything == 1")
        self.assertIn("undefined field 'anything'", e.exception.detail)
        comp("has(self.extra)")

    def test_resource_root_metadata(self) -> None:
        """At a resource root, metadata has only name and generateName."""
        comp("self.metadata.name.startsWith('a') && self.apiVersion != '' && self.kind != ''")
        with self.assertRaises(CompileError) as e:
            comp("self.metadata.labels.size() > 0")
        self.assertIn("undefined field 'labels'", e.exception.detail)

    def test_embedded_resource(self) -> None:
        """An embedded resource has apiVersion, kind and metadata.name."""
        comp("self.template.kind == 'Pod' && self.template.metadata.name != ''")

    def test_result_type(self) -> None:
        """The result type comes from the schema when the runtime only knows dyn."""
        self.assertEqual(comp("self.name").result_type, "string")
        self.assertEqual(comp("self.replicas").result_type, "int")
        self.assertEqual(comp("self.replicas > 1").result_type, "bool")
        self.assertEqual(comp("self.port").result_type, "dyn")

    def test_references(self) -> None:
        """The variables an expression uses are known (transition rules use oldSelf)."""
        self.assertEqual(comp("self.replicas >= oldSelf.replicas").references, {"self", "oldSelf"})
        self.assertEqual(comp("self.replicas > 1").references, {"self"})

    def test_syntax_error(self) -> None:
        """A syntax error is cel-go's C{Syntax error} with its location."""
        with self.assertRaises(CompileError) as e:
            comp("self.replicas >")
        self.assertTrue(e.exception.detail.startswith("compilation failed: ERROR: <input>:1:"), e.exception.detail)

    def test_cached(self) -> None:
        """The same expression and schemas compile once."""
        self.assertIs(comp("self.replicas > 2"), comp("self.replicas > 2"))


class ConversionTests(SynchronousTestCase):
    """Values are converted as kube's UnstructuredToVal converts them."""

    def test_number_is_double(self) -> None:
        """An integral number is a double under C{type: number}."""
        self.assertIs(run("self.ratio == 1.0", {"ratio": 1}), True)

    def test_timestamp_and_duration(self) -> None:
        """date-time and duration strings convert with timestamp() and duration() (kube's identity)."""
        self.assertIs(run("timestamp(self.when) < timestamp('2030-01-01T00:00:00Z')"
                          " && duration(self.timeout) == duration('90s')",
                          {"when": "2024-05-01T10:00:00Z", "timeout": "1m30s"}), True)

    def test_bytes(self) -> None:
        """byte strings are bytes."""
        self.assertIs(run("self.data.size() == 3", {"data": "YWJj"},
                          {"type": "object", "properties": {"data": {"type": "string", "format": "byte"}}}), True)

    def test_int_or_string(self) -> None:
        """int-or-string values keep their JSON type."""
        self.assertIs(run("type(self.port) == string", {"port": "http"}), True)
        self.assertIs(run("type(self.port) == int", {"port": 80}), True)


class EvaluationTests(SynchronousTestCase):
    """Evaluation results and errors."""

    def test_has(self) -> None:
        """has() of an absent field is false, not an error."""
        self.assertIs(run("!has(self.replicas)", {}), True)

    def test_no_such_key(self) -> None:
        """Selecting an absent field is cel-go's no such key."""
        with self.assertRaises(EvalError) as e:
            run("self.replicas > 1", {})
        self.assertEqual(str(e.exception), "no such key: replicas")

    def test_division_by_zero(self) -> None:
        """Division by zero is an error, never false."""
        with self.assertRaises(EvalError) as e:
            run("self.replicas / 0 == 1", {"replicas": 1})
        self.assertEqual(str(e.exception), "division by zero")

    def test_optional(self) -> None:
        """Optional field selection and orValue."""
        self.assertIs(run("self.?replicas.orValue(3) == 3", {}), True)


class CostTests(SynchronousTestCase):
    """kube's cost estimate: bounded by maxItems/maxLength, huge without."""

    def test_bounded_is_cheap(self) -> None:
        """A macro over a list with maxItems of strings with maxLength costs little."""
        self.assertLess(comp("self.ports.all(p, p.name.contains('x'))").max_cost, 1000)

    def test_unbounded_is_too_expensive(self) -> None:
        """The same over an unbounded list of unbounded strings exceeds kube's per-rule limit."""
        self.assertGreater(comp("self.hosts.all(h, h.contains('x'))").max_cost, compiler.STATIC_COST_LIMIT)

    def test_prefix_is_cheap(self) -> None:
        """startsWith costs its prefix, not the string (cel-go): fine over an unbounded list of strings."""
        self.assertLess(comp("self.hosts.all(h, h.startsWith('x'))").max_cost, compiler.STATIC_COST_LIMIT)

    def test_nested_loops_multiply(self) -> None:
        """Nested comprehensions cost the product of their ranges."""
        one = comp("self.ports.all(p, p.port > 0)").max_cost
        two = comp("self.ports.all(p, self.ports.all(q, q.port > 0))").max_cost
        self.assertGreater(two, 9 * one)

    def test_runtime_cost_uses_actual_sizes(self) -> None:
        """The runtime bound follows the object's actual sizes."""
        p = comp("self.hosts.all(h, h.contains('x'))")
        variables = {"self": (SCHEMA, True)}
        small = compiler.runtime_cost(p, variables, {"self": {"hosts": ["xa", "xb"]}})
        self.assertLess(small, 100)
        self.assertLess(small, compiler.runtime_cost(p, variables, {"self": {"hosts": ["x" * 1000] * 50}}))

    def test_cardinality(self) -> None:
        """Rules under lists run once per element: the product of the sizes above them."""
        self.assertEqual(compiler.cardinality([{"type": "array", "maxItems": 10},
                                               {"type": "object", "maxProperties": 5,
                                                "additionalProperties": {"type": "string"}}]), 50)


class CostModelTests(SynchronousTestCase):
    """Rules real CRDs use (Karpenter's, Gateway API's) are accepted as kube accepts them."""

    def test_conversion_is_cheap(self) -> None:
        """int() of an unbounded string costs 1, as in cel-go."""
        s = {"type": "object", "properties": {"reqs": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "properties": {"values": {"type": "array", "items": {"type": "string"}}}}}}}
        cost = comp("self.reqs.all(x, x.values.size() == 1 && int(x.values[0]) >= 0)", s).max_cost
        self.assertLess(cost, compiler.STATIC_COST_LIMIT)

    def test_unbounded_map_of_int_or_string(self) -> None:
        """A membership test over the keys of an unbounded map of int-or-string is within budget."""
        s = {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": True}}
        cost = comp("self.all(x, !(x in ['cpu', 'memory', 'ephemeral-storage', 'pods']))", s).max_cost
        self.assertLess(cost, compiler.STATIC_COST_LIMIT)


class SizeTests(SynchronousTestCase):
    """kube's size estimates."""

    def test_strings(self) -> None:
        """maxLength counts 4 bytes a character; an enum its longest value; else the largest request."""
        self.assertEqual(compiler.max_size({"type": "string", "maxLength": 10}), 40)
        self.assertEqual(compiler.max_size({"type": "string", "enum": ["a", "abc"]}), 3)
        self.assertEqual(compiler.max_size({"type": "string"}), compiler.MAX_REQUEST_SIZE - 2)

    def test_required_properties_make_items_bigger(self) -> None:
        """Items with required properties fit fewer times in a request."""
        item = {"type": "object", "required": ["type", "status"],
                "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}
        # {} + "type":"", + "status":"", = 2 + (4 + 2 + 4) + (6 + 2 + 4)
        self.assertEqual(compiler.max_size({"type": "array", "items": item}), (compiler.MAX_REQUEST_SIZE - 2) // 25)
