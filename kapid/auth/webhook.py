"""
Webhook authorization (C{--authorization-mode=Webhook}, kube's
C{plugin/pkg/authorizer/webhook}): each decision is a C{SubjectAccessReview} POSTed to the service
the kubeconfig file of C{--authorization-webhook-config-file} names (its first cluster and user:
server URL, CA, client certificate or bearer token), in C{authorization.k8s.io/<version>}
(C{--authorization-webhook-version}, v1beta1 by default as in kube).

The answer's C{status.allowed} allows, C{status.denied} denies, anything else is no opinion (with
C{status.reason}). Answers are cached by request for C{--authorization-webhook-cache-authorized-ttl}
(allowed) or C{--authorization-webhook-cache-unauthorized-ttl} (not allowed). A webhook that fails,
answers an error status or hangs past the timeout is retried (kube's backoff: 0.5 s, ×1.5, 5 tries)
and then gives no opinion with the error, which the authorization filter answers with a 500 unless
another authorizer allows; the reactor never waits on it.
"""

from __future__ import annotations

import base64
import json
from io import BytesIO
from typing import Any, Optional

import attr
import yaml
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.client import FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from zope.interface import implementer

from kapid.auth.interfaces import ALLOW, DENY, NO_OPINION, Attributes, Decision, IAuthorizer

log = Logger()

#: kube's defaults.
DEFAULT_VERSION = "v1beta1"
AUTHORIZED_TTL = 300.0
UNAUTHORIZED_TTL = 30.0
TIMEOUT = 30.0
RETRY_STEPS = 5
RETRY_INITIAL = 0.5
RETRY_FACTOR = 1.5


@attr.s(frozen=True, auto_attribs=True)
class KubeconfigTarget:
    """
    What a webhook kubeconfig file says: where to connect and how to authenticate.
    """

    server: str
    ca: bytes = b""
    insecure: bool = False
    client_cert: Optional[tuple[bytes, bytes]] = None
    token: str = ""


def _data(entry: dict, key: str, base: str) -> bytes:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    path = entry.get(key)
    if path:
        import os

        if not os.path.isabs(path):
            path = os.path.join(base, path)
        with open(path, "rb") as f:
            return f.read()
    return b""


