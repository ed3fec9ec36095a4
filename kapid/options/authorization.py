"""
Authorization flags: the ordered list of authorization modes.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

#: kube-apiserver's authorization modes.
KNOWN_MODES = ("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node")

#: The modes kapid implements (see L{kapid.auth.authorizers}); others are refused at start-up.
IMPLEMENTED_MODES = ["AlwaysAllow", "AlwaysDeny", "RBAC", "Webhook", "Node"]

SECTION = Section(
    "Authorization flags",
    (
        Flag("authorization-mode", "RBAC", "Ordered list of plug-ins to do authorization on "
             "secure port. Comma-delimited list of: " + ",".join(KNOWN_MODES) + ". Default: RBAC "
             "(kube-apiserver's own default is AlwaysAllow; kube's installers pass Node,RBAC). "
             "Members of system:masters (the admin kubeconfig, the insecure port) may do anything "
             "whatever the modes."),
        Flag("authorization-policy-file", "", "File with authorization policy in json line by line "
             "format, used with --authorization-mode=ABAC, on the secure port."),
        Flag("authorization-webhook-config-file", "", "File with webhook configuration in "
             "kubeconfig format, used with --authorization-mode=Webhook. The API server will query "
             "the remote service to determine access on the API server's secure port."),
        Flag("authorization-webhook-version", "v1beta1", "The API version of the "
             "authorization.k8s.io SubjectAccessReview to send to and expect from the webhook."),
        Flag("authorization-webhook-cache-authorized-ttl", "5m0s", "The duration to cache "
             "'authorized' responses from the webhook authorizer."),
        Flag("authorization-webhook-cache-unauthorized-ttl", "30s", "The duration to cache "
             "'unauthorized' responses from the webhook authorizer."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class AuthorizationConfig:
    """
    The completed, validated authorization flags.
    """

    modes: tuple[str, ...]
    policy_file: Optional[str]
    webhook_config_file: Optional[str]
    webhook_version: str = "v1beta1"
    webhook_cache_authorized_ttl: float = 300.0
    webhook_cache_unauthorized_ttl: float = 30.0


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def validate(values: dict[str, Any]) -> tuple[AuthorizationConfig, list[str]]:
    """
    Parse and check the authorization flags; return the config and every problem found.
    """
    c = Checker(values)
    modes = split_list(c.text("authorization-mode"))
    if not modes:
        c.error("--authorization-mode: at least one authorization mode must be passed")
    seen = set()
    for mode in modes:
        if mode in seen:
            c.error(f"--authorization-mode: mode {mode!r} has already been specified")
        seen.add(mode)
        if mode not in KNOWN_MODES:
            c.error(f"--authorization-mode: authorization mode {mode!r} is not a valid mode "
                    f"(want one of {','.join(KNOWN_MODES)})")
        elif mode not in IMPLEMENTED_MODES:
            c.error(f"--authorization-mode: authorization mode {mode!r} is not implemented by kapid "
                    f"yet (implemented: {','.join(IMPLEMENTED_MODES)})")
    if "ABAC" in modes and not c.text("authorization-policy-file"):
        c.error("--authorization-policy-file: required when using ABAC authorization mode")
    if "Webhook" in modes and not c.text("authorization-webhook-config-file"):
        c.error("--authorization-webhook-config-file: required when using Webhook authorization mode")
    version = c.text("authorization-webhook-version")
    if version not in ("v1", "v1beta1"):
        c.error(f"--authorization-webhook-version: {version!r} is not one of v1, v1beta1")
    config = AuthorizationConfig(
        modes=tuple(modes),
        policy_file=c.readable_file("authorization-policy-file"),
        webhook_config_file=c.readable_file("authorization-webhook-config-file"),
        webhook_version=version,
        webhook_cache_authorized_ttl=c.duration("authorization-webhook-cache-authorized-ttl"),
        webhook_cache_unauthorized_ttl=c.duration("authorization-webhook-cache-unauthorized-ttl"),
    )
    return config, c.errors
