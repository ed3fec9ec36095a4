"""
Tests for L{kapid.controllers.rootca} (C{kube-root-ca.crt} in every namespace) and
L{kapid.controllers.certificates} (CSR signing for kube's built-in signers).
"""

from __future__ import annotations

import base64
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from kapid.controllers.certificates import CSRSigningController, SigningCA
from kapid.controllers.rootca import DESCRIPTION, NAME, RootCAPublisher
from kapid.server.certs import ensure_ca
from tests.controllers.helpers import World


class RootCAPublisherTests(TestCase):
    """
    The publisher keeps C{kube-root-ca.crt} in every active namespace.
    """

    async def test_publish_recreate_repair(self) -> None:
        """
        Every namespace gets the ConfigMap; a deleted one comes back, a changed one is repaired.
        """
        w = World(custom=False)
        await w.start()
        c = RootCAPublisher(w.ctx, b"-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n")
        self.addCleanup(c.stop)
        await c.start()
        await w.create("", "namespaces", "", "team")
        await w.settle()
        for ns in ("default", "kube-system", "team"):
            cm = await w.get("", "configmaps", ns, NAME)
            assert cm is not None
            self.assertEqual(cm["data"], {"ca.crt": c.ca})
            self.assertEqual(cm["metadata"]["annotations"]["kubernetes.io/description"], DESCRIPTION)
        cms = w.store("", "configmaps")
        await cms.delete("team", NAME, {}, "v1")
        await w.settle()
        self.assertIsNotNone(await w.get("", "configmaps", "team", NAME))

        def spoil(cur: dict) -> dict:
            cur["data"] = {"ca.crt": "nope"}
            return cur

        await cms.update("default", NAME, spoil, "v1")
        await w.settle()
        cm = await w.get("", "configmaps", "default", NAME)
        assert cm is not None
        self.assertEqual(cm["data"], {"ca.crt": c.ca})


def _request(usages_cn: str = "alice", dns: tuple = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devs"), x509.NameAttribute(NameOID.COMMON_NAME, usages_cn)])
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


class CSRSigningTests(TestCase):
    """
    Approved requests of built-in signers get certificates from the signing CA.
    """

    def setUp(self) -> Deferred:
        return Deferred.fromCoroutine(self._set_up())

    async def _set_up(self) -> None:
        self.world = w = World(custom=False)
        await w.start()
        self.ca_pair = ensure_ca(self.mktemp())
        ca = SigningCA(self.ca_pair.cert_pem(), self.ca_pair.key_pem())
        self.controller = CSRSigningController(w.ctx, ca, duration=365 * 86400)
        self.addCleanup(self.controller.stop)
        await self.controller.start()
        self.csrs = w.store("certificates.k8s.io", "certificatesigningrequests")

    async def submit(self, name: str, signer: str, usages: list, approve: bool = True, **spec: object) -> None:
        body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
                "spec": {"request": _request(dns=("node.example",)), "signerName": signer, "usages": usages, **spec}}
        await self.csrs.create("", body, "v1")
        if approve:
            def approved(cur: dict) -> dict:
                cur["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]}
                return cur

            await self.csrs.update("", name, approved, "v1", subresource="approval")
        await self.world.settle()

    async def status(self, name: str) -> dict:
        return (await self.csrs.get("", name, "v1")).get("status") or {}

    async def test_signs_client_certificate(self) -> None:
        """
        An approved kube-apiserver-client request gets a client certificate for its subject,
        issued by the CA, valid for expirationSeconds from five minutes before now.
        """
        await self.submit("alice", "kubernetes.io/kube-apiserver-client", ["client auth", "digital signature"],
                          expirationSeconds=3600)
        cert = x509.load_pem_x509_certificate(base64.b64decode((await self.status("alice"))["certificate"]))
        self.assertEqual(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "alice")
        self.assertEqual(cert.issuer, self.ca_pair.cert.subject)
        self.assertEqual(
            list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value), [ExtendedKeyUsageOID.CLIENT_AUTH]
        )
        self.assertEqual(cert.not_valid_after_utc - cert.not_valid_before_utc, datetime.timedelta(seconds=3600 + 300))
        self.ca_pair.cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))

    async def test_serving_keeps_names(self) -> None:
        """
        A kubelet-serving request keeps its DNS names.
        """
        await self.submit("serve", "kubernetes.io/kubelet-serving", ["server auth", "digital signature", "key encipherment"])
        cert = x509.load_pem_x509_certificate(base64.b64decode((await self.status("serve"))["certificate"]))
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(sans.get_values_for_type(x509.DNSName), ["node.example"])

    async def test_unapproved_and_other_signers_untouched(self) -> None:
        """
        Pending requests and requests for other signers get no certificate.
        """
        await self.submit("pending", "kubernetes.io/kube-apiserver-client", ["client auth"], approve=False)
        await self.submit("other", "example.com/signer", ["client auth"])
        self.assertNotIn("certificate", await self.status("pending"))
        self.assertNotIn("certificate", await self.status("other"))

    async def test_bad_usage_fails(self) -> None:
        """
        A usage the signer does not allow gets the Failed condition and no certificate.
        """
        await self.submit("bad", "kubernetes.io/kube-apiserver-client", ["server auth"])
        status = await self.status("bad")
        self.assertNotIn("certificate", status)
        failed = [c for c in status["conditions"] if c["type"] == "Failed"]
        self.assertEqual(failed[0]["reason"], "SignerValidationFailure")


class TokenCleanerTests(TestCase):
    """
    Expired bootstrap tokens go; others stay until they expire.
    """

    async def test_expiry(self) -> None:
        """
        An expired token Secret is deleted at once, one expiring in 60 s when that time comes;
        other Secrets stay.
        """
        from kapid.controllers.tokencleaner import TokenCleaner

        w = World(custom=False)
        await w.start()
        secrets = w.store("", "secrets")

        def token(name: str, expires: float) -> dict:
            stamp = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                    "type": "bootstrap.kubernetes.io/token",
                    "data": {"expiration": base64.b64encode(stamp.encode()).decode()}}

        w.clock.advance(1000)
        await secrets.create("kube-system", token("bootstrap-token-old", 500), "v1")
        await secrets.create("kube-system", token("bootstrap-token-new", 1060), "v1")
        await secrets.create("kube-system", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"}}, "v1")
        c = TokenCleaner(w.ctx)
        self.addCleanup(c.stop)
        await c.start()
        await w.settle()
        self.assertEqual(await w.names("", "secrets", "kube-system"), ["bootstrap-token-new", "plain"])
        await w.settle(rounds=2, step=30)
        self.assertEqual(await w.names("", "secrets", "kube-system"), ["plain"])
