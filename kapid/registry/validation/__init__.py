"""
Validation of built-in kinds beyond their schema: the rules kube-apiserver enforces in
pkg/apis/*/validation, with kube's field paths and messages (C{FieldError}s for a 422 Invalid).

Object metadata (name, namespace, labels, ...) is validated by the generic store
(L{kapid.apimachinery.meta}); these validators cover the rest of the object.
"""

from __future__ import annotations

from typing import Callable, Optional

from kapid.apimachinery.field import FieldError

from . import apps, batch, core, other

_Validator = Callable[[dict, Optional[dict]], list[FieldError]]

_BY_GROUP: dict[str, dict[str, _Validator]] = {
    "": core.VALIDATORS,
    "apps": apps.VALIDATORS,
    "batch": batch.VALIDATORS,
}
for _group, _table in other.VALIDATORS.items():
    _BY_GROUP.setdefault(_group, {}).update(_table)


def validate(group: str, kind: str, obj: dict, old: Optional[dict] = None) -> list[FieldError]:
    """
    The field errors of C{obj} (a create when C{old} is None, else an update from C{old}); C{[]}
    when valid or when kapid has no rules for the kind.
    """
    fn = _BY_GROUP.get(group, {}).get(kind)
    if fn is None or not isinstance(obj, dict):
        return []
    return fn(obj, old)
