"""
Tests for L{kapid.cel.authn}: structured authentication's claim validation rules, claim mappings
and user validation rules.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.cel.authn import ClaimError, ClaimExpressions

ENTRY = {
    "issuer": {"url": "https://issuer.example", "audiences": ["kapid"]},
    "claimValidationRules": [{"expression": "claims.hd == 'example.com'", "message": "wrong hosted domain"}],
    "claimMappings": {
        "username": {"expression": "'oidc:' + claims.email"},
        "groups": {"expression": "claims.roles.map(r, 'role:' + r)"},
        "uid": {"expression": "claims.sub"},
        "extra": [{"key": "example.com/tenant", "valueExpression": "claims.tenant"},
                  {"key": "example.com/empty", "valueExpression": "''"}],
    },
    "userValidationRules": [{"expression": "!user.username.startsWith('oidc:system:')",
                             "message": "username cannot use reserved system: prefix"}],
}
CLAIMS = {"sub": "1234", "email": "jane@example.com", "hd": "example.com", "roles": ["dev", "ops"], "tenant": "t1"}


class ClaimExpressionsTests(SynchronousTestCase):
    """Claim mappings and validation rules."""

    def test_mappings(self) -> None:
        """The user is mapped from the claims by the expressions; empty extra values are left out."""
        c = ClaimExpressions(ENTRY)
        self.assertEqual(c.errors, [])
        c.validate_claims(CLAIMS)
        self.assertEqual(c.map_username(CLAIMS), "oidc:jane@example.com")
        self.assertEqual(c.map_groups(CLAIMS), ["role:dev", "role:ops"])
        self.assertEqual(c.map_uid(CLAIMS), "1234")
        self.assertEqual(c.map_extra(CLAIMS), {"example.com/tenant": ("t1",)})
        c.validate_user("oidc:jane@example.com", "1234", ["role:dev"], {})

    def test_claim_rule_fails(self) -> None:
        """A false claim validation rule is kube's message with the rule's."""
        with self.assertRaises(ClaimError) as e:
            ClaimExpressions(ENTRY).validate_claims(dict(CLAIMS, hd="other.com"))
        self.assertEqual(str(e.exception), "oidc: error evaluating claim validation expression: validation "
                                           "expression 'claims.hd == 'example.com'' failed: wrong hosted domain")

    def test_user_rule_fails(self) -> None:
        """A false user validation rule refuses the token."""
        with self.assertRaises(ClaimError) as e:
            ClaimExpressions(ENTRY).validate_user("oidc:system:admin", "", [], {})
        self.assertIn("oidc: error evaluating user info validation rule: validation expression", str(e.exception))
        self.assertTrue(str(e.exception).endswith("failed: username cannot use reserved system: prefix"))

    def test_wrong_types(self) -> None:
        """A username that is not a string and groups that are not strings are kube's errors."""
        c = ClaimExpressions({"claimMappings": {"username": {"expression": "claims.n"},
                                                "groups": {"expression": "claims.n"}}})
        with self.assertRaises(ClaimError) as e:
            c.map_username({"n": 1})
        self.assertEqual(str(e.exception), "oidc: error evaluating username claim expression: "
                                           "username claim expression must return a string")
        with self.assertRaises(ClaimError) as e:
            c.map_groups({"n": 1})
        self.assertEqual(str(e.exception), "oidc: error evaluating group claim expression: "
                                           "expression must return a string or a list of strings")

    def test_missing_claim(self) -> None:
        """A claim the token lacks is an evaluation error."""
        with self.assertRaises(ClaimError) as e:
            ClaimExpressions(ENTRY).map_uid({})
        self.assertIn("no such key: sub", str(e.exception))

    def test_compile_errors(self) -> None:
        """Expressions that do not compile are listed for start-up."""
        c = ClaimExpressions({"claimMappings": {"username": {"expression": "claims."}}}, "jwt[1]")
        self.assertEqual(len(c.errors), 1)
        self.assertTrue(c.errors[0].startswith("jwt[1].claimMappings.username.expression: Invalid value: 'claims.': "
                                               "compilation failed: ERROR: <input>:1:"), c.errors[0])
