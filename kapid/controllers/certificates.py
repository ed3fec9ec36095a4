"""
kube's CSR signing controller (C{certificatesigningrequest-signing-controller}) for the built-in
signers (C{kubernetes.io/kube-apiserver-client}, C{kube-apiserver-client-kubelet},
C{kubelet-serving}, C{legacy-unknown}): an approved, not failed, unsigned CertificateSigningRequest
gets C{status.certificate} signed by the cluster signing CA (C{--cluster-signing-cert-file} /
C{--cluster-signing-key-file}, or kapid's own CA), valid for C{spec.expirationSeconds} or
C{--cluster-signing-duration} (never beyond the CA), backdated five minutes as kube does. A request
whose usages the signer does not allow gets kube's C{Failed} condition instead.
"""

from __future__ import annotations

import base64
import datetime
import os
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from kapid.apimachinery import meta as metautil
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler
from kapid.storage.interfaces import KeyNotFoundError

CLIENT = "kubernetes.io/kube-apiserver-client"
CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
SERVING = "kubernetes.io/kubelet-serving"
LEGACY = "kubernetes.io/legacy-unknown"

#: the usages each built-in signer allows (None: any) and the one it requires
SIGNERS: dict[str, tuple[Optional[set[str]], Optional[str]]] = {
    CLIENT: ({"digital signature", "key encipherment", "client auth"}, "client auth"),
    CLIENT_KUBELET: ({"digital signature", "key encipherment", "client auth"}, "client auth"),
    SERVING: ({"digital signature", "key encipherment", "server auth"}, "server auth"),
    LEGACY: (None, None),
}

_EKU = {
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}

BACKDATE = datetime.timedelta(minutes=5)


def _condition(csr: dict, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status", "True") == "True"
        for c in (csr.get("status") or {}).get("conditions") or []
    )


class SigningCA:
    """
    A CA certificate and key that sign.
    """

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.cert = x509.load_pem_x509_certificate(cert_pem)
        self.key = serialization.load_pem_private_key(key_pem, None)

    @classmethod
    def from_config(cls, config: Any) -> Optional["SigningCA"]:
        """
        C{--cluster-signing-cert-file}/C{-key-file}, else kapid's CA in C{--cert-dir}, else None.
        """
        if config is None:
            return None
        cc = getattr(config, "controllers", None)
        cert = getattr(cc, "cluster_signing_cert_file", None)
        key = getattr(cc, "cluster_signing_key_file", None)
        if not (cert and key):
            cert = os.path.join(config.secure_serving.cert_dir, "ca.crt")
            key = os.path.join(config.secure_serving.cert_dir, "ca.key")
        if not (os.path.exists(cert) and os.path.exists(key)):
            return None
        with open(cert, "rb") as c, open(key, "rb") as k:
            return cls(c.read(), k.read())

    def sign(self, request_pem: bytes, usages: list[str], now: float, duration: float) -> bytes:
        """
        A certificate for a PEM certificate request with C{usages}, valid from five minutes before
        C{now} for C{duration} seconds (at most until the CA expires); PEM.
        """
        req = x509.load_pem_x509_csr(request_pem)
        start = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        end = min(start + datetime.timedelta(seconds=duration), self.cert.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(req.subject)
            .issuer_name(self.cert.subject)
            .public_key(req.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - BACKDATE)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        key_usage = {u for u in usages}
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature="digital signature" in key_usage,
                content_commitment="content commitment" in key_usage,
                key_encipherment="key encipherment" in key_usage,
                data_encipherment="data encipherment" in key_usage,
                key_agreement="key agreement" in key_usage,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        ekus = [_EKU[u] for u in usages if u in _EKU]
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        try:
            sans = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(sans, critical=False)
        except x509.ExtensionNotFound:
            pass
        try:
            ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        except x509.ExtensionNotFound:
            pass
        cert = builder.sign(self.key, hashes.SHA256())  # type: ignore[arg-type]
        return cert.public_bytes(serialization.Encoding.PEM)


class CSRSigningController(Controller):
    """
    Signs approved requests of the built-in signers.
    """

    name = "certificate"

    def __init__(self, ctx: ControllerContext, ca: Optional[SigningCA] = None, duration: Optional[float] = None) -> None:
        super().__init__(ctx)
        self.ca = ca if ca is not None else SigningCA.from_config(ctx.config)
        cc = getattr(ctx.config, "controllers", None)
        self.duration = duration if duration is not None else float(getattr(cc, "cluster_signing_duration", 0) or 365 * 86400)
        self.csrs = ctx.store("certificates.k8s.io", "certificatesigningrequests")

    def setup(self) -> None:
        self.informer = self.ctx.informer("certificates.k8s.io", "certificatesigningrequests")
        self.watch(self.informer, FunctionHandler(add=self._changed, update=lambda _o, n: self._changed(n)))

    def _changed(self, csr: dict) -> None:
        if self._wanted(csr):
            self.queue.add((csr.get("metadata") or {}).get("name", ""))

    def _wanted(self, csr: dict) -> bool:
        spec = csr.get("spec") or {}
        return (
            spec.get("signerName") in SIGNERS
            and _condition(csr, "Approved")
            and not _condition(csr, "Failed")
            and not (csr.get("status") or {}).get("certificate")
        )

    async def sync(self, key: Any) -> None:
        if self.ca is None or self.csrs is None:
            return
        storage_key = self.csrs.key("", key)
        csr = await self.csrs.storage.get(storage_key, "", True)
        if csr is None or not self._wanted(csr):
            return
        spec = csr.get("spec") or {}
        usages = list(spec.get("usages") or [])
        allowed, required = SIGNERS[spec["signerName"]]
        bad = [u for u in usages if allowed is not None and u not in allowed]
        if bad or (required is not None and required not in usages):
            message = (
                f"invalid usage for {spec['signerName']}: {', '.join(bad)}" if bad
                else f"missing required usage for {spec['signerName']}: {required}"
            )
            await self._set_status(storage_key, failed=message)
            return
        duration = self.duration
        if spec.get("expirationSeconds"):
            duration = min(duration, float(spec["expirationSeconds"]))
        try:
            pem = self.ca.sign(base64.b64decode(spec.get("request") or ""), usages, self.clock.seconds(), duration)
        except ValueError as e:
            await self._set_status(storage_key, failed=f"unable to parse csr: {e}")
            return
        await self._set_status(storage_key, certificate=base64.b64encode(pem).decode("ascii"))

    async def _set_status(self, key: str, certificate: str = "", failed: str = "") -> None:
        now = metautil.timestamp(self.clock.seconds())

        def update(cur: Optional[dict]) -> dict:
            assert cur is not None
            status = dict(cur.get("status") or {})
            if certificate:
                status["certificate"] = certificate
            if failed:
                status["conditions"] = list(status.get("conditions") or []) + [{
                    "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                    "message": failed, "lastUpdateTime": now, "lastTransitionTime": now,
                }]
            cur["status"] = status
            return cur

        try:
            await self.csrs.storage.guaranteed_update(key, update)
        except KeyNotFoundError:
            pass
