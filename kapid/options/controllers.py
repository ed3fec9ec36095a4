"""
Controller flags (kube-controller-manager's names): which housekeeping controllers run
(C{--controllers}) and their leader election on a Lease in kube-system (C{--leader-elect*}).
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

#: kapid's controllers by their kube-controller-manager names, each with the older short name
#: kube-controller-manager still accepts, and whether C{*} turns it on.
KNOWN_CONTROLLERS: tuple[tuple[str, str, bool], ...] = (
    ("serviceaccount-controller", "serviceaccount", True),
    ("namespace-controller", "namespace", True),
    ("garbage-collector-controller", "garbagecollector", True),
    ("root-ca-certificate-publisher-controller", "root-ca-cert-publisher", True),
    ("certificatesigningrequest-signing-controller", "csrsigning", True),
    ("validatingadmissionpolicy-status-controller", "validatingadmissionpolicy-status", True),
    ("token-cleaner-controller", "tokencleaner", False),
)

_ALIASES = {short: name for name, short, _ in KNOWN_CONTROLLERS}
_NAMES = {name for name, _, _ in KNOWN_CONTROLLERS}

SECTION = Section(
    "Controller flags",
    (
        Flag("controllers", "*", "A list of controllers to enable. '*' enables all on-by-default "
             "controllers, 'foo' enables the controller named 'foo', '-foo' disables the controller "
             "named 'foo'. All controllers: " + ", ".join(n for n, _, _ in KNOWN_CONTROLLERS) + "."),
        Flag("leader-elect", "true", "Start a leader election client and gain leadership before "
             "executing the main loop of the controllers, so that of several kapid processes on one "
             "etcd exactly one runs them (kapid elects only on etcd: the embedded and memory stores "
             "serve one process)."),
        Flag("leader-elect-lease-duration", "15s", "The duration that non-leader candidates will wait "
             "after observing a leadership renewal until attempting to acquire leadership of a led "
             "but unrenewed leader slot."),
        Flag("leader-elect-renew-deadline", "10s", "The interval between attempts by the acting "
             "master to renew a leadership slot before it stops leading. This must be less than the "
             "lease duration."),
        Flag("leader-elect-retry-period", "2s", "The duration the clients should wait between "
             "attempting acquisition and renewal of a leadership."),
        Flag("leader-elect-resource-name", "kube-controller-manager", "The name of the Lease object "
             "that is used for locking during leader election."),
        Flag("leader-elect-resource-namespace", "kube-system", "The namespace of the Lease object "
             "that is used for locking during leader election."),
        Flag("cluster-signing-cert-file", "", "Filename containing a PEM-encoded X509 CA certificate "
             "used to issue cluster-scoped certificates for the kubernetes.io/* signers (default: "
             "kapid's CA in --cert-dir)."),
        Flag("cluster-signing-key-file", "", "Filename containing a PEM-encoded RSA or ECDSA private "
             "key used to sign cluster-scoped certificates."),
        Flag("cluster-signing-duration", "8760h0m0s", "The max length of duration signed certificates "
             "will be given. Individual CSRs may request shorter certs by setting spec.expirationSeconds."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class ControllersConfig:
    """
    The completed, validated controller flags.

    @ivar enabled: the canonical names of the controllers that run, in L{KNOWN_CONTROLLERS} order.
    """

    enabled: tuple[str, ...] = tuple(n for n, _, on in KNOWN_CONTROLLERS if on)
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    resource_name: str = "kube-controller-manager"
    resource_namespace: str = "kube-system"
    cluster_signing_cert_file: Optional[str] = None
    cluster_signing_key_file: Optional[str] = None
    cluster_signing_duration: float = 365 * 86400.0


def canonical(name: str) -> str:
    """
    The canonical name of C{name} (an old short name maps to its new one).
    """
    return _ALIASES.get(name, name)


def enabled_controllers(spec: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """
    kube-controller-manager's C{IsControllerEnabled} over C{spec} (C{*}, C{name}, C{-name}):
    the enabled controllers and the unknown names.
    """
    unknown = [s for s in spec if s != "*" and canonical(s.lstrip("-")) not in _NAMES]
    explicit_on = {canonical(s) for s in spec if s != "*" and not s.startswith("-")}
    explicit_off = {canonical(s[1:]) for s in spec if s.startswith("-")}
    star = "*" in spec
    enabled = []
    for name, _, default_on in KNOWN_CONTROLLERS:
        if name in explicit_off:
            continue
        if name in explicit_on or (star and default_on):
            enabled.append(name)
    return tuple(enabled), unknown


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def validate(values: dict[str, Any]) -> tuple[ControllersConfig, list[str]]:
    """
    Parse and check the controller flags.
    """
    c = Checker(values)
    enabled, unknown = enabled_controllers(split_list(c.text("controllers")))
    for name in unknown:
        c.error(f"--controllers: {name!r} is not in the list of known controllers")
    lease = c.duration("leader-elect-lease-duration")
    renew = c.duration("leader-elect-renew-deadline")
    retry = c.duration("leader-elect-retry-period")
    elect = c.boolean("leader-elect")
    if elect:
        if lease <= renew:
            c.error("--leader-elect-lease-duration: leaseDuration must be greater than renewDeadline")
        if renew <= 1.2 * retry:
            c.error("--leader-elect-renew-deadline: renewDeadline must be greater than retryPeriod*JitterFactor")
        if lease < 1:
            c.error("--leader-elect-lease-duration: leaseDuration must be at least 1s")
        if retry < 0.001:
            c.error("--leader-elect-retry-period: retryPeriod must be greater than zero")
    name = c.text("leader-elect-resource-name") or "kube-controller-manager"
    namespace = c.text("leader-elect-resource-namespace") or "kube-system"
    cert = c.readable_file("cluster-signing-cert-file")
    key = c.readable_file("cluster-signing-key-file")
    if bool(cert) != bool(key):
        c.error("--cluster-signing-cert-file and --cluster-signing-key-file must be given together")
    duration = c.duration("cluster-signing-duration")
    config = ControllersConfig(enabled, elect, lease, renew, retry, name, namespace, cert, key, duration)
    return config, c.errors
