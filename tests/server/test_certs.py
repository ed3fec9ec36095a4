"""
Tests of kapid's generated PKI and admin kubeconfig.
"""

from __future__ import annotations

import ipaddress
import os

import yaml
from cryptography import x509
from twisted.trial.unittest import SynchronousTestCase

from kapid.server import certs


class CertTests(SynchronousTestCase):
    """
    The CA, serving and admin certificates.
    """

    def test_generated_once_and_reused(self) -> None:
        """
        A second run reuses the CA and certificates byte for byte.
        """
        d = self.mktemp()
        dns, ips = certs.serving_names(["10.9.8.7"])
        ca = certs.ensure_ca(d)
        serving = certs.ensure_serving_cert(d, ca, dns, ips)
        admin = certs.ensure_admin_cert(d, ca)
        again = certs.ensure_ca(d)
        self.assertEqual(again.cert_pem(), ca.cert_pem())
        self.assertEqual(certs.ensure_serving_cert(d, again, dns, ips).cert_pem(), serving.cert_pem())
        self.assertEqual(certs.ensure_admin_cert(d, again).cert_pem(), admin.cert_pem())
        self.assertEqual(oct(os.stat(os.path.join(d, "ca.key")).st_mode & 0o777), "0o600")

    def test_serving_names(self) -> None:
        """
        The serving certificate covers localhost, 127.0.0.1, the host name and the advertise address.
        """
        d = self.mktemp()
        dns, ips = certs.serving_names(["10.9.8.7", "0.0.0.0"])
        serving = certs.ensure_serving_cert(d, certs.ensure_ca(d), dns, ips)
        san = serving.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertIn("localhost", san.get_values_for_type(x509.DNSName))
        addresses = san.get_values_for_type(x509.IPAddress)
        self.assertIn(ipaddress.ip_address("127.0.0.1"), addresses)
        self.assertIn(ipaddress.ip_address("10.9.8.7"), addresses)
        self.assertNotIn(ipaddress.ip_address("0.0.0.0"), addresses)

    def test_new_address_regenerates_serving_cert(self) -> None:
        """
        A serving certificate that does not cover a new address is replaced (the CA stays).
        """
        d = self.mktemp()
        ca = certs.ensure_ca(d)
        first = certs.ensure_serving_cert(d, ca, *certs.serving_names())
        second = certs.ensure_serving_cert(d, ca, *certs.serving_names(["10.1.1.1"]))
        self.assertNotEqual(first.cert_pem(), second.cert_pem())

    def test_kubeconfig(self) -> None:
        """
        The kubeconfig names the server, the CA and the admin client certificate.
        """
        d = self.mktemp()
        ca = certs.ensure_ca(d)
        admin = certs.ensure_admin_cert(d, ca)
        path = os.path.join(d, "admin.kubeconfig")
        certs.write_kubeconfig(path, "https://127.0.0.1:6443", ca.cert_pem(), admin)
        with open(path) as f:
            doc = yaml.safe_load(f)
        self.assertEqual(doc["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443")
        self.assertEqual(doc["current-context"], "kapid")
        self.assertIn("client-certificate-data", doc["users"][0]["user"])
        subject = admin.cert.subject.rfc4514_string()
        self.assertIn("CN=system:admin", subject)
        self.assertIn("O=system:masters", subject)
