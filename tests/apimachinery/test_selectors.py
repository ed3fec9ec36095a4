"""
Tests for L{kapid.apimachinery.selectors}.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.selectors import (
    field_matcher,
    parse_field_selector,
    parse_label_selector,
)
from kapid.apimachinery.status import StatusError


class LabelSelectorTests(SynchronousTestCase):
    """
    Label selectors.
    """

    def match(self, sel: str, labels: dict) -> bool:
        m = parse_label_selector(sel)
        return True if m is None else m(labels)

    def test_equality(self) -> None:
        """
        =, == and != compare values; != matches a missing key.
        """
        self.assertTrue(self.match("a=b", {"a": "b"}))
        self.assertTrue(self.match("a==b", {"a": "b"}))
        self.assertFalse(self.match("a=b", {"a": "c"}))
        self.assertTrue(self.match("a!=b", {}))
        self.assertFalse(self.match("a!=b", {"a": "b"}))

    def test_sets_and_existence(self) -> None:
        """
        in, notin, exists and ! work, combined with commas.
        """
        self.assertTrue(self.match("a in (x, y),b", {"a": "y", "b": ""}))
        self.assertFalse(self.match("a notin (x,y)", {"a": "x"}))
        self.assertTrue(self.match("a notin (x,y)", {}))
        self.assertTrue(self.match("!a", {"b": "1"}))
        self.assertFalse(self.match("!a", {"a": "1"}))
        self.assertTrue(self.match("", {"a": "1"}))

    def test_parse_errors_are_400(self) -> None:
        """
        Malformed selectors are 400 with the parser's message.
        """
        e = self.assertRaises(StatusError, parse_label_selector, "a in")
        self.assertEqual(e.code, 400)
        self.assertEqual(e.message, "unable to parse requirement: found '', expected: '('")
        e = self.assertRaises(StatusError, parse_label_selector, "a=b c")
        self.assertEqual(e.code, 400)

    def test_bad_value(self) -> None:
        """
        Label values are validated.
        """
        e = self.assertRaises(StatusError, parse_label_selector, "a=-x")
        self.assertIn("a valid label must be an empty string", e.message)


class FieldSelectorTests(SynchronousTestCase):
    """
    Field selectors.
    """

    def test_terms(self) -> None:
        """
        Terms split on commas, with = == != operators.
        """
        terms = parse_field_selector("metadata.name=a,metadata.namespace!=b,x==c")
        self.assertEqual([(t.field, t.op, t.value) for t in terms],
                         [("metadata.name", "=", "a"), ("metadata.namespace", "!=", "b"), ("x", "=", "c")])

    def test_escapes(self) -> None:
        """
        Backslash escapes commas and equals signs in values.
        """
        terms = parse_field_selector(r"a=x\,y\=z")
        self.assertEqual(terms[0].value, "x,y=z")

    def test_unsupported_field(self) -> None:
        """
        A field the resource does not support is 400 "field label not supported".
        """
        e = self.assertRaises(StatusError, field_matcher, parse_field_selector("spec.x=1"), {})
        self.assertEqual(e.message, "field label not supported: spec.x")

    def test_matching(self) -> None:
        """
        metadata.name and extra fields match objects.
        """
        m = field_matcher(parse_field_selector("metadata.name=a,type!=x"), {"type": lambda o: o.get("type", "")})
        self.assertTrue(m({"metadata": {"name": "a"}, "type": "y"}))
        self.assertFalse(m({"metadata": {"name": "a"}, "type": "x"}))
