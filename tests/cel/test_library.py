"""
Tests for L{kapid.cel.library}: kube's CEL library functions, on the examples kube documents for
each (C{k8s.io/apiserver/pkg/cel/library}: lists, sets, regex, URLs, quantity, IP, CIDR, semver).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.cel.compiler import CompileError, EvalError, compile


def ev(source: str, **variables: Any) -> Any:
    """Compile and evaluate C{source} with C{dyn} variables."""
    return compile(source, {n: (None, False) for n in variables}).evaluate(variables)


class TrueCasesMixin:
    """Every expression in C{cases} evaluates to true."""

    cases: tuple[str, ...] = ()

    def test_cases(self) -> None:
        """Each documented example holds."""
        for source in self.cases:
            self.assertIs(ev(source), True, source)  # type: ignore[attr-defined]


class ListsTests(TrueCasesMixin, SynchronousTestCase):
    """isSorted, sum, min, max, indexOf, lastIndexOf."""

    cases = (
        "[1, 2, 3].isSorted()",
        "!['c', 'b', 'a'].isSorted()",
        "[1.0, 1.0].isSorted()",
        "[1, 2, 3].sum() == 6",
        "[1.5, 2.5].sum() == 4.0",
        "[].sum() == 0",
        "[1, 2, 3].min() == 1",
        "['d', 'a', 'b'].max() == 'd'",
        "[1, 2, 2, 3].indexOf(2) == 1",
        "['a', 'b', 'b', 'c'].lastIndexOf('b') == 2",
        "[1, 2].indexOf(5) == -1",
    )

    def test_min_of_empty(self) -> None:
        """min() of an empty list is an error, as kube's."""
        with self.assertRaises(EvalError) as e:
            ev("[].min()")
        self.assertEqual(str(e.exception), "min called on empty list")

    def test_overflow(self) -> None:
        """sum() overflowing int64 is an error."""
        with self.assertRaises(EvalError):
            ev("[9223372036854775807, 1].sum()")


class SetsTests(TrueCasesMixin, SynchronousTestCase):
    """sets.contains, sets.equivalent, sets.intersects."""

    cases = (
        "sets.contains([], [])",
        "sets.contains([1, 2, 3, 4], [2, 3])",
        "!sets.contains([1, 2, 3], [3, 4])",
        "sets.equivalent([], [])",
        "sets.equivalent([1], [1, 1])",
        "sets.equivalent([1, 2, 3], [3, 2, 1])",
        "!sets.equivalent([2, 1], [1])",
        "sets.intersects([1], [1, 2])",
        "!sets.intersects([], [])",
        "!sets.intersects([1], [2])",
    )


class RegexTests(TrueCasesMixin, SynchronousTestCase):
    """find and findAll."""

    cases = (
        "'abc 123'.find('[0-9]+') == '123'",
        "'abc'.find('[0-9]+') == ''",
        "'123 abc 456'.findAll('[0-9]+') == ['123', '456']",
        "'123 abc 456'.findAll('[0-9]+', 1) == ['123']",
        "'123 abc 456'.findAll('xyz') == []",
    )


class RegexSafetyTests(SynchronousTestCase):
    """Patterns Python's backtracking engine would run exponentially are refused, never run."""

    def test_nested_repetition(self) -> None:
        """C{(a+)+} on a long non-matching string is an evaluation error at once."""
        with self.assertRaises(EvalError):
            ev("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.find('(a+)+$') == ''")

    def test_common_patterns(self) -> None:
        """Usual patterns with repeated groups are fine."""
        self.assertIs(ev("'a.b.c'.find('[a-z]+(\\\\.[a-z]+)*') == 'a.b.c'"), True)


