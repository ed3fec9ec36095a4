"""
Insecure serving flags: the plain HTTP listener on loopback (no authentication, no authorization).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, check_listen_endpoint

SECTION = Section(
    "Insecure serving flags",
    (
        Flag("insecure-bind-address", "127.0.0.1", "The IP address on which to serve the "
             "--insecure-port. Must be a loopback address: requests on this port bypass "
             "authentication and authorization."),
        Flag("insecure-port", "8080", "The port on which to serve unsecured, unauthenticated "
             "access. 0 turns it off."),
        Flag("insecure-listen-endpoint", "", "A Twisted server endpoint string to serve plain HTTP on "
             "instead of --insecure-bind-address:--insecure-port, e.g. "
             "systemd:domain=INET:index=1."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class InsecureServingConfig:
    """
    The completed, validated insecure serving flags.
    """

    bind_address: str
    port: int
    listen_endpoint: Optional[str]

    @property
    def enabled(self) -> bool:
        """
        Whether plain HTTP is served at all.
        """
        return bool(self.listen_endpoint) or self.port != 0


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def validate(values: dict[str, Any]) -> tuple[InsecureServingConfig, list[str]]:
    """
    Parse and check the insecure serving flags; return the config and every problem found.
    """
    c = Checker(values)
    bind = c.ip_address("insecure-bind-address", allow_empty=False)
    if bind is not None and not ipaddress.ip_address(bind).is_loopback:
        c.error(f"--insecure-bind-address: {bind} is not a loopback address (the insecure port "
                "has no authentication; use 127.0.0.1 or ::1)")
    config = InsecureServingConfig(
        bind_address=bind or "127.0.0.1",
        port=c.port("insecure-port"),
        listen_endpoint=check_listen_endpoint(c, "insecure-listen-endpoint"),
    )
    return config, c.errors
