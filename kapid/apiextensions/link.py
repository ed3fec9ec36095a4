"""
The apiextensions link, last before not-found: will serve C{apiextensions.k8s.io} (CRDs) and the
custom resources they define. For now it serves nothing and hands every request to its delegate.
"""

from __future__ import annotations

from klein import Klein

from kapid.server.link import Link


class APIExtensionsLink(Link):
    """
    The apiextensions server's place in the chain (no routes yet).
    """

    app = Klein()
