"""
What the verb handlers share: reading and decoding bodies (size limit, media types, protobuf,
C{fieldValidation}), writing objects in the negotiated form, and per-request parameters.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Optional

import attr
from twisted.web.iweb import IRequest

from kapid.apimachinery import serialization as ser
from kapid.apimachinery.query import Query
from kapid.apimachinery.status import (
    StatusError,
    bad_request,
    request_entity_too_large,
    unsupported_media_type,
)
from kapid.registry.description import Resource

#: kube's C{MaxRequestBodyBytes}.
MAX_BODY_BYTES = 3 * 1024 * 1024

try:
    from kapid.apimachinery import structural as _structural
except ImportError:  # pragma: no cover
    _structural = None  # type: ignore[assignment]


def read_body(request: IRequest, limit: int = MAX_BODY_BYTES) -> bytes:
    """
    The request body, or 413 when it is larger than C{limit}.
    """
    content = request.content
    if content is None:
        return b""
    try:
        content.seek(0)
    except Exception:
        pass
    data = content.read(limit + 1)
    if len(data) > limit:
        raise request_entity_too_large(f"limit is {limit}")
    return data


def header(request: IRequest, name: bytes) -> str:
    """
    A request header as text (C{""} when absent).
    """
    v = request.getHeader(name)
    if v is None:
        return ""
    return v.decode("latin-1") if isinstance(v, bytes) else v


def media_type(request: IRequest) -> str:
    """
    The request's Content-Type without parameters, lower-cased (C{""} when absent).
    """
    return header(request, b"content-type").split(";", 1)[0].strip().lower()


def add_warning(request: IRequest, text: str) -> None:
    """
    Add a C{Warning: 299 - "<text>"} response header.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    request.responseHeaders.addRawHeader(b"Warning", f'299 - "{escaped}"'.encode("utf-8"))


def is_custom(resource: Resource) -> bool:
    """
    Whether a resource is a custom resource (its schema is a structural dict, not a definition name).
    """
    return any(isinstance(v.schema, dict) for v in resource.versions)


@functools.lru_cache(maxsize=512)
def _schema_by_name(name: str) -> Any:
    from kapid.apimachinery.schema import Schema

    return Schema.of(name)


def schema_for(resource: Resource, version: str) -> Any:
    """
    The L{kapid.apimachinery.schema.Schema} of the kind in C{version}, or None.
    """
    v = resource.version(version) or resource.storage_version
    if v is None or v.schema is None:
        return None
    if isinstance(v.schema, str):
        try:
            return _schema_by_name(v.schema)
        except KeyError:
            return None
    return _structural_schema(v.schema)


#: id(a CRD version's schema dict) -> (that dict, its wrapped Schema): one wrapper per served
#: schema, so the children it wraps while walking (managed fields, apply) are wrapped once
_STRUCTURAL: dict[int, tuple[dict, Any]] = {}


def _structural_schema(node: dict) -> Any:
    hit = _STRUCTURAL.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    from kapid.apimachinery.schema import Schema

    if len(_STRUCTURAL) > 256:  # schemas of CRDs that changed or went
        _STRUCTURAL.clear()
    schema = Schema.structural(node)
    _STRUCTURAL[id(node)] = (node, schema)
    return schema


_VALIDATIONS = ("Ignore", "Warn", "Strict")


def field_validation(query: Query, options_kind: str = "CreateOptions") -> str:
    """
    The C{fieldValidation} directive (C{Warn} when absent); other values are kube's 422 on the
    request's options.
    """
    v = query.get("fieldValidation")
    if not v:
        return "Warn"
    if v not in _VALIDATIONS:
        from kapid.apimachinery import field
        from kapid.apimachinery.query import options_invalid

        raise options_invalid(options_kind, [field.not_supported("fieldValidation", v, ("", "Ignore", "Warn", "Strict"))])
    return v


def decode_body(request: IRequest, body: bytes, resource: Optional[Resource] = None) -> tuple[Any, str]:
    """
    Decode a create/update body by its Content-Type: C{(object, media)}; 415 for other types.
    """
    media = media_type(request)
    if media in ("", ser.JSON, "application/*", "*/*"):
        if not body.strip():
            raise bad_request("Object 'Kind' is missing in ''")
        obj, _ = ser.decode_json(body)
        return obj, ser.JSON
    if media in (ser.YAML, "application/x-yaml", "text/yaml"):
        return ser.decode_yaml(body), ser.YAML
    if media == ser.PROTOBUF:
        try:
            from kapid.apimachinery.protobuf import decode
        except ImportError:
            raise unsupported_media_type(ser.ACCEPTED_BODY_TYPES)
        if resource is not None and is_custom(resource):
            raise unsupported_media_type((ser.JSON, ser.YAML))
        return decode(body, resource.kind if resource is not None else ""), ser.PROTOBUF
    if resource is not None and is_custom(resource):
        raise unsupported_media_type((ser.JSON, ser.YAML))
    raise unsupported_media_type(ser.ACCEPTED_BODY_TYPES)


