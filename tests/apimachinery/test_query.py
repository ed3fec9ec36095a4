"""
Tests for L{kapid.apimachinery.query}.
"""

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.query import Query, delete_options, parse_bool
from kapid.apimachinery.status import StatusError


class QueryTests(SynchronousTestCase):
    """
    Query parameters.
    """

    def test_parse_bool_like_go(self) -> None:
        """
        Go's ParseBool accepts 1 t T TRUE true True and their false forms, nothing else.
        """
        for v in ("1", "t", "T", "TRUE", "true", "True"):
            self.assertTrue(parse_bool(v))
        for v in ("0", "f", "F", "FALSE", "false", "False"):
            self.assertFalse(parse_bool(v))
        self.assertRaises(ValueError, parse_bool, "yes")

    def test_query_booleans_like_kube(self) -> None:
        """
        Query booleans: 0/f/false (any case) are false, anything else (empty too) is true.
        """
        for v, want in ((b"True", True), (b"1", True), (b"", True), (b"yes", True),
                        (b"0", False), (b"F", False), (b"FALSE", False), (b"false", False)):
            self.assertEqual(Query({b"watch": [v]}).bool("watch"), want, v)
        self.assertFalse(Query({}).bool("watch"))

    def test_dry_run(self) -> None:
        """
        dryRun=All is a dry run; other values are 400.
        """
        self.assertTrue(Query({b"dryRun": [b"All"]}).dry_run())
        self.assertRaises(StatusError, Query({b"dryRun": [b"x"]}).dry_run)

    def test_delete_options_from_query_or_body(self) -> None:
        """
        DeleteOptions come from the body when there is one, else from the query.
        """
        q = Query({b"propagationPolicy": [b"Foreground"], b"gracePeriodSeconds": [b"5"]})
        self.assertEqual(delete_options(q, None), {"gracePeriodSeconds": 5, "propagationPolicy": "Foreground"})
        self.assertEqual(delete_options(q, {"propagationPolicy": "Orphan"}), {"propagationPolicy": "Orphan"})
        e = self.assertRaises(StatusError, delete_options, Query({}), {"propagationPolicy": "Sideways"})
        self.assertEqual(e.code, 422)
