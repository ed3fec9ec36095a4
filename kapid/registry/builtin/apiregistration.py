"""
apiregistration.k8s.io/v1 resources: apiservices (+status), as kube-aggregator describes them: a
cluster-scoped C{APIService} named C{<version>.<group>}, validated as kube's
C{ValidateAPIService}, printed as C{NAME SERVICE AVAILABLE AGE}.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Optional

import attr

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError
from kapid.apimachinery.meta import dns1035_label_errors, dns1123_subdomain_errors, path_segment_errors
from kapid.registry.builtin._helpers import resource, status, v1
from kapid.registry.description import TableColumn
from kapid.registry.strategy import GenericStrategy
from kapid.registry.tables import age_column

GROUP = "apiregistration.k8s.io"
KIND = "APIService"

#: The condition kube's availability controller maintains.
AVAILABLE = "Available"

_CONDITION_STATUSES = ("True", "False", "Unknown")


def required_name(spec: dict) -> str:
    """
    The name an APIService of C{spec} must have: C{<version>.<group>} (C{v1.} for the core group).
    """
    return f"{spec.get('version') or ''}.{spec.get('group') or ''}"


def _ca_bundle_size(value: Any) -> int:
    """
    The decoded length of C{spec.caBundle} (base64 on the wire; its raw length when not base64).
    """
    if not value:
        return 0
    if not isinstance(value, str):
        return len(str(value))
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return len(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def validate_api_service(obj: dict) -> list[FieldError]:
    """
    kube's C{ValidateAPIService} beyond object metadata: the name must be C{spec.version + "." +
    spec.group}, only C{v1} may have the empty (legacy) group, the group a DNS subdomain, the
    version a DNS-1035 label, both priorities in range, and a local APIService (no C{service})
    may carry neither C{caBundle} nor C{insecureSkipTLSVerify}.
    """
    errs: list[FieldError] = []
    spec: dict = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    name = (obj.get("metadata") or {}).get("name") or ""
    group = spec.get("group") or ""
    version = spec.get("version") or ""
    want = required_name(spec)
    # kube's name check runs after the path-segment one, and only when that one passed (the
    # generic store reports the path-segment failures)
    if name and not path_segment_errors(name) and name != want:
        quoted = field._go_value(want)
        errs.append(field.invalid("metadata.name", name, f'must be `spec.version+"."+spec.group`: {quoted}'))
    if not group and version != "v1":
        errs.append(field.required("spec.group", "only v1 may have an empty group and it better be legacy kube"))
    if group:
        for msg in dns1123_subdomain_errors(group):
            errs.append(field.invalid("spec.group", group, msg))
    for msg in dns1035_label_errors(version):
        errs.append(field.invalid("spec.version", version, msg))
    gpm = _int(spec.get("groupPriorityMinimum"))
    if gpm <= 0 or gpm > 20000:
        errs.append(field.invalid("spec.groupPriorityMinimum", gpm, "must be positive and less than 20000"))
    vp = _int(spec.get("versionPriority"))
    if vp <= 0 or vp > 1000:
        errs.append(field.invalid("spec.versionPriority", vp, "must be positive and less than 1000"))
    service = spec.get("service")
    insecure = bool(spec.get("insecureSkipTLSVerify"))
    ca_size = _ca_bundle_size(spec.get("caBundle"))
    if not isinstance(service, dict):
        if ca_size:
            errs.append(field.invalid("spec.caBundle", f"{ca_size} bytes", "local APIServices may not have a caBundle"))
        if insecure:
            errs.append(field.invalid("spec.insecureSkipTLSVerify", True, "local APIServices may not have insecureSkipTLSVerify"))
        return errs
    if not service.get("namespace"):
        errs.append(field.required("spec.service.namespace"))
    if not service.get("name"):
        errs.append(field.required("spec.service.name"))
    port = service.get("port")
    if isinstance(port, int) and not 1 <= port <= 65535:
        errs.append(field.invalid("spec.service.port", port, "port is not valid: must be between 1 and 65535, inclusive"))
    if insecure and ca_size:
        errs.append(field.invalid("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present"))
    return errs


def validate_api_service_status(obj: dict) -> list[FieldError]:
    """
    kube's C{ValidateAPIServiceStatus}: every condition's status is True, False or Unknown.
    """
    errs: list[FieldError] = []
    st: dict = obj["status"] if isinstance(obj.get("status"), dict) else {}
    for i, cond in enumerate(st.get("conditions") or []):
        if not isinstance(cond, dict):
            continue
        value = cond.get("status") or ""
        if value not in _CONDITION_STATUSES:
            errs.append(field.not_supported(f"status.conditions[{i}].status", value, _CONDITION_STATUSES))
    return errs


class APIServiceStrategy(GenericStrategy):
    """
    kube's APIService strategy: status reset on create and kept by spec writes (the generic
    status handling), kube's validation of the spec on create and update and of the conditions
    on status writes.
    """

    def default(self, version: str, obj: dict) -> None:
        """
        kube's v1 defaults: a service reference's port is 443.
        """
        svc = (obj.get("spec") or {}).get("service") if isinstance(obj.get("spec"), dict) else None
        if isinstance(svc, dict) and svc.get("port") is None:
            svc["port"] = 443

    def validate(self, obj: dict) -> list[FieldError]:
        return validate_api_service(obj)

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return validate_api_service(obj)

    def validate_status_update(self, obj: dict, old: dict) -> list[FieldError]:
        """
        kube's C{ValidateAPIServiceStatusUpdate} (metadata is checked by the store).
        """
        return validate_api_service_status(obj)


def condition(obj: dict, kind: str = AVAILABLE) -> Optional[dict]:
    """
    The C{kind} condition of an APIService, or None.
    """
    for c in ((obj.get("status") or {}).get("conditions") or []):
        if isinstance(c, dict) and c.get("type") == kind:
            return c
    return None


def _service_cell(obj: dict, now: Optional[float] = None) -> str:
    svc = (obj.get("spec") or {}).get("service")
    if not isinstance(svc, dict):
        return "Local"
    return f"{svc.get('namespace') or ''}/{svc.get('name') or ''}"


def _available_cell(obj: dict, now: Optional[float] = None) -> str:
    c = condition(obj)
    if c is None:
        return "Unknown"
    value = c.get("status") or ""
    if value != "True" and c.get("reason"):
        return f"{value} ({c['reason']})"
    return value


def table_columns() -> tuple[TableColumn, ...]:
    """
    kube-aggregator's APIService table after C{Name}: C{Service}, C{Available}, C{Age}.
    """
    return (
        TableColumn("Service", "string", _service_cell, description="The reference to the service that hosts this API endpoint."),
        TableColumn("Available", "string", _available_cell, description="Whether this service is available."),
        age_column(),
    )


_STRATEGY = APIServiceStrategy(GROUP, KIND, has_status=True, name_validation="path", reset_status={})

API_SERVICES = attr.evolve(
    resource(
        GROUP, KIND, "apiservices",
        v1("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService"),
        namespaced=False,
        categories=("api-extensions",),
        subresources=(status(KIND, GROUP),),
        name_validation="path",
        reset_status={},
        strategy=_STRATEGY,
    ),
    table_columns=table_columns(),
)

RESOURCES = [API_SERVICES]
