"""
Field errors, as k8s.io/apimachinery/pkg/util/validation/field has them.

A validator returns a list of L{FieldError}; L{kapid.apimachinery.status.invalid} turns the list into a
422 C{Invalid} C{Status} whose message and C{details.causes} read exactly like kube-apiserver's.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import attr
import orjson

#: Marks a L{FieldError} whose bad value is not printed.
OMIT = object()

# type name -> (text, cause reason)
_TYPES = {
    "invalid": ("Invalid value", "FieldValueInvalid"),
    "required": ("Required value", "FieldValueRequired"),
    "not_supported": ("Unsupported value", "FieldValueNotSupported"),
    "duplicate": ("Duplicate value", "FieldValueDuplicate"),
    "forbidden": ("Forbidden", "FieldValueForbidden"),
    "too_long": ("Too long", "FieldValueTooLong"),
    "too_many": ("Too many", "FieldValueTooMany"),
    "internal": ("Internal error", "InternalError"),
    "not_found": ("Not found", "FieldValueNotFound"),
    "type_invalid": ("Invalid value", "FieldValueTypeInvalid"),
}

_NO_VALUE_TYPES = {"required", "forbidden", "too_long", "internal"}


class GoValue(str):
    """
    A bad value already formatted the way Go's C{%#v} prints it (C{map[string]string{"a":"b"}},
    C{[]string{"10.0.0.1"}}); L{FieldError.body} prints it as is, unquoted.
    """


def _go_value(value: Any) -> str:
    """
    Format a bad value the way kube's C{ErrorBody} does (C{%q} for strings, C{%v} for numbers).
    """
    if isinstance(value, GoValue):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode("utf-8")
    if value is None:
        return "null"
    return orjson.dumps(value).decode("utf-8")


@attr.s(frozen=True, auto_attribs=True)
class FieldError:
    """
    One field error: a path such as C{metadata.name}, a type, the bad value and a detail.
    """

    type: str
    field: str
    value: Any = OMIT
    detail: str = ""

    def body(self) -> str:
        """
        Kube's C{ErrorBody()}: C{Invalid value: "Bad_Name": <detail>}.
        """
        text = _TYPES[self.type][0]
        if self.type in _NO_VALUE_TYPES or self.value is OMIT:
            s = text
        else:
            s = f"{text}: {_go_value(self.value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        """
        The C{StatusCause} (reason, message, field) for C{details.causes}.
        """
        return {"reason": _TYPES[self.type][1], "message": self.body(), "field": self.field}


def invalid(field: str, value: Any, detail: str) -> FieldError:
    """
    C{Invalid value}.
    """
    return FieldError("invalid", field, value, detail)


def required(field: str, detail: str = "") -> FieldError:
    """
    C{Required value}.
    """
    return FieldError("required", field, OMIT, detail)


def not_supported(field: str, value: Any, supported: Iterable[str]) -> FieldError:
    """
    C{Unsupported value} with kube's C{supported values: "a", "b"} detail.
    """
    quoted = ", ".join(_go_value(s) for s in supported)
    return FieldError("not_supported", field, value, f"supported values: {quoted}" if quoted else "")


def duplicate(field: str, value: Any) -> FieldError:
    """
    C{Duplicate value}.
    """
    return FieldError("duplicate", field, value)


def forbidden(field: str, detail: str) -> FieldError:
    """
    C{Forbidden}.
    """
    return FieldError("forbidden", field, OMIT, detail)


def too_long(field: str, max_length: int) -> FieldError:
    """
    C{Too long} with kube's C{may not be more than N bytes} detail.
    """
    return FieldError("too_long", field, OMIT, f"may not be more than {max_length} bytes")


def not_found(field: str, value: Any) -> FieldError:
    """
    C{Not found}.
    """
    return FieldError("not_found", field, value)


def internal(field: str, detail: str) -> FieldError:
    """
    C{Internal error}.
    """
    return FieldError("internal", field, OMIT, detail)


def path(*parts: Optional[object]) -> str:
    """
    Join a field path: C{path("spec", "containers[0]", "image")} -> C{spec.containers[0].image}.
    Index parts given as ints are appended as C{[i]}; string keys of maps as C{[key]} when passed
    as a one-element list.
    """
    out = ""
    for p in parts:
        if p is None:
            continue
        if isinstance(p, int):
            out += f"[{p}]"
        elif isinstance(p, list):
            out += f"[{p[0]}]"
        else:
            out = f"{out}.{p}" if out else str(p)
    return out
