"""
The generic strategy: one L{IRESTStrategy} driven by the resource description and its schema
(defaults and validation come from the schema modules; status and generation handling from flags).
Resources with special needs subclass it (namespaces, pods, events in L{kapid.registry.builtin.core}).
"""

from __future__ import annotations

from typing import Any, Optional

from zope.interface import implementer

from kapid.apimachinery.field import FieldError
from kapid.registry.interfaces import IRESTStrategy

_NOT_SPEC = frozenset(("metadata", "status", "kind", "apiVersion"))


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


try:  # H6's modules; the strategy works without them (no defaults, no extra validation)
    from kapid.registry.defaults import apply_defaults as _apply_defaults
except ImportError:  # pragma: no cover - until landed
    _apply_defaults = None  # type: ignore[assignment]

try:
    from kapid.registry.validation import validate as _validate
except ImportError:  # pragma: no cover - until landed
    _validate = None  # type: ignore[assignment]


@implementer(IRESTStrategy)
class GenericStrategy:
    """
    A strategy for a resource described by C{group}/C{kind}.

    @param has_status: the resource has a C{status} subresource, so the main resource ignores
        status changes and a create resets status.
    @param tracks_generation: C{metadata.generation} starts at 1 and is bumped when anything but
        metadata and status changes.
    @param name_validation: C{subdomain}, C{label}, C{dns1035} or C{path}.
    @param reset_status: the status a create starts from when C{has_status} (kube clears it).

    Optional methods a subclass may add, which the layers above look for:

      - C{await before_create(store, obj, dry_run)} / C{await before_update(store, obj, old,
        dry_run)} (kube's C{BeginCreate}/C{BeginUpdate}): run by L{kapid.registry.store.RegistryStore}
        once the object is validated, just before the write; they answer a transaction (an object
        with C{commit()}/C{revert()}, or a plain callable run either way, or None). The store
        commits it after a successful write, reverts it when the write fails, reverts the previous
        attempt's before a conflict retry, and never commits a dry run (e.g. Service allocation,
        L{kapid.registry.services});
      - C{await after_delete(store, obj)} (kube's C{AfterDelete}) once an object is really gone;
      - C{compute_create(obj, user)}: the resource is computed, never stored (reviews); a
        namespaced one gets the URL's namespace too, C{compute_create(obj, user, namespace)};
      - C{compute_list()} (and an optional C{read_warnings} tuple): the resource's objects are
        computed on every get/list, never stored (C{componentstatuses});
      - C{prepare_for_create_by(obj, user)}: after C{prepare_for_create}, with the requester's
        L{kapid.auth.interfaces.UserInfo} or None (kinds that record their creator: CSRs);
      - C{prepare_for_<subresource>(obj, old)}: a write to that subresource (C{approval},
        C{ephemeralcontainers}, C{resize}) instead of C{prepare_for_update};
      - C{compute_subresource_create(subresource, store, target, obj, user)}: a POST to a
        subresource is computed (C{serviceaccounts/token});
      - C{prepare_for_proxy(obj, old)}: the answer to C{<resource>/<name>/proxy}.
    """

    def __init__(
        self,
        group: str,
        kind: str,
        *,
        has_status: bool = False,
        tracks_generation: bool = False,
        name_validation: str = "subdomain",
        allow_create_on_update: bool = False,
        allow_unconditional_update: bool = True,
        reset_status: Optional[dict] = None,
    ) -> None:
        self.group = group
        self.kind = kind
        self.has_status = has_status
        self.tracks_generation = tracks_generation
        self.name_validation = name_validation
        self.allow_create_on_update = allow_create_on_update
        self.allow_unconditional_update = allow_unconditional_update
        self.reset_status = reset_status

    # -- decode-time --------------------------------------------------------------------------

    def default(self, version: str, obj: dict) -> None:
        """
        Apply the kind's defaults (kube does this while decoding, before admission).
        """
        if _apply_defaults is not None:
            _apply_defaults(self.group, version, self.kind, obj)

    # -- IRESTStrategy ------------------------------------------------------------------------

    def prepare_for_create(self, obj: dict) -> None:
        if self.has_status:
            if self.reset_status is not None:
                obj["status"] = dict(self.reset_status)
            else:
                obj.pop("status", None)
        if self.tracks_generation:
            obj["metadata"]["generation"] = 1

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        if self.has_status:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
        meta = obj["metadata"]
        old_gen = old.get("metadata", {}).get("generation")
        if self.tracks_generation:
            gen = old_gen or 1
            if _spec_part(obj) != _spec_part(old):
                gen += 1
            meta["generation"] = gen
        elif old_gen is not None:
            meta["generation"] = old_gen
        else:
            meta.pop("generation", None)

    def prepare_for_status_update(self, obj: dict, old: dict) -> None:
        status = obj.get("status")
        new = {k: v for k, v in old.items() if k != "status"}
        new["metadata"] = obj["metadata"]
        # a status update changes only status (and labels/annotations/ownerReferences in kube's
        # status strategies that allow it: none of the generic ones)
        meta = dict(old.get("metadata") or {})
        for k in ("resourceVersion", "managedFields"):
            if k in obj["metadata"]:
                meta[k] = obj["metadata"][k]
            else:
                meta.pop(k, None)
        new["metadata"] = meta
        if status is not None:
            new["status"] = status
        obj.clear()
        obj.update(new)

    def validate(self, obj: dict) -> list[FieldError]:
        if _validate is None:
            return []
        return list(_validate(self.group, self.kind, obj))

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        if _validate is None:
            return []
        return list(_validate(self.group, self.kind, obj, old))

    def canonicalize(self, obj: dict) -> None:
        return None

    def warnings_on_create(self, obj: dict) -> list[str]:
        return []

    def check_graceful_delete(self, obj: dict, options: dict) -> Optional[int]:
        return None

    # -- hooks used by the Store --------------------------------------------------------------

    def after_delete_requested(self, obj: dict) -> Any:
        """
        Hook for resources whose deletion is a process (namespaces); None by default.
        """
        return None
