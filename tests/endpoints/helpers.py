"""
An in-memory API for endpoint tests: a L{ResourceLink} over the built-in registry on
C{Store(MemoryKV(clock))}, driven with L{StubTreq}.
"""

from __future__ import annotations

from typing import Any, Optional

import orjson
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.web.resource import Resource

from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.server.context import set_user
from kapid.server.link import NotFoundResource
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store


class AsUser(Resource):
    """
    A leaf wrapper that authenticates every request as C{user} (what the authentication filter does).
    """

    isLeaf = True

    def __init__(self, inner: Any, user: Any) -> None:
        super().__init__()
        self.inner, self.user = inner, user

    def render(self, request: Any) -> Any:
        set_user(request, self.user)
        return self.inner.render(request)


class API:
    """
    A link, its storage and clock, and a client.
    """

    def __init__(self, testcase: Any) -> None:
        self.testcase = testcase
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.kv = MemoryKV(self.clock)
        self.storage = Store(self.kv, self.clock)
        self.registry = builtin_registry()
        self.link = ResourceLink(NotFoundResource(), self.registry, self.storage, self.clock)
        self.treq = StubTreq(self.link.resource())
        self.run(self.link.ensure_system_namespaces())

    def as_user(self, user: Any) -> "API":
        """
        Send the next requests as C{user} (a L{kapid.auth.interfaces.UserInfo}); returns self.
        """
        self.treq = StubTreq(AsUser(self.link.resource(), user))
        return self

    def run(self, d: Any) -> Any:
        """
        The result of an already-fired (or flushable) Deferred.
        """
        self.treq.flush()
        return self.testcase.successResultOf(d)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: Optional[str] = "application/json",
        headers: Optional[dict] = None,
        raw: Optional[bytes] = None,
    ) -> tuple[int, Any, Any]:
        """
        C{(code, decoded JSON body or text, response headers)}.
        """
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = orjson.dumps(body)
        if data is not None and content_type:
            h.setdefault("Content-Type", content_type)
        d = self.treq.request(method, "http://kapid" + path, data=data, headers=h)
        self.treq.flush()
        resp = self.testcase.successResultOf(d)
        cd = resp.content()
        self.treq.flush()
        content = self.testcase.successResultOf(cd)
        try:
            decoded = orjson.loads(content)
        except orjson.JSONDecodeError:
            decoded = content.decode("utf-8", "replace")
        return resp.code, decoded, resp.headers

    def get(self, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, Any]:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, Any]:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, content_type: str, **kw: Any) -> tuple[int, Any, Any]:
        return self.request("PATCH", path, body, content_type=content_type, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any, Any]:
        return self.request("DELETE", path, body, **kw)


def cm(name: str, data: Optional[dict] = None, **meta: Any) -> dict:
    """
    A ConfigMap body.
    """
    m = {"name": name}
    m.update(meta)
    out: dict = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m}
    if data is not None:
        out["data"] = data
    return out


def deployment(name: str, replicas: int = 1, image: str = "nginx") -> dict:
    """
    A Deployment body.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }
