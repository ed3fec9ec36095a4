"""
Object metadata as kube-apiserver manages it: system fields (uid, creationTimestamp, generation,
resourceVersion), generateName, name/label/annotation/ownerReference/finalizer validation with kube's
messages (k8s.io/apimachinery pkg/api/validation/objectmeta.go, pkg/util/validation), and Go's field
order for C{ObjectMeta}.
"""

from __future__ import annotations

import datetime
import random
import re
import uuid
from typing import Any, Callable, Optional

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError

# ---------------------------------------------------------------------------------------------------
# kube's pkg/util/validation


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    msg += " (e.g. "
    for i, e in enumerate(examples):
        if i > 0:
            msg += " or "
        msg += f"'{e}', "
    return msg + f"regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


_EMPTY = "must be non-empty"

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_LABEL_MSG = _regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character",
    _DNS1123_LABEL_FMT,
    "my-name",
    "123-abc",
)
_DNS1123_SUB_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUB_RE = re.compile(f"^{_DNS1123_SUB_FMT}$")
_DNS1123_SUB_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character",
    _DNS1123_SUB_FMT,
    "example.com",
)
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_RE = re.compile(f"^{_DNS1035_FMT}$")
_DNS1035_MSG = _regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    _DNS1035_FMT,
    "my-name",
    "abc-123",
)
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character",
    _QNAME_FMT,
    "MyName",
    "my.name",
    "123-abc",
)
_LABEL_VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_LABEL_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character",
    _LABEL_VALUE_FMT,
    "MyValue",
    "my_value",
    "12345",
)


def dns1123_label_errors(value: str) -> list[str]:
    """
    kube's C{IsDNS1123Label}.
    """
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _DNS1123_LABEL_RE.match(value):
        errs.append(_DNS1123_LABEL_MSG)
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """
    kube's C{IsDNS1123Subdomain}.
    """
    errs = []
    if len(value) > 253:
        errs.append(_max_len(253))
    if not _DNS1123_SUB_RE.match(value):
        errs.append(_DNS1123_SUB_MSG)
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    """
    kube's C{IsDNS1035Label}.
    """
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _DNS1035_RE.match(value):
        errs.append(_DNS1035_MSG)
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """
    kube's C{IsQualifiedName} (label keys, annotation keys, finalizers).
    """
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + _EMPTY)
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _QNAME_MSG
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + _EMPTY)
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.match(name):
        errs.append("name part " + _QNAME_MSG)
    return errs


def label_value_errors(value: str) -> list[str]:
    """
    kube's C{IsValidLabelValue}.
    """
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_LABEL_VALUE_MSG)
    return errs


def path_segment_errors(name: str, prefix: bool = False) -> list[str]:
    """
    kube's C{ValidatePathSegmentName}.
    """
    errs = []
    if not prefix:
        if name in (".", ".."):
            errs.append(f"may not be '{name}'")
    for bad in ("/", "%"):
        if bad in name:
            errs.append(f"may not contain '{bad}'")
    return errs


def _mask_trailing_dash(name: str) -> str:
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_validator(kind: str) -> Callable[[str, bool], list[str]]:
    """
    A name validator C{(name, prefix) -> messages} by kind: C{subdomain} (the default), C{label},
    C{dns1035} or C{path}.
    """
    fn = {
        "subdomain": dns1123_subdomain_errors,
        "label": dns1123_label_errors,
        "dns1035": dns1035_label_errors,
    }.get(kind)
    if kind == "path":
        return path_segment_errors
    assert fn is not None, kind

    def validate(name: str, prefix: bool = False) -> list[str]:
        if prefix:
            name = _mask_trailing_dash(name)
        return fn(name)

    return validate


