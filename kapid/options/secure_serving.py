"""
Secure serving flags: the TLS listener and its certificates.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, check_listen_endpoint

TLS_VERSIONS = ("VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13")

SECTION = Section(
    "Secure serving flags",
    (
        Flag("bind-address", "127.0.0.1", "The IP address on which to listen for the --secure-port "
             "port. Use 0.0.0.0 (all IPv4) or :: (all interfaces) to serve other hosts. kapid "
             "defaults to loopback (kube-apiserver defaults to 0.0.0.0)."),
        Flag("secure-port", "6443", "The port on which to serve HTTPS with authentication and "
             "authorization. 0 turns HTTPS off."),
        Flag("secure-listen-endpoint", "", "A Twisted server endpoint string to serve HTTPS on "
             "instead of --bind-address:--secure-port, e.g. systemd:domain=INET:index=0 for a "
             "socket-activated listener. kapid adds TLS itself."),
        Flag("cert-dir", "", "The directory where the TLS certs are located. If --tls-cert-file and "
             "--tls-private-key-file are provided, this flag will be ignored. Default: "
             "<data-dir>/pki."),
        Flag("tls-cert-file", "", "File containing the default x509 Certificate for HTTPS (CA cert, "
             "if any, concatenated after server cert). If HTTPS serving is enabled, and "
             "--tls-cert-file and --tls-private-key-file are not provided, a self-signed CA and "
             "serving certificate are generated in --cert-dir."),
        Flag("tls-private-key-file", "", "File containing the default x509 private key matching "
             "--tls-cert-file."),
        Flag("tls-min-version", "VersionTLS12", "Minimum TLS version supported. Possible values: "
             + ", ".join(TLS_VERSIONS) + "."),
        Flag("tls-cipher-suites", "", "Comma-separated list of cipher suites for the server "
             "(OpenSSL names). If omitted, the default ciphers will be used."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class SecureServingConfig:
    """
    The completed, validated secure serving flags.
    """

    bind_address: str
    secure_port: int
    listen_endpoint: Optional[str]
    cert_dir: str
    tls_cert_file: Optional[str]
    tls_private_key_file: Optional[str]
    tls_min_version: str
    tls_cipher_suites: str

    @property
    def enabled(self) -> bool:
        """
        Whether HTTPS is served at all.
        """
        return bool(self.listen_endpoint) or self.secure_port != 0

    @property
    def generate_certs(self) -> bool:
        """
        Whether kapid generates its own CA and serving certificate in C{cert_dir}.
        """
        return not self.tls_cert_file


def default_interface_address() -> Optional[str]:
    """
    The address of the host's default interface (a UDP socket's route choice; nothing is sent),
    or None without a route.
    """
    import socket

    for family, target in ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9))):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(target)
                return str(s.getsockname()[0])
        except OSError:
            continue
    return None


def complete(values: dict[str, Any]) -> None:
    """
    Default C{--cert-dir} to C{<data-dir>/pki}; default C{--advertise-address} to
    C{--bind-address}, or the default interface's address when binding to every interface.
    """
    import ipaddress

    if not values.get("cert-dir"):
        values["cert-dir"] = os.path.join(values.get("data-dir") or "./kapid-data", "pki")
    if not values.get("advertise-address"):
        bind = values.get("bind-address") or ""
        try:
            unspecified = ipaddress.ip_address(bind).is_unspecified
        except ValueError:
            return  # reported by validate()
        values["advertise-address"] = (default_interface_address() if unspecified else bind) or None


def validate(values: dict[str, Any]) -> tuple[SecureServingConfig, list[str]]:
    """
    Parse and check the secure serving flags; return the config and every problem found.
    """
    c = Checker(values)
    bind = c.ip_address("bind-address", allow_empty=False) or "127.0.0.1"
    port = c.port("secure-port")
    cert = c.readable_file("tls-cert-file")
    key = c.readable_file("tls-private-key-file")
    if bool(c.text("tls-cert-file")) != bool(c.text("tls-private-key-file")):
        c.error("--tls-cert-file and --tls-private-key-file must be given together")
    version = c.text("tls-min-version")
    if version not in TLS_VERSIONS:
        c.error(f"--tls-min-version: {version!r} is not one of {', '.join(TLS_VERSIONS)}")
    ciphers = c.text("tls-cipher-suites")
    if ciphers:
        from OpenSSL import SSL

        try:
            SSL.Context(SSL.TLS_METHOD).set_cipher_list(ciphers.replace(",", ":").encode("ascii"))
        except Exception:
            c.error(f"--tls-cipher-suites: {ciphers!r} names no cipher suite OpenSSL knows")
    config = SecureServingConfig(
        bind_address=bind,
        secure_port=port,
        listen_endpoint=check_listen_endpoint(c, "secure-listen-endpoint"),
        cert_dir=c.text("cert-dir"),
        tls_cert_file=cert,
        tls_private_key_file=key,
        tls_min_version=version,
        tls_cipher_suites=ciphers,
    )
    return config, c.errors
