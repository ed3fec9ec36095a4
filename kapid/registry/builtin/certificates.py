"""
certificates.k8s.io/v1 resources: certificatesigningrequests (+status, +approval; names validated as
path segments; C{spec.signerName} field selector).
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import STATUS_VERBS, field, resource, status, v1
from kapid.registry.description import Subresource

GROUP = "certificates.k8s.io"

CERTIFICATE_SIGNING_REQUESTS = resource(
    GROUP, "CertificateSigningRequest", "certificatesigningrequests",
    v1("io.k8s.api.certificates.v1.CertificateSigningRequest"),
    namespaced=False,
    short_names=("csr",),
    subresources=(
        Subresource("approval", "CertificateSigningRequest", GROUP, "v1", STATUS_VERBS),
        status("CertificateSigningRequest", GROUP),
    ),
    field_selectors={"spec.signerName": field("spec", "signerName")},
    name_validation="path",
    reset_status={},
)

RESOURCES = [CERTIFICATE_SIGNING_REQUESTS]
