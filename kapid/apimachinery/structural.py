"""
Schema-driven checks over JSON objects: unknown fields, pruning, decoding and schema validation.

Which status kube answers, and how kapid mirrors it:

  - B{Built-in kinds} are decoded by kube into Go structs. A value of the wrong JSON type, an integer
    out of its int32/int64 range, a bad quantity, a bad RFC 3339 time or bad base64 in a C{byte} field
    fail I{decoding}, so kube answers C{400 BadRequest} with
    C{<Kind> in version "<v>" cannot be handled as a <Kind>: json: cannot unmarshal string into Go
    struct field DeploymentSpec.spec.replicas of type int32}. L{decode_error} computes the part after
    the colon and L{cannot_handle_message} wraps it. The rules beyond types (names, ranges, enums such
    as C{restartPolicy}) are the validation code's and answer 422 (L{kapid.registry.validation}).
  - B{Unknown fields} (C{fieldValidation=Strict}) are decoding errors as well: 400 with
    C{strict decoding error: unknown field "spec.foo", unknown field "spec.bar"} (paths with list
    indices, L{unknown_fields}, L{strict_decoding_message}); duplicate fields likewise
    (C{duplicate field "spec.replicas"}, L{duplicate_fields}). With C{Warn} they become warnings
    (C{unknown field "spec.foo"}); with C{Ignore} they are dropped (L{prune}).
  - B{Custom resources} are decoded as unstructured JSON, so type errors are schema I{validation}
    errors answered as C{422 Invalid} (C{spec.replicas: Invalid value: "string": spec.replicas in
    body must be of type integer: "string"}): L{validate_schema}.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError
from kapid.apimachinery.quantity import canonical as canonical_quantity
from kapid.apimachinery.schema import Schema

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}

_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_SUFFIXES = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"}
_QUANTITY_FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


# ---------------------------------------------------------------------------------------------------
# helpers


def _json_type(value: Any) -> str:
    """
    The JSON type of a decoded value, as Go's decoder names it (C{string}, C{number}, C{bool}, ...).
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _schema_type(value: Any) -> str:
    """
    The OpenAPI type of a value (C{string}, C{integer}, C{number}, C{boolean}, C{array}, C{object}).
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _is_struct(schema: Schema) -> bool:
    return schema.type == "object" and bool(schema.properties)


def _go_short(name: str) -> str:
    """
    C{io.k8s.api.apps.v1.DeploymentSpec} -> C{v1.DeploymentSpec}.
    """
    parts = name.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else name


def go_type(schema: Schema) -> str:
    """
    The Go type kube decodes a schema node into (C{int32}, C{[]v1.Container}, C{map[string]string},
    C{v1.PodSpec}, C{intstr.IntOrString}, ...), for decoding messages.
    """
    if schema.name == _QUANTITY:
        return "resource.Quantity"
    if schema.name == _INT_OR_STRING or schema.int_or_string:
        return "intstr.IntOrString"
    t = schema.type
    if t == "integer":
        return schema.format or "int64"
    if t == "number":
        return "float64"
    if t == "boolean":
        return "bool"
    if t == "string":
        if schema.format == "byte":
            return "[]uint8"
        if schema.format == "date-time" and schema.name:
            return _go_short(schema.name)
        return "string"
    if t == "array":
        items = schema.items
        return "[]" + (go_type(items) if items is not None else "interface {}")
    if schema.is_map:
        return "map[string]" + go_type(schema.additional_properties)  # type: ignore[arg-type]
    if schema.name:
        return _go_short(schema.name)
    return "map[string]interface {}"


def _struct_name(schema: Schema) -> str:
    return schema.name.rsplit(".", 1)[-1] if schema.name else ""


# ---------------------------------------------------------------------------------------------------
# unknown fields and pruning


def unknown_fields(schema: Schema, obj: Any) -> list[str]:
    """
    The paths of fields in C{obj} that C{schema} does not declare, in document order, as kube's
    strict decoder reports them: C{spec.foo}, C{spec.template.spec.containers[0].bar}.

    Fields under C{x-kubernetes-preserve-unknown-fields} (and C{RawExtension}-like objects) are never
    unknown.
    """
    out: list[str] = []
    _unknown(schema, obj, "", out)
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _unknown(schema: Schema, obj: Any, path: str, out: list[str]) -> None:
    if obj is None or schema.preserve_unknown_fields:
        return
    if isinstance(obj, dict):
        if schema.is_map:
            value_schema = schema.additional_properties
            for k, v in obj.items():
                _unknown(value_schema, v, _join(path, k), out)  # type: ignore[arg-type]
            return
        if schema.type != "object" and not schema.properties:
            return
        for k, v in obj.items():
            sub = schema.prop(k)
            if sub is None:
                out.append(_join(path, k))
            else:
                _unknown(sub, v, _join(path, k), out)
    elif isinstance(obj, list):
        items = schema.items
        if items is None:
            return
        for i, v in enumerate(obj):
            _unknown(items, v, f"{path}[{i}]", out)


def prune(schema: Schema, obj: Any) -> Any:
    """
    Drop, in place, every field C{schema} does not declare (except under
    C{x-kubernetes-preserve-unknown-fields} and in C{RawExtension}-like objects), and return C{obj}.
    """
    if obj is None or schema.preserve_unknown_fields:
        return obj
    if isinstance(obj, dict):
        if schema.is_map:
            value_schema = schema.additional_properties
            for v in obj.values():
                prune(value_schema, v)  # type: ignore[arg-type]
            return obj
        if schema.type != "object" and not schema.properties:
            return obj
        for k in list(obj):
            sub = schema.prop(k)
            if sub is None:
                del obj[k]
            else:
                prune(sub, obj[k])
    elif isinstance(obj, list):
        items = schema.items
        if items is not None:
            for v in obj:
                prune(items, v)
    return obj


def strict_decoding_message(paths: Iterable[str], duplicates: Iterable[str] = ()) -> str:
    """
    Kube's strict decoding error text:
    C{strict decoding error: unknown field "spec.foo", duplicate field "spec.replicas"}.
    """
    parts = [f'unknown field "{p}"' for p in paths]
    parts += [f'duplicate field "{p}"' for p in duplicates]
    return "strict decoding error: " + ", ".join(parts)


def unknown_field_warnings(paths: Iterable[str], duplicates: Iterable[str] = ()) -> list[str]:
    """
    The warnings kube sends (one C{Warning} header each) for C{fieldValidation=Warn}.
    """
    return [f'unknown field "{p}"' for p in paths] + [f'duplicate field "{p}"' for p in duplicates]


def cannot_handle_message(kind: str, version: str, detail: str) -> str:
    """
    Kube's 400 message for a body it cannot decode:
    C{Deployment in version "v1" cannot be handled as a Deployment: <detail>}.
    """
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'


def duplicate_fields(body: bytes) -> list[str]:
    """
    The paths of object keys repeated in the JSON text C{body} (C{spec.replicas},
    C{spec.template.spec.containers[0].name}), in document order.
    """
    import json

    dups: list[str] = []

    class _Pairs(list):
        pass

    def hook(pairs: list) -> Any:
        return _Pairs(pairs)

    try:
        tree = json.loads(body, object_pairs_hook=hook)
    except ValueError:
        return []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, _Pairs):
            seen = set()
            for k, v in node:
                p = _join(path, k)
                if k in seen:
                    dups.append(p)
                seen.add(k)
                walk(v, p)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(tree, "")
    return dups


def strict_field_errors(schema: Schema, body: bytes) -> list[str]:
    """
    Kube's strict decoding complaints about the JSON text C{body}, in document order, unknown and
    duplicate fields interleaved as kube's decoder meets them: C{duplicate field "metadata.name"},
    C{unknown field "spec.foo"}. Join them with C{", "} after C{"strict decoding error: "}.
    """
    import json

    class _Pairs(list):
        pass

    try:
        tree = json.loads(body, object_pairs_hook=_Pairs)
    except ValueError:
        return []
    out: list[str] = []

    def walk(sch: Optional[Schema], node: Any, path: str) -> None:
        if isinstance(node, _Pairs):
            if sch is not None and sch.preserve_unknown_fields:
                sch = None
            seen: set[str] = set()
            for k, v in node:
                p = _join(path, k)
                if k in seen:
                    out.append(f'duplicate field "{p}"')
                seen.add(k)
                if sch is None:
                    walk(None, v, p)
                elif sch.is_map:
                    walk(sch.additional_properties, v, p)
                elif sch.type == "object" or sch.properties:
                    sub = sch.prop(k)
                    if sub is None:
                        out.append(f'unknown field "{p}"')
                        walk(None, v, p)
                    else:
                        walk(sub, v, p)
                else:
                    walk(None, v, p)
        elif isinstance(node, list):
            items = sch.items if sch is not None else None
            for i, v in enumerate(node):
                walk(items, v, f"{path}[{i}]")

    walk(schema, tree, "")
    return out


# ---------------------------------------------------------------------------------------------------
# decoding (built-in kinds: 400)


def quantity_error(text: str) -> Optional[str]:
    """
    Kube's error for a quantity string it cannot parse, or None when C{text} is a valid quantity.
    """
    s = text.strip()
    m = _QUANTITY_RE.match(s)
    if not m:
        return _QUANTITY_FORMAT_ERROR
    number, suffix = m.group(1), m.group(2)
    try:
        float(number)
    except ValueError:
        return "unable to parse numeric part of quantity"
    if suffix in _QUANTITY_SUFFIXES:
        return None
    if re.match(r"^[eE][-+]?[0-9]+$", suffix):
        return None
    return "unable to parse quantity's suffix"


def _time_error(text: str) -> Optional[str]:
    if _RFC3339.match(text):
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            return None
        except ValueError:
            pass
    return f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse "{text}" as "2006"'


def canonical_time(text: str, micro: bool = False) -> str:
    """
    An RFC 3339 time (already checked by L{_time_error}) as kube encodes the Go value it decodes
    it into: in UTC with C{Z}, truncated to seconds (C{metav1.Time}) or to microseconds with six
    digits (C{metav1.MicroTime}). C{2024-01-02T03:04:05+00:00} becomes C{2024-01-02T03:04:05Z}.
    """
    if text.endswith("Z") and len(text) == (27 if micro else 20):
        return text  # already canonical (what kapid itself writes)
    t = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    out = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if micro:
        out += f".{t.microsecond:06d}"
    return out + "Z"


def _base64_error(text: str) -> Optional[str]:
    try:
        base64.b64decode(text, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    for i, ch in enumerate(text):
        if ch not in alphabet and ch not in "\r\n":
            return f"illegal base64 data at input byte {i}"
    stripped = text.rstrip("=")
    return f"illegal base64 data at input byte {len(stripped) - len(stripped) % 4}"


class _Decode(Exception):
    pass


def decode_error(schema: Schema, obj: Any) -> Optional[str]:
    """
    The first error kube's JSON decoder reports for C{obj} as the Go type behind C{schema}, or None.

    E.g. C{json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
    int32}. Kube answers these 400 (wrap with L{cannot_handle_message}).

    Times and quantities are rewritten in place as kube encodes the Go value it decoded
    (L{canonical_time}: UTC, C{Z}, seconds for C{metav1.Time}, microseconds for
    C{metav1.MicroTime}; L{kapid.apimachinery.quantity.canonical}: C{1000m} is C{1}), so an
    object sent back with C{+00:00} offsets equals the stored one.
    """
    try:
        _decode(schema, obj, [], _struct_name(schema))
    except _Decode as e:
        return str(e)
    return None


def _type_error(value_desc: str, stack: list[str], struct: str, schema: Schema) -> _Decode:
    if stack:
        return _Decode(
            f"json: cannot unmarshal {value_desc} into Go struct field "
            f"{struct}.{'.'.join(stack)} of type {go_type(schema)}"
        )
    return _Decode(f"json: cannot unmarshal {value_desc} into Go value of type {go_type(schema)}")


def _decode(schema: Schema, value: Any, stack: list[str], struct: str) -> Any:
    """
    Check C{value} as kube's decoder would; returns the value kube would encode again (only times
    and quantities differ), with containers rewritten in place.
    """
    if value is None:
        return value
    if schema.name == _QUANTITY:
        text = value if isinstance(value, str) else str(value).lower()
        if isinstance(value, (list, dict)):
            raise _Decode(_QUANTITY_FORMAT_ERROR)
        err = quantity_error(text)
        if err:
            raise _Decode(err)
        return canonical_quantity(text)
    if schema.int_or_string:
        if isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Decode(f"json: cannot unmarshal {_json_type(value)} into Go value of type int32")
        if isinstance(value, float) and not value.is_integer():
            raise _Decode(f"json: cannot unmarshal number {value!r} into Go value of type int32")
        lo, hi = _INT_RANGES["int32"]
        if not lo <= int(value) <= hi:
            raise _Decode(f"json: cannot unmarshal number {int(value)} into Go value of type int32")
        return value
    if schema.preserve_unknown_fields and not schema.properties:
        return value
    t = schema.type
    if t == "":
        return value
    if t == "string":
        if not isinstance(value, str):
            if schema.format == "date-time":
                raise _Decode(
                    f"json: cannot unmarshal {_json_type(value)} into Go value of type string"
                )
            raise _type_error(_json_type(value), stack, struct, schema)
        if schema.format == "date-time":
            err = _time_error(value)
            if err:
                raise _Decode(err)
            return canonical_time(value, schema.name == _MICRO_TIME)
        elif schema.format == "byte":
            err = _base64_error(value)
            if err:
                raise _Decode(err)
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(_json_type(value), stack, struct, schema)
        if isinstance(value, float):
            raise _type_error(f"number {value!r}", stack, struct, schema)
        lo, hi = _INT_RANGES.get(schema.format or "int64", _INT_RANGES["int64"])
        if not lo <= value <= hi:
            raise _type_error(f"number {value}", stack, struct, schema)
        return value
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(_json_type(value), stack, struct, schema)
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            raise _type_error(_json_type(value), stack, struct, schema)
        return value
    if t == "array":
        if not isinstance(value, list):
            raise _type_error(_json_type(value), stack, struct, schema)
        items = schema.items
        if items is not None:
            for i, v in enumerate(value):
                out = _decode(items, v, stack, struct)
                if out is not v:
                    value[i] = out
        return value
    if t == "object":
        if not isinstance(value, dict):
            raise _type_error(_json_type(value), stack, struct, schema)
        if schema.is_map:
            vs = schema.additional_properties
            for k, v in value.items():
                out = _decode(vs, v, stack, struct)  # type: ignore[arg-type]
                if out is not v:
                    value[k] = out
            return value
        inner = _struct_name(schema) or struct
        for k, v in value.items():
            sub = schema.prop(k)
            if sub is not None:
                out = _decode(sub, v, stack + [k], inner)
                if out is not v:
                    value[k] = out
        return value
    return value


# ---------------------------------------------------------------------------------------------------
# schema defaults (custom resources)


def apply_schema_defaults(schema: Schema, obj: Any) -> Any:
    """
    Fill, in place, the C{default}s a structural schema declares for absent properties (kube's
    CRD defaulting on decode), at every depth including map values and list items; returns C{obj}.
    """
    import copy

    if isinstance(obj, dict):
        if schema.is_map:
            vs = schema.additional_properties
            for v in obj.values():
                apply_schema_defaults(vs, v)  # type: ignore[arg-type]
            return obj
        for name, sub in schema.iter_properties():
            if name not in obj and "default" in sub.node:
                obj[name] = copy.deepcopy(sub.node["default"])
            if name in obj:
                apply_schema_defaults(sub, obj[name])
    elif isinstance(obj, list):
        items = schema.items
        if items is not None:
            for v in obj:
                apply_schema_defaults(items, v)
    return obj


# ---------------------------------------------------------------------------------------------------
# schema validation (custom resources: 422)


def validate_schema(schema: Schema, obj: Any, path: str = "") -> list[FieldError]:
    """
    Validate C{obj} against C{schema} as kube validates custom resources (OpenAPI v3 rules: types
    including int-or-string, formats int32/int64/date-time/byte, enum, required, min/max, lengths,
    item counts, pattern), with kube's field paths and messages.

    Built-in kinds are checked by L{decode_error} (400) and the validation code (422) instead.
    """
    out: list[FieldError] = []
    _validate(schema, obj, path, out)
    return out


def _body_path(path: str) -> str:
    return path or "body"


def _validate(schema: Schema, value: Any, path: str, out: list[FieldError]) -> None:
    node = schema.node
    if value is None:
        if node.get("nullable") or isinstance(node.get("type"), list) and "null" in node["type"]:
            return
        if schema.type:
            out.append(
                field.invalid(
                    path, None, f"{_body_path(path)} in body must be of type {schema.type}: \"null\""
                )
            )
        return
    if schema.int_or_string:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            out.append(
                field.invalid(
                    path,
                    _schema_type(value),
                    f"{_body_path(path)} in body must be of type integer,string: "
                    f"\"{_schema_type(value)}\"",
                )
            )
        return
    t = schema.type
    actual = _schema_type(value)
    if t:
        ok = actual == t or (t == "number" and actual == "integer")
        if t == "integer" and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            out.append(
                field.invalid(
                    path, actual, f"{_body_path(path)} in body must be of type {t}: \"{actual}\""
                )
            )
            return
    enum = schema.enum
    if enum is not None and value not in enum:
        out.append(field.not_supported(path, value, [str(e) for e in enum]))
    if t in ("integer", "number"):
        fmt = schema.format
        if fmt in _INT_RANGES:
            lo, hi = _INT_RANGES[fmt]
            if not lo <= value <= hi:
                out.append(
                    field.invalid(
                        path, value, f"{_body_path(path)} in body must be of type {fmt}: \"{value}\""
                    )
                )
        if "maximum" in node:
            mx = node["maximum"]
            if value > mx or (node.get("exclusiveMaximum") and value == mx):
                rel = "less than" if node.get("exclusiveMaximum") else "less than or equal to"
                out.append(
                    field.invalid(path, value, f"{_body_path(path)} in body should be {rel} {mx}")
                )
        if "minimum" in node:
            mn = node["minimum"]
            if value < mn or (node.get("exclusiveMinimum") and value == mn):
                rel = "greater than" if node.get("exclusiveMinimum") else "greater than or equal to"
                out.append(
                    field.invalid(path, value, f"{_body_path(path)} in body should be {rel} {mn}")
                )
    elif t == "string":
        fmt = schema.format
        if fmt == "date-time" and _time_error(value):
            out.append(
                field.invalid(
                    path, value, f"{_body_path(path)} in body must be of type date-time: \"{value}\""
                )
            )
        elif fmt == "byte" and _base64_error(value):
            out.append(
                field.invalid(
                    path, value, f"{_body_path(path)} in body must be of type byte: \"{value}\""
                )
            )
        if "maxLength" in node and len(value) > node["maxLength"]:
            out.append(field.too_long(path, node["maxLength"]))
        if "minLength" in node and len(value) < node["minLength"]:
            out.append(
                field.invalid(
                    path,
                    value,
                    f"{_body_path(path)} in body should be at least {node['minLength']} chars long",
                )
            )
        if "pattern" in node and not re.search(node["pattern"], value):
            out.append(
                field.invalid(
                    path, value, f"{_body_path(path)} in body should match '{node['pattern']}'"
                )
            )
    elif t == "array":
        if "maxItems" in node and len(value) > node["maxItems"]:
            out.append(
                FieldError(
                    "too_many", path, len(value), f"must have at most {node['maxItems']} items"
                )
            )
        if "minItems" in node and len(value) < node["minItems"]:
            out.append(
                field.invalid(
                    path,
                    len(value),
                    f"{_body_path(path)} in body should have at least {node['minItems']} items",
                )
            )
        items = schema.items
        if items is not None:
            for i, v in enumerate(value):
                _validate(items, v, f"{path}[{i}]", out)
    elif isinstance(value, dict):
        for req in schema.required:
            if req not in value:
                out.append(field.required(_join(path, req)))
        if schema.is_map:
            vs = schema.additional_properties
            for k, v in value.items():
                _validate(vs, v, f"{path}[{k}]", out)  # type: ignore[arg-type]
        for k, v in value.items():
            sub = schema.prop(k)
            if sub is not None:
                _validate(sub, v, _join(path, k), out)
