"""
A Swagger 2.0 document in the protobuf form kube-apiserver serves at C{/openapi/v2} for
C{Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf} (gnostic's
C{openapi.v2.Document} message).

kubectl asks for it (protobuf only) whenever it validates on the client, which it does for kinds
whose OpenAPI v3 PATCH operation it cannot find, for example the items of a C{kind: List}
manifest. It reads the C{definitions} (types, properties, items, C{$ref}s, C{required},
C{additionalProperties} and vendor extensions such as C{x-kubernetes-group-version-kind}); this
encoder writes those, C{swagger} and C{info}, and leaves the paths out (kubectl does not read them).

Field numbers are facts of gnostic's OpenAPIv2 message set:

  - Document: 1 swagger, 2 info, 9 definitions.
  - Info: 1 title, 2 version.
  - Definitions / Properties: 1 repeated NamedSchema (1 name, 2 value).
  - Schema: 1 $ref, 2 format, 3 title, 4 description, 6 multipleOf, 7 maximum, 8 exclusiveMaximum,
    9 minimum, 10 exclusiveMinimum, 11 maxLength, 12 minLength, 13 pattern, 14 maxItems,
    15 minItems, 16 uniqueItems, 17 maxProperties, 18 minProperties, 19 repeated required,
    20 repeated enum (Any), 21 additionalProperties (AdditionalPropertiesItem: 1 schema,
    2 boolean), 22 type (TypeItem: 1 repeated value), 23 items (ItemsItem: 1 repeated schema),
    24 repeated allOf, 25 properties, 27 readOnly, 31 repeated vendor extensions (NamedAny:
    1 name, 2 value).
  - Any: 2 yaml (the value as YAML text; JSON is YAML).
"""

from __future__ import annotations

import struct
from typing import Any

import orjson


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _string(field: int, s: str) -> bytes:
    return _bytes(field, s.encode("utf-8")) if s else b""


def _int(field: int, n: Any) -> bytes:
    return _key(field, 0) + _varint(int(n)) if n else b""


def _bool(field: int, v: Any) -> bytes:
    return _key(field, 0) + b"\x01" if v else b""


def _double(field: int, v: Any) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(v)) if v else b""


def _any(value: Any) -> bytes:
    """
    gnostic's C{Any} holding C{value} as YAML text.
    """
    return _string(2, orjson.dumps(value).decode("utf-8"))


def _named(field: int, name: str, value: bytes) -> bytes:
    return _bytes(field, _string(1, name) + _bytes(2, value))


def encode_schema(s: dict[str, Any]) -> bytes:
    """
    One C{Schema} message.
    """
    out = bytearray()
    out += _string(1, s.get("$ref", ""))
    out += _string(2, s.get("format", ""))
    out += _string(3, s.get("title", ""))
    out += _string(4, s.get("description", ""))
    out += _double(6, s.get("multipleOf"))
    out += _double(7, s.get("maximum"))
    out += _bool(8, s.get("exclusiveMaximum"))
    out += _double(9, s.get("minimum"))
    out += _bool(10, s.get("exclusiveMinimum"))
    out += _int(11, s.get("maxLength"))
    out += _int(12, s.get("minLength"))
    out += _string(13, s.get("pattern", ""))
    out += _int(14, s.get("maxItems"))
    out += _int(15, s.get("minItems"))
    out += _bool(16, s.get("uniqueItems"))
    out += _int(17, s.get("maxProperties"))
    out += _int(18, s.get("minProperties"))
    for name in s.get("required") or ():
        out += _string(19, name)
    for value in s.get("enum") or ():
        out += _bytes(20, _any(value))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(21, _bytes(1, encode_schema(extra)))
    elif isinstance(extra, bool):
        out += _bytes(21, _key(2, 0) + (b"\x01" if extra else b"\x00"))
    typ = s.get("type")
    if typ:
        out += _bytes(22, b"".join(_string(1, t) for t in ([typ] if isinstance(typ, str) else typ)))
    items = s.get("items")
    if isinstance(items, dict):
        out += _bytes(23, _bytes(1, encode_schema(items)))
    elif isinstance(items, list):
        out += _bytes(23, b"".join(_bytes(1, encode_schema(i)) for i in items))
    for sub in s.get("allOf") or ():
        out += _bytes(24, encode_schema(sub))
    props = s.get("properties")
    if props:
        out += _bytes(25, b"".join(_named(1, k, encode_schema(v)) for k, v in props.items()))
    out += _bool(27, s.get("readOnly"))
    for k, v in s.items():
        if k.startswith("x-"):
            out += _named(31, k, _any(v))
    return bytes(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """
    The C{openapi.v2.Document} message of a Swagger 2.0 document (definitions, no paths).
    """
    info = doc.get("info") or {}
    out = bytearray()
    out += _string(1, doc.get("swagger", "2.0"))
    out += _bytes(2, _string(1, info.get("title", "")) + _string(2, info.get("version", "")))
    definitions = doc.get("definitions") or {}
    out += _bytes(9, b"".join(_named(1, k, encode_schema(v)) for k, v in definitions.items()))
    return bytes(out)
