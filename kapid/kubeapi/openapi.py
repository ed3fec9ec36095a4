"""
OpenAPI documents computed from the L{ResourceRegistry} and the 1.33 definitions:

  - C{/openapi/v3}: the index C{{"paths": {"api/v1": {"serverRelativeURL":
    "/openapi/v3/api/v1?hash=<HASH>"}, "apis/apps/v1": ...}}};
  - C{/openapi/v3/api/v1}, C{/openapi/v3/apis/<group>/<version>}: OpenAPI 3.0 documents with a path
    per resource (and subresource), operations carrying C{x-kubernetes-group-version-kind} and
    C{x-kubernetes-action}, write operations declaring C{dryRun}, C{fieldManager} and
    C{fieldValidation} (what kubectl's C{QueryParamVerifierV3} looks for before validating on the
    server), and C{components.schemas} holding every definition the resources reach, C{$ref}s
    rewritten to C{#/components/schemas/...} (what C{kubectl explain} walks);
  - C{/openapi/v2}: one Swagger 2.0 document, in JSON or (when asked for) in gnostic's protobuf
    form, which kubectl needs for client-side validation (e.g. of C{kind: List} manifests).

Documents are cached per registry state; the C{hash} of a group version is the SHA-512 of its JSON,
so it changes exactly when the document does. A request with a stale C{hash} is redirected (301) to
the current one, as kube does; a matching one is served C{Cache-Control: public, immutable}.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Optional

import orjson
from klein import Klein
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from kapid.apimachinery import openapiv2pb
from kapid.apimachinery.schema import SCHEMA_VERSION, load_definitions
from kapid.kubeapi.discovery import write_cached
from kapid.registry.description import Resource, ResourceRegistry
from kapid.server.link import Decline, Link

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_STATUS = _META + "Status"
_DELETE_OPTIONS = _META + "DeleteOptions"
_PATCH = _META + "Patch"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
#: A custom resource takes no strategic merge patch (kube's CRD OpenAPI builder).
_CUSTOM_PATCH_TYPES = _PATCH_TYPES[:3]
#: The media types kube's C{/openapi/v2} answers with the protobuf document.
V2_PROTOBUF_TYPES = (
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
)
_OUT_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


# ---------------------------------------------------------------------------------------------------
# parameters (inline, as kube's OpenAPI has them, so clients find them by name)


def _query(name: str, typ: str, description: str, unique: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": typ}, **({"uniqueItems": True} if unique else {})}


_DRY_RUN = _query(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
    "dryRun directive will result in an error response and no further processing of the request. "
    "Valid values are: - All: all dry run stages will be processed",
)
_FIELD_MANAGER = _query(
    "fieldManager",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
    "fields that are silently dropped from the object, and will ignore all but the last duplicate "
    "field that the decoder encounters. - Warn: This will send a warning via the standard warning "
    "response header for each unknown field that is dropped from the object, and for each duplicate "
    "field that is encountered. - Strict: This will fail the request with a BadRequest error if any "
    "unknown fields would be dropped from the object, or if any duplicate fields are present.",
)
_FORCE = _query(
    "force",
    "boolean",
    "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields "
    "owned by other people. Force flag must be unset for non-apply patch requests.",
)
_PRETTY = _query("pretty", "string", "If 'true', then the output is pretty printed.")
_LIST_PARAMS = [
    _query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    _query("continue", "string", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels."),
    {**_query("limit", "integer", "limit is a maximum number of responses to return for a list call."), "schema": {"type": "integer"}},
    _query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
    _query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    _query("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    {**_query("timeoutSeconds", "integer", "Timeout for the list/watch call."), "schema": {"type": "integer"}},
    _query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    {**_query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."), "schema": {"type": "integer"}},
    _query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."),
    _query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7."),
    _query("propagationPolicy", "string", "Whether and how garbage collection will be performed."),
]


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": description, "required": True, "schema": {"type": "string", "uniqueItems": True}}


_NAME = _path_param("name", "name of the resource")
_NAMESPACE = _path_param("namespace", "object name and auth scope, such as for teams and projects")


# ---------------------------------------------------------------------------------------------------
# naming


def group_camel(group: str) -> str:
    """
    kube's operation-id group part: C{""} -> C{Core}, C{rbac.authorization.k8s.io} ->
    C{RbacAuthorization}, C{example.com} -> C{ExampleCom}.
    """
    if not group:
        return "Core"
    g = group[: -len(".k8s.io")] if group.endswith(".k8s.io") else group
    return "".join(p[:1].upper() + p[1:] for p in g.replace("-", ".").split(".") if p)


def _tag(group: str, version: str) -> str:
    c = group_camel(group)
    return f"{c[:1].lower()}{c[1:]}_{version}"


def custom_schema_name(group: str, version: str, kind: str) -> str:
    """
    kube's definition name for a custom resource: the group reversed, the version, the kind
    (C{com.example.v1.Widget}).
    """
    return ".".join(list(reversed(group.split("."))) + [version, kind])


# ---------------------------------------------------------------------------------------------------
# schema conversion


def _convert(node: Any, prefix: str, v3: bool, refs: set[str]) -> Any:
    """
    A definitions-table node as OpenAPI: C{$ref}s rewritten under C{prefix} (and collected in
    C{refs}), nullable type lists reduced to their type, C{$ref} siblings wrapped in C{allOf} (v3).
    """
    if isinstance(node, list):
        return [_convert(x, prefix, v3, refs) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    for k, v in node.items():
        if k == "$ref":
            continue
        if k == "type" and isinstance(v, list):
            types = [t for t in v if t != "null"]
            if not types:
                continue
            out[k] = types[0] if len(types) == 1 else types
        elif k in ("properties", "patternProperties", "definitions"):
            out[k] = {pk: _convert(pv, prefix, v3, refs) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not"):
            out[k] = _convert(v, prefix, v3, refs) if isinstance(v, (dict, list)) else v
        elif k in ("oneOf", "anyOf", "allOf"):
            out[k] = [x for x in (_convert(i, prefix, v3, refs) for i in v) if x]
        else:
            out[k] = v
    for k in ("oneOf", "anyOf"):
        # {"type": null} alternatives vanish with the nullable types
        if k in out:
            out[k] = [x for x in out[k] if x.get("type") or len(x) > 0]
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        refs.add(name)
        target = {"$ref": prefix + name}
        if not out:
            return target
        if v3:
            out["allOf"] = [target]
            return out
        return {"$ref": prefix + name, **out}
    return out


def _definition(name: str, node: dict[str, Any], prefix: str, v3: bool, refs: set[str]) -> dict[str, Any]:
    if name == _INT_OR_STRING:
        base = {"description": node.get("description", ""), "format": "int-or-string"}
        if v3:
            return {**base, "oneOf": [{"type": "integer"}, {"type": "string"}]}
        return {**base, "type": "string"}
    if name == _QUANTITY:
        base = {"description": node.get("description", "")}
        if v3:
            return {**base, "oneOf": [{"type": "string"}, {"type": "number"}]}
        return {**base, "type": "string"}
    out = _convert(node, prefix, v3, refs)
    props = out.get("properties")
    if isinstance(props, dict):
        for key in ("apiVersion", "kind"):
            if isinstance(props.get(key), dict):
                props[key] = {k: v for k, v in props[key].items() if k != "enum"}
    return out


def _closure(roots: Iterable[str], prefix: str, v3: bool, extra: dict[str, dict]) -> dict[str, Any]:
    """
    The converted definitions of C{roots} and everything they reference.
    """
    defs = load_definitions()
    out: dict[str, Any] = {}
    todo = [r for r in roots]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        node = extra.get(name) if name in extra else defs.get(name)
        if node is None:
            continue
        refs: set[str] = set()
        out[name] = _definition(name, node, prefix, v3, refs)
        todo.extend(r for r in refs if r not in out)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------------
# paths


def _schema_name(r: Resource, version: str) -> Optional[str]:
    v = r.version(version)
    if v is None:
        return None
    if isinstance(v.schema, str):
        return v.schema
    if isinstance(v.schema, dict):
        return custom_schema_name(r.group, version, r.kind)
    return None


def _custom_schemas(resources: Iterable[Resource], version: str) -> dict[str, dict]:
    """
    Definitions of resources whose schema is given inline (custom resources), with their GVK.
    """
    out = {}
    for r in resources:
        v = r.version(version)
        if v is not None and isinstance(v.schema, dict):
            out[custom_schema_name(r.group, version, r.kind)] = _custom_definition(r, version, v.schema)
    return out


def _custom_definition(r: Resource, version: str, schema: dict) -> dict:
    """
    A CRD version's schema as kube publishes it: C{apiVersion}, C{kind} and C{metadata} (a
    reference to ObjectMeta) as every kind has them, and the kind's GVK.
    """
    typed = load_definitions()["io.k8s.api.core.v1.ConfigMap"]["properties"]
    node = dict(schema)
    props = dict(node.get("properties") or {})
    props["apiVersion"] = dict(typed["apiVersion"])
    props["kind"] = dict(typed["kind"])
    props["metadata"] = dict(typed["metadata"])
    node["properties"] = dict(sorted(props.items()))
    node.setdefault("type", "object")
    node["x-kubernetes-group-version-kind"] = [{"group": r.group, "kind": r.kind, "version": version}]
    return node


class _Ops:
    """
    Builds the operations of one group version (v3 or v2 flavour).
    """

    def __init__(self, group: str, version: str, v3: bool) -> None:
        self.group, self.version, self.v3 = group, version, v3
        self.prefix = "#/components/schemas/" if v3 else "#/definitions/"
        self.roots: set[str] = {_STATUS, _DELETE_OPTIONS, _PATCH}

    def ref(self, name: Optional[str]) -> Optional[dict[str, Any]]:
        if not name:
            return None
        self.roots.add(name)
        return {"$ref": self.prefix + name}

    def _responses(self, schema: Optional[dict], codes: Iterable[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code in codes:
            desc = {"200": "OK", "201": "Created", "202": "Accepted"}[code]
            if self.v3:
                entry: dict[str, Any] = {"description": desc}
                if schema is not None:
                    entry["content"] = {t: {"schema": schema} for t in _OUT_TYPES}
                out[code] = entry
            else:
                out[code] = {"description": desc, **({"schema": schema} if schema is not None else {})}
        out["401"] = {"description": "Unauthorized"}
        return out

    def _params(self, params: list[dict]) -> list[dict]:
        if self.v3:
            return params
        out = []
        for p in params:
            q = {k: v for k, v in p.items() if k != "schema"}
            q["type"] = p.get("schema", {}).get("type", "string")
            out.append(q)
        return out

    def _body(self, schema: Optional[dict], types: Iterable[str], params: list[dict]) -> dict[str, Any]:
        if schema is None:
            return {}
        if self.v3:
            return {"requestBody": {"content": {t: {"schema": schema} for t in types}, "required": True}}
        params.insert(0, {"name": "body", "in": "body", "required": True, "schema": schema})
        return {}

    def op(
        self,
        action: str,
        op_id: str,
        description: str,
        gvk: Optional[dict[str, str]],
        params: list[dict],
        response: Optional[dict],
        codes: Iterable[str],
        body: Optional[dict] = None,
        body_types: Iterable[str] = ("*/*",),
    ) -> dict[str, Any]:
        params = self._params(list(params))
        extra = self._body(body, body_types, params)
        o: dict[str, Any] = {
            "tags": [_tag(self.group, self.version)],
            "description": description,
            "operationId": op_id,
        }
        if params:
            o["parameters"] = params
        o.update(extra)
        o["responses"] = self._responses(response, codes)
        if not self.v3:
            o["consumes"] = list(body_types) if action == "patch" else ["*/*"]
            o["produces"] = list(_OUT_TYPES)
            o["schemes"] = ["https"]
        o["x-kubernetes-action"] = action
        if gvk is not None:
            o["x-kubernetes-group-version-kind"] = gvk
        return o

    def resource_paths(self, r: Resource) -> dict[str, dict[str, Any]]:
        """
        The paths of one resource in this group version.
        """
        g, v = self.group, self.version
        base = f"/api/{v}" if not g else f"/apis/{g}/{v}"
        gv = group_camel(g) + v[:1].upper() + v[1:]
        ns = "Namespaced" if r.namespaced else ""
        coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
        item = coll + "/{name}"
        gvk = {"group": g, "version": v, "kind": r.kind}
        obj = self.ref(_schema_name(r, v))
        lst = obj  # list schemas: the kind's List definition when known
        list_name = (_schema_name(r, v) or "") + "List"
        if list_name in load_definitions():
            lst = self.ref(list_name)
        status = self.ref(_STATUS)
        delete_opts = self.ref(_DELETE_OPTIONS)
        patch = self.ref(_PATCH)
        write = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
        paths: dict[str, dict[str, Any]] = {}
        scope = [_NAMESPACE] if r.namespaced else []
        patch_types = _CUSTOM_PATCH_TYPES if any(isinstance(x.schema, dict) for x in r.versions) else _PATCH_TYPES

        cp: dict[str, Any] = {}
        if "list" in r.verbs:
            cp["get"] = self.op("list", f"list{gv}{ns}{r.kind}", f"list or watch objects of kind {r.kind}", gvk, _LIST_PARAMS, lst, ("200",))
        if "create" in r.verbs:
            cp["post"] = self.op("post", f"create{gv}{ns}{r.kind}", f"create a {r.kind}", gvk, write, obj, ("200", "201", "202"), obj)
        if "deletecollection" in r.verbs:
            cp["delete"] = self.op(
                "deletecollection", f"deleteCollection{gv}{ns}{r.kind}", f"delete collection of {r.kind}", gvk,
                _DELETE_PARAMS + [p for p in _LIST_PARAMS if p["name"] not in ("watch", "allowWatchBookmarks")],
                status, ("200",), delete_opts,
            )
        if cp:
            cp["parameters"] = self._params(scope + [_PRETTY])
            paths[coll] = cp

        ip: dict[str, Any] = {}
        if "get" in r.verbs:
            ip["get"] = self.op("get", f"read{gv}{ns}{r.kind}", f"read the specified {r.kind}", gvk, [], obj, ("200",))
        if "update" in r.verbs:
            ip["put"] = self.op("put", f"replace{gv}{ns}{r.kind}", f"replace the specified {r.kind}", gvk, write, obj, ("200", "201"), obj)
        if "patch" in r.verbs:
            ip["patch"] = self.op("patch", f"patch{gv}{ns}{r.kind}", f"partially update the specified {r.kind}", gvk, write + [_FORCE], obj, ("200", "201"), patch, patch_types)
        if "delete" in r.verbs:
            ip["delete"] = self.op("delete", f"delete{gv}{ns}{r.kind}", f"delete a {r.kind}", gvk, _DELETE_PARAMS, status, ("200", "202"), delete_opts)
        if ip:
            ip["parameters"] = self._params([_NAME] + scope + [_PRETTY])
            paths[item] = ip

        if r.namespaced and "list" in r.verbs:
            paths[f"{base}/{r.plural}"] = {
                "get": self.op("list", f"list{gv}{r.kind}ForAllNamespaces", f"list or watch objects of kind {r.kind}", gvk, _LIST_PARAMS, lst, ("200",)),
                "parameters": self._params([_PRETTY]),
            }

        for sub in r.subresources:
            if sub.kind == r.kind and (sub.group or "") == g:
                sg, sv, sk = g, v, r.kind
                sobj = obj
            else:
                sg, sv, sk = sub.group or "", sub.version or v, sub.kind
                sobj = self.ref(_find_definition(sg, sv, sk))
            sgvk = {"group": sg, "version": sv, "kind": sk}
            sname = sub.name[:1].upper() + sub.name[1:]
            sp: dict[str, Any] = {}
            if "get" in sub.verbs:
                sp["get"] = self.op("get", f"read{gv}{ns}{r.kind}{sname}", f"read {sub.name} of the specified {r.kind}", sgvk, [], sobj, ("200",))
            if "update" in sub.verbs:
                sp["put"] = self.op("put", f"replace{gv}{ns}{r.kind}{sname}", f"replace {sub.name} of the specified {r.kind}", sgvk, write, sobj, ("200", "201"), sobj)
            if "patch" in sub.verbs:
                sp["patch"] = self.op("patch", f"patch{gv}{ns}{r.kind}{sname}", f"partially update {sub.name} of the specified {r.kind}", sgvk, write + [_FORCE], sobj, ("200", "201"), patch, patch_types)
            if "create" in sub.verbs:
                sp["post"] = self.op("post", f"create{gv}{ns}{r.kind}{sname}", f"create {sub.name} of a {r.kind}", sgvk, write, sobj, ("200", "201", "202"), sobj)
            if "delete" in sub.verbs and "post" not in sp:
                sp["delete"] = self.op("connect", f"connect{gv}Delete{ns}{r.kind}{sname}", f"connect DELETE requests to {sub.name} of {r.kind}", None, [], None, ("200",))
            if sp:
                sp["parameters"] = self._params([_NAME] + scope + [_PRETTY])
                paths[f"{item}/{sub.name}"] = sp
        return paths


def _find_definition(group: str, version: str, kind: str) -> Optional[str]:
    """
    The definition name carrying a GVK, or None.
    """
    for name, node in load_definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind") or ():
            if (gvk.get("group", ""), gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                return name
    return None


# ---------------------------------------------------------------------------------------------------
# documents


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


class OpenAPIDocuments:
    """
    The OpenAPI documents of a registry, computed on demand and cached until it changes.

    @ivar remote: the aggregator's L{kapid.aggregator.discovery.RemoteDiscovery} (the v3
        documents of remote group/versions, served as their backends wrote them), or None.
    """

    def __init__(self, registry: ResourceRegistry, title: str = "Kubernetes", version: str = "", remote: Any = None) -> None:
        self.registry = registry
        self.title = title
        self.version = version or f"v{SCHEMA_VERSION}"
        self.remote = remote
        self._cache: dict[Any, Any] = {}
        registry.subscribe(self._cache.clear)
        if remote is not None:
            remote.subscribe(self._cache.clear)

    def group_versions(self) -> list[tuple[str, str]]:
        """
        Every served C{(group, version)}.
        """
        out = []
        for g, versions in sorted(self.registry.group_versions().items()):
            out.extend((g, v) for v in versions)
        if self.remote is not None:
            out = sorted(set(out) | set(self.remote.openapi_group_versions()))
        return out

    def _resources(self, group: str, version: str) -> list[Resource]:
        return sorted(
            (r for r in self.registry.all() if r.group == group and r.version(version) is not None),
            key=lambda r: r.plural,
        )

    def v3(self, group: str, version: str) -> Optional[dict[str, Any]]:
        """
        The OpenAPI 3.0 document of a group version, or None when not served.
        """
        resources = self._resources(group, version)
        if not resources:
            return None
        ops = _Ops(group, version, True)
        paths: dict[str, Any] = {}
        for r in resources:
            paths.update(ops.resource_paths(r))
        schemas = _closure(ops.roots, "#/components/schemas/", True, _custom_schemas(resources, version))
        return {
            "openapi": "3.0.0",
            "info": {"title": self.title, "version": self.version},
            "paths": dict(sorted(paths.items())),
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}
                },
            },
        }

    def v3_encoded(self, group: str, version: str) -> Optional[tuple[bytes, str]]:
        """
        C{(body, hash)} of a group version's v3 document, or None.
        """
        remote = self.remote.openapi_v3(group, version) if self.remote is not None else None
        if remote is not None:
            return remote
        key = ("v3", group, version)
        if key not in self._cache:
            doc = self.v3(group, version)
            if doc is None:
                return None
            body = orjson.dumps(doc)
            self._cache[key] = (body, hashlib.sha512(body).hexdigest().upper())
        return self._cache[key]

    def v3_index(self) -> dict[str, Any]:
        """
        The C{/openapi/v3} index with each group version's hash.
        """
        paths = {}
        for g, v in self.group_versions():
            enc = self.v3_encoded(g, v)
            if enc is None:
                continue
            p = _gv_path(g, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={enc[1]}"}
        return {"paths": dict(sorted(paths.items()))}

    def v2(self) -> dict[str, Any]:
        """
        The Swagger 2.0 document of everything served.
        """
        paths: dict[str, Any] = {}
        roots: set[str] = set()
        extra: dict[str, dict] = {}
        for g, v in self.group_versions():
            ops = _Ops(g, v, False)
            resources = self._resources(g, v)
            for r in resources:
                paths.update(ops.resource_paths(r))
            roots |= ops.roots
            extra.update(_custom_schemas(resources, v))
        doc = {
            "swagger": "2.0",
            "info": {"title": self.title, "version": self.version},
            "paths": dict(sorted(paths.items())),
            "definitions": _closure(roots, "#/definitions/", False, extra),
            "securityDefinitions": {
                "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}
            },
            "security": [{"BearerToken": []}],
        }
        portions = self.remote.openapi_v2_portions() if self.remote is not None else []
        if portions:
            from kapid.aggregator.discovery import merge_v2

            doc = merge_v2(doc, portions)
        return doc

    def encoded(self, key: Any, build: Any, encode: Any = orjson.dumps) -> tuple[bytes, str]:
        """
        C{(body, etag)} of a document (encoded with C{encode}), cached until the registry changes.
        """
        if key not in self._cache:
            body = encode(build())
            self._cache[key] = (body, '"' + hashlib.sha512(body).hexdigest()[:32].upper() + '"')
        return self._cache[key]


class OpenAPILink(Link):
    """
    Serves C{/openapi/v3}, C{/openapi/v3/<gv path>} and C{/openapi/v2} from the registry; everything
    else goes to the delegate.
    """

    app = Klein()

    def __init__(self, delegate: IResource, registry: ResourceRegistry, remote: Any = None) -> None:
        super().__init__(delegate)
        self.registry = registry
        self.documents = OpenAPIDocuments(registry, remote=remote)

    def listed_paths(self) -> list[str]:
        """
        C{/openapi/v2} and C{/openapi/v3}.
        """
        return ["/openapi/v2", "/openapi/v3", "/openapi/v3/"]

    @app.route("/openapi/v3", methods=["GET", "HEAD"], strict_slashes=False)
    def v3_index(self, request: IRequest) -> bytes:
        """
        The index of group versions with their hashes.
        """
        body, etag = self.documents.encoded("v3-index", self.documents.v3_index)
        return write_cached(request, body, etag, "application/json")

    @app.route("/openapi/v3/<path:gv>", methods=["GET", "HEAD"])
    def v3_group_version(self, request: IRequest, gv: str) -> bytes:
        """
        One group version's document; a stale C{hash} redirects to the current one.
        """
        parts = gv.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "api":
            group, version = "", parts[1]
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            raise Decline()
        enc = self.documents.v3_encoded(group, version)
        if enc is None:
            raise Decline()
        body, digest = enc
        asked = (request.args.get(b"hash") or [b""])[0].decode("latin-1")
        if asked and asked != digest:
            request.setResponseCode(301)
            request.setHeader(b"Location", f"/openapi/v3/{_gv_path(group, version)}?hash={digest}".encode("ascii"))
            return b""
        request.setHeader(b"Cache-Control", b"public, immutable" if asked else b"no-cache, private")
        return write_cached(request, body, '"' + digest + '"', "application/json")

    @app.route("/openapi/v2", methods=["GET", "HEAD"], strict_slashes=False)
    def v2(self, request: IRequest) -> bytes:
        """
        The Swagger 2.0 document: protobuf when the client asks for it (kubectl's client-side
        validation accepts nothing else), otherwise JSON.
        """
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        for media in (m.split(";")[0].strip() for m in accept.split(",")):
            if media in V2_PROTOBUF_TYPES:
                body, etag = self.documents.encoded("v2-pb", self.documents.v2, openapiv2pb.encode_document)
                # kube answers both spellings with the one Go's mime parser accepts
                return write_cached(request, body, etag, V2_PROTOBUF_TYPES[1])
            if media in ("application/json", "application/*", "*/*"):
                break
        body, etag = self.documents.encoded("v2", self.documents.v2)
        return write_cached(request, body, etag, "application/json")


def openapi_stage(registry: ResourceRegistry, remote: Any = None) -> Any:
    """
    A chain stage factory C{delegate -> OpenAPILink} over C{registry} and the aggregator's
    C{remote} documents (for L{kapid.server.service.KapidService.stage_factories}).
    """
    return lambda delegate: OpenAPILink(delegate, registry, remote)
