"""Tests for kapid.apiextensions.schema: kube's CRD schema validation, pruning and defaulting."""

from __future__ import annotations

import copy

from twisted.trial.unittest import SynchronousTestCase

from kapid.apiextensions.schema import (
    compile_schema,
    go_float,
    go_json_float,
    translate_pattern,
)
from kapid.apimachinery.status import invalid


def obj(spec=None, **extra):
    """A custom object of kind Widget with the given spec."""
    o = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
    if spec is not None:
        o["spec"] = spec
    o.update(extra)
    return o


def spec_schema(props, **spec_extra):
    """A root schema whose spec has the given properties."""
    spec = {"type": "object", "properties": props}
    spec.update(spec_extra)
    return {"type": "object", "properties": {"spec": spec}}


def messages(schema, o):
    """The validation errors of o as kube renders them (field: body)."""
    return [str(e) for e in compile_schema(schema).validate(o)]


def leaf(spec_value_schema, value):
    """The messages of a spec with one property x of the given schema and value."""
    return messages(spec_schema({"x": spec_value_schema}), obj({"x": value}))


class TypeTests(SynchronousTestCase):
    """The type validator: kube-openapi's messages, TypeInvalid causes."""

    def test_valid(self):
        """Values of the right type give no error (integral floats pass as integers)."""
        for t, v in (("integer", 3), ("integer", 3.0), ("number", 3), ("number", 2.5), ("string", "s"),
                     ("boolean", False), ("array", []), ("object", {})):
            self.assertEqual(leaf({"type": t}, v), [], (t, v))

    def test_integer_given_string(self):
        """kube's message for the classic mistake."""
        self.assertEqual(
            leaf({"type": "integer"}, "3"),
            ['spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"'],
        )

    def test_cause_reason(self):
        """Type errors are FieldValueTypeInvalid causes."""
        errs = compile_schema(spec_schema({"x": {"type": "integer"}})).validate(obj({"x": "3"}))
        self.assertEqual(errs[0].cause()["reason"], "FieldValueTypeInvalid")

    def test_type_names(self):
        """The value's type is named the way kube-openapi names it."""
        self.assertEqual(leaf({"type": "string"}, True),
                         ['spec.x: Invalid value: "boolean": spec.x in body must be of type string: "boolean"'])
        self.assertEqual(leaf({"type": "string"}, {"a": 1}),
                         ['spec.x: Invalid value: "object": spec.x in body must be of type string: "object"'])
        self.assertEqual(leaf({"type": "object"}, [1]),
                         ['spec.x: Invalid value: "array": spec.x in body must be of type object: "array"'])
        self.assertEqual(leaf({"type": "boolean"}, 1),
                         ['spec.x: Invalid value: "integer": spec.x in body must be of type boolean: "integer"'])

    def test_fractional_integer(self):
        """A fractional number for an integer: the type error and kube's range error at <nil>."""
        self.assertEqual(
            leaf({"type": "integer"}, 1.5),
            [
                'spec.x: Invalid value: "number": spec.x in body must be of type integer: "number"',
                '<nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.x',
            ],
        )

    def test_int32_range(self):
        """int32 out of range is reported by the range check."""
        self.assertEqual(
            leaf({"type": "integer", "format": "int32"}, 2**31),
            ['<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.x'],
        )
        self.assertEqual(leaf({"type": "integer", "format": "int32"}, 2**31 - 1), [])

    def test_format_mismatch_message(self):
        """A non-numeric value for a formatted integer names the format, as kube-openapi does."""
        self.assertEqual(
            leaf({"type": "integer", "format": "int32"}, True),
            ['spec.x: Invalid value: "": spec.x in body must be of type int32: ""'],
        )
        self.assertEqual(
            leaf({"type": "integer", "format": "int32"}, 1.5)[0],
            'spec.x: Invalid value: "float64": spec.x in body must be of type int32: "float64"',
        )

    def test_null(self):
        """null for a non-nullable field is a type error; nullable accepts it."""
        self.assertEqual(leaf({"type": "string"}, None),
                         ['spec.x: Invalid value: "null": spec.x in body must be of type string: "null"'])
        self.assertEqual(leaf({"type": "string", "nullable": True}, None), [])

    def test_int_or_string(self):
        """x-kubernetes-int-or-string accepts both and names both."""
        s = {"x-kubernetes-int-or-string": True}
        self.assertEqual(leaf(s, 3), [])
        self.assertEqual(leaf(s, "50%"), [])
        self.assertEqual(leaf(s, True),
                         ['spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean"'])

    def test_no_type(self):
        """A schema without a type accepts anything."""
        self.assertEqual(leaf({}, {"a": [1, "b"]}), [])

    def test_root_type(self):
        """A child of the root is named without a prefix."""
        self.assertEqual(
            messages(spec_schema({}), obj("nope")),
            ['spec: Invalid value: "string": spec in body must be of type object: "string"'],
        )