# ---------------------------------------------------------------------------------------------------
# ObjectMeta validation

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
STANDARD_FINALIZERS = frozenset(("kubernetes", "orphan", "foregroundDeletion"))


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """
    kube's C{ValidateLabels}.
    """
    errs: list[FieldError] = []
    if not isinstance(labels, dict):
        return errs
    for k, v in labels.items():
        for m in qualified_name_errors(k):
            errs.append(field.invalid(path, k, m))
        for m in label_value_errors(v if isinstance(v, str) else str(v)):
            errs.append(field.invalid(path, v, m))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """
    kube's C{ValidateAnnotations}: qualified keys and a 256 KiB total.
    """
    errs: list[FieldError] = []
    if not isinstance(annotations, dict):
        return errs
    total = 0
    for k, v in annotations.items():
        for m in qualified_name_errors(k.lower()):
            errs.append(field.invalid(path, k, m))
        total += len(k) + len(v if isinstance(v, str) else "")
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(field.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    """
    kube's C{ValidateOwnerReferences}.
    """
    errs: list[FieldError] = []
    if not isinstance(refs, list):
        return errs
    controllers = []
    for r in refs:
        if not isinstance(r, dict):
            continue
        api_version = r.get("apiVersion") or ""
        version = api_version.rsplit("/", 1)[-1] if api_version else ""
        if not version:
            errs.append(field.invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not r.get("kind"):
            errs.append(field.invalid(f"{path}.kind", r.get("kind") or "", "kind must not be empty"))
        if not r.get("name"):
            errs.append(field.invalid(f"{path}.name", r.get("name") or "", "name must not be empty"))
        if not r.get("uid"):
            errs.append(field.invalid(f"{path}.uid", r.get("uid") or "", "uid must not be empty"))
        if r.get("controller"):
            controllers.append(r.get("name") or "")
    if len(controllers) > 1:
        errs.append(
            field.invalid(
                path,
                refs,
                "Only one reference can have Controller set to true. Found \"true\" in references for "
                + " and ".join(controllers),
            )
        )
    return errs


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    """
    kube's C{ValidateFinalizers} with core's standard finalizer names.
    """
    errs: list[FieldError] = []
    if not isinstance(finalizers, list):
        return errs
    for f in finalizers:
        if not isinstance(f, str):
            continue
        msgs = qualified_name_errors(f)
        for m in msgs:
            errs.append(field.invalid(path, f, m))
        if not msgs and "/" not in f and f not in STANDARD_FINALIZERS:
            errs.append(
                field.invalid(path, f, "name is neither a standard finalizer name nor is it fully qualified")
            )
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(
            field.invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
        )
    return errs


def validate_object_meta(
    meta: dict[str, Any],
    namespaced: bool,
    name_fn: Callable[[str, bool], list[str]],
    path: str = "metadata",
) -> list[FieldError]:
    """
    kube's C{ValidateObjectMeta}.
    """
    errs: list[FieldError] = []
    gen_name = meta.get("generateName") or ""
    if gen_name:
        for m in name_fn(gen_name, True):
            errs.append(field.invalid(f"{path}.generateName", gen_name, m))
    name = meta.get("name") or ""
    if not name:
        errs.append(field.required(f"{path}.name", "name or generateName is required"))
    else:
        for m in name_fn(name, False):
            errs.append(field.invalid(f"{path}.name", name, m))
    ns = meta.get("namespace") or ""
    if namespaced:
        if not ns:
            errs.append(field.required(f"{path}.namespace"))
        else:
            for m in dns1123_label_errors(ns):
                errs.append(field.invalid(f"{path}.namespace", ns, m))
    elif ns:
        errs.append(field.forbidden(f"{path}.namespace", "not allowed on this type"))
    gen = meta.get("generation")
    if isinstance(gen, int) and gen < 0:
        errs.append(field.invalid(f"{path}.generation", gen, "must be greater than or equal to 0"))
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    return errs


def validate_object_meta_update(
    new: dict[str, Any], old: dict[str, Any], path: str = "metadata"
) -> list[FieldError]:
    """
    kube's C{ValidateObjectMetaUpdate}.
    """
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        extra = [f for f in (new.get("finalizers") or []) if f not in (old.get("finalizers") or [])]
        if extra:
            errs.append(
                field.forbidden(
                    f"{path}.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new "
                    "finalizers []string{" + ", ".join(f'"{f}"' for f in sorted(set(extra))) + "}",
                )
            )
    if not new.get("resourceVersion"):
        errs.append(field.invalid(f"{path}.resourceVersion", "", "must be specified for an update"))
    if (new.get("generation") or 0) < (old.get("generation") or 0):
        errs.append(field.invalid(f"{path}.generation", new.get("generation") or 0, "must not be decremented"))
    for k in ("name", "namespace", "uid", "creationTimestamp"):
        if (new.get(k) or "") != (old.get(k) or ""):
            errs.append(field.invalid(f"{path}.{k}", new.get(k) or "", "field is immutable"))
    return errs


# ---------------------------------------------------------------------------------------------------
# System fields

_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_GENERATED_NAME_PREFIX = 58


def generate_name(base: str, rng: Optional[random.Random] = None) -> str:
    """
    kube's C{SimpleNameGenerator}: the base (cut to 58 characters) plus 5 random characters.
    """
    r = rng or random
    if len(base) > MAX_GENERATED_NAME_PREFIX:
        base = base[:MAX_GENERATED_NAME_PREFIX]
    return base + "".join(r.choice(_GEN_ALPHABET) for _ in range(5))


def new_uid() -> str:
    """
    A new random UID.
    """
    return str(uuid.uuid4())


def timestamp(seconds: float) -> str:
    """
    RFC 3339 UTC at one-second precision (C{metav1.Time}).
    """
    return datetime.datetime.fromtimestamp(int(seconds), tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def micro_timestamp(seconds: float) -> str:
    """
    RFC 3339 UTC with microseconds (C{metav1.MicroTime}).
    """
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def parse_timestamp(value: str) -> Optional[float]:
    """
    Seconds since the epoch of an RFC 3339 time, or None.
    """
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


#: Go's field order of ObjectMeta.
META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)

_EMPTY_OMITTED = frozenset(
    ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "labels",
     "annotations", "ownerReferences", "finalizers", "managedFields")
)


def order_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """
    C{meta} in Go's field order, with empty omitempty fields dropped (unknown keys kept last).
    """
    out: dict[str, Any] = {}
    for k in META_ORDER:
        if k in meta:
            v = meta[k]
            if v is None or (k in _EMPTY_OMITTED and not v) or (k == "generation" and v == 0):
                continue
            out[k] = v
    if len(out) != len(meta):
        for k, v in meta.items():
            if k not in out and k not in META_ORDER and v is not None:
                out[k] = v
    return out


def order_object(obj: dict[str, Any]) -> dict[str, Any]:
    """
    C{obj} with C{kind}, C{apiVersion}, C{metadata} first (metadata in Go's order); the rest in
    the order given.
    """
    out: dict[str, Any] = {}
    if "kind" in obj:
        out["kind"] = obj["kind"]
    if "apiVersion" in obj:
        out["apiVersion"] = obj["apiVersion"]
    meta = obj.get("metadata")
    out["metadata"] = order_meta(meta) if isinstance(meta, dict) else {}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


def meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    """
    The object's metadata dict (created when missing or not a dict).
    """
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta
