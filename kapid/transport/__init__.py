"""
kapid's one way out to other servers (conversion webhooks, admission webhooks, the aggregator's
proxy): L{kapid.transport.resolver.ServiceResolver} turns a Service reference into an endpoint URL,
L{kapid.transport.client.ClientFactory} makes pooled, verified TLS clients for a webhook's
C{clientConfig}.
"""

from typing import Any, Callable, Optional

from kapid.transport.client import ClientConfig, ClientFactory, ServiceReference, WebhookClient, WebhookResponse
from kapid.transport.resolver import ServiceResolver


def transport_for(
    store_for: Callable[[str, str], Any], reactor: Any, client_cert: Optional[tuple[bytes, bytes]] = None
) -> tuple[ServiceResolver, ClientFactory]:
    """
    A resolver over C{store_for(group, plural) -> RegistryStore or None} (e.g.
    L{kapid.controllers.kubernetes_service.link_store_for} of a resource link) and a client
    factory using it, presenting C{client_cert} when given.
    """
    resolver = ServiceResolver.over(store_for)
    return resolver, ClientFactory(reactor, resolver, client_cert)

__all__ = [
    "ClientConfig",
    "ClientFactory",
    "ServiceReference",
    "ServiceResolver",
    "WebhookClient",
    "WebhookResponse",
    "transport_for",
]
