"""
Prometheus metrics of one server (its own registry, so several servers can live in one process),
served at C{/metrics} in the Prometheus text format.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kapid.server import context


class ServerMetrics:
    """
    kube-apiserver's request metrics: C{apiserver_request_total},
    C{apiserver_request_duration_seconds}, C{apiserver_current_inflight_requests}.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, resource, "
            "subresource, scope, component, and HTTP response code.",
            ["verb", "group", "version", "resource", "subresource", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource and "
            "subresource.",
            ["verb", "group", "version", "resource", "subresource"],
            buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60),
            registry=self.registry,
        )
        self.inflight = Gauge(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per request "
            "kind in last second.",
            ["request_kind"],
            registry=self.registry,
        )
        self.inflight.labels("readOnly").set(0)
        self.inflight.labels("mutating").set(0)

    def observe(self, request: Any, latency: float) -> None:
        """
        Count one finished request.
        """
        info = context.request_info(request)
        verb = (info.verb if info else request.method.decode("ascii", "replace")).upper()
        labels = (
            verb,
            info.api_group if info else "",
            info.api_version if info else "",
            info.resource if info else "",
            info.subresource if info else "",
        )
        self.requests.labels(*labels, str(request.code)).inc()
        self.duration.labels(*labels).observe(latency)

    def set_inflight(self, kind: str, value: int) -> None:
        """
        Update the in-flight gauge of C{kind}.
        """
        self.inflight.labels(kind).set(value)

    def render(self) -> bytes:
        """
        The metrics in the Prometheus text format.
        """
        return generate_latest(self.registry)
