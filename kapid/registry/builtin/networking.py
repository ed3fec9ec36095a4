"""
networking.k8s.io/v1 resources: ingresses (+status; stored under C{/registry/ingress} as kube does),
ingressclasses, networkpolicies, and the 1.33 GA ipaddresses and servicecidrs (+status), cluster-scoped
and plainly stored: kapid's Service allocator (L{kapid.registry.allocator}) keeps its own bitmaps and
neither reads nor writes them.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, status, v1

INGRESSES = resource(
    "networking.k8s.io", "Ingress", "ingresses", v1("io.k8s.api.networking.v1.Ingress"),
    short_names=("ing",),
    subresources=(status("Ingress", "networking.k8s.io"),),
    storage_path="ingress",
    tracks_generation=True,
    reset_status={"loadBalancer": {}},
)

INGRESS_CLASSES = resource(
    "networking.k8s.io", "IngressClass", "ingressclasses",
    v1("io.k8s.api.networking.v1.IngressClass"),
    namespaced=False,
    tracks_generation=True,
)

NETWORK_POLICIES = resource(
    "networking.k8s.io", "NetworkPolicy", "networkpolicies",
    v1("io.k8s.api.networking.v1.NetworkPolicy"),
    short_names=("netpol",),
    singular="networkpolicy",
    tracks_generation=True,
)

IP_ADDRESSES = resource(
    "networking.k8s.io", "IPAddress", "ipaddresses", v1("io.k8s.api.networking.v1.IPAddress"),
    namespaced=False,
    singular="ipaddress",
)

SERVICE_CIDRS = resource(
    "networking.k8s.io", "ServiceCIDR", "servicecidrs", v1("io.k8s.api.networking.v1.ServiceCIDR"),
    namespaced=False,
    subresources=(status("ServiceCIDR", "networking.k8s.io"),),
    reset_status={},
)

RESOURCES = [INGRESSES, INGRESS_CLASSES, NETWORK_POLICIES, IP_ADDRESSES, SERVICE_CIDRS]