def load_kubeconfig(path: str) -> KubeconfigTarget:
    """
    The webhook target of a kubeconfig file (its current context's cluster and user, else the
    first of each); raises L{ValueError} for a file without a cluster server.
    """
    import os

    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    base = os.path.dirname(os.path.abspath(path))
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
    users = {u.get("name"): u.get("user") or {} for u in doc.get("users") or []}
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    context = contexts.get(doc.get("current-context")) or {}
    cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), {})
    user = users.get(context.get("user")) or next(iter(users.values()), {})
    if not cluster.get("server"):
        raise ValueError(f"{path}: no cluster server in the webhook kubeconfig")
    cert = _data(user, "client-certificate", base)
    key = _data(user, "client-key", base)
    token = user.get("token") or ""
    if not token and user.get("tokenFile"):
        with open(user["tokenFile"]) as f:
            token = f.read().strip()
    return KubeconfigTarget(
        server=cluster["server"], ca=_data(cluster, "certificate-authority", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        client_cert=(cert, key) if cert and key else None, token=token,
    )


def client_for(target: KubeconfigTarget, reactor: Any) -> Any:
    """
    A L{kapid.transport.client.WebhookClient} for C{target}.
    """
    from kapid.transport.client import ClientConfig, WebhookClient

    config = ClientConfig(url=target.server, ca_bundle=target.ca, client_cert=target.client_cert,
                          insecure_skip_verify=target.insecure)
    return WebhookClient(reactor, config, None, None, 10)


def review_spec(attributes: Attributes) -> dict[str, Any]:
    """
    The C{spec} of the SubjectAccessReview kube sends for C{attributes} (empty fields left out).
    """
    spec: dict[str, Any] = {}
    if attributes.is_resource_request:
        resource = {
            "namespace": attributes.namespace, "verb": attributes.verb, "group": attributes.api_group,
            "version": attributes.api_version, "resource": attributes.resource,
            "subresource": attributes.subresource, "name": attributes.name,
        }
        spec["resourceAttributes"] = {k: v for k, v in resource.items() if v}
    else:
        spec["nonResourceAttributes"] = {k: v for k, v in (("path", attributes.path), ("verb", attributes.verb)) if v}
    user = attributes.user
    if user.name:
        spec["user"] = user.name
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    if user.uid:
        spec["uid"] = user.uid
    return spec


class WebhookError(Exception):
    """
    The webhook gave no usable answer.
    """


class RetryableWebhookError(WebhookError):
    """
    The webhook failed in a way worth trying again (5xx, 429).
    """


async def post_review(client: Any, clock: Any, token: str, data: bytes, timeout: float, retry_steps: int) -> dict:
    """
    POST a review to a webhook and fire with the C{status} of its answer, retrying with kube's
    backoff when it gives no answer, a 5xx or a 429; raises the last error.
    """
    delay = RETRY_INITIAL
    last: Exception = WebhookError("no attempt")
    for attempt in range(retry_steps):
        if attempt:
            await deferLater(clock, delay, lambda: None)
            delay *= RETRY_FACTOR
        try:
            return await _post(client, token, data, timeout)
        except RetryableWebhookError as e:
            last = e
        except WebhookError:
            raise
        except Exception as e:  # no answer: connection refused, TLS, timeout
            last = e
    raise last


async def _post(client: Any, token: str, data: bytes, timeout: float) -> dict:
    headers = Headers({b"Content-Type": [b"application/json"], b"Accept": [b"application/json, */*"]})
    if token:
        headers.setRawHeaders(b"Authorization", [f"Bearer {token}".encode()])
    response = await client.request("POST", "", headers, FileBodyProducer(BytesIO(data)), timeout=timeout)
    payload = await readBody(response)
    if response.code >= 500 or response.code == 429:
        raise RetryableWebhookError(f"the server responded with the status code {response.code} but did not "
                                    "return more information")
    if response.code >= 300:
        raise WebhookError(f"the server responded with the status code {response.code}")
    try:
        out = json.loads(payload)
    except ValueError as e:
        raise WebhookError(f"the webhook's answer is not JSON: {e}")
    status = out.get("status") if isinstance(out, dict) else None
    return status if isinstance(status, dict) else {}


@implementer(IAuthorizer)
class WebhookAuthorizer:
    """
    Asks a remote service (see the module docstring).

    @ivar client: has C{request(method, path, headers, body)} firing with an C{IResponse} (a
        L{kapid.transport.client.WebhookClient}).
    """

    def __init__(
        self,
        client: Any,
        clock: Any,
        token: str = "",
        version: str = DEFAULT_VERSION,
        authorized_ttl: float = AUTHORIZED_TTL,
        unauthorized_ttl: float = UNAUTHORIZED_TTL,
        timeout: float = TIMEOUT,
        retry_steps: int = RETRY_STEPS,
    ) -> None:
        self.client = client
        self.clock = clock
        self.token = token
        self.version = version
        self.authorized_ttl = authorized_ttl
        self.unauthorized_ttl = unauthorized_ttl
        self.timeout = timeout
        self.retry_steps = retry_steps
        self._cache: dict[str, tuple[float, Decision]] = {}

    def authorize(self, attributes: Attributes) -> Any:
        """
        The webhook's decision (a Deferred unless cached).
        """
        spec = review_spec(attributes)
        key = json.dumps(spec, sort_keys=True)
        cached = self._cache.get(key)
        now = self.clock.seconds()
        if cached is not None and cached[0] > now:
            return cached[1]
        from twisted.internet.defer import Deferred

        return Deferred.fromCoroutine(self._ask(key, spec))

    async def _ask(self, key: str, spec: dict) -> Decision:
        body = {
            "apiVersion": f"authorization.k8s.io/{self.version}", "kind": "SubjectAccessReview",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"allowed": False},
        }
        try:
            status = await self._post_with_retries(json.dumps(body).encode())
        except Exception as e:
            log.warn("Webhook authorization failed: {error}", error=str(e))
            return Decision(NO_OPINION, "", str(e))
        if status.get("allowed"):
            decision = Decision(ALLOW, status.get("reason") or "")
        elif status.get("denied"):
            decision = Decision(DENY, status.get("reason") or "")
        else:
            decision = Decision(NO_OPINION, status.get("reason") or "")
        ttl = self.authorized_ttl if decision.decision == ALLOW else self.unauthorized_ttl
        if ttl > 0:
            self._cache[key] = (self.clock.seconds() + ttl, decision)
            if len(self._cache) > 10000:
                self._expire()
        return decision

    def _expire(self) -> None:
        now = self.clock.seconds()
        for k in [k for k, (until, _) in self._cache.items() if until <= now]:
            del self._cache[k]

    async def _post_with_retries(self, data: bytes) -> dict:
        return await post_review(self.client, self.clock, self.token, data, self.timeout, self.retry_steps)

    def rules_for(self, user: Any, namespace: str) -> tuple[list[dict], list[dict], bool, str]:
        """
        kube's answer: no rules, incomplete, and why.
        """
        return [], [], True, "webhook authorizer does not support user rule resolution"


