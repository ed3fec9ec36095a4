"""
Encoding and decoding for etcd 3.4's JSON gateway: base64 keys and values, int64 fields that arrive
as strings, omitted zero fields, watch messages, and gateway errors mapped to storage errors (see
C{reference/etcd-gateway.md}).
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from typing import Any, Optional

import orjson

from kapid.storage.interfaces import (
    DELETE,
    PUT,
    CompactedError,
    FutureRevisionError,
    KeyValue,
    KVEvent,
    LeaseNotFoundError,
    RequestTooLargeError,
    StorageError,
    UnavailableError,
)

# gRPC codes the gateway puts in "code"
GRPC_INVALID_ARGUMENT = 3
GRPC_NOT_FOUND = 5
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_OUT_OF_RANGE = 11
GRPC_UNAVAILABLE = 14
GRPC_DEADLINE_EXCEEDED = 4


def b64(data: bytes) -> str:
    """
    Standard padded base64 of C{data}, as the gateway wants it.
    """
    return b64encode(data).decode("ascii")


def unb64(text: Optional[str]) -> bytes:
    """
    Decode a base64 field (absent: empty).
    """
    return b64decode(text) if text else b""


def parse_kv(kv: dict[str, Any]) -> KeyValue:
    """
    A gateway C{mvccpb.KeyValue} as a L{KeyValue}.
    """
    return KeyValue(
        key=unb64(kv.get("key")),
        value=unb64(kv.get("value")),
        create_revision=int(kv.get("create_revision", 0)),
        mod_revision=int(kv.get("mod_revision", 0)),
        version=int(kv.get("version", 0)),
        lease=int(kv.get("lease", 0)),
    )


def parse_event(ev: dict[str, Any]) -> KVEvent:
    """
    A gateway watch event as a L{KVEvent}: no C{type} means PUT; a DELETE's C{kv} has only the key
    and the deletion's mod revision, its last value is in C{prev_kv}.
    """
    kind = DELETE if ev.get("type") == "DELETE" else PUT
    kv = parse_kv(ev["kv"])
    if kind == DELETE:
        kv = KeyValue(kv.key, b"", 0, kv.mod_revision, 0)
    prev = ev.get("prev_kv")
    return KVEvent(kind, kv, parse_kv(prev) if prev else None)


def header_revision(body: dict[str, Any]) -> int:
    """
    The store revision in a response header (0 when absent).
    """
    return int((body.get("header") or {}).get("revision", 0))


def gateway_error(status: int, body: bytes, revision: int = 0) -> StorageError:
    """
    Map a gateway error answer to a storage error. C{revision} is the revision the request asked
    for (for compacted / future revision errors).
    """
    try:
        doc = orjson.loads(body)
        message = str(doc.get("message") or doc.get("error") or "")
        code = int(doc.get("code", 0))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        message = body[:200].decode("utf-8", "replace")
        code = 0
    return error_from(status, code, message, revision)


def error_from(status: int, code: int, message: str, revision: int = 0) -> StorageError:
    """
    Map an HTTP status, gRPC code and message to a storage error.
    """
    if code == GRPC_OUT_OF_RANGE and "compacted" in message:
        return CompactedError(revision, 0)
    if code == GRPC_OUT_OF_RANGE and "future" in message:
        return FutureRevisionError(revision, 0)
    if "too large" in message or "larger than max" in message or status == 429:
        return RequestTooLargeError(message or "request is too large")
    if code == GRPC_NOT_FOUND and "lease" in message:
        return LeaseNotFoundError(message)
    if code in (GRPC_UNAVAILABLE, GRPC_DEADLINE_EXCEEDED) or (status >= 500 and code != 2):
        return UnavailableError(f"etcd: {message} (HTTP {status}, code {code})")
    return StorageError(f"etcd: {message} (HTTP {status}, code {code})")


class LineParser:
    """
    Splits a byte stream into lines (without the newline), carrying a partial line across chunks.
    Long lines arriving in many chunks are joined once.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add a chunk; return the complete, non-blank lines it finishes.
        """
        out: list[bytes] = []
        start = 0
        while True:
            i = data.find(b"\n", start)
            if i < 0:
                break
            if self._parts:
                self._parts.append(data[start:i])
                line = b"".join(self._parts)
                self._parts = []
            else:
                line = data[start:i]
            if line.strip():
                out.append(line)
            start = i + 1
        if start < len(data):
            self._parts.append(data[start:])
        return out

    @property
    def pending(self) -> bool:
        """
        Whether a partial line is buffered.
        """
        return bool(self._parts)


def group_by_revision(events: list[KVEvent]) -> list[tuple[int, list[KVEvent]]]:
    """
    Split the events of one watch message into runs of one revision each, in order (etcd may
    batch several revisions into one message when catching up).
    """
    out: list[tuple[int, list[KVEvent]]] = []
    for e in events:
        rev = e.kv.mod_revision
        if out and out[-1][0] == rev:
            out[-1][1].append(e)
        else:
            out.append((rev, [e]))
    return out