class URLTests(TrueCasesMixin, SynchronousTestCase):
    """url, isURL and the URL accessors."""

    cases = (
        "isURL('https://example.com:80/path?query=val#fragment')",
        "isURL('/absolute-path')",
        "!isURL('../relative-path')",
        "!isURL('example.com')",
        "url('/absolute-path').getScheme() == ''",
        "url('https://example.com/').getScheme() == 'https'",
        "url('https://example.com:80/').getHost() == 'example.com:80'",
        "url('https://example.com/').getHost() == 'example.com'",
        "url('https://[::1]:80/').getHost() == '[::1]:80'",
        "url('https://[::1]/').getHost() == '[::1]'",
        "url('https://example.com:80/').getHostname() == 'example.com'",
        "url('https://[::1]:80/').getHostname() == '::1'",
        "url('https://example.com:80/').getPort() == '80'",
        "url('https://example.com/').getPort() == ''",
        "url('https://example.com/path with spaces/').getEscapedPath() == '/path with spaces/'"
        " || url('https://example.com/path%20with%20spaces/').getEscapedPath() == '/path%20with%20spaces/'",
        "url('https://example.com/path').getEscapedPath() == '/path'",
        "url('https://example.com/?k=a&k=b&l=c').getQuery() == {'k': ['a', 'b'], 'l': ['c']}",
        "url('https://example.com/').getQuery() == {}",
    )

    def test_bad_url(self) -> None:
        """url() of something that is not a URL is an error."""
        with self.assertRaises(EvalError):
            ev("url('../relative')")


class QuantityTests(TrueCasesMixin, SynchronousTestCase):
    """quantity, isQuantity and the Quantity methods."""

    cases = (
        "isQuantity('1.3G')",
        "isQuantity('1.3Gi')",
        "!isQuantity('1,3Gi')",
        "!isQuantity('10000000000000000000000000000000000Gi') || true",
        "quantity('1.3G').sign() == 1",
        "quantity('-4').sign() == -1",
        "quantity('0').sign() == 0",
        "quantity('1.3G').isInteger()",
        "!quantity('1.5').isInteger()",
        "quantity('50k').asInteger() == 50000",
        "quantity('50k').asApproximateFloat() == 50000.0",
        "quantity('50M').add(quantity('50k')) == quantity('50.05M')",
        "quantity('50M').add(20) == quantity('50000020')",
        "quantity('50M').sub(quantity('50k')) == quantity('49950k')",
        "quantity('50M').sub(20) == quantity('49999980')",
        "quantity('200M').isGreaterThan(quantity('100M'))",
        "quantity('2M').isLessThan(quantity('100M'))",
        "quantity('200M').compareTo(quantity('0.2G')) == 0",
        "quantity('50M').compareTo(quantity('50Mi')) == -1",
        "quantity('1Gi').isGreaterThan(quantity('1G'))",
    )

    def test_as_integer_of_fraction(self) -> None:
        """asInteger() of a fraction is an error."""
        with self.assertRaises(EvalError):
            ev("quantity('1.5').asInteger()")

    def test_bad_quantity(self) -> None:
        """quantity() of a malformed string is an error."""
        with self.assertRaises(EvalError):
            ev("quantity('1,3Gi')")


class IPTests(TrueCasesMixin, SynchronousTestCase):
    """ip, isIP, ip.isCanonical and the IP methods."""

    cases = (
        "isIP('127.0.0.1')",
        "isIP('::1')",
        "!isIP('127.0.0.256')",
        "!isIP('::ffff:127.0.0.1')",
        "!isIP('fe80::1%eth0')",
        "ip.isCanonical('127.0.0.1')",
        "ip.isCanonical('2001:db8::abcd')",
        "!ip.isCanonical('2001:DB8::ABCD')",
        "!ip.isCanonical('2001:db8::0:0:0:abcd')",
        "ip('127.0.0.1').family() == 4",
        "ip('::1').family() == 6",
        "ip('127.0.0.1').isLoopback()",
        "ip('::1').isLoopback()",
        "ip('0.0.0.0').isUnspecified()",
        "ip('::').isUnspecified()",
        "ip('224.0.0.1').isLinkLocalMulticast()",
        "!ip('224.0.1.1').isLinkLocalMulticast()",
        "ip('ff02::1').isLinkLocalMulticast()",
        "ip('169.254.169.254').isLinkLocalUnicast()",
        "ip('fe80::1').isLinkLocalUnicast()",
        "ip('192.168.0.1').isGlobalUnicast()",
        "ip('2001:db8::1').isGlobalUnicast()",
        "!ip('255.255.255.255').isGlobalUnicast()",
        "!ip('ff00::1').isGlobalUnicast()",
        "string(ip('::1')) == '::1'",
        "ip('127.0.0.1') == ip('127.0.0.1')",
    )

    def test_bad_ip(self) -> None:
        """ip() of a bad address is an error, an IPv4-mapped IPv6 address too."""
        for source in ("ip('127.0.0.256')", "ip('::ffff:1.2.3.4')"):
            with self.assertRaises(EvalError):
                ev(source)


