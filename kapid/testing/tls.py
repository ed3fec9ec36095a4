"""
Certificates for tests that run real TLS servers and clients: a throw-away CA, certificates it
issues for given DNS names and IP addresses, and the server-side context options.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from kapid.server.certs import KeyPair, _issue, _name


def make_ca(cn: str = "test-ca") -> KeyPair:
    """
    A new self-signed CA (kept in memory: the paths are empty).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key, "", "")


def issue(ca: KeyPair, cn: str, dns: Iterable[str] = (), ips: Iterable[str] = (), server: bool = True) -> KeyPair:
    """
    A serving (or, with C{server=False}, client) certificate signed by C{ca} for C{dns}/C{ips}.
    """
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert, key = _issue(ca, _name(cn), server, sans)
    return KeyPair(cert, key, "", "")


def server_options(pair: KeyPair, client_ca: Any = None) -> Any:
    """
    Twisted server TLS options presenting C{pair} (and requiring client certificates signed by
    C{client_ca}, a L{KeyPair}, when given).
    """
    from OpenSSL.crypto import X509, PKey
    from twisted.internet.ssl import Certificate, CertificateOptions

    kwargs: dict[str, Any] = {}
    if client_ca is not None:
        kwargs["verify"] = True
        kwargs["caCerts"] = [Certificate.loadPEM(client_ca.cert_pem()).original]
        kwargs["requireCertificate"] = True
    return CertificateOptions(
        privateKey=PKey.from_cryptography_key(pair.key),
        certificate=X509.from_cryptography(pair.cert),
        **kwargs,
    )