def webhook_for_service(service: Any) -> WebhookAuthorizer:
    """
    The server's one webhook authorizer, from its flags (kept as C{service.webhook_authorizer}, so
    the handler chain and the reviews share its cache).
    """
    existing = getattr(service, "webhook_authorizer", None)
    if existing is not None:
        return existing
    a = service.config.authorization
    target = load_kubeconfig(a.webhook_config_file)
    service.webhook_authorizer = WebhookAuthorizer(
        client_for(target, service.reactor), service.reactor, target.token,
        getattr(a, "webhook_version", DEFAULT_VERSION) or DEFAULT_VERSION,
        getattr(a, "webhook_cache_authorized_ttl", AUTHORIZED_TTL),
        getattr(a, "webhook_cache_unauthorized_ttl", UNAUTHORIZED_TTL),
    )
    return service.webhook_authorizer


class WebhookTokenAuthenticator:
    """
    Webhook token authentication (C{--authentication-token-webhook-config-file}, kube's
    C{plugin/pkg/authenticator/token/webhook}): a bearer token is POSTed in a C{TokenReview}
    (C{--authentication-token-webhook-version}, v1beta1 by default); C{status.authenticated} gives
    the user (C{status.user}), anything else refuses the token (C{status.error} as the reason).
    Answers, both ways, are cached by token for C{--authentication-token-webhook-cache-ttl}; a
    webhook that fails refuses the token (a 401), bounded by the timeout and retries.
    """

    def __init__(self, client: Any, clock: Any, token: str = "", version: str = DEFAULT_VERSION,
                 cache_ttl: float = 120.0, timeout: float = TIMEOUT, retry_steps: int = RETRY_STEPS) -> None:
        self.client = client
        self.clock = clock
        self.token = token
        self.version = version
        self.cache_ttl = cache_ttl
        self.timeout = timeout
        self.retry_steps = retry_steps
        self._cache: dict[str, tuple[float, Any]] = {}

    def authenticate_token(self, token: str) -> Any:
        """
        The user of C{token} (a Deferred unless cached); raises (errbacks with)
        L{kapid.auth.interfaces.AuthenticationError} when the webhook refuses it or fails.
        """
        from twisted.internet.defer import Deferred

        from kapid.auth.interfaces import AuthenticationError

        cached = self._cache.get(token)
        if cached is not None and cached[0] > self.clock.seconds():
            if isinstance(cached[1], str):
                raise AuthenticationError(cached[1])
            return cached[1]
        return Deferred.fromCoroutine(self._review(token))

    async def _review(self, token: str) -> Any:
        from kapid.auth.interfaces import AuthenticationError, UserInfo

        body = {
            "apiVersion": f"authentication.k8s.io/{self.version}", "kind": "TokenReview",
            "metadata": {"creationTimestamp": None}, "spec": {"token": token}, "status": {"user": {}},
        }
        try:
            status = await post_review(self.client, self.clock, self.token, json.dumps(body).encode(),
                                       self.timeout, self.retry_steps)
        except Exception as e:
            log.warn("Webhook token authentication failed: {error}", error=str(e))
            raise AuthenticationError(str(e))
        if not status.get("authenticated"):
            error = status.get("error") or "invalid bearer token"
            self._remember(token, error)
            raise AuthenticationError(error)
        user = status.get("user") or {}
        info = UserInfo(
            name=user.get("username") or "", uid=user.get("uid") or "", groups=tuple(user.get("groups") or ()),
            extra={k: tuple(v or ()) for k, v in (user.get("extra") or {}).items()},
        )
        self._remember(token, info)
        return info

    def _remember(self, token: str, answer: Any) -> None:
        if self.cache_ttl <= 0:
            return
        now = self.clock.seconds()
        self._cache[token] = (now + self.cache_ttl, answer)
        if len(self._cache) > 10000:
            for k in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[k]


def token_webhook_for_service(service: Any) -> WebhookTokenAuthenticator:
    """
    The webhook token authenticator of C{service}'s flags.
    """
    a = service.config.authentication
    target = load_kubeconfig(a.token_webhook_config_file)
    return WebhookTokenAuthenticator(
        client_for(target, service.reactor), service.reactor, target.token,
        a.token_webhook_version or DEFAULT_VERSION, a.token_webhook_cache_ttl,
    )
