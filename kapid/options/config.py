"""
All flag sections together: L{SECTIONS} in C{--help} order and L{build_config}, which completes and
validates every section and returns one frozen L{KapidConfig} (or every problem found).
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import (
    admission,
    api_enablement,
    apiextensions,
    audit,
    authentication,
    authorization,
    controllers,
    etcd,
    faults,
    generic,
    insecure_serving,
    misc,
    secure_serving,
)

#: The section modules in the order C{--help} prints them and completion runs.
SECTIONS = (
    generic,
    etcd,
    secure_serving,
    insecure_serving,
    authentication,
    authorization,
    admission,
    audit,
    api_enablement,
    apiextensions,
    misc,
    controllers,
    faults,
)


@attr.s(frozen=True, auto_attribs=True)
class KapidConfig:
    """
    The completed, validated configuration of one kapid server, one attribute per flag section.
    """

    generic: generic.GenericConfig
    etcd: etcd.EtcdConfig
    secure_serving: secure_serving.SecureServingConfig
    insecure_serving: insecure_serving.InsecureServingConfig
    authentication: authentication.AuthenticationConfig
    authorization: authorization.AuthorizationConfig
    admission: admission.AdmissionConfig
    audit: audit.AuditConfig
    api_enablement: api_enablement.APIEnablementConfig
    apiextensions: apiextensions.APIExtensionsConfig
    misc: misc.MiscConfig
    faults: faults.FaultsConfig
    controllers: controllers.ControllersConfig = controllers.ControllersConfig()


def defaults() -> dict[str, Optional[str]]:
    """
    The raw default value of every flag, by flag name.
    """
    return {flag.name: flag.default for section in SECTIONS for flag in section.SECTION.flags}


def build_config(values: dict[str, Any]) -> tuple[Optional[KapidConfig], list[str]]:
    """
    Complete C{values} (raw flag values by name; missing ones take their defaults) in place, then
    validate every section. Return the config, or None and every problem found (no I/O besides
    checking that named files are readable).
    """
    for name, default in defaults().items():
        values.setdefault(name, default)
    for section in SECTIONS:
        section.complete(values)
    errors: list[str] = []
    parts: dict[str, Any] = {}
    for section in SECTIONS:
        config, problems = section.validate(values)
        parts[section.__name__.rsplit(".", 1)[-1]] = config
        errors.extend(problems)
    if errors:
        return None, errors
    return KapidConfig(**parts), []


def config_from_args(**flags: Any) -> KapidConfig:
    """
    A config from keyword flags (C{data_dir="..."} for C{--data-dir}); raise L{ValueError} listing
    every problem. For tests and embedding.
    """
    values = {name.replace("_", "-"): value for name, value in flags.items()}
    config, errors = build_config(values)
    if config is None:
        raise ValueError("\n".join(errors))
    return config
