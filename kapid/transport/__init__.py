"""
kapid's one way out to other servers (conversion webhooks, admission webhooks, the aggregator's
proxy): L{kapid.transport.resolver.ServiceResolver} turns a Service reference into an endpoint URL,
L{kapid.transport.client.ClientFactory} makes pooled, verified TLS clients for a webhook's
C{clientConfig}.
"""

from kapid.transport.client import ClientConfig, ClientFactory, ServiceReference, WebhookClient, WebhookResponse
from kapid.transport.resolver import ServiceResolver

__all__ = [
    "ClientConfig",
    "ClientFactory",
    "ServiceReference",
    "ServiceResolver",
    "WebhookClient",
    "WebhookResponse",
]
