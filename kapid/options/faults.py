"""
Fault injection flags: C{--enable-fault-injection} serves L{kapid.server.faults} (the
C{/debug/kapid/faults} API) for tests. It is refused unless every listener binds a loopback
address: a server others can reach must never be made to misbehave on request.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section

SECTION = Section(
    "Fault injection flags",
    (
        Flag("enable-fault-injection", "false", "Serve /debug/kapid/faults, which makes chosen requests "
             "fail or wait, for testing clients and controllers (kapid only). Refused unless every "
             "listener binds a loopback address."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class FaultsConfig:
    """
    Whether fault injection is on.
    """

    enable_fault_injection: bool = False


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _endpoint_interface(endpoint: str) -> Optional[str]:
    """
    The C{interface=} of a tcp/tcp6 endpoint string ("" when it binds every interface), or None
    for endpoints whose address kapid cannot see (unix sockets: local; systemd: unknown).
    """
    kind = endpoint.split(":", 1)[0]
    if kind == "unix":
        return "127.0.0.1"
    if kind not in ("tcp", "tcp6"):
        return None
    for part in re.split(r"(?<!\\):", endpoint)[2:]:
        if part.startswith("interface="):
            return part[len("interface="):].replace("\\:", ":")
    return ""


def non_loopback_listeners(values: dict[str, Any]) -> list[str]:
    """
    The listeners C{values} (raw flag values) would bind to a non-loopback (or unknown) address,
    each described by its flags.
    """
    found = []
    for endpoint_flag, port_flag, bind_flag, default_bind in (
        ("secure-listen-endpoint", "secure-port", "bind-address", "127.0.0.1"),
        ("insecure-listen-endpoint", "insecure-port", "insecure-bind-address", "127.0.0.1"),
    ):
        endpoint = str(values.get(endpoint_flag) or "")
        if endpoint:
            interface = _endpoint_interface(endpoint)
            if interface is None or not _loopback(interface):
                found.append(f"--{endpoint_flag}={endpoint}")
            continue
        if str(values.get(port_flag) or "").strip() == "0":
            continue
        bind = str(values.get(bind_flag) or default_bind)
        if not _loopback(bind):
            found.append(f"--{bind_flag}={bind}")
    return found


def validate(values: dict[str, Any]) -> tuple[FaultsConfig, list[str]]:
    """
    Parse C{--enable-fault-injection}; refuse it when a listener binds beyond loopback.
    """
    c = Checker(values)
    enabled = c.boolean("enable-fault-injection")
    if enabled:
        exposed = non_loopback_listeners(values)
        if exposed:
            c.error("--enable-fault-injection: refused: only a server that listens on loopback addresses "
                    f"may inject faults, and {', '.join(exposed)} does not")
    return FaultsConfig(enabled), c.errors
