"""
JSON patch (RFC 6902) with the semantics and error messages of the library kube-apiserver applies
them with (evanphx/json-patch v4), so that a patch that works, or fails, against kube does the
same against kapid:

  - C{replace} of a missing object member sets it (only array indices must exist);
  - negative array indices count from the end;
  - C{test} of a missing member passes when the value is C{null};
  - errors read C{error in remove for path: '/data/x': Unable to remove nonexistent key: x: missing
    value}, C{testing value /spec/replicas failed: test failed}, C{Unexpected kind: bogus}, ...

L{apply_patch} raises L{JSONPatchError} with that message; the PATCH handler answers it as kube
does (422 with the message as an C{UnexpectedServerResponse} cause).
"""

from __future__ import annotations

import copy
from typing import Any, Optional, Union

_MISSING = "missing value"
_INVALID_INDEX = "invalid index referenced"
_TEST_FAILED = "test failed"


class JSONPatchError(ValueError):
    """
    A patch operation that does not apply; the message is the Go library's.
    """


def _wrap(message: str, cause: str) -> JSONPatchError:
    return JSONPatchError(f"{message}: {cause}")


def _decode_key(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _atoi(key: str) -> int:
    text = key[1:] if key[:1] in "+-" else key
    if not text or not text.isdigit() or not text.isascii():
        raise JSONPatchError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    return int(key)


Container = Union[dict, list]


def _find(doc: Any, path: str) -> tuple[Optional[Container], str]:
    """
    The container holding C{path}'s last element and that element's key (C{None} when a parent is
    missing or C{path} has no C{/}).
    """
    split = path.split("/")
    if len(split) < 2:
        return None, ""
    node = doc
    for part in split[1:-1]:
        try:
            nxt = _get(node, _decode_key(part))
        except JSONPatchError:
            return None, ""
        if not isinstance(nxt, (dict, list)):
            return None, ""
        node = nxt
    return node, _decode_key(split[-1])


def _index(arr: list, key: str, extra: int = 0) -> int:
    idx = _atoi(key)
    size = len(arr) + extra
    if idx < 0:
        if idx < -size:
            raise _wrap(f"Unable to access invalid index: {idx}", _INVALID_INDEX)
        idx += size
    elif idx >= size:
        raise _wrap(f"Unable to access invalid index: {idx}", _INVALID_INDEX)
    return idx


def _get(node: Container, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    return node[_index(node, key)]


def _set(node: Container, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    else:
        node[_index(node, key)] = value


def _add(node: Container, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
        return
    if key == "-":
        node.append(value)
        return
    try:
        idx = _atoi(key)
    except JSONPatchError as e:
        raise _wrap(f"value was not a proper array index: '{key}'", str(e))
    size = len(node) + 1
    if idx >= size:
        raise _wrap(f"Unable to access invalid index: {idx}", _INVALID_INDEX)
    if idx < 0:
        if idx < -size:
            raise _wrap(f"Unable to access invalid index: {idx}", _INVALID_INDEX)
        idx += size
    node.insert(idx, value)


def _remove(node: Container, key: str) -> None:
    if isinstance(node, dict):
        if key not in node:
            raise _wrap(f"Unable to remove nonexistent key: {key}", _MISSING)
        del node[key]
        return
    del node[_index(node, key)]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return type(a) is type(b) and a == b


def _path(op: dict, name: str, what: str) -> str:
    value = op.get(name)
    if not isinstance(value, str):
        raise _wrap(what, _MISSING)
    return value


def apply_patch(doc: Any, patch: list) -> Any:
    """
    C{doc} (not modified) with the operations of C{patch} applied in order.

    @raise JSONPatchError: when an operation does not apply.
    """
    doc = copy.deepcopy(doc)
    for op in patch:
        op = op if isinstance(op, dict) else {}
        kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
        if kind == "add":
            path = _path(op, "path", "add operation failed to decode path")
            con, key = _find(doc, path)
            if con is None:
                raise _wrap(f'add operation does not apply: doc is missing path: "{path}"', _MISSING)
            try:
                _add(con, key, copy.deepcopy(op.get("value")))
            except JSONPatchError as e:
                raise _wrap(f"error in add for path: '{path}'", str(e))
        elif kind == "remove":
            path = _path(op, "path", "remove operation failed to decode path")
            con, key = _find(doc, path)
            if con is None:
                raise _wrap(f'remove operation does not apply: doc is missing path: "{path}"', _MISSING)
            try:
                _remove(con, key)
            except JSONPatchError as e:
                raise _wrap(f"error in remove for path: '{path}'", str(e))
        elif kind == "replace":
            path = _path(op, "path", "replace operation failed to decode path")
            value = copy.deepcopy(op.get("value"))
            if path == "":
                if not isinstance(value, (dict, list)):
                    raise JSONPatchError("replace operation value must be object or array")
                doc = value
                continue
            con, key = _find(doc, path)
            if con is None:
                raise _wrap(f"replace operation does not apply: doc is missing path: {path}", _MISSING)
            try:
                _get(con, key)
            except JSONPatchError:
                raise _wrap(f"replace operation does not apply: doc is missing key: {path}", _MISSING)
            _set(con, key, value)
        elif kind == "move":
            source = _path(op, "from", "move operation failed to decode from: operation, missing from field")
            con, key = _find(doc, source)
            if con is None:
                raise _wrap(f"move operation does not apply: doc is missing from path: {source}", _MISSING)
            try:
                value = _get(con, key)
                _remove(con, key)
            except JSONPatchError as e:
                raise _wrap(f"error in move for path: '{key}'", str(e))
            path = _path(op, "path", "move operation failed to decode path: operation missing path field")
            con, key = _find(doc, path)
            if con is None:
                raise _wrap(f"move operation does not apply: doc is missing destination path: {path}", _MISSING)
            try:
                _add(con, key, value)
            except JSONPatchError as e:
                raise _wrap(f"error in move for path: '{path}'", str(e))
        elif kind == "test":
            path = _path(op, "path", "test operation failed to decode path: operation missing path field")
            if path == "":
                if not _equal(doc, op.get("value")):
                    raise _wrap(f"testing value {path} failed", _TEST_FAILED)
                continue
            con, key = _find(doc, path)
            if con is None:
                raise _wrap(f"test operation does not apply: is missing path: {path}", _MISSING)
            try:
                value = _get(con, key)
            except JSONPatchError as e:
                raise _wrap(f"error in test for path: '{path}'", str(e))
            if value is None and op.get("value") is None and "value" in op:
                continue
            if "value" not in op or not _equal(value, op.get("value")):
                raise _wrap(f"testing value {path} failed", _TEST_FAILED)
        elif kind == "copy":
            source = _path(op, "from", "copy operation failed to decode from: operation, missing from field")
            con, key = _find(doc, source)
            if con is None:
                raise _wrap(f"copy operation does not apply: doc is missing from path: {source}", _MISSING)
            try:
                value = _get(con, key)
            except JSONPatchError as e:
                raise _wrap(f"error in copy for from: '{source}'", str(e))
            path = _path(op, "path", "copy operation failed to decode path")
            con, key = _find(doc, path)
            if con is None:
                raise _wrap(f"copy operation does not apply: doc is missing destination path: {path}", _MISSING)
            try:
                _add(con, key, copy.deepcopy(value))
            except JSONPatchError as e:
                raise _wrap("error while adding value during copy", str(e))
        else:
            raise JSONPatchError(f"Unexpected kind: {kind}")
    return doc
