"""
Tests for paths and query parameters as kube parses them (issue 18, item 5): malformed integer
parameters of list, watch and delete requests are 400 with Go's C{strconv} text, as kube's
parameter codec answers; booleans are lenient as kube's are; C{/version/} is served.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.query import Query, parse_int
from kapid.apimachinery.status import StatusError
from kapid.testing.server import InMemoryServer
from tests.endpoints.helpers import API, cm
from tests.server.test_chain import fetch

CMS = "/api/v1/namespaces/default/configmaps"


def bad_request(message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "BadRequest",
        "code": 400,
    }


class ParseIntTests(SynchronousTestCase):
    """
    L{parse_int} is Go's C{strconv.ParseInt(s, 10, 64)}.
    """

    def test_accepts_go_integers(self) -> None:
        self.assertEqual([parse_int(v) for v in ("0", "42", "+7", "-3", "007")], [0, 42, 7, -3, 7])
        self.assertEqual(parse_int("9223372036854775807"), 2**63 - 1)

    def test_refuses_what_go_refuses(self) -> None:
        """
        Python's C{int} accepts spaces, underscores and other digits; Go does not.
        """
        for value in ("", "abc", " 1", "1 ", "1_000", "0x10", "1.5", "\u0661", "+", "--1"):
            with self.assertRaises(StatusError, msg=value) as e:
                parse_int(value)
            self.assertTrue(e.exception.message.endswith(": invalid syntax"), value)

    def test_out_of_range(self) -> None:
        with self.assertRaises(StatusError) as e:
            parse_int("9223372036854775808")
        self.assertEqual(
            e.exception.message,
            'strconv.ParseInt: parsing "9223372036854775808": value out of range',
        )

    def test_query_int(self) -> None:
        """
        Absent is the default; present and empty is malformed, as in kube.
        """
        self.assertEqual(Query({}).int("limit", 5), 5)
        self.assertIsNone(Query({}).optional_int("timeoutSeconds"))
        self.assertRaises(StatusError, Query({b"limit": [b""]}).int, "limit")


class ListWatchDeleteParamsTests(SynchronousTestCase):
    """
    Malformed parameters are kube's 400 on every request that decodes them.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.api.post(CMS, cm("a", {"x": "y"}))

    def assertBadRequest(self, result: tuple, message: str) -> None:
        code, body, _ = result
        self.assertEqual((code, body), (400, bad_request(message)))

    def test_list(self) -> None:
        """
        C{timeoutSeconds} is decoded (and refused) on a list too, where it is otherwise unused.
        """
        self.assertBadRequest(
            self.api.get(CMS + "?timeoutSeconds=abc"), 'strconv.ParseInt: parsing "abc": invalid syntax'
        )
        self.assertBadRequest(self.api.get(CMS + "?limit=x"), 'strconv.ParseInt: parsing "x": invalid syntax')
        self.assertBadRequest(self.api.get(CMS + "?limit="), 'strconv.ParseInt: parsing "": invalid syntax')
        self.assertBadRequest(
            self.api.get("/api/v1/configmaps?limit=1_0"), 'strconv.ParseInt: parsing "1_0": invalid syntax'
        )

    def test_watch(self) -> None:
        self.assertBadRequest(
            self.api.get(CMS + "?watch=true&timeoutSeconds=1.5"),
            'strconv.ParseInt: parsing "1.5": invalid syntax',
        )
        self.assertBadRequest(
            self.api.get(CMS + "?watch=1&limit=99999999999999999999"),
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        )

    def test_delete(self) -> None:
        self.assertBadRequest(
            self.api.delete(CMS + "/a?gracePeriodSeconds=soon"),
            'strconv.ParseInt: parsing "soon": invalid syntax',
        )
        self.assertBadRequest(
            self.api.delete(CMS + "?gracePeriodSeconds=-"), 'strconv.ParseInt: parsing "-": invalid syntax'
        )
        self.assertEqual(self.api.get(CMS + "/a")[0], 200)

    def test_good_values_served(self) -> None:
        """
        Well-formed values, and booleans of any text (kube reads every value but 0/false as true).
        """
        code, body, _ = self.api.get(CMS + "?limit=%2B1&timeoutSeconds=5")
        self.assertEqual((code, len(body["items"])), (200, 1))
        code, body, _ = self.api.get(CMS + "?allowWatchBookmarks=maybe&limit=-1")
        self.assertEqual((code, len(body["items"])), (200, 1))
        code, body, _ = self.api.delete(CMS + "/a?gracePeriodSeconds=0&orphanDependents=perhaps")
        self.assertEqual(code, 200, body)


class VersionPathTests(SynchronousTestCase):
    """
    C{/version/} (the Python client's C{VersionApi.get_code()}) is served as C{/version}.
    """

    def test_trailing_slash(self) -> None:
        server = InMemoryServer()
        code, _, body = fetch(server, "/version")
        self.assertEqual(code, 200)
        code, headers, slashed = fetch(server, "/version/")
        self.assertEqual((code, headers["content-type"], slashed), (200, "application/json", body))


class TimeoutParameterTests(SynchronousTestCase):
    """
    A malformed C{?timeout=} is kube's 400 with Go's C{time.ParseDuration} error appended.
    """

    def test_messages(self) -> None:
        import orjson

        server = InMemoryServer()
        for value, reason in (
            ("abc", 'time: invalid duration "abc"'),
            ("5", 'time: missing unit in duration "5"'),
            ("5x", 'time: unknown unit "x" in duration "5x"'),
        ):
            code, _, body = fetch(server, f"/api/v1/namespaces?timeout={value}")
            self.assertEqual(
                (code, orjson.loads(body)["message"]),
                (400, f"invalid timeout specified in the request URL - {reason}"),
            )
        self.assertNotEqual(fetch(server, "/version?timeout=1m30s")[0], 400)