def check_type(obj: Any, resource: Resource, version: str) -> dict:
    """
    Check the decoded object's kind and apiVersion against the endpoint (filling them when absent).
    """
    if not isinstance(obj, dict):
        raise bad_request(
            f"the object provided is unrecognized (must be of type {resource.kind}): "
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{_json_type(obj)} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}"
        )
    expected = resource.api_version(version)
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if is_custom(resource) and obj.get("metadata") is not None and not isinstance(obj["metadata"], dict):
        # unstructured objects: kube's accessor error (built-in kinds fail their typed decoding)
        raise bad_request(metadata_type_error(obj["metadata"]))
    if api_version and api_version != expected:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({expected})"
        )
    if kind and kind != resource.kind:
        raise bad_request(
            f'{kind} in version "{version}" cannot be handled as a {resource.kind}: '
            f'no kind "{kind}" is registered for version "{expected}" in scheme'
        )
    obj.setdefault("kind", resource.kind)
    obj.setdefault("apiVersion", expected)
    return obj


def metadata_type_error(metadata: Any) -> str:
    """
    Kube's message for an unstructured object whose C{metadata} is not an object.
    """
    go_type = {bool: "bool", int: "int64", float: "float64", str: "string", list: "[]interface {}"}
    return (
        f".metadata accessor error: {metadata} is of the type {go_type.get(type(metadata), 'interface {}')}, "
        "expected map[string]interface{}"
    )


def _json_type(v: Any) -> str:
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return "null"


def apply_field_validation(
    request: IRequest,
    resource: Resource,
    version: str,
    obj: dict,
    body: Optional[bytes],
    directive: str,
    media: str = ser.JSON,
) -> None:
    """
    Unknown and duplicate fields per the directive (400 for Strict, warnings for Warn), then prune
    unknown fields (kube drops them while decoding).
    """
    custom_unknown = getattr(resource.strategy, "unknown_fields", None)
    if custom_unknown is not None:
        return _custom_field_validation(request, resource, version, obj, body, directive, media)
    schema = schema_for(resource, version)
    if schema is None or _structural is None:
        return
    unknown: list[str] = []
    dups: list[str] = []
    if directive != "Ignore":
        unknown = _structural.unknown_fields(schema, obj)
        if body is not None and media == ser.JSON and may_have_duplicates(body, obj):
            dups = _structural.duplicate_fields(body)
        if unknown or dups:
            if directive == "Strict":
                raise bad_request(
                    _structural.cannot_handle_message(
                        resource.kind, version, _structural.strict_decoding_message(unknown, dups)
                    )
                )
            for w in _structural.unknown_field_warnings(unknown, dups):
                add_warning(request, w)
    if unknown or directive == "Ignore":
        _structural.prune(schema, obj)
    if not is_custom(resource):
        err = _structural.decode_error(schema, obj) if hasattr(_structural, "decode_error") else None
        if err:
            raise bad_request(_structural.cannot_handle_message(resource.kind, version, err))


def _custom_field_validation(
    request: IRequest, resource: Resource, version: str, obj: dict, body: Optional[bytes], directive: str, media: str,
) -> None:
    """
    L{apply_field_validation} for a custom resource: its CRD version's compiled schema says which
    fields are unknown (the strategy's C{unknown_fields}/C{prune}); they are pruned whatever the
    directive, as kube's decoder prunes them.
    """
    strategy = resource.strategy
    if directive == "Ignore":
        strategy.prune(version, obj)
        return
    unknown = strategy.prune(version, obj)
    dups: list[str] = []
    if body is not None and media == ser.JSON and may_have_duplicates(body, obj) and _structural is not None:
        dups = _structural.duplicate_fields(body)
    if not unknown and not dups:
        return
    if directive == "Strict":
        raise bad_request(
            _structural.cannot_handle_message(resource.kind, version, _structural.strict_decoding_message(unknown, dups))
        )
    for w in _structural.unknown_field_warnings(unknown, dups):
        add_warning(request, w)


_KEY_TOKEN = re.compile(rb'"\s*:')


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value)
    return 0


def may_have_duplicates(body: bytes, obj: Any) -> bool:
    """
    A cheap test before the full duplicate-field scan: every key of the JSON text is a C{"} followed
    by C{:}, so when the text has no more such tokens than the decoded object has keys, no key was
    repeated (tokens inside string values only make the test answer yes).
    """
    return len(_KEY_TOKEN.findall(body)) != _count_keys(obj)


@attr.s(auto_attribs=True)
class Target:
    """
    What a resource request addresses.
    """

    resource: Resource
    version: str
    namespace: str
    name: str
    subresource: str
    watch_path: bool = False


_PRETTY_AGENTS = ("curl", "Wget", "Mozilla/5.0")


def wants_pretty(request: IRequest, query: Query) -> bool:
    """
    kube's C{isPrettyPrint}: C{?pretty=true}, or a curl/Wget/browser user agent.
    """
    pp = query.get("pretty")
    if pp:
        from kapid.apimachinery.query import parse_bool

        try:
            return parse_bool(pp)
        except ValueError:
            return False
    ua = header(request, b"user-agent")
    return ua.startswith(_PRETTY_AGENTS)


def write(request: IRequest, code: int, output: ser.Output, obj: Any, pretty: bool) -> bytes:
    """
    Set the code and Content-Type and return the encoded body.
    """
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", output.content_type.encode("ascii"))
    _cache_control(request)
    return output.encode(obj, pretty)


def _cache_control(request: IRequest) -> None:
    """
    kube's C{WithCacheControl}: C{Cache-Control: no-cache, private} unless a handler set one.
    """
    if not request.responseHeaders.hasHeader(b"cache-control"):
        request.setHeader(b"Cache-Control", b"no-cache, private")


def status_error_body(err: StatusError) -> dict:
    """
    The Status of an error (for watch ERROR events).
    """
    return err.to_status()
