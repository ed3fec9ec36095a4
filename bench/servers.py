"""
The ceiling servers, each run as its own process on 127.0.0.1:

* C{python -m bench.servers web PORT}: a bare C{twisted.web} resource that answers every GET with
  the same 2 KB JSON body (the web ceiling).
* C{python -m bench.servers klein PORT}: a Klein route that decodes a 2 KB Pod from the POST body and
  encodes it back with orjson (kapid's JSON library) — the framework ceiling. A GET decodes a stored
  copy of the Pod and encodes it back.
"""

from __future__ import annotations

import sys

import orjson
from twisted.web import resource, server

from bench.common import pod_bytes


class JSONBody(resource.Resource):
    """
    A leaf resource answering every GET with one constant JSON body.
    """

    isLeaf = True

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def render_GET(self, request: server.Request) -> bytes:
        """
        The constant body as application/json.
        """
        request.setHeader(b"content-type", b"application/json")
        return self.body


def klein_resource() -> resource.IResource:
    """
    The Klein app of the framework ceiling, as a resource.
    """
    from klein import Klein

    app = Klein()
    stored = pod_bytes()

    @app.route("/pod", methods=["POST"])
    def echo(request: server.Request) -> bytes:
        obj = orjson.loads(request.content.read())
        request.setHeader(b"content-type", b"application/json")
        return orjson.dumps(obj)

    @app.route("/pod", methods=["GET"])
    def get(request: server.Request) -> bytes:
        obj = orjson.loads(stored)
        request.setHeader(b"content-type", b"application/json")
        return orjson.dumps(obj)

    return app.resource()


def main(argv: list[str]) -> None:
    """
    Serve the ceiling named by C{argv[0]} on port C{argv[1]} until killed.
    """
    from twisted.internet import reactor

    kind, port = argv[0], int(argv[1])
    if kind == "web":
        root: resource.IResource = JSONBody(pod_bytes())
    elif kind == "klein":
        root = klein_resource()
    else:
        raise SystemExit(f"unknown server {kind!r}")
    site = server.Site(root)
    site.displayTracebacks = False
    site.noisy = False
    reactor.listenTCP(port, site, interface="127.0.0.1", backlog=1024)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1:])
