"""
Admission flags: which admission plugins run (the plugins themselves live in L{kapid.admission}).
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

#: Every admission plugin kube-apiserver knows (1.33), in the order the chain runs them (kube's
#: C{AllOrderedPlugins}: webhooks, ResourceQuota and AlwaysDeny last).
ORDERED_PLUGINS = (
    "AlwaysAdmit", "NamespaceAutoProvision", "NamespaceLifecycle", "NamespaceExists",
    "LimitPodHardAntiAffinityTopology", "LimitRanger", "ServiceAccount", "NodeRestriction",
    "TaintNodesByCondition", "AlwaysPullImages", "ImagePolicyWebhook", "PodSecurity", "PodNodeSelector",
    "Priority", "DefaultTolerationSeconds", "PodTolerationRestriction", "EventRateLimit",
    "ExtendedResourceToleration", "DefaultStorageClass", "StorageObjectInUseProtection",
    "OwnerReferencesPermissionEnforcement", "PersistentVolumeClaimResize", "RuntimeClass",
    "CertificateApproval", "CertificateSigning", "ClusterTrustBundleAttest", "CertificateSubjectRestriction",
    "DefaultIngressClass", "DenyServiceExternalIPs", "PodTopologyLabels", "MutatingAdmissionPolicy",
    "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook", "ResourceQuota",
    "AlwaysDeny",
)

#: Every admission plugin name kube-apiserver knows (1.33), sorted (as its help lists them).
KNOWN_PLUGINS = tuple(sorted(ORDERED_PLUGINS))

#: The plugins kube-apiserver enables by default (1.33).
DEFAULT_ON = (
    "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition", "PodSecurity",
    "Priority", "DefaultTolerationSeconds", "DefaultStorageClass", "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval", "CertificateSigning",
    "ClusterTrustBundleAttest", "CertificateSubjectRestriction", "DefaultIngressClass",
    "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook", "ResourceQuota", "PodTopologyLabels",
)

SECTION = Section(
    "Admission flags",
    (
        Flag("enable-admission-plugins", "", "admission plugins that should be enabled in addition "
             "to default enabled ones (" + ", ".join(DEFAULT_ON) + "). Comma-delimited list of "
             "admission plugins: " + ", ".join(KNOWN_PLUGINS) + ". The order of plugins in this flag "
             "does not matter."),
        Flag("disable-admission-plugins", "", "admission plugins that should be disabled although "
             "they are in the default enabled plugins list (" + ", ".join(DEFAULT_ON) + "). "
             "Comma-delimited list of admission plugins: " + ", ".join(KNOWN_PLUGINS) + ". The order "
             "of plugins in this flag does not matter."),
        Flag("admission-control-config-file", "", "File with admission control configuration."),
        Flag("default-not-ready-toleration-seconds", "300", "Indicates the tolerationSeconds of the "
             "toleration for notReady:NoExecute that is added by default to every pod that does not "
             "already have such a toleration."),
        Flag("default-unreachable-toleration-seconds", "300", "Indicates the tolerationSeconds of the "
             "toleration for unreachable:NoExecute that is added by default to every pod that does not "
             "already have such a toleration."),
    ),
)

#: The C{kind}/C{apiVersion}s of an admission configuration file.
CONFIG_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1alpha1", "apiserver.k8s.io/v1alpha1")


@attr.s(frozen=True, auto_attribs=True)
class AdmissionConfig:
    """
    The completed, validated admission flags: C{plugins} is the enabled set in kube's order;
    C{plugin_config} maps a plugin name to its configuration (from
    C{--admission-control-config-file}: inline C{configuration} or the file a C{path} names).
    """

    plugins: tuple[str, ...]
    config_file: Optional[str]
    plugin_config: dict[str, Any] = attr.ib(factory=dict)
    not_ready_toleration_seconds: int = 300
    unreachable_toleration_seconds: int = 300


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def read_config_file(path: str) -> tuple[dict[str, Any], list[str]]:
    """
    kube's C{ReadAdmissionConfiguration}: an C{AdmissionConfiguration} file as
    C{(plugin name -> configuration, problems)}; a plugin's C{path} is read relative to the
    file's directory.
    """
    import os

    import yaml

    errors: list[str] = []
    out: dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            doc = yaml.safe_load(f.read())
    except (OSError, yaml.YAMLError) as e:
        return out, [f"--admission-control-config-file: unable to read {path}: {e}"]
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionConfiguration" or (
        doc.get("apiVersion") not in CONFIG_VERSIONS
    ):
        return out, [f"--admission-control-config-file: {path} is not an AdmissionConfiguration "
                     f"({', '.join(CONFIG_VERSIONS)})"]
    for i, plugin in enumerate(doc.get("plugins") or []):
        name = plugin.get("name") if isinstance(plugin, dict) else None
        if not name:
            errors.append(f"--admission-control-config-file: plugins[{i}].name is required")
            continue
        if name not in KNOWN_PLUGINS:
            errors.append(f"--admission-control-config-file: plugin {name!r} is unknown")
            continue
        conf = plugin.get("configuration")
        where = plugin.get("path")
        if conf is None and where:
            full = where if os.path.isabs(where) else os.path.join(os.path.dirname(path), where)
            try:
                with open(full, "rb") as f:
                    conf = yaml.safe_load(f.read())
            except (OSError, yaml.YAMLError) as e:
                errors.append(f"--admission-control-config-file: plugin {name}: unable to read {full}: {e}")
                continue
        out[name] = conf
    return out, errors


def validate(values: dict[str, Any]) -> tuple[AdmissionConfig, list[str]]:
    """
    Parse and check the admission flags; return the config and every problem found.
    """
    c = Checker(values)
    enable = split_list(c.text("enable-admission-plugins"))
    disable = split_list(c.text("disable-admission-plugins"))
    for flag, names in (("enable-admission-plugins", enable), ("disable-admission-plugins", disable)):
        for name in names:
            if name not in KNOWN_PLUGINS:
                c.error(f"--{flag}: plugin {name!r} is unknown")
    both = sorted(set(enable) & set(disable))
    if both:
        c.error(f"--enable-admission-plugins and --disable-admission-plugins overlap: {', '.join(both)}")
    wanted = (set(DEFAULT_ON) | set(enable)) - set(disable)
    plugins = tuple(p for p in ORDERED_PLUGINS if p in wanted)
    config_file = c.readable_file("admission-control-config-file")
    plugin_config: dict[str, Any] = {}
    if config_file:
        plugin_config, problems = read_config_file(config_file)
        for p in problems:
            c.error(p)
    not_ready = c.integer("default-not-ready-toleration-seconds", minimum=0)
    unreachable = c.integer("default-unreachable-toleration-seconds", minimum=0)
    config = AdmissionConfig(
        plugins=plugins, config_file=config_file, plugin_config=plugin_config,
        not_ready_toleration_seconds=not_ready, unreachable_toleration_seconds=unreachable,
    )
    return config, c.errors
