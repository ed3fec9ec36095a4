"""
API enablement flags: C{--runtime-config} turns group versions (or all of them) on and off.
"""

from __future__ import annotations

import re
from typing import Any

import attr

from kapid.options import Checker, Flag, Section, parse_bool, split_list

SECTION = Section(
    "API enablement flags",
    (
        Flag("runtime-config", "", "A set of key=value pairs that enable or disable built-in APIs. "
             "Supported options are: v1=true|false for the core API group, <group>/<version>="
             "true|false for a specific API group and version (e.g. apps/v1=true), api/all=true|"
             "false, api/ga=true|false, api/beta=true|false, api/alpha=true|false."),
    ),
)

_KEY = re.compile(r"^(api/(all|ga|beta|alpha)|v1|[a-z0-9.-]+/v[0-9]+((alpha|beta)[0-9]+)?)$")


@attr.s(frozen=True, auto_attribs=True)
class APIEnablementConfig:
    """
    The completed, validated C{--runtime-config}: C{{"apps/v1": True, "api/alpha": False, ...}}.
    """

    runtime_config: dict[str, bool]

    def enabled(self, group_version: str, default: bool = True) -> bool:
        """
        Whether C{group_version} (C{"v1"}, C{"apps/v1"}) is served.
        """
        rc = self.runtime_config
        if group_version in rc:
            return rc[group_version]
        version = group_version.rsplit("/", 1)[-1]
        level = "alpha" if "alpha" in version else "beta" if "beta" in version else "ga"
        if f"api/{level}" in rc:
            return rc[f"api/{level}"]
        if "api/all" in rc:
            return rc["api/all"]
        return default


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def validate(values: dict[str, Any]) -> tuple[APIEnablementConfig, list[str]]:
    """
    Parse and check C{--runtime-config}; return the config and every problem found.
    """
    c = Checker(values)
    result: dict[str, bool] = {}
    for item in split_list(c.text("runtime-config")):
        key, eq, value = item.partition("=")
        if not _KEY.match(key):
            c.error(f"--runtime-config: unknown key {key!r} (want api/all, api/ga, api/beta, "
                    "api/alpha, v1 or <group>/<version>)")
            continue
        try:
            result[key] = parse_bool(value) if eq else True
        except ValueError:
            c.error(f"--runtime-config: invalid value {value!r} for {key} (want true or false)")
    return APIEnablementConfig(runtime_config=result), c.errors
