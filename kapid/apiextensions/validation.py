"""
Defaulting and validation of C{apiextensions.k8s.io/v1} CustomResourceDefinitions, as kube's
apiextensions-apiserver does them (C{pkg/apis/apiextensions/v1/defaults.go},
C{pkg/apis/apiextensions/validation/validation.go}, C{pkg/apiserver/schema/validation.go} and
C{complete.go} for structural schemas, C{pkg/apiserver/schema/defaulting/validation.go} for defaults).

kube validates the I{internal} form of a CRD, which its v1 decoder builds by lifting a per-version
field that is the same in every version (C{schema}, C{subresources}, C{additionalPrinterColumns},
C{selectableFields}) to the top of the spec. Its field paths follow that form: a CRD whose versions
share one schema (every single-version CRD) is reported under C{spec.validation.openAPIV3Schema...},
shared subresources under C{spec.subresources}, shared columns under C{spec.additionalPrinterColumns},
and the conversion webhook under C{spec.conversion.webhookClientConfig}. L{_Internal} gives the same
view here, so causes read exactly as kube-apiserver's.

What is left to others: the ObjectMeta checks kube runs on
C{default}s inside embedded resources' metadata, and the CA bundle check is a PEM sniff rather than
Go's certificate parser.
"""

from __future__ import annotations

import copy
import re
import urllib.parse
from typing import Any, Callable, Optional

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError, GoValue
from kapid.apimachinery.meta import dns1035_label_errors, dns1123_subdomain_errors

#: The annotation protected groups (C{*.k8s.io}, C{*.kubernetes.io}) need.
API_APPROVED_ANNOTATION = "api-approved.kubernetes.io"

_PRINTER_TYPES = ("boolean", "date", "integer", "number", "string")
_PRINTER_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "password")
_OPENAPI_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_REVIEW_VERSIONS = ("v1", "v1beta1")
_RULE_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")
_META_FIELDS = ("metadata", "kind", "apiVersion")
_MAX_SELECTABLE_FIELDS = 8

#: The keys of a v1 JSONSchemaProps; others are dropped when kube decodes a CRD.
_SCHEMA_KEYS = frozenset(
    (
        "id", "$schema", "$ref", "description", "type", "format", "title", "default", "maximum",
        "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
        "maxItems", "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties",
        "required", "items", "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties",
        "patternProperties", "dependencies", "additionalItems", "definitions", "externalDocs",
        "example", "nullable", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string", "x-kubernetes-list-map-keys", "x-kubernetes-list-type",
        "x-kubernetes-map-type", "x-kubernetes-validations",
    )
)

#: The JSONSchemaProps fields allowed at the root of a schema when the status subresource is on,
#: by their JSON names (kube lists the Go names).
_ROOT_ALLOWED = (
    "description", "type", "format", "title", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "multipleOf", "required", "items", "properties", "externalDocs", "example",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations",
)
_ROOT_ALLOWED_GO = (
    "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength "
    "MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs "
    "Example XPreserveUnknownFields XValidations]"
)


# ---------------------------------------------------------------------------------------------------
# small helpers


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _p(base: str, *parts: Any) -> str:
    """
    Extend a field path: strings are children, ints indices, one-element lists map keys.
    """
    return field.path(base, *parts) if base else field.path(*parts)


def _key(k: str) -> list:
    return [k]


def go_repr(value: Any) -> str:
    """
    A decoded JSON value as Go's C{%#v} prints the C{interface{}} it decodes to.
    """
    if value is None:
        return "interface {}(nil)"
    return _go_inner(value)


def _go_inner(value: Any) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{_go_str(k)}:{_go_elem(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_elem(v) for v in value) + "}"
    return _go_elem(value)


def _go_elem(value: Any) -> str:
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, str):
        return _go_str(value)
    return _go_inner(value)


def _go_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_strings(values: Any) -> GoValue:
    """
    A C{[]string} as C{%#v} prints it (C{[]string(nil)} when absent, C{[]string{}} when empty).
    """
    if not isinstance(values, list):
        return GoValue("[]string(nil)")
    return GoValue("[]string{" + ", ".join(_go_str(str(v)) for v in values) + "}")


def _value(v: Any) -> Any:
    """
    A bad value for a L{FieldError}: strings, numbers and booleans as they are; other JSON values
    in Go's C{%#v} form.
    """
    if v is None:
        return "null"  # kube prints a nil value as the string "null"
    if isinstance(v, (dict, list)):
        return GoValue(go_repr(v))
    return v


_PTR = "0xc000000000"


def _versions_value(versions: list[dict], is_list: bool = True) -> GoValue:
    """
    The internal C{[]CustomResourceDefinitionVersion} as C{%#v} prints it (pointers print as
    addresses in Go; one fixed address stands for them here).
    """

    def ptr(t: str, present: bool) -> str:
        return f"(*{t})({_PTR})" if present else f"(*{t})(nil)"

    def cols(cs: Any) -> str:
        if not cs:
            return "[]apiextensions.CustomResourceColumnDefinition(nil)"
        items = []
        for c in _l(cs):
            c = _d(c)
            items.append(
                "apiextensions.CustomResourceColumnDefinition{"
                f"Name:{_go_str(_s(c.get('name')))}, Type:{_go_str(_s(c.get('type')))}, "
                f"Format:{_go_str(_s(c.get('format')))}, Description:{_go_str(_s(c.get('description')))}, "
                f"Priority:{int(c.get('priority') or 0)}, JSONPath:{_go_str(_s(c.get('jsonPath')))}}}"
            )
        return "[]apiextensions.CustomResourceColumnDefinition{" + ", ".join(items) + "}"

    def sels(fs: Any) -> str:
        if not fs:
            return "[]apiextensions.SelectableField(nil)"
        items = [f"apiextensions.SelectableField{{JSONPath:{_go_str(_s(_d(f).get('jsonPath')))}}}" for f in _l(fs)]
        return "[]apiextensions.SelectableField{" + ", ".join(items) + "}"

    parts = []
    for v in versions:
        parts.append(
            "apiextensions.CustomResourceDefinitionVersion{"
            f"Name:{_go_str(_s(v.get('name')))}, Served:{'true' if v.get('served') else 'false'}, "
            f"Storage:{'true' if v.get('storage') else 'false'}, "
            f"Deprecated:{'true' if v.get('deprecated') else 'false'}, "
            f"DeprecationWarning:{ptr('string', v.get('deprecationWarning') is not None)}, "
            f"Schema:{ptr('apiextensions.CustomResourceValidation', v.get('schema') is not None)}, "
            f"Subresources:{ptr('apiextensions.CustomResourceSubresources', v.get('subresources') is not None)}, "
            f"AdditionalPrinterColumns:{cols(v.get('additionalPrinterColumns'))}, "
            f"SelectableFields:{sels(v.get('selectableFields'))}}}"
        )
    if not versions:
        return GoValue("[]apiextensions.CustomResourceDefinitionVersion{}" if is_list
                       else "[]apiextensions.CustomResourceDefinitionVersion(nil)")
    return GoValue("[]apiextensions.CustomResourceDefinitionVersion{" + ", ".join(parts) + "}")


# ---------------------------------------------------------------------------------------------------
# defaults


def set_crd_defaults(crd: dict) -> None:
    """
    kube's C{SetObjectDefaults_CustomResourceDefinition} for v1, in place: C{names.singular} (the
    lower-cased kind), C{names.listKind} (the kind and C{List}), C{conversion.strategy: None},
    a webhook service's C{port: 443}, and C{status.storedVersions} (the storage version) when empty.
    """
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        spec = crd["spec"] = {}
    names = spec.get("names")
    if not isinstance(names, dict):
        names = spec["names"] = {}
    kind = _s(names.get("kind"))
    if not names.get("singular"):
        names["singular"] = kind.lower()
    if not names.get("listKind") and kind:
        names["listKind"] = kind + "List"
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}
    service = _d(_d(_d(_d(spec.get("conversion")).get("webhook")).get("clientConfig")).get("service"))
    if service and service.get("port") is None:
        service["port"] = 443
    status = crd.get("status")
    if not _l(_d(status).get("storedVersions")):
        for v in _l(spec.get("versions")):
            if _d(v).get("storage"):
                if not isinstance(status, dict):
                    status = crd["status"] = {}
                status["storedVersions"] = [v.get("name") or ""]
                break


# ---------------------------------------------------------------------------------------------------
# the internal view


#: Keys whose values are Go maps (an empty one equals an absent one); other objects are structs
#: behind pointers, where empty and absent differ.
_MAP_KEYS = frozenset(("properties", "patternProperties", "definitions", "dependencies"))
#: Keys of Go pointers to scalars (false/0/"" differ from absent) besides JSONSchemaProps' own.
_SCALAR_POINTER_KEYS = frozenset(("deprecationWarning", "labelSelectorPath", "reason", "optionalOldSelf"))


def _zero(key: str, v: Any) -> bool:
    """
    Whether C{v}, the value of C{key}, is what Go decodes an absent field to.
    """
    if v is None:
        return True
    if isinstance(v, list):
        return not v
    if isinstance(v, dict):
        return not v and key in _MAP_KEYS
    if key in _POINTER_KEYS or key in _SCALAR_POINTER_KEYS:
        return False
    return v is False or v == "" or (v == 0 and not isinstance(v, bool))


