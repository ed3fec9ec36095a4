"""
discovery.k8s.io/v1 resources: endpointslices.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, v1

ENDPOINT_SLICES = resource(
    "discovery.k8s.io", "EndpointSlice", "endpointslices",
    v1("io.k8s.api.discovery.v1.EndpointSlice"),
    tracks_generation=True,
)

RESOURCES = [ENDPOINT_SLICES]
