"""
The C{apiextensions.k8s.io/v1} C{customresourcedefinitions} resource: its description and its
strategy (kube's C{pkg/registry/customresourcedefinition}: C{etcd.go} and C{strategy.go}).

What the strategy does, as kube's does:
  - decoding applies kube's v1 defaults (L{kapid.apiextensions.validation.set_crd_defaults});
  - a create starts from an empty status (C{acceptedNames} with empty plural and kind, no
    conditions) whose C{storedVersions} is the storage version, at generation 1;
  - an update keeps the status, bumps the generation when the spec changed, and adds a new storage
    version to C{status.storedVersions};
  - a write to C{/status} changes the status and metadata (kube's CRD status strategy keeps the
    request's metadata: the finalizer controller removes C{customresourcecleanup...} through it),
    never the spec;
  - the first DELETE does not delete: like kube's C{REST.Delete} it sets C{deletionTimestamp}, adds
    the C{customresourcecleanup.apiextensions.k8s.io} finalizer and the C{Terminating} condition
    (C{InstanceDeletionPending}) and answers the CRD; the cleanup controller removes the custom
    resources and then the finalizer;
  - the rules of C{x-kubernetes-validations} are compiled with the CRD (L{kapid.cel.crd}); no
    C{Warning}s, as kube adds none.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from kapid.apiextensions import validation
from kapid.apimachinery.field import FieldError
from kapid.registry.description import Resource, Subresource, Version
from kapid.registry.strategy import GenericStrategy
from kapid.registry.tables import columns_for

GROUP = "apiextensions.k8s.io"
KIND = "CustomResourceDefinition"
PLURAL = "customresourcedefinitions"
#: The finalizer kube's REST Delete adds; the cleanup controller removes it once no custom
#: resource of the CRD is left.
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
#: The kind's OpenAPI definition (kubernetes-validate's definitions).
DEFINITION = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"

_TERMINATING_MESSAGE = "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"


def _storage_version(crd: dict) -> Optional[str]:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("storage"):
            return v.get("name") or ""
    return None


def _add_stored_version(crd: dict) -> None:
    name = _storage_version(crd)
    if name is None:
        return
    status = crd.get("status")
    if not isinstance(status, dict):
        status = crd["status"] = {}
    stored = status.get("storedVersions")
    if not isinstance(stored, list):
        stored = []
    if name not in stored:
        status["storedVersions"] = stored + [name]


def set_condition(crd: dict, condition: dict, now: str) -> None:
    """
    kube's C{SetCRDCondition}: add C{condition} (type, status, reason, message) or update the one of
    its type, moving C{lastTransitionTime} to C{now} when the status changes.
    """
    status = crd.setdefault("status", {})
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        conditions = status["conditions"] = []
    for c in conditions:
        if isinstance(c, dict) and c.get("type") == condition["type"]:
            if c.get("status") != condition["status"] or not c.get("lastTransitionTime"):
                c["lastTransitionTime"] = now
            c["status"] = condition["status"]
            c["reason"] = condition.get("reason", "")
            c["message"] = condition.get("message", "")
            return
    conditions.append(
        {
            "type": condition["type"],
            "status": condition["status"],
            "lastTransitionTime": now,
            "reason": condition.get("reason", ""),
            "message": condition.get("message", ""),
        }
    )


class CRDStrategy(GenericStrategy):
    """
    kube's CustomResourceDefinition strategy and status strategy (see the module docstring).
    """

    def __init__(self) -> None:
        super().__init__(
            GROUP,
            KIND,
            has_status=True,
            tracks_generation=True,
            allow_create_on_update=False,
            allow_unconditional_update=False,
        )

    # -- decode-time --------------------------------------------------------------------------

    def default(self, version: str, obj: dict) -> None:
        """
        kube's v1 defaults, and the fields Go always writes for a version (C{served}, C{storage}).
        """
        validation.set_crd_defaults(obj)
        for v in (obj.get("spec") or {}).get("versions") or []:
            if isinstance(v, dict):
                v.setdefault("served", False)
                v.setdefault("storage", False)

    # -- create / update ----------------------------------------------------------------------

    def prepare_for_create(self, obj: dict) -> None:
        obj["status"] = {"conditions": None, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": None}
        name = _storage_version(obj)
        if name is not None:
            obj["status"]["storedVersions"] = [name]
        obj["metadata"]["generation"] = 1

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        super().prepare_for_update(obj, old)
        if "status" in obj:
            obj["status"] = copy.deepcopy(obj["status"])
        _add_stored_version(obj)

    def prepare_for_status_update(self, obj: dict, old: dict) -> None:
        """
        The spec stays the old one; status and metadata are the request's (kube resets the metadata
        of a status write to itself, so labels, annotations and finalizers may change here).
        """
        if "spec" in old:
            obj["spec"] = copy.deepcopy(old["spec"])
        else:
            obj.pop("spec", None)
        meta = obj["metadata"]
        old_gen = (old.get("metadata") or {}).get("generation")
        if old_gen is not None:
            meta["generation"] = old_gen
        else:
            meta.pop("generation", None)
        for k in ("uid", "creationTimestamp"):
            if (old.get("metadata") or {}).get(k) is not None:
                meta[k] = old["metadata"][k]

    # -- validation ---------------------------------------------------------------------------

    def validate(self, obj: dict) -> list[FieldError]:
        return validation.validate_crd(obj)

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return validation.validate_crd_update(obj, old)

    def validate_status_update(self, obj: dict, old: dict) -> list[FieldError]:
        """
        kube's C{ValidateUpdateCustomResourceDefinitionStatus} beyond ObjectMeta: the accepted names.
        """
        return validation.validate_crd_status(obj)

    def warnings_on_create(self, obj: dict) -> list[str]:
        return validation.crd_warnings(obj)

    def warnings_on_update(self, obj: dict, old: Optional[dict]) -> list[str]:
        """
        The same warnings for an update.
        """
        return validation.crd_warnings(obj)

    # -- delete -------------------------------------------------------------------------------

    async def delete(self, store: Any, current: dict, options: dict, version: str, dry_run: bool) -> Optional[tuple]:
        """
        kube's CRD C{REST.Delete}: the first request marks the CRD for deletion (deletionTimestamp,
        the cleanup finalizer, the C{Terminating} condition) and answers it; later ones are the
        generic Store's.
        """
        from kapid.apimachinery.meta import order_meta
        from kapid.storage.interfaces import Preconditions

        meta = current.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return None
        name = meta.get("name") or ""
        now = store.now()
        pre = options.get("preconditions") or {}

        def mark(cur: Optional[dict]) -> dict:
            assert cur is not None
            m = cur["metadata"]
            if not m.get("deletionTimestamp"):
                m["deletionTimestamp"] = now
            finalizers = list(m.get("finalizers") or [])
            if CLEANUP_FINALIZER not in finalizers:
                finalizers.append(CLEANUP_FINALIZER)
            m["finalizers"] = finalizers
            set_condition(
                cur,
                {"type": "Terminating", "status": "True", "reason": "InstanceDeletionPending",
                 "message": _TERMINATING_MESSAGE},
                now,
            )
            cur["metadata"] = order_meta(m)
            return cur

        if dry_run:
            return store.to_version(mark(copy.deepcopy(current)), version), False
        preconditions = Preconditions(uid=pre.get("uid") or meta.get("uid"), resource_version=pre.get("resourceVersion"))
        try:
            out = await store.storage.guaranteed_update(store.key("", name), mark, preconditions)
        except Exception as e:
            raise store._error(e, name, "delete")
        return store.to_version(out, version), False


def crd_resource() -> Resource:
    """
    The description of C{customresourcedefinitions}: cluster-scoped, C{crd}/C{crds}, category
    C{api-extensions}, a status subresource, kube's default table (C{NAME}, C{CREATED AT}), stored
    under C{/registry/apiextensions.k8s.io/customresourcedefinitions/<name>}.
    """
    return Resource(
        group=GROUP,
        kind=KIND,
        plural=PLURAL,
        singular="customresourcedefinition",
        versions=(Version("v1", DEFINITION, storage=True),),
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=(Subresource("status", KIND, GROUP, "v1"),),
        strategy=CRDStrategy(),
        table_columns=columns_for(GROUP, KIND),
        storage_path=f"{GROUP}/{PLURAL}",
    )
