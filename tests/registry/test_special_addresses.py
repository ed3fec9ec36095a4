"""
Tests for address validation (issue 18, item 7): Service external IPs that are unspecified,
loopback, link-local or link-local multicast are refused as kube refuses them (they would let a
proxy reach the node or the API server's own host); Endpoints and EndpointSlices get kube's other
address and port rules, and keep loopback addresses, which kapid's own endpoints and local
aggregated API servers use on a single host.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.endpoints.helpers import API

ENDPOINTS = "/api/v1/namespaces/default/endpoints"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SERVICES = "/api/v1/namespaces/default/services"

SPECIAL = {
    "0.0.0.0": "may not be unspecified (0.0.0.0)",
    "127.0.0.1": "may not be in the loopback range (127.0.0.0/8, ::1/128)",
    "169.254.169.254": "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
    "224.0.0.1": "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
}
SPECIAL6 = {
    "::": "may not be unspecified (::)",
    "::1": "may not be in the loopback range (127.0.0.0/8, ::1/128)",
    "fe80::1": "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
    "ff02::2": "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
}


def endpoints(name: str, ip: str, **subset: Any) -> dict:
    s: dict = {"addresses": [{"ip": ip}], "ports": [{"port": 80}]}
    s.update(subset)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name}, "subsets": [s]}


def endpoint_slice(name: str, address_type: str, address: str) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name},
        "addressType": address_type,
        "endpoints": [{"addresses": [address]}],
        "ports": [{"port": 80, "protocol": "TCP"}],
    }


class SpecialAddressTests(SynchronousTestCase):
    """
    Each refused with kube's 422 and cause; ordinary addresses accepted.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def assertInvalid(self, result: tuple, field: str, value: str, detail: str) -> None:
        code, body, _ = result
        self.assertEqual(code, 422, body)
        self.assertIn(
            {"reason": "FieldValueInvalid", "message": f'Invalid value: "{value}": {detail}', "field": field},
            body["details"]["causes"],
        )

    def test_special_address_function(self) -> None:
        """
        kube's ValidateNonSpecialIP messages, IPv4 and IPv6 (IPv4-mapped addresses as IPv4).
        """
        from kapid.registry.validation.common import non_special_ip

        for ip, detail in {**SPECIAL, **SPECIAL6, "::ffff:127.0.0.1": SPECIAL["127.0.0.1"]}.items():
            self.assertEqual([e.detail for e in non_special_ip(ip, "x")], [detail])
        self.assertEqual(non_special_ip("10.1.2.3", "x") + non_special_ip("2001:db8::1", "x"), [])

    def test_endpoints_other_rules(self) -> None:
        """
        Invalid IPs, subsets without addresses, unnamed ports among several.
        """
        code, body, _ = self.api.post(ENDPOINTS, endpoints("bad", "10.0.0.300"))
        self.assertEqual(code, 422)
        self.assertEqual(
            body["details"]["causes"][0]["message"],
            'Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        )
        code, body, _ = self.api.post(ENDPOINTS, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "x"},
                                                  "subsets": [{"ports": [{"port": 80}]}]})
        self.assertEqual(code, 422)
        self.assertEqual(body["details"]["causes"][0]["field"], "subsets[0]")
        code, body, _ = self.api.post(ENDPOINTS, endpoints("p", "10.0.0.1", ports=[{"port": 80}, {"port": 81}]))
        self.assertEqual(code, 422)
        self.assertEqual(
            [c["field"] for c in body["details"]["causes"]], ["subsets[0].ports[0].name", "subsets[0].ports[1].name"]
        )

    def test_endpoint_slice_families(self) -> None:
        self.assertInvalid(
            self.api.post(SLICES, endpoint_slice("fam", "IPv4", "2001:db8::1")),
            "endpoints[0].addresses[0]", "2001:db8::1", "must be a valid IPv4 address",
        )
        self.assertInvalid(
            self.api.post(SLICES, endpoint_slice("fam6", "IPv6", "10.0.0.1")),
            "endpoints[0].addresses[0]", "10.0.0.1", "must be a valid IPv6 address",
        )
        self.assertEqual(self.api.post(SLICES, endpoint_slice("ok", "IPv4", "10.1.2.3"))[0], 201)
        self.assertEqual(self.api.post(SLICES, endpoint_slice("fqdn", "FQDN", "localhost.example"))[0], 201)

    def test_service_external_ips(self) -> None:
        svc = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}], "externalIPs": ["203.0.113.7", "127.0.0.1"]},
        }
        self.assertInvalid(self.api.post(SERVICES, svc), "spec.externalIPs[1]", "127.0.0.1", SPECIAL["127.0.0.1"])
        svc["spec"]["externalIPs"] = ["203.0.113.7"]
        self.assertEqual(self.api.post(SERVICES, svc)[0], 201)

    def test_loopback_endpoints_kept(self) -> None:
        """
        kapid's own default/kubernetes address and local aggregated API servers are loopback
        endpoints on a single host: accepted (kube would refuse them).
        """
        self.assertEqual(self.api.post(ENDPOINTS, endpoints("kubernetes", "127.0.0.1"))[0], 201)
        self.assertEqual(self.api.post(SLICES, endpoint_slice("local", "IPv4", "127.0.0.1"))[0], 201)
