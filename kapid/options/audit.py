"""
Auditing flags: the audit log file and policy.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section

SECTION = Section(
    "Auditing flags",
    (
        Flag("audit-log-path", "", "If set, all requests coming to the apiserver will be logged to "
             "this file. '-' means standard out."),
        Flag("audit-log-maxage", "0", "The maximum number of days to retain old audit log files "
             "based on the timestamp encoded in their filename."),
        Flag("audit-log-maxbackup", "0", "The maximum number of old audit log files to retain."),
        Flag("audit-log-maxsize", "0", "The maximum size in megabytes of the audit log file before "
             "it gets rotated."),
        Flag("audit-log-format", "json", "Format of saved audits. \"legacy\" indicates 1-line text "
             "format for each event. \"json\" indicates structured json format."),
        Flag("audit-policy-file", "", "Path to the file that defines the audit policy "
             "configuration."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class AuditConfig:
    """
    The completed, validated audit flags.
    """

    log_path: Optional[str]
    log_maxage: int
    log_maxbackup: int
    log_maxsize: int
    log_format: str
    policy_file: Optional[str]


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def validate(values: dict[str, Any]) -> tuple[AuditConfig, list[str]]:
    """
    Parse and check the audit flags; return the config and every problem found.
    """
    c = Checker(values)
    path = c.text("audit-log-path")
    if path and path != "-":
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.exists(parent) and not os.access(parent, os.W_OK):
            c.error(f"--audit-log-path: directory {parent!r} is not writable")
    fmt = c.text("audit-log-format")
    if fmt not in ("json", "legacy"):
        c.error(f"--audit-log-format: invalid audit log format {fmt!r}, allowed formats are json,legacy")
    policy = c.readable_file("audit-policy-file")
    if policy and not c.errors:
        from kapid.server.audit import Policy, PolicyError

        try:
            Policy.from_file(policy)
        except PolicyError as e:
            c.error(f"--audit-policy-file: {e}")
    config = AuditConfig(
        log_path=path or None,
        log_maxage=c.integer("audit-log-maxage", 0),
        log_maxbackup=c.integer("audit-log-maxbackup", 0),
        log_maxsize=c.integer("audit-log-maxsize", 0),
        log_format=fmt,
        policy_file=policy,
    )
    return config, c.errors
