"""
kapid's own PKI: a CA, a serving certificate and an admin client certificate, generated into the
cert dir on first start and reused afterwards; and C{admin.kubeconfig}.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from typing import Iterable, Optional

import attr
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVING_CERT = "apiserver.crt"
SERVING_KEY = "apiserver.key"
ADMIN_CERT = "admin.crt"
ADMIN_KEY = "admin.key"

ADMIN_USER = "system:admin"
ADMIN_GROUP = "system:masters"

_VALIDITY = datetime.timedelta(days=3650)


@attr.s(frozen=True, auto_attribs=True)
class KeyPair:
    """
    A certificate and its private key, with the paths they live at.
    """

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: str
    key_path: str

    def cert_pem(self) -> bytes:
        """
        The certificate as PEM.
        """
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """
        The private key as PEM (PKCS#8, unencrypted).
        """
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _load(cert_path: str, key_path: str) -> Optional[KeyPair]:
    if not (os.path.exists(cert_path) and os.path.exists(key_path)):
        return None
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return KeyPair(cert, key, cert_path, key_path)  # type: ignore[arg-type]


def _name(cn: str, orgs: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def ensure_ca(cert_dir: str) -> KeyPair:
    """
    The CA in C{cert_dir} (generated on first use).
    """
    pair = _load(os.path.join(cert_dir, CA_CERT), os.path.join(cert_dir, CA_KEY))
    if pair is not None:
        return pair
    os.makedirs(cert_dir, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"kapid-ca@{int(_now().timestamp())}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(hours=1))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(cert, key, os.path.join(cert_dir, CA_CERT), os.path.join(cert_dir, CA_KEY))
    _write(pair.key_path, pair.key_pem(), 0o600)
    _write(pair.cert_path, pair.cert_pem(), 0o644)
    return pair


def _issue(ca: KeyPair, subject: x509.Name, server: bool, sans: list[x509.GeneralName]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(hours=1))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def serving_names(extra: Iterable[Optional[str]] = ()) -> tuple[list[str], list[str]]:
    """
    The DNS names and IP addresses the serving certificate is valid for: localhost, 127.0.0.1, ::1,
    the host name, and C{extra} (advertise and bind addresses; wildcards are skipped).
    """
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    ips = ["127.0.0.1", "::1"]
    host = socket.gethostname()
    if host and host not in dns:
        dns.append(host)
    for value in extra:
        if not value:
            continue
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            if value not in dns:
                dns.append(value)
            continue
        if not ip.is_unspecified and str(ip) not in ips:
            ips.append(str(ip))
    return dns, ips


def _covers(cert: x509.Certificate, dns: list[str], ips: list[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    return set(dns) <= have_dns and set(ips) <= have_ips


def ensure_serving_cert(cert_dir: str, ca: KeyPair, dns: list[str], ips: list[str]) -> KeyPair:
    """
    The serving certificate in C{cert_dir}, signed by C{ca}; reused when it exists, is signed by
    C{ca} and covers every name, regenerated otherwise.
    """
    cert_path, key_path = os.path.join(cert_dir, SERVING_CERT), os.path.join(cert_dir, SERVING_KEY)
    pair = _load(cert_path, key_path)
    if pair is not None and pair.cert.issuer == ca.cert.subject and _covers(pair.cert, dns, ips):
        return pair
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert, key = _issue(ca, _name("kapid-apiserver"), True, sans)
    pair = KeyPair(cert, key, cert_path, key_path)
    _write(key_path, pair.key_pem(), 0o600)
    _write(cert_path, pair.cert_pem(), 0o644)
    return pair


def ensure_admin_cert(cert_dir: str, ca: KeyPair) -> KeyPair:
    """
    The client certificate of C{system:admin} in C{system:masters}, signed by C{ca} (reused).
    """
    cert_path, key_path = os.path.join(cert_dir, ADMIN_CERT), os.path.join(cert_dir, ADMIN_KEY)
    pair = _load(cert_path, key_path)
    if pair is not None and pair.cert.issuer == ca.cert.subject:
        return pair
    cert, key = _issue(ca, _name(ADMIN_USER, [ADMIN_GROUP]), False, [])
    pair = KeyPair(cert, key, cert_path, key_path)
    _write(key_path, pair.key_pem(), 0o600)
    _write(cert_path, pair.cert_pem(), 0o644)
    return pair


def write_kubeconfig(path: str, server: str, ca_pem: Optional[bytes], client: KeyPair, name: str = "kapid") -> None:
    """
    Write a kubeconfig for C{server} authenticating with C{client}'s certificate (data embedded).
    """
    import base64

    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = b64(ca_pem)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": b64(client.cert_pem()),
                    "client-key-data": b64(client.key_pem()),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "admin"}}],
        "current-context": name,
        "preferences": {},
    }
    data = yaml.safe_dump(doc, sort_keys=False).encode("utf-8")
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return
    _write(path, data, 0o600)
