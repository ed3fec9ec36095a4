"""
Custom resources: the L{Resource} an established CustomResourceDefinition describes, and the strategy
its objects are served with (kube's C{pkg/registry/customresource}).

L{resource_for_crd} reads a CRD once and builds everything a request needs: each served version's
compiled schema (validation, pruning, defaulting: L{kapid.apiextensions.schema}), the Table columns of
C{additionalPrinterColumns}, the field selectors of C{selectableFields}, the C{status} and C{scale}
subresources. The result goes into the shared L{kapid.registry.description.ResourceRegistry}, so
routes, discovery, OpenAPI and the watch cache see the kind like a built-in.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import attr

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError
from kapid.apimachinery.jsonpath import compile_path, go_text
from kapid.registry.description import Resource, Subresource, TableColumn, Version
from kapid.registry.strategy import GenericStrategy

_MAX_INT32 = 2**31 - 1

#: The verbs of a custom resource, in the order kube's discovery lists them.
VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")

#: The C{Age} column kube prints when a version declares no printer columns.
DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)


def _spec(crd: dict) -> dict:
    return crd.get("spec") or {}


def _names(crd: dict) -> dict:
    """
    The names a CRD is served under: its accepted names (kube serves those), filled from the spec
    where the status has none yet.
    """
    spec_names = _spec(crd).get("names") or {}
    accepted = (crd.get("status") or {}).get("acceptedNames") or {}
    kind = accepted.get("kind") or spec_names.get("kind") or ""
    return {
        "plural": accepted.get("plural") or spec_names.get("plural") or "",
        "singular": accepted.get("singular") or spec_names.get("singular") or kind.lower(),
        "kind": kind,
        "listKind": accepted.get("listKind") or spec_names.get("listKind") or kind + "List",
        "shortNames": accepted.get("shortNames") if accepted.get("kind") else spec_names.get("shortNames"),
        "categories": accepted.get("categories") if accepted.get("kind") else spec_names.get("categories"),
    }


def _version_schema(v: dict) -> dict:
    return ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _subresources(crd: dict, v: dict) -> dict:
    return v.get("subresources") or _spec(crd).get("subresources") or {}


def _printer_columns(crd: dict, v: dict) -> list[dict]:
    cols = v.get("additionalPrinterColumns")
    if cols is None:
        cols = _spec(crd).get("additionalPrinterColumns")
    return list(cols or DEFAULT_COLUMNS)


def _nested(obj: Any, path: str) -> tuple[Any, bool]:
    """
    kube's C{unstructured.NestedFieldNoCopy} for a C{.a.b} path: C{(value, found)}.
    """
    v = obj
    for part in path.lstrip(".").split("."):
        if not isinstance(v, dict) or part not in v:
            return None, False
        v = v[part]
    return v, True


def _set_nested(obj: dict, path: str, value: Any) -> None:
    parts = path.lstrip(".").split(".")
    v = obj
    for part in parts[:-1]:
        nxt = v.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            v[part] = nxt
        v = nxt
    v[parts[-1]] = value


@attr.s(frozen=True, auto_attribs=True)
class ScalePaths:
    """
    A CRD's C{scale} subresource: where the replicas and the selector live.
    """

    spec_replicas: str
    status_replicas: str
    label_selector: str = ""

    def to_scale(self, obj: dict) -> dict:
        """
        The C{autoscaling/v1} C{Scale} of a custom object (kube's C{scaleFromCustomResource}).
        """
        meta = obj.get("metadata") or {}
        smeta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
        spec_replicas, _ = _nested(obj, self.spec_replicas)
        status_replicas, _ = _nested(obj, self.status_replicas)
        spec: dict[str, Any] = {}
        if isinstance(spec_replicas, int) and not isinstance(spec_replicas, bool) and spec_replicas:
            spec["replicas"] = spec_replicas
        status: dict[str, Any] = {
            "replicas": status_replicas if isinstance(status_replicas, int) and not isinstance(status_replicas, bool) else 0
        }
        if self.label_selector:
            sel, _ = _nested(obj, self.label_selector)
            if isinstance(sel, str) and sel:
                status["selector"] = sel
        return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": smeta, "spec": spec, "status": status}

    def set_replicas(self, obj: dict, replicas: int) -> None:
        """
        Write C{replicas} at the spec replicas path.
        """
        _set_nested(obj, self.spec_replicas, replicas)

    def validate_spec(self, obj: dict) -> list[FieldError]:
        """
        kube's C{ValidateScaleSpec}: the spec replicas, when present, a non-negative int32.
        """
        return _replicas_errors(obj, self.spec_replicas)

    def validate_status(self, obj: dict) -> list[FieldError]:
        """
        kube's C{ValidateScaleStatus}: status replicas a non-negative int32, the selector a string.
        """
        errs = _replicas_errors(obj, self.status_replicas)
        if self.label_selector:
            sel, found = _nested(obj, self.label_selector)
            if found and not isinstance(sel, str):
                errs.append(field.invalid(
                    self.label_selector, sel,
                    f"{_go_accessor(self.label_selector)} accessor error: {go_text(sel)} is of the type "
                    f"{_go_type(sel)}, expected string",
                ))
        return errs


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return "<nil>"


def _go_accessor(path: str) -> str:
    return "." + path.lstrip(".")


def _replicas_errors(obj: dict, path: str) -> list[FieldError]:
    value, found = _nested(obj, path)
    if not found or value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int):
        return [field.invalid(
            path, 0,
            f"{_go_accessor(path)} accessor error: {go_text(value)} is of the type {_go_type(value)}, expected int64",
        )]
    if value < 0:
        return [field.invalid(path, value, "should be a non-negative integer")]
    if value > _MAX_INT32:
        return [field.invalid(path, value, f"should be less than or equal to {_MAX_INT32}")]
    return []


def _default_probe(node: Any) -> Optional[Callable[[Any], bool]]:
    """
    A cheap test, from a schema node, of whether defaulting would change a value (a defaulted
    property absent, or null where not nullable, at any depth); None when nothing under the node
    has a default. Lets reads skip the copy that defaulting needs.
    """
    if not isinstance(node, dict) or not _has_defaults(node):
        return None
    props = node.get("properties") or {}
    defaulted = [(k, bool(c.get("nullable"))) for k, c in props.items() if isinstance(c, dict) and "default" in c]
    subs = [(k, f) for k, f in ((k, _default_probe(c)) for k, c in props.items()) if f is not None]
    addl = node.get("additionalProperties")
    addl = addl if isinstance(addl, dict) else None
    addl_default = addl is not None and "default" in addl and not addl.get("nullable")
    addl_probe = _default_probe(addl) if addl is not None else None
    items = node.get("items") if isinstance(node.get("items"), dict) else None
    items_default = items is not None and "default" in items and not items.get("nullable")
    items_probe = _default_probe(items) if items is not None else None

    def probe(x: Any) -> bool:
        if type(x) is dict:
            for k, nullable in defaulted:
                if k not in x or (x[k] is None and not nullable):
                    return True
            for k, f in subs:
                if k in x and f(x[k]):
                    return True
            if addl is not None:
                for k, v in x.items():
                    if k in props:
                        continue
                    if (v is None and addl_default) or (addl_probe is not None and addl_probe(v)):
                        return True
        elif type(x) is list and items is not None:
            for v in x:
                if (v is None and items_default) or (items_probe is not None and items_probe(v)):
                    return True
        return False

    return probe


def _has_defaults(node: Any) -> bool:
    """
    Whether a schema node or any node under it declares a C{default}.
    """
    if not isinstance(node, dict):
        return False
    if "default" in node:
        return True
    subs: list[Any] = list((node.get("properties") or {}).values())
    subs += [node.get("items"), node.get("additionalProperties")]
    return any(_has_defaults(n) for n in subs)


class CustomResourceStrategy(GenericStrategy):
    """
    kube's custom resource strategy for one CRD: schema defaulting, pruning and validation per
    version, generation bumped on spec changes (every change but metadata when the CRD has no
    status subresource), status and scale subresources.

    @ivar schemas: version name -> L{kapid.apiextensions.schema.CompiledSchema}.
    @ivar scale: the L{ScalePaths} of the scale subresource, or None.
    @ivar converter: the version converter (None: apiVersion rewrite only).
    @ivar deprecations: version name -> its deprecation warning text.
    """

    def __init__(
        self,
        group: str,
        kind: str,
        schemas: dict[str, Any],
        has_status: bool,
        scale: Optional[ScalePaths] = None,
        converter: Any = None,
        deprecations: Optional[dict[str, str]] = None,
        raw_schemas: Optional[dict[str, dict]] = None,
        storage_version: str = "",
    ) -> None:
        super().__init__(group, kind, has_status=has_status, tracks_generation=True)
        self.schemas = schemas
        #: version name -> the schema as the CRD gives it
        self.raw_schemas = dict(raw_schemas or {})
        self.storage_version = storage_version
        probe = _default_probe(self.raw_schemas.get(storage_version))
        if probe is not None:
            self._needs_default = probe
            self.default_on_read = self._default_on_read
        self.scale = scale
        self.converter = converter
        self.deprecations = dict(deprecations or {})
        #: set while the CRD is being deleted: creates are refused (kube's 405)
        self.terminating = False
        #: version name -> its compiled CEL rules (False: none), compiled at first use
        self._rule_sets: dict[str, Any] = {}

    def _version_of(self, obj: dict) -> str:
        return str(obj.get("apiVersion") or "").rpartition("/")[2]

    def _default_on_read(self, obj: dict) -> dict:
        """
        C{obj} as read from storage with the storage version's defaults filled (a copy when any
        default applies; storage and caches keep theirs).
        """
        import copy

        s = self.schemas.get(self.storage_version)
        if s is None or not self._needs_default(obj):
            return obj
        out = copy.deepcopy(obj)
        s.default(out)
        return out

    def schema(self, version: str) -> Any:
        """
        The compiled schema of C{version} (the storage version's when unknown).
        """
        s = self.schemas.get(version)
        if s is None and self.schemas:
            s = next(iter(self.schemas.values()))
        return s

    # -- decode-time --------------------------------------------------------------------------

    def default(self, version: str, obj: dict) -> None:
        s = self.schema(version)
        if s is not None:
            s.default(obj)

    def unknown_fields(self, version: str, obj: dict) -> list[str]:
        """
        The fields C{version}'s schema would prune (for C{fieldValidation}).
        """
        s = self.schema(version)
        return s.unknown_fields(obj) if s is not None else []

    def prune(self, version: str, obj: dict) -> list[str]:
        """
        Drop the fields C{version}'s schema does not know; their paths.
        """
        s = self.schema(version)
        return s.prune(obj) if s is not None else []

    # -- IRESTStrategy ------------------------------------------------------------------------

    def prepare_for_update(self, obj: dict, old: dict) -> None:
        meta = obj["metadata"]
        old_gen = (old.get("metadata") or {}).get("generation") or 1
        if self.has_status:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
            skip = ("metadata", "status")
        else:
            skip = ("metadata",)
        changed = any(obj.get(k) != old.get(k) for k in set(obj) | set(old) if k not in skip)
        meta["generation"] = old_gen + 1 if changed else old_gen

    def _rules(self, obj: dict, old: Optional[dict], errs: list[FieldError]) -> list[FieldError]:
        """
        The errors of the version's CEL validation rules (C{x-kubernetes-validations}), given the
        schema's own errors C{errs} (kube skips rules on invalid values); C{old} for transition rules
        and ratcheting on updates. Each version's rules are compiled once.
        """
        version = self._version_of(obj)
        rules = self._rule_sets.get(version)
        if rules is None:
            from kapid.cel.crd import compile_rules

            raw = self.raw_schemas.get(version) or self.raw_schemas.get(self.storage_version)
            rules = self._rule_sets[version] = (compile_rules(raw) if raw else None) or False
        if rules is False:
            return []
        from kapid.cel.crd import rule_errors

        return rule_errors(rules, obj, old, errs)

    def validate(self, obj: dict, old: Optional[dict] = None) -> list[FieldError]:
        errs: list[FieldError] = []
        s = self.schema(self._version_of(obj))
        if s is not None:
            errs.extend(s.validate(obj))
        errs.extend(self._rules(obj, old, errs))
        if self.scale is not None:
            errs.extend(self.scale.validate_spec(obj))
        return errs

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return self.validate(obj, old)

    def validate_status_update(self, obj: dict, old: dict) -> list[FieldError]:
        """
        A status write is validated against the schema, and the scale status paths checked.
        """
        errs: list[FieldError] = []
        s = self.schema(self._version_of(obj))
        if s is not None:
            errs.extend(s.validate(obj))
        errs.extend(self._rules(obj, old, errs))
        if self.scale is not None:
            errs.extend(self.scale.validate_status(obj))
        return errs


def _columns(crd: dict, v: dict) -> tuple[TableColumn, ...]:
    out = []
    for col in _printer_columns(crd, v):
        path = compile_path(col.get("jsonPath") or "")
        kind = col.get("type") or "string"
        desc = col.get("description") or f"Custom resource definition column (in JSONPath format): {col.get('jsonPath', '')}"
        out.append(TableColumn(
            name=col.get("name") or "",
            type=kind,
            cell=_cell(path, kind),
            format=col.get("format") or "",
            description=desc,
            priority=int(col.get("priority") or 0),
        ))
    return tuple(out)


def _cell(path: Any, kind: str) -> Callable[[dict, float], Any]:
    """
    One column's cell (kube's C{cellForJSONValue}; C{string} columns printed as JSONPath prints).
    """

    def cell(obj: dict, now: float) -> Any:
        found = path.find(obj)
        if not found:
            return None
        value = found[0]
        if kind == "string":
            return go_text(value)
        if value is None:
            return None
        if kind == "integer":
            if isinstance(value, bool):
                return None
            if isinstance(value, (int, float)):
                return int(value)
            return None
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            return float(value)
        if kind == "boolean":
            return value if isinstance(value, bool) else None
        if kind == "date":
            if not isinstance(value, str):
                return None
            from kapid.apimachinery import meta as metautil
            from kapid.apimachinery.table import human_duration

            ts = metautil.parse_timestamp(value)
            if ts is None:
                return "<invalid>"
            return human_duration(now - ts)
        return None

    return cell


def _selectable(path_text: str) -> Callable[[dict], str]:
    path = compile_path(path_text)

    def get(obj: dict) -> str:
        found = path.find(obj)
        if not found or found[0] is None:
            return ""
        v = found[0]
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return get


def _field_selectors(crd: dict, v: dict) -> dict[str, Callable[[dict], str]]:
    out = {}
    for sf in v.get("selectableFields") or []:
        jp = sf.get("jsonPath") or ""
        if jp:
            out[jp.lstrip(".")] = _selectable(jp)
    return out


def deprecation_warning(crd: dict, v: dict) -> Optional[str]:
    """
    The C{Warning} a request for a deprecated version gets (kube's default text when the CRD gives
    none), or None.
    """
    if not v.get("deprecated"):
        return None
    if v.get("deprecationWarning"):
        return str(v["deprecationWarning"])
    kind = _names(crd)["kind"]
    return f"{_spec(crd).get('group', '')}/{v.get('name', '')} {kind} is deprecated"


def resource_for_crd(crd: dict, compile_schema: Optional[Callable[[dict], Any]] = None, converter: Any = None) -> Resource:
    """
    The L{Resource} serving the custom resources of C{crd} (every version whose C{served} is true;
    the storage version kept for storage even when not served).
    """
    if compile_schema is None:
        from kapid.apiextensions.schema import compile_schema
    spec = _spec(crd)
    group = spec.get("group") or ""
    names = _names(crd)
    versions = []
    schemas: dict[str, Any] = {}
    deprecations: dict[str, str] = {}
    storage_v: dict = {}
    for v in spec.get("versions") or []:
        name = v.get("name") or ""
        schema = _version_schema(v)
        versions.append(Version(name, schema, served=bool(v.get("served")), storage=bool(v.get("storage"))))
        schemas[name] = compile_schema(schema)
        warning = deprecation_warning(crd, v)
        if warning:
            deprecations[name] = warning
        if v.get("storage"):
            storage_v = v
    if not storage_v and spec.get("versions"):
        storage_v = spec["versions"][0]
    subs = _subresources(crd, storage_v)
    subresources: list[Subresource] = []
    has_status = "status" in subs
    scale = None
    if has_status:
        subresources.append(Subresource("status", names["kind"], group, ""))
    if "scale" in subs:
        s = subs.get("scale") or {}
        scale = ScalePaths(
            s.get("specReplicasPath") or ".spec.replicas",
            s.get("statusReplicasPath") or ".status.replicas",
            s.get("labelSelectorPath") or "",
        )
        subresources.append(Subresource("scale", "Scale", "autoscaling", "v1"))
    strategy = CustomResourceStrategy(
        group, names["kind"], schemas, has_status, scale, converter, deprecations,
        raw_schemas={v.name: v.schema for v in versions}, storage_version=storage_v.get("name") or "",
    )
    return Resource(
        group=group,
        kind=names["kind"],
        plural=names["plural"],
        singular=names["singular"],
        versions=tuple(versions),
        namespaced=(spec.get("scope") or "Namespaced") == "Namespaced",
        short_names=tuple(names["shortNames"] or ()),
        categories=tuple(names["categories"] or ()),
        verbs=VERBS,
        subresources=tuple(subresources),
        strategy=strategy,
        table_columns=_columns(crd, storage_v),
        field_selectors=_field_selectors(crd, storage_v),
        storage_path=f"{group}/{names['plural']}",
        list_kind=names["listKind"],
    )


def is_custom_resource(resource: Resource) -> bool:
    """
    Whether C{resource} was built from a CRD.
    """
    return isinstance(resource.strategy, CustomResourceStrategy)
