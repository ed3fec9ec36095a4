"""
A tiny admission webhook server for the admission benchmark rows (issue 12), run as its own
process: C{python -m bench.webhook_server PORT CERT KEY}. C{/mutate} adds one label with a JSON
patch, C{/validate} allows; both answer kube's AdmissionReview v1 at once.
"""

from __future__ import annotations

import base64
import json
import sys

from twisted.internet import reactor, ssl
from twisted.web.resource import Resource
from twisted.web.server import Site

_PATCH = base64.b64encode(json.dumps([{"op": "add", "path": "/metadata/labels/webhooked", "value": "yes"}]).encode()).decode()


class Hook(Resource):
    """
    Both endpoints.
    """

    isLeaf = True

    def render_POST(self, request: object) -> bytes:
        review = json.loads(request.content.read())  # type: ignore[attr-defined]
        out = {"uid": review["request"]["uid"], "allowed": True}
        if request.path == b"/mutate":  # type: ignore[attr-defined]
            out["patchType"] = "JSONPatch"
            out["patch"] = _PATCH
        request.setHeader(b"Content-Type", b"application/json")  # type: ignore[attr-defined]
        return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": out}).encode()


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    options = ssl.DefaultOpenSSLContextFactory(key, cert)
    reactor.listenSSL(port, Site(Hook()), options, interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
