"""
Tests of auditing: policy rules, the events the audit filter records, the log backend.
"""

from __future__ import annotations

import os

import orjson
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from kapid import tap
from kapid.auth.interfaces import Attributes, UserInfo
from kapid.server.audit import AuditLog, Policy, PolicyError
from kapid.testing.server import InMemoryServer
from tests.server.test_chain import FakeResourceLink, fetch

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["whoami"]}]},
        {"level": "Request", "verbs": ["create"], "namespaces": ["x"]},
        {"level": "Metadata"},
    ],
}


def attrs(path: str = "", resource: str = "", verb: str = "get", **kw: object) -> Attributes:
    """
    Attributes for a policy check.
    """
    return Attributes(user=UserInfo("u", groups=("g",)), verb=verb, is_resource_request=bool(resource),
                      path=path, resource=resource, **kw)  # type: ignore[arg-type]


class PolicyTests(SynchronousTestCase):
    """
    The first matching rule decides.
    """

    def test_levels(self) -> None:
        """
        Non-resource URLs, resources, verbs and namespaces select rules in order.
        """
        policy = Policy.from_dict(POLICY)
        self.assertEqual(policy.level_for(attrs("/healthz/etcd"))[0], "None")
        self.assertEqual(policy.level_for(attrs("/version"))[0], "None")
        self.assertEqual(policy.level_for(attrs("/metrics"))[0], "Metadata")
        self.assertEqual(policy.level_for(attrs(resource="whoami"))[0], "RequestResponse")
        self.assertEqual(policy.level_for(attrs(resource="pods", verb="create", namespace="x"))[0], "Request")
        self.assertEqual(policy.level_for(attrs(resource="pods", verb="create", namespace="y"))[0], "Metadata")
        self.assertEqual(policy.level_for(attrs("/metrics"))[1], ("RequestReceived",))

    def test_subresource_patterns(self) -> None:
        """
        pods/*, */scale and pods/log name subresources as kube's policy does.
        """
        for pattern, sub, expected in [("pods/*", "log", "Metadata"), ("*/scale", "scale", "Metadata"),
                                       ("pods/log", "status", "None"), ("pods", "log", "None")]:
            policy = Policy.from_dict({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
                {"level": "Metadata", "resources": [{"resources": [pattern]}]}]})
            self.assertEqual(policy.level_for(attrs(resource="pods", subresource=sub))[0], expected, pattern)

    def test_bad_policy(self) -> None:
        """
        Malformed policies are refused with a reason.
        """
        for doc in [{"kind": "Policy", "apiVersion": "v1"},
                    {"kind": "Policy", "apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Loud"}]},
                    {"kind": "Policy", "apiVersion": "audit.k8s.io/v1",
                     "rules": [{"level": "None", "nonResourceURLs": ["/x"], "namespaces": ["a"]}]}]:
            self.assertRaises(PolicyError, Policy.from_dict, doc)

    def test_bad_policy_file_is_a_flag_error(self) -> None:
        """
        A bad policy file is named among the start-up errors.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("kind: Policy\napiVersion: audit.k8s.io/v1\nrules:\n- level: Sometimes\n")
        with self.assertRaises(usage.UsageError) as raised:
            tap.Options().parseOptions([f"--audit-policy-file={path}"])
        self.assertIn("--audit-policy-file: rules[0].level: 'Sometimes'", str(raised.exception))


class AuditFilterTests(SynchronousTestCase):
    """
    The events recorded for requests.
    """

    def test_metadata_event(self) -> None:
        """
        A request at Metadata level gets a ResponseComplete event with kube's fields.
        """
        server = InMemoryServer(resource_link_factory=FakeResourceLink, audit_policy=POLICY)
        code, headers, _ = fetch(server, "/api/v1/namespaces/x/configmaps/nope?x=1")
        self.assertEqual(code, 404)
        [event] = server.audit_events
        self.assertEqual(event["stage"], "ResponseComplete")
        self.assertEqual(event["level"], "Metadata")
        self.assertEqual(event["auditID"], headers["audit-id"])
        self.assertEqual(event["requestURI"], "/api/v1/namespaces/x/configmaps/nope?x=1")
        self.assertEqual(event["verb"], "get")
        self.assertEqual(event["user"], {"username": "system:anonymous", "groups": ["system:unauthenticated"]})
        self.assertEqual(event["objectRef"], {"resource": "configmaps", "namespace": "x", "name": "nope", "apiVersion": "v1"})
        self.assertEqual(event["responseStatus"]["code"], 404)
        self.assertEqual(event["responseStatus"]["reason"], "NotFound")
        self.assertEqual(event["annotations"]["authorization.k8s.io/decision"], "allow")
        self.assertNotIn("requestObject", event)

    def test_none_level_records_nothing(self) -> None:
        """
        Requests at level None leave no event.
        """
        server = InMemoryServer(audit_policy=POLICY)
        fetch(server, "/version")
        self.assertEqual(server.audit_events, [])

    def test_request_response_and_impersonation(self) -> None:
        """
        RequestResponse keeps the response; an impersonated request names both users.
        """
        server = InMemoryServer(resource_link_factory=FakeResourceLink, audit_policy=POLICY)
        fetch(server, "/api/v1/whoami", headers={"Impersonate-User": ["bob"]})
        [event] = server.audit_events
        self.assertEqual(event["responseObject"]["name"], "bob")
        self.assertEqual(event["user"]["username"], "system:anonymous")
        self.assertEqual(event["impersonatedUser"]["username"], "bob")

    def test_log_backend(self) -> None:
        """
        The log backend writes one JSON event per line.
        """
        path = os.path.join(self.mktemp(), "audit.log")
        backend = AuditLog(path)
        backend.write({"kind": "Event", "auditID": "a"})
        backend.write({"kind": "Event", "auditID": "b"})
        backend.close()
        with open(path, "rb") as f:
            self.assertEqual([orjson.loads(line)["auditID"] for line in f], ["a", "b"])