class StringTests(SynchronousTestCase):
    """maxLength, minLength, pattern and formats."""

    def test_max_length(self):
        """Too long, kube's omitted value, counted in characters."""
        self.assertEqual(leaf({"type": "string", "maxLength": 3}, "abcd"),
                         ["spec.x: Too long: may not be more than 3 bytes"])
        self.assertEqual(leaf({"type": "string", "maxLength": 1}, "ab"),
                         ["spec.x: Too long: may not be more than 1 bytes"])
        self.assertEqual(leaf({"type": "string", "maxLength": 3}, "äöü"), [])

    def test_min_length(self):
        """Too short is an Invalid value with kube-openapi's message."""
        self.assertEqual(leaf({"type": "string", "minLength": 3}, "ab"),
                         ['spec.x: Invalid value: "ab": spec.x in body should be at least 3 chars long'])

    def test_pattern(self):
        """A pattern mismatch quotes the pattern."""
        self.assertEqual(leaf({"type": "string", "pattern": "^[a-z]+$"}, "AB"),
                         ["spec.x: Invalid value: \"AB\": spec.x in body should match '^[a-z]+$'"])
        self.assertEqual(leaf({"type": "string", "pattern": "^[a-z]+$"}, "ab"), [])

    def test_pattern_is_a_search(self):
        """Go's MatchString is unanchored."""
        self.assertEqual(leaf({"type": "string", "pattern": "b"}, "abc"), [])

    def test_pattern_dollar_is_end_of_text(self):
        """RE2's $ does not match before a trailing newline (Python's does)."""
        self.assertEqual(len(leaf({"type": "string", "pattern": "^a$"}, "a\n")), 1)

    def test_pattern_ascii_digits(self):
        """RE2's \\d is ASCII."""
        self.assertEqual(len(leaf({"type": "string", "pattern": "^\\d+$"}, "١٢")), 1)

    def test_posix_class(self):
        """POSIX classes inside brackets work."""
        self.assertEqual(leaf({"type": "string", "pattern": "^[[:alpha:]]+$"}, "abc"), [])
        self.assertEqual(len(leaf({"type": "string", "pattern": "^[[:alpha:]]+$"}, "ab1")), 1)

    def test_unicode_class(self):
        """RE2's \\p{L} (run on RE2)."""
        self.assertEqual(leaf({"type": "string", "pattern": "^\\p{L}+$"}, "héllo"), [])
        self.assertEqual(len(leaf({"type": "string", "pattern": "^\\p{L}+$"}, "h1")), 1)

    def test_no_catastrophic_backtracking(self):
        """A nested quantifier runs on RE2: linear, where Python's re would take ages."""
        s = {"type": "string", "pattern": "^(a+)+$"}
        self.assertEqual(len(leaf(s, "a" * 5000 + "b")), 1)
        self.assertEqual(leaf(s, "a" * 5000), [])

    def test_flags(self):
        """A flag group, as RE2 reads it."""
        self.assertEqual(leaf({"type": "string", "pattern": "^(?i)abc$"}, "ABC"), [])

    def test_uncompilable_pattern_not_enforced(self):
        """A pattern Go could not have accepted (a backreference) checks nothing rather than everything."""
        self.assertEqual(leaf({"type": "string", "pattern": "(a)\\1"}, "xy"), [])

    def test_translate(self):
        """The RE2 to Python translation."""
        self.assertEqual(translate_pattern("^a$"), "^a\\Z")
        self.assertEqual(translate_pattern("a\\z"), "a\\Z")
        self.assertEqual(translate_pattern("[$]"), "[$]")
        self.assertEqual(translate_pattern("[[:digit:]]"), "[0-9]")

    def test_first_string_error_only(self):
        """The string validator stops at its first error (maxLength before pattern)."""
        self.assertEqual(leaf({"type": "string", "maxLength": 1, "pattern": "^[0-9]$"}, "ab"),
                         ["spec.x: Too long: may not be more than 1 bytes"])

    def test_format_errors(self):
        """Known formats are checked with kube's TypeInvalid message naming the format."""
        self.assertEqual(
            leaf({"type": "string", "format": "date-time"}, "yesterday"),
            ['spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday"'],
        )
        self.assertEqual(
            leaf({"type": "string", "format": "uuid"}, "nope"),
            ['spec.x: Invalid value: "nope": spec.x in body must be of type uuid: "nope"'],
        )

    def test_formats_valid_and_invalid(self):
        """Good and bad values of each format kube validates."""
        cases = {
            "date-time": (["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+02:00"], ["2026-01-02", "2026-13-02T00:00:00Z"]),
            "datetime": (["2026-01-02T03:04:05Z"], ["x"]),
            "date": (["2024-02-29"], ["2023-02-29", "2024-1-1"]),
            "uuid": (["5b9a3f4e-6f0e-4c3e-9d57-0a7d7c6c9e21", "5B9A3F4E6F0E4C3E9D570A7D7C6C9E21"], ["5b9a3f4e"]),
            "uuid4": (["5b9a3f4e-6f0e-4c3e-9d57-0a7d7c6c9e21"], ["5b9a3f4e-6f0e-3c3e-9d57-0a7d7c6c9e21"]),
            "ipv4": (["10.0.0.1", "010.0.0.1"], ["10.0.0", "::1", "256.0.0.1"]),
            "ipv6": (["::1", "fe80::1"], ["10.0.0.1", "fe80::1%eth0"]),
            "cidr": (["10.0.0.0/8", "fd00::/64"], ["10.0.0.0", "10.0.0.0/33"]),
            "mac": (["01:23:45:67:89:ab", "01-23-45-67-89-ab", "0123.4567.89ab"], ["01:23:45"]),
            "hostname": (["example.com", "a", "my-host.example.com"], ["-a", "a..b", "x" * 64 + ".com"]),
            "email": (["a@example.com", "A <a@example.com>"], ["not an email"]),
            "uri": (["http://example.com/x", "/path", "urn:isbn:123"], ["relative/path", "http://a b/"]),
            "byte": (["aGVsbG8=", "YWJj"], ["%%%", "abc"]),
            "duration": (["1h30m", "5s", "-1.5h", "0", "3 days"], ["forever", "1x"]),
            "hexcolor": (["#fff", "a0b1c2"], ["#ff"]),
            "rgbcolor": (["rgb(255, 0, 10)"], ["rgb(256,0,0)"]),
            "ssn": (["123-45-6789"], ["123-456-789"]),
            "isbn10": (["0321751043"], ["0321751044"]),
            "isbn13": (["978-0321751041"], ["978-0321751042"]),
            "bsonobjectid": (["507f1f77bcf86cd799439011"], ["507f1f77bcf86cd79943901z"]),
            "password": (["anything"], []),
        }
        for fmt, (good, bad) in cases.items():
            for v in good:
                self.assertEqual(leaf({"type": "string", "format": fmt}, v), [], (fmt, v))
            for v in bad:
                self.assertEqual(len(leaf({"type": "string", "format": fmt}, v)), 1, (fmt, v))

    def test_unknown_format_ignored(self):
        """Formats kube does not know are ignored."""
        self.assertEqual(leaf({"type": "string", "format": "k8s-short-name"}, "!!"), [])
        self.assertEqual(leaf({"type": "string", "format": "color"}, "!!"), [])
        self.assertEqual(leaf({"type": "integer", "format": "uint8"}, 1000), [])