def semantic_equal(a: Any, b: Any, key: str = "") -> bool:
    """
    Go's C{equality.Semantic.DeepEqual} of two decoded v1 CRD values: absent, null and Go's zero
    values alike, empty slices and maps like absent ones, empty structs not.
    """
    if a == b:
        return True
    if _zero(key, a) and _zero(key, b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() | b.keys():
            if not semantic_equal(a.get(k), b.get(k), "" if key in _MAP_KEYS else k):
                return False
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(semantic_equal(x, y, key) for x, y in zip(a, b))
    return False


class _Internal:
    """
    The internal form of a v1 spec: per-version fields identical in every version lifted to the top.

    @ivar versions: the versions, each without its lifted fields.
    @ivar validation, subresources, columns, selectable: the lifted values (None when not lifted).
    """

    _LIFTED = (
        ("schema", "validation"),
        ("subresources", "subresources"),
        ("additionalPrinterColumns", "columns"),
        ("selectableFields", "selectable"),
    )

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        raw = [_d(v) for v in _l(spec.get("versions"))]
        self.versions = [dict(v) for v in raw]
        self.validation: Any = None
        self.subresources: Any = None
        self.columns: Any = None
        self.selectable: Any = None
        if not raw:
            return
        for key, attr_name in self._LIFTED:
            first = raw[0].get(key)
            if all(semantic_equal(v.get(key), first, key) for v in raw[1:]):
                setattr(self, attr_name, raw[0].get(key))
                for v in self.versions:
                    v.pop(key, None)

    @property
    def version(self) -> str:
        return _s(self.versions[0].get("name")) if self.versions else ""


def _internal(crd: dict) -> _Internal:
    return _Internal(_d(crd.get("spec")))


def _schemas(internal: _Internal) -> list[dict]:
    """
    Every C{openAPIV3Schema} of a spec (the top-level one, then per version).
    """
    out = []
    top = _d(internal.validation).get("openAPIV3Schema")
    if isinstance(top, dict):
        out.append(top)
    for v in internal.versions:
        s = _d(v.get("schema")).get("openAPIV3Schema")
        if isinstance(s, dict):
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------------------
# schema walking


_CHILD_LISTS = ("allOf", "anyOf", "oneOf")
_CHILD_MAPS = ("properties", "patternProperties", "definitions", "dependencies")
_CHILD_ONE = ("not", "additionalProperties", "additionalItems")


def _children(s: dict) -> list[dict]:
    """
    Every sub-schema of a JSONSchemaProps.
    """
    out: list[dict] = []
    items = s.get("items")
    if isinstance(items, dict):
        out.append(items)
    elif isinstance(items, list):
        out.extend(x for x in items if isinstance(x, dict))
    for k in _CHILD_LISTS:
        v = s.get(k)
        if v:
            out.extend(x for x in v if isinstance(x, dict))
    for k in _CHILD_ONE:
        v = s.get(k)
        if isinstance(v, dict):
            out.append(v)
    for k in _CHILD_MAPS:
        v = s.get(k)
        if v and isinstance(v, dict):
            out.extend(x for x in v.values() if isinstance(x, dict))
    return out


def schema_has(s: Any, pred: Callable[[dict], bool]) -> bool:
    """
    Whether C{pred} holds for C{s} or any schema inside it.
    """
    if not isinstance(s, dict):
        return False
    stack = [s]
    while stack:
        node = stack.pop()
        if pred(node):
            return True
        stack.extend(_children(node))
    return False


class _Facts:
    """
    What kube's C{SchemaHas} predicates find in one schema, from a single walk: defaults,
    Kubernetes extensions, rules, types outside OpenAPI's, non-atomic set items, map/set lists
    breaking the key rules.
    """

    __slots__ = ("defaults", "extensions", "invalid_type", "non_atomic_set", "bad_map_list")

    def __init__(self, schema: Any) -> None:
        self.defaults = self.extensions = self.invalid_type = False
        self.non_atomic_set = self.bad_map_list = False
        if not isinstance(schema, dict):
            return
        stack = [schema]
        while stack:
            n = stack.pop()
            if not self.defaults and n.get("default") is not None:
                self.defaults = True
            if not self.extensions and _has_extensions(n):
                self.extensions = True
            t = n.get("type")
            if isinstance(t, str) and t and t not in _OPENAPI_TYPES:
                self.invalid_type = True
            if n.get("x-kubernetes-list-type") is not None:
                if _non_atomic_set(n):
                    self.non_atomic_set = True
                if _map_list_keys_map_set(n, ""):
                    self.bad_map_list = True
            stack.extend(_children(n))


def _has_extensions(s: dict) -> bool:
    return bool(
        s.get("x-kubernetes-embedded-resource")
        or s.get("x-kubernetes-preserve-unknown-fields") is not None
        or s.get("x-kubernetes-int-or-string")
        or s.get("x-kubernetes-list-map-keys")
        or s.get("x-kubernetes-list-type") is not None
        or s.get("x-kubernetes-validations")
    )


def _ap(s: dict) -> tuple[bool, Optional[dict]]:
    """
    C{additionalProperties} as kube's JSONSchemaPropsOrBool: C{(present, schema)}; present with no
    schema means a boolean (see L{_ap_allows}).
    """
    ap = s.get("additionalProperties")
    if ap is None:
        return False, None
    if isinstance(ap, dict):
        return True, ap
    return True, None


def _ap_allows(s: dict) -> bool:
    ap = s.get("additionalProperties")
    return isinstance(ap, dict) or ap is True


# ---------------------------------------------------------------------------------------------------
# structural schemas (pkg/apiserver/schema)


def _unsupported(s: dict) -> Optional[str]:
    if s.get("id"):
        return "OpenAPIV3Schema 'id' is not supported"
    if s.get("$schema"):
        return "OpenAPIV3Schema 'schema' is not supported"
    if s.get("$ref"):
        return "OpenAPIV3Schema '$ref' is not supported"
    if s.get("patternProperties"):
        return "OpenAPIV3Schema 'patternProperties' is not supported"
    if s.get("dependencies"):
        return "OpenAPIV3Schema 'dependencies' is not supported"
    if s.get("additionalItems") is not None:
        return "OpenAPIV3Schema 'additionalItems' is not supported"
    if s.get("definitions"):
        return "OpenAPIV3Schema 'definitions' is not supported"
    return None


def _value_validation_error(s: dict) -> Optional[str]:
    for sub in ([s["not"]] if isinstance(s.get("not"), dict) else []) + [
        x for k in ("allOf", "anyOf", "oneOf") for x in _l(s.get(k)) if isinstance(x, dict)
    ]:
        err = new_structural_error(sub)
        if err:
            return err
    return None


def _extensions_error(s: dict) -> Optional[str]:
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    return None


def _items_error(s: dict, recurse: Callable[[dict], Optional[str]]) -> Optional[str]:
    items = s.get("items")
    if isinstance(items, list):
        return "OpenAPIV3Schema 'items' must be a schema, but is an array" if items else None
    if isinstance(items, dict):
        return recurse(items)
    return None


def new_structural_error(s: dict) -> Optional[str]:
    """
    Why kube's C{NewStructural} cannot build a structural schema from C{s}, or None.
    """
    err = _unsupported(s) or _value_validation_error(s) or _extensions_error(s)
    if err:
        return err
    err = _items_error(s, new_structural_error)
    if err:
        return err
    for _, sub in sorted(_d(s.get("properties")).items()):
        if isinstance(sub, dict):
            err = new_structural_error(sub)
            if err:
                return err
    _, ap = _ap(s)
    if ap is not None:
        return new_structural_error(ap)
    return None


_ROOT, _ITEM, _FIELD = 0, 1, 2


def _only_type(node: Any, t: str) -> bool:
    return isinstance(node, dict) and {
        k: v for k, v in node.items() if k in _SCHEMA_KEYS and not _zero(k, v)
    } == {"type": t}


def _int_or_string_anyof(anyof: Any) -> bool:
    a = _l(anyof)
    return len(a) == 2 and _only_type(a[0], "integer") and _only_type(a[1], "string")


def _invariants(s: dict, lvl: int, path: str, out: list[FieldError]) -> None:
    t = _s(s.get("type"))
    if t == "array" and not isinstance(s.get("items"), dict):
        out.append(field.required(_p(path, "items"), "must be specified"))
    if isinstance(s.get("items"), dict):
        _invariants(s["items"], _ITEM, _p(path, "items"), out)
    props = _d(s.get("properties"))
    for k, sub in sorted(props.items()):
        if isinstance(sub, dict):
            _invariants(sub, _FIELD, _p(path, "properties", _key(k)), out)
    present, ap = _ap(s)
    if present:
        if lvl == _ROOT:
            out.append(field.forbidden(_p(path, "additionalProperties"), "must not be used at the root"))
        if ap is not None:
            _invariants(ap, _FIELD, _p(path, "additionalProperties"), out)
    ios = bool(s.get("x-kubernetes-int-or-string"))
    puf = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    if ios and puf:
        out.append(field.invalid(_p(path, "x-kubernetes-preserve-unknown-fields"), True,
                                 "must be false if x-kubernetes-int-or-string is true"))
    if ios and embedded:
        out.append(field.invalid(_p(path, "x-kubernetes-embedded-resource"), True,
                                 "must be false if x-kubernetes-int-or-string is true"))
    skip_anyof = _int_or_string_anyof(s.get("anyOf"))
    allof = _l(s.get("allOf"))
    skip_first = bool(allof) and isinstance(allof[0], dict) and _int_or_string_anyof(allof[0].get("anyOf"))
    _value_validation(s, skip_anyof, skip_first, lvl, path, out)
    check_meta = lvl == _ROOT or embedded
    if embedded and t != "object":
        if not t:
            out.append(field.required(_p(path, "type"), "must be object if x-kubernetes-embedded-resource is true"))
        else:
            out.append(field.invalid(_p(path, "type"), t, "must be object if x-kubernetes-embedded-resource is true"))
    elif not t and not ios and not puf:
        detail = {
            _ROOT: "must not be empty at the root",
            _ITEM: "must not be empty for specified array items",
            _FIELD: "must not be empty for specified object fields",
        }[lvl]
        out.append(field.required(_p(path, "type"), detail))
    if embedded and present:
        out.append(field.forbidden(_p(path, "additionalProperties"),
                                   "must not be used if x-kubernetes-embedded-resource is set"))
    if lvl == _ROOT and t and t != "object":
        out.append(field.invalid(_p(path, "type"), t, "must be object at the root"))
    for name in ("kind", "apiVersion"):
        if name in props and check_meta and isinstance(props[name], dict):
            pt = _s(props[name].get("type"))
            if pt != "string":
                out.append(field.invalid(_p(path, "properties", _key(name), "type"), pt, "must be string"))
    if isinstance(props.get("metadata"), dict):
        _metadata_invariants(props["metadata"], check_meta, lvl, _p(path, "properties", _key("metadata")), out)
    if embedded and not puf and not props:
        out.append(field.required(
            _p(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ))


def _metadata_invariants(s: dict, check_meta: bool, lvl: int, path: str, out: list[FieldError]) -> None:
    t = _s(s.get("type"))
    if check_meta and t != "object":
        out.append(field.invalid(_p(path, "type"), t, "must be object"))
    if lvl != _ROOT:
        return
    # what kube's Structural keeps of a schema, less the type and default it ignores here
    rest = {k: v for k, v in s.items() if k in _SCHEMA_KEYS and k not in ("type", "default", "example", "externalDocs")}
    props = _d(rest.get("properties"))
    names = set(props)
    if names and names <= {"name", "generateName"}:
        rest.pop("properties", None)
    # zero values are what Go's comparison with an empty Structural ignores
    rest = {k: v for k, v in rest.items() if v not in (None, False, "", 0, [], {})}
    if rest:
        out.append(field.forbidden(
            path, "must not specify anything other than name and generateName, but metadata is implicitly specified"
        ))


def _value_validation(s: dict, skip_anyof: bool, skip_first_allof_anyof: bool, lvl: int, path: str,
                      out: list[FieldError]) -> None:
    if not skip_anyof:
        for i, sub in enumerate(_l(s.get("anyOf"))):
            if isinstance(sub, dict):
                _nested(sub, False, lvl, _p(path, "anyOf", i), out)
    for i, sub in enumerate(_l(s.get("allOf"))):
        if isinstance(sub, dict):
            _nested(sub, skip_first_allof_anyof and i == 0, lvl, _p(path, "allOf", i), out)
    for i, sub in enumerate(_l(s.get("oneOf"))):
        if isinstance(sub, dict):
            _nested(sub, False, lvl, _p(path, "oneOf", i), out)
    if isinstance(s.get("not"), dict):
        _nested(s["not"], False, lvl, _p(path, "not"), out)
    pattern = s.get("pattern")
    if isinstance(pattern, str) and pattern:
        err = regexp_error(pattern)
        if err:
            out.append(field.invalid(_p(path, "pattern"), pattern,
                                     f"must be a valid regular expression, but isn't: {err}"))


#: RE2 syntax Python's C{re} lacks, replaced by something of the same shape before compiling.
_RE2_ONLY = re.compile(r"\\[pP](\{[^}]*\}|[A-Za-z])|\[:\^?[a-z]+:\]|\\z|\\C")
#: Python's C{re} messages and Go's C{regexp} ones for the common mistakes.
_GO_RE_MESSAGES = (
    ("missing ), unterminated subpattern", "missing closing )"),
    ("unbalanced parenthesis", "unexpected )"),
    ("unterminated character set", "missing closing ]"),
    ("nothing to repeat", "missing argument to repetition operator"),
    ("multiple repeat", "invalid nested repetition operator"),
    ("bad escape", "invalid escape sequence"),
    ("bad character range", "invalid character class range"),
)


def _outside_classes(pattern: str) -> str:
    """
    C{pattern} without its bracket expressions and escaped characters (each replaced by C{a}), for
    looking at its operators.
    """
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append("a")
            i += 2
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append("a")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def regexp_error(pattern: str) -> Optional[str]:
    """
    Why C{pattern} is not a valid Go (RE2) regular expression, in Go's words as near as Python's
    C{re} can tell (RE2-only classes such as C{\\p{L}} and C{[[:alpha:]]} are accepted), or None.
    """
    bare = _outside_classes(pattern)
    perl = re.search(r"\(\?[=!>]|\(\?<[=!]", bare)
    if perl:
        return f"error parsing regexp: invalid or unsupported Perl syntax: `{perl.group(0)[:3]}`"
    possessive = re.search(r"[*+?}][+]", bare)
    if possessive:
        return f"error parsing regexp: invalid nested repetition operator: `{possessive.group(0)}`"
    i = pattern.find("\\")
    while i != -1 and i + 1 < len(pattern):
        if pattern[i + 1] in "123456789":
            return f"error parsing regexp: invalid escape sequence: `{pattern[i:i + 2]}`"
        i = pattern.find("\\", i + 2)
    import warnings

    candidate = _RE2_ONLY.sub("a", pattern).replace("(?<", "(?P<")  # Go also names groups (?<name>...)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(candidate)
    except re.error as e:
        msg = e.msg
        for py, go in _GO_RE_MESSAGES:
            if msg.startswith(py):
                msg = go
                break
        return f"error parsing regexp: {msg}: `{pattern}`"
    return None


def _nested(s: dict, skip_anyof: bool, lvl: int, path: str, out: list[FieldError]) -> None:
    _value_validation(s, skip_anyof, False, lvl, path, out)
    if isinstance(s.get("items"), dict):
        _nested(s["items"], False, lvl, _p(path, "items"), out)
    for k, sub in sorted(_d(s.get("properties")).items()):
        if isinstance(sub, dict):
            _nested(sub, False, _FIELD, _p(path, "properties", _key(k)), out)
    if s.get("type"):
        out.append(field.forbidden(_p(path, "type"), "must be empty to be structural"))
    ap = s.get("additionalProperties")
    if isinstance(ap, dict) or ap is True:
        out.append(field.forbidden(_p(path, "additionalProperties"), "must be undefined to be structural"))
    if s.get("default") is not None:
        out.append(field.forbidden(_p(path, "default"), "must be undefined to be structural"))
    if s.get("title"):
        out.append(field.forbidden(_p(path, "title"), "must be empty to be structural"))
    if s.get("description"):
        out.append(field.forbidden(_p(path, "description"), "must be empty to be structural"))
    if s.get("nullable"):
        out.append(field.forbidden(_p(path, "nullable"), "must be false to be structural"))
    if s.get("x-kubernetes-preserve-unknown-fields"):
        out.append(field.forbidden(_p(path, "x-kubernetes-preserve-unknown-fields"), "must be false to be structural"))
    if s.get("x-kubernetes-embedded-resource"):
        out.append(field.forbidden(_p(path, "x-kubernetes-embedded-resource"), "must be false to be structural"))
    if s.get("x-kubernetes-int-or-string"):
        out.append(field.forbidden(_p(path, "x-kubernetes-int-or-string"), "must be false to be structural"))
    if s.get("x-kubernetes-list-map-keys"):
        out.append(field.forbidden(_p(path, "x-kubernetes-list-map-keys"), "must be empty to be structural"))
    if s.get("x-kubernetes-list-type") is not None:
        out.append(field.forbidden(_p(path, "x-kubernetes-list-type"), "must be undefined to be structural"))
    if s.get("x-kubernetes-map-type") is not None:
        out.append(field.forbidden(_p(path, "x-kubernetes-map-type"), "must be undefined to be structural"))
    if s.get("x-kubernetes-validations"):
        out.append(field.forbidden(_p(path, "x-kubernetes-validations"), "must be empty to be structural"))
    if "metadata" in _d(s.get("properties")):
        out.append(field.forbidden(_p(path, "properties", _key("metadata")), "must not be specified in a nested context"))


def _completeness(s: dict, path: str, out: list[FieldError]) -> None:
    _vv_complete(s, s, path, path, out)


def _vv_complete(v: dict, s: Optional[dict], s_path: str, v_path: str, out: list[FieldError]) -> None:
    if s is None:
        out.append(field.required(s_path, f"because it is defined in {v_path}"))
        return
    if isinstance(v.get("not"), dict):
        _nested_complete(v["not"], s, s_path, _p(v_path, "not"), out)
    for k in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(_l(v.get(k))):
            if isinstance(sub, dict):
                _nested_complete(sub, s, s_path, _p(v_path, k, i), out)


def _nested_complete(v: dict, s: Optional[dict], s_path: str, v_path: str, out: list[FieldError]) -> None:
    if s is None:
        out.append(field.required(s_path, f"because it is defined in {v_path}"))
        return
    _vv_complete(v, s, s_path, v_path, out)
    if isinstance(v.get("items"), dict):
        items = s.get("items") if isinstance(s.get("items"), dict) else None
        _nested_complete(v["items"], items, _p(s_path, "items"), _p(v_path, "items"), out)
    s_props = _d(s.get("properties"))
    for k, sub in sorted(_d(v.get("properties")).items()):
        if not isinstance(sub, dict):
            continue
        if k not in s_props or not isinstance(s_props[k], dict):
            out.append(field.required(
                _p(s_path, "properties", _key(k)),
                f"because it is defined in {_p(v_path, 'properties', _key(k))}",
            ))
        else:
            _nested_complete(sub, s_props[k], _p(s_path, "properties", _key(k)), _p(v_path, "properties", _key(k)), out)


def structural_errors(schema: dict, path: str) -> list[FieldError]:
    """
    Why C{schema} (an C{openAPIV3Schema}) is not structural: kube's C{NewStructural} failure as one
    C{Invalid} error at C{path} (see L{new_structural_error}), else kube's C{ValidateStructural}
    errors, sorted by their text as kube sorts them. C{[]} for a structural schema.
    """
    err = new_structural_error(schema)
    if err:
        return [field.invalid(path, "", err)]
    return _validate_structural(schema, path)


def _validate_structural(schema: dict, path: str) -> list[FieldError]:
    """
    kube's C{ValidateStructural} of a schema C{NewStructural} accepts.
    """
    out: list[FieldError] = []
    _invariants(schema, _ROOT, path, out)
    _completeness(schema, path, out)
    out.sort(key=str)
    return out


def is_structural(schema: dict) -> bool:
    """
    Whether C{schema} is a structural schema.
    """
    return new_structural_error(schema) is None and not _validate_structural(schema, "")


# ---------------------------------------------------------------------------------------------------
# defaults inside schemas (pkg/apiserver/schema/defaulting/validation.go)


def prune(value: Any, s: Optional[dict], is_resource_root: bool) -> Any:
    """
    kube's C{pruning.Prune} of one value against a structural schema: a copy without the fields the
    schema does not specify (C{apiVersion}, C{kind} and C{metadata} kept at a resource's root,
    everything kept under C{x-kubernetes-preserve-unknown-fields}).
    """
    value = copy.deepcopy(value)
    _prune(value, s, is_resource_root)
    return value


def _prune(value: Any, s: Optional[dict], root: bool) -> None:
    if s is None:
        return
    if isinstance(value, dict):
        props = _d(s.get("properties"))
        embedded = bool(s.get("x-kubernetes-embedded-resource"))
        keep_meta = root or embedded
        _, ap = _ap(s)
        puf = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        for k in list(value):
            if keep_meta and k in ("apiVersion", "kind"):
                continue
            if keep_meta and k == "metadata":
                if isinstance(props.get("metadata"), dict):
                    _prune(value[k], props["metadata"], False)
                continue
            if k in props and isinstance(props[k], dict):
                _prune(value[k], props[k], False)
            elif ap is not None:
                _prune(value[k], ap, False)
            elif _ap_allows(s) or puf:
                continue
            else:
                del value[k]
    elif isinstance(value, list):
        items = s.get("items")
        if isinstance(items, dict):
            for v in value:
                _prune(v, items, False)


def _schema_validate(s: dict, value: Any, path: str) -> list[FieldError]:
    """
    Validate a default value against its schema as kube validates custom resources.
    """
    from kapid.apimachinery.schema import Schema
    from kapid.apimachinery.structural import validate_schema

    return validate_schema(Schema.structural(s), value, path)


def default_errors(path: str, schema: dict, require_pruned: bool = True) -> list[FieldError]:
    """
    kube's C{ValidateDefaults} for a resource's root schema: every C{default} must validate against
    its schema and (C{require_pruned}) survive pruning unchanged.
    """
    root = dict(schema)
    root["x-kubernetes-embedded-resource"] = True
    out: list[FieldError] = []
    _defaults(path, root, False, require_pruned, out)
    return out


def _defaults(path: str, s: dict, inside_meta: bool, require_pruned: bool, out: list[FieldError]) -> None:
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    if embedded:
        inside_meta = False
    default = s.get("default")
    if default is not None:
        dpath = _p(path, "default")
        check = {k: v for k, v in s.items() if k != "default"}
        if inside_meta:
            out.extend(_schema_validate(check, default, dpath))
        else:
            if require_pruned and prune(default, s, embedded) != default:
                out.append(field.invalid(dpath, _value(default), "must not have unknown fields"))
            meta_errs = embedded_errors(dpath, default, s, embedded)
            if meta_errs:
                out.extend(meta_errs)
            else:
                out.extend(_schema_validate(check, default, dpath))
    if isinstance(s.get("items"), dict):
        _defaults(_p(path, "items"), s["items"], inside_meta, require_pruned, out)
    for k, sub in sorted(_d(s.get("properties")).items()):
        if isinstance(sub, dict):
            sub_meta = inside_meta or (embedded and k in _META_FIELDS)
            _defaults(_p(path, "properties", _key(k)), sub, sub_meta, require_pruned, out)


def embedded_errors(path: str, value: Any, s: Optional[dict], is_resource_root: bool) -> list[FieldError]:
    """
    kube's C{objectmeta.Validate}: every embedded resource in C{value} has a string C{apiVersion}
    that parses as a group/version, a C{kind} (mixed-case DNS-1035) and valid C{metadata}.
    """
    if s is None:
        return []
    if is_resource_root and not s.get("x-kubernetes-embedded-resource"):
        s = dict(s, **{"x-kubernetes-embedded-resource": True})
    out: list[FieldError] = []
    _embedded(path, value, s, out)
    return out


def _embedded(path: str, x: Any, s: Optional[dict], out: list[FieldError]) -> None:
    if s is None:
        return
    if isinstance(x, dict):
        if s.get("x-kubernetes-embedded-resource"):
            out.extend(_embedded_resource(path, x))
        props = _d(s.get("properties"))
        _, ap = _ap(s)
        for k in sorted(x):
            if isinstance(props.get(k), dict):
                _embedded(_p(path, k), x[k], props[k], out)
            elif s.get("additionalProperties") is not None:
                _embedded(_p(path, _key(k)), x[k], ap, out)
    elif isinstance(x, list):
        items = s.get("items") if isinstance(s.get("items"), dict) else None
        for i, v in enumerate(x):
            _embedded(_p(path, i), v, items, out)


def _embedded_resource(path: str, x: dict) -> list[FieldError]:
    from kapid.apimachinery.meta import path_segment_errors, validate_object_meta

    out = []
    if "apiVersion" not in x:
        out.append(field.required(_p(path, "apiVersion"), "must not be empty"))
    if "kind" not in x:
        out.append(field.required(_p(path, "kind"), "must not be empty"))
    for k in sorted(x):
        v = x[k]
        if k == "apiVersion":
            if not isinstance(v, str):
                out.append(field.invalid(_p(path, k), _value(v), "must be a string"))
            elif not v:
                out.append(field.invalid(_p(path, k), v, "must not be empty"))
            elif v != "/" and v.count("/") > 1:
                out.append(field.invalid(_p(path, k), v, f"unexpected GroupVersion string: {v}"))
        elif k == "kind":
            if not isinstance(v, str):
                out.append(field.invalid(_p(path, k), _value(v), "must be a string"))
            elif not v:
                out.append(field.invalid(_p(path, k), v, "must not be empty"))
            elif dns1035_label_errors(v.lower()):
                out.append(field.invalid(_p(path, k), v, "may have mixed case, but should otherwise match: "
                                         + ",".join(dns1035_label_errors(v.lower()))))
        elif k == "metadata" and isinstance(v, dict):
            meta = dict(v)
            if not meta.get("name"):
                meta["name"] = "fakename"  # as kube does, to avoid an error
            out.extend(validate_object_meta(meta, bool(meta.get("namespace")), path_segment_errors, _p(path, "metadata")))
    return out


# ---------------------------------------------------------------------------------------------------
# JSONSchemaProps (ValidateCustomResourceDefinitionOpenAPISchema)


class _Opts:
    """
    kube's C{validationOptions} (the ones that matter without CEL).
    """

    def __init__(self) -> None:
        self.allow_defaults = True
        self.require_recognized_review_version = True
        self.require_immutable_names = False
        self.require_openapi_schema = True
        self.require_valid_property_type = True
        self.require_structural = True
        self.require_pruned_defaults = True
        self.require_atomic_set_type = True
        self.require_map_list_keys_map_set = True
        self.allow_invalid_ca_bundle = True

    def copy(self) -> "_Opts":
        c = _Opts()
        c.__dict__.update(self.__dict__)
        return c


class _SSV:
    """
    kube's C{specStandardValidatorV3}.
    """

    def __init__(self, allow_defaults: bool, reason: str, require_type: bool, inside_meta: bool = False) -> None:
        self.allow_defaults = allow_defaults
        self.reason = reason
        self.require_type = require_type
        self.inside_meta = inside_meta

    def forbid_defaults(self, reason: str) -> "_SSV":
        return _SSV(False, reason, self.require_type, self.inside_meta)

    def in_meta(self) -> "_SSV":
        return _SSV(self.allow_defaults, self.reason, self.require_type, True)

    def validate(self, s: dict, path: str, out: list[FieldError]) -> None:
        t = s.get("type")
        if self.require_type and isinstance(t, str) and t and t not in _OPENAPI_TYPES:
            out.append(field.not_supported(_p(path, "type"), t, _OPENAPI_TYPES))
        if "default" in s and s.get("default") is not None and not self.allow_defaults:
            detail = "must not be set"
            if self.reason:
                detail += " " + self.reason
            out.append(field.forbidden(_p(path, "default"), detail))
        if s.get("id"):
            out.append(field.forbidden(_p(path, "id"), "id is not supported"))
        if s.get("additionalItems") is not None:
            out.append(field.forbidden(_p(path, "additionalItems"), "additionalItems is not supported"))
        if s.get("patternProperties"):
            out.append(field.forbidden(_p(path, "patternProperties"), "patternProperties is not supported"))
        if s.get("definitions"):
            out.append(field.forbidden(_p(path, "definitions"), "definitions is not supported"))
        if s.get("dependencies") is not None:
            out.append(field.forbidden(_p(path, "dependencies"), "dependencies is not supported"))
        if s.get("$ref") is not None:
            out.append(field.forbidden(_p(path, "$ref"), "$ref is not supported"))
        if t == "null":
            out.append(field.forbidden(_p(path, "type"), "type cannot be set to null, use nullable as an alternative"))
        if isinstance(s.get("items"), list) and s["items"]:
            out.append(field.forbidden(_p(path, "items"), "items must be a schema object and not an array"))
        if self.inside_meta and s.get("x-kubernetes-embedded-resource"):
            out.append(field.forbidden(_p(path, "x-kubernetes-embedded-resource"), "must not be used inside of resource meta"))


def _openapi(s: Any, path: str, ssv: _SSV, is_root: bool, opts: _Opts, out: list[FieldError]) -> None:
    if not isinstance(s, dict):
        return
    ssv.validate(s, path, out)
    if s.get("uniqueItems"):
        out.append(field.forbidden(_p(path, "uniqueItems"),
                                   "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    present, ap = _ap(s)
    props = _d(s.get("properties"))
    if present:
        if props and (not _ap_allows(s) or ap is not None):
            out.append(field.forbidden(_p(path, "additionalProperties"), "additionalProperties and properties are mutual exclusive"))
        sub = ssv.forbid_defaults("inside additionalProperties applying to object metadata") if ssv.inside_meta else ssv
        _openapi(ap, _p(path, "additionalProperties"), sub, False, opts, out)
    for k, sub_schema in sorted(props.items()):
        sub = ssv
        if (is_root or s.get("x-kubernetes-embedded-resource")) and k in _META_FIELDS:
            sub = sub.in_meta()
            if is_root:
                sub = sub.forbid_defaults(f"in top-level {k}")
        _openapi(sub_schema, _p(path, "properties", _key(k)), sub, False, opts, out)
    _openapi(s.get("not"), _p(path, "not"), ssv, False, opts, out)
    for k in ("allOf", "oneOf", "anyOf"):
        for i, sub_schema in enumerate(_l(s.get(k))):
            _openapi(sub_schema, _p(path, k, i), ssv, False, opts, out)
    for k, sub_schema in sorted(_d(s.get("definitions")).items()):
        _openapi(sub_schema, _p(path, "definitions", _key(k)), ssv, False, opts, out)
    items = s.get("items")
    if isinstance(items, dict):
        _openapi(items, _p(path, "items"), ssv, False, opts, out)
    elif isinstance(items, list):
        for i, sub_schema in enumerate(items):
            _openapi(sub_schema, _p(path, "items", i), ssv, False, opts, out)
    for k, dep in sorted(_d(s.get("dependencies")).items()):
        if isinstance(dep, dict):
            _openapi(dep, _p(path, "dependencies", _key(k)), ssv, False, opts, out)
    _extension_rules(s, path, opts, out)
    _rules(s, path, out)


def _extension_rules(s: dict, path: str, opts: _Opts, out: list[FieldError]) -> None:
    t = _s(s.get("type"))
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        out.append(field.invalid(_p(path, "x-kubernetes-preserve-unknown-fields"), False, "must be true or undefined"))
    map_type = s.get("x-kubernetes-map-type")
    if map_type is not None and t != "object":
        if not t:
            out.append(field.required(_p(path, "type"), "must be object if x-kubernetes-map-type is specified"))
        else:
            out.append(field.invalid(_p(path, "type"), t, "must be object if x-kubernetes-map-type is specified"))
    if map_type is not None and map_type not in ("atomic", "granular"):
        out.append(field.not_supported(_p(path, "x-kubernetes-map-type"), map_type, ("atomic", "granular")))
    list_type = s.get("x-kubernetes-list-type")
    items = s.get("items") if isinstance(s.get("items"), dict) else None
    if list_type is not None and t != "array":
        if not t:
            out.append(field.required(_p(path, "type"), "must be array if x-kubernetes-list-type is specified"))
        else:
            out.append(field.invalid(_p(path, "type"), t, "must be array if x-kubernetes-list-type is specified"))
    elif opts.require_atomic_set_type and list_type == "set" and items is not None:
        it = items.get("type")
        if it == "array":
            ilt = items.get("x-kubernetes-list-type")
            if ilt is not None and ilt != "atomic":
                out.append(field.invalid(_p(path, "items", "x-kubernetes-list-type"), ilt,
                                         "must be atomic as item of a list with x-kubernetes-list-type=set"))
        elif it == "object":
            if items.get("x-kubernetes-map-type") != "atomic":
                # kube reports the item's list type as the bad value here
                ilt = items.get("x-kubernetes-list-type")
                out.append(field.invalid(_p(path, "items", "x-kubernetes-map-type"),
                                         "null" if ilt is None else ilt,
                                         "must be atomic as item of a list with x-kubernetes-list-type=set"))
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        out.append(field.not_supported(_p(path, "x-kubernetes-list-type"), list_type, ("atomic", "set", "map")))
    keys = _l(s.get("x-kubernetes-list-map-keys"))
    if keys:
        if list_type is None:
            out.append(field.required(_p(path, "x-kubernetes-list-type"), "must be map if x-kubernetes-list-map-keys is non-empty"))
        elif list_type != "map":
            out.append(field.invalid(_p(path, "x-kubernetes-list-type"), list_type,
                                     "must be map if x-kubernetes-list-map-keys is non-empty"))
    if list_type == "map":
        if not keys:
            out.append(field.required(_p(path, "x-kubernetes-list-map-keys"), "must not be empty if x-kubernetes-list-type is map"))
        if s.get("items") is None:
            out.append(field.required(_p(path, "items"), "must have a schema if x-kubernetes-list-type is map"))
        if isinstance(s.get("items"), list):
            out.append(field.invalid(_p(path, "items"), _value(s["items"]), "must only have a single schema if x-kubernetes-list-type is map"))
        if items is not None and items.get("type") != "object":
            out.append(field.invalid(_p(path, "items", "type"), _s(items.get("type")),
                                     "must be object if parent array's x-kubernetes-list-type is map"))
        if items is not None and items.get("type") == "object":
            seen: set = set()
            item_props = _d(items.get("properties"))
            for k in keys:
                if k in item_props:
                    if _d(item_props[k]).get("type") in ("array", "object"):
                        # kube reports the item's type as the bad value here
                        out.append(field.invalid(_p(path, "items", "properties", _key(str(k)), "type"), "object",
                                                 "must be a scalar type if parent array's x-kubernetes-list-type is map"))
                else:
                    out.append(field.invalid(_p(path, "x-kubernetes-list-map-keys"), _go_strings(keys),
                                             "entries must all be names of item properties"))
                if k in seen:
                    out.append(field.invalid(_p(path, "x-kubernetes-list-map-keys"), _go_strings(keys),
                                             "must not contain duplicate entries"))
                seen.add(k)
    if opts.require_map_list_keys_map_set:
        out.extend(_map_list_keys_map_set(s, path))


def _map_list_keys_map_set(s: dict, path: str) -> list[FieldError]:
    items = s.get("items")
    list_type = s.get("x-kubernetes-list-type")
    if not isinstance(items, dict) or list_type not in ("set", "map"):
        return []
    out = []
    if items.get("nullable"):
        out.append(field.forbidden(_p(path, "items", "nullable"), f"cannot be nullable when x-kubernetes-list-type is {list_type}"))
    if list_type == "map":
        required = set(_l(items.get("required")))
        props = _d(items.get("properties"))
        for k in _l(s.get("x-kubernetes-list-map-keys")):
            if k not in props or not isinstance(props[k], dict):
                continue
            prop = props[k]
            if k not in required and prop.get("default") is None:
                out.append(field.required(_p(path, "items", "properties", _key(k), "default"),
                                          "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"))
            if prop.get("nullable"):
                out.append(field.forbidden(_p(path, "items", "properties", _key(k), "nullable"),
                                           "this property is in x-kubernetes-list-map-keys, so it cannot be nullable"))
    return out


_NEWLINES = re.compile(r"[\n\r]+")


def _rules(s: dict, path: str, out: list[FieldError]) -> None:
    """
    The static checks kube makes on C{x-kubernetes-validations} before compiling them.
    """
    for i, rule in enumerate(_l(s.get("x-kubernetes-validations"))):
        rule = _d(rule)
        rpath = _p(path, "x-kubernetes-validations", i)
        text, msg = _s(rule.get("rule")), _s(rule.get("message"))
        trimmed_rule, trimmed_msg = text.strip(), msg.strip()
        if not trimmed_rule:
            out.append(field.required(_p(rpath, "rule"), "rule is not specified"))
        elif msg and not trimmed_msg:
            out.append(field.invalid(_p(rpath, "message"), msg, "message must be non-empty if specified"))
        elif _NEWLINES.search(trimmed_msg):
            out.append(field.invalid(_p(rpath, "message"), msg, "message must not contain line breaks"))
        elif _NEWLINES.search(trimmed_rule) and not trimmed_msg:
            out.append(field.required(_p(rpath, "message"), "message must be specified if rule contains line breaks"))
        msg_expr = _s(rule.get("messageExpression"))
        if msg_expr and not msg_expr.strip():
            out.append(field.required(_p(rpath, "messageExpression"), "messageExpression must be non-empty if specified"))
        reason = rule.get("reason")
        if reason is not None and reason not in _RULE_REASONS:
            out.append(field.not_supported(_p(rpath, "reason"), reason, _RULE_REASONS))
        fpath = _s(rule.get("fieldPath"))
        if fpath and not fpath.strip():
            out.append(field.invalid(_p(rpath, "fieldPath"), fpath, "fieldPath must be non-empty if specified"))
        if _NEWLINES.search(fpath):
            out.append(field.invalid(_p(rpath, "fieldPath"), fpath, "fieldPath must not contain line breaks"))
        if fpath and new_structural_error(s) is None and valid_field_path(fpath, s)[2] is not None:
            out.append(field.invalid(_p(rpath, "fieldPath"), fpath, "fieldPath must be a valid path"))


def _tokens(path: str) -> list[str]:
    out, i = [], 0
    while i < len(path):
        c = path[i]
        if c in ".[]":
            out.append(c)
            i += 1
            continue
        j = i
        if c == "'":
            j = i + 1
            while j < len(path) and not (path[j] == "'" and path[j - 1] != "\\"):
                j += 1
            out.append(path[i:j + 1])
            i = j + 1
            continue
        while j < len(path) and path[j] not in ".[]":
            j += 1
        out.append(path[i:j])
        i = j
    return out


def valid_field_path(path: str, schema: dict, allow_array: bool = True) -> tuple[list[str], Optional[dict], Optional[str]]:
    """
    kube's C{cel.ValidFieldPath}: C{(steps, schema found, error)} for a path like C{.spec.a['b']}.
    """
    steps: list[str] = []
    s: Optional[dict] = schema
    toks = _tokens(path)
    i = 0

    def step(name: str) -> Optional[str]:
        nonlocal s
        assert s is not None
        props = s.get("properties")
        _, ap = _ap(s)
        if props is not None:
            sub = _d(props).get(name)
            steps.append(name)
            if not isinstance(sub, dict):
                return "does not refer to a valid field"
            s = sub
        elif s.get("additionalProperties") is not None:
            steps.append(name)
            s = ap
        else:
            return "does not refer to a valid field"
        return None

    while i < len(toks):
        tok = toks[i]
        i += 1
        if s is None:
            return steps, None, "does not refer to a valid field"
        if tok == "[":
            if not allow_array:
                return steps, None, "array notation is not allowed"
            if i >= len(toks):
                return steps, None, "unexpected end of JSON path"
            tok = toks[i]
            i += 1
            if len(tok) < 2 or tok[0] != "'" or tok[-1] != "'":
                return steps, None, f"expected single quoted string but got {tok}"
            err = step(tok[1:-1].replace("\\'", "'"))
            if err:
                return steps, None, err
            if i >= len(toks):
                return steps, None, "unexpected end of JSON path"
            tok = toks[i]
            i += 1
            if tok != "]":
                return steps, None, f"expected ] but got {tok}"
        elif tok == ".":
            if i >= len(toks):
                return steps, None, "unexpected end of JSON path"
            tok = toks[i]
            i += 1
            err = step(tok)
            if err:
                return steps, None, err
        else:
            return steps, None, f"expected [ or . but got: {tok}"
    return steps, s, None


# ---------------------------------------------------------------------------------------------------
# one schema (validateCustomResourceDefinitionValidation)


def _validation(validation: Any, status_enabled: bool, opts: _Opts, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    if validation is None:
        return out
    schema = _d(validation).get("openAPIV3Schema")
    spath = _p(path, "openAPIV3Schema")
    init_errs: list[FieldError] = []
    if isinstance(schema, dict):
        if status_enabled:
            for k in _ROOT_KEY_ORDER:
                v = schema.get(k)
                if v is None or (k not in _POINTER_KEYS and (v is False or v == "")):
                    continue  # Go's zero values
                if k == "type":
                    if v != "object":
                        out.append(field.invalid(f"{path}.openAPIV3Schema.type", v,
                                                 'only "object" is allowed as the type at the root of the schema if the status subresource is enabled'))
                        break
                    continue
                if k not in _ROOT_ALLOWED:
                    out.append(field.invalid(spath, GoValue(_go_schema(schema)),
                                             f"only {_ROOT_ALLOWED_GO} fields are allowed at the root of the schema if the status subresource is enabled"))
                    break
        if schema.get("nullable"):
            out.append(field.forbidden(f"{path}.openAPIV3Schema.nullable", "nullable cannot be true at the root"))
        ssv = _SSV(opts.allow_defaults, "", opts.require_valid_property_type)
        if opts.require_structural:
            err = new_structural_error(schema)
            if err:
                init_errs.append(field.invalid(spath, "", err))
            else:
                errs = _validate_structural(schema, spath)
                if errs:
                    out.extend(errs)
                else:
                    out.extend(default_errors(spath, schema, opts.require_pruned_defaults))
        _openapi(schema, spath, ssv, True, opts, out)
        if not out and init_errs:
            out.extend(init_errs)
        if not out and opts.require_structural:
            # the rules of x-kubernetes-validations compiled, type-checked and costed (kapid.cel)
            from kapid.cel.crd import compile_rules
            out.extend(compile_rules(schema).errors(spath))
    return out


#: The internal JSONSchemaProps' fields in Go's declaration order: (Go name, JSON name, Go type).
_GO_FIELDS = (
    ("ID", "id", "string"), ("Schema", "$schema", "string"), ("Ref", "$ref", "*string"),
    ("Description", "description", "string"), ("Type", "type", "string"), ("Nullable", "nullable", "bool"),
    ("Format", "format", "string"), ("Title", "title", "string"), ("Default", "default", "*apiextensions.JSON"),
    ("Maximum", "maximum", "*float64"), ("ExclusiveMaximum", "exclusiveMaximum", "bool"),
    ("Minimum", "minimum", "*float64"), ("ExclusiveMinimum", "exclusiveMinimum", "bool"),
    ("MaxLength", "maxLength", "*int64"), ("MinLength", "minLength", "*int64"), ("Pattern", "pattern", "string"),
    ("MaxItems", "maxItems", "*int64"), ("MinItems", "minItems", "*int64"), ("UniqueItems", "uniqueItems", "bool"),
    ("MultipleOf", "multipleOf", "*float64"), ("Enum", "enum", "[]apiextensions.JSON"),
    ("MaxProperties", "maxProperties", "*int64"), ("MinProperties", "minProperties", "*int64"),
    ("Required", "required", "[]string"), ("Items", "items", "*apiextensions.JSONSchemaPropsOrArray"),
    ("AllOf", "allOf", "[]apiextensions.JSONSchemaProps"), ("OneOf", "oneOf", "[]apiextensions.JSONSchemaProps"),
    ("AnyOf", "anyOf", "[]apiextensions.JSONSchemaProps"), ("Not", "not", "*apiextensions.JSONSchemaProps"),
    ("Properties", "properties", "map[string]apiextensions.JSONSchemaProps"),
    ("AdditionalProperties", "additionalProperties", "*apiextensions.JSONSchemaPropsOrBool"),
    ("PatternProperties", "patternProperties", "map[string]apiextensions.JSONSchemaProps"),
    ("Dependencies", "dependencies", "apiextensions.JSONSchemaDependencies"),
    ("AdditionalItems", "additionalItems", "*apiextensions.JSONSchemaPropsOrBool"),
    ("Definitions", "definitions", "apiextensions.JSONSchemaDefinitions"),
    ("ExternalDocs", "externalDocs", "*apiextensions.ExternalDocumentation"),
    ("Example", "example", "*apiextensions.JSON"),
    ("XPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields", "*bool"),
    ("XEmbeddedResource", "x-kubernetes-embedded-resource", "bool"),
    ("XIntOrString", "x-kubernetes-int-or-string", "bool"),
    ("XListMapKeys", "x-kubernetes-list-map-keys", "[]string"),
    ("XListType", "x-kubernetes-list-type", "*string"), ("XMapType", "x-kubernetes-map-type", "*string"),
    ("XValidations", "x-kubernetes-validations", "apiextensions.ValidationRules"),
)
#: Their JSON names in that order (kube walks the root's fields in it).
_ROOT_KEY_ORDER = tuple(j for _, j, _ in _GO_FIELDS)
#: JSONSchemaProps' pointer fields: set to false or 0 they are still set.
_POINTER_KEYS = frozenset(j for _, j, t in _GO_FIELDS if t.startswith("*"))


def _go_rule(r: dict) -> str:
    reason = "(*apiextensions.FieldValueErrorReason)(nil)" if r.get("reason") is None else (
        f"(*apiextensions.FieldValueErrorReason)({_PTR})")
    old_self = "(*bool)(nil)" if r.get("optionalOldSelf") is None else f"(*bool)({_PTR})"
    return (
        f"apiextensions.ValidationRule{{Rule:{_go_str(_s(r.get('rule')))}, "
        f"Message:{_go_str(_s(r.get('message')))}, "
        f"MessageExpression:{_go_str(_s(r.get('messageExpression')))}, Reason:{reason}, "
        f"FieldPath:{_go_str(_s(r.get('fieldPath')))}, OptionalOldSelf:{old_self}}}"
    )


def _go_field(t: str, v: Any) -> str:
    if t.startswith("*"):
        return f"({t})(nil)" if v is None else f"({t})({_PTR})"
    if t == "string":
        return _go_str(_s(v))
    if t == "bool":
        return "true" if v else "false"
    if t == "[]string":
        return str(_go_strings(v))
    if t == "apiextensions.JSONSchemaDependencies":
        return f"{t}(nil)" if v is None else t + "{...}"
    if t.startswith("map[") or t == "apiextensions.JSONSchemaDefinitions":
        if not isinstance(v, dict):
            return f"{t}(nil)"
        return t + "{" + ", ".join(f"{_go_str(k)}:{_go_schema(_d(v[k]))}" for k in sorted(v)) + "}"
    if not isinstance(v, list):
        return f"{t}(nil)"
    if t == "[]apiextensions.JSON":
        return t + "{" + ", ".join(_go_elem(x) for x in v) + "}"
    if t == "[]apiextensions.JSONSchemaProps":
        return t + "{" + ", ".join(_go_schema(_d(x)) for x in v) + "}"
    return t + "{" + ", ".join(_go_rule(_d(r)) for r in v) + "}"


def _go_schema(s: dict) -> str:
    """
    An internal C{JSONSchemaProps} as Go's C{%#v} prints it (pointers print as addresses in Go;
    one fixed address stands for them here).
    """
    return "apiextensions.JSONSchemaProps{" + ", ".join(
        f"{go}:{_go_field(t, s.get(js))}" for go, js, t in _GO_FIELDS
    ) + "}"


# ---------------------------------------------------------------------------------------------------
# spec parts


def _names_errors(names: dict, path: str) -> list[FieldError]:
    out = []
    plural, singular = _s(names.get("plural")), _s(names.get("singular"))
    kind, list_kind = _s(names.get("kind")), _s(names.get("listKind"))
    if plural and dns1035_label_errors(plural):
        out.append(field.invalid(f"{path}.plural", plural, ",".join(dns1035_label_errors(plural))))
    if singular and dns1035_label_errors(singular):
        out.append(field.invalid(f"{path}.singular", singular, ",".join(dns1035_label_errors(singular))))
    if kind and dns1035_label_errors(kind.lower()):
        out.append(field.invalid(f"{path}.kind", kind,
                                 "may have mixed case, but should otherwise match: " + ",".join(dns1035_label_errors(kind.lower()))))
    if list_kind and dns1035_label_errors(list_kind.lower()):
        out.append(field.invalid(f"{path}.listKind", list_kind,
                                 "may have mixed case, but should otherwise match: " + ",".join(dns1035_label_errors(list_kind.lower()))))
    for i, short in enumerate(_l(names.get("shortNames"))):
        short = _s(short)
        if dns1035_label_errors(short):
            out.append(field.invalid(f"{path}.shortNames[{i}]", short, ",".join(dns1035_label_errors(short))))
    if kind and kind == list_kind:
        out.append(field.invalid(f"{path}.listKind", list_kind, "kind and listKind may not be the same"))
    for i, cat in enumerate(_l(names.get("categories"))):
        cat = _s(cat)
        if dns1035_label_errors(cat):
            out.append(field.invalid(f"{path}.categories[{i}]", cat, ",".join(dns1035_label_errors(cat))))
    return out


def _simple_json_path(s: str, path: str) -> list[FieldError]:
    if not s:
        return [field.invalid(path, s, "must not be empty")]
    if s[0] != ".":
        return [field.invalid(path, s, "must be a simple json path starting with .")]
    return []


def _column_errors(col: dict, path: str) -> list[FieldError]:
    out = []
    types = ",".join(_PRINTER_TYPES)
    if not _s(col.get("name")):
        out.append(field.required(f"{path}.name"))
    t = _s(col.get("type"))
    if not t:
        out.append(field.required(f"{path}.type", f"must be one of {types}"))
    elif t not in _PRINTER_TYPES:
        out.append(field.invalid(f"{path}.type", t, f"must be one of {types}"))
    fmt = _s(col.get("format"))
    if fmt and fmt not in _PRINTER_FORMATS:
        out.append(field.invalid(f"{path}.format", fmt, f"must be one of {','.join(_PRINTER_FORMATS)}"))
    jp = _s(col.get("jsonPath"))
    if not jp:
        out.append(field.required(f"{path}.JSONPath"))
    else:
        out.extend(_simple_json_path(jp, f"{path}.JSONPath"))
    return out


def _subresources_errors(sub: Any, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    scale = _d(sub).get("scale")
    if scale is None:
        return out
    scale = _d(scale)
    spec_path = _s(scale.get("specReplicasPath"))
    if not spec_path:
        out.append(field.required(f"{path}.scale.specReplicasPath"))
    else:
        errs = _simple_json_path(spec_path, f"{path}.scale.specReplicasPath")
        if errs:
            out.extend(errs)
        elif not spec_path.startswith(".spec."):
            out.append(field.invalid(f"{path}.scale.specReplicasPath", spec_path, "should be a json path under .spec"))
    status_path = _s(scale.get("statusReplicasPath"))
    if not status_path:
        out.append(field.required(f"{path}.scale.statusReplicasPath"))
    else:
        errs = _simple_json_path(status_path, f"{path}.scale.statusReplicasPath")
        if errs:
            out.extend(errs)
        elif not status_path.startswith(".status."):
            out.append(field.invalid(f"{path}.scale.statusReplicasPath", status_path, "should be a json path under .status"))
    selector = _s(scale.get("labelSelectorPath"))
    if selector:
        errs = _simple_json_path(selector, f"{path}.scale.labelSelectorPath")
        if errs:
            out.extend(errs)
        elif not selector.startswith(".spec.") and not selector.startswith(".status."):
            out.append(field.invalid(f"{path}.scale.labelSelectorPath", selector,
                                     "should be a json path under either .spec or .status"))
    return out


def _selectable_errors(fields: list, schema: dict, path: str) -> list[FieldError]:
    out = []
    unique: list[str] = []
    for i, f in enumerate(fields):
        jp = _s(_d(f).get("jsonPath"))
        ipath = f"{path}[{i}].jsonPath"
        if not jp:
            out.append(field.required(ipath))
            continue
        steps, found, err = valid_field_path(jp, schema, allow_array=False)
        if err:
            out.append(field.invalid(ipath, jp, f"is an invalid path: {err}"))
            continue
        if steps and steps[0] == "metadata":
            out.append(field.invalid(ipath, jp, "must not point to fields in metadata"))
        if found is None or found.get("type") not in ("string", "boolean", "integer"):
            out.append(field.invalid(ipath, jp, "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed."))
        key = ".".join(steps)
        if key in unique:
            out.append(field.duplicate(ipath, jp))
        else:
            unique.append(key)
    if len(unique) > _MAX_SELECTABLE_FIELDS:
        out.append(FieldError("too_many", path, len(unique), f"must have at most {_MAX_SELECTABLE_FIELDS} items"))
    return out


def _deprecation_errors(v: dict) -> list[str]:
    warning = v.get("deprecationWarning")
    if not v.get("deprecated") and warning is not None:
        return ["can only be set for deprecated versions"]
    if warning is None:
        return []
    warning = _s(warning)
    out = []
    if len(warning.encode("utf-8")) > 256:
        out.append("must be <= 256 characters long")
    if not warning:
        out.append("must not be an empty string")
    offset = 0
    for ch in warning:
        if not ch.isprintable():
            # kube tests printability first, so control characters are reported as non-printable
            out.append(f"must only contain printable UTF-8 characters; non-printable character found at index {offset}")
            break
        offset += len(ch.encode("utf-8"))
    return out


def _webhook_url_errors(url: str, path: str) -> list[FieldError]:
    form = "; desired format: https://host[/path]"
    try:
        u = urllib.parse.urlsplit(url)
    except ValueError as e:
        return [field.required(path, f"url must be a valid URL: {e}{form}")]
    out = []
    if u.scheme != "https":
        out.append(field.invalid(path, u.scheme, "'https' is the only allowed URL scheme" + form))
    if not u.netloc.rpartition("@")[2]:
        out.append(field.invalid(path, "", "host must be specified" + form))
    if "@" in u.netloc:
        userinfo = u.netloc.rpartition("@")[0]
        out.append(field.invalid(path, userinfo, "user information is not permitted in the URL"))
    if u.fragment:
        out.append(field.invalid(path, u.fragment, "fragments are not permitted in the URL"))
    if u.query:
        out.append(field.invalid(path, u.query, "query parameters are not permitted in the URL"))
    return out


def _webhook_service_errors(service: dict, path: str) -> list[FieldError]:
    out = []
    if not _s(service.get("name")):
        out.append(field.required(f"{path}.name", "service name is required"))
    if not _s(service.get("namespace")):
        out.append(field.required(f"{path}.namespace", "service namespace is required"))
    port = service.get("port")
    port = 443 if port is None else port
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        out.append(field.invalid(f"{path}.port", port, "port is not valid: must be between 1 and 65535, inclusive"))
    url_path = service.get("path")
    if url_path is None or url_path in ("/", ""):
        return out
    url_path = _s(url_path)
    if url_path == "//":
        out.append(field.invalid(f"{path}.path", url_path, "segment[0] may not be empty"))
        return out
    if not url_path.startswith("/"):
        out.append(field.invalid(f"{path}.path", url_path, "must start with a '/'"))
    check = url_path[1:]
    if check.endswith("/"):
        check = check[:-1]
    for i, step in enumerate(check.split("/")):
        if not step:
            out.append(field.invalid(f"{path}.path", url_path, f"segment[{i}] may not be empty"))
            continue
        for failure in dns1123_subdomain_errors(step):
            out.append(field.invalid(f"{path}.path", url_path, f"segment[{i}]: {failure}"))
    return out


def _ca_bundle_errors(bundle: str, path: str) -> list[FieldError]:
    import base64
    import binascii

    try:
        data = base64.b64decode(bundle, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        value = GoValue("[]byte{" + ", ".join(f"0x{b:x}" for b in data) + "}")
        return [field.invalid(path, value, "unable to load root certificates: unable to parse bytes as PEM block")]
    return []


def _review_version_errors(versions: Any, require_recognized: bool, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    versions = _l(versions)
    if not versions:
        return [field.required(path)]
    seen: set = set()
    recognized = False
    for i, v in enumerate(versions):
        v = _s(v)
        if v in seen:
            out.append(field.invalid(f"{path}[{i}]", v, "duplicate version"))
            continue
        seen.add(v)
        for msg in dns1035_label_errors(v):
            out.append(field.invalid(f"{path}[{i}]", v, msg))
        if v in _REVIEW_VERSIONS:
            recognized = True
    if require_recognized and not recognized:
        out.append(field.invalid(path, _go_strings(versions), f"must include at least one of {', '.join(_REVIEW_VERSIONS)}"))
    return out


def _conversion_errors(conversion: Any, opts: _Opts, path: str) -> list[FieldError]:
    if conversion is None:
        return []
    conversion = _d(conversion)
    strategy = _s(conversion.get("strategy"))
    webhook = _d(conversion.get("webhook"))
    client = webhook.get("clientConfig")
    review = webhook.get("conversionReviewVersions")
    out = _enum(f"{path}.strategy", strategy, ("None", "Webhook"))
    if strategy == "Webhook":
        if client is None:
            out.append(field.required(f"{path}.webhookClientConfig", "required when strategy is set to Webhook"))
        else:
            cc = _d(client)
            url, service = cc.get("url"), cc.get("service")
            cpath = f"{path}.webhookClientConfig"
            if (url is None) == (service is None):
                out.append(field.required(cpath, "exactly one of url or service is required"))
            elif url is not None:
                out.extend(_webhook_url_errors(_s(url), f"{cpath}.url"))
            else:
                out.extend(_webhook_service_errors(_d(service), f"{cpath}.service"))
            if cc.get("caBundle") and not opts.allow_invalid_ca_bundle:
                out.extend(_ca_bundle_errors(_s(cc.get("caBundle")), f"{cpath}.caBundle"))
        out.extend(_review_version_errors(review, opts.require_recognized_review_version, f"{path}.conversionReviewVersions"))
    else:
        if client is not None:
            out.append(field.forbidden(f"{path}.webhookClientConfig", "should not be set when strategy is not set to Webhook"))
        if _l(review):
            out.append(field.forbidden(f"{path}.conversionReviewVersions", "should not be set when strategy is not set to Webhook"))
    return out


def _enum(path: str, value: str, accepted: tuple[str, ...]) -> list[FieldError]:
    if not value:
        return [field.required(path)]
    if value in accepted:
        return []
    return [field.not_supported(path, value, accepted)]


def _status_enabled(sub: Any) -> bool:
    return isinstance(sub, dict) and sub.get("status") is not None


# ---------------------------------------------------------------------------------------------------
# the spec


def _spec_errors(internal: _Internal, opts: _Opts) -> list[FieldError]:
    spec = internal.spec
    out: list[FieldError] = []
    group = _s(spec.get("group"))
    if not group:
        out.append(field.required("spec.group"))
    elif dns1123_subdomain_errors(group):
        out.append(field.invalid("spec.group", group, ",".join(dns1123_subdomain_errors(group))))
    elif len(group.split(".")) < 2:
        out.append(field.invalid("spec.group", group, "should be a domain with at least one dot"))
    out.extend(_enum("spec.scope", _s(spec.get("scope")), ("Cluster", "Namespaced")))
    puf = bool(spec.get("preserveUnknownFields"))
    opts = opts.copy()
    if not puf:
        opts.require_structural = True
    top_schema = _d(internal.validation).get("openAPIV3Schema")
    if opts.require_openapi_schema:
        if top_schema is None:
            for i, v in enumerate(internal.versions):
                if _d(v.get("schema")).get("openAPIV3Schema") is None:
                    out.append(field.required(f"spec.versions[{i}].schema.openAPIV3Schema", "schemas are required"))
    elif not puf:
        if top_schema is None:
            for i, v in enumerate(internal.versions):
                if v.get("served") and _d(v.get("schema")).get("openAPIV3Schema") is None:
                    out.append(field.required(f"spec.versions[{i}].schema.openAPIV3Schema", "because otherwise all fields are pruned"))
    schemas = _schemas(internal)
    facts = [_Facts(s) for s in schemas]
    if opts.allow_defaults and any(f.defaults for f in facts):
        opts.require_structural = True
        if puf:
            out.append(field.invalid("spec.preserveUnknownFields", True, "must be false in order to use defaults in the schema"))
    if any(f.extensions for f in facts):
        opts.require_structural = True

    storage = 0
    names_seen: set = set()
    unique = True
    per_version_subresources = any(v.get("subresources") is not None for v in internal.versions)
    for i, v in enumerate(internal.versions):
        vpath = f"spec.versions[{i}]"
        if v.get("storage"):
            storage += 1
        name = _s(v.get("name"))
        if name in names_seen:
            unique = False
        names_seen.add(name)
        if dns1035_label_errors(name):
            out.append(field.invalid(f"{vpath}.name", name, ",".join(dns1035_label_errors(name))))
        subresources = v.get("subresources") if per_version_subresources else internal.subresources
        for msg in _deprecation_errors(v):
            out.append(field.invalid(f"{vpath}.deprecationWarning", _value(v.get("deprecationWarning")), msg))
        out.extend(_validation(v.get("schema"), _status_enabled(subresources), opts, f"{vpath}.schema"))
        out.extend(_subresources_errors(v.get("subresources"), f"{vpath}.subresources"))
        for j, col in enumerate(_l(v.get("additionalPrinterColumns"))):
            out.extend(_column_errors(_d(col), f"{vpath}.additionalPrinterColumns[{j}]"))
        selectable = _l(v.get("selectableFields"))
        if selectable:
            vschema = _d(v.get("schema")).get("openAPIV3Schema")
            if not isinstance(vschema, dict):
                out.append(field.invalid(f"{vpath}.selectableFields", "",
                                         "selectableFields may only be set when version.schema.openAPIV3Schema is not included"))
            else:
                err = new_structural_error(vschema)
                if err:
                    out.append(field.invalid(f"{vpath}.schema.openAPIV3Schema", "", err))
                out.extend(_selectable_errors(selectable, vschema, f"{vpath}.selectableFields"))

    versions_value = None
    if not unique:
        versions_value = _versions_value(internal.versions)
        out.append(field.invalid("spec.versions", versions_value, "must contain unique version names"))
    if storage != 1:
        versions_value = versions_value or _versions_value(internal.versions, isinstance(spec.get("versions"), list))
        out.append(field.invalid("spec.versions", versions_value, "must have exactly one version marked as storage version"))
    version = internal.version
    if version and dns1035_label_errors(version):
        out.append(field.invalid("spec.version", version, ",".join(dns1035_label_errors(version))))

    names = _d(spec.get("names"))
    for key in ("plural", "singular", "kind", "listKind"):
        if not _s(names.get(key)):
            out.append(field.required(f"spec.names.{key}"))
    out.extend(_names_errors(names, "spec.names"))
    any_status = _status_enabled(internal.subresources) or any(_status_enabled(v.get("subresources")) for v in internal.versions)
    out.extend(_validation(internal.validation, any_status, opts, "spec.validation"))
    out.extend(_subresources_errors(internal.subresources, "spec.subresources"))
    for j, col in enumerate(_l(internal.columns)):
        out.extend(_column_errors(_d(col), f"spec.additionalPrinterColumns[{j}]"))
    selectable = _l(internal.selectable)
    if selectable:
        if internal.validation is None:
            out.append(field.invalid("spec.selectableFields", "", "selectableFields may only be set when validations.schema is included"))
        else:
            top = _d(internal.validation).get("openAPIV3Schema")
            top = top if isinstance(top, dict) else {}
            err = new_structural_error(top)
            if err:
                out.append(field.invalid("spec.schema.openAPIV3Schema", "", err))
            out.extend(_selectable_errors(selectable, top, "spec.selectableFields"))
    conversion = spec.get("conversion")
    if conversion is not None and _s(_d(conversion).get("strategy")) != "None" and puf:
        out.append(field.invalid("spec.conversion.strategy", _s(_d(conversion).get("strategy")),
                                 "must be None if spec.preserveUnknownFields is true"))
    out.extend(_conversion_errors(conversion, opts, "spec.conversion"))
    return out


# ---------------------------------------------------------------------------------------------------
# status, stored versions, approval


def validate_crd_status(crd: dict) -> list[FieldError]:
    """
    kube's C{ValidateCustomResourceDefinitionStatus}: the accepted names follow the names' rules.
    """
    return _names_errors(_d(_d(crd.get("status")).get("acceptedNames")), "status.acceptedNames")


def _stored_versions_errors(crd: dict) -> list[FieldError]:
    path = "status.storedVersions"
    stored = _d(crd.get("status")).get("storedVersions")
    stored_list = [_s(v) for v in _l(stored)]
    if not stored_list:
        return [field.invalid(path, GoValue("[]string(nil)") if not isinstance(stored, list) else GoValue("[]string{}"),
                              "must have at least one stored version")]
    out = []
    remaining = {v: i for i, v in enumerate(stored_list)}
    for v in _l(_d(crd.get("spec")).get("versions")):
        name = _s(_d(v).get("name"))
        if _d(v).get("storage") and name not in remaining:
            out.append(field.invalid(path, _go_strings(stored_list), f"must have the storage version {name}"))
        remaining.pop(name, None)
    for v, i in sorted(remaining.items(), key=lambda kv: kv[1]):
        out.append(field.invalid(
            f"{path}[{i}]", v,
            f"missing from spec.versions; {v} was previously a storage version, and must remain in spec.versions "
            f"until a storage migration ensures no data remains persisted in {v} and removes {v} from "
            "status.storedVersions",
        ))
    return out


def _is_protected_group(group: str) -> bool:
    return group in ("k8s.io", "kubernetes.io") or group.endswith(".k8s.io") or group.endswith(".kubernetes.io")


def _approval_state(annotations: dict) -> tuple[str, str]:
    value = _s(annotations.get(API_APPROVED_ANNOTATION))
    if not value:
        return "missing", (f'protected groups must have approval annotation "{API_APPROVED_ANNOTATION}", '
                           "see https://github.com/kubernetes/enhancements/pull/1111")
    if value.startswith("unapproved"):
        return "bypassed", f"not approved: {_go_str(value)}"
    if _request_uri_ok(value):
        return "approved", f"approved in {value}"
    return "invalid", (f'protected groups must have approval annotation "{API_APPROVED_ANNOTATION}" with either a '
                       'URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111')


def _request_uri_ok(value: str) -> bool:
    """
    Go's C{url.ParseRequestURI} succeeds with a scheme and a host.
    """
    try:
        u = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return bool(u.scheme) and bool(u.netloc.rpartition("@")[2]) and " " not in value


def _approval_errors(crd: dict, old: Optional[dict]) -> list[FieldError]:
    if not _is_protected_group(_s(_d(crd.get("spec")).get("group"))):
        return []
    annotations = _d(_d(crd.get("metadata")).get("annotations"))
    state, reason = _approval_state(annotations)
    if old is not None:
        old_state, _ = _approval_state(_d(_d(old.get("metadata")).get("annotations")))
        if old_state == state:
            return []
    path = f"metadata.annotations[{API_APPROVED_ANNOTATION}]"
    if state == "missing":
        return [field.required(path, reason)]
    if state == "invalid":
        return [field.invalid(path, _s(annotations.get(API_APPROVED_ANNOTATION)), reason)]
    return []


def _preserve_unknown_errors(crd: dict, old: Optional[dict]) -> list[FieldError]:
    if old is not None and _d(old.get("spec")).get("preserveUnknownFields"):
        return []
    if _d(crd.get("spec")).get("preserveUnknownFields"):
        return [field.invalid("spec.preserveUnknownFields", True,
                              "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead")]
    return []


def _name_errors(crd: dict) -> list[FieldError]:
    """
    The CRD's own name rule (kube adds it to ObjectMeta's name validation): C{<plural>.<group>}.
    """
    meta = _d(crd.get("metadata"))
    spec = _d(crd.get("spec"))
    want = _s(_d(spec.get("names")).get("plural")) + "." + _s(spec.get("group"))
    msg = 'must be spec.names.plural+"."+spec.group'
    out = []
    generate = _s(meta.get("generateName"))
    if generate and generate != want:
        out.append(field.invalid("metadata.generateName", generate, msg))
    name = _s(meta.get("name"))
    if name and name != want:
        out.append(field.invalid("metadata.name", name, msg))
    return out


# ---------------------------------------------------------------------------------------------------
# entry points


def validate_crd(crd: dict) -> list[FieldError]:
    """
    kube's C{ValidateCustomResourceDefinition} without the generic ObjectMeta checks (the Store
    makes those): the name rule, the spec, the status' accepted names, the stored versions, API
    approval for protected groups and C{preserveUnknownFields}.
    """
    internal = _internal(crd)
    out = _name_errors(crd)
    out.extend(_spec_errors(internal, _Opts()))
    out.extend(validate_crd_status(crd))
    out.extend(_stored_versions_errors(crd))
    out.extend(_approval_errors(crd, None))
    out.extend(_preserve_unknown_errors(crd, None))
    return out


def is_established(crd: dict) -> bool:
    """
    Whether C{status.conditions} has C{Established=True}.
    """
    for c in _l(_d(crd.get("status")).get("conditions")):
        if _d(c).get("type") == "Established":
            return _d(c).get("status") == "True"
    return False


def _old_opts(old: dict) -> _Opts:
    internal = _internal(old)
    schemas = _schemas(internal)
    opts = _Opts()
    conversion = _d(_d(old.get("spec")).get("conversion"))
    review = _l(_d(conversion.get("webhook")).get("conversionReviewVersions"))
    opts.require_recognized_review_version = not review or any(v in _REVIEW_VERSIONS for v in review)
    opts.require_immutable_names = is_established(old)
    all_have_schema = internal.validation is not None and _d(internal.validation).get("openAPIV3Schema") is not None or all(
        _d(v.get("schema")).get("openAPIV3Schema") is not None for v in internal.versions
    )
    opts.require_openapi_schema = all_have_schema
    facts = [_Facts(s) for s in schemas]
    opts.require_valid_property_type = not any(f.invalid_type for f in facts)
    # kube relaxes this for an old non-structural schema, but a v1 CRD without
    # preserveUnknownFields needs a structural one anyway: see validate_crd_update
    opts.require_structural = True
    opts.require_pruned_defaults = not any(f.defaults and _has_unpruned_defaults(s) for f, s in zip(facts, schemas))
    opts.require_atomic_set_type = not any(f.non_atomic_set for f in facts)
    opts.require_map_list_keys_map_set = not any(f.bad_map_list for f in facts)
    cc = _d(_d(conversion.get("webhook")).get("clientConfig"))
    if not is_established(old):
        opts.allow_invalid_ca_bundle = True
    elif not cc.get("caBundle"):
        opts.allow_invalid_ca_bundle = False
    else:
        opts.allow_invalid_ca_bundle = bool(_ca_bundle_errors(_s(cc.get("caBundle")), "caBundle"))
    return opts


def _has_unpruned_defaults(s: dict) -> bool:
    """
    Whether a structural schema has a default its pruning would change (kube's
    C{schemaHasUnprunedDefaults}).
    """
    found = [False]

    def walk(node: dict, root: bool) -> None:
        if node.get("default") is not None and prune(node["default"], node, bool(node.get("x-kubernetes-embedded-resource"))) != node["default"]:
            found[0] = True
        if isinstance(node.get("items"), dict):
            walk(node["items"], False)
        for sub in _d(node.get("properties")).values():
            if isinstance(sub, dict):
                walk(sub, False)
        _, ap = _ap(node)
        if ap is not None:
            walk(ap, False)

    walk(s, True)
    return found[0] and is_structural(s)


def _non_atomic_set(s: dict) -> bool:
    items = s.get("items")
    if s.get("x-kubernetes-list-type") == "set" and isinstance(items, dict):
        if items.get("type") == "array":
            return items.get("x-kubernetes-list-type") not in (None, "atomic")
        if items.get("type") == "object":
            return items.get("x-kubernetes-map-type") != "atomic"
    return False


def _immutable(path: str, new: Any, old: Any) -> list[FieldError]:
    if new != old:
        return [field.invalid(path, _value(new), "field is immutable")]
    return []


def validate_crd_update(crd: dict, old: dict) -> list[FieldError]:
    """
    kube's C{ValidateCustomResourceDefinitionUpdate} without the generic ObjectMeta update checks:
    the spec validated with the leniencies the old object earns, C{spec.group} and
    C{spec.names.plural} immutable, C{spec.scope} and C{spec.names.kind} immutable once the CRD is
    established, stored versions, API approval and C{preserveUnknownFields}.
    """
    opts = _old_opts(old)
    spec, old_spec = _d(crd.get("spec")), _d(old.get("spec"))
    if spec.get("preserveUnknownFields"):
        opts.require_structural = all(is_structural(x) for x in _schemas(_internal(old)))
    out = _spec_errors(_internal(crd), opts)
    if opts.require_immutable_names:
        out.extend(_immutable("spec.scope", _s(spec.get("scope")), _s(old_spec.get("scope"))))
        out.extend(_immutable("spec.names.kind", _s(_d(spec.get("names")).get("kind")),
                              _s(_d(old_spec.get("names")).get("kind"))))
    out.extend(_immutable("spec.group", _s(spec.get("group")), _s(old_spec.get("group"))))
    out.extend(_immutable("spec.names.plural", _s(_d(spec.get("names")).get("plural")),
                          _s(_d(old_spec.get("names")).get("plural"))))
    out.extend(validate_crd_status(crd))
    out.extend(_stored_versions_errors(crd))
    out.extend(_approval_errors(crd, old))
    out.extend(_preserve_unknown_errors(crd, old))
    return out


# ---------------------------------------------------------------------------------------------------
# warnings


def rule_paths(crd: dict) -> list[str]:
    """
    The field paths (as kube reports them) of every schema that has C{x-kubernetes-validations}.
    """
    out: list[str] = []

    def walk(s: Any, path: str) -> None:
        if not isinstance(s, dict):
            return
        if _l(s.get("x-kubernetes-validations")):
            out.append(f"{path}.x-kubernetes-validations")
        if isinstance(s.get("items"), dict):
            walk(s["items"], f"{path}.items")
        for k, sub in sorted(_d(s.get("properties")).items()):
            walk(sub, f"{path}.properties[{k}]")
        _, ap = _ap(s)
        if ap is not None:
            walk(ap, f"{path}.additionalProperties")
        for k in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(_l(s.get(k))):
                walk(sub, f"{path}.{k}[{i}]")
        walk(s.get("not"), f"{path}.not")

    for i, v in enumerate(_l(_d(crd.get("spec")).get("versions"))):
        walk(_d(_d(v).get("schema")).get("openAPIV3Schema"), f"spec.versions[{i}].schema.openAPIV3Schema")
    return out


def crd_warnings(crd: dict) -> list[str]:
    """
    The C{Warning}s a create or update of C{crd} gets: none, as kube's strategy adds none (rules of
    C{x-kubernetes-validations} are compiled here and enforced on custom resources by L{kapid.cel.crd}).
    """
    return []
