"""
Tests of L{kapid.auth.webhook}: the webhook authorizer against a real webhook on loopback HTTPS
(client certificate and CA from a kubeconfig file), its cache, its failures, and the union's 500.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from kapid.auth.authorizers import build_authorizer
from kapid.auth.interfaces import ALLOW, DENY, NO_OPINION, Attributes, UserInfo
from kapid.auth.interfaces import AuthenticationError
from kapid.auth.webhook import (
    WebhookAuthorizer,
    WebhookTokenAuthenticator,
    client_for,
    load_kubeconfig,
    review_spec,
)
from kapid.testing.tls import issue, make_ca, server_options


class Webhook(Resource):
    """
    Allows alice, denies mallory, no opinion otherwise; records reviews; can fail or hang.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.reviews: list[dict] = []
        self.fail = 0
        self.hang = False
        self.pending: list[Any] = []

    def render_POST(self, request: Any) -> Any:
        review = json.loads(request.content.read())
        self.reviews.append(review)
        if self.fail:
            self.fail -= 1
            request.setResponseCode(500)
            return b"oops"
        if self.hang:
            self.pending.append(request)
            return NOT_DONE_YET
        if review["kind"] == "TokenReview":
            good = review["spec"]["token"] == "good"
            status = ({"authenticated": True, "user": {"username": "tina", "uid": "7", "groups": ["devs"]}}
                      if good else {"authenticated": False, "error": "bad token"})
            return json.dumps({"apiVersion": review["apiVersion"], "kind": "TokenReview", "status": status}).encode()
        user = review["spec"].get("user")
        status = {"allowed": user == "alice"}
        if user == "mallory":
            status.update(denied=True, reason="no mallory")
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"apiVersion": review["apiVersion"], "kind": "SubjectAccessReview", "status": status}).encode()


def attrs(user: str, verb: str = "get") -> Attributes:
    return Attributes(user=UserInfo(user, groups=("g",)), verb=verb, is_resource_request=True,
                      namespace="ns", api_group="apps", api_version="v1", resource="deployments", name="d")


