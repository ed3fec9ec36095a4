"""
Tests for L{kapid.transport.resolver.ServiceResolver} over the memory store, with Services,
EndpointSlices and Endpoints written through their registry stores.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.status import StatusError
from kapid.registry.builtin.core_cluster import ENDPOINTS, SERVICES
from kapid.registry.builtin.discovery import ENDPOINT_SLICES
from kapid.registry.store import RegistryStore
from kapid.storage.memory import MemoryKV
from kapid.storage.store import Store
from kapid.transport.resolver import ServiceResolver


def service(name: str, ports: list[dict], **spec: Any) -> dict:
    """
    A v1 Service in C{ns}.
    """
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"},
            "spec": dict({"ports": ports, "clusterIP": "10.0.0.10"}, **spec)}


def endpoint_slice(name: str, svc: str, ports: list[dict], endpoints: list[dict], family: str = "IPv4") -> dict:
    """
    A discovery.k8s.io/v1 EndpointSlice of Service C{svc}.
    """
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "ns", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": family, "ports": ports, "endpoints": endpoints,
    }


class ResolverTests(SynchronousTestCase):
    """
    Resolution of Service references to ready endpoints, with kube's errors.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.storage = Store(MemoryKV(self.clock), self.clock)
        self.services = RegistryStore(SERVICES, self.storage, self.clock)
        self.slices = RegistryStore(ENDPOINT_SLICES, self.storage, self.clock)
        self.endpoints = RegistryStore(ENDPOINTS, self.storage, self.clock)
        self.resolver = ServiceResolver(self.services, self.slices, self.endpoints, random.Random(3))

    def wait(self, coro: Any) -> Any:
        return self.successResultOf(Deferred.fromCoroutine(coro))

    def fail_with(self, coro: Any) -> StatusError:
        f = self.failureResultOf(Deferred.fromCoroutine(coro), StatusError)
        return f.value  # type: ignore[no-any-return]

    def create(self, store: RegistryStore, obj: dict) -> None:
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default("v1", obj)
        self.wait(store.create("ns", obj, "v1"))

    def test_missing_service(self) -> None:
        """
        A Service that does not exist: 404 C{service "x" not found}.
        """
        e = self.fail_with(self.resolver.resolve("ns", "x", 443))
        self.assertEqual((e.code, e.reason, e.message), (404, "NotFound", 'service "x" not found'))
        self.assertEqual(e.details, {"name": "x", "kind": "service"})

    def test_unknown_port(self) -> None:
        """
        A port the Service does not have: 503 naming the port.
        """
        self.create(self.services, service("web", [{"port": 80, "targetPort": 8080}]))
        e = self.fail_with(self.resolver.resolve("ns", "web", 443))
        self.assertEqual((e.code, e.reason, e.message),
                         (503, "ServiceUnavailable", 'no service port 443 found for service "web"'))

    def test_no_endpoints(self) -> None:
        """
        A Service without slices or Endpoints: 503 C{no endpoints available}.
        """
        self.create(self.services, service("web", [{"port": 443, "targetPort": 8443}]))
        e = self.fail_with(self.resolver.resolve("ns", "web", 443))
        self.assertEqual((e.code, e.reason, e.message),
                         (503, "ServiceUnavailable", 'no endpoints available for service "web"'))

    def test_external_name(self) -> None:
        """
        ExternalName Services cannot be resolved to endpoints.
        """
        self.create(self.services, {"metadata": {"name": "ext"},
                                    "spec": {"type": "ExternalName", "externalName": "example.com"}})
        e = self.fail_with(self.resolver.resolve("ns", "ext", 443))
        self.assertEqual((e.code, e.message), (500, 'unsupported service type "ExternalName"'))
        url = self.wait(self.resolver.resolve_cluster("ns", "ext", 8443))
        self.assertEqual((url.host, url.port), ("example.com", 8443))

    def test_slice_port_by_name(self) -> None:
        """
        The Service port's name selects the slice port, whose number (the target port) is used.
        """
        self.create(self.services, service("web", [{"name": "http", "port": 80}, {"name": "https", "port": 443}]))
        self.create(self.slices, endpoint_slice(
            "web-1", "web", [{"name": "http", "port": 8080}, {"name": "https", "port": 8443}],
            [{"addresses": ["10.1.0.5"], "conditions": {"ready": True}}],
        ))
        url = self.wait(self.resolver.resolve("ns", "web", 443))
        self.assertEqual((url.scheme, url.host, url.port), ("https", "10.1.0.5", 8443))
        self.assertEqual(url.to_text(), "https://10.1.0.5:8443")

    def test_unready_endpoints_skipped(self) -> None:
        """
        Endpoints whose C{ready} condition is false are never picked; all unready is 503.
        """
        self.create(self.services, service("web", [{"port": 443}]))
        self.create(self.slices, endpoint_slice(
            "web-1", "web", [{"port": 8443}],
            [{"addresses": ["10.1.0.5"], "conditions": {"ready": False}},
             {"addresses": ["10.1.0.6"], "conditions": {"ready": True}}],
        ))
        for _ in range(10):
            self.assertEqual(self.wait(self.resolver.resolve("ns", "web", 443)).host, "10.1.0.6")
        self.create(self.services, service("down", [{"port": 443}]))
        self.create(self.slices, endpoint_slice(
            "down-1", "down", [{"port": 8443}], [{"addresses": ["10.1.0.7"], "conditions": {"ready": False}}],
        ))
        e = self.fail_with(self.resolver.resolve("ns", "down", 443))
        self.assertEqual(e.message, 'no endpoints available for service "down"')

    def test_slices_of_other_services_ignored(self) -> None:
        """
        Only slices labelled with the Service's name count.
        """
        self.create(self.services, service("web", [{"port": 443}]))
        self.create(self.slices, endpoint_slice("other-1", "other", [{"port": 8443}],
                                                [{"addresses": ["10.1.0.9"]}]))
        e = self.fail_with(self.resolver.resolve("ns", "web", 443))
        self.assertEqual(e.code, 503)

    def test_preferred_family_first(self) -> None:
        """
        Slices of the Service's first IP family are tried before the others.
        """
        self.create(self.services, service("web", [{"port": 443}], ipFamilies=["IPv6"]))
        self.create(self.slices, endpoint_slice("web-4", "web", [{"port": 8443}], [{"addresses": ["10.1.0.5"]}]))
        self.create(self.slices, endpoint_slice("web-6", "web", [{"port": 8443}], [{"addresses": ["fd00::5"]}], "IPv6"))
        for _ in range(5):
            url = self.wait(self.resolver.resolve("ns", "web", 443))
            self.assertEqual(url.host, "fd00::5")
        self.assertEqual(url.to_text(), "https://[fd00::5]:8443")

    def test_endpoints_without_slices(self) -> None:
        """
        A Service with no slices resolves through its Endpoints (as mirrored), ready addresses only.
        """
        self.create(self.services, service("web", [{"name": "https", "port": 443}]))
        self.create(self.endpoints, {
            "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.2.0.1"}], "notReadyAddresses": [{"ip": "10.2.0.2"}],
                         "ports": [{"name": "https", "port": 9443}]}],
        })
        for _ in range(5):
            url = self.wait(self.resolver.resolve("ns", "web", 443))
            self.assertEqual((url.host, url.port), ("10.2.0.1", 9443))

    def test_endpoints_wrong_port_name(self) -> None:
        """
        Endpoints whose ports do not carry the Service port's name: no endpoints.
        """
        self.create(self.services, service("web", [{"name": "https", "port": 443}]))
        self.create(self.endpoints, {"metadata": {"name": "web"},
                                     "subsets": [{"addresses": [{"ip": "10.2.0.1"}], "ports": [{"name": "x", "port": 1}]}]})
        e = self.fail_with(self.resolver.resolve("ns", "web", 443))
        self.assertEqual(e.message, 'no endpoints available for service "web"')

    def test_resolve_cluster(self) -> None:
        """
        C{resolve_cluster} answers the cluster IP and the Service port; headless Services fail.
        """
        self.create(self.services, service("web", [{"port": 443, "targetPort": 8443}]))
        url = self.wait(self.resolver.resolve_cluster("ns", "web", 443))
        self.assertEqual((url.host, url.port), ("10.0.0.10", 443))
        self.create(self.services, service("headless", [{"port": 443}], clusterIP="None"))
        e = self.fail_with(self.resolver.resolve_cluster("ns", "headless", 443))
        self.assertEqual(e.message, 'cannot route to service with ClusterIP "None"')

    def test_over_store_for(self) -> None:
        """
        C{ServiceResolver.over} takes the stores from a C{store_for(group, plural)} lookup.
        """
        stores = {("", "services"): self.services, ("discovery.k8s.io", "endpointslices"): self.slices,
                  ("", "endpoints"): self.endpoints}
        r = ServiceResolver.over(lambda g, p: stores.get((g, p)))
        self.assertIs(r.endpoint_slices, self.slices)
        e = self.fail_with(r.resolve("ns", "nope", 443))
        self.assertEqual(e.code, 404)
