"""
C{twistd kapid}: the command-line options and the service they make.

L{Options} takes kube-apiserver's flags (see L{kapid.options}); C{postOptions} completes them and
validates every section, reporting every problem in one L{usage.UsageError} before anything
listens or any file is written. L{makeService} builds a L{KapidService} from the frozen config, with
no I/O.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any, Optional

from twisted.python import usage

from kapid import _version
from kapid.options.config import SECTIONS, KapidConfig, build_config


def version_text() -> str:
    """
    What C{twistd kapid --version} prints.
    """
    return (
        f"kapid {_version.__version__}\n"
        f"Kubernetes API {_version.KUBE_MAJOR}.{_version.KUBE_MINOR} ({_version.KUBE_GIT_VERSION})\n"
    )


class Options(usage.Options):
    """
    kube-apiserver's flags, in named sections.
    """

    synopsis = "[options]"
    longdesc = "Run kapid, a Kubernetes API server, on the embedded store or etcd."
    optParameters = [
        [flag.name, None, flag.default, flag.help] for section in SECTIONS for flag in section.SECTION.flags
    ]

    config: Optional[KapidConfig] = None

    def opt_version(self) -> None:
        """
        Print kapid's version and the Kubernetes API level it implements, then exit.
        """
        sys.stdout.write(version_text())
        sys.exit(0)

    def getUsage(self, width: Optional[int] = None) -> str:
        """
        The flags grouped in kube-apiserver's named sections.
        """
        width = width or 100
        lines: list[str] = []
        if self.longdesc:
            lines += [self.longdesc, ""]
        for section in SECTIONS:
            lines.append(section.SECTION.title + ":")
            for flag in section.SECTION.flags:
                default = f' (default "{flag.default}")' if flag.default not in (None, "") else ""
                lines.append(f"  --{flag.name}=")
                lines += textwrap.wrap(
                    flag.help + default, width - 8, initial_indent="        ", subsequent_indent="        "
                )
            lines.append("")
        lines.append("Other flags:")
        lines.append("  --version")
        lines.append("        Print kapid's version and the Kubernetes API level, then exit.")
        lines.append("  --help")
        lines.append("        Display this help and exit.")
        return "\n".join(lines) + "\n"

    def postOptions(self) -> None:
        """
        Complete and validate every flag; raise one L{usage.UsageError} listing every problem.
        """
        values = {flag.name: self[flag.name] for section in SECTIONS for flag in section.SECTION.flags}
        config, errors = build_config(values)
        if errors:
            raise usage.UsageError(
                f"{len(errors)} problem(s) with the flags:\n  " + "\n  ".join(errors)
            )
        self.config = config


def makeService(options: Any) -> Any:
    """
    The L{KapidService} for the validated C{options} (no I/O happens here).
    """
    from kapid.server.service import KapidService

    config = options.config if isinstance(options, Options) else options["config"]
    service = KapidService(config)
    add_api_stages(service)
    return service


def add_api_stages(service: Any) -> None:
    """
    Give C{service} the kube API stages of the chain over one live registry of built-in resources:
    discovery (C{/api}, C{/apis}, ...), OpenAPI (C{/openapi/...}) and the resource API itself (the REST
    layer over the storage, built when the storage is open; see
    L{kapid.endpoints.link.daemon_resource_link_factory}); and the apiextensions link, serving CRDs
    and their custom resources from the same registry and storage.
    """
    from kapid.endpoints.link import daemon_resource_link_factory
    from kapid.kubeapi.discovery import discovery_stage
    from kapid.kubeapi.openapi import openapi_stage
    from kapid.registry.builtin import builtin_registry

    from kapid.apiextensions.link import apiextensions_link_factory, serves_builtin

    from kapid.aggregator.discovery import RemoteDiscovery

    registry = builtin_registry()
    service.registry = registry
    service.remote_discovery = RemoteDiscovery()
    service.stage_factories.extend(
        [discovery_stage(registry, service.remote_discovery), openapi_stage(registry, service.remote_discovery)]
    )
    from kapid.auth.oidc import issuer_discovery_stage

    service.stage_factories.append(issuer_discovery_stage(service))
    service.resource_link_factory = daemon_resource_link_factory(service, registry, serves=serves_builtin)
    service.apiextensions_factory = apiextensions_link_factory(service, registry)
    add_controllers(service)
    add_aggregator(service, registry)


def add_aggregator(service: Any, registry: Any) -> None:
    """
    The aggregator link over C{registry}, kube's C{kube-apiserver-autoregistration} hook (after
    the apiextensions link's first CRD pass) registering a Local APIService per served group/version,
    and C{start-cluster-authentication-info-controller} publishing the
    C{extension-apiserver-authentication} ConfigMap.
    """
    from kapid.aggregator import link as aggregator
    from kapid.aggregator import requestheader

    service.aggregator_factory = aggregator.aggregator_link_factory(
        service, registry, getattr(service, "remote_discovery", None)
    )
    service.add_post_start_hook("kube-apiserver-autoregistration", aggregator.post_start_hook)
    service.add_post_start_hook("start-cluster-authentication-info-controller", requestheader.post_start_hook)


def add_controllers(service: Any) -> None:
    """
    The controllers kube-apiserver runs itself, as post-start hooks of C{service}: the
    C{kubernetes} Service with its Endpoints and EndpointSlice (and the allocation repair), the
    bootstrap hooks, and kube-controller-manager's housekeeping controllers of C{--controllers}
    (L{kapid.controllers.manager}: service accounts, namespace deletion, garbage collection, the
    root CA publisher, CSR signing), led through a Lease when several processes share etcd.
    """
    from kapid.controllers import kubernetes_service
    from kapid.controllers.manager import add_controller_manager

    service.add_post_start_hook("bootstrap-controller", kubernetes_service.post_start_hook)
    from kapid.registry.builtin import flowcontrol

    service.add_post_start_hook("priority-and-fairness-config-producer", flowcontrol.post_start_hook)
    from kapid.auth import rbac_bootstrap

    service.add_post_start_hook("rbac/bootstrap-roles", rbac_bootstrap.post_start_hook)
    from kapid.auth import legacytokens

    service.add_post_start_hook("tokens-controller", legacytokens.post_start_hook)
    from kapid.admission.plugins import pods as pod_admission

    service.add_post_start_hook("scheduling/bootstrap-system-priority-classes", pod_admission.post_start_hook)
    add_controller_manager(service)
