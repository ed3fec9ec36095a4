"""
Misc flags: event TTL, service IP and node-port ranges, profiling, privileged containers, the
aggregator's front-proxy client certificate and routing.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

SECTION = Section(
    "Misc flags",
    (
        Flag("event-ttl", "1h0m0s", "Amount of time to retain events."),
        Flag("service-cluster-ip-range", "10.0.0.0/24", "A CIDR notation IP range from which to "
             "assign service cluster IPs. Up to two comma-separated ranges (dual stack)."),
        Flag("service-node-port-range", "30000-32767", "A port range to reserve for services with "
             "NodePort visibility. Example: '30000-32767'. Inclusive at both ends of the range."),
        Flag("allow-privileged", "false", "If true, allow privileged containers."),
        Flag("profiling", "true", "Enable profiling via web interface host:port/debug/pprof/ "
             "(kapid: /debug/pprof/profile?seconds=N profiles the reactor thread for N seconds)."),
        Flag("kubernetes-service-node-port", "0", "If non-zero, the Kubernetes master service (which "
             "apiserver creates/maintains) will be of type NodePort, using this as the value of the "
             "port."),
        Flag("master-count", "1", "The number of apiservers running in the cluster, must be a "
             "positive number."),
        Flag("proxy-client-cert-file", "", "Client certificate used to prove the identity of the "
             "aggregator or kube-apiserver when it must call out during a request. This includes "
             "proxying requests to a user api-server and calling out to webhook admission plugins. "
             "It is expected that this cert includes a signature from the CA in the "
             "--requestheader-client-ca-file flag. Default: a certificate kapid issues from its own "
             "front-proxy CA in --cert-dir (front-proxy-ca.crt, front-proxy-client.crt)."),
        Flag("proxy-client-key-file", "", "Private key for the client certificate used to prove the "
             "identity of the aggregator or kube-apiserver when it must call out during a request."),
        Flag("enable-aggregator-routing", "true", "Turns on aggregator routing requests to endpoints "
             "IP rather than cluster IP (kapid runs no kube-proxy, so its default is true; kube's "
             "is false)."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class MiscConfig:
    """
    The completed, validated misc flags.
    """

    event_ttl: float
    service_cluster_ip_ranges: tuple[str, ...]
    service_node_port_range: tuple[int, int]
    allow_privileged: bool
    profiling: bool
    kubernetes_service_node_port: int
    master_count: int
    proxy_client_cert_file: Optional[str] = None
    proxy_client_key_file: Optional[str] = None
    enable_aggregator_routing: bool = True


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def validate(values: dict[str, Any]) -> tuple[MiscConfig, list[str]]:
    """
    Parse and check the misc flags; return the config and every problem found.
    """
    c = Checker(values)
    ranges = []
    for cidr in split_list(c.text("service-cluster-ip-range")):
        try:
            ranges.append(str(ipaddress.ip_network(cidr, strict=True)))
        except ValueError:
            c.error(f"--service-cluster-ip-range: {cidr!r} is not a valid CIDR")
    if len(ranges) > 2:
        c.error("--service-cluster-ip-range: at most two ranges (one per IP family) may be given")
    port_range = (30000, 32767)
    text = c.text("service-node-port-range")
    low, dash, high = text.partition("-")
    try:
        lo, hi = int(low), int(high) if dash else int(low)
        if not (0 < lo <= hi <= 65535):
            raise ValueError(text)
        port_range = (lo, hi)
    except ValueError:
        c.error(f"--service-node-port-range: invalid port range {text!r} (want e.g. 30000-32767)")
    config = MiscConfig(
        event_ttl=c.duration("event-ttl"),
        service_cluster_ip_ranges=tuple(ranges),
        service_node_port_range=port_range,
        allow_privileged=c.boolean("allow-privileged"),
        profiling=c.boolean("profiling"),
        kubernetes_service_node_port=c.port("kubernetes-service-node-port"),
        master_count=c.integer("master-count", 1),
        proxy_client_cert_file=c.readable_file("proxy-client-cert-file"),
        proxy_client_key_file=c.readable_file("proxy-client-key-file"),
        enable_aggregator_routing=c.boolean("enable-aggregator-routing"),
    )
    if bool(config.proxy_client_cert_file) != bool(config.proxy_client_key_file):
        c.error("--proxy-client-cert-file and --proxy-client-key-file must be given together")
    return config, c.errors