class KubeconfigTests(SynchronousTestCase):
    """
    The webhook kubeconfig file.
    """

    def test_load(self) -> None:
        """
        Inline data and files, the current context's cluster and user.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            yaml.safe_dump({
                "clusters": [{"name": "other", "cluster": {"server": "https://wrong"}},
                             {"name": "w", "cluster": {"server": "https://127.0.0.1:1/authz",
                                                       "certificate-authority-data": base64.b64encode(b"CA").decode()}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "w", "user": "u"}}],
                "current-context": "c",
            }, f)
        target = load_kubeconfig(path)
        self.assertEqual((target.server, target.ca, target.token, target.client_cert),
                         ("https://127.0.0.1:1/authz", b"CA", "t", None))

    def test_review_spec(self) -> None:
        """
        The spec kube sends: resource attributes without empty fields, the user's groups.
        """
        self.assertEqual(review_spec(attrs("alice")), {
            "resourceAttributes": {"namespace": "ns", "verb": "get", "group": "apps", "version": "v1",
                                   "resource": "deployments", "name": "d"},
            "user": "alice", "groups": ["g"],
        })


class WebhookAuthorizerTests(TestCase):
    """
    Decisions from a real HTTPS webhook.
    """

    def setUp(self) -> None:
        ca = make_ca()
        serving = issue(ca, "webhook", ips=["127.0.0.1"])
        client = issue(ca, "kapid", server=False)
        self.webhook = Webhook()
        port = reactor.listenSSL(0, Site(self.webhook), server_options(serving, client_ca=ca), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        path = self.mktemp()
        with open(path, "w") as f:
            yaml.safe_dump({
                "clusters": [{"name": "w", "cluster": {
                    "server": f"https://127.0.0.1:{port.getHost().port}/authorize",
                    "certificate-authority-data": base64.b64encode(ca.cert_pem()).decode()}}],
                "users": [{"name": "kapid", "user": {
                    "client-certificate-data": base64.b64encode(client.cert_pem()).decode(),
                    "client-key-data": base64.b64encode(client.key_pem()).decode()}}],
            }, f)
        self.client = client_for(load_kubeconfig(path), reactor)
        self.addCleanup(self.client.close)
        self.clock = Clock()

    def authorizer(self, **kw: Any) -> WebhookAuthorizer:
        return WebhookAuthorizer(self.client, self.clock, **kw)

    async def test_decisions_and_cache(self) -> None:
        """
        Allowed, denied, no opinion; answers are cached for their TTL.
        """
        authz = self.authorizer(version="v1", authorized_ttl=60, unauthorized_ttl=10)
        self.assertEqual((await authz.authorize(attrs("alice"))).decision, ALLOW)
        denied = await authz.authorize(attrs("mallory"))
        self.assertEqual((denied.decision, denied.reason), (DENY, "no mallory"))
        self.assertEqual((await authz.authorize(attrs("bob"))).decision, NO_OPINION)
        self.assertEqual(self.webhook.reviews[0]["apiVersion"], "authorization.k8s.io/v1")
        self.assertEqual(self.webhook.reviews[0]["spec"]["user"], "alice")
        self.assertEqual(authz.authorize(attrs("alice")).decision, ALLOW)  # cached: no Deferred
        self.assertEqual(len(self.webhook.reviews), 3)
        self.clock.advance(11)
        await authz.authorize(attrs("bob"))
        self.assertEqual(authz.authorize(attrs("alice")).decision, ALLOW)
        self.assertEqual(len(self.webhook.reviews), 4)

    async def test_failures(self) -> None:
        """
        A 500 is retried; a webhook that keeps failing or hangs past the timeout gives no opinion
        with the error, and the union answers with that error (a 500) unless another authorizer
        allows.
        """
        authz = self.authorizer(retry_steps=2)
        self.webhook.fail = 1
        d = Deferred.fromCoroutine(_settle(authz.authorize(attrs("alice")), self.clock))
        self.assertEqual((await d).decision, ALLOW)
        self.webhook.fail = 5
        d = Deferred.fromCoroutine(_settle(authz.authorize(attrs("carol")), self.clock))
        decision = await d
        self.assertEqual(decision.decision, NO_OPINION)
        self.assertIn("status code 500", decision.error)
        union = build_authorizer(["Webhook"], webhook=authz)
        self.webhook.fail = 5
        decision = await Deferred.fromCoroutine(_settle(union.authorize(attrs("dave")), self.clock))
        self.assertEqual((decision.decision, decision.error != ""), (NO_OPINION, True))

        hanging = WebhookAuthorizer(self.client, reactor, timeout=0.2, retry_steps=1)
        self.webhook.fail = 0
        self.webhook.hang = True
        decision = await hanging.authorize(attrs("erin"))
        self.assertEqual(decision.decision, NO_OPINION)
        self.assertIn("context deadline exceeded", decision.error)
        for request in self.webhook.pending:
            request.finish() if not request.finished and not request._disconnected else None

    async def test_token_webhook(self) -> None:
        """
        A token the webhook accepts is its user; one it refuses (or a failing webhook) is an
        authentication error; answers are cached for the TTL.
        """
        authn = WebhookTokenAuthenticator(self.client, self.clock, cache_ttl=120, retry_steps=1)
        user = await authn.authenticate_token("good")
        self.assertEqual((user.name, user.uid, user.groups), ("tina", "7", ("devs",)))
        self.assertEqual(self.webhook.reviews[0]["apiVersion"], "authentication.k8s.io/v1beta1")
        self.assertEqual(self.webhook.reviews[0]["spec"], {"token": "good"})
        with self.assertRaises(AuthenticationError) as raised:
            await authn.authenticate_token("bad")
        self.assertEqual(str(raised.exception), "bad token")
        self.assertEqual(authn.authenticate_token("good").name, "tina")  # cached
        self.assertRaises(AuthenticationError, authn.authenticate_token, "bad")  # cached too
        self.assertEqual(len(self.webhook.reviews), 2)
        self.webhook.fail = 1
        with self.assertRaises(AuthenticationError):
            await authn.authenticate_token("other")

    def test_rules_unsupported(self) -> None:
        """
        kube's webhook cannot list rules: incomplete, with the reason.
        """
        self.assertEqual(self.authorizer().rules_for(UserInfo("a"), "ns"),
                         ([], [], True, "webhook authorizer does not support user rule resolution"))


async def _settle(d: Any, clock: Clock) -> Any:
    """
    Wait for C{d}, advancing the fake retry clock while it waits.
    """
    from twisted.internet.task import deferLater

    if not isinstance(d, Deferred):
        return d
    while not d.called:
        await deferLater(reactor, 0.01, lambda: None)
        clock.advance(1)
    return await d


class FilterTests(SynchronousTestCase):
    """
    The authorization filter with an authorizer that met an error.
    """

    def test_error_is_500(self) -> None:
        """
        Not allowed with an error: kube's 500 with the error; allowed despite one: served.
        """
        from treq.testing import StubTreq
        from twisted.web.static import Data

        from kapid.auth.interfaces import Decision
        from kapid.server.filters.authz import AuthorizationFilter

        class Failing:
            def __init__(self, decision: Decision) -> None:
                self.decision = decision

            def authorize(self, attributes: Attributes) -> Decision:
                return self.decision

        for decision, code in ((Decision(NO_OPINION, "", "webhook down"), 500), (Decision(ALLOW, "", "x"), 200),
                               (Decision(NO_OPINION), 403)):
            stub = StubTreq(AuthorizationFilter(Data(b"ok", "text/plain"), Failing(decision)))
            out: list[Any] = []
            stub.get("https://kapid.example/version").addCallback(
                lambda r: r.json().addCallback(lambda body: (r.code, body)) if r.code != 200 else (r.code, None)
            ).addBoth(out.append)
            stub.flush()
            self.assertEqual(out[0][0], code, out)
            if code == 500:
                self.assertEqual(out[0][1]["message"], "Internal error occurred: webhook down")
