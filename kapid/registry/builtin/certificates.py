"""
certificates.k8s.io/v1 resources: certificatesigningrequests (+status, +approval; names validated as
path segments; C{spec.signerName} field selector; the requester recorded in the spec on create).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from kapid.apimachinery.meta import timestamp
from kapid.registry.builtin._helpers import STATUS_VERBS, field, resource, status, v1
from kapid.registry.description import Subresource
from kapid.registry.strategy import GenericStrategy

GROUP = "certificates.k8s.io"


class CSRStrategy(GenericStrategy):
    """
    kube's approval strategy on top of the generic one: a write to C{/approval} changes only
    C{status.conditions} (timestamps filled in when left out).
    """

    def prepare_for_create_by(self, obj: dict, user: Any) -> None:
        """
        kube's C{PrepareForCreate}: the requester's name, uid, groups and extra replace whatever the
        client put in C{spec.username}/C{uid}/C{groups}/C{extra} (left empty without a user).
        """
        spec = obj.setdefault("spec", {})
        for k in ("username", "uid", "groups", "extra"):
            spec.pop(k, None)
        if user is None:
            return
        if user.name:
            spec["username"] = user.name
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}

    def prepare_for_approval(self, obj: dict, old: dict) -> None:
        conditions = (obj.get("status") or {}).get("conditions")
        meta = obj["metadata"]
        obj.clear()
        obj.update(copy.deepcopy(old))
        obj["metadata"] = meta
        status = obj.setdefault("status", {})
        if conditions:
            now = timestamp(time.time())
            for c in conditions:
                for k in ("lastUpdateTime", "lastTransitionTime"):
                    if not c.get(k):
                        c[k] = now
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)

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
    strategy=CSRStrategy(GROUP, "CertificateSigningRequest", has_status=True, name_validation="path", reset_status={}),
)

RESOURCES = [CERTIFICATE_SIGNING_REQUESTS]
