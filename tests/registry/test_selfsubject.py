"""
Tests for the computed create-only review resources: L{kapid.registry.builtin.authorization}
(SelfSubjectAccessReview) and L{kapid.registry.builtin.authentication} (SelfSubjectReview), fed with
the bodies kubectl really sends.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from kapid.apimachinery.protobuf import decode
from kapid.apimachinery.status import StatusError
from kapid.auth.authorizers import AlwaysAllow, AlwaysDeny, build_authorizer
from kapid.auth.interfaces import ALLOW, NO_OPINION, Attributes, Decision, IAuthorizer, UserInfo
from kapid.registry.builtin import authentication, authorization

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "protobuf", "1.33")

ALICE = UserInfo(name="alice", uid="u-1", groups=("devs", "system:authenticated"), extra={"scopes": ("a", "b")})


def _fixture(name: str) -> dict:
    with open(os.path.join(FIXTURES, name + ".bin"), "rb") as f:
        return decode(f.read())


@implementer(IAuthorizer)
class RecordingAuthorizer:
    """
    Allows reading pods only, and remembers what it was asked.
    """

    def __init__(self) -> None:
        self.asked: list[Attributes] = []

    def authorize(self, attributes: Attributes) -> Decision:
        """
        Allow C{get pods}, no opinion otherwise.
        """
        self.asked.append(attributes)
        if attributes.resource == "pods" and attributes.verb == "get":
            return Decision(ALLOW, "pods are public")
        return Decision(NO_OPINION)


class SelfSubjectAccessReviewTests(SynchronousTestCase):
    """
    C{kubectl auth can-i} reviews are answered by the configured authorizer.
    """

    def _review(self, authorizer: object, obj: dict, user: object = ALICE) -> dict:
        rest = authorization.self_subject_access_reviews(authorizer).strategy
        return self.successResultOf(rest.compute_create(obj, user))

    def test_description(self) -> None:
        """
        The resource is cluster-scoped, create-only, in authorization.k8s.io/v1.
        """
        res = authorization.self_subject_access_reviews(AlwaysAllow())
        self.assertEqual((res.group, res.plural, res.kind), ("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview"))
        self.assertEqual(res.verbs, ("create",))
        self.assertFalse(res.namespaced)
        self.assertEqual(res.storage_version.name, "v1")

    def test_resource_attributes(self) -> None:
        """
        The spec's resource attributes, with the caller as user, are what the authorizer decides on.
        """
        authorizer = RecordingAuthorizer()
        verifyObject(IAuthorizer, authorizer)
        out = self._review(authorizer, _fixture("can-i"))
        self.assertEqual(out["status"], {"allowed": True, "reason": "pods are public"})
        self.assertEqual(out["spec"], _fixture("can-i")["spec"])
        self.assertEqual(out["apiVersion"], "authorization.k8s.io/v1")
        self.assertEqual(
            authorizer.asked,
            [
                Attributes(
                    user=ALICE,
                    verb="get",
                    is_resource_request=True,
                    namespace="ns1",
                    api_version="*",
                    resource="pods",
                    subresource="log",
                )
            ],
        )

    def test_non_resource_attributes(self) -> None:
        """
        Non-resource reviews ask about the path; no opinion means not allowed, not denied.
        """
        authorizer = RecordingAuthorizer()
        out = self._review(authorizer, _fixture("can-i-nonresource"))
        self.assertEqual(out["status"], {"allowed": False})
        self.assertEqual(authorizer.asked[0].path, "/logs")
        self.assertFalse(authorizer.asked[0].is_resource_request)

    def test_deny(self) -> None:
        """
        A deny is C{allowed: false, denied: true} with the authorizer's reason.
        """
        out = self._review(AlwaysDeny(), _fixture("can-i"))
        self.assertEqual(out["status"], {"allowed": False, "denied": True, "reason": "Everything is forbidden."})

    def test_union_with_masters(self) -> None:
        """
        The server's union authorizer (asynchronous) lets system:masters do anything.
        """
        admin = UserInfo(name="admin", groups=("system:masters",))
        out = self._review(build_authorizer(["AlwaysDeny"]), _fixture("can-i"), admin)
        self.assertTrue(out["status"]["allowed"])

    def test_invalid_spec(self) -> None:
        """
        A review without attributes is kube's 422 naming spec.resourceAttributes.
        """
        rest = authorization.self_subject_access_reviews(AlwaysAllow()).strategy
        failure = self.failureResultOf(
            rest.compute_create({"kind": "SelfSubjectAccessReview", "spec": {}}, ALICE), StatusError
        )
        self.assertEqual(failure.value.code, 422)
        self.assertEqual(
            failure.value.message,
            'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
            'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
        )
        both = {"spec": {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/x", "verb": "get"}}}
        failure = self.failureResultOf(rest.compute_create(both, ALICE), StatusError)
        self.assertIn(
            'spec.nonResourceAttributes: Invalid value: authorization.NonResourceAttributes{Path:"/x", Verb:"get"}: '
            "cannot be specified in combination with resourceAttributes",
            failure.value.message,
        )

    def test_no_user(self) -> None:
        """
        A request without a user is a 400.
        """
        rest = authorization.self_subject_access_reviews(AlwaysAllow()).strategy
        failure = self.failureResultOf(rest.compute_create(_fixture("can-i"), None), StatusError)
        self.assertEqual(failure.value.code, 400)


class SelfSubjectReviewTests(SynchronousTestCase):
    """
    C{kubectl auth whoami} reviews answer with the caller.
    """

    def test_user_info(self) -> None:
        """
        C{status.userInfo} is the request's user, and the review is timestamped now.
        """
        res = authentication.self_subject_reviews(lambda: "2026-01-02T03:04:05Z")
        self.assertEqual((res.group, res.plural, res.verbs, res.namespaced), ("authentication.k8s.io", "selfsubjectreviews", ("create",), False))
        out = self.successResultOf(res.strategy.compute_create(_fixture("whoami"), ALICE))
        self.assertEqual(
            out,
            {
                "kind": "SelfSubjectReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": "2026-01-02T03:04:05Z"},
                "status": {
                    "userInfo": {
                        "username": "alice",
                        "uid": "u-1",
                        "groups": ["devs", "system:authenticated"],
                        "extra": {"scopes": ["a", "b"]},
                    }
                },
            },
        )

    def test_anonymous_minimal(self) -> None:
        """
        Empty user fields are left out, and a request without a user is a 400.
        """
        rest = authentication.self_subject_reviews(lambda: "2026-01-02T03:04:05Z").strategy
        out = self.successResultOf(rest.compute_create({}, UserInfo(name="system:anonymous")))
        self.assertEqual(out["status"], {"userInfo": {"username": "system:anonymous"}})
        failure = self.failureResultOf(rest.compute_create({}, None), StatusError)
        self.assertEqual(failure.value.code, 400)