class NumberTests(SynchronousTestCase):
    """minimum, maximum, exclusive bounds, multipleOf."""

    def test_minimum(self):
        """kube's greater-than-or-equal message with the bad value."""
        self.assertEqual(leaf({"type": "integer", "minimum": 1}, 0),
                         ["spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"])

    def test_exclusive_minimum(self):
        """exclusiveMinimum says greater than."""
        self.assertEqual(leaf({"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 1),
                         ["spec.x: Invalid value: 1: spec.x in body should be greater than 1"])

    def test_maximum(self):
        """Maximum, inclusive and exclusive."""
        self.assertEqual(leaf({"type": "integer", "maximum": 10}, 11),
                         ["spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10"])
        self.assertEqual(leaf({"type": "number", "maximum": 10, "exclusiveMaximum": True}, 10.0),
                         ["spec.x: Invalid value: 10: spec.x in body should be less than 10"])
        self.assertEqual(leaf({"type": "number", "maximum": 1.5}, 2.5),
                         ["spec.x: Invalid value: 2.5: spec.x in body should be less than or equal to 1.5"])

    def test_integer_bounds_truncate(self):
        """kube compares an integer with int64(bound): maximum 1.5 lets 1 pass and names 1."""
        self.assertEqual(leaf({"type": "number", "maximum": 1.5}, 1), [])
        self.assertEqual(leaf({"type": "number", "maximum": 1.5}, 2),
                         ["spec.x: Invalid value: 2: spec.x in body should be less than or equal to 1"])

    def test_go_float_in_message(self):
        """Bounds compared as floats print as Go's %v does."""
        self.assertEqual(leaf({"type": "number", "maximum": 1000000}, 2e6),
                         ["spec.x: Invalid value: 2e+06: spec.x in body should be less than or equal to 1e+06"])

    def test_multiple_of(self):
        """multipleOf for integers and floats."""
        self.assertEqual(leaf({"type": "integer", "multipleOf": 5}, 12),
                         ["spec.x: Invalid value: 12: spec.x in body should be a multiple of 5"])
        self.assertEqual(leaf({"type": "integer", "multipleOf": 5}, 15), [])
        self.assertEqual(leaf({"type": "number", "multipleOf": 0.5}, 1.5), [])
        self.assertEqual(leaf({"type": "number", "multipleOf": 0.1}, 0.3), [])
        self.assertEqual(leaf({"type": "number", "multipleOf": 0.5}, 1.25),
                         ["spec.x: Invalid value: 1.25: spec.x in body should be a multiple of 0.5"])

    def test_order(self):
        """The number validator reports multipleOf, then minimum, then maximum."""
        self.assertEqual(
            leaf({"type": "integer", "multipleOf": 2, "minimum": 10, "maximum": 0}, 5),
            [
                "spec.x: Invalid value: 5: spec.x in body should be a multiple of 2",
                "spec.x: Invalid value: 5: spec.x in body should be greater than or equal to 10",
                "spec.x: Invalid value: 5: spec.x in body should be less than or equal to 0",
            ],
        )


class EnumTests(SynchronousTestCase):
    """enum: NotSupported with kube's quoting."""

    def test_strings(self):
        """kube's Unsupported value message."""
        self.assertEqual(leaf({"type": "string", "enum": ["a", "b"]}, "x"),
                         ['spec.x: Unsupported value: "x": supported values: "a", "b"'])

    def test_cause(self):
        """FieldValueNotSupported."""
        errs = compile_schema(spec_schema({"x": {"type": "string", "enum": ["a"]}})).validate(obj({"x": "b"}))
        self.assertEqual(errs[0].cause(), {"reason": "FieldValueNotSupported", "field": "spec.x",
                                           "message": 'Unsupported value: "b": supported values: "a"'})

    def test_numbers(self):
        """Non-string values are listed as JSON, numbers compare across int and float."""
        self.assertEqual(leaf({"type": "integer", "enum": [1, 2]}, 3),
                         ['spec.x: Unsupported value: 3: supported values: "1", "2"'])
        self.assertEqual(leaf({"type": "number", "enum": [1.0, 2.5]}, 1), [])
        self.assertEqual(leaf({"type": "number", "enum": [1.0, 2.5]}, 3),
                         ['spec.x: Unsupported value: 3: supported values: "1", "2.5"'])

    def test_bool_is_not_a_number(self):
        """true is not 1."""
        self.assertEqual(len(leaf({"enum": [1]}, True)), 1)

    def test_objects(self):
        """Objects compare structurally."""
        self.assertEqual(leaf({"type": "object", "enum": [{"a": 1}]}, {"a": 1}), [])
        self.assertEqual(leaf({"type": "object", "enum": [{"a": 1}]}, {"a": 2}),
                         ['spec.x: Unsupported value: map[string]interface {}{"a":2}: supported values: "{\\"a\\":1}"'])

    def test_null_value(self):
        """kube 1.33 prints a null bad value as "null"."""
        self.assertEqual(leaf({"type": "string", "nullable": True, "enum": ["a"]}, None),
                         ['spec.x: Unsupported value: "null": supported values: "a"'])

    def test_null_in_enum(self):
        """kube-openapi never matches a null against an enum, even one listing null."""
        self.assertEqual(leaf({"type": "string", "nullable": True, "enum": ["a", None]}, None),
                         ['spec.x: Unsupported value: "null": supported values: "a", "null"'])

    def test_large_enum(self):
        """A 5,000-value enum is a set lookup."""
        values = [f"v{i}" for i in range(5000)]
        self.assertEqual(leaf({"type": "string", "enum": values}, "v4999"), [])
        self.assertEqual(len(leaf({"type": "string", "enum": values}, "nope")), 1)


class ArrayTests(SynchronousTestCase):
    """items, minItems, maxItems, uniqueItems, list types."""

    def test_item_paths(self):
        """Item errors are named with [i]."""
        self.assertEqual(
            leaf({"type": "array", "items": {"type": "integer"}}, [1, "b"]),
            ['spec.x[1]: Invalid value: "string": spec.x[1] in body must be of type integer: "string"'],
        )

    def test_nested_item_paths(self):
        """Properties of items."""
        s = {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}}
        self.assertEqual(leaf(s, [{"n": "a"}, {"n": 1}]),
                         ['spec.x[1].n: Invalid value: "integer": spec.x[1].n in body must be of type string: "integer"'])

    def test_max_items(self):
        """Too many, with the count."""
        self.assertEqual(leaf({"type": "array", "maxItems": 2}, [1, 2, 3]),
                         ["spec.x: Too many: 3: must have at most 2 items"])
        self.assertEqual(leaf({"type": "array", "maxItems": 1}, [1, 2]),
                         ["spec.x: Too many: 2: must have at most 1 items"])

    def test_min_items(self):
        """Invalid value with the count."""
        self.assertEqual(leaf({"type": "array", "minItems": 2}, [1]),
                         ["spec.x: Invalid value: 1: spec.x in body should have at least 2 items"])

    def test_unique_items(self):
        """uniqueItems: one error, no value."""
        self.assertEqual(leaf({"type": "array", "uniqueItems": True}, [1, 2, 1]),
                         ['spec.x: Invalid value: "": spec.x in body shouldn\'t contain duplicates'])
        self.assertEqual(leaf({"type": "array", "uniqueItems": True}, [1, True, "1", 1.0]), [])
        self.assertEqual(len(leaf({"type": "array", "uniqueItems": True}, [{"a": [1]}, {"a": [1]}])), 1)

    def test_list_set(self):
        """x-kubernetes-list-type set: one Duplicate value per repeated value (its second place)."""
        s = {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
        self.assertEqual(leaf(s, ["a", "b", "a", "a", "b"]),
                         ['spec.x[2]: Duplicate value: "a"', 'spec.x[4]: Duplicate value: "b"'])
        self.assertEqual(leaf(s, ["a", "b"]), [])

    def test_list_set_objects(self):
        """Compound duplicates print as Go's %#v."""
        s = {"type": "array", "x-kubernetes-list-type": "set", "items": {"x-kubernetes-int-or-string": True}}
        self.assertEqual(leaf({"type": "array", "x-kubernetes-list-type": "set"}, [["a", 1], ["a", 1]]),
                         ['spec.x[1]: Duplicate value: []interface {}{"a", 1}'])
        self.assertEqual(leaf(s, [1, "1"]), [])

    def test_list_set_numbers(self):
        """Integers print bare."""
        s = {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}}
        self.assertEqual(leaf(s, [1, 1]), ["spec.x[1]: Duplicate value: 1"])

    def test_list_map_single_key(self):
        """x-kubernetes-list-type map: duplicate keys as JSON."""
        s = {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
             "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}
        self.assertEqual(leaf(s, [{"name": "a", "v": 1}, {"name": "a", "v": 2}]),
                         ['spec.x[1]: Duplicate value: map[string]interface {}{"name":"a"}'])

    def test_list_map_two_keys(self):
        """Several keys: the key object, sorted."""
        s = {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
             "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}}}}
        self.assertEqual(leaf(s, [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}]), [])
        self.assertEqual(leaf(s, [{"protocol": "TCP", "port": 80}, {"port": 80, "protocol": "TCP"}]),
                         ['spec.x[1]: Duplicate value: map[string]interface {}{"port":80, "protocol":"TCP"}'])

    def test_list_map_not_object(self):
        """An item that is not an object."""
        s = {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
        self.assertEqual(leaf(s, [{"name": "a"}, "b"]),
                         ['spec.x[1]: Invalid value: "b": must be an object for an array of list-type map'])

    def test_list_errors_after_schema_errors(self):
        """kube appends list-type errors after the OpenAPI errors."""
        s = spec_schema({
            "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "z": {"type": "integer"},
        })
        self.assertEqual(messages(s, obj({"s": ["a", "a"], "z": "x"})), [
            'spec.z: Invalid value: "string": spec.z in body must be of type integer: "string"',
            'spec.s[1]: Duplicate value: "a"',
        ])

    def test_list_in_map_uses_key_path(self):
        """List-type errors under a map use field.Path's [key]."""
        s = spec_schema({"m": {"type": "object", "additionalProperties": {
            "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}})
        self.assertEqual(messages(s, obj({"m": {"k": ["a", "a"]}})), ['spec.m[k][1]: Duplicate value: "a"'])

    def test_large_set_is_linear(self):
        """A set of 20,000 strings is checked by hashing."""
        s = {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
        self.assertEqual(leaf(s, [str(i) for i in range(20000)]), [])


class ObjectTests(SynchronousTestCase):
    """properties, required, additionalProperties, min/maxProperties."""

    def test_required(self):
        """Required value, one per missing field, in the schema's order."""
        s = spec_schema({"a": {"type": "string"}, "b": {"type": "string"}}, required=["b", "a"])
        self.assertEqual(messages(s, obj({})), ["spec.b: Required value", "spec.a: Required value"])

    def test_required_at_root(self):
        """A required root field is named without a leading dot."""
        s = {"type": "object", "properties": {"spec": {"type": "object"}}, "required": ["spec"]}
        self.assertEqual(messages(s, obj()), ["spec: Required value"])

    def test_required_cause(self):
        """FieldValueRequired, message Required value."""
        s = spec_schema({"a": {"type": "string"}}, required=["a"])
        errs = compile_schema(s).validate(obj({}))
        self.assertEqual(errs[0].cause(), {"reason": "FieldValueRequired", "message": "Required value",
                                           "field": "spec.a"})

    def test_map_values(self):
        """additionalProperties values are named with a dot (kube-openapi's path)."""
        s = spec_schema({"labels": {"type": "object", "additionalProperties": {"type": "string"}}})
        self.assertEqual(messages(s, obj({"labels": {"a": "x", "b": 2}})),
                         ['spec.labels.b: Invalid value: "integer": spec.labels.b in body must be of type string: "integer"'])

    def test_max_properties(self):
        """maxProperties is a Too many with kube's items wording."""
        s = spec_schema({"m": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}})
        self.assertEqual(messages(s, obj({"m": {"a": "1", "b": "2"}})),
                         ["spec.m: Too many: 2: must have at most 1 items"])

    def test_min_properties(self):
        """minProperties."""
        s = spec_schema({"m": {"type": "object", "minProperties": 2, "additionalProperties": {"type": "string"}}})
        self.assertEqual(messages(s, obj({"m": {"a": "1"}})),
                         ["spec.m: Invalid value: 1: spec.m in body should have at least 2 properties"])

    def test_errors_everywhere(self):
        """One error per problem, all reported."""
        s = spec_schema({
            "replicas": {"type": "integer", "minimum": 1},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "name": {"type": "string"},
        }, required=["name"])
        self.assertEqual(messages(s, obj({"replicas": 0, "mode": "c"})), [
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            'spec.mode: Unsupported value: "c": supported values: "a", "b"',
            "spec.name: Required value",
        ])

    def test_status_message(self):
        """The 422 Status message reads as kube's."""
        s = spec_schema({"replicas": {"type": "integer"}, "mode": {"type": "string", "enum": ["a"]}})
        errs = compile_schema(s).validate(obj({"replicas": "x", "mode": "b"}))
        st = invalid("Widget", "w", errs, group="example.com")
        self.assertEqual(
            st.message,
            'Widget.example.com "w" is invalid: [spec.replicas: Invalid value: "string": spec.replicas in body '
            'must be of type integer: "string", spec.mode: Unsupported value: "b": supported values: "a"]',
        )


class CombinatorTests(SynchronousTestCase):
    """allOf, anyOf, oneOf, not (value validations, as in structural schemas)."""

    def test_any_of(self):
        """No branch: kube's <nil> error, then the closest branch's errors."""
        s = {"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}
        self.assertEqual(leaf(s, "a1"), [])
        self.assertEqual(leaf(s, "c"), [
            '<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)',
            "spec.x: Invalid value: \"c\": spec.x in body should match '^a'",
        ])

    def test_one_of(self):
        """Two branches valid: kube's count."""
        s = {"type": "integer", "oneOf": [{"minimum": 1}, {"maximum": 10}]}
        self.assertEqual(leaf(s, 20), [])
        self.assertEqual(leaf(s, 5), [
            '<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives',
        ])

    def test_one_of_none(self):
        """No branch valid."""
        s = {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
        self.assertEqual(leaf(s, {}), [
            '<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found none valid',
            "spec.x.a: Required value",
        ])

    def test_all_of(self):
        """Every branch's errors, then the summary."""
        s = {"type": "integer", "allOf": [{"minimum": 10}, {"maximum": 20}]}
        self.assertEqual(leaf(s, 15), [])
        self.assertEqual(leaf(s, 5), [
            "spec.x: Invalid value: 5: spec.x in body should be greater than or equal to 10",
            '<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)',
        ])

    def test_not(self):
        """not."""
        s = {"type": "string", "not": {"enum": ["forbidden"]}}
        self.assertEqual(leaf(s, "ok"), [])
        self.assertEqual(leaf(s, "forbidden"),
                         ['<nil>: Invalid value: "": "spec.x" must not validate the schema (not)'])

    def test_branch_properties(self):
        """Branches may validate nested properties."""
        s = {"type": "object", "properties": {"a": {"type": "string"}},
             "anyOf": [{"properties": {"a": {"enum": ["x"]}}}]}
        self.assertEqual(leaf(s, {"a": "x"}), [])
        self.assertEqual(len(leaf(s, {"a": "y"})), 2)


class EmbeddedResourceTests(SynchronousTestCase):
    """x-kubernetes-embedded-resource: apiVersion, kind, ObjectMeta."""

    schema = spec_schema({"template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                       "x-kubernetes-preserve-unknown-fields": True}})

    def test_valid(self):
        """A complete embedded object passes."""
        t = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}}}
        self.assertEqual(messages(self.schema, obj({"template": t})), [])

    def test_required(self):
        """apiVersion and kind are required."""
        self.assertEqual(messages(self.schema, obj({"template": {}})),
                         ["spec.template.apiVersion: Required value", "spec.template.kind: Required value"])

    def test_bad_values(self):
        """Empty, non-string and malformed values."""
        self.assertEqual(messages(self.schema, obj({"template": {"apiVersion": "", "kind": 1}})), [
            'spec.template.apiVersion: Invalid value: "": must not be empty',
            "spec.template.kind: Invalid value: 1: must be a string",
        ])
        self.assertEqual(messages(self.schema, obj({"template": {"apiVersion": "a/b/c", "kind": "a_b"}})), [
            'spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c',
            'spec.template.kind: Invalid value: "a_b": may have mixed case, but should otherwise match: '
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
            "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ])

    def test_metadata(self):
        """Metadata is ObjectMeta: path-segment names, labels."""
        t = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a/b", "labels": {"bad key!": "v"}}}
        errs = messages(self.schema, obj({"template": t}))
        self.assertEqual(errs[0], "spec.template.metadata.name: Invalid value: \"a/b\": may not contain '/'")
        self.assertTrue(errs[1].startswith('spec.template.metadata.labels: Invalid value: "bad key!": '), errs)

    def test_metadata_wrong_type(self):
        """Metadata that is not an object."""
        t = {"apiVersion": "v1", "kind": "Pod", "metadata": "x"}
        self.assertEqual(messages(self.schema, obj({"template": t})), [
            'spec.template.metadata: Invalid value: "x": json: cannot unmarshal string into Go value of type v1.ObjectMeta',
        ])

    def test_embedded_in_list(self):
        """Embedded resources in lists are named with [i]."""
        s = spec_schema({"objs": {"type": "array", "items": {
            "type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}}})
        self.assertEqual(messages(s, obj({"objs": [{"apiVersion": "v1"}]})), ["spec.objs[0].kind: Required value"])

    def test_pruning_keeps_meta_fields(self):
        """apiVersion, kind and metadata survive pruning; unknown metadata fields do not."""
        s = spec_schema({"template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                      "properties": {"spec": {"type": "object"}}}})
        o = obj({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bogus": 1},
                              "spec": {}, "other": 1}})
        c = compile_schema(s)
        self.assertEqual(c.unknown_fields(copy.deepcopy(o)), ["spec.template.other", "spec.template.metadata.bogus"])
        self.assertEqual(c.prune(o), ["spec.template.other", "spec.template.metadata.bogus"])
        self.assertEqual(o["spec"]["template"], {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})


class EmbeddedMetadataPathTests(SynchronousTestCase):
    """Where kube names the unknown metadata fields of embedded resources (field.Path style)."""

    embedded = {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}

    def test_in_map(self):
        """Map values are [key], as objectmeta.Coerce names them; sorted after the pruned fields."""
        s = spec_schema({"m": {"type": "object", "additionalProperties": self.embedded}, "l": {"type": "array", "items": self.embedded}})
        o = obj({"m": {"k": {"apiVersion": "v1", "kind": "P", "metadata": {"name": "p", "zz": 1}}},
                 "l": [{"apiVersion": "v1", "kind": "P", "metadata": {"yy": 1}}], "junk": 1})
        self.assertEqual(compile_schema(s).prune(o), ["spec.junk", "spec.l[0].metadata.yy", "spec.m[k].metadata.zz"])
        self.assertEqual(o["spec"]["m"]["k"]["metadata"], {"name": "p"})

    def test_root_metadata_in_document_order(self):
        """The root's metadata fields come first, in the order the decoder meets them."""
        o = obj({})
        o["metadata"] = {"zeta": 1, "name": "w", "alpha": 2}
        self.assertEqual(compile_schema(spec_schema({})).unknown_fields(o), ["metadata.zeta", "metadata.alpha"])

    def test_non_string_type_meta_dropped(self):
        """An embedded apiVersion or kind that is not a string is dropped (then reported missing)."""
        s = spec_schema({"t": self.embedded})
        c = compile_schema(s)
        o = obj({"t": {"apiVersion": 1, "kind": "P"}})
        c.prune(o)
        self.assertEqual(o["spec"]["t"], {"kind": "P"})
        self.assertEqual([str(e) for e in c.validate(o)], ["spec.t.apiVersion: Required value"])


class PruningTests(SynchronousTestCase):
    """Pruning and the unknown-field paths of fieldValidation."""

    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "a": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
                "map": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"v": {"type": "integer"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                         "properties": {"known": {"type": "object", "properties": {"k": {"type": "string"}}}}},
            }},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        },
    }

    def test_clean(self):
        """Nothing to prune."""
        o = obj({"a": "x", "items": [{"n": "1"}], "map": {"k": {"v": 1}}})
        self.assertEqual(compile_schema(self.schema).prune(o), [])

    def test_paths_sorted(self):
        """kube sorts the paths; lists indexed, map values joined with dots."""
        o = obj({"z": 1, "a": "x", "items": [{"n": "1", "q": 2}, {"r": 3}], "map": {"k": {"v": 1, "w": 2}}},
                bogus=True)
        c = compile_schema(self.schema)
        expected = ["bogus", "spec.items[0].q", "spec.items[1].r", "spec.map.k.w", "spec.z"]
        self.assertEqual(c.unknown_fields(copy.deepcopy(o)), expected)
        self.assertEqual(c.prune(o), expected)
        self.assertNotIn("bogus", o)
        self.assertEqual(o["spec"], {"a": "x", "items": [{"n": "1"}, {}], "map": {"k": {"v": 1}}})

    def test_unknown_fields_does_not_modify(self):
        """unknown_fields leaves the object alone."""
        o = obj({"z": 1})
        before = copy.deepcopy(o)
        compile_schema(self.schema).unknown_fields(o)
        self.assertEqual(o, before)

    def test_unknown_subtree_reported_once(self):
        """An unknown object is one path, not one per nested field."""
        o = obj({"z": {"deep": {"deeper": 1}}})
        self.assertEqual(compile_schema(self.schema).prune(o), ["spec.z"])

    def test_root_keeps_type_meta(self):
        """apiVersion, kind, metadata are never pruned at the root."""
        o = obj({}, other=1)
        self.assertEqual(compile_schema({"type": "object"}).prune(o), ["other", "spec"])
        self.assertEqual(o, {"apiVersion": "example.com/v1", "kind": "Widget",
                             "metadata": {"name": "w", "namespace": "default"}})

    def test_root_metadata(self):
        """Unknown fields of the root metadata come first, named metadata.x."""
        o = obj({"z": 1})
        o["metadata"]["foo"] = 1
        o["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "K", "name": "n", "uid": "u", "x": 1}]
        c = compile_schema(self.schema)
        self.assertEqual(c.prune(o), ["metadata.foo", "metadata.ownerReferences[0].x", "spec.z"])
        self.assertNotIn("foo", o["metadata"])
        self.assertNotIn("x", o["metadata"]["ownerReferences"][0])

    def test_metadata_malformed_dropped(self):
        """Malformed metadata fields are dropped, empty ones omitted."""
        o = obj({})
        o["metadata"].update({"labels": "nope", "annotations": {}, "generation": 0})
        compile_schema(self.schema).prune(o)
        self.assertEqual(o["metadata"], {"name": "w", "namespace": "default"})

    def test_preserve_unknown_fields(self):
        """Unknown fields are kept under x-kubernetes-preserve-unknown-fields, known ones pruned below."""
        o = obj({"free": {"anything": {"goes": 1}, "known": {"k": "v", "drop": 1}}})
        c = compile_schema(self.schema)
        self.assertEqual(c.prune(o), ["spec.free.known.drop"])
        self.assertEqual(o["spec"]["free"], {"anything": {"goes": 1}, "known": {"k": "v"}})

    def test_preserve_at_root(self):
        """A root that preserves unknown fields prunes nothing unknown."""
        o = obj({"x": 1}, other=2)
        self.assertEqual(compile_schema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}).prune(o), [])
        self.assertEqual(o["other"], 2)

    def test_list_items_without_schema(self):
        """Objects in a list without items schema lose every field."""
        s = spec_schema({"l": {"type": "array"}})
        o = obj({"l": [{"a": 1}, 2]})
        self.assertEqual(compile_schema(s).prune(o), ["spec.l[0].a"])
        self.assertEqual(o["spec"]["l"], [{}, 2])

    def test_nulls_dropped(self):
        """Non-nullable nulls without a default are dropped; nullable ones and those with a default stay."""
        s = spec_schema({"a": {"type": "string"}, "b": {"type": "string", "nullable": True},
                         "c": {"type": "string", "default": "d"}})
        o = obj({"a": None, "b": None, "c": None})
        self.assertEqual(compile_schema(s).prune(o), [])
        self.assertEqual(o["spec"], {"b": None, "c": None})

    def test_scalar_where_object_expected(self):
        """Pruning follows the data: a scalar is left for validation."""
        o = obj("text")
        self.assertEqual(compile_schema(self.schema).prune(o), [])
        self.assertEqual(o["spec"], "text")

    def test_object_where_string_expected(self):
        """An object where the schema has a scalar loses its fields (kube prunes by data)."""
        o = obj({"a": {"x": 1}})
        self.assertEqual(compile_schema(self.schema).prune(o), ["spec.a.x"])


class KubePruningCasesTests(SynchronousTestCase):
    """kube's pruning test table (pruning/algorithm_test.go), under spec."""

    def prune(self, schema, value):
        o = obj(value)
        paths = compile_schema({"type": "object", "properties": {"spec": schema}}).prune(o)
        return o["spec"], paths

    def test_object_array_object(self):
        """Items of a list and a nested object; an undeclared object is one path."""
        s = {"properties": {"array": {"items": {"properties": {"a": {}, "c": {}}}},
                            "specified": {"properties": {"a": {}, "c": {}}}}}
        value, paths = self.prune(s, {"array": [{"a": 1}, {"b": 1}, {"a": 1, "b": 2, "c": 3}],
                                      "unspecified": {"a": 1}, "specified": {"a": 1, "b": 2, "c": 3}})
        self.assertEqual(value, {"array": [{"a": 1}, {}, {"a": 1, "c": 3}], "specified": {"a": 1, "c": 3}})
        self.assertEqual(paths, ["spec.array[1].b", "spec.array[2].b", "spec.specified.b", "spec.unspecified"])

    def test_additional_properties_schema(self):
        """Map values are pruned by the additionalProperties schema."""
        s = {"properties": {"a": {}, "c": {"additionalProperties": {"type": "integer"}}}}
        value, paths = self.prune(s, {"a": 1, "b": 1, "c": {"a": 1, "b": 2, "c": {"a": 1}}})
        self.assertEqual(value, {"a": 1, "c": {"a": 1, "b": 2, "c": {}}})
        self.assertEqual(paths, ["spec.b", "spec.c.c.a"])

    def test_additional_properties_false(self):
        """additionalProperties: false keeps the keys and prunes the values' fields."""
        s = {"properties": {"a": {}, "c": {"additionalProperties": False}}}
        value, paths = self.prune(s, {"a": 1, "b": 1, "c": {"a": 1, "b": 2, "c": {"a": 1, "apiVersion": "unknown"}}})
        self.assertEqual(value, {"a": 1, "c": {"a": 1, "b": 2, "c": {}}})
        self.assertEqual(paths, ["spec.b", "spec.c.c.a", "spec.c.c.apiVersion"])

    def test_nested_preserve_unknown_fields(self):
        """x-kubernetes-preserve-unknown-fields is not inherited by properties or map values."""
        obj_t = {"type": "object"}
        s = {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "alpha": {"type": "string"}, "beta": {"type": "number"},
                "pruning": {"type": "object", "properties": {
                    "preserving": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "pruning": obj_t}},
                "preserving": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {
                    "preserving": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "preservingUnknownType": {"x-kubernetes-preserve-unknown-fields": True},
                    "pruning": obj_t}},
                "notInheriting": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                  "additionalProperties": {"type": "object", "properties": {"specified": obj_t}}},
                "keyPruneValues": {"type": "object",
                                   "additionalProperties": {"type": "object", "properties": {"specified": obj_t}}},
            },
        }
        value, paths = self.prune(s, {
            "unspecified": "bar", "alpha": "abc", "beta": 42.0, "unspecifiedObject": {"unspecified": "bar"},
            "pruning": {"unspecified": "bar", "unspecifiedObject": {"unspecified": "bar"},
                        "pruning": {"unspecified": "bar"}, "apiVersion": "unknown",
                        "preserving": {"unspecified": "bar"}},
            "preserving": {"unspecified": "bar", "unspecifiedObject": {"unspecified": "bar"},
                           "pruning": {"unspecified": "bar"}, "preserving": {"unspecified": "bar"},
                           "preservingUnknownType": [{"foo": True}, {"bar": True}]},
            "notInheriting": {"foo": {"specified": {"unspecified": "bar"}, "unspecified": "bar"}},
            "keyPruneValues": {"foo": {"specified": {"unspecified": "bar"}, "unspecified": "bar"}},
        })
        self.assertEqual(value, {
            "unspecified": "bar", "alpha": "abc", "beta": 42.0, "unspecifiedObject": {"unspecified": "bar"},
            "pruning": {"pruning": {}, "preserving": {"unspecified": "bar"}},
            "preserving": {"unspecified": "bar", "unspecifiedObject": {"unspecified": "bar"}, "pruning": {},
                           "preserving": {"unspecified": "bar"},
                           "preservingUnknownType": [{"foo": True}, {"bar": True}]},
            "notInheriting": {"foo": {"specified": {}}},
            "keyPruneValues": {"foo": {"specified": {}}},
        })
        self.assertEqual(paths, [
            "spec.keyPruneValues.foo.specified.unspecified", "spec.keyPruneValues.foo.unspecified",
            "spec.notInheriting.foo.specified.unspecified", "spec.notInheriting.foo.unspecified",
            "spec.preserving.pruning.unspecified", "spec.pruning.apiVersion",
            "spec.pruning.pruning.unspecified", "spec.pruning.unspecified", "spec.pruning.unspecifiedObject",
        ])


class DefaultingTests(SynchronousTestCase):
    """Defaulting in kube's order."""

    def test_simple(self):
        """Absent fields get their default."""
        s = spec_schema({"replicas": {"type": "integer", "default": 1}, "x": {"type": "string"}})
        self.assertEqual(compile_schema(s).default(obj({}))["spec"], {"replicas": 1})

    def test_present_kept(self):
        """Present values win."""
        s = spec_schema({"replicas": {"type": "integer", "default": 1}})
        self.assertEqual(compile_schema(s).default(obj({"replicas": 3}))["spec"], {"replicas": 3})

    def test_top_down(self):
        """A defaulted object gets its nested defaults (kube's docs example)."""
        s = spec_schema({"cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$",
                                      "default": "5 0 * * *"},
                         "image": {"type": "string"},
                         "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                         "nested": {"type": "object", "default": {},
                                    "properties": {"a": {"type": "string", "default": "A"}}}})
        o = compile_schema(s).default(obj({"image": "i"}))
        self.assertEqual(o["spec"], {"image": "i", "cronSpec": "5 0 * * *", "replicas": 1, "nested": {"a": "A"}})

    def test_null_replaced(self):
        """A non-nullable null gets the default; a nullable null stays null."""
        s = spec_schema({"a": {"type": "string", "default": "x"},
                         "b": {"type": "string", "nullable": True, "default": "y"}})
        o = compile_schema(s).default(obj({"a": None, "b": None}))
        self.assertEqual(o["spec"], {"a": "x", "b": None})

    def test_list_items(self):
        """Defaults inside list items, and for null items."""
        s = spec_schema({"l": {"type": "array", "items": {
            "type": "object", "default": {"n": "z"}, "properties": {"n": {"type": "string"}, "p": {"type": "integer", "default": 80}}}}})
        o = compile_schema(s).default(obj({"l": [{"n": "a"}, None]}))
        self.assertEqual(o["spec"]["l"], [{"n": "a", "p": 80}, {"n": "z", "p": 80}])

    def test_map_values(self):
        """Defaults inside map values."""
        s = spec_schema({"m": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"p": {"type": "integer", "default": 1}}}}})
        o = compile_schema(s).default(obj({"m": {"a": {}, "b": {"p": 2}}}))
        self.assertEqual(o["spec"]["m"], {"a": {"p": 1}, "b": {"p": 2}})

    def test_empty_and_null(self):
        """Only absent fields and nulls are defaulted: 0, "", [] and {} are values (kube's table)."""
        s = spec_schema({"l": {"type": "array", "items": {"type": "object", "properties": {
            "a": {"x-kubernetes-preserve-unknown-fields": True, "default": "A"}}}}})
        o = compile_schema(s).default(obj({"l": [{}, {"a": 1}, {"a": 0}, {"a": 0.0}, {"a": ""}, {"a": None},
                                                 {"a": []}, {"a": {}}]}))
        self.assertEqual(o["spec"]["l"], [{"a": "A"}, {"a": 1}, {"a": 0}, {"a": 0.0}, {"a": ""}, {"a": "A"},
                                          {"a": []}, {"a": {}}])

    def test_null_map_value(self):
        """A null map value gets the additionalProperties default unless nullable."""
        for nullable, expected in ((False, "A"), (True, None)):
            s = spec_schema({"m": {"type": "object", "additionalProperties": {
                "type": "string", "nullable": nullable, "default": "A"}}})
            self.assertEqual(compile_schema(s).default(obj({"m": {"a": None}}))["spec"]["m"], {"a": expected})

    def test_null_unknown_field(self):
        """A null in a field the schema does not know stays."""
        s = spec_schema({"b": {"type": "string", "default": "B"}})
        self.assertEqual(compile_schema(s).default(obj({"a": None}))["spec"], {"a": None, "b": "B"})

    def test_defaults_are_copies(self):
        """Two objects never share a default's object."""
        s = spec_schema({"o": {"type": "object", "default": {"a": [1]}, "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}})
        c = compile_schema(s)
        a, b = c.default(obj({})), c.default(obj({}))
        a["spec"]["o"]["a"].append(2)
        self.assertEqual(b["spec"]["o"], {"a": [1]})

    def test_defaults_pruned(self):
        """Unknown fields in a default are pruned when compiled (PruneDefaults)."""
        s = spec_schema({"o": {"type": "object", "default": {"a": 1, "junk": 2}, "properties": {"a": {"type": "integer"}}}})
        self.assertEqual(compile_schema(s).default(obj({}))["spec"]["o"], {"a": 1})

    def test_no_defaults(self):
        """A schema without defaults leaves objects alone."""
        o = obj({"x": 1})
        self.assertEqual(compile_schema(spec_schema({"y": {"type": "string"}})).default(o), obj({"x": 1}))

    def test_prune_then_default_then_validate(self):
        """The order the serving code uses gives a valid object from a sparse one."""
        s = spec_schema({"replicas": {"type": "integer", "minimum": 1, "default": 1}}, required=["replicas"])
        c = compile_schema(s)
        o = obj({"replicas": None, "junk": 1})
        self.assertEqual(c.prune(o), ["spec.junk"])
        c.default(o)
        self.assertEqual(c.validate(o), [])
        self.assertEqual(o["spec"], {"replicas": 1})


class ScaleTests(SynchronousTestCase):
    """Deep and wide schemas."""

    def test_deep_schema(self):
        """A schema 400 levels deep compiles and works without exhausting the stack."""
        depth = 400
        leaf_schema: dict = {"type": "string", "enum": ["ok"]}
        value: object = "bad"
        s = leaf_schema
        for _ in range(depth):
            s = {"type": "object", "properties": {"a": s, "d": {"type": "integer", "default": 1}}}
            value = {"a": value, "junk": 1}
        schema = {"type": "object", "properties": {"spec": s}}
        c = compile_schema(schema)
        o = obj(value)
        self.assertEqual(len(c.prune(o)), depth)
        c.default(o)
        errs = c.validate(o)
        self.assertEqual(len(errs), 1)
        self.assertTrue(errs[0].field.endswith(".a"))

    def test_wide_schema(self):
        """2,000 properties: each one checked."""
        props = {f"p{i}": {"type": "integer", "minimum": 0} for i in range(2000)}
        c = compile_schema(spec_schema(props))
        o = obj({f"p{i}": (-1 if i % 500 == 0 else i) for i in range(2000)})
        self.assertEqual([e.field for e in c.validate(o)], ["spec.p0", "spec.p500", "spec.p1000", "spec.p1500"])

    def test_independent(self):
        """Two compiled schemas do not share state."""
        a = compile_schema(spec_schema({"x": {"type": "string"}}))
        b = compile_schema(spec_schema({"x": {"type": "integer"}}))
        self.assertEqual(len(a.validate(obj({"x": 1}))), 1)
        self.assertEqual(b.validate(obj({"x": 1})), [])


class GoFormattingTests(SynchronousTestCase):
    """Go's number formatting, as messages need it."""

    def test_percent_v(self):
        """%v of a float64."""
        for f, s in ((10.0, "10"), (1.5, "1.5"), (123456.0, "123456"), (1e6, "1e+06"),
                     (1234567.0, "1.234567e+06"), (1e-5, "1e-05"), (0.0001, "0.0001"), (-2.5, "-2.5")):
            self.assertEqual(go_float(f), s)

    def test_json(self):
        """encoding/json of a float64."""
        for f, s in ((1.0, "1"), (1e6, "1000000"), (1e21, "1e+21"), (1e-7, "1e-7"), (0.5, "0.5")):
            self.assertEqual(go_json_float(f), s)
