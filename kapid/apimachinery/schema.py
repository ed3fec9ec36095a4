"""
Schemas of the built-in kinds, from a maintained source: the OpenAPI definitions (as JSON Schema) that
the C{kubernetes-validate} package ships per Kubernetes version.

L{Schema} is a read-only view of one schema node with C{$ref}s resolved; it answers what the patch,
apply, validation, pruning and OpenAPI code ask: a property's schema, an array's item schema, a map's
value schema, and the C{x-kubernetes-*} extensions. CRDs wrap their own structural schemas the same way
(with an empty definitions table).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Iterator, NamedTuple, Optional

import orjson

#: The Kubernetes version whose definitions kapid serves.
SCHEMA_VERSION = "1.33.0"


def _definitions_path(version: str) -> str:
    # Locate the package without importing it (its import pulls in jsonschema: ~50 ms of start-up).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("kubernetes-validate is not installed")
    base = list(spec.submodule_search_locations)[0]
    return os.path.join(base, "kubernetes-json-schema", f"v{version}-local", "_definitions.json")


@functools.lru_cache(maxsize=None)
def load_definitions(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """
    The definitions table (C{io.k8s.api.apps.v1.Deployment} -> schema) of Kubernetes C{version}.
    """
    with open(_definitions_path(version), "rb") as f:
        return orjson.loads(f.read())["$defs"]


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class Shape(NamedTuple):
    """
    A schema node's traits, as walks over values (managed fields) ask for them.

    @ivar atomic_map: C{x-kubernetes-map-type: atomic}.
    @ivar is_map: a string-keyed map (C{additionalProperties}).
    @ivar preserve_unknown: unknown fields kept.
    @ivar has_properties: declared properties.
    @ivar list_keys: the keys of a keyed list (C{x-kubernetes-list-map-keys}, else the patch merge key).
    @ivar list_type: C{x-kubernetes-list-type}.
    """

    atomic_map: bool
    is_map: bool
    preserve_unknown: bool
    has_properties: bool
    list_keys: tuple[str, ...]
    list_type: Optional[str]


class Schema:
    """
    One schema node, with C{$ref} resolved against a definitions table.
    """

    __slots__ = ("node", "definitions", "name", "_children", "_shape")

    def __init__(self, node: dict[str, Any], definitions: dict[str, Any], name: str = "") -> None:
        while "$ref" in node:
            name = _ref_name(node["$ref"])
            extra = {k: v for k, v in node.items() if k not in ("$ref", "description")}
            node = dict(definitions[name], **extra) if extra else definitions[name]
        self.node = node
        self.definitions = definitions
        self.name = name
        #: the wrapped children asked for so far (one schema is walked on every request: managed
        #: fields, unknown fields), keyed C{("p", name)}, C{"items"}, C{"additionalProperties"}
        self._children: Optional[dict[Any, Optional["Schema"]]] = None
        self._shape: Optional[Shape] = None

    @property
    def shape(self) -> "Shape":
        """
        What a walk over values needs of this node, computed once (see L{Shape}).
        """
        shape = self._shape
        if shape is None:
            keys = self.list_map_keys
            if not keys and self.patch_merge_key:
                keys = (self.patch_merge_key,)
            shape = self._shape = Shape(
                self.map_type == "atomic", self.is_map, self.preserve_unknown_fields, bool(self.properties),
                keys, self.list_type,
            )
        return shape

    def _child(self, key: Any, node: Optional[dict[str, Any]]) -> Optional["Schema"]:
        """
        The wrapped child C{node} under C{key}, made once per schema.
        """
        children = self._children
        if children is None:
            children = self._children = {}
        try:
            return children[key]
        except KeyError:
            child = children[key] = Schema(node, self.definitions) if isinstance(node, dict) else None
            return child

    @classmethod
    def of(cls, definition: str, version: str = SCHEMA_VERSION) -> "Schema":
        """
        The schema of a definition, e.g. C{Schema.of("io.k8s.api.apps.v1.Deployment")}.
        """
        defs = load_definitions(version)
        return cls(defs[definition], defs, definition)

    @classmethod
    def structural(cls, node: dict[str, Any]) -> "Schema":
        """
        Wrap a self-contained schema (a CRD's C{openAPIV3Schema}).
        """
        return cls(node, {})

    def _wrap(self, node: Optional[dict[str, Any]]) -> Optional["Schema"]:
        if node is None:
            return None
        return Schema(node, self.definitions)

    @property
    def types(self) -> tuple[str, ...]:
        """
        The JSON types allowed here, without C{"null"} (C{()} when unconstrained or C{oneOf}).
        """
        t = self.node.get("type")
        if t is None:
            return ()
        if isinstance(t, str):
            return (t,)
        return tuple(x for x in t if x != "null")

    @property
    def type(self) -> str:
        """
        The main type (C{object}, C{array}, C{string}, C{integer}, C{number}, C{boolean}) or C{""}.
        """
        ts = self.types
        return ts[0] if ts else ""

    @property
    def properties(self) -> dict[str, Any]:
        """
        The raw C{properties} table (names -> nodes).
        """
        return self.node.get("properties") or {}

    def prop(self, name: str) -> Optional["Schema"]:
        """
        The schema of property C{name}, or None when unknown.
        """
        return self._child(("p", name), self.properties.get(name))

    def iter_properties(self) -> Iterator[tuple[str, "Schema"]]:
        """
        C{(name, schema)} for every declared property.
        """
        for k, v in self.properties.items():
            yield k, self._child(("p", k), v)  # type: ignore[misc]

    @property
    def items(self) -> Optional["Schema"]:
        """
        The item schema of an array, or None.
        """
        return self._child("items", self.node.get("items"))

    @property
    def additional_properties(self) -> Optional["Schema"]:
        """
        The value schema of a map (C{additionalProperties}), or None.
        """
        return self._child("additionalProperties", self.node.get("additionalProperties"))

    @property
    def is_map(self) -> bool:
        """
        Whether this is a string-keyed map (an object with C{additionalProperties}).
        """
        return self.additional_properties is not None

    @property
    def preserve_unknown_fields(self) -> bool:
        """
        Whether unknown fields are kept (C{x-kubernetes-preserve-unknown-fields}, or an object with
        neither properties nor additionalProperties, like C{RawExtension}).
        """
        if self.node.get("x-kubernetes-preserve-unknown-fields"):
            return True
        return self.type == "object" and not self.properties and not self.is_map

    @property
    def int_or_string(self) -> bool:
        """
        Whether this is an IntOrString (or Quantity): a string or a number.
        """
        return bool(self.node.get("x-kubernetes-int-or-string")) or "oneOf" in self.node

    @property
    def required(self) -> tuple[str, ...]:
        """
        Required property names.
        """
        return tuple(self.node.get("required") or ())

    @property
    def format(self) -> str:
        """
        The C{format} (C{int32}, C{date-time}, ...) or C{""}.
        """
        return self.node.get("format") or ""

    @property
    def enum(self) -> Optional[list[Any]]:
        """
        The allowed values, or None.
        """
        return self.node.get("enum")

    @property
    def patch_merge_key(self) -> Optional[str]:
        """
        C{x-kubernetes-patch-merge-key}.
        """
        return self.node.get("x-kubernetes-patch-merge-key")

    @property
    def patch_strategy(self) -> tuple[str, ...]:
        """
        C{x-kubernetes-patch-strategy} split on commas (C{("merge",)}, C{("retainKeys",)}, ...).
        """
        s = self.node.get("x-kubernetes-patch-strategy") or ""
        return tuple(p for p in s.split(",") if p)

    @property
    def list_type(self) -> Optional[str]:
        """
        C{x-kubernetes-list-type}: C{atomic}, C{set} or C{map}.
        """
        return self.node.get("x-kubernetes-list-type")

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        """
        C{x-kubernetes-list-map-keys}.
        """
        return tuple(self.node.get("x-kubernetes-list-map-keys") or ())

    @property
    def map_type(self) -> Optional[str]:
        """
        C{x-kubernetes-map-type}: C{atomic} or C{granular}.
        """
        return self.node.get("x-kubernetes-map-type")

    @property
    def group_version_kinds(self) -> list[dict[str, str]]:
        """
        C{x-kubernetes-group-version-kind} (a list of C{{group, version, kind}}).
        """
        return self.node.get("x-kubernetes-group-version-kind") or []

    @property
    def description(self) -> str:
        """
        The description text.
        """
        return self.node.get("description") or ""
