"""
Admission flags: which admission plugins run (the plugins themselves live in L{kapid.admission}).
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

#: Every admission plugin name kube-apiserver knows (1.33).
KNOWN_PLUGINS = (
    "AlwaysAdmit", "AlwaysDeny", "AlwaysPullImages", "CertificateApproval", "CertificateSigning",
    "CertificateSubjectRestriction", "ClusterTrustBundleAttest", "DefaultIngressClass",
    "DefaultStorageClass", "DefaultTolerationSeconds", "DenyServiceExternalIPs",
    "EventRateLimit", "ExtendedResourceToleration", "ImagePolicyWebhook", "LimitPodHardAntiAffinityTopology",
    "LimitRanger", "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "NamespaceAutoProvision",
    "NamespaceExists", "NamespaceLifecycle", "NodeRestriction", "OwnerReferencesPermissionEnforcement",
    "PersistentVolumeClaimResize", "PodNodeSelector", "PodSecurity", "PodTolerationRestriction",
    "Priority", "ResourceQuota", "RuntimeClass", "ServiceAccount", "StorageObjectInUseProtection",
    "TaintNodesByCondition", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook",
)

#: The plugins kube-apiserver enables by default (1.33).
DEFAULT_ON = (
    "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition", "PodSecurity",
    "Priority", "DefaultTolerationSeconds", "DefaultStorageClass", "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval", "CertificateSigning",
    "ClusterTrustBundleAttest", "CertificateSubjectRestriction", "DefaultIngressClass",
    "MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook", "ResourceQuota",
)

SECTION = Section(
    "Admission flags",
    (
        Flag("enable-admission-plugins", "", "admission plugins that should be enabled in addition "
             "to default enabled ones (" + ", ".join(DEFAULT_ON) + "). Comma-delimited list of "
             "admission plugins: " + ", ".join(KNOWN_PLUGINS) + "."),
        Flag("disable-admission-plugins", "", "admission plugins that should be disabled although "
             "they are in the default enabled plugins list. Comma-delimited list."),
        Flag("admission-control-config-file", "", "File with admission control configuration."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class AdmissionConfig:
    """
    The completed, validated admission flags: C{plugins} is the enabled set in kube's order.
    """

    plugins: tuple[str, ...]
    config_file: Optional[str]


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


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
    plugins = tuple(p for p in KNOWN_PLUGINS if p in wanted)
    config = AdmissionConfig(plugins=plugins, config_file=c.readable_file("admission-control-config-file"))
    return config, c.errors
