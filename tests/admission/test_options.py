"""
Tests for L{kapid.options.admission} and L{kapid.admission.chain.chain_for_service}: the enabled
set in kube's order, the configuration file, the chain a daemon builds.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.chain import chain_for_service
from kapid.options.admission import DEFAULT_ON, ORDERED_PLUGINS, validate


def flags(**values: str) -> dict:
    base = {"enable-admission-plugins": "", "disable-admission-plugins": "", "admission-control-config-file": "",
            "default-not-ready-toleration-seconds": "300", "default-unreachable-toleration-seconds": "300"}
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return base


class Service:
    """
    What L{chain_for_service} reads of a service.
    """

    def __init__(self, config: object) -> None:
        self.config = config
        self.reactor = None


class Config:
    def __init__(self, admission: object) -> None:
        self.admission = admission


class OptionsTests(SynchronousTestCase):
    """
    The flags.
    """

    def test_default_order(self) -> None:
        """
        The default set runs in kube's order: NamespaceLifecycle first, webhooks then
        ResourceQuota last.
        """
        config, errors = validate(flags())
        self.assertEqual(errors, [])
        self.assertEqual(config.plugins[0], "NamespaceLifecycle")
        self.assertEqual(config.plugins[-4:], ("MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
                                               "ValidatingAdmissionWebhook", "ResourceQuota"))
        self.assertEqual(set(config.plugins), set(DEFAULT_ON))
        self.assertEqual(list(config.plugins), [p for p in ORDERED_PLUGINS if p in DEFAULT_ON])

    def test_enable_disable(self) -> None:
        """
        Enabling adds in kube's place whatever the flag's order; disabling removes.
        """
        config, errors = validate(flags(enable_admission_plugins="AlwaysDeny,NodeRestriction",
                                        disable_admission_plugins="PodSecurity"))
        self.assertEqual(errors, [])
        self.assertLess(config.plugins.index("ServiceAccount"), config.plugins.index("NodeRestriction"))
        self.assertEqual(config.plugins[-1], "AlwaysDeny")
        self.assertNotIn("PodSecurity", config.plugins)

    def test_config_file(self) -> None:
        """
        An AdmissionConfiguration gives plugins their configuration, inline or from a path next
        to the file; a wrong file is an error.
        """
        d = self.mktemp()
        os.makedirs(d)
        with open(os.path.join(d, "psa.yaml"), "w") as f:
            f.write("apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n"
                    "defaults:\n  enforce: baseline\n")
        path = os.path.join(d, "admission.yaml")
        with open(path, "w") as f:
            f.write("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
                    "- name: PodSecurity\n  path: psa.yaml\n- name: LimitRanger\n  configuration: {a: 1}\n")
        config, errors = validate(flags(admission_control_config_file=path))
        self.assertEqual(errors, [])
        self.assertEqual(config.plugin_config["PodSecurity"]["defaults"], {"enforce": "baseline"})
        self.assertEqual(config.plugin_config["LimitRanger"], {"a": 1})
        with open(path, "w") as f:
            f.write("kind: Something\n")
        _, errors = validate(flags(admission_control_config_file=path))
        self.assertEqual(len(errors), 1)
        self.assertIn("is not an AdmissionConfiguration", errors[0])

    def test_chain_for_service(self) -> None:
        """
        The daemon's chain holds the enabled plugins kapid implements, in order, once per service.
        """
        config, _ = validate(flags(disable_admission_plugins="LimitRanger"))
        service = Service(Config(config))
        chain = chain_for_service(service)
        self.assertIs(chain_for_service(service), chain)
        self.assertEqual(chain.names, [
            "NamespaceLifecycle", "ServiceAccount", "TaintNodesByCondition", "PodSecurity", "Priority",
            "DefaultTolerationSeconds", "DefaultStorageClass", "StorageObjectInUseProtection",
            "PersistentVolumeClaimResize", "RuntimeClass", "CertificateApproval", "CertificateSigning",
            "CertificateSubjectRestriction", "DefaultIngressClass",
            "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook", "ResourceQuota",
        ])
