"""
The aggregator link, first in the chain: will serve C{apiregistration.k8s.io}, merge C{/apis}
discovery and proxy to APIService backends. For now it serves nothing and hands every request to
its delegate.
"""

from __future__ import annotations


from klein import Klein

from kapid.server.link import Link


class AggregatorLink(Link):
    """
    The aggregator's place in the chain (no routes yet).
    """

    app = Klein()

    def listed_paths(self) -> list[str]:
        """
        Nothing yet.
        """
        return []
