"""
Empty fields as kube's JSON encoding leaves them out.

kube-apiserver decodes a built-in object into its Go struct and encodes it again, so a field whose
Go tag carries C{omitempty} disappears when its value is empty: C{""}, C{0}, C{false}, an empty or
absent list or map, C{null}. A pointer field (C{*int32}, C{*bool}, ...) is left out only when it is
C{null}: its zero value is a value (C{replicas: 0} stays). A struct field is never left out by
C{omitempty} (C{"status": {}} stays). A client that sends C{"apiGroup": ""} on a ServiceAccount
subject, or C{"labels": {}}, gets an object back without them, and an update that differs from the
stored object only by such fields changes nothing.

The rules come from the message descriptions of L{kapid.apimachinery.protodesc} (its C{o} and C{p}
flags are the Go tags'), for the kinds it describes (L{protodesc.KINDS}); other kinds are left as
they are.
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.apimachinery import protodesc

_EMPTY_SCALARS = ("", 0, False, None)


def message_of(obj: dict) -> Optional[str]:
    """
    The L{protodesc.MESSAGES} name of a built-in object (from its C{apiVersion} and C{kind}), or
    None when kapid has no description of it.
    """
    api_version = obj.get("apiVersion") or ""
    group, _, version = api_version.rpartition("/")
    return protodesc.KINDS.get((group, version, obj.get("kind") or ""))


def omit_empty(obj: dict) -> dict:
    """
    Remove, in place and at every depth, the fields of C{obj} kube's encoding of its Go type
    leaves out when empty; returns C{obj}. Objects of kinds without a description are unchanged.
    """
    message = message_of(obj)
    if message is not None:
        omit_empty_message(message, obj)
    return obj


def _is_empty(value: Any, cardinality: str) -> bool:
    if value is None:
        return True
    if cardinality != protodesc.ONE:
        return isinstance(value, (list, dict)) and not value
    return isinstance(value, (str, int, float)) and value in _EMPTY_SCALARS


def omit_empty_message(message: str, value: dict) -> None:
    """
    L{omit_empty} for a JSON object of the message C{message}.
    """
    fields = protodesc.MESSAGES.get(message)
    if fields is None:
        return  # Time, Quantity, IntOrString, RawExtension, ...: their own JSON forms
    for json_name, typ, cardinality, flags in fields.values():
        if protodesc.INLINE in flags:
            omit_empty_message(typ, value)
            continue
        if json_name not in value:
            continue
        v = value[json_name]
        if protodesc.OMITEMPTY in flags:
            if protodesc.POINTER in flags and cardinality == protodesc.ONE:
                if v is None:
                    del value[json_name]
                    continue
            elif cardinality == protodesc.ONE and (typ in protodesc.MESSAGES or typ in protodesc.SPECIAL):
                pass  # a struct (Time, IntOrString, Quantity too): omitempty never leaves one out
            elif _is_empty(v, cardinality):
                del value[json_name]
                continue
        _walk(typ, cardinality, v)


def _walk(typ: Any, cardinality: str, value: Any) -> None:
    if cardinality == protodesc.ONE:
        if isinstance(value, dict):
            omit_empty_message(typ, value)
    elif cardinality == protodesc.REPEATED:
        if isinstance(value, list) and typ in protodesc.MESSAGES:
            for item in value:
                if isinstance(item, dict):
                    omit_empty_message(typ, item)
    elif isinstance(value, dict):
        _, value_type = typ
        if value_type in protodesc.MESSAGES:
            for item in value.values():
                if isinstance(item, dict):
                    omit_empty_message(value_type, item)
