"""
Generic flags: data directory, advertise address, request limits and timeouts, shutdown.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

SECTION = Section(
    "Generic flags",
    (
        Flag("data-dir", "./kapid-data", "The directory kapid keeps its state in: the embedded store, "
             "generated certificates (see --cert-dir) and admin.kubeconfig."),
        Flag("advertise-address", None, "The IP address on which to advertise the apiserver to "
             "members of the cluster. Also put in the generated serving certificate. If blank, the "
             "--bind-address is used (when it is not 0.0.0.0 / ::)."),
        Flag("cors-allowed-origins", "", "List of allowed origins for CORS, comma separated. An "
             "allowed origin can be a regular expression. If empty, CORS is not enabled."),
        Flag("external-hostname", "", "The hostname to use when generating externalized URLs for "
             "this master."),
        Flag("max-requests-inflight", "400", "The maximum number of non-mutating requests in flight "
             "at a given time. When the server exceeds this, it rejects requests. Zero for no limit."),
        Flag("max-mutating-requests-inflight", "200", "The maximum number of mutating requests in "
             "flight at a given time. When the server exceeds this, it rejects requests. Zero for no "
             "limit."),
        Flag("min-request-timeout", "1800", "An optional field indicating the minimum number of "
             "seconds a handler must keep a request open before timing it out (watch requests get a "
             "random timeout between this and twice this)."),
        Flag("request-timeout", "1m0s", "An optional field indicating the duration a handler must "
             "keep a request open before timing it out. This is the default request timeout for "
             "requests but may be overridden by the request's timeout parameter."),
        Flag("shutdown-delay-duration", "0s", "Time to delay the termination. During that time the "
             "server keeps serving requests normally while /readyz fails, so load balancers stop "
             "sending new traffic."),
        Flag("shutdown-send-retry-after", "false", "If true the HTTP Server will continue listening "
             "until all non long running request(s) in flight have been drained."),
        Flag("goaway-chance", "0", "Accepted for compatibility; kapid serves HTTP/1.1 only."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class GenericConfig:
    """
    The completed, validated generic flags.
    """

    data_dir: str
    advertise_address: Optional[str]
    cors_allowed_origins: tuple[str, ...]
    external_hostname: str
    max_requests_inflight: int
    max_mutating_requests_inflight: int
    min_request_timeout: int
    request_timeout: float
    shutdown_delay_duration: float


def complete(values: dict[str, Any]) -> None:
    """
    Generic flags have no derived defaults (the advertise address is completed by secure serving).
    """


def validate(values: dict[str, Any]) -> tuple[GenericConfig, list[str]]:
    """
    Parse and check the generic flags; return the config and every problem found.
    """
    c = Checker(values)
    data_dir = c.text("data-dir")
    if not data_dir:
        c.error("--data-dir: must not be empty")
    import re

    origins = split_list(c.text("cors-allowed-origins"))
    for origin in origins:
        try:
            re.compile(origin)
        except re.error as e:
            c.error(f"--cors-allowed-origins: {origin!r} is not a valid regular expression: {e}")
    config = GenericConfig(
        data_dir=data_dir,
        advertise_address=c.ip_address("advertise-address"),
        cors_allowed_origins=tuple(origins),
        external_hostname=c.text("external-hostname"),
        max_requests_inflight=c.integer("max-requests-inflight", 0),
        max_mutating_requests_inflight=c.integer("max-mutating-requests-inflight", 0),
        min_request_timeout=c.integer("min-request-timeout", 0),
        request_timeout=c.duration("request-timeout"),
        shutdown_delay_duration=c.duration("shutdown-delay-duration"),
    )
    c.boolean("shutdown-send-retry-after")
    if config.request_timeout == 0 and not c.errors:
        c.error("--request-timeout: must be greater than 0")
    return config, c.errors
