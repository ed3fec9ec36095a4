"""
Kubernetes protobuf request bodies, decoded to the JSON form of the object.

kubectl 1.32+ writes C{application/vnd.kubernetes.protobuf} for every C{kubectl create <generator>},
C{auth can-i}, C{auth whoami} and C{create token}, and does not fall back to JSON after a 415. A body
is the magic C{k8s\\x00} followed by a C{runtime.Unknown} envelope::

    Unknown{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}

where C{raw} is the object's message. L{decode} reads it with a small wire-format reader and the
message tables of L{kapid.apimachinery.protodesc}, and returns exactly the dict the same client
would have sent as JSON: kube's JSON field names, C{omitempty} applied the way Go's encoder applies
it (proto2 carries explicit empty strings and zeros for non-pointer fields; those mean "unset"),
pointer fields kept even when zero, C{IntOrString}, C{Quantity} and C{Time} in their JSON forms,
C{bytes} as base64.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any, Iterator, Optional, Sequence

import orjson

from kapid.apimachinery import protodesc
from kapid.apimachinery.status import StatusError, bad_request, unsupported_media_type

#: The 4-byte prefix of every Kubernetes protobuf body.
MAGIC = b"k8s\x00"

#: What kube-apiserver lists in a 415 for built-in kinds (its serializers, in registration order).
ACCEPTED_MEDIA_TYPES = (
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
)

_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """
    The bytes are not well-formed protobuf.
    """


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """
    Read a base-128 varint at C{pos}; return (value, next position).
    """
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise WireError("unexpected EOF")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("proto: integer overflow")


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """
    Iterate over a message's fields as (field number, wire type, value): an C{int} for varint and
    fixed fields, C{bytes} for length-delimited ones.

    @raise WireError: on truncated or malformed input, or on (deprecated) groups.
    """
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if number == 0:
            raise WireError(f"proto: illegal tag 0 (wire type {wire})")
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise WireError("unexpected EOF")
            value = buf[pos : pos + length]
            pos += length
        elif wire == _I64:
            if pos + 8 > end:
                raise WireError("unexpected EOF")
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == _I32:
            if pos + 4 > end:
                raise WireError("unexpected EOF")
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise WireError(f"proto: illegal wireType {wire} for field {number}")
        yield number, wire, value


def _signed(value: int, bits: int) -> int:
    """
    Two's complement of a varint's low C{bits} bits (int32 and int64 are sent sign-extended).
    """
    value &= (1 << bits) - 1
    if value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def envelope(body: bytes) -> tuple[str, str, bytes]:
    """
    Split a Kubernetes protobuf body into (apiVersion, kind, raw message bytes).

    @raise WireError: when the magic is missing or the envelope is malformed.
    """
    if not body.startswith(MAGIC):
        raise WireError(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, wire, value in fields(body[len(MAGIC) :]):
        if number == 1 and wire == _LEN:
            for n, w, v in fields(value):
                if n == 1 and w == _LEN:
                    api_version = _text(v)
                elif n == 2 and w == _LEN:
                    kind = _text(v)
        elif number == 2 and wire == _LEN:
            raw = value
        elif number == 3 and wire == _LEN:
            encoding = _text(value)
    if encoding:
        raise WireError(f"unsupported content encoding {encoding!r}")
    return api_version, kind, raw


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("invalid UTF-8 in string field") from None


def decode(
    body: bytes,
    expected_kind: str = "",
    accepted: Sequence[str] = ACCEPTED_MEDIA_TYPES,
) -> dict[str, Any]:
    """
    Decode a Kubernetes protobuf request body to the object's JSON form.

    @param expected_kind: the kind the endpoint takes (for kube's error messages); defaults to
        the kind the envelope names.
    @param accepted: the media types the 415 lists (kube lists C{application/json,
        application/yaml} for custom resources, which have no protobuf form).
    @raise StatusError: 415 C{UnsupportedMediaType} for a kind kapid has no message table for,
        400 C{BadRequest} for malformed bytes.
    """
    try:
        api_version, kind, raw = envelope(body)
    except WireError as e:
        raise bad_request(
            f"the object provided is unrecognized (must be of type {expected_kind or 'Unknown'}): "
            f"{e} ({summarize(body)})"
        ) from None
    group, _, version = api_version.rpartition("/")
    message = protodesc.KINDS.get((group, version, kind)) or protodesc.OPTIONS_KINDS.get(kind)
    if message is None:
        raise unsupported_media_type(accepted)
    try:
        obj = decode_message(message, raw)
    except WireError as e:
        raise bad_request(
            f"{kind} in version {_go_quote(version)} cannot be handled as a "
            f"{expected_kind or kind}: {e}"
        ) from None
    out: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    out.update(obj)
    return out


def summarize(data: bytes, limit: int = 30) -> str:
    """
    Kube's summary of an undecodable body: C{<empty>}, its text when it looks like JSON, or hex;
    cut at C{limit} bytes with C{" ..."}.
    """
    if not data:
        return "<empty>"
    cut = data[:limit]
    more = " ..." if len(data) > limit else ""
    if data[:1] == b"{":
        return cut.decode("utf-8", "replace") + more
    return cut.hex() + more


def _go_quote(s: str) -> str:
    return orjson.dumps(s).decode("utf-8")


def decode_message(message: str, buf: bytes) -> Any:
    """
    Decode the bytes of one message of L{protodesc.MESSAGES} (or one of the special messages)
    to its JSON value.
    """
    special = _SPECIAL.get(message)
    if special is not None:
        return special(buf)
    table = protodesc.MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire, value in fields(buf):
        spec = table.get(number)
        if spec is None:
            continue  # unknown fields are skipped, as gogo's Unmarshal does
        name, typ, card, flags = spec
        if card == protodesc.MAP:
            if wire != _LEN:
                raise WireError(f"proto: wrong wireType = {wire} for field {_go_name(name)}")
            key_type, value_type = typ
            k: Any = _zero(key_type)
            v: Any = None
            for n, w, val in fields(value):
                if n == 1:
                    k = _scalar_or_message(key_type, w, val, name)
                elif n == 2:
                    v = _scalar_or_message(value_type, w, val, name)
            if v is None:
                v = _zero(value_type) if value_type in protodesc.SCALARS else decode_message(value_type, b"")
            out.setdefault(name, {})[k] = v
        elif card == protodesc.REPEATED:
            items = out.setdefault(name, [])
            if wire == _LEN and typ in protodesc.PACKABLE:
                for _, _, val in _packed(value, typ):
                    items.append(_scalar(typ, val))
            else:
                items.append(_scalar_or_message(typ, wire, value, name))
        else:
            out[name] = _scalar_or_message(typ, wire, value, name)
    # Go's encoder: drop zero scalars of omitempty non-pointer fields; nil slices, maps and
    # pointers without omitempty are written as null; embedded structs are inlined.
    result: dict[str, Any] = {}
    for name, typ, card, flags in table.values():
        if name not in out:
            if protodesc.OMITEMPTY not in flags and (
                card != protodesc.ONE or protodesc.POINTER in flags
            ):
                result[name] = None
            continue
        value = out[name]
        if protodesc.INLINE in flags:
            if isinstance(value, dict):
                result.update(value)
            continue
        if (
            card == protodesc.ONE
            and protodesc.OMITEMPTY in flags
            and protodesc.POINTER not in flags
            and typ in protodesc.SCALARS
            and value == _zero(typ)
        ):
            continue
        result[name] = value
    return result


def _packed(buf: bytes, typ: str) -> Iterator[tuple[int, int, int]]:
    """
    Elements of a packed repeated scalar field.
    """
    pos = 0
    while pos < len(buf):
        if typ in ("fixed64", "sfixed64", "double"):
            yield 0, _I64, int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif typ in ("fixed32", "sfixed32", "float"):
            yield 0, _I32, int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            value, pos = _varint(buf, pos)
            yield 0, _VARINT, value
    if pos != len(buf):
        raise WireError("unexpected EOF")


def _zero(typ: str) -> Any:
    """
    The JSON zero value of a scalar type.
    """
    if typ == "string":
        return ""
    if typ == "bool":
        return False
    if typ == "bytes":
        return ""
    return 0


def _go_name(json_name: str) -> str:
    """
    The Go field name kube's errors use, from the JSON name.
    """
    return json_name[:1].upper() + json_name[1:]


def _scalar_or_message(typ: str, wire: int, value: Any, name: str) -> Any:
    if typ in protodesc.SCALARS:
        expected = _LEN if typ in ("string", "bytes") else protodesc.SCALARS[typ]
        if wire != expected:
            raise WireError(f"proto: wrong wireType = {wire} for field {_go_name(name)}")
        return _scalar(typ, value)
    if wire != _LEN:
        raise WireError(f"proto: wrong wireType = {wire} for field {_go_name(name)}")
    return decode_message(typ, value)


def _scalar(typ: str, value: Any) -> Any:
    if typ == "string":
        return _text(value)
    if typ == "bytes":
        return base64.b64encode(value).decode("ascii")
    if typ == "bool":
        return bool(value)
    if typ in ("int32", "sfixed32"):
        return _signed(value, 32)
    if typ in ("int64", "sfixed64"):
        return _signed(value, 64)
    if typ == "sint32" or typ == "sint64":
        return (value >> 1) ^ -(value & 1)
    if typ in ("double", "float"):
        import struct

        if typ == "double":
            return struct.unpack("<d", value.to_bytes(8, "little"))[0]
        return struct.unpack("<f", value.to_bytes(4, "little"))[0]
    return value  # uint32, uint64, fixed32, fixed64


def _message_fields(buf: bytes, spec: dict[int, str]) -> dict[int, Any]:
    """
    Read the scalar fields of a small special message: number -> raw value.
    """
    out: dict[int, Any] = {}
    for number, wire, value in fields(buf):
        if number in spec:
            typ = spec[number]
            out[number] = _scalar_or_message(typ, wire, value, typ)
    return out


def _time(buf: bytes) -> Optional[str]:
    """
    C{metav1.Time{1: seconds, 2: nanos}}: RFC 3339 at second precision, C{null} for the zero time.
    """
    f = _message_fields(buf, {1: "int64", 2: "int32"})
    seconds = f.get(1, 0)
    if seconds == 0 and f.get(2, 0) == 0:
        return None
    return _rfc3339(seconds)


def _micro_time(buf: bytes) -> Optional[str]:
    """
    C{metav1.MicroTime}: RFC 3339 with microseconds, C{null} for the zero time.
    """
    f = _message_fields(buf, {1: "int64", 2: "int32"})
    seconds, nanos = f.get(1, 0), f.get(2, 0)
    if seconds == 0 and nanos == 0:
        return None
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        seconds=seconds, microseconds=nanos // 1000
    )
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"


def _rfc3339(seconds: int) -> str:
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        seconds=seconds
    )
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(buf: bytes) -> Any:
    """
    C{IntOrString{1: type, 2: intVal, 3: strVal}}: a JSON number (type 0) or string (type 1).
    """
    f = _message_fields(buf, {1: "int64", 2: "int32", 3: "string"})
    if f.get(1, 0) == 1:
        return f.get(3, "")
    return f.get(2, 0)


def _quantity(buf: bytes) -> str:
    """
    C{Quantity{1: string}}: its canonical string.
    """
    return _message_fields(buf, {1: "string"}).get(1, "0")


def _duration(buf: bytes) -> str:
    """
    C{metav1.Duration{1: nanoseconds}}: Go's C{time.Duration.String()} form.
    """
    return go_duration(_message_fields(buf, {1: "int64"}).get(1, 0))


def go_duration(ns: int) -> str:
    """
    Go's C{time.Duration.String()}: C{"1h2m3.5s"}, C{"300ms"}, C{"0s"}.
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _frac(ns, size) + unit
    h, rem = divmod(ns, 3600 * 1_000_000_000)
    m, rem = divmod(rem, 60 * 1_000_000_000)
    s = _frac(rem, 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def _frac(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def _raw_json(buf: bytes) -> Any:
    """
    C{runtime.RawExtension} / C{FieldsV1} (field 1: raw JSON bytes): the embedded JSON value.
    """
    raw = _message_fields(buf, {1: "bytes"}).get(1)
    if not raw:
        return None
    try:
        return orjson.loads(base64.b64decode(raw))
    except orjson.JSONDecodeError:
        raise WireError("embedded raw data is not JSON") from None


def _extra_value(buf: bytes) -> list[str]:
    """
    C{ExtraValue{1: repeated items}}: a JSON list of strings.
    """
    return [_text(v) for n, w, v in fields(buf) if n == 1 and w == _LEN]


_SPECIAL = {
    "ExtraValue": _extra_value,
    "Time": _time,
    "MicroTime": _micro_time,
    "IntOrString": _int_or_string,
    "Quantity": _quantity,
    "Duration": _duration,
    "RawExtension": _raw_json,
    "FieldsV1": _raw_json,
}


def is_protobuf(content_type: str) -> bool:
    """
    Whether a C{Content-Type} names Kubernetes protobuf.
    """
    return content_type.split(";", 1)[0].strip().lower() == "application/vnd.kubernetes.protobuf"


__all__ = [
    "ACCEPTED_MEDIA_TYPES",
    "MAGIC",
    "StatusError",
    "WireError",
    "decode",
    "decode_message",
    "envelope",
    "fields",
    "go_duration",
    "is_protobuf",
    "summarize",
]