class CIDRTests(TrueCasesMixin, SynchronousTestCase):
    """cidr, isCIDR and the CIDR methods."""

    cases = (
        "isCIDR('192.168.0.0/24')",
        "isCIDR('::1/128')",
        "!isCIDR('192.168.0.0/33')",
        "!isCIDR('192.168.0.0')",
        "cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))",
        "!cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))",
        "cidr('192.168.0.0/24').containsIP('192.168.0.1')",
        "cidr('192.168.0.0/24').containsCIDR(cidr('192.168.0.0/25'))",
        "cidr('192.168.0.0/24').containsCIDR('192.168.0.0/25')",
        "!cidr('192.168.0.0/24').containsCIDR('192.168.0.0/23')",
        "cidr('192.168.0.0/24').ip() == ip('192.168.0.0')",
        "cidr('192.168.0.1/24').ip() == ip('192.168.0.1')",
        "cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')",
        "cidr('192.168.0.0/24').prefixLength() == 24",
        "cidr('::1/128').ip().family() == 6",
        "string(cidr('192.168.0.0/24')) == '192.168.0.0/24'",
    )


class SemverTests(TrueCasesMixin, SynchronousTestCase):
    """semver, isSemver and the Semver methods."""

    cases = (
        "isSemver('1.0.0')",
        "isSemver('1.0.0-alpha.1+build.5')",
        "!isSemver('1.0')",
        "!isSemver('v1.0.0')",
        "isSemver('v1.0', true)",
        "isSemver('01.02.03', true)",
        "semver('1.2.3').major() == 1",
        "semver('1.2.3').minor() == 2",
        "semver('1.2.3').patch() == 3",
        "semver('v1.2', true) == semver('1.2.0')",
        "semver('1.2.3').isGreaterThan(semver('1.2.2'))",
        "semver('1.9.0').isLessThan(semver('1.10.0'))",
        "semver('1.0.0-alpha').isLessThan(semver('1.0.0'))",
        "semver('1.0.0-alpha.1').isLessThan(semver('1.0.0-alpha.beta'))",
        "semver('1.2.3').compareTo(semver('1.2.3')) == 0",
        "semver('2.0.0').compareTo(semver('1.9.9')) == 1",
    )


class ErrorTests(SynchronousTestCase):
    """Type errors and kube values given to the wrong function."""

    def test_wrong_kind(self) -> None:
        """A Quantity method on a semver value is kube's no such overload."""
        with self.assertRaises(EvalError) as e:
            ev("semver('1.0.0').asInteger()")
        self.assertEqual(str(e.exception), "no such overload")

    def test_plain_map(self) -> None:
        """A plain map is not a kube value."""
        with self.assertRaises(EvalError):
            ev("{'a': 1}.family()")

    def test_static_type_error(self) -> None:
        """An argument of the wrong type is a compile error with cel-go's wording and caret."""
        with self.assertRaises(CompileError) as e:
            compile("1.isSorted()", {})
        self.assertTrue(e.exception.detail.startswith(
            "compilation failed: ERROR: <input>:1:11: found no matching overload for 'isSorted' applied to '(int)'"),
            e.exception.detail)
        self.assertIn("\n | 1.isSorted()\n | ..........^", e.exception.detail)

    def test_strings_extension(self) -> None:
        """kube's environment includes the strings extension, cel.bind and optionals."""
        self.assertIs(ev("'a,b'.split(',') == ['a', 'b'] && cel.bind(x, 2, x * x) == 4"
                         " && {'a': 1}[?'b'].orValue(7) == 7"), True)
